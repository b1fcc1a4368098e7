package engines_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Docker: dockerd 20.10 (Debian's docker.io) with the runtime registered in
// daemon.json, driven with the docker CLI as people use it. Each runtime
// gets its own daemon; runc is the reference.

// dockerRun runs `docker run --rm --network none [flags] image args...` and
// returns the result and the container's full id (from --cidfile), by
// which the runtime's calls are found.
func (d *dockerEnv) dockerRun(t *testing.T, flags []string, args ...string) (command, string) {
	t.Helper()
	cid := filepath.Join(t.TempDir(), "cid")
	full := append([]string{"run", "--rm", "--network", "none", "--cidfile", cid}, flags...)
	res := d.docker(t, append(append(full, dockerImage), args...)...)
	b, _ := os.ReadFile(cid)
	return res, strings.TrimSpace(string(b))
}

// TestDockerRun: one-shot containers, each option checked from inside.
func TestDockerRun(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		d := docker(t, rt)
		check := func(t *testing.T, flags []string, args []string, code int, want string) string {
			t.Helper()
			res, id := d.dockerRun(t, flags, args...)
			if res.exit != code || !strings.Contains(res.stdout, want) {
				t.Errorf("want exit %d and %q in stdout, got:\n%s%s", code, want, res, rt.callReport(t, id))
			}
			if id != "" {
				assertNothingLeft(t, rt, id, d.places())
			}
			return id
		}
		t.Run("output", func(t *testing.T) {
			id := check(t, nil, []string{"echo", "hi"}, 0, "hi\n")
			rt.wantCall(t, id, "--root", "--log", "--log-format", "json", "create", "--bundle", "--pid-file", id)
			rt.wantCall(t, id, "start", id)
			rt.wantCall(t, id, "delete", id)
			rt.wantCallsSucceeded(t, id)
		})
		t.Run("exit-code", func(t *testing.T) { check(t, nil, []string{"sh", "-c", "echo out; exit 3"}, 3, "out") })
		t.Run("stdin", func(t *testing.T) {
			cmd := d.command("run", "--rm", "-i", "--network", "none", dockerImage, "sh", "-c", "read l; echo got:$l")
			cmd.Stdin = strings.NewReader("typed\n")
			if res := runCommand(t, cmd, 60*time.Second); res.exit != 0 || res.stdout != "got:typed\n" {
				t.Errorf("docker run -i: %s", res)
			}
		})
		t.Run("tty", func(t *testing.T) {
			name := ctrID(rt, "dktty")
			d.removeAfter(t, name)
			cmd := d.command("run", "--rm", "-it", "--name", name, "--network", "none", dockerImage, "sh", "-c", ttyScript+"; exit 6")
			if code := typeOnTerminal(t, cmd); code != 6 {
				t.Errorf("docker run -it: exit %d, want 6", code)
			}
		})
		t.Run("limits", func(t *testing.T) {
			check(t, []string{"--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"},
				[]string{"sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us"},
				0, "67108864\n50\n50000\n")
		})
		t.Run("read-only", func(t *testing.T) {
			check(t, []string{"--read-only"}, []string{"sh", "-c", "touch /x 2>/dev/null && echo wrote || echo refused"}, 0, "refused")
		})
		t.Run("user", func(t *testing.T) {
			check(t, []string{"--user", testUID + ":" + testGID}, []string{"sh", "-c", "echo $(id -u):$(id -g)"}, 0, testUID+":"+testGID)
		})
		t.Run("cap-drop-all", func(t *testing.T) {
			check(t, []string{"--cap-drop", "ALL"}, []string{"grep", "CapEff", "/proc/self/status"}, 0, "0000000000000000")
		})
		t.Run("seccomp", func(t *testing.T) {
			check(t, nil, []string{"grep", "Seccomp:", "/proc/self/status"}, 0, "Seccomp:\t2")
			check(t, []string{"--security-opt", "seccomp=unconfined"}, []string{"grep", "Seccomp:", "/proc/self/status"}, 0, "Seccomp:\t0")
			// Docker's default profile refuses unshare(2) to a container
			// without CAP_SYS_ADMIN; unconfined it is allowed.
			check(t, nil, []string{"sh", "-c", "unshare -U true 2>/dev/null && echo allowed || echo denied"}, 0, "denied")
			check(t, []string{"--security-opt", "seccomp=unconfined"}, []string{"sh", "-c", "unshare -U true 2>/dev/null && echo allowed || echo denied"}, 0, "allowed")
		})
		t.Run("network-none", func(t *testing.T) {
			check(t, nil, []string{"sh", "-c", "ls /sys/class/net"}, 0, "lo\n")
		})
		t.Run("volume", func(t *testing.T) {
			dir := t.TempDir()
			check(t, []string{"-v", dir + ":/data"}, []string{"sh", "-c", "echo from-container > /data/f; cat /data/f"}, 0, "from-container")
			if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "from-container\n" {
				t.Errorf("the volume's file on the host: %q, %v", b, err)
			}
		})
		t.Run("init", func(t *testing.T) {
			check(t, []string{"--init"}, []string{"sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"}, 0, "docker-init -- sh")
		})
	})
}

