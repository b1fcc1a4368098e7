package engines_test

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemonProc is an engine daemon the suite started (containerd, dockerd):
// its log goes to a file, it dies with the suite, and stop is bounded.
type daemonProc struct {
	what   string
	cmd    *exec.Cmd
	exited chan error
}

// startDaemon starts cmd with stdout and stderr appended to logPath.
func startDaemon(what string, cmd *exec.Cmd, logPath string) (*daemonProc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	d := &daemonProc{what: what, cmd: cmd, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	return d, nil
}

// stop sends SIGTERM and waits up to limit, then kills.
func (d *daemonProc) stop(limit time.Duration) error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(limit):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("%s ignored SIGTERM for %s", d.what, limit)
	}
}

// envs holds one engine environment per runtime, started on first use.
type envs[E any] struct {
	mu sync.Mutex
	m  map[string]E
}

func (e *envs[E]) get(t *testing.T, what string, rt *runtimeUnderTest, start func() (E, error)) E {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if v, ok := e.m[rt.name]; ok {
		return v
	}
	v, err := start()
	if err != nil {
		t.Fatalf("starting %s for %s: %v", what, rt.name, err)
	}
	if e.m == nil {
		e.m = map[string]E{}
	}
	e.m[rt.name] = v
	return v
}

// all is every environment started, for teardown.
func (e *envs[E]) all() []E {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []E
	for _, v := range e.m {
		out = append(out, v)
	}
	return out
}

// mustSucceed fails t with the daemon's log tail unless res exited 0.
func mustSucceed(t *testing.T, res command, logPath string) command {
	t.Helper()
	if res.exit != 0 {
		t.Fatalf("%s\n  daemon log tail:\n%s", res, logTail(logPath))
	}
	return res
}
