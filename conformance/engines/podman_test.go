package engines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPodmanRun: podman run --rm prints the command's output, propagates its
// exit status and applies --env, --workdir and --user.
func TestPodmanRun(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		t.Run("echo", func(t *testing.T) {
			res, id := p.runOnce(t, rt, nil, "echo", "hi")
			wantOutput(t, rt, id, res, 0, "hi\n")
			rt.wantCall(t, id, "--log-format=json", "create", "--bundle", "--pid-file", id)
			rt.wantCall(t, id, "start", id)
			rt.wantCall(t, id, "delete", "--force", id)
			assertCleanFlow(t, rt, id, p.places())
		})
		t.Run("exit-code", func(t *testing.T) {
			res, id := p.runOnce(t, rt, nil, "sh", "-c", "echo out; echo err >&2; exit 3")
			wantOutput(t, rt, id, res, 3, "out\n")
			if !strings.Contains(res.stderr, "err\n") {
				t.Errorf("the container's stderr did not reach podman's:\n%s", res)
			}
			assertCleanFlow(t, rt, id, p.places())
		})
		t.Run("env-workdir-user", func(t *testing.T) {
			res, id := p.runOnce(t, rt, []string{"-e", "FOO=bar baz", "-w", "/tmp", "--user", testUID + ":" + testGID},
				"sh", "-c", `echo "$FOO"; pwd; id -u; id -g; echo "$HOME"`)
			wantOutput(t, rt, id, res, 0, "bar baz\n/tmp\n"+testUID+"\n"+testGID+"\n/tmp\n")
			assertCleanFlow(t, rt, id, p.places())
		})
	})
}

