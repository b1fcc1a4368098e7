package rootfs

import (
	"errors"
	"os"
	"path"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// procFd is the magic-link path of fd, used as a mount(2) target or source
// so that the kernel acts on the already-resolved file and not on a path a
// container could swap under us. Before the pivot this is the host's /proc,
// after it the container's.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// openInRoot opens unsafePath as an O_PATH handle, resolving every component
// (symlinks and "..") as if root were "/". It costs one openat2(2).
func openInRoot(root *os.File, unsafePath string, flags int) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_PATH | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(int(root.Fd()), unsafePath, how)
		if err == unix.EAGAIN || err == unix.EINTR {
			// openat2 returns EAGAIN when a rename raced the lookup.
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: unsafePath, Err: err}
		}
		return os.NewFile(uintptr(fd), path.Join(root.Name(), unsafePath)), nil
	}
}

// mkdirInRoot returns a handle to the directory unsafePath inside root,
// creating it and its parents (mode 0755) if missing. The common case where
// it exists costs a single openat2.
func mkdirInRoot(root *os.File, unsafePath string) (*os.File, error) {
	f, _, err := dirInRoot(root, unsafePath)
	return f, err
}

// dirInRoot is mkdirInRoot that also tells whether the directory existed.
func dirInRoot(root *os.File, unsafePath string) (f *os.File, existed bool, err error) {
	f, err = openInRoot(root, unsafePath, unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err == nil, err
	}
	if f, err = mkdirLast(root, unsafePath); err == nil {
		return f, false, nil
	}
	f, err = pathrs.MkdirAllHandle(root, unsafePath, 0o755)
	if errors.Is(err, unix.ENOTDIR) {
		// A dangling symlink on the way (an image's /var/run -> /run
		// before /run exists, or a link to a host path): create its
		// target inside the rootfs, as runc does. SecureJoin expands
		// the links within root; MkdirAllHandle then guards the
		// creation itself against races.
		var resolved string
		if resolved, err = securejoin.SecureJoin(root.Name(), unsafePath); err == nil {
			rel := strings.TrimPrefix(resolved, root.Name())
			f, err = pathrs.MkdirAllHandle(root, rel, 0o755)
		}
	}
	return f, false, err
}

// mkdirLast is the cheap common case of creating a mount point: only the
// last component is missing (as for /dev/pts on a fresh /dev tmpfs). The
// parent is resolved in root and the new name is opened with O_NOFOLLOW, so
// a racing symlink makes it fail rather than escape; callers then fall back
// to the general (and far costlier) pathrs-lite MkdirAllHandle.
func mkdirLast(root *os.File, unsafePath string) (*os.File, error) {
	clean := path.Clean("/" + unsafePath)
	if clean == "/" {
		return nil, unix.ENOENT
	}
	parent, err := openInRoot(root, path.Dir(clean), unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	name := path.Base(clean)
	if err := unix.Mkdirat(int(parent.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(root.Name(), clean)), nil
}

// fileInRoot returns a handle to the non-directory unsafePath inside root,
// creating an empty regular file (and missing parents) if it does not exist.
// existed tells whether it was there already.
func fileInRoot(root *os.File, unsafePath string) (f *os.File, existed bool, err error) {
	f, err = openInRoot(root, unsafePath, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err == nil, err
	}
	parent, err := mkdirInRoot(root, path.Dir(path.Clean("/"+unsafePath)))
	if err != nil {
		return nil, false, err
	}
	defer parent.Close()
	f, err = createAt(parent, path.Base(path.Clean("/"+unsafePath)), 0o644)
	return f, false, err
}

// createAt creates the empty regular file name in dir. O_NOFOLLOW|O_EXCL
// make a dangling symlink planted at name an error instead of a way out.
func createAt(dir *os.File, name string, mode uint32) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: path.Join(dir.Name(), name), Err: err}
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), name)), nil
}

// isDir reports whether the handle is a directory (one fstat).
func isDir(f *os.File) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}
