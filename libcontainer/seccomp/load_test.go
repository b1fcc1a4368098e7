package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	berthspecs "github.com/berthproject/berth/specs"
)

// The load tests re-execute the test binary: the child loads the profile
// given in childProfileEnv, as the container init would, and then either
// execs a program ("exec", path, args...) or runs probes ("probe", ...)
// and prints the errno of each, one per line. A listener fd, if any, is
// sent over fd 3 like the init hands it to the runtime; children of tests
// without SCMP_ACT_NOTIFY have no fd 3, so a listener fd returned by
// mistake fails them.
const childProfileEnv = "BERTH_SECCOMP_TEST_PROFILE"

// childPrivEnv makes the child set no_new_privs ("nnp") and/or drop
// CAP_SYS_ADMIN ("noadmin") before loading, like the init may.
const childPrivEnv = "BERTH_SECCOMP_TEST_PRIV"

func TestMain(m *testing.M) {
	if profile := os.Getenv(childProfileEnv); profile != "" {
		os.Exit(child(profile, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func child(profile string, args []string) int {
	runtime.LockOSThread()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", a...)
		return 100
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(profile), &cfg); err != nil {
		return fail("decode profile: %v", err)
	}
	// Probes resolve names before the filter may deny what that needs.
	probes, err := parseProbes(args[1:])
	if args[0] == "probe" && err != nil {
		return fail("%v", err)
	}
	f, err := Compile(&cfg)
	if err != nil {
		return fail("%v", err)
	}
	if err := setPrivileges(os.Getenv(childPrivEnv)); err != nil {
		return fail("%v", err)
	}
	fd, err := load(f)
	if err != nil {
		return fail("%v", err)
	}
	if fd >= 0 {
		// The listener must not leak into the container's program.
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			return fail("listener fd %d is not close-on-exec (flags %#x, %v)", fd, flags, err)
		}
		if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
			return fail("send listener fd: %v", err)
		}
		unix.Close(fd)
	}
	switch args[0] {
	case "exec":
		return fail("exec %v: %v", args[1:], unix.Exec(args[1], args[1:], os.Environ()))
	case "probe":
		var out strings.Builder
		for _, p := range probes {
			fmt.Fprintln(&out, int(p()))
		}
		os.Stdout.WriteString(out.String())
		return 0
	}
	return fail("unknown mode %q", args[0])
}

func setPrivileges(what string) error {
	if strings.Contains(what, "nnp") {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if strings.Contains(what, "noadmin") {
		// Capabilities are per thread; Load runs on this locked thread.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capget: %w", err)
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
	}
	return nil
}

// parseProbes turns "mkdir:PATH" and "sys:NAME:ARG..." (integer args) into
// functions that make the syscall and return its errno.
func parseProbes(specs []string) ([]func() unix.Errno, error) {
	var probes []func() unix.Errno
	for _, s := range specs {
		f := strings.Split(s, ":")
		switch {
		case f[0] == "mkdir" && len(f) == 2:
			probes = append(probes, func() unix.Errno { return errnoOf(unix.Mkdir(f[1], 0o755)) })
		case f[0] == "sys" && len(f) >= 2 && len(f) <= 8:
			nr, err := libseccomp.GetSyscallFromName(f[1])
			if err != nil {
				return nil, fmt.Errorf("probe %q: %v", s, err)
			}
			var a [6]uintptr
			for i, v := range f[2:] {
				n, err := strconv.ParseUint(v, 0, 64)
				if err != nil {
					return nil, fmt.Errorf("probe %q: %v", s, err)
				}
				a[i] = uintptr(n)
			}
			probes = append(probes, func() unix.Errno {
				_, _, e := unix.Syscall6(uintptr(nr), a[0], a[1], a[2], a[3], a[4], a[5])
				return e
			})
		default:
			return nil, fmt.Errorf("bad probe %q", s)
		}
	}
	return probes, nil
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	return err.(unix.Errno)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("loading seccomp filters without no_new_privs needs root (CAP_SYS_ADMIN)")
	}
}

// childCmd prepares a child that loads cfg; args are as for child.
func childCmd(t *testing.T, cfg *specs.LinuxSeccomp, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	requireRoot(t)
	profile, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childProfileEnv+"="+string(profile))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// probe runs probes in a child that loaded cfg and returns their errnos.
func probe(t *testing.T, cfg *specs.LinuxSeccomp, probes ...string) []unix.Errno {
	t.Helper()
	cmd, stdout, stderr := childCmd(t, cfg, append([]string{"probe"}, probes...)...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstderr: %s", err, stderr)
	}
	return parseErrnos(t, stdout.String())
}

func parseErrnos(t *testing.T, out string) []unix.Errno {
	t.Helper()
	var errnos []unix.Errno
	for _, line := range strings.Fields(out) {
		n, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("bad child output %q", out)
		}
		errnos = append(errnos, unix.Errno(n))
	}
	return errnos
}

