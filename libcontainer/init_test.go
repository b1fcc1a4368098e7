package libcontainer

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestIsInitAndInitEnv(t *testing.T) {
	t.Setenv(initSyncEnv, "")
	if IsInit() {
		t.Fatal("IsInit with an empty " + initSyncEnv)
	}
	env := initEnv(7)
	if env[0] != initSyncEnv+"=7" {
		t.Fatalf("initEnv(7) = %q, want %s=7 first", env, initSyncEnv)
	}
	for _, want := range []string{"GOMAXPROCS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"} {
		found := false
		for _, e := range env {
			found = found || e == want
		}
		if !found {
			t.Errorf("initEnv lacks %s: %q", want, env)
		}
	}
	k, v, _ := strings.Cut(env[0], "=")
	t.Setenv(k, v)
	if !IsInit() {
		t.Fatal("IsInit is false with the init's environment")
	}
}

// exe writes an executable (or not) file.
func exe(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLookPath(t *testing.T) {
	needRoot(t) // as root, only a file without any x bit is refused
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	exe(t, filepath.Join(a, "prog"), 0o644) // not executable
	exe(t, filepath.Join(b, "prog"), 0o755)
	os.MkdirAll(filepath.Join(a, "adir", "x"), 0o755)
	exe(t, filepath.Join(dir, "rel", "relprog"), 0o755)
	exe(t, filepath.Join(dir, "cwdprog"), 0o755)

	for _, tc := range []struct {
		name, path, cwd, want string
	}{
		{"prog", a + ":" + b, "/", filepath.Join(b, "prog")},       // skips the non-executable one
		{"relprog", "rel", dir, filepath.Join(dir, "rel/relprog")}, // relative PATH entries are under cwd
		{"cwdprog", ":" + a, dir, filepath.Join(dir, "cwdprog")},   // an empty entry is cwd
		{"/bin/sh", "", "/", "/bin/sh"},
	} {
		env := []string{"FOO=bar"}
		if tc.path != "" {
			env = append(env, "PATH="+tc.path)
		}
		got, err := lookPath(tc.name, env, tc.cwd)
		if err != nil || got != tc.want {
			t.Errorf("lookPath(%q, PATH=%q, cwd %q) = %q, %v; want %q", tc.name, tc.path, tc.cwd, got, err, tc.want)
		}
	}
	// Without PATH in the env the default one is searched.
	if got, err := lookPath("sh", nil, "/"); err != nil || filepath.Base(got) != "sh" || !filepath.IsAbs(got) {
		t.Errorf("lookPath(sh) with the default PATH = %q, %v", got, err)
	}

	for _, tc := range []struct {
		name, path, want string
	}{
		{"prog", a, `process.args[0] "prog": exec ` + filepath.Join(a, "prog") + ": permission denied"},
		{"adir", a, `process.args[0] "adir": exec ` + filepath.Join(a, "adir") + ": is a directory"},
		{"nope", a + ":" + b, `process.args[0] "nope": executable file not found in $PATH`},
		{filepath.Join(dir, "missing"), "", `process.args[0] "` + filepath.Join(dir, "missing") + `": stat ` + filepath.Join(dir, "missing") + ": no such file or directory"},
		{filepath.Join(a, "prog"), "", `process.args[0] "` + filepath.Join(a, "prog") + `": exec ` + filepath.Join(a, "prog") + ": permission denied"},
		{dir, "", `process.args[0] "` + dir + `": exec ` + dir + ": is a directory"},
	} {
		_, err := lookPath(tc.name, []string{"PATH=" + tc.path}, "/")
		if err == nil || err.Error() != tc.want {
			t.Errorf("lookPath(%q, PATH=%q) = %v\nwant %s", tc.name, tc.path, err, tc.want)
		}
	}
	// A name with a slash is not searched for.
	t.Chdir(dir)
	if got, err := lookPath("./cwdprog", []string{"PATH=" + b}, "/"); err != nil || got != "./cwdprog" {
		t.Errorf("lookPath(./cwdprog) = %q, %v", got, err)
	}
}

// homeOf reads uid's home from /etc/passwd independently of withHome.
func homeOf(t *testing.T, uid int) string {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == strconv.Itoa(uid) {
			return f[5]
		}
	}
	return ""
}

func TestWithHome(t *testing.T) {
	env := make([]string, 1, 8) // spare capacity must not be written
	env[0] = "PATH=/bin"
	proc := &specs.Process{Env: env, User: specs.User{UID: 0}}
	got := withHome(proc)
	if want := []string{"PATH=/bin", "HOME=" + homeOf(t, 0)}; !reflect.DeepEqual(got, want) || homeOf(t, 0) == "" {
		t.Fatalf("withHome(uid 0) = %q, want %q", got, want)
	}
	if spare := env[:2][1]; spare != "" {
		t.Fatalf("withHome wrote %q into the config's env array", spare)
	}
	proc.User.UID = 3999999 // in no passwd file
	if got := withHome(proc); got[len(got)-1] != "HOME=/" {
		t.Fatalf("withHome(unknown uid) = %q, want HOME=/", got)
	}
	proc.Env = []string{"HOME=/custom", "A=b"}
	if got := withHome(proc); !reflect.DeepEqual(got, proc.Env) {
		t.Fatalf("withHome with HOME set = %q, want the env unchanged", got)
	}
}

