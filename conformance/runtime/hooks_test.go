package runtime_test

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

// hookScript appends one line to $LOG: the hook's name, its network
// namespace, $HOOKVAR and the state JSON it got on stdin.
const hookScript = `printf '%s|%s|%s|%s\n' "$1" "$(readlink /proc/self/ns/net)" "$HOOKVAR" "$(cat)" >> "$LOG"`

// hookLine is one parsed line of the hook log.
type hookLine struct {
	Name  string
	NetNS string
	Var   string
	State specs.State
	Raw   string
}

func readHookLog(t *testing.T, path string) []hookLine {
	t.Helper()
	var out []hookLine
	for _, l := range strings.Split(strings.TrimSpace(readFileQuiet(path)), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "|", 4)
		h := hookLine{Name: f[0], Raw: l}
		if len(f) == 4 {
			h.NetNS, h.Var = f[1], f[2]
			if err := json.Unmarshal([]byte(f[3]), &h.State); err != nil && f[0] != "user" {
				t.Errorf("hook %s got stdin that is not state JSON: %q", f[0], f[3])
			}
		}
		out = append(out, h)
	}
	return out
}

func hookNames(lines []hookLine) []string {
	var names []string
	for _, l := range lines {
		names = append(names, l.Name)
	}
	return names
}

// TestHooks: every hook kind runs at its moment, in its namespace, with the
// state on stdin and its own args and env.
func TestHooks(t *testing.T) {
	t.Parallel()
	testHooks(t, false)
}

// TestHooksStrict adds what runc 1.1.5 gets wrong: poststart only after
// start, with status running.
func TestHooksStrict(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 runs poststart during create (with status created)")
	testHooks(t, true)
}

func testHooks(t *testing.T, strict bool) {
	logDir := t.TempDir()
	must(t, os.Chmod(logDir, 0o777))
	hostLog := filepath.Join(logDir, "log")
	c := newContainer(t, "/bin/sh", "-c", `echo 'user|||' >> /hooks/log; echo ready; sleep 1000`)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/hooks", Type: "bind", Source: logDir, Options: []string{"bind"}})
	c.Spec.Annotations = map[string]string{"hook.test": "yes"}
	// Host hooks run the host's sh; container hooks (startContainer) resolve
	// their path in the container and write through the /hooks bind mount.
	hook := func(name, log string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", hookScript, "sh", name},
			Env: []string{"LOG=" + log, "HOOKVAR=var-" + name, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	}
	c.Spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart", hostLog)},
		CreateRuntime:   []specs.Hook{hook("createRuntime", hostLog), hook("createRuntime2", hostLog)},
		CreateContainer: []specs.Hook{hook("createContainer", hostLog)},
		StartContainer:  []specs.Hook{hook("startContainer", "/hooks/log")},
		Poststart:       []specs.Hook{hook("poststart", hostLog)},
		Poststop:        []specs.Hook{hook("poststop", hostLog)},
	}
	c.mustCreate()
	pid := c.state().Pid
	ctrNet, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	must(t, err)
	hostNet, err := os.Readlink("/proc/self/ns/net")
	must(t, err)

	created := readHookLog(t, hostLog)
	names := hookNames(created)
	if !strict {
		names = without(names, "poststart")
	}
	if !hasAll(names, "prestart", "createRuntime", "createRuntime2", "createContainer") || len(names) != 4 {
		t.Errorf("hooks run by create: %v, want prestart, createRuntime, createRuntime2, createContainer\n%s", names, readFileQuiet(hostLog))
	}
	if i, j := index(names, "createRuntime"), index(names, "createRuntime2"); i > j {
		t.Errorf("hooks of one kind ran out of order: %v", names)
	}
	if i, j := index(names, "createRuntime"), index(names, "createContainer"); i > j {
		t.Errorf("createContainer ran before createRuntime: %v", names)
	}

	c.start()
	c.waitOutput("ready")
	// poststart may finish just after start returns.
	deadline := time.Now().Add(5 * time.Second)
	for !contains(hookNames(readHookLog(t, hostLog)), "poststart") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	started := readHookLog(t, hostLog)
	names = hookNames(started)
	if i, j := index(names, "startContainer"), index(names, "user"); i < 0 || j < 0 || i > j {
		t.Errorf("startContainer must run before the user process: %v", names)
	}
	if !contains(names, "poststart") || contains(names, "poststop") {
		t.Errorf("hooks after start: %v, want poststart and no poststop", names)
	}

	c.mustRT("kill", c.ID, "KILL")
	c.waitStatus(specs.StateStopped)
	c.mustRT("delete", c.ID)
	all := readHookLog(t, hostLog)
	if names = hookNames(all); names[len(names)-1] != "poststop" {
		t.Errorf("last hook %v, want poststop after delete", names)
	}

	wantNS := map[string]string{
		"prestart": hostNet, "createRuntime": hostNet, "createContainer": ctrNet,
		"startContainer": ctrNet, "poststart": hostNet, "poststop": hostNet,
	}
	for _, h := range all {
		if h.Name == "user" {
			continue
		}
		if want, ok := wantNS[h.Name]; ok && h.NetNS != want {
			t.Errorf("%s ran in network namespace %s, want %s", h.Name, h.NetNS, want)
		}
		if h.Var != "var-"+h.Name {
			t.Errorf("%s: env HOOKVAR=%q, want the hook's own env", h.Name, h.Var)
		}
		if h.State.ID != c.ID || h.State.Bundle != c.Bundle || h.State.Annotations["hook.test"] != "yes" || h.State.Version == "" {
			t.Errorf("%s got state %+v", h.Name, h.State)
		}
		// The pid is as seen from the namespace the hook runs in (runtime.md).
		wantPid := pid
		if wantNS[h.Name] == ctrNet {
			wantPid = 1
		}
		if h.Name != "poststop" && h.State.Pid != wantPid {
			t.Errorf("%s got pid %d, want %d", h.Name, h.State.Pid, wantPid)
		}
	}
	for name, want := range map[string][]specs.ContainerState{
		"createRuntime": {specs.StateCreating}, "createContainer": {specs.StateCreating},
		"startContainer": {specs.StateCreated}, "poststart": {specs.StateRunning}, "poststop": {specs.StateStopped},
	} {
		for _, h := range all {
			if h.Name == name && !containsState(want, h.State.Status) && (strict || name != "poststart") {
				t.Errorf("%s got status %q, want %v", name, h.State.Status, want)
			}
		}
	}
}

