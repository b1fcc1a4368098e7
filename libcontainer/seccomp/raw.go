package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The init loads the filter as a ready BPF program with seccomp(2) rather
// than through libseccomp: exporting it (Export) happens before the
// container's rlimits apply, and loading it then allocates nothing, so a
// small RLIMIT_AS cannot break it.

// Kernel flags of seccomp(SECCOMP_SET_MODE_FILTER), from <linux/seccomp.h>.
const (
	seccompSetModeFilter   = 1
	filterFlagLog          = 1 << 1
	filterFlagSpecAllow    = 1 << 2
	filterFlagNewListener  = 1 << 3
	filterFlagWaitKillable = 1 << 5
)

var kernelFlags = map[specs.LinuxSeccompFlag]uintptr{
	flagTsync:                              0, // the init execs from the one thread it filters
	specs.LinuxSeccompFlagLog:              filterFlagLog,
	specs.LinuxSeccompFlagSpecAllow:        filterFlagSpecAllow,
	specs.LinuxSeccompFlagWaitKillableRecv: filterFlagWaitKillable,
}

// Export turns the compiled filter into its BPF program and releases
// libseccomp's copy. After it, Load only makes the seccomp(2) call.
func (f *Filter) Export() error {
	if f.prog != nil {
		return nil
	}
	if f.scmp == nil {
		return errors.New("seccomp: filter already loaded or released")
	}
	fd, err := unix.MemfdCreate("berth-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("seccomp: memfd for the BPF program: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "berth-seccomp")
	defer mem.Close()
	if err := f.scmp.ExportBPF(mem); err != nil {
		return fmt.Errorf("seccomp: export BPF: %w", err)
	}
	if _, err := mem.Seek(0, io.SeekStart); err != nil {
		return err
	}
	raw, err := io.ReadAll(mem)
	if err != nil {
		return err
	}
	const insnSize = int(unsafe.Sizeof(unix.SockFilter{}))
	if len(raw) == 0 || len(raw)%insnSize != 0 || len(raw)/insnSize > 0xffff {
		return fmt.Errorf("seccomp: exported BPF program of %d bytes is malformed", len(raw))
	}
	prog := make([]unix.SockFilter, len(raw)/insnSize)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&prog[0])), len(raw)), raw)
	f.prog = prog
	f.Release()
	return nil
}

// loadRaw installs the exported program on the calling thread.
func (f *Filter) loadRaw() (notifyFD int, err error) {
	flags := f.flags
	if f.notify {
		flags |= filterFlagNewListener
	}
	fprog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&fprog)))
	f.prog = nil
	if errno != 0 {
		if errno == unix.EACCES {
			return -1, fmt.Errorf("load seccomp filter: %w (without no_new_privs this needs CAP_SYS_ADMIN)", errno)
		}
		return -1, fmt.Errorf("load seccomp filter: %w", errno)
	}
	if !f.notify {
		return -1, nil
	}
	// The listener fd comes back without close-on-exec.
	unix.CloseOnExec(int(r))
	return int(r), nil
}
