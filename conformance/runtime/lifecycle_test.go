package runtime_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestLifecycle drives create → state → start → state → kill → state →
// delete and checks each state document and the process inside.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Process.Args = []string{"/probe", "--sleep", "60"}
	c.Spec.Annotations = map[string]string{"org.example.key": "value"}
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	c.mustCreate("--pid-file", pidFile)

	st := c.state()
	if st.Version == "" || st.ID != c.ID || st.Bundle != c.Bundle || st.Pid <= 0 {
		t.Errorf("created state: ociVersion %q id %q bundle %q pid %d; want id %q bundle %q and a pid",
			st.Version, st.ID, st.Bundle, st.Pid, c.ID, c.Bundle)
	}
	if st.Annotations["org.example.key"] != "value" {
		t.Errorf("state annotations %v lack org.example.key=value", st.Annotations)
	}
	if st.Rootfs != c.Rootfs {
		t.Errorf("state rootfs %q, want %q", st.Rootfs, c.Rootfs)
	}
	if time.Since(st.Created) > time.Minute || time.Since(st.Created) < 0 {
		t.Errorf("state created %v is not the creation time", st.Created)
	}
	if st.Owner != "root" && st.Owner != "" {
		t.Errorf("state owner %q, want root (or empty)", st.Owner)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile))); err != nil || pid != st.Pid {
		t.Errorf("pid file holds %q, state pid is %d", readFile(t, pidFile), st.Pid)
	}
	// Until start, the user process must not run.
	time.Sleep(100 * time.Millisecond)
	if out := c.output(); out != "" {
		t.Fatalf("container process ran before start: %q", out)
	}
	if unix.Kill(st.Pid, 0) != nil {
		t.Fatalf("created container's pid %d does not exist", st.Pid)
	}

	c.start()
	rep := parseReport(t, c.waitOutput("\n"))
	if rep.PID != 1 {
		t.Errorf("process pid inside its pid namespace is %d, want 1", rep.PID)
	}
	running := c.state()
	if running.Status != specs.StateRunning || running.Pid != st.Pid {
		t.Errorf("after start: status %q pid %d, want running pid %d", running.Status, running.Pid, st.Pid)
	}

	c.mustRT("kill", c.ID, "KILL")
	c.waitStatus(specs.StateStopped)
	c.mustRT("delete", c.ID)
	if r := c.rt("state", c.ID); r.Code == 0 {
		t.Errorf("state after delete succeeded: %s", r.Stdout)
	}
	if _, err := os.Stat(filepath.Join(c.Root, c.ID)); !os.IsNotExist(err) {
		t.Errorf("state directory %s remains after delete (err %v)", filepath.Join(c.Root, c.ID), err)
	}
	if unix.Kill(st.Pid, 0) == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cmdline"); strings.Contains(string(b), "probe") {
			t.Errorf("container process %d still exists after delete", st.Pid)
		}
	}
}

// TestStoppedAfterExit: a process that exits by itself leaves the container
// stopped, and a plain delete then succeeds.
func TestStoppedAfterExit(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.mustCreate()
	c.start()
	st := c.waitStatus(specs.StateStopped)
	if st.ID != c.ID {
		t.Errorf("stopped state id %q", st.ID)
	}
	c.mustRT("delete", c.ID)
	if dirExists(filepath.Join(c.Root, c.ID)) {
		t.Errorf("state directory remains after delete")
	}
}

// signalScript reports the signals it receives; it is pid 1 in its pid
// namespace, so it only sees signals it has handlers for.
const signalScript = `trap 'echo got-TERM; exit 3' TERM; trap 'echo got-USR1; exit 4' USR1; trap 'echo got-HUP; exit 5' HUP; echo ready; while :; do sleep 0.05; done`

