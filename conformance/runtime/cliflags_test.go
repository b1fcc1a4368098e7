package runtime_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runc's command line beyond the engines' shapes: flags after the
// arguments, help, and the flags people and other callers use.

// cgroupFile reads one file of the container's cgroup of controller (v1),
// or of its one cgroup (v2).
func (c *container) cgroupFile(controller, file string) string {
	c.t.Helper()
	return cgroupFile(c.t, c, controller, file)
}

func (c *container) running() {
	c.t.Helper()
	c.mustCreate()
	c.start()
}

// TestFlagsAfterArguments: `update ID --pids-limit 10` (runc moves flags
// found among the arguments in front of them), `--` ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	c.mustRT("update", c.ID, "--pids-limit", "10")
	if got := c.cgroupFile("pids", "pids.max"); got != "10" {
		t.Errorf("update ID --pids-limit 10: pids.max = %q", got)
	}
	c.mustRT("update", c.ID, "--pids-limit=12")
	if got := c.cgroupFile("pids", "pids.max"); got != "12" {
		t.Errorf("update ID --pids-limit=12: pids.max = %q", got)
	}
	if r := c.rt("kill", c.ID, "--", "-1"); r.Code == 0 {
		t.Errorf("kill ID -- -1: -1 is the signal after --, not a flag, and invalid: %s", r.describe())
	}
	c.mustRT("kill", "--all", c.ID, "0")
}

// TestExecFlagsAfterID: exec's flags may follow the id, up to the command;
// everything from the command on is the command's. runc reads every word
// after the id as the command (it would run "--env").
func TestExecFlagsAfterID(t *testing.T) {
	t.Parallel()
	runcGap(t, "exec reads every word after the container id as the command (berth: flags until the command, as documented)")
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	r := c.mustRT("exec", c.ID, "--env", "A=B", "-e", "C=D", "/bin/sh", "-c", "echo A=$A C=$C")
	if !strings.Contains(r.Stdout, "A=B C=D") {
		t.Errorf("exec ID --env A=B -e C=D sh -c ...: %s", r.describe())
	}
	r = c.mustRT("exec", c.ID, "--", "/bin/sh", "-c", "echo after-dashes")
	if !strings.Contains(r.Stdout, "after-dashes") {
		t.Errorf("exec ID -- sh: %s", r.describe())
	}
}

// TestExecCommandFlagsAreTheCommands: the command's own flags are never
// the runtime's (runc and berth alike).
func TestExecCommandFlagsAreTheCommands(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	r := c.mustRT("exec", "--env", "E=1", c.ID, "/bin/sh", "-c", "echo E=$E; echo x$0", "-e")
	if !strings.Contains(r.Stdout, "E=1") || !strings.Contains(r.Stdout, "x-e") {
		t.Errorf("exec --env E=1 ID sh -c ... -e: %s", r.describe())
	}
}

// TestHelpShapes: -h, COMMAND -h and help COMMAND print runc's layout; an
// unknown command fails as runc's does.
func TestHelpShapes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := runRuntime(t, args, nil, nil)
		if r.Code != 0 || !strings.Contains(r.Stdout, "USAGE:") || !strings.Contains(r.Stdout, "COMMANDS:") || !strings.Contains(r.Stdout, "--root value") {
			t.Errorf("%s", r.describe())
		}
	}
	for _, args := range [][]string{{"kill", "-h"}, {"kill", "--help"}, {"help", "kill"}} {
		r := runRuntime(t, args, nil, nil)
		if r.Code != 0 || !strings.Contains(r.Stdout, "kill [command options] <container-id> [signal]") || !strings.Contains(r.Stdout, "--all, -a") {
			t.Errorf("%s", r.describe())
		}
	}
	r := runRuntime(t, []string{"exec", "-h"}, nil, nil)
	if !strings.Contains(r.Stdout, "--env value, -e value") || !strings.Contains(r.Stdout, "--cgroup value") {
		t.Errorf("%s", r.describe())
	}
	r = runRuntime(t, []string{"no-such-command"}, nil, nil)
	if r.Code != 3 || !strings.Contains(r.Stderr, "No help topic for 'no-such-command'") {
		t.Errorf("%s", r.describe())
	}
}