// TestPodmanDetached: the long-running flow. run -d, exec (output, exit
// status, flags), ps, top, pause and unpause (seen by podman and in the freezer
// cgroup), stop (SIGTERM, which a shell as pid 1 ignores, then SIGKILL) and
// rm.
func TestPodmanDetached(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		id := p.startDetached(t, rt, nil, "sleep", "1000")
		rt.wantCall(t, id, "create", "--bundle", id)
		if got := p.status(t, id); got != "running" {
			t.Fatalf("status after run -d = %q, want running%s", got, rt.callReport(t, id))
		}

		res := p.run(t, rt, "exec", id, "sh", "-c", "echo in-exec; exit 4")
		wantOutput(t, rt, id, res, 4, "in-exec\n")
		rt.wantCall(t, id, "exec", "--process", "--detach", id)
		res = p.run(t, rt, "exec", "-e", "X=y", "-w", "/tmp", "--user", testUID, id, "sh", "-c", `echo "$X" "$(pwd)" "$(id -u)"`)
		wantOutput(t, rt, id, res, 0, "y /tmp "+testUID+"\n")

		res = p.run(t, rt, "ps", "--filter", "id="+id, "--format", "{{.ID}} {{.Status}}")
		if res.exit != 0 || !strings.HasPrefix(res.stdout, id[:12]+" Up ") {
			t.Errorf("podman ps does not list the container as up:\n%s", res)
		}
		res = p.run(t, rt, "top", id, "pid", "args")
		if res.exit != 0 || !strings.Contains(res.stdout, "sleep 1000") {
			t.Errorf("podman top does not show the container's process:\n%s", res)
		}

		res = p.run(t, rt, "pause", id)
		if res.exit != 0 {
			t.Fatalf("podman pause failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "pause", id)
		if got := p.status(t, id); got != "paused" {
			t.Errorf("status after pause = %q, want paused", got)
		}
		if got := freezerState(t, p, id); got != "FROZEN" {
			t.Errorf("freezer.state after pause = %q, want FROZEN", got)
		}
		res = p.run(t, rt, "unpause", id)
		if res.exit != 0 {
			t.Fatalf("podman unpause failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "resume", id)
		if got := p.status(t, id); got != "running" {
			t.Errorf("status after unpause = %q, want running", got)
		}
		if got := freezerState(t, p, id); got != "THAWED" {
			t.Errorf("freezer.state after unpause = %q, want THAWED", got)
		}
		res = p.run(t, rt, "exec", id, "echo", "back")
		wantOutput(t, rt, id, res, 0, "back\n")

		start := time.Now()
		res = p.run(t, rt, "stop", "-t", "1", id)
		if res.exit != 0 || strings.TrimSpace(res.stdout) != id {
			t.Errorf("podman stop failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "kill", id, "15")
		rt.wantCall(t, id, "kill", id, "9")
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("podman stop -t 1 took %s", took)
		}
		if got := p.status(t, id); got != "exited" {
			t.Errorf("status after stop = %q, want exited%s", got, rt.callReport(t, id))
		}

		res = p.run(t, rt, "rm", id)
		if res.exit != 0 {
			t.Errorf("podman rm failed:\n%s%s", res, rt.callReport(t, id))
		}
		assertCleanFlow(t, rt, id, p.places())
	})
}

// freezerState reads the container's freezer cgroup on the host.
func freezerState(t *testing.T, p *podmanEnv, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", p.cgroupParent, "libpod-"+id, "freezer.state"))
	if err != nil {
		t.Errorf("reading the container's freezer cgroup: %v", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// TestPodmanTerminal: run -t and exec -t get a terminal through conmon's
// console socket; output arrives with the terminal's CRLF line endings.
func TestPodmanTerminal(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		t.Run("run", func(t *testing.T) {
			res, id := p.runOnce(t, rt, []string{"-t"}, "sh", "-c", "tty; exit 2")
			wantOutput(t, rt, id, res, 2, "/dev/pts/0\r\n")
			rt.wantCall(t, id, "create", "--console-socket", id)
			assertCleanFlow(t, rt, id, p.places())
		})
		t.Run("exec", func(t *testing.T) {
			id := p.startDetached(t, rt, nil, "sleep", "1000")
			res := p.run(t, rt, "exec", "-t", id, "sh", "-c", "tty >/dev/null && echo is-a-tty")
			wantOutput(t, rt, id, res, 0, "is-a-tty\r\n")
			rt.wantCall(t, id, "exec", "--tty", "--console-socket", id)
			p.remove(t, rt, id)
			assertCleanFlow(t, rt, id, p.places())
		})
	})
}

// TestPodmanResources: --memory and --pids-limit are visible inside at
// /sys/fs/cgroup/<controller> (the container's own cgroup, on cgroup v1),
// and podman update changes them in the running container.
func TestPodmanResources(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		t.Run("limits", func(t *testing.T) {
			res, id := p.runOnce(t, rt, []string{"--memory", "64m", "--pids-limit", "50", "--cpu-shares", "256"},
				"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.shares")
			wantOutput(t, rt, id, res, 0, fmt.Sprintf("%d\n50\n256\n", 64<<20))
			assertCleanFlow(t, rt, id, p.places())
		})
		t.Run("update", func(t *testing.T) {
			id := p.startDetached(t, rt, []string{"--memory", "64m", "--cpu-shares", "256"}, "sleep", "1000")
			res := p.run(t, rt, "update", "--memory", "128m", "--cpu-shares", "512", id)
			if res.exit != 0 {
				t.Fatalf("podman update failed:\n%s%s", res, rt.callReport(t, id))
			}
			rt.wantCall(t, id, "update", id)
			res = p.run(t, rt, "exec", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.shares")
			wantOutput(t, rt, id, res, 0, fmt.Sprintf("%d\n512\n", 128<<20))
			p.remove(t, rt, id)
			assertCleanFlow(t, rt, id, p.places())
		})
	})
}

// TestPodmanUlimits: --ulimit reaches the container; one that cannot be
// granted fails with an error naming the rlimit and leaves nothing behind.
func TestPodmanUlimits(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		t.Run("applied", func(t *testing.T) {
			res, id := p.runOnce(t, rt, []string{"--ulimit", "nofile=1000:2000", "--ulimit", "nproc=300:400"},
				"sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu")
			wantOutput(t, rt, id, res, 0, "1000\n2000\n300\n400\n")
			assertCleanFlow(t, rt, id, p.places())
		})
		t.Run("above-hard-limit", func(t *testing.T) {
			// Above fs.nr_open no process may set RLIMIT_NOFILE, with or
			// without CAP_SYS_RESOURCE.
			nrOpen, err := os.ReadFile("/proc/sys/fs/nr_open")
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(nrOpen)))
			if err != nil {
				t.Fatalf("fs.nr_open %q: %v", nrOpen, err)
			}
			above := strconv.Itoa(n + 1)
			res, id := p.runOnce(t, rt, []string{"--ulimit", "nofile=" + above + ":" + above, "--ulimit", "nproc=300:400"}, "true")
			if res.exit == 0 || !strings.Contains(strings.ToLower(res.stderr), "rlimit") {
				t.Errorf("want a failure naming the rlimit, got:\n%s%s", res, rt.callReport(t, id))
			}
			assertNothingLeft(t, rt, id, p.places())
		})
	})
}

