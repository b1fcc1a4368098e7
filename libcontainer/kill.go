package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Signal sends sig to the container's init, or with all to every process
// in its cgroup (also after the init has exited, as containerd expects).
// A shared lock keeps a delete from removing the container meanwhile.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	unlock, err := c.lock(unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	if all {
		return c.signalAll(sig)
	}
	switch st := c.Status(); st {
	case specs.StateCreated, specs.StateRunning, "paused":
		return c.signalInit(sig)
	default:
		return fmt.Errorf("container %q is %s: only a created or running container can be signalled", c.state.ID, st)
	}
}

func (c *Container) signalAll(sig unix.Signal) error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		return cg.Kill() // cgroup.kill where there is one, as runc does
	}
	pids, err := cg.Pids()
	if err != nil {
		return fmt.Errorf("listing the container's processes: %w", err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal %d to pid %d: %w", sig, pid, err)
		}
	}
	return nil
}
