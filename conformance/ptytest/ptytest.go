// Package ptytest runs a command the way a person at a terminal would: with
// a fresh pseudo-terminal as its stdin, stdout, stderr and controlling
// terminal, so the black-box suites can type at it, resize it and read its
// screen. Every wait takes a limit.
package ptytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Open allocates a pseudo-terminal and returns its master and the path of
// its slave. The master stays non-blocking (it is never passed to Fd()), so
// reads honour deadlines.
func Open() (*os.File, string, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	var n int
	var ioctlErr error
	if err := control(master, func(fd int) {
		if ioctlErr = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); ioctlErr == nil {
			n, ioctlErr = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		}
	}); err != nil {
		ioctlErr = err
	}
	if ioctlErr != nil {
		master.Close()
		return nil, "", fmt.Errorf("setting up the pty: %w", ioctlErr)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n), nil
}

func control(f *os.File, fn func(fd int)) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return raw.Control(func(fd uintptr) { fn(int(fd)) })
}

// Session is a command running on its own terminal.
type Session struct {
	Cmd    *exec.Cmd
	master *os.File

	mu   sync.Mutex
	out  bytes.Buffer
	read chan struct{}
	done chan struct{}
	err  error
}

// Start runs cmd on a new terminal of rows x cols, as its controlling
// terminal in a new session.
func Start(cmd *exec.Cmd, rows, cols uint16) (*Session, error) {
	master, slavePath, err := Open()
	if err != nil {
		return nil, err
	}
	s := &Session{Cmd: cmd, master: master, read: make(chan struct{}), done: make(chan struct{})}
	if err := s.Resize(rows, cols); err != nil {
		master.Close()
		return nil, err
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = cmd.Start()
	slave.Close()
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd, err)
	}
	go func() {
		defer close(s.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil { // EIO once every holder of the slave has closed it
				return
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// Output is everything the terminal has shown so far.
func (s *Session) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// WaitFor waits until the terminal has shown want.
func (s *Session) WaitFor(want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !strings.Contains(s.Output(), want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%q did not appear within %s; the terminal showed %q", want, limit, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Type writes keys as a person types them (\r is Enter).
func (s *Session) Type(keys string) error {
	_, err := s.master.Write([]byte(keys))
	return err
}

// Resize sets the terminal's window size; the kernel sends SIGWINCH to its
// foreground process group.
func (s *Session) Resize(rows, cols uint16) error {
	var err error
	if cerr := control(s.master, func(fd int) {
		err = unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); cerr != nil {
		return cerr
	}
	return err
}

// Termios reads the terminal's settings (shared by master and slave).
func (s *Session) Termios() (*unix.Termios, error) {
	var t *unix.Termios
	var err error
	if cerr := control(s.master, func(fd int) { t, err = unix.IoctlGetTermios(fd, unix.TCGETS) }); cerr != nil {
		return nil, cerr
	}
	return t, err
}

// Wait waits for the command to exit and returns its exit status; past the
// limit it kills the command and reports what the terminal showed.
func (s *Session) Wait(limit time.Duration) (int, error) {
	select {
	case <-s.done:
	case <-time.After(limit):
		s.Cmd.Process.Kill()
		<-s.done
		return -1, fmt.Errorf("%s did not exit within %s; its terminal showed %q", s.Cmd, limit, s.Output())
	}
	// Whatever it wrote is in the master's buffer by now; a child it left
	// holding the terminal must not stall the caller.
	s.master.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-s.read
	if s.err != nil {
		ee, ok := s.err.(*exec.ExitError)
		if !ok {
			return -1, s.err
		}
		return ee.ExitCode(), nil
	}
	return 0, nil
}

// Close kills the command if it still runs and releases the terminal.
func (s *Session) Close() {
	select {
	case <-s.done:
	default:
		s.Cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
	s.master.Close()
}
