package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/hooks"
)

// Start releases the user process of a created container: it opens the
// exec fifo the init is blocked on, then runs the poststart hooks.
func (c *Container) Start() error {
	unlock, err := c.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != specs.StateCreated {
		return fmt.Errorf("container %q is %s: only a created container can be started", c.state.ID, st)
	}
	fifo := filepath.Join(c.dir, fifoName)
	// Non-blocking, so a dead init cannot hang start; the init's blocked
	// open for writing completes as soon as this one exists.
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	killPoint(StepStartOpened)
	if err := c.awaitStartReply(fd); err != nil {
		c.killAll()
		os.Remove(fifo)
		return err
	}
	killPoint(StepStartReleased)
	if err := os.Remove(fifo); err != nil {
		return err
	}
	if h := c.state.Hooks; h != nil && len(h.Poststart) > 0 {
		c.awaitExec(fd)
		st := c.specState(specs.StateRunning)
		if err := hooks.Run("poststart", h.Poststart, &st); err != nil {
			// runtime-spec: a failing poststart hook is an error, and
			// the container is stopped.
			c.killAll()
			return err
		}
	}
	return nil
}

// awaitExec waits until the init's end of the fifo is closed. It is
// close-on-exec, so that happens at the execve of the user program (or
// when the init dies): poststart hooks run after the program is executed
// (config.md#poststart), not merely after it was released.
func (c *Container) awaitExec(fd int) {
	buf := make([]byte, 1)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(fd, buf)
		if (n == 0 && err == nil) || (err != nil && err != unix.EAGAIN && err != unix.EINTR) {
			return // EOF: no writer left
		}
		if !c.initAlive() {
			return
		}
		unix.Poll(fds, 100)
	}
}

// awaitStartReply waits until the init answers on the fifo (a zero byte,
// or why its startContainer hooks failed), checking that it is still alive
// so start fails rather than hangs if it died.
func (c *Container) awaitStartReply(fd int) error {
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 && buf[0] == 0 {
			return nil
		}
		if n > 0 {
			return errors.New(string(buf[:n]))
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if !c.initAlive() {
			// It may have answered and exited (a quick program) between
			// the read above and this check: read once more.
			if n, _ := unix.Read(fd, buf); n == 1 && buf[0] == 0 {
				return nil
			} else if n > 0 {
				return errors.New(string(buf[:n]))
			}
			return fmt.Errorf("container %q: the init exited before start", c.state.ID)
		}
		unix.Poll(fds, int((100 * time.Millisecond).Milliseconds()))
	}
}
