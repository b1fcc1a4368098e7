package runtime_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The command lines below are the ones podman (with conmon) and containerd's
// runc shim send, as recorded in docs shared with the team
// (engine-contract.md). Each must be accepted exactly as written.

// execProcessFile writes a process.json for `exec --process`.
func execProcessFile(t *testing.T, c *container, args ...string) string {
	t.Helper()
	p := specs.Process{
		Args: args, Cwd: "/", Env: c.Spec.Process.Env, User: specs.User{UID: 0, GID: 0},
		Capabilities: c.Spec.Process.Capabilities,
	}
	b, err := json.Marshal(p)
	must(t, err)
	path := filepath.Join(t.TempDir(), "exec-process-1")
	must(t, os.WriteFile(path, b, 0o644))
	return path
}

// execDetached runs `[globals] exec ... --detach ...` and waits for the exec'd
// process to print want.
func execDetached(t *testing.T, c *container, globals, args []string, want string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "exec-out")
	must(t, err)
	defer out.Close()
	r := runRuntime(t, append(globals, args...), out, nil)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(readFile(t, out.Name()), want) {
		if time.Now().After(deadline) {
			t.Fatalf("exec'd process never printed %q; output %q", want, readFile(t, out.Name()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertPidFile(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, path)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %s holds %q", path, readFile(t, path))
	}
	return pid
}

// cgroupFile reads one of the container's cgroup files on the host: on
// cgroup v1 in the controller's hierarchy, on v2 (where controller is
// ignored) in the one unified directory.
func cgroupFile(t *testing.T, c *container, controller, file string) string {
	t.Helper()
	return strings.TrimSpace(readFile(t, filepath.Join(cgroupDir(c, controller), file)))
}

// cgroupDir is the container's cgroup directory for controller (v1), or
// its only one (v2).
func cgroupDir(c *container, controller string) string {
	if cgroupV2 {
		return filepath.Join("/sys/fs/cgroup", cgroupParent, c.cgroupID)
	}
	return filepath.Join("/sys/fs/cgroup", controller, cgroupParent, c.cgroupID)
}

func TestEngineContractPodman(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", signalScript)
	c.Root = "" // podman passes no --root
	userdata := t.TempDir()
	log := filepath.Join(userdata, "oci-log")
	c.save()
	f := c.outFile()
	defer f.Close()
	r := runRuntime(t, []string{"--log-format=json", "--log", log, "create", "--bundle", c.Bundle, "--pid-file", filepath.Join(userdata, "pidfile"), c.ID}, f, nil)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	pid := assertPidFile(t, filepath.Join(userdata, "pidfile"))
	c.mustRT("start", c.ID)
	c.waitOutput("ready")
	if st := c.state(); st.Pid != pid || st.Status != specs.StateRunning {
		t.Errorf("state %+v, want running with pid %d", st, pid)
	}

	c.mustRT("pause", c.ID)
	if st := c.state(); st.Status != "paused" {
		t.Errorf("after pause: status %q, want paused", st.Status)
	}
	if cgroupV2 {
		if fr := cgroupFile(t, c, "", "cgroup.freeze"); fr != "1" {
			t.Errorf("after pause: cgroup.freeze %q", fr)
		}
	} else if fr := cgroupFile(t, c, "freezer", "freezer.state"); fr != "FROZEN" {
		t.Errorf("after pause: freezer.state %q", fr)
	}
	c.mustRT("resume", c.ID)
	if st := c.state(); st.Status != specs.StateRunning {
		t.Errorf("after resume: status %q, want running", st.Status)
	}

	resources := filepath.Join(userdata, "resources.json")
	must(t, os.WriteFile(resources, []byte(`{"pids":{"limit":77}}`), 0o644))
	c.mustRT("update", "--resources="+resources, c.ID)
	if v := cgroupFile(t, c, "pids", "pids.max"); v != "77" {
		t.Errorf("after update: pids.max %q, want 77", v)
	}

	exitDir := t.TempDir()
	proc := execProcessFile(t, c, "/bin/sh", "-c", "echo exec-ran")
	execDetached(t, c, []string{"--log-format=json", "--log", filepath.Join(exitDir, "oci-log")},
		[]string{"exec", "--pid-file", filepath.Join(exitDir, "exec_pid"), "--process", proc, "--detach", c.ID}, "exec-ran")
	assertPidFile(t, filepath.Join(exitDir, "exec_pid"))

	c.mustRT("kill", c.ID, "15")
	c.waitOutput("got-TERM")
	c.waitStatus(specs.StateStopped)
	c.mustRT("delete", "--force", c.ID)
	if r := c.rt("state", c.ID); r.Code == 0 {
		t.Errorf("container remains after delete --force")
	}
}

func TestEngineContractContainerd(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", signalScript)
	state := t.TempDir()
	log := filepath.Join(state, "log.json")
	shim := func(args ...string) result {
		t.Helper()
		r := runRuntime(t, append([]string{"--root", c.Root, "--log", log, "--log-format", "json"}, args...), nil, nil)
		if r.Code != 0 {
			t.Fatalf("%s\nlog: %s", r.describe(), readFileQuiet(log))
		}
		return r
	}
	c.save()
	f := c.outFile()
	defer f.Close()
	r := runRuntime(t, []string{"--root", c.Root, "--log", log, "--log-format", "json",
		"create", "--bundle", c.Bundle, "--pid-file", filepath.Join(state, "init.pid"), c.ID}, f, nil)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	pid := assertPidFile(t, filepath.Join(state, "init.pid"))
	shim("start", c.ID)
	c.waitOutput("ready")

	var pids []int
	out := shim("ps", "--format", "json", c.ID).Stdout
	if err := json.Unmarshal([]byte(out), &pids); err != nil || !containsInt(pids, pid) {
		t.Errorf("ps --format json printed %q, want a JSON array with %d", out, pid)
	}

	proc := execProcessFile(t, c, "/bin/sh", "-c", "echo exec-ran")
	execDetached(t, c, []string{"--root", c.Root, "--log", log, "--log-format", "json"},
		[]string{"exec", "--process", proc, "--detach", "--pid-file", filepath.Join(state, "exec1.pid"), c.ID}, "exec-ran")
	assertPidFile(t, filepath.Join(state, "exec1.pid"))

	shim("pause", c.ID)
	shim("resume", c.ID)
	shim("kill", c.ID, "15")
	c.waitOutput("got-TERM")
	c.waitStatus(specs.StateStopped)
	shim("kill", "--all", c.ID, "9") // sent to tasks that have exited, too
	shim("delete", c.ID)
	shim("delete", "--force", c.ID)
	jsonLogLines(t, log)
}

func containsInt(have []int, want int) bool {
	for _, h := range have {
		if h == want {
			return true
		}
	}
	return false
}

// TestExec: exec runs a process in the container's namespaces, with the
// process JSON's user, env and cwd; in the foreground its exit status is
// exec's; a stopped container refuses exec.
func TestExec(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	initPid := c.state().Pid

	// runc's short form: exec ID ARGS...
	r := c.rt("exec", c.ID, "/bin/sh", "-c", "echo short-form; exit 3")
	if r.Code != 3 || !strings.Contains(r.Stdout, "short-form") {
		t.Errorf("exec ID sh -c 'exit 3': %s", r.describe())
	}

	p := specs.Process{
		Args: []string{"/probe"}, Cwd: "/tmp", Env: []string{"PATH=/bin", "EXEC_VAR=1"},
		User: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{2000}}, NoNewPrivileges: true,
	}
	b, err := json.Marshal(p)
	must(t, err)
	proc := filepath.Join(t.TempDir(), "process.json")
	must(t, os.WriteFile(proc, b, 0o644))
	r = c.rt("exec", "--process", proc, c.ID)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	rep := parseReport(t, r.Stdout)
	if rep.UID != 1000 || rep.GID != 1000 || len(rep.Groups) != 1 || rep.Groups[0] != 2000 || rep.Cwd != "/tmp" ||
		!contains(rep.Env, "EXEC_VAR=1") || rep.NoNewPrivs != 1 {
		t.Errorf("exec'd process: uid %d gid %d groups %v cwd %q env %v nnp %d", rep.UID, rep.GID, rep.Groups, rep.Cwd, rep.Env, rep.NoNewPrivs)
	}
	for _, ns := range []string{"pid", "net", "ipc", "uts", "mnt"} {
		if want := nsInode(t, "/proc/"+strconv.Itoa(initPid)+"/ns/"+ns); rep.Namespaces[ns] != want {
			t.Errorf("exec'd process %s namespace %d, want the container's %d", ns, rep.Namespaces[ns], want)
		}
	}
	if len(rep.FDs) != 3 {
		t.Errorf("exec'd process has fds %v, want only 0, 1, 2", rep.FDs)
	}

	c.mustRT("kill", c.ID, "KILL")
	c.waitStatus(specs.StateStopped)
	if r := c.rt("exec", c.ID, "/bin/true"); r.Code == 0 {
		t.Errorf("exec into a stopped container succeeded")
	}
}

// TestExecCPUAffinity: process.execCPUAffinity of an exec'd process, from
// process.json or inherited from the container's config. final is the
// affinity it runs with; initial alone is what it is forked with; with
// neither it may use every CPU its cgroup allows, even when the caller of
// exec is pinned to one.
func TestExecCPUAffinity(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 predates process.execCPUAffinity")
	n := goruntime.NumCPU()
	if n < 2 {
		t.Skipf("needs 2 CPUs, has %d", n)
	}
	c := newContainer(t, "/bin/sleep", "1000")
	c.Spec.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0"}
	c.mustCreate()
	c.start()
	show := []string{"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status"}
	// exec with a process file carrying a (non-nil) execCPUAffinity.
	withProcess := func(a *specs.CPUAffinity) []string {
		p := *c.Spec.Process
		p.Args, p.ExecCPUAffinity = show, a
		b, err := json.Marshal(p)
		must(t, err)
		proc := filepath.Join(t.TempDir(), "process.json")
		must(t, os.WriteFile(proc, b, 0o644))
		return []string{"exec", "--process", proc, c.ID}
	}
	// cpus runs the runtime (pinned to CPU 1 like a pinned agent, with
	// taskset) and returns the exec'd process's Cpus_allowed_list.
	cpus := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("taskset", append([]string{"-c", "1", runtimeBin}, c.globals(args...)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("exec %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Cpus_allowed_list:"))
	}
	// Without final the kernel decides once the process is in the
	// cgroup (runtime-spec): cgroup v1 keeps the affinity it was forked
	// with, cgroup v2 gives a process that enters a cpuset cgroup that
	// cgroup's CPUs.
	initialOnly := "0"
	if cgroupV2 {
		initialOnly = cgroupFile(t, c, "", "cpuset.cpus.effective")
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"final", withProcess(&specs.CPUAffinity{Initial: "1", Final: "0"}), "0"},
		{"initial-only", withProcess(&specs.CPUAffinity{Initial: "0"}), initialOnly},
		{"none", withProcess(&specs.CPUAffinity{}), "0-" + strconv.Itoa(n-1)},
		{"inherited-from-config", append([]string{"exec", c.ID}, show...), "0"},
	} {
		if got := cpus(tc.args...); got != tc.want {
			t.Errorf("%s: exec'd process runs on CPUs %q, want %q", tc.name, got, tc.want)
		}
	}
}