func wantErrnos(t *testing.T, probes []string, got []unix.Errno, want ...unix.Errno) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: got errno %d (%v), want %d (%v)", probes[i], got[i], got[i], want[i], want[i])
		}
	}
}

// dupRule makes dup(2) fail with EXDEV when its args match. dup of a
// closed fd fails with EBADF, which tells "allowed" from "filtered".
func dupRule(name string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, ErrnoRet: uintPtr(uint(unix.EXDEV)), Args: args}
}

func TestLoadErrnoRet(t *testing.T) {
	probes := []string{"sys:getppid", "sys:dup:1000"}
	got := probe(t, allow(dupRule("getppid")), probes...)
	wantErrnos(t, probes, got, unix.EXDEV, unix.EBADF)

	// Without errnoRet, SCMP_ACT_ERRNO returns EPERM.
	got = probe(t, allow(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActErrno}), probes...)
	wantErrnos(t, probes, got, unix.EPERM, unix.EBADF)
}

func TestLoadArgConditions(t *testing.T) {
	arg := func(index uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: index, Op: op, Value: v, ValueTwo: v2}
	}
	const X, B = unix.EXDEV, unix.EBADF // filtered, allowed
	tests := []struct {
		name   string
		rule   specs.LinuxSyscall
		probes []string
		want   []unix.Errno
	}{
		{"NE", dupRule("dup", arg(0, specs.OpNotEqual, 1000, 0)), []string{"sys:dup:1000", "sys:dup:1001"}, []unix.Errno{B, X}},
		{"LT", dupRule("dup", arg(0, specs.OpLessThan, 1000, 0)), []string{"sys:dup:999", "sys:dup:1000"}, []unix.Errno{X, B}},
		{"LE", dupRule("dup", arg(0, specs.OpLessEqual, 1000, 0)), []string{"sys:dup:1000", "sys:dup:1001"}, []unix.Errno{X, B}},
		{"EQ", dupRule("dup", arg(0, specs.OpEqualTo, 1000, 0)), []string{"sys:dup:999", "sys:dup:1000", "sys:dup:1001"}, []unix.Errno{B, X, B}},
		{"GE", dupRule("dup", arg(0, specs.OpGreaterEqual, 1000, 0)), []string{"sys:dup:999", "sys:dup:1000"}, []unix.Errno{B, X}},
		{"GT", dupRule("dup", arg(0, specs.OpGreaterThan, 1000, 0)), []string{"sys:dup:1000", "sys:dup:1001"}, []unix.Errno{B, X}},
		// value is the mask, valueTwo the expected masked value; 0x13ff
		// would match if the two were swapped.
		{"MASKED_EQ", dupRule("dup", arg(0, specs.OpMaskedEqual, 0xff00, 0x300)),
			[]string{"sys:dup:0x3ff", "sys:dup:0x4ff", "sys:dup:0x13ff"}, []unix.Errno{X, B, B}},
		{"args are ANDed", dupRule("dup3", arg(0, specs.OpEqualTo, 1000, 0), arg(1, specs.OpEqualTo, 1001, 0)),
			[]string{"sys:dup3:1000:1001:0", "sys:dup3:1000:1002:0", "sys:dup3:999:1001:0"}, []unix.Errno{X, B, B}},
		{"same argument twice is ORed", dupRule("dup", arg(0, specs.OpEqualTo, 1000, 0), arg(0, specs.OpEqualTo, 1002, 0)),
			[]string{"sys:dup:1000", "sys:dup:1001", "sys:dup:1002"}, []unix.Errno{X, B, X}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrnos(t, tt.probes, probe(t, allow(tt.rule), tt.probes...), tt.want...)
		})
	}
}

func TestLoadOtherActions(t *testing.T) {
	probes := []string{"sys:getppid", "sys:dup:1000"}
	// LOG lets the call through.
	got := probe(t, allow(specs.LinuxSyscall{Names: []string{"getppid", "dup"}, Action: specs.ActLog}), probes...)
	wantErrnos(t, probes, got, 0, unix.EBADF)
	// TRACE without a tracer attached fails the call with ENOSYS.
	got = probe(t, allow(specs.LinuxSyscall{Names: []string{"dup"}, Action: specs.ActTrace}), probes...)
	wantErrnos(t, probes, got, 0, unix.ENOSYS)
}

