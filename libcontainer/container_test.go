package libcontainer

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sleeper starts a real child that lives until the test ends.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// deadPid returns the pid of a child that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// zombie returns a child that has exited but is not reaped yet.
func zombie(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/stat")
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+2:]), "Z") {
			return cmd
		}
	}
	t.Fatal("the child did not become a zombie")
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// startTicks reads field 22 of /proc/<pid>/stat independently of procStat.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestProcStat(t *testing.T) {
	cmd := sleeper(t)
	start, z, err := procStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if z {
		t.Fatal("a sleeping process is reported as a zombie")
	}
	if want := startTicks(t, cmd.Process.Pid); start != want || start == 0 {
		t.Fatalf("start = %d, want %d", start, want)
	}
	// Our own start time is earlier than the child's.
	self, _, err := procStat(os.Getpid())
	if err != nil || self > start {
		t.Fatalf("own start %d (%v) after the child's %d", self, err, start)
	}
	if _, _, err := procStat(deadPid(t)); err == nil {
		t.Fatal("procStat of a reaped pid succeeded")
	}
}

func TestProcStatZombie(t *testing.T) {
	cmd := zombie(t)
	_, z, err := procStat(cmd.Process.Pid)
	if err != nil || !z {
		t.Fatalf("procStat of a zombie = zombie %v, %v", z, err)
	}
}

// The command name may hold spaces and parentheses; only the last ')'
// ends it.
func TestProcStatOddCommandName(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "a) Z 1 (b")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Wait for the exec to have renamed the process.
	for i := 0; i < 1000; i++ {
		if c, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/comm"); strings.HasPrefix(string(c), "a) Z") {
			break
		}
		time.Sleep(time.Millisecond)
	}
	start, z, err := procStat(cmd.Process.Pid)
	if err != nil || z || start != startTicks(t, cmd.Process.Pid) {
		t.Fatalf("procStat = %d, zombie %v, %v; want start %d, not a zombie", start, z, err, startTicks(t, cmd.Process.Pid))
	}
}

