package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	unlock, err := c.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	return c.deleteLocked(force, true)
}

// deleteLocked is Delete with the lock held and the state fresh; without
// runHooks (a state that lacks fields) the poststop hooks are not run.
// The order makes a delete killed at any point one that the next delete
// --force completes: processes, cgroup, mounts, hooks, then the state.
func (c *Container) deleteLocked(force, runHooks bool) error {
	// runtime.md: deleting a container that is not stopped is an error
	// (runc also deletes created ones; orchestrators use --force for it).
	if st := c.Status(); st != specs.StateStopped && !force {
		return fmt.Errorf("container %q is %s: kill it first, or use delete --force", c.state.ID, st)
	}
	if err := c.killAll(); err != nil {
		return err
	}
	killPoint(StepDeleteKilled)
	if cg, err := c.cgroup(); err == nil {
		if err := destroyCgroup(cg); err != nil {
			return err
		}
	}
	killPoint(StepDeleteCgroup)
	if err := c.detachHostMounts(); err != nil {
		return err
	}
	if h := c.state.Hooks; runHooks && h != nil && len(h.Poststop) > 0 {
		st := c.specState(specs.StateStopped)
		// The spec: a failing poststop hook is a warning only, and the
		// remaining hooks still run.
		for _, err := range hooks.RunEach("poststop", h.Poststop, &st) {
			logrus.Warn(err.Error())
		}
	}
	killPoint(StepDeleteCleaned)
	return removeStateDir(c.dir)
}

// removeStateDir removes a container's state dir. Its usual content by
// now is state.json alone: two calls, where os.RemoveAll tries unlink and
// rmdir on the dir first and then reads it through an os.File (about 17).
// Anything else left in it (an exec fifo never opened, a temp file of a
// killed write) is for RemoveAll.
func removeStateDir(dir string) error {
	unix.Unlink(filepath.Join(dir, stateFile))
	err := unix.Rmdir(dir)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	return os.RemoveAll(dir)
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

// ForceDelete is `delete --force`: it removes the container id whatever
// state it is in, and succeeds if there is none. It copes with what a berth
// killed at any step left (a state dir without state, a state without an
// init pid, a delete half done) and with a corrupt state file: one that is
// this container's but lacks a field is cleaned up from the fields it has;
// one that cannot be read, or is another container's, only has its dir
// removed (nothing it names can be trusted to be this container's).
func ForceDelete(root, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	dir := stateDir(root, id)
	unlock, err := lockDir(dir, unix.LOCK_EX)
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, errDirGone):
		return nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		// A symlink or a file where the state dir should be: removed
		// itself, never what it points at.
		logrus.Warnf("container %q: %s is not a directory; removing it", id, dir)
		return os.Remove(dir)
	case err != nil:
		return fmt.Errorf("container %q: %w", id, err)
	}
	defer unlock()
	st, err := loadState(root, id)
	var corrupt *CorruptStateError
	switch {
	case err == nil:
		return newContainer(root, st).deleteLocked(true, true)
	case errors.Is(err, ErrNotExist):
		// A create killed before its first state write made nothing
		// else: the state comes before the cgroup and the init.
		return os.RemoveAll(dir)
	case errors.As(err, &corrupt):
		logrus.Warn(err.Error())
		if corrupt.partial != nil {
			c := &Container{root: root, dir: dir, state: corrupt.partial}
			if err := c.deleteLocked(true, false); err != nil {
				return err
			}
		}
		return os.RemoveAll(dir)
	default:
		return err
	}
}
