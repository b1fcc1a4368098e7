package libcontainer

import (
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
	unlock, err := lockDir(c.dir)
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
	if err := c.awaitFifoByte(fd); err != nil {
		return err
	}
	if err := os.Remove(fifo); err != nil {
		return err
	}
	c.state.Started = true
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	if h := c.state.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		st := c.specState(specs.StateRunning)
		if err := hooks.Run("poststart", h.Poststart, &st); err != nil {
			// The spec: a failing poststart hook is logged; the
			// container keeps running.
			return fmt.Errorf("container started, but %w", err)
		}
	}
	return nil
}

// awaitFifoByte waits until the init writes its byte, checking that it is
// still alive so start fails rather than hangs if it died.
func (c *Container) awaitFifoByte(fd int) error {
	buf := make([]byte, 1)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			return nil
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if !c.initAlive() {
			return fmt.Errorf("container %q: the init exited before start", c.state.ID)
		}
		unix.Poll(fds, int((100 * time.Millisecond).Milliseconds()))
	}
}
