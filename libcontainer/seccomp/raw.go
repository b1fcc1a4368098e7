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

// berth-init loads the filter as a ready BPF program with seccomp(2):
// libseccomp runs once, in the runtime (Compile, Export), and the init,
// which has no libseccomp, allocates nothing to load it, so a small
// RLIMIT_AS cannot break it.

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

// Program returns the exported program (Export first) as the bytes of a
// struct sock_filter array, the seccomp(2) flags to load it with, and
// whether it uses SCMP_ACT_NOTIFY (then it must be loaded with
// SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener handed to the agent).
// berth-init loads it.
func (f *Filter) Program() (prog []byte, flags uint32, notify bool) {
	if len(f.prog) == 0 {
		return nil, 0, false
	}
	size := len(f.prog) * int(unsafe.Sizeof(unix.SockFilter{}))
	return unsafe.Slice((*byte)(unsafe.Pointer(&f.prog[0])), size), uint32(f.flags), f.notify
}
