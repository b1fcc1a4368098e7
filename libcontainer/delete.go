package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/hooks"
	"github.com/berthproject/berth/libcontainer/rootfs"
)

// Delete removes a stopped container: its processes, cgroup and state,
// then runs the poststop hooks. force also stops a created, running or
// paused one.
func (c *Container) Delete(force bool) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	// runtime.md: deleting a container that is not stopped is an error
	// (runc also deletes created ones; orchestrators use --force for it).
	if st := c.Status(); st != specs.StateStopped && !force {
		return fmt.Errorf("container %q is %s: kill it first, or use delete --force", c.state.ID, st)
	}
	if err := c.killAll(); err != nil {
		return err
	}
	if cg, err := c.cgroup(); err == nil {
		if err := destroyCgroup(cg); err != nil {
			return err
		}
	}
	if err := c.detachHostMounts(); err != nil {
		return err
	}
	if h := c.state.Hooks; h != nil && len(h.Poststop) > 0 {
		st := c.specState(specs.StateStopped)
		// The spec: a failing poststop hook is a warning only, and the
		// remaining hooks still run.
		for _, err := range hooks.RunEach("poststop", h.Poststop, &st) {
			logrus.Warn(err.Error())
		}
	}
	return os.RemoveAll(c.dir)
}

// killAll SIGKILLs every process of the container and waits for the init
// to die, so its cgroup can be removed.
func (c *Container) killAll() error {
	if c.state.InitPid > 0 && c.initAlive() {
		if pidfd, err := unix.PidfdOpen(c.state.InitPid, 0); err == nil {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			defer func() {
				waitPidfd(pidfd, 5*time.Second)
				unix.Close(pidfd)
			}()
		}
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil
	}
	if err := cg.Kill(); err != nil {
		logrus.Warnf("delete: %v", err)
	}
	return nil
}

// detachHostMounts removes the mounts of a container without a mount
// namespace (see rootfs.DetachHostMounts). During create, or after a
// create that was killed, the bind's id is not recorded yet: then a mount
// at the rootfs that was not there before create is the container's.
func (c *Container) detachHostMounts() error {
	hm := c.state.HostMounts
	if hm == nil {
		return nil
	}
	id := hm.Bind
	if id == 0 {
		cur, err := rootfs.MountID(c.state.Rootfs)
		if err != nil || cur == hm.Before {
			return nil // gone, or never made
		}
		id = cur
	}
	return rootfs.DetachHostMounts(c.state.Rootfs, id)
}

// waitPidfd waits until the process behind pidfd has exited.
func waitPidfd(pidfd int, limit time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, int(limit.Milliseconds()))
	return n == 1
}

// ForceDeleteID cleans up what a berth killed in the middle of create left
// behind: a state dir with no readable state.
func ForceDeleteID(root, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	err := os.RemoveAll(stateDir(root, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
