package seccomp

import (
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func uintPtr(v uint) *uint { return &v }

// allow returns a profile that allows everything except what syscalls say.
func allow(syscalls ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: syscalls}
}

func TestValidateRejects(t *testing.T) {
	dup := func(args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{"dup"}, Action: specs.ActErrno, Args: args}
	}
	tests := []struct {
		name string
		cfg  *specs.LinuxSeccomp
		want string
	}{
		{"nil profile", nil, "linux.seccomp: no profile given"},
		{"unknown default action",
			&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"},
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"notify as default",
			&specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/run/agent.sock"},
			"linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the init could not hand over the listener fd)"},
		{"default errno on allow",
			&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintPtr(1)},
			"linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW"},
		{"unknown architecture",
			&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, "SCMP_ARCH_VAX"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		{"unknown flag",
			&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_FOO"}},
			`linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{"unknown syscall",
			allow(dup(), dup(), dup(), specs.LinuxSyscall{Names: []string{"getpid", "foo"}, Action: specs.ActErrno}),
			`linux.seccomp.syscalls[3].names[1]: unknown syscall "foo"`},
		{"no names",
			allow(specs.LinuxSyscall{Action: specs.ActErrno}),
			"linux.seccomp.syscalls[0].names: must list at least one syscall"},
		{"unknown action",
			allow(dup(), specs.LinuxSyscall{Names: []string{"getpid"}, Action: "SCMP_ACT_FOO"}),
			`linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO"`},
		{"errno on kill",
			allow(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActKill, ErrnoRet: uintPtr(1)}),
			"linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_KILL"},
		{"errno too big",
			allow(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: uintPtr(70000)}),
			"linux.seccomp.syscalls[0].errnoRet: 70000 does not fit in 16 bits"},
		{"unknown operator",
			allow(dup(specs.LinuxSeccompArg{Index: 0, Op: specs.OpEqualTo}, specs.LinuxSeccompArg{Index: 1, Op: "SCMP_CMP_FOO"})),
			`linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_FOO"`},
		{"argument index out of range",
			allow(dup(specs.LinuxSeccompArg{Index: 6, Op: specs.OpEqualTo})),
			"linux.seccomp.syscalls[0].args[0].index: 6 is out of range, syscalls have arguments 0 to 5"},
		{"notify without listener",
			allow(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}),
			"linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used"},
		{"notify on write",
			&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "write"}, Action: specs.ActNotify}}},
			`linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for "write" (the init needs it to hand over the listener fd)`},
		{"incompatible architecture",
			// s390x is big-endian; libseccomp cannot mix it with the
			// little-endian native architecture of the test machines.
			&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchS390X}},
			"linux.seccomp.architectures[0]: cannot add SCMP_ARCH_S390X: numerical argument out of domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cfg)
			if err == nil {
				t.Fatalf("Validate succeeded, want error %q", tt.want)
			}
			if want := "config.json: " + tt.want; err.Error() != want {
				t.Fatalf("Validate error\n got: %s\nwant: %s", err, want)
			}
		})
	}
}

// TestValidateFlagSupport checks that each known flag is accepted exactly
// when Features reports it as supported, with a clear error otherwise.
func TestValidateFlagSupport(t *testing.T) {
	feat := Features()
	for _, fl := range feat.KnownFlags {
		err := Validate(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlag(fl)}})
		if slices.Contains(feat.SupportedFlags, fl) {
			if err != nil {
				t.Errorf("%s: supported flag rejected: %v", fl, err)
			}
		} else if err == nil || !strings.HasPrefix(err.Error(), "config.json: linux.seccomp.flags[0]: "+fl+" is not supported: ") {
			t.Errorf("%s: unsupported flag, got error %v", fl, err)
		}
	}
	// These work with libseccomp >= 2.5 on any kernel from the last years.
	for _, fl := range []string{string(flagTsync), string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow)} {
		if !slices.Contains(feat.SupportedFlags, fl) {
			t.Errorf("flag %s is not supported", fl)
		}
	}
}