// usr1Catcher is a pid 1 that records SIGUSR1 and otherwise waits.
var usr1Catcher = []string{"sh", "-c", `trap 'echo got-usr1 >>/tmp/usr1' USR1; echo ready >>/tmp/ready; while :; do sleep 0.1; done`}

// TestPodmanKillRestart: podman kill -s USR1 reaches the container's pid 1
// (the runtime gets the signal as a number); podman restart makes the
// runtime delete the container and create it again under the same id.
func TestPodmanKillRestart(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		id := p.startDetached(t, rt, nil, usr1Catcher...)
		catUntil := func(file, want string) {
			t.Helper()
			var res command
			if !waitFor(5*time.Second, func() bool {
				res = p.run(t, rt, "exec", id, "cat", file)
				return strings.Contains(res.stdout, want)
			}) {
				t.Errorf("%s in the container never showed %q; last:\n%s%s", file, want, res, rt.callReport(t, id))
			}
		}
		catUntil("/tmp/ready", "ready")
		if res := p.run(t, rt, "kill", "--signal", "USR1", id); res.exit != 0 {
			t.Fatalf("podman kill -s USR1 failed:\n%s%s", res, rt.callReport(t, id))
		}
		rt.wantCall(t, id, "kill", id, "10")
		catUntil("/tmp/usr1", "got-usr1")

		creates := len(callsLike(rt.calls(t, id), "create"))
		if res := p.run(t, rt, "restart", "-t", "0", id); res.exit != 0 {
			t.Fatalf("podman restart failed:\n%s%s", res, rt.callReport(t, id))
		}
		if got := len(callsLike(rt.calls(t, id), "create")); got != creates+1 {
			t.Errorf("podman restart made %d create calls, want 1%s", got-creates, rt.callReport(t, id))
		}
		if got := p.status(t, id); got != "running" {
			t.Errorf("status after restart = %q, want running%s", got, rt.callReport(t, id))
		}
		// A fresh pid 1, in the same container file system, appends again.
		catUntil("/tmp/ready", "ready\nready")
		p.remove(t, rt, id)
		assertCleanFlow(t, rt, id, p.places())
	})
}

// callsLike keeps the calls whose argv has the given words in order.
func callsLike(calls []runtimeCall, words ...string) []runtimeCall {
	var out []runtimeCall
	for _, c := range calls {
		if hasSubsequence(strings.Fields(c.args), words) {
			out = append(out, c)
		}
	}
	return out
}

// TestPodmanPod: containers of a pod join the infra container's
// namespaces by path (linux.namespaces[].path); pod rm removes them all.
func TestPodmanPod(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		pod := fmt.Sprintf("berth-pod-%s-%d", rt.name, os.Getpid())
		res := p.run(t, rt, "pod", "create", "--name", pod, "--network", "none", "--cgroup-parent", "/"+p.cgroupParent)
		if res.exit != 0 {
			t.Fatalf("podman pod create failed:\n%s", res)
		}
		t.Cleanup(func() { p.command(rt, "pod", "rm", "-f", "-t", "0", pod).Run() })
		id := p.startDetached(t, rt, []string{"--pod", pod}, "sleep", "1000")
		infra := strings.TrimSpace(p.run(t, rt, "pod", "inspect", "--format", "{{.InfraContainerID}}", pod).stdout)
		pid := strings.TrimSpace(p.run(t, rt, "inspect", "--format", "{{.State.Pid}}", infra).stdout)
		rt.wantCall(t, infra, "create", "--bundle", infra)
		var want []string
		for _, ns := range []string{"ipc", "uts", "net"} {
			link, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
			if err != nil {
				t.Fatalf("infra container %s (pid %q): %v", infra, pid, err)
			}
			want = append(want, link)
		}
		script := "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; readlink /proc/self/ns/net"
		res = p.run(t, rt, "exec", id, "sh", "-c", script)
		wantOutput(t, rt, id, res, 0, strings.Join(want, "\n")+"\n")
		res, once := p.runOnce(t, rt, []string{"--pod", pod}, "sh", "-c", script)
		wantOutput(t, rt, once, res, 0, strings.Join(want, "\n")+"\n")
		assertCleanFlow(t, rt, once, p.places())

		if res := p.run(t, rt, "pod", "rm", "-f", "-t", "0", pod); res.exit != 0 {
			t.Errorf("podman pod rm -f failed:\n%s%s%s", res, rt.callReport(t, id), rt.callReport(t, infra))
		}
		assertCleanFlow(t, rt, id, p.places())
		assertCleanFlow(t, rt, infra, p.places())
	})
}

