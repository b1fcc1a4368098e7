// Package cinit holds berth-init, the C program that becomes every
// container process (sources in c/, built by the Makefile with musl into
// this directory and embedded here), and starts it from a sealed memory
// file. The process that enters a container therefore never runs a file
// of the host: a container that reaches it through /proc/<pid>/exe finds
// a copy it cannot write (CVE-2019-5736), and no Go runtime starts inside
// the container's cgroup.
package cinit

import (
	_ "embed"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// image is berth-init. The Makefile builds it before berth (`make berth`);
// a plain `go build` without it fails here, on purpose, rather than
// produce a runtime that cannot start containers.
//
//go:embed berth-init
var image []byte

// Size is the size of berth-init in bytes.
func Size() int { return len(image) }

// seals make the memory file immutable for good: no write, no resize, and
// no removing the seals.
const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Open returns a sealed, close-on-exec memory file holding berth-init, to
// be executed through /proc/self/fd.
func Open() (*os.File, error) {
	fd, err := unix.MemfdCreate("berth-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 know no MFD_EXEC (all memfds are executable).
		fd, err = unix.MemfdCreate("berth-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd for berth-init: %w", err)
	}
	f := os.NewFile(uintptr(fd), "berth-init")
	for off := 0; off < len(image); {
		n, err := unix.Write(fd, image[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("writing berth-init to its memfd: %w", err)
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing berth-init's memfd: %w", err)
	}
	return f, nil
}
