package libcontainer

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestNewSpawn(t *testing.T) {
	s, err := newSpawn(2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if want := []uintptr{0, 1, 2, 3, 4}; !reflect.DeepEqual(s.files[:5], want) || len(s.files) != 6 {
		t.Fatalf("files = %v, want stdio, 2 preserved fds and the sync socket", s.files)
	}
	if s.syncFD != 5 || s.env[0] != initSyncEnv+"=5" {
		t.Fatalf("syncFD %d, env %q; want 5", s.syncFD, s.env)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	if n := s.addFD(w); n != 6 || s.files[6] != w.Fd() {
		t.Fatalf("addFD = %d (files %v), want 6", n, s.files)
	}
	// The child's copies are closed once it started; the sync socket is not.
	s.closeChildFiles()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a file passed to the child is still open after closeChildFiles")
	}
	if err := s.sock.send(&syncMsg{Type: syncReady}); err == nil {
		t.Fatal("sending succeeded although the child's end was closed")
	}
}

func TestToSysMaps(t *testing.T) {
	got := toSysMaps([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}, {ContainerID: 65536, HostID: 5, Size: 1}})
	want := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}, {ContainerID: 65536, HostID: 5, Size: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("toSysMaps = %+v", got)
	}
	if got := toSysMaps(nil); len(got) != 0 {
		t.Fatalf("toSysMaps(nil) = %+v", got)
	}
}

func TestSpawnPlanFastPathUserNS(t *testing.T) {
	s, err := newSpawn(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	spec := nsSpec(specs.LinuxNamespace{Type: specs.UserNamespace}, specs.LinuxNamespace{Type: specs.PIDNamespace})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 1000}}
	if err := s.planNamespaces(spec); err != nil {
		t.Fatal(err)
	}
	if s.sys.Cloneflags != unix.CLONE_NEWUSER|unix.CLONE_NEWPID {
		t.Errorf("Cloneflags = %#x", s.sys.Cloneflags)
	}
	if len(s.sys.UidMappings) != 1 || s.sys.UidMappings[0].HostID != 100000 || len(s.sys.GidMappings) != 1 || s.sys.GidMappings[0].HostID != 200000 {
		t.Errorf("maps %+v %+v", s.sys.UidMappings, s.sys.GidMappings)
	}
	if c := s.sys.Credential; c == nil || c.Uid != 0 || c.Gid != 0 || !s.sys.GidMappingsEnableSetgroups {
		t.Errorf("the child does not become the namespace's root: %+v", c)
	}
	for _, e := range s.env {
		if strings.HasPrefix(e, "_BERTH_NSENTER=") {
			t.Errorf("the fast path switched the C stage on: %q", s.env)
		}
	}
}