// TestLoadDefaultErrno allows every syscall libseccomp knows on this
// architecture except getppid and dup, which get the default action.
func TestLoadDefaultErrno(t *testing.T) {
	var names []string
	for nr := range 1024 {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err == nil && name != "getppid" && name != "dup" {
			names = append(names, name)
		}
	}
	if len(names) < 300 {
		t.Fatalf("only %d syscalls known to libseccomp", len(names))
	}
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintPtr(uint(unix.ENOTTY))}
	for _, n := range names {
		// One entry per name also exercises the binary tree optimisation.
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{n}, Action: specs.ActAllow})
	}
	probes := []string{"sys:getppid", "sys:dup:1000", "sys:getpid", "sys:dup2:1000:1001"}
	wantErrnos(t, probes, probe(t, cfg, probes...), unix.ENOTTY, unix.ENOTTY, 0, unix.EBADF)
}

// TestLoadPrivileges checks the rule the init must follow: without
// no_new_privs, loading needs CAP_SYS_ADMIN.
func TestLoadPrivileges(t *testing.T) {
	cfg := allow(dupRule("getppid"))
	t.Run("no_new_privs without CAP_SYS_ADMIN", func(t *testing.T) {
		t.Setenv(childPrivEnv, "nnp,noadmin")
		probes := []string{"sys:getppid"}
		wantErrnos(t, probes, probe(t, cfg, probes...), unix.EXDEV)
	})
	t.Run("neither", func(t *testing.T) {
		t.Setenv(childPrivEnv, "noadmin")
		ws, stderr := runExit(t, cfg, "probe", "sys:getppid")
		want := "child: load seccomp filter: permission denied (without no_new_privs this needs CAP_SYS_ADMIN)\n"
		if !ws.Exited() || ws.ExitStatus() != 100 || stderr != want {
			t.Fatalf("child ended with %v, stderr %q; want exit 100 and %q", ws, stderr, want)
		}
	})
}

// runExit runs a child and returns how it ended.
func runExit(t *testing.T, cfg *specs.LinuxSeccomp, args ...string) (ws syscall.WaitStatus, stderr string) {
	t.Helper()
	cmd, _, errBuf := childCmd(t, cfg, args...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus), errBuf.String()
}

func TestLoadKillProcess(t *testing.T) {
	ws, stderr := runExit(t, allow(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActKillProcess}), "probe", "sys:getppid")
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child ended with %v, want killed by SIGSYS; stderr: %s", ws, stderr)
	}
}

func TestLoadTrap(t *testing.T) {
	// TRAP sends a catchable SIGSYS; the Go runtime reports it and exits 2.
	ws, stderr := runExit(t, allow(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActTrap}), "probe", "sys:getppid")
	if !ws.Exited() || ws.ExitStatus() != 2 || !strings.Contains(stderr, "SIGSYS") {
		t.Fatalf("child ended with %v, want exit 2 reporting SIGSYS; stderr: %s", ws, stderr)
	}
}

// TestLoadBusybox execs a real program after loading, as the init does.
func TestLoadBusybox(t *testing.T) {
	dir := t.TempDir()
	deny := func(act specs.LinuxSeccompAction, errnoRet *uint) *specs.LinuxSeccomp {
		return allow(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: act, ErrnoRet: errnoRet})
	}

	t.Run("errno", func(t *testing.T) {
		target := dir + "/errno"
		ws, stderr := runExit(t, deny(specs.ActErrno, uintPtr(uint(unix.EXDEV))), "exec", "/bin/busybox", "mkdir", target)
		if !ws.Exited() || ws.ExitStatus() != 1 {
			t.Fatalf("busybox mkdir ended with %v, want exit 1; stderr: %s", ws, stderr)
		}
		if !strings.Contains(strings.ToLower(stderr), unix.EXDEV.Error()) {
			t.Errorf("busybox stderr %q does not report %q", stderr, unix.EXDEV.Error())
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s was created (stat: %v)", target, err)
		}
	})
	t.Run("kill", func(t *testing.T) {
		ws, stderr := runExit(t, deny(specs.ActKill, nil), "exec", "/bin/busybox", "mkdir", dir+"/kill")
		if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
			t.Fatalf("busybox mkdir ended with %v, want killed by SIGSYS; stderr: %s", ws, stderr)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		ws, stderr := runExit(t, deny(specs.ActErrno, nil), "exec", "/bin/busybox", "rmdir", dir)
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("busybox rmdir ended with %v, want success; stderr: %s", ws, stderr)
		}
	})
}

// TestDefaultProfile: the profile berth-image writes compiles on this
// libseccomp, denies what it lists with EPERM and lets ordinary calls by.
func TestDefaultProfile(t *testing.T) {
	probes := []string{"sys:keyctl", "sys:getppid", "sys:perf_event_open", "mkdir:" + filepath.Join(t.TempDir(), "ok")}
	got := probe(t, berthspecs.DefaultSeccomp(), probes...)
	wantErrnos(t, probes, got, unix.EPERM, 0, unix.EPERM, 0)
}
