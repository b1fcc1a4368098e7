package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func testState() *specs.State {
	return &specs.State{
		Version: specs.Version, ID: "hooks-test", Status: specs.StateCreated, Pid: 4242,
		Bundle: "/bundles/hooks-test", Annotations: map[string]string{"a": "b"},
	}
}

// sh is a hook that runs script with /bin/sh; OUT names a file to write to.
func sh(out, script string, env ...string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: append([]string{"OUT=" + out}, env...)}
}

func TestRunNoHooks(t *testing.T) {
	if err := Run("prestart", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestStateOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "state")
	st := testState()
	if err := Run("createRuntime", []specs.Hook{sh(out, `cat > "$OUT"`)}, st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got specs.State
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("hook stdin is not state JSON: %v: %q", err, b)
	}
	if got.ID != st.ID || got.Pid != st.Pid || got.Status != st.Status || got.Bundle != st.Bundle ||
		got.Version != st.Version || got.Annotations["a"] != "b" {
		t.Fatalf("hook got state %+v, want %+v", got, *st)
	}
}

// args[0] is the hook's argv[0] even when it differs from its path.
func TestArgsZero(t *testing.T) {
	out := filepath.Join(t.TempDir(), "argv")
	h := sh(out, `tr '\0' '\n' < /proc/$$/cmdline > "$OUT"`)
	h.Args[0] = "my-hook-name"
	if err := Run("poststart", []specs.Hook{h}, testState()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if argv := strings.Split(string(b), "\n"); argv[0] != "my-hook-name" || argv[1] != "-c" {
		t.Fatalf("hook argv = %q, want my-hook-name -c ...", argv)
	}
}

// Without args the hook's argv[0] is its path.
func TestNoArgsArgvIsPath(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	out := filepath.Join(dir, "argv0")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$0\" > \""+out+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Run("poststop", []specs.Hook{{Path: script}}, testState()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != script {
		t.Fatalf("argv[0] = %q, want the path %q", got, script)
	}
}

// A hook sees exactly its configured env, none of the runtime's.
func TestEnvIsTheHooksOnly(t *testing.T) {
	t.Setenv("BERTH_HOOK_TEST_LEAK", "leaked")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	if err := Run("prestart", []specs.Hook{sh(out, `/usr/bin/env > "$OUT"`, "FOO=bar baz")}, testState()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	env := string(b)
	if !strings.Contains(env, "FOO=bar baz\n") {
		t.Errorf("hook env lacks FOO: %q", env)
	}
	if strings.Contains(env, "BERTH_HOOK_TEST_LEAK") {
		t.Errorf("the runtime's environment leaked into the hook: %q", env)
	}
	// A hook without env gets an empty one, not the runtime's.
	script := filepath.Join(dir, "env.sh")
	out2 := filepath.Join(dir, "env2")
	os.WriteFile(script, []byte("#!/bin/sh\n/usr/bin/env > "+out2+"\n"), 0o755)
	if err := Run("prestart", []specs.Hook{{Path: script}}, testState()); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out2)
	if strings.Contains(string(b), "BERTH_HOOK_TEST_LEAK") {
		t.Errorf("a hook with no env got the runtime's: %q", b)
	}
}

func TestTimeoutKillsAndReports(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	one := 1
	h := sh(out, `echo $$ > "$OUT"; exec sleep 30`)
	h.Timeout = &one
	start := time.Now()
	err := Run("prestart", []specs.Hook{h}, testState())
	elapsed := time.Since(start)
	if err == nil || err.Error() != "hooks.prestart[0] (/bin/sh): timed out after 1s" {
		t.Fatalf("Run = %v, want a timeout error", err)
	}
	if elapsed < time.Second || elapsed > 5*time.Second {
		t.Fatalf("the timeout took %v, want about 1s", elapsed)
	}
	b, _ := os.ReadFile(out)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if perr != nil {
		t.Fatalf("hook pid file: %v", perr)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("hook process %d is still there after its timeout", pid)
	}
}

func TestNonPositiveTimeout(t *testing.T) {
	for _, v := range []int{0, -3} {
		v := v
		h := specs.Hook{Path: "/bin/true", Timeout: &v}
		err := Run("poststop", []specs.Hook{h}, testState())
		want := "hooks.poststop[0] (/bin/true): timeout " + strconv.Itoa(v) + ": must be a positive number of seconds"
		if err == nil || err.Error() != want {
			t.Errorf("timeout %d: Run = %v, want %q", v, err, want)
		}
	}
}

// The failing hook is named by stage and index, with the first line of its
// output; later hooks do not run.
func TestFailureStopsAndNamesHook(t *testing.T) {
	dir := t.TempDir()
	ran0, ran2 := filepath.Join(dir, "ran0"), filepath.Join(dir, "ran2")
	hs := []specs.Hook{
		sh(ran0, `touch "$OUT"`),
		sh("", `echo "first line"; echo "second line" >&2; exit 3`),
		sh(ran2, `touch "$OUT"`),
	}
	err := Run("startContainer", hs, testState())
	want := "hooks.startContainer[1] (/bin/sh): exit status 3: first line"
	if err == nil || err.Error() != want {
		t.Fatalf("Run = %v, want %q", err, want)
	}
	if _, err := os.Stat(ran0); err != nil {
		t.Errorf("the hook before the failing one did not run: %v", err)
	}
	if _, err := os.Stat(ran2); err == nil {
		t.Errorf("a hook after the failing one ran")
	}
}

func TestFailureWithoutOutput(t *testing.T) {
	err := Run("poststart", []specs.Hook{sh("", "exit 7")}, testState())
	if want := "hooks.poststart[0] (/bin/sh): exit status 7"; err == nil || err.Error() != want {
		t.Fatalf("Run = %v, want %q", err, want)
	}
	err = Run("poststart", []specs.Hook{sh("", "kill -9 $$")}, testState())
	if want := "hooks.poststart[0] (/bin/sh): signal: killed"; err == nil || err.Error() != want {
		t.Fatalf("Run = %v, want %q", err, want)
	}
}

func TestMissingHookBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-hook")
	err := Run("createContainer", []specs.Hook{{Path: path}}, testState())
	if err == nil || !strings.HasPrefix(err.Error(), "hooks.createContainer[0] ("+path+"): ") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Run = %v, want an error naming the hook and the missing file", err)
	}
}

// A hook that leaves a background child holding its output open has still
// succeeded once it exits 0: Run must not wait for the child, nor fail.
func TestBackgroundGrandchildDoesNotFailHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	err := Run("prestart", []specs.Hook{sh(out, `sleep 3 & echo $! > "$OUT"; exit 0`)}, testState())
	if b, rerr := os.ReadFile(out); rerr == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			defer killPid(pid)
		}
	}
	if err != nil {
		t.Fatalf("Run = %v, want success: the hook itself exited 0", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("Run waited %v for the hook's background child", d)
	}
}

func killPid(pid int) { p, _ := os.FindProcess(pid); p.Kill() }
