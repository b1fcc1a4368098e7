// Package sysfile reads and writes whole small files (state, configs,
// /proc and cgroupfs entries) with plain system calls.
//
// os.File is built for long-lived files that may be pollable: on Linux
// each os.Open toggles O_NONBLOCK twice and tries an epoll registration
// (refused for regular files, accepted and later undone for /proc ones),
// and os.ReadFile of a file whose size stat reports as 0 reads it in
// growing chunks. That is four to eight system calls more per file, and
// berth's start path reads and writes a few dozen. The errors are the
// *os.PathError values os.ReadFile and os.WriteFile return, so messages
// and errors.Is checks stay the same.
package sysfile

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ReadFile is os.ReadFile without the os.File round trips.
func ReadFile(path string) ([]byte, error) {
	return ReadFileAt(unix.AT_FDCWD, path, 0)
}

// ReadFileAt reads name relative to the directory dirfd (or AT_FDCWD),
// opened with O_RDONLY|O_CLOEXEC and the extra flags (O_NOFOLLOW, say).
func ReadFileAt(dirfd int, name string, flags int) ([]byte, error) {
	fd, err := openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return ReadFd(fd, name, -1)
}

// ReadFd reads fd to its end, or fails once more than limit bytes came
// (limit < 0: no limit). A regular file is read with one read(2) of its
// size (a short read is its end); anything else (/proc, cgroupfs, whose
// size is 0) until read returns 0. name is for errors.
func ReadFd(fd int, name string, limit int64) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		st = unix.Stat_t{} // read it as a file of unknown size
	}
	return ReadFdStat(fd, &st, name, limit)
}

// ReadFdStat is ReadFd for a caller that has fstat'ed fd already.
func ReadFdStat(fd int, st *unix.Stat_t, name string, limit int64) ([]byte, error) {
	size := int64(0)
	regular := st.Mode&unix.S_IFMT == unix.S_IFREG
	if regular {
		size = st.Size
	}
	if limit >= 0 && size > limit {
		return nil, &os.PathError{Op: "read", Path: name, Err: ErrTooLarge}
	}
	n := size + 1 // one byte more: reading it says the file grew
	if n < 512 {
		n = 512
	}
	if limit >= 0 && n > limit+1 {
		n = limit + 1
	}
	buf := make([]byte, 0, n)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: name, Err: err}
		}
		buf = buf[:len(buf)+m]
		if limit >= 0 && int64(len(buf)) > limit {
			return nil, &os.PathError{Op: "read", Path: name, Err: ErrTooLarge}
		}
		if m == 0 || (regular && int64(len(buf)) <= size && len(buf) < cap(buf)) {
			return buf, nil
		}
	}
}

// ErrTooLarge is a file longer than the limit ReadFd was given.
var ErrTooLarge = errTooLarge{}

type errTooLarge struct{}

func (errTooLarge) Error() string { return "file too large" }

// WriteFile is os.WriteFile (O_WRONLY|O_CREATE|O_TRUNC, perm before the
// umask) with the open flags given instead: cgroupfs and /proc files are
// written with flag 0 (no create, no truncate).
func WriteFile(path string, data []byte, flag int, perm uint32) error {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_WRONLY|unix.O_CLOEXEC|flag, perm)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	werr := WriteAll(fd, data)
	cerr := unix.Close(fd)
	if werr != nil {
		return &os.PathError{Op: "write", Path: path, Err: werr}
	}
	if cerr != nil {
		return &os.PathError{Op: "close", Path: path, Err: cerr}
	}
	return nil
}

// WriteAll writes all of data to fd, as os.File.Write does.
func WriteAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

func openat(dirfd int, name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
