package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A container without a mount namespace of its own (config-linux.md: an
// unlisted namespace is inherited from the runtime) is set up in the
// runtime's, that is the host's, mount namespace. runc then mounts straight
// into the host's mount table, makes the host's "/" rslave and leaves every
// mount behind after delete. Berth instead hangs the whole container under
// one mount of its own: a private recursive bind of the rootfs onto itself.
// "/" is never touched, the container's mounts propagate nowhere (they sit
// under a private mount), and one lazy unmount of that bind at delete
// (DetachHostMounts) takes all of them away.

// MountID returns the id of the mount that the directory path is on (path
// itself must not be a symlink): after bindPrivateRoot, the id of that
// bind. The runtime records it at create, so that delete unmounts only a
// mount it made.
func MountID(path string) (uint64, error) {
	fd, err := openDir(path)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return mountIDOf(fd, path)
}

// DetachHostMounts lazily unmounts the bind of rootfs made for a container
// without a mount namespace, and with it every mount the container has
// under it, if the mount at rootfs is still the one with id. Anything else
// there (the bind is gone, or the path is now something else) is left
// alone. The unmount goes through the file descriptor that was checked, so
// a path changed in between cannot redirect it.
func DetachHostMounts(rootfs string, id uint64) error {
	fd, err := openDir(rootfs)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil // nothing (or no directory) there: no bind of ours
		}
		return err
	}
	defer unix.Close(fd)
	got, err := mountIDOf(fd, rootfs)
	if err != nil || got != id {
		return err
	}
	if err := unix.Unmount("/proc/self/fd/"+strconv.Itoa(fd), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting the container's mounts at %s: %w", rootfs, err)
	}
	return nil
}

func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// mountIDOf prefers the unique mount id (Linux 6.8), which is never
// reused, and falls back to the classic one.
func mountIDOf(fd int, name string) (uint64, error) {
	const flags = unix.AT_EMPTY_PATH | unix.AT_STATX_DONT_SYNC
	for _, mask := range []uint32{unix.STATX_MNT_ID_UNIQUE, unix.STATX_MNT_ID} {
		var stx unix.Statx_t
		if err := unix.Statx(fd, "", flags, int(mask), &stx); err != nil {
			return 0, &os.PathError{Op: "statx", Path: name, Err: err}
		}
		if stx.Mask&mask != 0 {
			return stx.Mnt_id, nil
		}
	}
	return 0, fmt.Errorf("statx %s: the kernel reports no mount id", name)
}