// TestCheckpointAnswered: checkpoint and restore are commands (not unknown
// ones), and fail saying why.
func TestCheckpointAnswered(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	for _, cmd := range []string{"checkpoint", "restore"} {
		r := c.rt(cmd, "--image-path", t.TempDir(), c.ID)
		if r.Code == 0 || strings.Contains(r.Stderr, "No help topic") {
			t.Errorf("%s", r.describe())
		}
		if h := c.rt(cmd, "-h"); h.Code != 0 || !strings.Contains(h.Stdout, cmd+" [command options] <container-id>") {
			t.Errorf("%s", h.describe())
		}
	}
	if st := c.state(); st.Status != specs.StateRunning {
		t.Errorf("the container is %s after checkpoint", st.Status)
	}
}

// TestKillSignalZero: signal 0 is a liveness probe.
func TestKillSignalZero(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	c.mustRT("kill", c.ID, "0")
	c.mustRT("kill", c.ID, "KILL")
	c.waitStatus(specs.StateStopped)
	if r := c.rt("kill", c.ID, "0"); r.Code == 0 {
		t.Errorf("kill 0 of a stopped container succeeded: %s", r.describe())
	}
}

// TestUpdateFlags: every single-value flag of update lands in its cgroup
// file (v1 names; this host's memory and cpu controllers are v1).
func TestUpdateFlags(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	c.mustRT("update", "--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", c.ID)
	memory := map[string]string{
		"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "134217728", "memory.soft_limit_in_bytes": "33554432",
	}
	cpu := map[string]string{
		"cpu.shares": "300", "cpu.cfs_burst_us": "1000", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000",
	}
	if cgroupV2 {
		// The same values in v2's files (swap.max is the total minus memory).
		memory = map[string]string{"memory.max": "67108864", "memory.swap.max": "67108864", "memory.low": "33554432"}
		cpu = map[string]string{"cpu.weight": strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(300), 10),
			"cpu.max.burst": "1000", "cpu.max": "50000 100000"}
	}
	for file, want := range memory {
		if got := c.cgroupFile("memory", file); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	c.mustRT("update", "--cpu-share", "300", "--cpu-burst", "1000", "--cpu-quota", "50000", "--cpu-period", "100000", c.ID)
	for file, want := range cpu {
		if got := c.cgroupFile("cpu", file); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	c.mustRT("update", "--cpuset-cpus", "0", "--cpuset-mems", "0", c.ID)
	if got := c.cgroupFile("cpuset", "cpuset.mems"); got != "0" {
		t.Errorf("cpuset.mems = %s", got)
	}
	// Accepted and ignored with a warning (obsolete in the kernel).
	if r := c.rt("update", "--kernel-memory", "100m", "--kernel-memory-tcp", "100m", c.ID); r.Code != 0 {
		t.Errorf("%s", r.describe())
	}
	// No realtime group scheduling budget on this host: the value is
	// written and the kernel's refusal reported, not swallowed. (cgroup
	// v2 has no such files: a warning, as with runc.)
	if r := c.rt("update", "--cpu-rt-runtime", "1000000000", c.ID); r.Code == 0 && !cgroupV2 {
		t.Errorf("an rt runtime above the host's budget was accepted: %s", r.describe())
	}
}

// TestUpdateRDTRefused: this build has no Intel RDT: the flags are refused
// with an error that says so. (runc says its own RDT is not enabled.)
func TestUpdateRDTRefused(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	for _, flag := range []string{"--l3-cache-schema", "--mem-bw-schema"} {
		r := c.rt("update", flag, "L3:0=f", c.ID)
		if r.Code == 0 || !strings.Contains(r.Stderr, "RDT") {
			t.Errorf("%s", r.describe())
		}
	}
}

// TestExecSubCgroup: exec --cgroup places the process in an existing
// sub-cgroup, in the v1 controller:path form and the bare-path form.
func TestExecSubCgroup(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	var made []string
	for _, ctrl := range []string{"pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "perf_event", "net_cls", "net_prio", "hugetlb", "rdma", "misc", "systemd", "unified"} {
		base := filepath.Join("/sys/fs/cgroup", ctrl, cgroupParent, c.cgroupID)
		if st, err := os.Stat(base); err == nil && st.IsDir() {
			sub := filepath.Join(base, "sub")
			if err := os.Mkdir(sub, 0o755); err == nil {
				made = append(made, sub)
			}
			if ctrl == "cpuset" { // a v1 cpuset cgroup takes no task before it has CPUs and nodes
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					b, err := os.ReadFile(filepath.Join(base, f))
					must(t, err)
					must(t, os.WriteFile(filepath.Join(sub, f), b, 0o644))
				}
			}
		}
	}
	t.Cleanup(func() {
		for _, d := range made {
			os.Remove(d)
		}
	})
	if cgroupV2 {
		// One hierarchy: only the bare-path form places the process.
		sub := filepath.Join(cgroupDir(c, ""), "sub")
		must(t, os.Mkdir(sub, 0o755))
		t.Cleanup(func() { os.Remove(sub) })
		r := c.mustRT("exec", "--cgroup", "sub", c.ID, "cat", "/proc/self/cgroup")
		if want := "0::/" + cgroupParent + "/" + c.cgroupID + "/sub"; strings.TrimSpace(r.Stdout) != want {
			t.Errorf("exec --cgroup sub: %q, want %q", r.Stdout, want)
		}
		if r := c.rt("exec", "--cgroup", "missing", c.ID, "true"); r.Code == 0 {
			t.Errorf("exec into a missing sub-cgroup succeeded: %s", r.describe())
		}
		return
	}
	r := c.mustRT("exec", "--cgroup", "pids:sub", c.ID, "cat", "/proc/self/cgroup")
	if !hasCgroupLine(r.Stdout, "pids", "/sub") || hasCgroupLine(r.Stdout, "memory", "/sub") {
		t.Errorf("exec --cgroup pids:sub: %s", r.Stdout)
	}
	r = c.mustRT("exec", "--cgroup", "sub", c.ID, "cat", "/proc/self/cgroup")
	if !hasCgroupLine(r.Stdout, "pids", "/sub") || !hasCgroupLine(r.Stdout, "memory", "/sub") {
		t.Errorf("exec --cgroup sub: %s", r.Stdout)
	}
	if r := c.rt("exec", "--cgroup", "pids:missing", c.ID, "true"); r.Code == 0 {
		t.Errorf("exec into a missing sub-cgroup succeeded: %s", r.describe())
	}
}

