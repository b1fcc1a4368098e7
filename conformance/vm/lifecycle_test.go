//go:build vmtest

package vm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestPauseResume: pause freezes the container through cgroup.freeze (the
// kernel confirms in cgroup.events), resume thaws it, and a paused
// container can be deleted with --force.
func TestPauseResume(t *testing.T) {
	eachDriver(t, func(t *testing.T, systemd bool) {
		c := newContainer(t, systemd, "sh", "-c", "while :; do date +%s%N > /tmp/tick; sleep 0.1; done")
		c.mustCreate()
		c.mustRT("start", c.id)
		c.mustRT("pause", c.id)
		if st := c.state(); st.Status != "paused" {
			t.Errorf("after pause: %s", st.Status)
		}
		if got := c.hostFile("cgroup.freeze"); got != "1" {
			t.Errorf("after pause cgroup.freeze = %q", got)
		}
		if !waitFor(10*time.Second, func() bool { return strings.Contains(c.hostFile("cgroup.events"), "frozen 1") }) {
			t.Errorf("cgroup.events never said frozen: %q", c.hostFile("cgroup.events"))
		}
		c.mustRT("resume", c.id)
		if got := c.hostFile("cgroup.freeze"); got != "0" || !strings.Contains(c.hostFile("cgroup.events"), "frozen 0") {
			t.Errorf("after resume cgroup.freeze = %q, events %q", got, c.hostFile("cgroup.events"))
		}
		if st := c.state(); st.Status != specs.StateRunning {
			t.Errorf("after resume: %s", st.Status)
		}
		// The loop runs again: its tick file changes.
		tick := func() string { return strings.TrimSpace(c.mustRT("exec", c.id, "cat", "/tmp/tick").stdout) }
		first := tick()
		if !waitFor(10*time.Second, func() bool { return tick() != first }) {
			t.Errorf("the container's loop did not run after resume")
		}
		c.mustRT("pause", c.id)
		c.mustRT("delete", "--force", c.id)
		if _, err := os.Stat(c.cgroupDir()); !os.IsNotExist(err) {
			t.Errorf("cgroup of a paused container left after delete --force (%v)", err)
		}
	})
}

// TestEventsStatsAndOOM: `events --stats` reports the cgroup's usage and
// limits in runc's JSON, and the `events` stream reports an OOM kill the
// moment memory.events counts it; the container sees the same count.
func TestEventsStatsAndOOM(t *testing.T) {
	eachDriver(t, func(t *testing.T, systemd bool) {
		c := newContainer(t, systemd, "sh", "-c", "read go < /tmp/go-fifo; tail /dev/zero; sleep 1000")
		must(t, exec.Command("mkfifo", filepath.Join(c.bundle, "rootfs/tmp/go-fifo")).Run())
		c.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Swap: ptr(int64(32 << 20))}
		c.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(40))}
		c.mustCreate()
		c.mustRT("start", c.id)

		var ev struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Data struct {
				CPU struct {
					Usage struct {
						Total uint64 `json:"total"`
					} `json:"usage"`
				} `json:"cpu"`
				Memory struct {
					Usage struct {
						Limit uint64 `json:"limit"`
						Usage uint64 `json:"usage"`
					} `json:"usage"`
				} `json:"memory"`
				Pids struct {
					Current uint64 `json:"current"`
					Limit   uint64 `json:"limit"`
				} `json:"pids"`
			} `json:"data"`
		}
		out := c.mustRT("events", "--stats", c.id).stdout
		must(t, json.Unmarshal([]byte(out), &ev))
		if ev.Type != "stats" || ev.ID != c.id || ev.Data.Memory.Usage.Limit != 32<<20 || ev.Data.Memory.Usage.Usage == 0 ||
			ev.Data.Pids.Current < 1 || ev.Data.Pids.Limit != 40 || ev.Data.CPU.Usage.Total == 0 {
			t.Errorf("events --stats: %+v\n%s", ev, out)
		}

		// The stream, started before the OOM.
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		stream := exec.CommandContext(ctx, berthBin, c.globals("events", "--interval", "1s", c.id)...)
		pipe, err := stream.StdoutPipe()
		must(t, err)
		must(t, stream.Start())
		defer stream.Wait()
		defer cancel()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// A first stats event says the stream is up; then let tail eat memory.
		if l := <-lines; !strings.Contains(l, `"type":"stats"`) {
			t.Fatalf("first event: %q", l)
		}
		c.mustRT("exec", c.id, "sh", "-c", "echo go > /tmp/go-fifo")
		sawOOM := false
		timeout := time.After(20 * time.Second)
		for !sawOOM {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("events ended before an oom event")
				}
				sawOOM = l == `{"type":"oom","id":"`+c.id+`"}`
			case <-timeout:
				t.Fatalf("no oom event within 20 s; memory.events: %q", c.hostFile("memory.events"))
			}
		}
		kills := regexp.MustCompile(`(?m)^oom_kill ([0-9]+)$`)
		host := kills.FindStringSubmatch(c.hostFile("memory.events"))
		if host == nil || host[1] == "0" {
			t.Errorf("host memory.events: %q", c.hostFile("memory.events"))
		}
		if st := c.state(); st.Status == specs.StateRunning {
			inside := kills.FindStringSubmatch(c.mustRT("exec", c.id, "cat", "/sys/fs/cgroup/memory.events").stdout)
			if inside == nil || host == nil || inside[1] != host[1] {
				t.Errorf("memory.events inside says %v, host %v", inside, host)
			}
		}
	})
}