func containsState(have []specs.ContainerState, s specs.ContainerState) bool {
	for _, h := range have {
		if h == s {
			return true
		}
	}
	return false
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

func index(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// TestHookTimeout: a hook that outlives its timeout fails create promptly.
func TestHookTimeout(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "20"}, Timeout: ptr(1)}}}
	start := time.Now()
	r := c.create()
	if r.Code == 0 {
		t.Fatalf("create succeeded although its hook timed out")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("create took %v with a 1s hook timeout", d)
	}
	assertNothingLeft(t, c, r)
}

// TestFailingStartContainerHook: start fails and the container is stopped.
func TestFailingStartContainerHook(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 runs startContainer inside the init after start has returned success")
	c := newContainer(t, "/bin/sh", "-c", "echo user-ran; sleep 1000")
	c.Spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	c.mustCreate()
	if r := c.rt("start", c.ID); r.Code == 0 {
		t.Errorf("start succeeded although startContainer failed")
	}
	if r := c.rt("state", c.ID); r.Code == 0 && strings.Contains(r.Stdout, `"running"`) {
		t.Errorf("container running after a failed startContainer hook: %s", r.Stdout)
	}
	if strings.Contains(c.output(), "user-ran") {
		t.Errorf("the user process ran although startContainer failed")
	}
}

// TestFailingPoststartHook: start fails and the container is stopped
// (runtime.md lifecycle step 9).
func TestFailingPoststartHook(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 runs poststart hooks during create")
	c := newContainer(t, "/bin/sleep", "1000")
	c.Spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	c.mustCreate()
	if r := c.rt("start", c.ID); r.Code == 0 {
		t.Errorf("start succeeded although a poststart hook failed")
	}
	if r := c.rt("state", c.ID); r.Code == 0 && strings.Contains(r.Stdout, `"running"`) {
		t.Errorf("container still running after a failed poststart hook: %s", r.Stdout)
	}
}

// TestFailingPoststopHook: a failing poststop hook is a warning; delete
// still succeeds and removes the container.
func TestFailingPoststopHook(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.Spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	c.mustCreate()
	c.start()
	c.waitStatus(specs.StateStopped)
	c.mustRT("delete", c.ID)
	if r := c.rt("state", c.ID); r.Code == 0 {
		t.Errorf("container remains after delete")
	}
}

// TestPoststartAfterExec: poststart hooks run after the user program is
// executed (config.md#poststart), not merely released: the container's
// pid already runs the program, not the runtime's init.
func TestPoststartAfterExec(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "exe")
	c := newContainer(t, "/bin/sleep", "1000")
	script := `pid=$(sed 's/.*"pid": *\([0-9]*\).*/\1/'); readlink /proc/$pid/exe > "$LOG"`
	c.Spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", script},
		Env: []string{"LOG=" + log, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}}}
	c.mustCreate()
	c.start()
	// /bin/sleep in the test rootfs is busybox; until the execve it is
	// the runtime's binary.
	if exe := strings.TrimSpace(readFile(t, log)); filepath.Base(exe) != "busybox" {
		t.Errorf("at poststart the container process runs %q, want the program (busybox); the runtime is %s", exe, runtimeBin)
	}
}
