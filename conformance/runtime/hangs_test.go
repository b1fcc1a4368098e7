package runtime_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Each of these once made a berth command wait far longer than the work it
// does. Every runtime call here is bounded by commandTimeout (15 s), far
// above what the call needs.

// TestRunIntoBusyCgroup: a cgroup that already holds a process is refused
// at once (it took berth over 8 minutes: the failed create then retried
// removing a cgroup that was not its own).
func TestRunIntoBusyCgroup(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc refuses a non-empty cgroup only since 1.2")
	a := newContainer(t, "/bin/sleep", "1000")
	a.running()
	b := newContainer(t, "/bin/sleep", "1000")
	b.Spec.Linux.CgroupsPath = a.Spec.Linux.CgroupsPath
	b.save()
	start := time.Now()
	r := b.rt("run", "-d", "--bundle", b.Bundle, b.ID)
	if r.Code == 0 {
		t.Fatalf("run -d into a cgroup that holds a process succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing the busy cgroup took %s", d)
	}
	if st := a.state(); st.Status != specs.StateRunning {
		t.Errorf("the first container is %s after the refused run", st.Status)
	}
	if st := b.rt("state", b.ID); st.Code == 0 {
		t.Errorf("the refused container was left behind: %s", st.Stdout)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEventsOOM: `events` reports the kernel's OOM kill in the container
// and ends with the container (berth never printed it, nor returned).
func TestEventsOOM(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "sleep 1; tail /dev/zero; sleep 1")
	limit := int64(32 << 20)
	c.Spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	c.mustCreate()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin, c.globals("events", "--interval", "1s", c.ID)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(200 * time.Millisecond) // events has read the counters
	c.start()
	deadline := time.Now().Add(commandTimeout)
	for !strings.Contains(out.String(), `"type":"oom"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no oom event within %s; events printed:\n%s", commandTimeout, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The container ends after its OOM-killed child; events ends with it
	// (runc's when the container is deleted).
	c.waitStatus(specs.StateStopped)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.mustRT("delete", c.ID)
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("events did not return after the container stopped and was deleted; it printed:\n%s", out.String())
		}
	}
}

// TestUpdateResourcesFromOpenStdin: `update --resources -` reads one JSON
// object; a caller that keeps its end of stdin open is not made to wait.
func TestUpdateResourcesFromOpenStdin(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin, c.globals("update", "--resources", "-", c.ID)...)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	defer stdin.Close()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	_, err = stdin.Write([]byte(`{"pids":{"limit":23}}` + "\n"))
	must(t, err)
	if err := cmd.Wait(); err != nil || ctx.Err() != nil {
		t.Fatalf("update --resources - with stdin left open: %v (%v)\n%s", err, ctx.Err(), out.String())
	}
	if got := c.cgroupFile("pids", "pids.max"); got != "23" {
		t.Errorf("pids.max = %s, want 23", got)
	}
}
