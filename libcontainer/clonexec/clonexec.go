//go:build linux && amd64 && cgo

// Package clonexec starts a program in new namespaces (and a cgroup) the
// way posix_spawn starts one: a clone3 with CLONE_VM|CLONE_VFORK whose
// child only places its fds and execs.
//
// syscall.ForkExec does the same, but its child first resets every signal
// handler Go installed (66 rt_sigaction calls) and reports through a pipe
// (four calls more), because its child may unblock signals before execve.
// This child never does: every signal stays blocked through execve, which
// resets the handlers itself, and the program started (berth-init) clears
// the mask. Credentials and user namespace id maps, which need the child
// to wait for its parent, are left to syscall.ForkExec (Supported).
package clonexec

/*
#include <stdlib.h>
#include "clonexec.h"
*/
import "C"

import (
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether Start can start a process with sys; if not,
// use syscall.ForkExec.
func Supported(sys *syscall.SysProcAttr) bool {
	return sys.Credential == nil && sys.UidMappings == nil && sys.GidMappings == nil &&
		len(sys.AmbientCaps) == 0 && !sys.Setsid && !sys.Setpgid && !sys.Setctty && !sys.Foreground &&
		sys.Chroot == "" && sys.Unshareflags == 0 && sys.PidFD == nil && !sys.Ptrace && !sys.Noctty
}

// ErrUnsupported is Start refusing what it cannot serve (here: a kernel
// without clone3, before 5.3): use syscall.ForkExec.
var ErrUnsupported = errors.New("clonexec: clone3 not supported by this kernel")

// Start starts path with argv and an empty environment; the child's fd i
// is files[i]. sys.Cloneflags, sys.UseCgroupFD/CgroupFD and sys.Pdeathsig
// are honoured (see Supported). It returns the child's pid, or the error
// of the clone or of the child before its exec (the child then is reaped).
// The calling goroutine should be locked to its thread when Pdeathsig or
// the thread's cgroups matter, as for syscall.ForkExec.
func Start(path string, argv []string, files []uintptr, sys *syscall.SysProcAttr) (int, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cargv := make([]*C.char, len(argv)+1)
	for i, a := range argv {
		cargv[i] = C.CString(a)
	}
	defer func() {
		for _, p := range cargv {
			C.free(unsafe.Pointer(p))
		}
	}()
	// The request holds pointers, so it lives in C memory (cgo's rules).
	nptr := C.size_t(unsafe.Sizeof(uintptr(0)))
	argvC := (**C.char)(C.calloc(C.size_t(len(cargv)), nptr))
	defer C.free(unsafe.Pointer(argvC))
	copy(unsafe.Slice(argvC, len(cargv)), cargv)
	envC := (**C.char)(C.calloc(1, nptr))
	defer C.free(unsafe.Pointer(envC))
	fdsC := (*C.int)(C.calloc(C.size_t(len(files)+1), C.size_t(unsafe.Sizeof(C.int(0)))))
	defer C.free(unsafe.Pointer(fdsC))
	fds := unsafe.Slice(fdsC, len(files)+1)
	for i, f := range files {
		fds[i] = C.int(f)
	}
	req := (*C.struct_clonexec_req)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_clonexec_req{}))))
	defer C.free(unsafe.Pointer(req))
	req.path, req.argv, req.envp = cpath, argvC, envC
	req.fds, req.nfds = fdsC, C.int(len(files))
	req.pdeathsig, req.ppid = C.int(sys.Pdeathsig), C.pid_t(unix.Getpid())
	cgroupFD := -1
	if sys.UseCgroupFD {
		cgroupFD = sys.CgroupFD
	}
	// As syscall.ForkExec: no fd may be created without close-on-exec
	// while the child copies the fd table.
	syscall.ForkLock.RLock()
	var pid C.int
	errno := C.clonexec_start(req, C.uint64_t(sys.Cloneflags), C.int(cgroupFD), &pid)
	syscall.ForkLock.RUnlock()
	if errno != 0 {
		if syscall.Errno(errno) == unix.ENOSYS {
			return 0, ErrUnsupported
		}
		return 0, syscall.Errno(errno)
	}
	if req.err != 0 {
		// It exited (or will, killed by pdeathsig) without exec'ing.
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		return 0, syscall.Errno(req.err)
	}
	return int(pid), nil
}
