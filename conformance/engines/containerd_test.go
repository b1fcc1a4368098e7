package engines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctrID names a container uniquely enough that finding its leftovers by
// name (cgroups, processes) cannot match anything else.
func ctrID(rt *runtimeUnderTest, what string) string {
	return fmt.Sprintf("eng-%s-%s-%d", what, rt.name, os.Getpid())
}

// TestContainerdRun: ctr run --runc-binary --rm prints the command's output,
// propagates its exit status, applies --env and --cwd and places the
// process in the cgroup containerd asks for.
func TestContainerdRun(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		c := containerd(t, rt)
		run := func(t *testing.T, id string, flags []string, args ...string) command {
			t.Helper()
			c.removeAfter(t, id)
			full := append(append(append([]string{"run", "--rm"}, c.runFlags()...), flags...), containerdImage, id)
			return c.ctr(t, append(full, args...)...)
		}
		t.Run("echo", func(t *testing.T) {
			id := ctrID(rt, "echo")
			res := run(t, id, nil, "echo", "hi")
			wantOutput(t, rt, id, res, 0, "hi\n")
			rt.wantCall(t, id, "--root", "--log", "--log-format", "json", "create", "--bundle", "--pid-file", id)
			rt.wantCall(t, id, "start", id)
			rt.wantCall(t, id, "delete", id)
			assertCleanFlow(t, rt, id, c.places())
		})
		t.Run("exit-code", func(t *testing.T) {
			id := ctrID(rt, "exit")
			res := run(t, id, nil, "sh", "-c", "echo out; exit 3")
			wantOutput(t, rt, id, res, 3, "out\n")
			assertCleanFlow(t, rt, id, c.places())
		})
		t.Run("no-such-program", func(t *testing.T) {
			// The shim reads the runtime's error from the --log file and
			// passes it up to ctr.
			id := ctrID(rt, "noprog")
			res := run(t, id, nil, "/no/such/program")
			if res.exit == 0 || !strings.Contains(res.stderr, "/no/such/program") {
				t.Errorf("want a failure naming /no/such/program, got:\n%s%s", res, rt.callReport(t, id))
			}
			wantLoggedError(t, rt, id, "/no/such/program")
			assertNothingLeft(t, rt, id, c.places())
		})
		t.Run("env-cwd-cgroup", func(t *testing.T) {
			id := ctrID(rt, "env")
			// ctr mounts no cgroup filesystem: the container's cgroup is
			// checked in /proc/self/cgroup (and its limits, on the host, in
			// TestContainerdTask).
			res := run(t, id, []string{"--env", "FOO=bar baz", "--cwd", "/tmp"},
				"sh", "-c", `echo "$FOO"; pwd; sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup`)
			wantOutput(t, rt, id, res, 0, fmt.Sprintf("bar baz\n/tmp\n/%s/%s\n", c.namespace, id))
			assertCleanFlow(t, rt, id, c.places())
		})
	})
}

