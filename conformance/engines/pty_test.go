package engines_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/conformance/ptytest"
)

// runInPty runs cmd with a terminal as its stdin, stdout and stderr (and as
// its controlling terminal), as a person at a shell would, and returns what
// it wrote there.
func runInPty(t *testing.T, cmd *exec.Cmd, timeout time.Duration) command {
	t.Helper()
	master, slavePath, err := ptytest.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = cmd.Start()
	slave.Close()
	if err != nil {
		t.Fatalf("starting %s: %v", cmd, err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil { // EIO once every holder of the slave has closed it
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		master.SetReadDeadline(time.Now())
		<-read
		t.Fatalf("%s did not finish within %s; its terminal showed %q", cmd, timeout, out.String())
	}
	// Whatever the command wrote is in the master's buffer by now; a child
	// it left holding the terminal must not stall the test.
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-read
	res := command{line: strings.Join(cmd.Args, " "), stdout: out.String()}
	if waitErr != nil {
		exitErr, ok := waitErr.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", cmd, waitErr)
		}
		res.exit = exitErr.ExitCode()
	}
	return res
}

// typeOnTerminal runs cmd (whose program runs `tty; read x; echo got:$x`
// in a container) on a new terminal, as a person at a shell: it waits for
// the container's pty name, types a line and waits for the echo, then for
// the exit; it returns the exit status.
func typeOnTerminal(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	s, err := ptytest.Start(cmd, 24, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitFor("/dev/pts/", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("typed\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitFor("got:typed", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	code, err := s.Wait(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// ttyScript is what typeOnTerminal expects the container to run.
const ttyScript = "tty; read x; echo got:$x"
