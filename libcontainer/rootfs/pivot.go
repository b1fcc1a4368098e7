package rootfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pivot makes c.Rootfs the root of the calling process and leaves the
// working directory at "/". The old root is detached, so nothing of the host
// stays reachable. With c.NoPivot (for roots on ramfs, where pivot_root is
// impossible) the rootfs is moved over "/" and chrooted into instead; that
// leaves the host's mounts under the chroot and is weaker isolation. With
// c.HostMountNS the process just chroots: the host's mount namespace is
// not the container's to rearrange.
func Pivot(c *Config) error {
	var err error
	switch {
	case c.HostMountNS:
		// Neither pivot_root nor MS_MOVE: either would change the root
		// of every process in the host's mount namespace.
		err = chrootRoot(c.Rootfs)
	case c.NoPivot:
		err = moveRoot(c.Rootfs)
	default:
		err = pivotRoot(c.Rootfs)
	}
	if err != nil {
		return err
	}
	return reopenDevNull()
}

// pivotRoot uses pivot_root(".", ".") so that no put_old directory has to be
// created in the image: afterwards the old root is stacked on top of the
// new one at "/", and unmounting "." removes it.
func pivotRoot(rootfs string) error {
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open %s: %w", rootfs, err)
	}
	defer unix.Close(newRoot)
	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("pivot_root: chdir %s: %w", rootfs, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	// The kernel does not promise what "." is now; go to the old root
	// explicitly.
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("pivot_root: chdir old root: %w", err)
	}
	// rslave (not rprivate, which makes the host see our unmounts as
	// references it cannot drop) so the unmount cannot propagate to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

func chrootRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	return chrootHere(rootfs)
}

func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", rootfs, err)
	}
	return chrootHere(rootfs)
}

// chrootHere makes the working directory (rootfs) the root.
func chrootHere(rootfs string) error {
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// reopenDevNull points stdio fds that are the host's /dev/null at the
// container's, so the process holds no handle on a host filesystem.
func reopenDevNull() error {
	var null unix.Stat_t
	if err := unix.Stat("/dev/null", &null); err != nil || null.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil // no usable /dev/null in the container: leave stdio alone
	}
	var f *os.File
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != null.Rdev || st.Dev == null.Dev {
			continue
		}
		if f == nil {
			var err error
			if f, err = os.OpenFile("/dev/null", os.O_RDWR, 0); err != nil {
				return fmt.Errorf("open container /dev/null: %w", err)
			}
			defer f.Close()
		}
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("reopen fd %d on /dev/null: %w", fd, err)
		}
	}
	return nil
}
