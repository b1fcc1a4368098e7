package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupMount handles mounts of type "cgroup". With Config.CgroupMounts it
// emulates a v1 /sys/fs/cgroup: a tmpfs holding one directory per hierarchy;
// otherwise it provides cgroup v2.
func (m *mounter) cgroupMount(target *os.File, sm specs.Mount, opts *mountOptions) error {
	if len(m.c.CgroupMounts) > 0 {
		return m.cgroupV1(target, sm, opts)
	}
	return m.cgroupV2(target, opts)
}

// cgroupV2 mounts cgroup2 when the container has its own cgroup namespace
// (the kernel then shows only the container's subtree). Without one a fresh
// mount would expose the whole host hierarchy, so the container's directory
// is bind-mounted instead, as is done when the kernel refuses the mount
// (EPERM/EBUSY in a user namespace without a cgroup namespace).
func (m *mounter) cgroupV2(target *os.File, opts *mountOptions) error {
	if m.c.hasNamespace(specs.CgroupNamespace) || m.c.Cgroup2Path == "" {
		err := unix.Mount("cgroup2", procFd(int(target.Fd())), "cgroup2", opts.flags, opts.mountData())
		if err == nil {
			return nil
		}
		refused := errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)
		if m.c.Cgroup2Path == "" && refused && m.c.UserNS {
			// A rootless container without a cgroup of its own (it runs
			// in its caller's) has none to show: an empty directory.
			return emptyCgroupDir(target, opts)
		}
		if m.c.Cgroup2Path == "" || !refused {
			return fmt.Errorf("mount cgroup2: %w", err)
		}
	}
	return bindPath(m.c.Cgroup2Path, target, opts)
}

func emptyCgroupDir(target *os.File, opts *mountOptions) error {
	flags := uintptr(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) | opts.flags&unix.MS_RDONLY
	if err := unix.Mount("tmpfs", procFd(int(target.Fd())), "tmpfs", flags, "mode=755,size=0"); err != nil {
		return fmt.Errorf("mount an empty tmpfs for cgroups: %w", err)
	}
	return nil
}

func (m *mounter) cgroupV1(target *os.File, sm specs.Mount, opts *mountOptions) error {
	// Like a real /sys/fs/cgroup: nothing to execute, no devices.
	const tmpfsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", procFd(int(target.Fd())), "tmpfs", tmpfsFlags, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs for cgroup v1: %w", err)
	}
	tmpfs, err := openInRoot(m.root, sm.Destination, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer tmpfs.Close()
	cgroupns := m.c.hasNamespace(specs.CgroupNamespace)
	for i, cm := range m.c.CgroupMounts {
		name := strings.TrimPrefix(cm.Controller, "name=")
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return fmt.Errorf("cgroup mount %d: bad controller %q", i, cm.Controller)
		}
		dir, err := mkdirAt(tmpfs, name)
		if err != nil {
			return err
		}
		if cgroupns {
			// The namespace root is the container's cgroup.
			err = unix.Mount("cgroup", procFd(int(dir.Fd())), "cgroup", opts.flags|tmpfsFlags, cm.Controller)
		} else {
			err = bindPath(cm.Path, dir, opts)
		}
		dir.Close()
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", cm.Controller, err)
		}
		// Co-mounted controllers are also reachable by each name.
		if parts := strings.Split(name, ","); len(parts) > 1 {
			for _, p := range parts {
				if err := unix.Symlinkat(name, int(tmpfs.Fd()), p); err != nil && !errors.Is(err, unix.EEXIST) {
					return fmt.Errorf("symlink %s -> %s: %w", p, name, err)
				}
			}
		}
	}
	if m.c.Cgroup2Path != "" {
		// Hybrid host: the v2 hierarchy sits next to the v1 ones.
		dir, err := mkdirAt(tmpfs, "unified")
		if err != nil {
			return err
		}
		err = bindPath(m.c.Cgroup2Path, dir, opts)
		dir.Close()
		if err != nil {
			return fmt.Errorf("cgroup unified: %w", err)
		}
	}
	if opts.flags&unix.MS_RDONLY != 0 {
		if err := setattr(tmpfs, false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return err
		}
	}
	return setPropagation(tmpfs, opts)
}

// mkdirAt creates the directory name in dir (on a tmpfs we just mounted, so
// no symlink can be there) and opens it.
func mkdirAt(dir *os.File, name string) (*os.File, error) {
	if err := unix.Mkdirat(int(dir.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("mkdir %s: %w", name, err)
	}
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), dir.Name()+"/"+name), nil
}
