package specs

import (
	"runtime"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls are the system calls Berth's default profile refuses with
// EPERM, grouped by why. The profile allows everything else: what the
// kernel already ties to a capability the container lacks stays guarded by
// that capability, and a program that needs a syscall this list forgets is
// never broken by it. Every name is one libseccomp 2.5 knows.
var deniedSyscalls = [][]string{
	// Kernel code and the machine itself: never a container's business.
	{"init_module", "finit_module", "delete_module", "create_module", "query_module",
		"get_kernel_syms", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
		"acct", "iopl", "ioperm", "vm86", "vm86old"},
	// Host-wide state that no namespace isolates: the clock, the kernel
	// keyring and the kernel log.
	{"settimeofday", "clock_settime", "stime", "keyctl", "add_key", "request_key", "syslog"},
	// Interfaces with a record of container escapes or leaks, or obsolete.
	{"open_by_handle_at", "name_to_handle_at", "perf_event_open", "bpf", "userfaultfd",
		"lookup_dcookie", "nfsservctl", "uselib", "sysfs", "_sysctl", "quotactl", "vhangup",
		"io_uring_setup", "io_uring_enter", "io_uring_register"},
}

// DefaultSeccomp is the seccomp profile berth-image puts in the configs it
// converts from images: allow by default, EPERM for deniedSyscalls, on the
// host's architecture and its 32-bit companions (a filter that left them
// out could be bypassed through their syscall tables).
func DefaultSeccomp() *rspec.LinuxSeccomp {
	eperm := uint(1)
	var names []string
	for _, group := range deniedSyscalls {
		names = append(names, group...)
	}
	return &rspec.LinuxSeccomp{
		DefaultAction: rspec.ActAllow,
		Architectures: seccompArchitectures(runtime.GOARCH),
		Syscalls: []rspec.LinuxSyscall{{
			Names: names, Action: rspec.ActErrno, ErrnoRet: &eperm,
		}},
	}
}

func seccompArchitectures(goarch string) []rspec.Arch {
	switch goarch {
	case "amd64":
		return []rspec.Arch{rspec.ArchX86_64, rspec.ArchX86, rspec.ArchX32}
	case "arm64":
		return []rspec.Arch{rspec.ArchAARCH64, rspec.ArchARM}
	case "386":
		return []rspec.Arch{rspec.ArchX86}
	}
	return nil // the native architecture only
}