func testContainer(t *testing.T, st *State) *Container {
	t.Helper()
	root := t.TempDir()
	dir := stateDir(root, st.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func liveState(t *testing.T, id string) (*State, *exec.Cmd) {
	cmd := sleeper(t)
	st := sampleState(id)
	st.CgroupPaths = nil
	st.InitPid = cmd.Process.Pid
	st.InitStart = startTicks(t, cmd.Process.Pid)
	return st, cmd
}

func TestStatus(t *testing.T) {
	t.Run("creating", func(t *testing.T) {
		st := sampleState("s-creating")
		st.InitPid = 0
		if got := testContainer(t, st).Status(); got != specs.StateCreating {
			t.Fatalf("Status = %s, want creating", got)
		}
	})
	t.Run("stopped-dead", func(t *testing.T) {
		st := sampleState("s-dead")
		st.InitPid = deadPid(t)
		if got := testContainer(t, st).Status(); got != specs.StateStopped {
			t.Fatalf("Status = %s, want stopped", got)
		}
	})
	t.Run("stopped-zombie", func(t *testing.T) {
		cmd := zombie(t)
		st := sampleState("s-zombie")
		st.InitPid = cmd.Process.Pid
		st.InitStart = startTicks(t, cmd.Process.Pid)
		if got := testContainer(t, st).Status(); got != specs.StateStopped {
			t.Fatalf("Status = %s, want stopped", got)
		}
	})
	t.Run("stopped-reused-pid", func(t *testing.T) {
		st, _ := liveState(t, "s-reused")
		st.InitStart-- // the pid now belongs to another process
		if got := testContainer(t, st).Status(); got != specs.StateStopped {
			t.Fatalf("Status = %s, want stopped", got)
		}
	})
	t.Run("created", func(t *testing.T) {
		st, _ := liveState(t, "s-created")
		c := testContainer(t, st)
		if err := unix.Mkfifo(filepath.Join(c.dir, fifoName), 0o622); err != nil {
			t.Fatal(err)
		}
		if got := c.Status(); got != specs.StateCreated {
			t.Fatalf("Status = %s, want created", got)
		}
	})
	t.Run("running", func(t *testing.T) {
		st, _ := liveState(t, "s-running")
		if got := testContainer(t, st).Status(); got != specs.StateRunning {
			t.Fatalf("Status = %s, want running", got)
		}
	})
	t.Run("stopped-with-fifo", func(t *testing.T) {
		// An init that died before start is stopped, fifo or not.
		st := sampleState("s-dead-fifo")
		st.InitPid = deadPid(t)
		c := testContainer(t, st)
		unix.Mkfifo(filepath.Join(c.dir, fifoName), 0o622)
		if got := c.Status(); got != specs.StateStopped {
			t.Fatalf("Status = %s, want stopped", got)
		}
	})
}

func TestOCIState(t *testing.T) {
	st, cmd := liveState(t, "oci-state")
	c := testContainer(t, st)
	got := c.OCIState()
	want := &OCIState{
		State: specs.State{Version: "1.2.0", ID: "oci-state", Status: specs.StateRunning, Pid: cmd.Process.Pid,
			Bundle: st.Bundle, Annotations: st.Annotations},
		Rootfs: st.Rootfs, Created: "2026-01-02T03:04:05.000000006Z", Owner: "root",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("OCIState = %+v\nwant       %+v", got, want)
	}
	if c.ID() != "oci-state" || c.InitPid() != cmd.Process.Pid || c.Config().Version != "1.2.0" {
		t.Fatalf("accessors: %q %d %q", c.ID(), c.InitPid(), c.Config().Version)
	}

	// A stopped container shows no pid; without a config version the
	// runtime's spec version is used.
	dead := sampleState("oci-dead")
	dead.InitPid = deadPid(t)
	dead.Version, dead.Config = "", json.RawMessage(`{"linux":{}}`)
	got = testContainer(t, dead).OCIState()
	if got.Status != specs.StateStopped || got.Pid != 0 || got.Version != specs.Version {
		t.Fatalf("stopped OCIState = %+v, want status stopped, pid 0, version %s", got, specs.Version)
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"zeta", "alpha", "mid"} {
		dir := stateDir(root, id)
		os.Mkdir(dir, 0o711)
		if err := saveState(dir, sampleState(id)); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(root, "creating"), 0o711)                    // no state yet
	os.WriteFile(filepath.Join(root, "stray-file"), []byte("x"), 0o600) // not a dir
	os.Mkdir(filepath.Join(root, "bad id"), 0o711)                      // not a valid id
	os.WriteFile(filepath.Join(root, "bad id", stateFile), []byte("{}"), 0o600)
	cs, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID())
	}
	if !reflect.DeepEqual(ids, []string{"alpha", "mid", "zeta"}) {
		t.Fatalf("List = %q, want [alpha mid zeta]", ids)
	}
	cs, err = List(filepath.Join(root, "missing"))
	if err != nil || cs != nil {
		t.Fatalf("List(missing root) = %v, %v; want nothing and no error", cs, err)
	}
	// A root that is not a directory is an error.
	if _, err := List(filepath.Join(root, "stray-file")); err == nil {
		t.Fatal("List of a file succeeded")
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(t.TempDir(), "nope"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Load(nope) = %v, want ErrNotExist", err)
	}
}

func TestSignalInit(t *testing.T) {
	st, cmd := liveState(t, "signal")
	c := testContainer(t, st)

	// A reused pid (other start time) never gets the signal.
	stale := *st
	stale.InitStart++
	cs := &Container{root: c.root, dir: c.dir, state: &stale}
	if err := cs.signalInit(unix.SIGKILL); err == nil || err.Error() != `container "signal" is not running` {
		t.Fatalf("signalInit on a reused pid = %v", err)
	}
	if err := unix.Kill(cmd.Process.Pid, 0); err != nil {
		t.Fatalf("the process was hit anyway: %v", err)
	}

	if err := c.signalInit(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("child ended with %v, want SIGTERM", err)
	}
	if err := c.signalInit(unix.SIGTERM); err == nil || err.Error() != `container "signal" is not running` {
		t.Fatalf("signalInit after exit = %v", err)
	}
	// Signal refuses a stopped container unless --all.
	if err := c.Signal(unix.SIGTERM, false); err == nil || !strings.Contains(err.Error(), "is stopped") {
		t.Fatalf("Signal on a stopped container = %v", err)
	}
}

// A live init whose freezer cgroup is frozen is paused.
func TestStatusPaused(t *testing.T) {
	needRoot(t)
	st, cmd := liveState(t, "s-paused")
	name := "berth-lctest-paused-" + itoa(os.Getpid())
	dir := filepath.Join("/sys/fs/cgroup/freezer", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	write := func(file, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup.procs", itoa(cmd.Process.Pid))
	defer func() {
		write("freezer.state", "THAWED")
		cmd.Process.Kill()
		cmd.Wait()
	}()
	st.CgroupsPath = "/" + name
	st.CgroupPaths = map[string]string{"freezer": dir}
	st.Systemd, st.Rootless = false, false
	c := testContainer(t, st)
	if got := c.Status(); got != specs.StateRunning {
		t.Fatalf("Status before freezing = %s, want running", got)
	}
	write("freezer.state", "FROZEN")
	for i := 0; i < 500; i++ {
		if b, _ := os.ReadFile(filepath.Join(dir, "freezer.state")); strings.TrimSpace(string(b)) == "FROZEN" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got := c.Status(); got != "paused" {
		t.Fatalf("Status when frozen = %s, want paused", got)
	}
}

// initEnding is false for a live init and true for a zombie or a reused pid.
func TestInitEnding(t *testing.T) {
	st, cmd := liveState(t, "ending-live")
	c := testContainer(t, st)
	if c.initEnding() {
		t.Fatal("a sleeping init is reported as ending")
	}
	st.InitStart++
	if !testContainer(t, st).initEnding() {
		t.Fatal("an init whose start time differs (a reused pid) is not reported as ending")
	}
	st.InitStart--
	cmd.Process.Kill()
	for i := 0; i < 500 && !c.initEnding(); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if !c.initEnding() {
		t.Fatal("a killed init is not reported as ending")
	}
}

// The case exec races into: the init of a pid namespace killed while
// another process of the namespace cannot die yet (here, frozen by the v1
// freezer, where a SIGKILL waits for the thaw). The init is neither gone
// nor a zombie but in exit, and initEnding says so.
func TestInitEndingInExit(t *testing.T) {
	freezer := "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(filepath.Join(freezer, "tasks")); err != nil || os.Getuid() != 0 {
		t.Skip("needs root and the cgroup v1 freezer, whose frozen tasks wait for a thaw to die")
	}
	cg := filepath.Join(freezer, "berth-test-ending-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	init := exec.Command("sh", "-c", "sleep 60 & wait")
	init.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := init.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(cg, "freezer.state"), []byte("THAWED"), 0)
		init.Process.Kill()
		init.Wait()
		for i := 0; i < 500 && os.Remove(cg) != nil; i++ {
			time.Sleep(2 * time.Millisecond)
		}
	})
	child := ""
	for i := 0; i < 1000 && child == ""; i++ {
		b, _ := os.ReadFile("/proc/" + itoa(init.Process.Pid) + "/task/" + itoa(init.Process.Pid) + "/children")
		child = strings.TrimSpace(string(b))
		time.Sleep(time.Millisecond)
	}
	if child == "" {
		t.Fatal("the namespace's second process did not start")
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(child), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg, "freezer.state"), []byte("FROZEN"), 0); err != nil {
		t.Fatal(err)
	}
	st := sampleState("ending-exit")
	st.CgroupPaths = nil
	st.InitPid = init.Process.Pid
	st.InitStart = startTicks(t, init.Process.Pid)
	c := testContainer(t, st)
	if c.initEnding() {
		t.Fatal("a live init is reported as ending")
	}
	init.Process.Signal(syscall.SIGKILL)
	for i := 0; i < 500 && !c.initEnding(); i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if !c.initEnding() {
		t.Fatal("an init in exit, waiting for its namespace to empty, is not reported as ending")
	}
	if _, zombie, err := procStat(init.Process.Pid); err != nil || zombie {
		t.Fatalf("the init should still be in exit, not a zombie or gone: zombie %v, %v", zombie, err)
	}
}