// TestKillSignalSpellings: numbers, names and SIG-prefixed names all work.
func TestKillSignalSpellings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ arg, want string }{
		{"15", "got-TERM"}, {"TERM", "got-TERM"}, {"SIGTERM", "got-TERM"},
		{"10", "got-USR1"}, {"USR1", "got-USR1"}, {"SIGHUP", "got-HUP"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/sh", "-c", signalScript)
			c.mustCreate()
			c.start()
			c.waitOutput("ready")
			c.mustRT("kill", c.ID, tc.arg)
			c.waitOutput(tc.want)
			c.waitStatus(specs.StateStopped)
		})
	}
	for _, arg := range []string{"9", "KILL", "SIGKILL"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/sleep", "1000")
			c.mustCreate()
			c.start()
			c.mustRT("kill", c.ID, arg)
			c.waitStatus(specs.StateStopped)
		})
	}
	t.Run("default-is-TERM", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sh", "-c", signalScript)
		c.mustCreate()
		c.start()
		c.waitOutput("ready")
		c.mustRT("kill", c.ID)
		c.waitOutput("got-TERM")
	})
	t.Run("bogus-signal", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sleep", "1000")
		c.mustCreate()
		c.start()
		if r := c.rt("kill", c.ID, "SIGBOGUS"); r.Code == 0 {
			t.Errorf("kill with an unknown signal succeeded")
		}
		if st := c.state(); st.Status != specs.StateRunning {
			t.Errorf("container %s after a bad kill", st.Status)
		}
	})
}

// TestKillCreated: a created (not started) container can be killed, with
// SIGKILL and with the signals that end a process by default (the waiting
// init is pid 1 of its pid namespace, which the kernel spares signals it
// has no handler for: runc's init dies of SIGTERM too).
func TestKillCreated(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"KILL", "TERM", "INT"} {
		c := newContainer(t, "/bin/true")
		c.mustCreate()
		c.mustRT("kill", c.ID, sig)
		c.waitStatus(specs.StateStopped)
		if out := c.output(); out != "" {
			t.Errorf("%s: killed created container ran its process: %q", sig, out)
		}
	}
}

// TestKillAll kills every process of a container that shares the host pid
// namespace (so killing the init would not take the others with it).
func TestKillAll(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait")
	c.Spec.Linux.Namespaces = withoutNamespace(c.Spec.Linux.Namespaces, specs.PIDNamespace)
	c.mustCreate()
	c.start()
	c.waitOutput("ready")
	pids := strings.Fields(readFile(t, filepath.Join(cgroupDir(c, "pids"), "cgroup.procs")))
	if len(pids) < 3 {
		t.Fatalf("container cgroup has processes %v, want sh and two sleeps", pids)
	}
	c.mustRT("kill", "--all", c.ID, "9")
	c.waitStatus(specs.StateStopped)
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if processAlive(pid) {
			t.Errorf("process %d survived kill --all", pid)
		}
	}
	// containerd's shim sends kill --all to tasks that have already exited.
	if r := c.rt("kill", "--all", c.ID, "9"); r.Code != 0 {
		t.Errorf("kill --all of a stopped container: %s", r.describe())
	}
}

// processAlive is true for a process that exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func withoutNamespace(nss []specs.LinuxNamespace, kind specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != kind {
			out = append(out, ns)
		}
	}
	return out
}

// TestWrongStateRefused: operations the spec forbids in a state fail and
// leave the container as it was.
func TestWrongStateRefused(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	if r := c.rt("start", c.ID); r.Code == 0 {
		t.Errorf("start of a running container succeeded")
	}
	if r := c.rt("delete", c.ID); r.Code == 0 {
		t.Errorf("delete (without --force) of a running container succeeded")
	}
	if st := c.state(); st.Status != specs.StateRunning {
		t.Fatalf("container is %s after refused operations, want running", st.Status)
	}
	c.mustRT("kill", c.ID, "KILL")
	c.waitStatus(specs.StateStopped)
	if r := c.rt("start", c.ID); r.Code == 0 {
		t.Errorf("start of a stopped container succeeded")
	}
	if r := c.rt("kill", c.ID, "TERM"); r.Code == 0 {
		t.Errorf("kill of a stopped container succeeded")
	}
	for _, cmd := range [][]string{{"start"}, {"kill"}, {"state"}, {"delete"}} {
		if r := c.rt(append(cmd, "cf-no-such-container")...); r.Code == 0 {
			t.Errorf("%s of a non-existent container succeeded", cmd[0])
		}
	}
}