func TestSpawnPlanStage(t *testing.T) {
	s, err := newSpawn(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.planNamespaces(nsSpec(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"})); err != nil {
		t.Fatal(err)
	}
	want := []string{"_BERTH_NSENTER=join:5", "_BERTH_NSSYNC=4"}
	if got := s.env[len(s.env)-2:]; !reflect.DeepEqual(got, want) || s.sys.Cloneflags != 0 {
		t.Fatalf("env tail %q, Cloneflags %#x; want %q and no clone flags", got, s.sys.Cloneflags, want)
	}
	if len(s.files) != 6 {
		t.Fatalf("files %v: want the namespace file passed as fd 5", s.files)
	}
}

// spawnRun starts the test binary as "berth init" through the real spawn,
// with the C stage joining ns (a network namespace) and unsharing a pid
// namespace, then serves it as exec does. The process's stdout is returned.
func spawnRun(t *testing.T, ns *os.File, args ...string) (pid int, out string, err error) {
	t.Helper()
	return spawnRunNS(t, ns, []specs.LinuxNamespace{
		{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/self/fd/%d", ns.Fd())},
		{Type: specs.PIDNamespace},
	}, args...)
}

// spawnRunNS is spawnRun with the given namespaces; ns, if not nil, is the
// network namespace the process is expected to be in.
func spawnRunNS(t *testing.T, ns *os.File, namespaces []specs.LinuxNamespace, args ...string) (pid int, out string, err error) {
	t.Helper()
	sp, err := newSpawn(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	stdinR, stdinW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer stdinR.Close()
	defer stdinW.Close()
	defer outR.Close()
	sp.files[0], sp.files[1] = stdinR.Fd(), outW.Fd()
	spec := nsSpec(namespaces...)
	spec.Process = &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/usr/bin:/bin"}}
	if err := sp.planNamespaces(spec); err != nil {
		t.Fatal(err)
	}
	// start makes the test a subreaper to wait for the forked init.
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	pid, err = sp.start(nil, true, func(int) error { return fmt.Errorf("no maps expected") })
	outW.Close()
	if err != nil {
		if sp.pid > 0 { // reap the stage that failed
			unix.Kill(sp.pid, unix.SIGKILL)
			unix.Wait4(sp.pid, nil, 0, nil)
		}
		return 0, "", err
	}
	cfg := &initConfig{Exec: true, Spec: spec, FifoFD: -1, ConsoleFD: -1, State: specs.State{ID: "spawn-test"}}
	serr := sp.serve(cfg, func() error { return fmt.Errorf("unexpected mount sync") })
	// The process waits on stdin, so its namespaces can be checked.
	if serr == nil && ns != nil {
		got := nsIno(t, fmt.Sprintf("/proc/%d/ns/net", pid))
		if want := inoOf(t, ns); got != want {
			t.Errorf("process is in net namespace %d, want the joined %d", got, want)
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "NSpid:" && (f[1] != strconv.Itoa(pid) || f[2] != "1") {
				t.Errorf("%s: want pid %d on the host and 1 in its namespace", line, pid)
			}
		}
	}
	stdinW.Close()
	var ws unix.WaitStatus
	if _, werr := unix.Wait4(pid, &ws, 0, nil); werr != nil && pid > 0 {
		t.Errorf("wait4 %d: %v", pid, werr)
	}
	b, _ := io.ReadAll(outR)
	return pid, string(b), serr
}

func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// newNetNS makes a network namespace on a throwaway thread; the returned
// file keeps it alive.
func newNetNS(t *testing.T) *os.File {
	t.Helper()
	var f *os.File
	onThrowawayThread(t, unix.CLONE_NEWNET, func() {
		var err error
		if f, err = os.Open("/proc/thread-self/ns/net"); err != nil {
			t.Error(err)
		}
	})
	if f == nil {
		t.FailNow()
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestSpawnStartThroughStage(t *testing.T) {
	needRoot(t)
	ns := newNetNS(t)
	pid, out, err := spawnRun(t, ns, "/bin/sh", "-c", `read x; echo "pid=$$ uid=$(id -u)"`)
	if err != nil {
		t.Fatal(err)
	}
	if pid <= 1 {
		t.Fatalf("start returned pid %d", pid)
	}
	if strings.TrimSpace(out) != "pid=1 uid=0" {
		t.Fatalf("process printed %q, want pid=1 uid=0", out)
	}
}

// A failure in the init reaches the runtime as a clear error.
func TestSpawnInitErrorReported(t *testing.T) {
	needRoot(t)
	ns := newNetNS(t)
	_, _, err := spawnRun(t, ns, "/no/such/program")
	if err == nil || err.Error() != `process.args[0] "/no/such/program": stat /no/such/program: no such file or directory` {
		t.Fatalf("spawn of a missing program = %v", err)
	}
}

// When the C stage cannot join a namespace, the error says which one: the
// user cannot know what "setns 4" is. Joining one's own user namespace
// is refused by the kernel (EINVAL), after openNamespace accepted the file.
func TestSpawnStageErrorNamesNamespace(t *testing.T) {
	needRoot(t)
	for _, forks := range []bool{false, true} {
		namespaces := []specs.LinuxNamespace{{Type: specs.UserNamespace, Path: "/proc/self/ns/user"}}
		if forks {
			namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}
		_, _, err := spawnRunNS(t, nil, namespaces, "/bin/true")
		if err == nil {
			t.Fatalf("forks %v: joining our own user namespace succeeded", forks)
		}
		if !strings.Contains(err.Error(), "invalid argument") && !strings.Contains(err.Error(), "Invalid argument") {
			t.Errorf("forks %v: error %q lacks the cause", forks, err)
		}
		if !strings.Contains(err.Error(), "/proc/self/ns/user") && !strings.Contains(err.Error(), "linux.namespaces[0]") {
			t.Errorf("forks %v: error %q does not name the namespace (linux.namespaces[0] or its path)", forks, err)
		}
	}
}
