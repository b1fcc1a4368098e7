package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// tmpcopyup mounts a tmpfs that starts with a copy of the directory it
// covers. The tmpfs is built detached (fsopen/fsmount), filled, and only
// then attached, so no temporary mount point is needed and nothing is ever
// visible half-copied.
// A directory berth had to create keeps tmpfs's default mode (1777), as
// with runc; one from the image lends its mode to the tmpfs.
func (m *mounter) tmpcopyup(target *os.File, existed bool, sm specs.Mount, opts *mountOptions) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	data := opts.data
	if existed && !opts.hasData("mode") {
		var st unix.Stat_t
		if err := unix.Fstat(int(target.Fd()), &st); err != nil {
			return err
		}
		data = append(data, fmt.Sprintf("mode=%o", st.Mode&0o7777))
	}
	for _, d := range data {
		k, v, hasValue := strings.Cut(d, "=")
		if hasValue {
			// fsconfig takes each value whole: the quotes mount(2)'s
			// comma-separated string needs (context="...") must go.
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return fmt.Errorf("tmpfs option %q: %w", d, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create tmpfs (options %q): %w", opts.mountData(), err)
	}
	// Read-only is applied after the copy.
	attr := mountAttrFromFlags(opts.flags&^unix.MS_RDONLY, 0)
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attr.Attr_set))
	if err != nil {
		return fmt.Errorf("fsmount tmpfs: %w", err)
	}
	mnt := os.NewFile(uintptr(mfd), sm.Destination)
	defer mnt.Close()

	src, err := reopenDir(target)
	if err != nil {
		return err
	}
	err = copyTree(src, mnt)
	src.Close()
	if err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	if opts.flags&unix.MS_RDONLY != 0 {
		if err := setattr(mnt, false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return err
		}
	}
	if err := setattr(mnt, true, opts.recAttr); err != nil {
		return err
	}
	if err := unix.MoveMount(mfd, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return setPropagation(mnt, opts)
}

// reopenDir turns a directory handle (maybe O_PATH) into a readable one
// without a new path lookup.
func reopenDir(dir *os.File) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir.Name(), err)
	}
	return os.NewFile(uintptr(fd), dir.Name()), nil
}

// copyTree copies the content of directory src into directory dst,
// keeping type, mode, owner and device numbers. Symlinks are copied, never
// followed.
func copyTree(src, dst *os.File) error {
	entries, err := src.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", src.Name(), err)
	}
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, e := range entries {
		name := e.Name()
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat %s/%s: %w", src.Name(), name, err)
		}
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = copyDir(src, dst, name, perm)
		case unix.S_IFREG:
			err = copyFile(sfd, dfd, name, perm)
		case unix.S_IFLNK:
			var link string
			if link, err = readlinkAt(sfd, name); err == nil {
				err = unix.Symlinkat(link, dfd, name)
			}
		default: // devices, fifos, sockets
			err = unix.Mknodat(dfd, name, st.Mode, int(st.Rdev))
		}
		if err != nil {
			return fmt.Errorf("copy %s/%s: %w", src.Name(), name, err)
		}
		if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			// chown clears setuid/setgid bits: set the mode last.
			if err := unix.Fchmodat(dfd, name, perm, 0); err != nil {
				return fmt.Errorf("chmod %s: %w", name, err)
			}
		}
	}
	return nil
}

func copyDir(src, dst *os.File, name string, perm uint32) error {
	if err := unix.Mkdirat(int(dst.Fd()), name, perm|0o700); err != nil {
		return err
	}
	open := func(dir *os.File) (*os.File, error) {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), dir.Name()+"/"+name), nil
	}
	s, err := open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := open(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	return copyTree(s, d)
}

func copyFile(sfd, dfd int, name string, perm uint32) error {
	in, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	r := os.NewFile(uintptr(in), name)
	defer r.Close()
	out, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm|0o600)
	if err != nil {
		return err
	}
	w := os.NewFile(uintptr(out), name)
	_, err = io.Copy(w, r)
	return errors.Join(err, w.Close())
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
