package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// load installs f the way berth-init does (seccomp(2) with the exported
// program and flags), so the tests check the program the init gets.
// notifyFD is the listener (close-on-exec) for SCMP_ACT_NOTIFY, else -1.
func load(f *Filter) (notifyFD int, err error) {
	if err := f.Export(); err != nil {
		return -1, err
	}
	prog, flags, notify := f.Program()
	if notify {
		flags |= filterFlagNewListener
	}
	insns := unsafe.Slice((*unix.SockFilter)(unsafe.Pointer(&prog[0])), len(prog)/int(unsafe.Sizeof(unix.SockFilter{})))
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if errno == unix.EACCES {
		return -1, fmt.Errorf("load seccomp filter: %w (without no_new_privs this needs CAP_SYS_ADMIN)", errno)
	}
	if errno != 0 {
		return -1, fmt.Errorf("load seccomp filter: %w", errno)
	}
	if !notify {
		return -1, nil
	}
	unix.CloseOnExec(int(r))
	return int(r), nil
}
