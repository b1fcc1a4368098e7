package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Pause freezes every process of a running container.
func (c *Container) Pause() error {
	unlock, err := c.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != specs.StateRunning {
		return fmt.Errorf("container %q is %s: only a running container can be paused", c.state.ID, st)
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	unlock, err := c.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != "paused" {
		return fmt.Errorf("container %q is %s: only a paused container can be resumed", c.state.ID, st)
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Processes lists the pids of every process in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}
