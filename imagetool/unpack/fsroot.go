package unpack

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// rootDir is a directory that layers are written into. Every path below it
// is resolved by file descriptor with openat2(RESOLVE_IN_ROOT), so a symlink
// planted by a layer (absolute or full of "..") is followed as if the
// directory were "/", and nothing outside it can ever be reached. The final
// component of a path is never followed: every operation on it is an *at
// call with AT_SYMLINK_NOFOLLOW / O_NOFOLLOW semantics on the parent's fd.
type rootDir struct {
	fd   int
	path string

	// A one-slot cache of the last parent directory resolved: tar streams
	// list a directory's entries together, so this saves most openat2 calls.
	// It is dropped whenever a directory or symlink is removed, because the
	// cached fd could then point at an unlinked directory.
	cacheName string
	cacheFd   int
}

func openRootDir(dir string) (*rootDir, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &rootDir{fd: fd, path: dir, cacheFd: -1}, nil
}

func (r *rootDir) Close() {
	r.invalidate()
	unix.Close(r.fd)
}

func (r *rootDir) invalidate() {
	if r.cacheFd >= 0 {
		unix.Close(r.cacheFd)
	}
	r.cacheFd, r.cacheName = -1, ""
}

// resolve opens rel (a clean relative path, "." for the root) inside the
// root and returns a new O_PATH fd that the caller closes.
func (r *rootDir) resolve(rel string, flags uint64) (int, error) {
	how := unix.OpenHow{
		Flags:   flags | unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(r.fd, rel, &how)
		// EAGAIN means a concurrent rename raced the lookup; try again.
		if err == unix.EAGAIN && i < 16 {
			continue
		}
		if err != nil {
			return -1, err
		}
		return fd, nil
	}
}

// newDirFunc is told of each directory mkdirAll creates (an fd of it and
// its path), to give it an owner and take note of it.
type newDirFunc func(fd int, rel string) error

// dir returns a borrowed fd for directory rel, creating missing components
// (mode 0755, then passed to newDir) when create is set. The fd stays
// valid until the next dir or invalidate call.
func (r *rootDir) dir(rel string, create bool, newDir newDirFunc) (int, error) {
	if rel == "." {
		return r.fd, nil
	}
	if r.cacheFd >= 0 && r.cacheName == rel {
		return r.cacheFd, nil
	}
	fd, err := r.resolve(rel, unix.O_DIRECTORY)
	if err == unix.ENOENT && create {
		fd, err = r.mkdirAll(rel, newDir)
	}
	if err != nil {
		return -1, err
	}
	r.invalidate()
	r.cacheName, r.cacheFd = rel, fd
	return fd, nil
}

// mkdirAll creates the missing directories of rel one component at a
// time, each one resolved inside the root before the next is made in it.
func (r *rootDir) mkdirAll(rel string, newDir newDirFunc) (int, error) {
	return r.mkdirAllDepth(rel, newDir, 0)
}

func (r *rootDir) mkdirAllDepth(rel string, newDir newDirFunc, depth int) (int, error) {
	parent, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := r.resolve(prefix, unix.O_DIRECTORY)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(parent, parts[i], 0o755); err == nil || err == unix.EEXIST {
				if err == nil && newDir != nil {
					if err = r.fixNewDir(parent, parts[i], prefix, newDir); err != nil {
						unix.Close(parent)
						return -1, err
					}
				}
				fd, err = r.resolve(prefix, unix.O_DIRECTORY)
				if err == unix.ENOENT {
					fd, err = r.mkdirThroughSymlink(prefix, newDir, depth)
				}
			}
		}
		unix.Close(parent)
		if err != nil {
			return -1, fmt.Errorf("parent directory %s: %w", prefix, err)
		}
		parent = fd
	}
	return parent, nil
}

// mkdirThroughSymlink handles a component of a parent path that is a
// dangling symlink (a layer's "lib -> usr/lib" before usr/lib exists): like
// mkdir -p, it creates the directory the link points to, inside the root.
func (r *rootDir) mkdirThroughSymlink(prefix string, newDir newDirFunc, depth int) (int, error) {
	if depth > 16 {
		return -1, unix.ELOOP
	}
	// SecureJoin resolves the links lexically with the root as "/"; the
	// directories are then made by fd like any others.
	joined, err := securejoin.SecureJoin(r.path, prefix)
	if err != nil {
		return -1, err
	}
	target, err := filepath.Rel(r.path, joined)
	if err != nil || target == prefix || target == "." {
		return -1, unix.ENOENT
	}
	r.invalidate()
	fd, err := r.mkdirAllDepth(target, newDir, depth+1)
	if err != nil {
		return -1, err
	}
	unix.Close(fd)
	return r.resolve(prefix, unix.O_DIRECTORY)
}

func (r *rootDir) fixNewDir(parent int, name, rel string, newDir newDirFunc) error {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := newDir(fd, rel); err != nil {
		return err
	}
	// mkdirat is subject to the umask; implicit parents are 0755 as in umoci.
	return unix.Fchmod(fd, 0o755)
}

// lstatAt stats name in dir without following it; ok is false when it does
// not exist.
func lstatAt(dirfd int, name string) (st unix.Stat_t, ok bool, err error) {
	err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return st, false, nil
	}
	return st, err == nil, err
}

// removeAt removes name from dirfd, recursively when it is a directory.
// Removing a directory or symlink drops the parent cache unless dirfd is
// the cached directory itself: then only paths below name change, and the
// cache never holds a descendant of the directory it is operating in.
func (r *rootDir) removeAt(dirfd int, name string, st *unix.Stat_t) error {
	kind := st.Mode & unix.S_IFMT
	if (kind == unix.S_IFDIR || kind == unix.S_IFLNK) && dirfd != r.cacheFd {
		r.invalidate()
	}
	if kind == unix.S_IFDIR {
		return removeAllAt(dirfd, name)
	}
	return unix.Unlinkat(dirfd, name, 0)
}

// removeAllAt deletes the directory name below dirfd and everything in it,
// walking by fd so that no symlink inside is ever followed.
func removeAllAt(dirfd int, name string) error {
	if err := emptyDirAt(dirfd, name, nil); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// emptyDirAt removes the children of directory name below dirfd, except
// those for which keep returns true.
func emptyDirAt(dirfd int, name string, keep func(child string) bool) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Read every name before unlinking: deleting while iterating getdents
	// may skip entries on some filesystems.
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, child := range names {
		if keep != nil && keep(child) {
			continue
		}
		err := unix.Unlinkat(fd, child, 0)
		if err == unix.EISDIR {
			err = removeAllAt(fd, child)
		}
		if err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove %s: %w", path.Join(name, child), err)
		}
	}
	return nil
}