// TestDockerDetached: a long-running container through exec, kill -s, top,
// pause/unpause, update, restart, stop, a host kill -9, and rm.
func TestDockerDetached(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		d := docker(t, rt)
		name := ctrID(rt, "dk")
		d.removeAfter(t, name)
		d.mustDocker(t, "run", "-d", "--name", name, "--network", "none", "--memory", "64m", dockerImage,
			"sh", "-c", "trap 'echo usr1 >> /tmp/sig' USR1; while :; do sleep 0.2; done")
		id := d.inspect(t, name, "{{.Id}}")
		if res := d.mustDocker(t, "exec", name, "sh", "-c", "echo in-exec; exit 0"); res.stdout != "in-exec\n" {
			t.Errorf("docker exec: %s", res)
		}
		rt.wantCall(t, id, "exec", "--process", "--detach", "--pid-file", id)
		if res := d.docker(t, "exec", name, "sh", "-c", "exit 5"); res.exit != 5 {
			t.Errorf("docker exec exit status: %s", res)
		}
		// Docker 20.10 reports a failed start as 126, with the runtime's
		// error (read from its --log) in the message.
		if res := d.docker(t, "exec", name, "/no/such/program"); res.exit != 126 || !strings.Contains(res.stdout+res.stderr, "/no/such/program") {
			t.Errorf("docker exec of a missing program: %s%s", res, rt.callReport(t, id))
		}
		if code := typeOnTerminal(t, d.command("exec", "-it", name, "sh", "-c", ttyScript)); code != 0 {
			t.Errorf("docker exec -it: exit %d", code)
		}
		d.mustDocker(t, "kill", "-s", "USR1", name)
		if !waitFor(10*time.Second, func() bool {
			return d.docker(t, "exec", name, "cat", "/tmp/sig").stdout == "usr1\n"
		}) {
			t.Errorf("docker kill -s USR1 did not reach the container's trap%s", rt.callReport(t, id))
		}
		if res := d.mustDocker(t, "top", name); !strings.Contains(res.stdout, "sleep") {
			t.Errorf("docker top lists no sleep: %s", res)
		}
		rt.wantCall(t, id, "ps", "--format", "json", id)
		d.mustDocker(t, "pause", name)
		if got := d.inspect(t, name, "{{.State.Paused}}"); got != "true" {
			t.Errorf("paused = %s after docker pause", got)
		}
		d.mustDocker(t, "unpause", name)
		rt.wantCall(t, id, "pause", id)
		rt.wantCall(t, id, "resume", id)
		d.mustDocker(t, "update", "--memory", "128m", "--memory-swap", "256m", name)
		if res := d.mustDocker(t, "exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); res.stdout != "134217728\n" {
			t.Errorf("memory limit after docker update: %s", res)
		}
		rt.wantCall(t, id, "update", "--resources", "-", id)
		pid := d.inspect(t, name, "{{.State.Pid}}")
		d.mustDocker(t, "restart", "-t", "1", name)
		if got := d.inspect(t, name, "{{.State.Running}}"); got != "true" {
			t.Errorf("running = %s after docker restart", got)
		}
		if again := d.inspect(t, name, "{{.State.Pid}}"); again == pid {
			t.Errorf("docker restart kept pid %s", pid)
		}
		// A kill from the host, as an OOM killer or an operator would.
		n, _ := strconv.Atoi(d.inspect(t, name, "{{.State.Pid}}"))
		if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if res := d.mustDocker(t, "wait", name); strings.TrimSpace(res.stdout) != "137" {
			t.Errorf("docker wait after kill -9 on the host: %s", res)
		}
		d.mustDocker(t, "start", name)
		d.mustDocker(t, "stop", "-t", "1", name)
		if got := d.inspect(t, name, "{{.State.ExitCode}}"); got != "137" && got != "143" {
			t.Errorf("exit code after docker stop = %s", got)
		}
		d.mustDocker(t, "rm", name)
		for _, c := range rt.calls(t, id) {
			if c.exit != 0 && !strings.Contains(c.args, " exec ") {
				t.Errorf("%s failed a call other than the exec of a missing program:\n    %s", rt.name, c)
			}
		}
		assertNothingLeft(t, rt, id, d.places())
	})
}

// TestDockerParallel: ten containers at once, each with its own output.
func TestDockerParallel(t *testing.T) {
	eachRuntime(t, func(t *testing.T, rt *runtimeUnderTest) {
		d := docker(t, rt)
		var wg sync.WaitGroup
		errs := make(chan string, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := d.command("run", "--rm", "--network", "none", dockerImage, "echo", fmt.Sprint("n", i))
				out, err := runBounded(cmd, 90*time.Second)
				if err != nil || out != fmt.Sprint("n", i, "\n") {
					errs <- fmt.Sprintf("container %d: %q, %v", i, out, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if res := d.mustDocker(t, "ps", "-aq"); strings.TrimSpace(res.stdout) != "" {
			t.Errorf("containers left after the parallel runs: %s", res.stdout)
		}
	})
}

// runBounded runs cmd and returns its stdout, killing it after limit.
func runBounded(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s did not finish within %s", cmd, limit)
	}
}
