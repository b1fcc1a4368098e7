//go:build linux && amd64 && cgo

package clonexec

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The child's fd i is files[i], also when an fd must move down onto a
// number another one still to be placed holds (the two-pass shuffle).
func TestStartPlacesFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, _ := os.Open("/dev/null")
	defer a.Close()
	// The child's fd 2 is /dev/null and its fd 4 our stderr: our fd 2 must
	// move out of the way before /dev/null is put on 2.
	stderr, _ := os.Readlink("/proc/self/fd/2")
	files := []uintptr{0, w.Fd(), a.Fd(), w.Fd(), 2}
	script := `for f in 2 3 4; do readlink /proc/self/fd/$f; done`
	pid, err := Start("/bin/sh", []string{"sh", "-c", script}, files, &syscall.SysProcAttr{})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitOK(t, pid)
	out := make([]byte, 4096)
	n, _ := r.Read(out)
	lines := strings.Split(strings.TrimSpace(string(out[:n])), "\n")
	if len(lines) != 3 || lines[0] != "/dev/null" || !strings.HasPrefix(lines[1], "pipe:") || lines[2] != stderr {
		t.Fatalf("child's fds 2, 3, 4: %q, want /dev/null, the pipe, %s", lines, stderr)
	}
}

// The child runs, and execs, with every signal blocked: no handler of
// the parent's may run in memory it shares (berth-init clears the mask).
func TestStartBlocksSignals(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	pid, err := Start("/bin/grep", []string{"grep", "^SigBlk", "/proc/self/status"}, []uintptr{0, w.Fd(), 2}, &syscall.SysProcAttr{})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitOK(t, pid)
	out := make([]byte, 256)
	n, _ := r.Read(out)
	if mask := strings.TrimSpace(strings.TrimPrefix(string(out[:n]), "SigBlk:")); strings.Trim(mask, "0") == "" || !strings.HasPrefix(mask, "fffffff") {
		t.Errorf("child's blocked signals %q, want all", mask)
	}
}

func waitOK(t *testing.T, pid int) {
	t.Helper()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("wait: %v, status %v", err, ws)
	}
}

// A failure of the child before its exec is the error, and leaves no child.
func TestStartExecError(t *testing.T) {
	_, err := Start("/nonexistent/program", []string{"x"}, []uintptr{0, 1, 2}, &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("got %v, want ENOENT", err)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Fatalf("a child is left to reap: %v", err)
	}
}

func TestStartNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	pid, err := Start("/bin/sh", []string{"sh", "-c", "echo $$; hostname"}, []uintptr{0, w.Fd(), 2},
		&syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWUTS, Pdeathsig: syscall.SIGKILL})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	out := make([]byte, 256)
	n, _ := r.Read(out)
	if !strings.HasPrefix(string(out[:n]), "1\n") || ws.ExitStatus() != 0 {
		t.Fatalf("in a new pid namespace the child said %q (status %v), want pid 1", out[:n], ws)
	}
}