// onThrowawayThread runs f on a locked OS thread that ends afterwards, so
// per-thread state it changes (cwd with CLONE_FS, namespaces) dies with it.
func onThrowawayThread(t *testing.T, unshare int, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked
		if err := unix.Unshare(unshare); err != nil {
			t.Errorf("unshare %#x: %v", unshare, err)
			return
		}
		f()
	}()
	<-done
}

func TestChdir(t *testing.T) {
	dir := t.TempDir()
	before, _ := os.Getwd()
	onThrowawayThread(t, unix.CLONE_FS, func() {
		if err := chdir(dir); err != nil {
			t.Error(err)
		}
		if wd, _ := unix.Getwd(); wd != dir {
			t.Errorf("cwd %q, want %q", wd, dir)
		}
		if err := chdir(""); err != nil {
			t.Error(err)
		}
		if wd, _ := unix.Getwd(); wd != "/" {
			t.Errorf("chdir(\"\") left cwd at %q, want /", wd)
		}
		missing := filepath.Join(dir, "missing")
		if err := chdir(missing); err == nil || err.Error() != `process.cwd "`+missing+`": no such file or directory` {
			t.Errorf("chdir(missing) = %v", err)
		}
	})
	if after, _ := os.Getwd(); after != before {
		t.Fatalf("the test's cwd changed from %q to %q", before, after)
	}
}

func TestSetupUTS(t *testing.T) {
	needRoot(t)
	host, _ := os.Hostname()
	onThrowawayThread(t, unix.CLONE_NEWUTS, func() {
		if err := setupUTS(&specs.Spec{Hostname: "berth-uts-test", Domainname: "berth.test"}); err != nil {
			t.Error(err)
			return
		}
		var u unix.Utsname
		unix.Uname(&u)
		if n, d := unix.ByteSliceToString(u.Nodename[:]), unix.ByteSliceToString(u.Domainname[:]); n != "berth-uts-test" || d != "berth.test" {
			t.Errorf("uname says %q / %q", n, d)
		}
		long := strings.Repeat("h", 65)
		if err := setupUTS(&specs.Spec{Hostname: long}); err == nil || err.Error() != `hostname "`+long+`": invalid argument` {
			t.Errorf("setupUTS(65-char hostname) = %v", err)
		}
		if err := setupUTS(&specs.Spec{Domainname: long}); err == nil || !strings.HasPrefix(err.Error(), "domainname ") {
			t.Errorf("setupUTS(65-char domainname) = %v", err)
		}
		// Nothing set: nothing changes.
		if err := setupUTS(&specs.Spec{}); err != nil {
			t.Error(err)
		}
	})
	if now, _ := os.Hostname(); now != host {
		t.Fatalf("the host's name changed from %q to %q", host, now)
	}
}

func TestHookState(t *testing.T) {
	cfg := &initConfig{State: specs.State{Version: "1.2.0", ID: "hs", Status: specs.StateCreating, Bundle: "/b"}}
	st := hookState(cfg, specs.StateCreated)
	if st.ID != "hs" || st.Bundle != "/b" || st.Status != specs.StateCreated || st.Pid != os.Getpid() {
		t.Fatalf("hookState = %+v", st)
	}
	if cfg.State.Status != specs.StateCreating || cfg.State.Pid != 0 {
		t.Fatalf("hookState changed the config's state: %+v", cfg.State)
	}
}

// startBareInit starts the test binary as "berth init" with no namespaces
// and its stderr captured.
func startBareInit(t *testing.T) (sp *spawn, stderr *os.File) {
	t.Helper()
	sp, err := newSpawn(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.close)
	errR, errW, _ := os.Pipe()
	t.Cleanup(func() { errR.Close() })
	sp.files[2] = errW.Fd()
	if err := sp.planNamespaces(nsSpec()); err != nil {
		t.Fatal(err)
	}
	_, err = sp.start(nil, false, nil)
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	return sp, errR
}

func waitExit(t *testing.T, pid int) int {
	t.Helper()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !ws.Exited() {
		t.Fatalf("init ended with %v", ws)
	}
	return ws.ExitStatus()
}

func TestInitProtocolErrors(t *testing.T) {
	needRoot(t)
	// A message out of order is answered with an error message.
	sp, _ := startBareInit(t)
	if err := sp.sock.send(&syncMsg{Type: syncReady}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.sock.recv(); err == nil || err.Error() != `sync: got "ready", want "config"` {
		t.Errorf("init answered %v, want its protocol error", err)
	}
	if code := waitExit(t, sp.pid); code != 1 {
		t.Errorf("init exit status %d, want 1", code)
	}

	// When the runtime hangs up first, the init exits quietly: the
	// runtime reports its own error.
	sp, stderr := startBareInit(t)
	sp.sock.f.Close()
	if code := waitExit(t, sp.pid); code != 1 {
		t.Errorf("init exit status %d, want 1", code)
	}
	b := make([]byte, 256)
	if n, _ := stderr.Read(b); n > 0 {
		t.Errorf("init wrote %q after the runtime hung up", b[:n])
	}
}

func TestInitBadSyncEnv(t *testing.T) {
	cmd := exec.Command(os.Args[0], "init")
	cmd.Env = []string{initSyncEnv + "=x"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || string(out) != "berth init: bad "+initSyncEnv+"\n" {
		t.Fatalf("init with a bad %s: %v, output %q", initSyncEnv, err, out)
	}
}