// TestPodmanErrors: podman turns the runtime's error text into its exit
// status (127: no such program, 126: not executable), so the error must name
// the cause as runc does, and be in the --log file conmon reads it from.
// Nothing may be left behind.
func TestPodmanErrors(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		for _, tc := range []struct {
			name, program string
			exit          int
		}{
			{"no-such-program", "/no/such/program", 127},
			{"not-executable", "/etc/passwd", 126},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, id := p.runOnce(t, rt, nil, tc.program)
				if res.exit != tc.exit || !strings.Contains(res.stderr, tc.program) {
					t.Errorf("want exit %d and an error naming %s, got:\n%s%s", tc.exit, tc.program, res, rt.callReport(t, id))
				}
				wantLoggedError(t, rt, id, tc.program)
				assertNothingLeft(t, rt, id, p.places())
			})
		}
		t.Run("exec-no-such-program", func(t *testing.T) {
			id := p.startDetached(t, rt, nil, "sleep", "1000")
			res := p.run(t, rt, "exec", id, "/no/such/program")
			if res.exit != 127 || !strings.Contains(res.stderr, "/no/such/program") {
				t.Errorf("want exit 127 and an error naming /no/such/program, got:\n%s%s", res, rt.callReport(t, id))
			}
			if res := p.run(t, rt, "exec", id, "true"); res.exit != 0 {
				t.Errorf("exec after a failed exec:\n%s%s", res, rt.callReport(t, id))
			}
			p.remove(t, rt, id)
			assertNothingLeft(t, rt, id, p.places())
		})
	})
}

// wantLoggedError fails t unless a failed runtime call for id wrote an
// error mentioning what to the --log file the engine passed.
func wantLoggedError(t *testing.T, rt *runtimeUnderTest, id, what string) {
	t.Helper()
	for _, c := range rt.calls(t, id) {
		if c.exit != 0 && strings.Contains(strings.Join(c.log, "\n"), what) {
			return
		}
	}
	t.Errorf("no failed call of %s wrote an error naming %s to its --log file%s", rt.name, what, rt.callReport(t, id))
}

// TestPodmanOOM: a container over its memory limit is killed by the kernel
// in its own cgroup, and podman sees exit 137. (Conmon 2.1.6 does not notice
// OOM kills on cgroup v1 with either runtime, so .State.OOMKilled is not
// checked.)
func TestPodmanOOM(t *testing.T) {
	p := podman(t)
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		cidfile := filepath.Join(t.TempDir(), "cid")
		args := append(append([]string{"run", "--cidfile", cidfile}, p.runFlags([]string{"--memory", "16m", "--memory-swap", "16m"})...),
			podmanImage, "sh", "-c", `a=$(head -c 100000000 /dev/zero | tr '\0' x); echo survived`)
		res := p.run(t, rt, args...)
		b, err := os.ReadFile(cidfile)
		if err != nil {
			t.Fatalf("no --cidfile: %v\n%s", err, res)
		}
		id := strings.TrimSpace(string(b))
		t.Cleanup(func() { p.command(rt, "rm", "-f", "-t", "0", id).Run() })
		if res.exit != 137 || strings.Contains(res.stdout, "survived") {
			t.Errorf("want exit 137 (SIGKILL by the OOM killer), got:\n%s%s", res, rt.callReport(t, id))
		}
		if res := p.run(t, rt, "rm", id); res.exit != 0 {
			t.Errorf("podman rm failed:\n%s%s", res, rt.callReport(t, id))
		}
		assertCleanFlow(t, rt, id, p.places())
	})
}
