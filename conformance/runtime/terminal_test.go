package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/conformance/ptytest"
)

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	must(t, os.WriteFile(path, b, 0o644))
}

// The foreground terminal: `run` and `exec` with process.terminal and no
// --console-socket connect the container's new pty to the caller's own, as
// a person at a shell uses them. Each test drives the runtime on a real
// pseudo-terminal (conformance/ptytest) and checks what the container saw.

const ptyTimeout = 20 * time.Second

// onTerminal starts the runtime with args on a new 24x80 terminal.
func (c *container) onTerminal(args ...string) *ptytest.Session {
	c.t.Helper()
	cmd := exec.Command(runtimeBin, c.globals(args...)...)
	cmd.Dir = c.Bundle
	s, err := ptytest.Start(cmd, 24, 80)
	must(c.t, err)
	c.t.Cleanup(s.Close)
	return s
}

// onTerminalRun saves the config with a terminal and runs the container on
// a new terminal; restored checks that terminal's settings at the end.
func (c *container) onTerminalRun() (s *ptytest.Session, restored func()) {
	c.t.Helper()
	c.Spec.Process.Terminal = true
	c.save()
	s = c.onTerminal("run", "--bundle", c.Bundle, c.ID)
	before, err := s.Termios()
	mustNo(c.t, err)
	return s, func() {
		c.t.Helper()
		if after, err := s.Termios(); err != nil || *after != *before {
			c.t.Errorf("the caller's terminal was not restored (%v):\nbefore %+v\nafter  %+v", err, before, after)
		}
	}
}

// exits waits for the session and checks its exit status.
func exits(t *testing.T, s *ptytest.Session, want int) {
	t.Helper()
	code, err := s.Wait(ptyTimeout)
	mustNo(t, err)
	if code != want {
		t.Errorf("exit status %d, want %d; terminal: %q", code, want, s.Output())
	}
}

func mustNo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunTerminal: the container's process has a terminal of its own, sees
// the caller's window size and follows it on SIGWINCH, reads what is typed
// (the caller's terminal is raw: Enter arrives as the container's terminal
// turns it into a newline), and its exit status is berth's; afterwards the
// caller's terminal is as it was.
func TestRunTerminal(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "tty; stty size; read line; echo got:$line; stty size; read x; exit 7")
	s, restored := c.onTerminalRun()
	mustNo(t, s.WaitFor("24 80", ptyTimeout))
	if out := s.Output(); !strings.Contains(out, "/dev/pts/") {
		t.Errorf("the process has no terminal of its own: %q", out)
	}
	if now, err := s.Termios(); err != nil || now.Lflag&unix.ICANON != 0 {
		t.Errorf("the caller's terminal is not in raw mode while the container runs (%v)", err)
	}
	mustNo(t, s.Resize(40, 120))
	time.Sleep(200 * time.Millisecond) // SIGWINCH is delivered asynchronously
	mustNo(t, s.Type("hello\r"))
	mustNo(t, s.WaitFor("got:hello", ptyTimeout))
	mustNo(t, s.WaitFor("40 120", ptyTimeout))
	mustNo(t, s.Type("\r"))
	exits(t, s, 7)
	restored()
}

// TestRunTerminalKilled: a container killed by a signal gives 128+N, and the
// caller's terminal is restored all the same.
func TestRunTerminalKilled(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "echo ready; exec sleep 1000")
	s, restored := c.onTerminalRun()
	mustNo(t, s.WaitFor("ready", ptyTimeout))
	c.mustRT("kill", c.ID, "KILL")
	exits(t, s, 137)
	restored()
}

// TestRunTerminalSignalled: a signal to the runtime goes to the container;
// the container's exit is the runtime's, terminal restored.
func TestRunTerminalSignalled(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "trap 'exit 9' TERM; echo ready; while :; do sleep 0.1; done")
	s, restored := c.onTerminalRun()
	mustNo(t, s.WaitFor("ready", ptyTimeout))
	mustNo(t, s.Cmd.Process.Signal(unix.SIGTERM))
	exits(t, s, 9) // SIGTERM forwarded to the container
	restored()
}