// hasCgroupLine reports whether /proc/self/cgroup text has a line for
// controller whose path ends in suffix.
func hasCgroupLine(text, controller, suffix string) bool {
	for _, l := range strings.Split(text, "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") && strings.HasSuffix(parts[2], suffix) {
			return true
		}
	}
	return false
}

// TestExecIgnorePaused: exec into a paused container is refused, unless
// --ignore-paused: then the process runs once the container is resumed.
func TestExecIgnorePaused(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	c.mustRT("pause", c.ID)
	if r := c.rt("exec", c.ID, "true"); r.Code == 0 || !strings.Contains(r.Stderr, "paused") {
		t.Errorf("exec into a paused container: %s", r.describe())
	}
	go func() {
		time.Sleep(time.Second)
		runRuntime(t, c.globals("resume", c.ID), nil, nil)
	}()
	r := c.mustRT("exec", "--ignore-paused", c.ID, "echo", "ok")
	if strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("exec --ignore-paused: %s", r.describe())
	}
}

// TestExecIgnorePausedKillable: an exec --ignore-paused waiting for the
// resume can be killed: only the process it starts waits frozen, never
// the runtime itself (a frozen v1 task ignores SIGKILL until thawed).
func TestExecIgnorePausedKillable(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	c.mustRT("pause", c.ID)
	freezer := ""
	for _, d := range cgroupDirs(c.cgroupID) {
		if strings.HasPrefix(d, "/sys/fs/cgroup/freezer/") {
			freezer = d
		}
	}
	cmd := exec.Command(runtimeBin, c.globals("exec", "--ignore-paused", c.ID, "echo", "ok")...)
	cmd.Dir = t.TempDir()
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		c.rt("resume", c.ID)
	}()
	// The exec has started its process when the paused cgroup holds two.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if freezer == "" || len(strings.Fields(readFile(t, filepath.Join(freezer, "cgroup.procs")))) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec --ignore-paused started no process in %s within 10s", freezer)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, cmd.Process.Kill())
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("exec --ignore-paused did not die of SIGKILL within 10s while the container was paused (frozen with it?)")
	}
}