// TestDeleteForce stops and removes a running container; for a container
// that does not exist it is a success.
func TestDeleteForce(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	pid := c.state().Pid
	c.mustRT("delete", "--force", c.ID)
	if processAlive(pid) {
		t.Errorf("process %d survived delete --force", pid)
	}
	if r := c.rt("state", c.ID); r.Code == 0 {
		t.Errorf("state after delete --force succeeded")
	}
	if dirs := cgroupDirs(c.ID); len(dirs) > 0 {
		t.Errorf("cgroups remain after delete --force: %v", dirs)
	}
	// The containerd shim calls delete --force right after a plain delete.
	c.mustRT("delete", "--force", c.ID)
	c.mustRT("delete", "--force", "cf-never-existed")
}

// TestDeleteForceCreated removes a created container.
func TestDeleteForceCreated(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.mustCreate()
	pid := c.state().Pid
	c.mustRT("delete", "--force", c.ID)
	if processAlive(pid) {
		t.Errorf("init process %d survived delete --force", pid)
	}
	if dirExists(filepath.Join(c.Root, c.ID)) {
		t.Errorf("state directory remains")
	}
}

// TestRunExitStatus: run returns the process's exit status, or 128+signal.
func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	t.Run("exit-code", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sh", "-c", "echo hello; exit 7")
		r := c.run()
		if r.Code != 7 || !strings.Contains(r.Stdout, "hello") {
			t.Errorf("run exit %d output %q, want 7 and hello", r.Code, r.Stdout)
		}
		if r := c.rt("state", c.ID); r.Code == 0 {
			t.Errorf("foreground run left the container behind")
		}
	})
	t.Run("killed-by-signal", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sh", "-c", "kill -KILL $$")
		// Without a pid namespace sh is not an init and can be killed.
		c.Spec.Linux.Namespaces = withoutNamespace(c.Spec.Linux.Namespaces, specs.PIDNamespace)
		if r := c.run(); r.Code != 128+9 {
			t.Errorf("run exit %d, want 137 (128+SIGKILL)\n%s", r.Code, r.describe())
		}
	})
	t.Run("detach", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sleep", "1000")
		r := c.run("--detach")
		if r.Code != 0 {
			t.Fatalf("%s", r.describe())
		}
		if st := c.state(); st.Status != specs.StateRunning {
			t.Errorf("after run --detach: %s, want running", st.Status)
		}
	})
}

// TestRunForwardsSignals: a signal sent to the foreground run reaches the
// container process: the usual ones, a real-time one (runc forwards every
// signal it can catch), and a SIGSEGV sent with kill, which berth must
// tell from a fault of its own.
func TestRunForwardsSignals(t *testing.T) {
	t.Parallel()
	script := `trap 'echo got-RT40; exit 6' 40; trap 'echo got-SEGV; exit 7' SEGV; ` + signalScript
	for _, tc := range []struct {
		sig  unix.Signal
		code int
		want string
	}{{unix.SIGTERM, 3, "got-TERM"}, {unix.SIGUSR1, 4, "got-USR1"}, {unix.SIGHUP, 5, "got-HUP"}, {unix.Signal(40), 6, "got-RT40"}, {unix.SIGSEGV, 7, "got-SEGV"}} {
		t.Run("signal-"+strconv.Itoa(int(tc.sig)), func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/sh", "-c", script)
			c.save()
			f := c.outFile()
			defer f.Close()
			cmd := runtimeCommand(c, f, "run", "--bundle", c.Bundle, c.ID)
			must(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			c.waitOutput("ready")
			// berth subscribes to the fault signals in the background while
			// the container starts (one sent before that is not forwarded),
			// so on a loaded machine the signal is sent again until run ends.
			deadline := time.After(10 * time.Second)
		wait:
			for {
				must(t, cmd.Process.Signal(tc.sig))
				select {
				case <-done:
					break wait
				case <-time.After(time.Second):
				case <-deadline:
					cmd.Process.Kill()
					t.Fatalf("run did not return after signal %d; output %q", tc.sig, c.output())
				}
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(c.output(), tc.want) {
				t.Errorf("run exit %d output %q, want %d after %s", code, c.output(), tc.code, tc.want)
			}
		})
	}
}