// strace runs berth under strace, following its threads and its children
// until they execve (the init then runs the container's program, which
// strace must not wait for), and returns the trace.
func strace(t *testing.T, c *container, syscalls string, args ...string) (string, result) {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace")
	full := append([]string{"-f", "--detach-on=execve", "-qq", "-e", "trace=" + syscalls, "-o", trace, berthBin}, c.globals(args...)...)
	r := run(t, nil, nil, "strace", full...)
	return readFile(t, trace), r
}

// opensForWrite reports whether an strace trace of openat/openat2 opens a
// file of that base name for writing.
func opensForWrite(trace, name string) bool {
	for _, l := range strings.Split(trace, "\n") {
		if strings.Contains(l, "/"+name+`"`) || strings.Contains(l, `"`+name+`"`) {
			if strings.Contains(l, "O_WRONLY") || strings.Contains(l, "O_RDWR") {
				return true
			}
		}
	}
	return false
}

// TestBornInCgroup: the container's init, and a process `exec` starts,
// are cloned straight into the container's cgroup (clone3 with
// CLONE_INTO_CGROUP), never written to cgroup.procs. With the systemd
// driver systemd itself moves the init into the scope it creates (a scope
// cannot exist empty); exec'd processes are cloned into it.
func TestBornInCgroup(t *testing.T) {
	eachDriver(t, func(t *testing.T, systemd bool) {
		c := newContainer(t, systemd, "sleep", "1000")
		c.save()
		trace, r := strace(t, c, "clone3,openat,openat2", "create", "--bundle", c.bundle, c.id)
		if r.code != 0 {
			t.Fatalf("%s\n%s", r, trace)
		}
		into := strings.Contains(trace, "CLONE_INTO_CGROUP")
		procs := opensForWrite(trace, "cgroup.procs")
		if !systemd && (!into || procs) {
			t.Errorf("create: CLONE_INTO_CGROUP %v, cgroup.procs written %v:\n%s", into, procs, trace)
		}
		if got := procCgroup(t, c.state().Pid); got != c.cgroupDir() {
			t.Errorf("init in %s, want %s", got, c.cgroupDir())
		}
		c.mustRT("start", c.id)
		trace, r = strace(t, c, "clone3,openat,openat2", "exec", c.id, "true")
		if r.code != 0 || !strings.Contains(trace, "CLONE_INTO_CGROUP") || opensForWrite(trace, "cgroup.procs") {
			t.Errorf("exec: %s\n%s", r, trace)
		}
	})
}

// TestDeleteKillsWholeCgroup: delete --force of a container without a pid
// namespace whose shell forks without pause: cgroup.kill takes every
// process at once, so none escapes and the cgroup goes.
func TestDeleteKillsWholeCgroup(t *testing.T) {
	eachDriver(t, func(t *testing.T, systemd bool) {
		c := newContainer(t, systemd, "sh", "-c", "while :; do sleep 1000 & done")
		var ns []specs.LinuxNamespace
		for _, n := range c.spec.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		c.spec.Linux.Namespaces = ns
		c.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(300))}
		c.mustCreate()
		c.mustRT("start", c.id)
		if !waitFor(15*time.Second, func() bool { return len(strings.Fields(c.hostFile("cgroup.procs"))) > 50 }) {
			t.Fatalf("the fork loop did not get going: %d processes", len(strings.Fields(c.hostFile("cgroup.procs"))))
		}
		trace, r := strace(t, c, "openat,openat2", "delete", "--force", c.id)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		if !opensForWrite(trace, "cgroup.kill") {
			t.Errorf("delete did not write cgroup.kill:\n%s", trace)
		}
		if _, err := os.Stat(c.cgroupDir()); !os.IsNotExist(err) {
			t.Errorf("cgroup left after delete --force (%v)", err)
		}
		rel := strings.TrimPrefix(c.cgroupDir(), "/sys/fs/cgroup")
		procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), rel) {
				pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
				t.Errorf("process %d survived in %s", pid, rel)
			}
		}
	})
}