// TestRunTerminalWithoutCallerTerminal: with no terminal on the caller's
// side (input and output are pipes, no controlling terminal) the container
// still gets its pty; input is copied in, output out. runc 1.1.5 and 1.5
// fail here: they open /dev/tty.
func TestRunTerminalWithoutCallerTerminal(t *testing.T) {
	t.Parallel()
	runcGap(t, "`run` with a terminal needs the caller's controlling terminal (open /dev/tty)")
	c := newContainer(t, "/bin/sh")
	c.Spec.Process.Terminal = true
	c.save()
	ctx, cancel := context.WithTimeout(context.Background(), ptyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin, c.globals("run", "--bundle", c.Bundle, c.ID)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	cmd.Stdin = strings.NewReader("tty\necho sum=$((6*7))\nexit 3\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if ctx.Err() != nil || code != 3 {
		t.Fatalf("exit %d (%v), want 3\nstdout %q\nstderr %q", code, err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "sum=42") || !strings.Contains(out.String(), "/dev/pts/") {
		t.Errorf("stdout %q: want the shell's answers from its terminal", out.String())
	}
}

// TestExecForegroundTerminal: `exec -t` (and a process.json with terminal true, as
// containerd sends) without --console-socket, on the caller's terminal.
func TestExecForegroundTerminal(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	s := c.onTerminal("exec", "-t", c.ID, "/bin/sh", "-c", "tty; read x; echo got:$x; exit 4")
	mustNo(t, s.WaitFor("/dev/pts/", ptyTimeout))
	mustNo(t, s.Type("typed\r"))
	mustNo(t, s.WaitFor("got:typed", ptyTimeout))
	exits(t, s, 4)

	proc := *c.Spec.Process
	proc.Terminal = true
	proc.Args = []string{"/bin/sh", "-c", "tty; exit 5"}
	path := filepath.Join(t.TempDir(), "process.json")
	writeJSON(t, path, &proc)
	s = c.onTerminal("exec", "--process", path, c.ID)
	exits(t, s, 5)
	if !strings.Contains(s.Output(), "/dev/pts/") {
		t.Errorf("exec --process (terminal): no pty; terminal %q", s.Output())
	}
}

// TestDetachedTerminalNeedsConsoleSocket: nobody would receive the terminal
// of a detached process without --console-socket: refused, as runc does,
// and nothing is left behind.
func TestDetachedTerminalNeedsConsoleSocket(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.Spec.Process.Terminal = true
	for _, args := range [][]string{{"run", "-d"}, {"create"}} {
		c.save()
		r := c.rt(append(args, "--bundle", c.Bundle, c.ID)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "cannot allocate tty if") {
			t.Errorf("%s with a terminal and no --console-socket: %s", args[0], r.describe())
		}
		if st := c.rt("state", c.ID); st.Code == 0 {
			t.Errorf("%s left a container behind: %s", args[0], st.Stdout)
		}
	}
	c.Spec.Process.Terminal = false
	c.mustCreate()
	c.start()
	r := c.rt("exec", "-d", "-t", c.ID, "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "cannot allocate tty if") {
		t.Errorf("exec -d -t without --console-socket: %s", r.describe())
	}
}

// TestQuickStart is README's quick start as written, in a real terminal:
// `spec` writes a config whose process is an interactive sh on a terminal,
// and `run` gives the user that shell.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	spec := exec.Command(runtimeBin, "spec")
	spec.Dir = c.Bundle
	if out, err := spec.CombinedOutput(); err != nil {
		t.Fatalf("spec: %v\n%s", err, out)
	}
	s := c.onTerminal("run", c.ID)
	mustNo(t, s.Type("echo hello-$((6*7))\r"))
	mustNo(t, s.WaitFor("hello-42", ptyTimeout))
	mustNo(t, s.Type("exit\r"))
	exits(t, s, 0)
}
