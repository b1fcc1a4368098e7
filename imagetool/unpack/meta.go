package unpack

import (
	"archive/tar"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const paxXattr = "SCHILY.xattr."

// newDir gives a directory created implicitly (a parent the layer did not
// list) to the container's root, as if the layer had listed it 0:0, and
// notes it.
func (a *applier) newDir(fd int, rel string) error {
	if a.implicit != nil {
		a.implicit[rel] = true
	}
	if a.opts.Rootless {
		return nil
	}
	uid, gid, err := a.opts.IDs.Host(0, 0)
	if err != nil {
		return err
	}
	return unix.Fchown(fd, uid, gid)
}

// noMode is a created mode metaFd cannot know, so it always chmods.
const noMode = 0xFFFFFFFF

// metaFd sets owner, mode and xattrs of an open regular file or directory
// created with mode created. The order matters: chown clears
// setuid/setgid and file capabilities, so it comes before chmod and the
// xattrs.
func (a *applier) metaFd(fd int, hdr *tar.Header, isDir bool, created uint32) error {
	if err := a.chown(hdr, func(uid, gid int) error { return unix.Fchown(fd, uid, gid) }); err != nil {
		return err
	}
	mode := uint32(hdr.Mode & 0o7777)
	if isDir && a.opts.Rootless {
		mode |= 0o700 // we must still be able to write into it
	}
	if mode != created {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	}
	return a.xattrs(hdr, func(name string, value []byte) error { return unix.Fsetxattr(fd, name, value, 0) })
}

// metaAt does what metaFd does, and sets the times, for a symlink or node
// that cannot be opened; base is never followed.
func (a *applier) metaAt(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if err := a.chown(hdr, func(uid, gid int) error {
		return unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return err
	}
	if chmod {
		mode := uint32(hdr.Mode & 0o7777)
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	}
	// The parent is pinned by its fd and lsetxattr does not follow base.
	proc := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	symlink := hdr.Typeflag == tar.TypeSymlink
	if err := a.xattrs(hdr, func(name string, value []byte) error {
		if symlink && strings.HasPrefix(name, "user.") {
			return nil // the kernel refuses user.* xattrs on symlinks
		}
		return unix.Lsetxattr(proc, name, value, 0)
	}); err != nil {
		return err
	}
	return setTimesAt(pfd, base, hdr.AccessTime, hdr.ModTime)
}

func (a *applier) chown(hdr *tar.Header, chown func(uid, gid int) error) error {
	if a.opts.Rootless {
		return nil
	}
	uid, gid, err := a.opts.IDs.Host(hdr.Uid, hdr.Gid)
	if err != nil {
		return err
	}
	if err := chown(uid, gid); err != nil {
		return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
	}
	return nil
}

// xattrs sets the entry's extended attributes (security.capability
// included) and, when rootless, the user.rootlesscontainers owner.
func (a *applier) xattrs(hdr *tar.Header, set func(name string, value []byte) error) error {
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, paxXattr)
		if !ok {
			continue
		}
		// overlayfs reads trusted.overlay.* from lower dirs (opaque,
		// redirect, metacopy); a layer must not be able to steer that.
		if strings.HasPrefix(name, "trusted.overlay.") {
			a.note("ignored xattr %s on %s", name, hdr.Name)
			continue
		}
		if err := set(name, []byte(value)); err != nil {
			if a.opts.Rootless && (err == unix.EPERM || err == unix.ENOTSUP) {
				a.note("skipped xattr %s on %s: %v", name, hdr.Name, err)
				continue
			}
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	if a.opts.Rootless {
		if v := rootlessOwner(hdr.Uid, hdr.Gid); v != nil {
			if err := set(rootlessXattr, v); err != nil && err != unix.ENOTSUP {
				return fmt.Errorf("xattr %s: %w", rootlessXattr, err)
			}
		}
	}
	return nil
}

func timespecs(atime, mtime time.Time) []unix.Timespec {
	if atime.IsZero() {
		atime = mtime
	}
	return []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
}

// setTimes sets the times of the file open for writing as fd:
// utimensat(fd, NULL), which is futimens.
func setTimes(fd int, atime, mtime time.Time) error {
	ts := timespecs(atime, mtime)
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// setTimesOPath sets the times of the file an O_PATH fd refers to,
// through its /proc/self/fd link (futimens refuses O_PATH fds).
func setTimesOPath(fd int, atime, mtime time.Time) error {
	return unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), timespecs(atime, mtime), 0)
}

var (
	umaskOnce sync.Once
	umaskBits uint32
)

// umask is the process's umask, read from /proc/self/status (setting it
// to read it would race with other goroutines creating files).
func umask() uint32 {
	umaskOnce.Do(func() {
		umaskBits = 0o777 // unknown: always chmod
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					umaskBits = uint32(n)
				}
			}
		}
	})
	return umaskBits
}

func setTimesAt(pfd int, base string, atime, mtime time.Time) error {
	if err := unix.UtimesNanoAt(pfd, base, timespecs(atime, mtime), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