// TestRunKeep: run --keep leaves the stopped container for the caller.
func TestRunKeep(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "exit 3")
	if r := c.run("--keep"); r.Code != 3 {
		t.Fatalf("run --keep: %s", r.describe())
	}
	if st := c.state(); st.Status != specs.StateStopped {
		t.Errorf("after run --keep: status %q, want stopped", st.Status)
	}
	c.mustRT("delete", c.ID)
}

// TestNoSubreaperAccepted: run --no-subreaper works; the exit status still
// comes back.
func TestNoSubreaperAccepted(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "exit 4")
	if r := c.run("--no-subreaper"); r.Code != 4 {
		t.Errorf("run --no-subreaper: %s", r.describe())
	}
}

// TestCreateNoSubreaperAccepted: berth takes --no-subreaper on create too,
// where it means nothing (create never waits).
func TestCreateNoSubreaperAccepted(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc's create has no --no-subreaper")
	d := newContainer(t, "/bin/true")
	d.mustCreate("--no-subreaper")
}

// TestPidfdSocket: create --pidfd-socket sends a pidfd of the container's
// init, which then signals it.
func TestPidfdSocket(t *testing.T) {
	t.Parallel()
	runcGap(t, "--pidfd-socket is new in runc 1.2")
	dir, err := os.MkdirTemp("", "pfd")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	must(t, err)
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		got <- receiveFD(conn)
	}()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate("--pidfd-socket", sock)
	var pidfd *os.File
	select {
	case pidfd = <-got:
	case <-time.After(10 * time.Second):
	}
	if pidfd == nil {
		t.Fatal("no pidfd arrived on the --pidfd-socket")
	}
	defer pidfd.Close()
	info := readFile(t, "/proc/self/fdinfo/"+strconv.Itoa(int(pidfd.Fd())))
	if !strings.Contains(info, "Pid:\t"+strconv.Itoa(c.state().Pid)+"\n") {
		t.Errorf("the pidfd is not the init's (state pid %d):\n%s", c.state().Pid, info)
	}
	must(t, unix.PidfdSendSignal(int(pidfd.Fd()), unix.SIGKILL, nil, 0))
	c.waitStatus(specs.StateStopped)
}

// TestDebugLog: --debug writes debug lines (level "debug", as runc's) to
// --log in either format, besides the errors; without it there are none.
func TestDebugLog(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		c := newContainer(t, "/bin/true")
		c.save()
		log := filepath.Join(t.TempDir(), "log")
		r := runRuntime(t, []string{"--debug", "--log", log, "--log-format", format, "--root", c.Root, "run", "--bundle", c.Bundle, c.ID}, nil, nil)
		if r.Code != 0 {
			t.Fatalf("%s", r.describe())
		}
		text := readFile(t, log)
		want := `level=debug`
		if format == "json" {
			want = `"level":"debug"`
		}
		if strings.Count(text, want) < 2 {
			t.Errorf("--debug --log-format %s wrote no debug lines:\n%s", format, text)
		}
	}
	c := newContainer(t, "/bin/true")
	c.save()
	log := filepath.Join(t.TempDir(), "log")
	if r := runRuntime(t, []string{"--log", log, "--root", c.Root, "run", "--bundle", c.Bundle, c.ID}, nil, nil); r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	if text := readFileQuiet(log); strings.Contains(text, "level=debug") {
		t.Errorf("debug lines without --debug:\n%s", text)
	}
}

// TestExecStartFailureStatus: an exec whose program cannot be started
// exits 255 (runc's), so callers tell it from the program's own status.
func TestExecStartFailureStatus(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	if r := c.rt("exec", c.ID, "/no/such/program"); r.Code != 255 || !strings.Contains(r.Stderr, "/no/such/program") {
		t.Errorf("exec of a missing program: %s", r.describe())
	}
	if r := c.rt("exec", c.ID, "/bin/sh", "-c", "exit 4"); r.Code != 4 {
		t.Errorf("exec's own status: %s", r.describe())
	}
}