// TestContainerdTask: the task flow the shim drives. container create and
// task start -d (the daemon's default runtime is the wrapper), task exec
// (output, exit status, --user/--cwd), task ps, pause and resume (seen by
// ctr and in the freezer cgroup), kill (SIGTERM, ignored by a pid 1 without
// a handler), kill --all SIGKILL, task delete.
func TestContainerdTask(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		c := containerd(t, rt)
		id := ctrID(rt, "task")
		c.removeAfter(t, id)
		if res := c.ctr(t, "container", "create", "--memory-limit", fmt.Sprint(64<<20), containerdImage, id, "sleep", "1000"); res.exit != 0 {
			t.Fatalf("ctr container create failed:\n%s", res)
		}
		if res := c.ctr(t, "task", "start", "-d", "--null-io", id); res.exit != 0 {
			t.Fatalf("ctr task start -d failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "create", "--bundle", "--pid-file", id)
		rt.wantCall(t, id, "start", id)
		if got := c.taskStatus(t, id); got != "RUNNING" {
			t.Fatalf("task status after start = %q, want RUNNING%s", got, rt.callReport(t, id))
		}
		cgroup := func(ctrl, file string) string {
			return filepath.Join("/sys/fs/cgroup", ctrl, c.namespace, id, file)
		}
		if got := readTrimmed(t, cgroup("memory", "memory.limit_in_bytes")); got != fmt.Sprint(64<<20) {
			t.Errorf("memory.limit_in_bytes = %q, want %d", got, 64<<20)
		}

		exec := func(execID string, flags []string, args ...string) command {
			full := append(append([]string{"task", "exec", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--exec-id", execID}, flags...), id)
			return c.ctr(t, append(full, args...)...)
		}
		res := exec("e1", nil, "sh", "-c", "echo in-exec; exit 4")
		wantOutput(t, rt, id, res, 4, "in-exec\n")
		rt.wantCall(t, id, "exec", "--process", "--detach", "--pid-file", id)
		res = exec("e2", []string{"--user", testUID, "--cwd", "/tmp"}, "sh", "-c", `echo "$(pwd)" "$(id -u)"`)
		wantOutput(t, rt, id, res, 0, "/tmp "+testUID+"\n")

		pid := c.taskPid(t, id)
		res = c.ctr(t, "task", "ps", id)
		if res.exit != 0 || pid == "" || !containsWord(res.stdout, pid) {
			t.Errorf("ctr task ps does not list the init pid %q:\n%s%s", pid, res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "ps", "--format", "json", id)

		freezer := cgroup("freezer", "freezer.state")
		if res := c.ctr(t, "task", "pause", id); res.exit != 0 {
			t.Fatalf("ctr task pause failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "pause", id)
		if got := c.taskStatus(t, id); got != "PAUSED" {
			t.Errorf("task status after pause = %q, want PAUSED", got)
		}
		if got := readTrimmed(t, freezer); got != "FROZEN" {
			t.Errorf("%s after pause = %q, want FROZEN", freezer, got)
		}
		if res := c.ctr(t, "task", "resume", id); res.exit != 0 {
			t.Fatalf("ctr task resume failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "resume", id)
		if got := c.taskStatus(t, id); got != "RUNNING" {
			t.Errorf("task status after resume = %q, want RUNNING", got)
		}
		if got := readTrimmed(t, freezer); got != "THAWED" {
			t.Errorf("%s after resume = %q, want THAWED", freezer, got)
		}

		if res := c.ctr(t, "task", "kill", id); res.exit != 0 {
			t.Errorf("ctr task kill failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "kill", id, "15")
		time.Sleep(300 * time.Millisecond)
		if got := c.taskStatus(t, id); got != "RUNNING" {
			t.Errorf("a pid 1 without a SIGTERM handler died of SIGTERM: status %q", got)
		}
		if res := c.ctr(t, "task", "kill", "--all", "--signal", "SIGKILL", id); res.exit != 0 {
			t.Errorf("ctr task kill --all failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "kill", "--all", id, "9")
		if !waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) == "STOPPED" }) {
			t.Errorf("task not STOPPED 5s after SIGKILL: %q%s", c.taskStatus(t, id), rt.callReport(t, id))
		}

		if res := c.ctr(t, "task", "delete", id); res.exit != 0 {
			t.Errorf("ctr task delete failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "delete", id)
		if res := c.ctr(t, "container", "delete", id); res.exit != 0 {
			t.Errorf("ctr container delete failed:\n%s", res)
		}
		assertCleanFlow(t, rt, id, c.places())
	})
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// TestContainerdTerminal: ctr run -t and ctr task exec -t, from a terminal,
// give the process one through the shim's console socket.
func TestContainerdTerminal(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		c := containerd(t, rt)
		t.Run("run", func(t *testing.T) {
			id := ctrID(rt, "tty")
			c.removeAfter(t, id)
			args := append(append([]string{"run", "-t", "--rm"}, c.runFlags()...), containerdImage, id, "sh", "-c", "tty; exit 2")
			res := runInPty(t, c.ctrCommand(args...), 60*time.Second)
			wantTerminalLines(t, rt, id, res, 2, "/dev/pts/0")
			rt.wantCall(t, id, "create", "--console-socket", id)
			assertCleanFlow(t, rt, id, c.places())
		})
		t.Run("exec", func(t *testing.T) {
			id := ctrID(rt, "ttyexec")
			c.removeAfter(t, id)
			args := append(append([]string{"run", "-d", "--null-io"}, c.runFlags()...), containerdImage, id, "sleep", "1000")
			if res := c.ctr(t, args...); res.exit != 0 {
				t.Fatalf("ctr run -d failed:\n%s%s", res, rt.callReport(t, id))
			}
			// containerd sends no --tty: only "terminal": true in the process JSON.
			res := runInPty(t, c.ctrCommand("task", "exec", "-t", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--exec-id", "t1",
				id, "sh", "-c", "tty >/dev/null && echo is-a-tty"), 60*time.Second)
			wantTerminalLines(t, rt, id, res, 0, "is-a-tty")
			rt.wantCall(t, id, "exec", "--process", "--console-socket", id)
			if res := c.ctr(t, "task", "kill", "--signal", "SIGKILL", id); res.exit != 0 {
				t.Errorf("ctr task kill failed:\n%s%s", res, rt.callReport(t, id))
			}
			waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) == "STOPPED" })
			if res := c.ctr(t, "task", "delete", id); res.exit != 0 {
				t.Errorf("ctr task delete failed:\n%s%s", res, rt.callReport(t, id))
			}
			c.ctr(t, "container", "delete", id)
			assertCleanFlow(t, rt, id, c.places())
		})
	})
}

// wantTerminalLines checks what ctr copied from the container's terminal to
// ours: both translate newlines, so CRs are dropped, and ctr may add its own
// log lines (a resize racing the exit), which start with an escape sequence.
func wantTerminalLines(t *testing.T, rt *runtimeUnderTest, id string, res command, code int, want ...string) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(strings.ReplaceAll(res.stdout, "\r", ""), "\n") {
		if l != "" && !strings.HasPrefix(l, "\x1b[") && !strings.Contains(l, "level=") {
			got = append(got, l)
		}
	}
	if res.exit != code || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("want exit %d and terminal lines %q, got:\n%s%s", code, want, res, rt.callReport(t, id))
	}
}

// TestContainerdSignals: ctr task kill -s SIGUSR1 reaches pid 1 (the shim
// sends the number); exec into a paused task fails promptly instead of
// hanging in the frozen cgroup; kill --all on a task whose process has
// already exited succeeds (the shim sends it on every kill -a).
func TestContainerdSignals(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		c := containerd(t, rt)
		fifo := filepath.Join(c.dir, "fifo")
		t.Run("usr1-and-paused-exec", func(t *testing.T) {
			id := ctrID(rt, "usr1")
			c.removeAfter(t, id)
			args := append(append([]string{"run", "-d", "--null-io"}, c.runFlags()...), containerdImage, id)
			if res := c.ctr(t, append(args, usr1Catcher...)...); res.exit != 0 {
				t.Fatalf("ctr run -d failed:\n%s%s", res, rt.callReport(t, id))
			}
			n := 0
			catUntil := func(file, want string) {
				t.Helper()
				var res command
				if !waitFor(5*time.Second, func() bool {
					n++
					res = c.ctr(t, "task", "exec", "--fifo-dir", fifo, "--exec-id", fmt.Sprintf("cat%d", n), id, "cat", file)
					return strings.Contains(res.stdout, want)
				}) {
					t.Errorf("%s in the container never showed %q; last:\n%s%s", file, want, res, rt.callReport(t, id))
				}
			}
			catUntil("/tmp/ready", "ready")
			if res := c.ctr(t, "task", "kill", "--signal", "SIGUSR1", id); res.exit != 0 {
				t.Fatalf("ctr task kill -s SIGUSR1 failed:\n%s%s", res, rt.callReport(t, id))
			}
			rt.wantCall(t, id, "kill", id, "10")
			catUntil("/tmp/usr1", "got-usr1")

			if res := c.ctr(t, "task", "pause", id); res.exit != 0 {
				t.Fatalf("ctr task pause failed:\n%s%s", res, rt.callReport(t, id))
			}
			res := runCommand(t, c.ctrCommand("task", "exec", "--fifo-dir", fifo, "--exec-id", "paused", id, "echo", "ran"), 20*time.Second)
			if res.exit == 0 {
				t.Errorf("exec into a paused task succeeded:\n%s%s", res, rt.callReport(t, id))
			}
			if res := c.ctr(t, "task", "resume", id); res.exit != 0 {
				t.Fatalf("ctr task resume failed:\n%s%s", res, rt.callReport(t, id))
			}
			res = c.ctr(t, "task", "exec", "--fifo-dir", fifo, "--exec-id", "resumed", id, "echo", "ran")
			wantOutput(t, rt, id, res, 0, "ran\n")
			if res := c.ctr(t, "task", "kill", "--all", "--signal", "SIGKILL", id); res.exit != 0 {
				t.Errorf("ctr task kill --all failed:\n%s%s", res, rt.callReport(t, id))
			}
			waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) == "STOPPED" })
			if res := c.ctr(t, "task", "delete", id); res.exit != 0 {
				t.Errorf("ctr task delete failed:\n%s%s", res, rt.callReport(t, id))
			}
			c.ctr(t, "container", "delete", id)
			assertNothingLeft(t, rt, id, c.places())
		})
		t.Run("kill-all-exited", func(t *testing.T) {
			id := ctrID(rt, "exited")
			c.removeAfter(t, id)
			args := append(append([]string{"run", "-d", "--null-io"}, c.runFlags()...), containerdImage, id, "true")
			if res := c.ctr(t, args...); res.exit != 0 {
				t.Fatalf("ctr run -d failed:\n%s%s", res, rt.callReport(t, id))
			}
			if !waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) == "STOPPED" }) {
				t.Fatalf("task of `true` not STOPPED after 5s: %q%s", c.taskStatus(t, id), rt.callReport(t, id))
			}
			res := c.ctr(t, "task", "kill", "--all", "--signal", "SIGKILL", id)
			rt.wantCall(t, id, "kill", "--all", id, "9")
			if res.exit != 0 {
				t.Errorf("ctr task kill --all of an exited task failed:\n%s%s", res, rt.callReport(t, id))
			}
			if res := c.ctr(t, "task", "delete", id); res.exit != 0 {
				t.Errorf("ctr task delete failed:\n%s%s", res, rt.callReport(t, id))
			}
			c.ctr(t, "container", "delete", id)
			assertCleanFlow(t, rt, id, c.places())
		})
	})
}