// TestCompileAcceptsWholeProfile uses every action, operator and a
// Docker-sized rule list, including the cases that need special handling.
func TestCompileAcceptsWholeProfile(t *testing.T) {
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintPtr(38),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Flags:           []specs.LinuxSeccompFlag{flagTsync, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		ListenerPath:    "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getpid"}, Action: specs.ActKill},
			{Names: []string{"getppid"}, Action: specs.ActKillProcess},
			{Names: []string{"gettid"}, Action: specs.ActKillThread},
			{Names: []string{"getuid"}, Action: specs.ActTrap},
			{Names: []string{"getgid"}, Action: specs.ActErrno, ErrnoRet: uintPtr(1)},
			{Names: []string{"geteuid"}, Action: specs.ActTrace, ErrnoRet: uintPtr(7)},
			{Names: []string{"getegid"}, Action: specs.ActLog},
			{Names: []string{"mkdir"}, Action: specs.ActNotify},
			// Same action as the default: dropped, not an error.
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: uintPtr(38)},
			// Exists on x86 only (a pseudo syscall on x86_64).
			{Names: []string{"socketcall"}, Action: specs.ActAllow},
			// Two conditions on argument 0: split into two rules.
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo},
				{Index: 0, Value: 8, Op: specs.OpEqualTo},
			}},
		},
	}
	for i, op := range sortedNames(operators) {
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{
			Names:  []string{"dup3"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: uint(i % maxArgs), Value: 0xff, ValueTwo: 1, Op: specs.LinuxSeccompOperator(op)}},
		})
	}
	for _, name := range []string{"read", "write", "openat", "close", "fstat", "mmap", "munmap", "brk", "rt_sigaction",
		"rt_sigprocmask", "ioctl", "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield",
		"mremap", "msync", "mincore", "madvise", "dup", "dup2", "pause", "nanosleep", "getitimer", "alarm", "setitimer"} {
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow})
	}
	f, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !f.notify {
		t.Error("filter with SCMP_ACT_NOTIFY not marked as notifying")
	}
	f.Release()
	if err := f.Export(); err == nil || err.Error() != "seccomp: filter already loaded or released" {
		t.Fatalf("Export after Release: got %v", err)
	}
}

func TestFeatures(t *testing.T) {
	feat := Features()
	if feat.Enabled == nil || !*feat.Enabled {
		t.Error("seccomp not reported as enabled")
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %v lacks %s", what, got, w)
			}
		}
	}
	if len(feat.Actions) != 9 || len(feat.Operators) != 7 {
		t.Errorf("want 9 actions and 7 operators, got %v and %v", feat.Actions, feat.Operators)
	}
	check("actions", feat.Actions, "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
		"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
	check("operators", feat.Operators, "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
		"SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
	check("known flags", feat.KnownFlags, "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
		"SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
	check("archs", feat.Archs, "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32")
	if slices.Contains(feat.Archs, "SCMP_ARCH_S390X") {
		t.Errorf("archs %v lists big-endian s390x, which cannot join this little-endian host's filter", feat.Archs)
	}
	// Every listed arch must really be accepted in a profile.
	for _, a := range feat.Archs {
		if err := Validate(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.Arch(a)}}); err != nil {
			t.Errorf("listed arch %s rejected: %v", a, err)
		}
	}
}

// TestCheckReportsAll: Check goes on past the first problem and names
// config.json and the JSON path of each.
func TestCheckReportsAll(t *testing.T) {
	cfg := &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS", Architectures: []specs.Arch{"SCMP_ARCH_BOGUS"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getpid", "no_such_syscall"}, Action: "SCMP_ACT_NOPE"},
			{Names: []string{"dup"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 9, Op: specs.OpEqualTo}}},
		}}
	err := Check(cfg)
	want := []string{
		`config.json: linux.seccomp.defaultAction: unknown action "SCMP_ACT_BOGUS"`,
		`config.json: linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_BOGUS"`,
		`config.json: linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_NOPE"`,
		`config.json: linux.seccomp.syscalls[0].names[1]: unknown syscall "no_such_syscall"`,
		`config.json: linux.seccomp.syscalls[1].args[0].index: 9 is out of range, syscalls have arguments 0 to 5`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("Check:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if err := Check(allow(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActErrno})); err != nil {
		t.Fatalf("Check of a good profile: %v", err)
	}
	if err := Check(nil); err != nil {
		t.Fatalf("Check(nil): %v", err)
	}
}
