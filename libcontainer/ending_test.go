package libcontainer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
