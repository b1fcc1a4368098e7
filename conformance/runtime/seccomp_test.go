package runtime_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func errnoRet(e unix.Errno) *uint { v := uint(e); return &v }

// TestSeccompActionsAndOperators: each action and argument operator, seen
// through the errno (or result) of a harmless system call made by the probe.
func TestSeccompActionsAndOperators(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	rule := func(name string, action specs.LinuxSeccompAction, errno *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: action, ErrnoRet: errno, Args: args}
	}
	arg := func(op specs.LinuxSeccompOperator, value, valueTwo uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: 0, Value: value, ValueTwo: valueTwo, Op: op}
	}
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			rule("sched_yield", specs.ActErrno, errnoRet(unix.EXDEV)),
			rule("sync", specs.ActErrno, nil),  // errno defaults to EPERM
			rule("alarm", specs.ActTrace, nil), // no tracer: ENOSYS
			rule("getuid", specs.ActLog, nil),  // allowed, logged
			rule("getpgid", specs.ActErrno, errnoRet(unix.EDOM), arg(specs.OpEqualTo, 12345, 0)),
			rule("getsid", specs.ActErrno, errnoRet(unix.ERANGE), arg(specs.OpNotEqual, 0, 0)),
			rule("sched_get_priority_max", specs.ActErrno, errnoRet(unix.EDEADLK), arg(specs.OpLessThan, 1, 0)),
			rule("sched_get_priority_min", specs.ActErrno, errnoRet(unix.ENAMETOOLONG), arg(specs.OpLessEqual, 1, 0)),
			rule("getpriority", specs.ActErrno, errnoRet(unix.ENOLCK), arg(specs.OpGreaterThan, 1, 0)),
			rule("dup", specs.ActErrno, errnoRet(unix.ENOTEMPTY), arg(specs.OpGreaterEqual, 100, 0)),
			rule("umask", specs.ActErrno, errnoRet(unix.ELOOP), arg(specs.OpMaskedEqual, 0o700, 0o700)),
		},
	}
	calls := map[string]string{ // call -> expected errno ("" = allowed)
		"sched_yield": "EXDEV", "sync": "EPERM", "alarm:0": "ENOSYS", "getuid": "",
		"getpgid:12345": "EDOM", "getpgid:0": "",
		"getsid:1": "ERANGE", "getsid:0": "",
		"sched_get_priority_max:0": "EDEADLK", "sched_get_priority_max:1": "",
		"sched_get_priority_min:1": "ENAMETOOLONG", "sched_get_priority_min:2": "",
		"getpriority:2:0": "ENOLCK", "getpriority:0:0": "",
		"dup:100": "ENOTEMPTY", "dup:1": "",
		"umask:0777": "ELOOP", "umask:022": "",
		"getppid": "",
	}
	var args []string
	for call := range calls {
		args = append(args, "--syscall", call)
	}
	rep := c.probe(args...)
	if rep.Seccomp != 2 {
		t.Errorf("seccomp mode %d, want 2 (filter)", rep.Seccomp)
	}
	for call, want := range calls {
		if got := rep.Syscalls[call]; got.Errno != want {
			t.Errorf("%s: errno %q (ret %d), want %q", call, got.Errno, got.Ret, want)
		}
	}
}

// TestSeccompFlags: the filter flags are accepted and the filter installed.
func TestSeccompFlags(t *testing.T) {
	t.Parallel()
	runcGap(t, `runc 1.1.5 refuses linux.seccomp.flags ("not yet supported")`)
	c := newContainer(t)
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: errnoRet(unix.EDOM)}},
	}
	rep := c.probe("--syscall", "getpgid:0")
	if rep.Seccomp != 2 || rep.Syscalls["getpgid:0"].Errno != "EDOM" {
		t.Errorf("seccomp mode %d, getpgid %+v; want a filter returning EDOM", rep.Seccomp, rep.Syscalls["getpgid:0"])
	}
}

// TestSeccompDefaultErrnoRet: defaultAction ERRNO with defaultErrnoRet
// applies to every system call not allowed by name.
func TestSeccompDefaultErrnoRet(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	// What the probe (a static Go program) and the runtime's last steps
	// before exec need; the calls the probe then makes are not in the list.
	allowed := []string{"read", "write", "openat", "open", "close", "fstat", "newfstatat", "statx", "lseek", "mmap", "munmap",
		"mprotect", "brk", "madvise", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clone", "clone3",
		"execve", "execveat", "exit", "exit_group", "futex", "getpid", "gettid", "tgkill", "tkill", "arch_prctl",
		"set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrlimit", "setrlimit", "sched_getaffinity", "getrandom",
		"nanosleep", "clock_gettime", "clock_nanosleep", "readlinkat", "readlink", "getdents64", "fcntl", "epoll_create1",
		"epoll_ctl", "epoll_pwait", "epoll_pwait2", "pipe2", "eventfd2", "ioctl", "uname", "getuid", "geteuid", "getgid",
		"getegid", "getgroups", "getppid", "getcwd", "pread64", "sched_getattr", "ioprio_get", "personality", "faccessat",
		"faccessat2", "access", "stat", "lstat", "capget", "capset", "prctl", "setgroups", "setuid", "setgid",
		"setresuid", "setresgid", "chdir", "fchdir", "getpgrp", "setsid", "dup3", "dup2", "wait4", "waitid", "kill",
		"sched_yield", "mlock", "munlock", "close_range", "pidfd_open", "pidfd_send_signal", "fstatfs", "statfs",
		"umask", "sigreturn"}
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(unix.EXDEV),
		Syscalls:        []specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}},
	}
	rep := c.probe("--syscall", "getpgid:0", "--syscall", "getppid")
	if got := rep.Syscalls["getpgid:0"]; got.Errno != "EXDEV" {
		t.Errorf("getpgid (not allowed): %+v, want EXDEV from defaultErrnoRet", got)
	}
	if got := rep.Syscalls["getppid"]; got.Errno != "" {
		t.Errorf("getppid (allowed): %+v", got)
	}
}

// seccompNotif and seccompNotifResp mirror struct seccomp_notif and
// struct seccomp_notif_resp from linux/seccomp.h.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const seccompUserNotifFlagContinue = 1

// TestSeccompNotify: with SCMP_ACT_NOTIFY the runtime sends the listener fd
// and the container process state to listenerPath; the agent's answers
// become the system call's results.
func TestSeccompNotify(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "sn")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	must(t, err)
	t.Cleanup(func() { l.Close() })

	type received struct {
		state specs.ContainerProcessState
		err   string
	}
	got := make(chan received, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- received{err: err.Error()}
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 64*1024), make([]byte, unix.CmsgSpace(4*4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- received{err: err.Error()}
			return
		}
		var r received
		if err := json.Unmarshal(buf[:n], &r.state); err != nil {
			r.err = "state is not JSON: " + err.Error()
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		var fds []int
		if len(msgs) == 1 {
			fds, _ = unix.ParseUnixRights(&msgs[0])
		}
		got <- r
		if len(fds) != 1 {
			return
		}
		defer unix.Close(fds[0])
		serveNotifications(fds[0])
	}()

	c := newContainer(t)
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     sock,
		ListenerMetadata: "agent-metadata",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"getpgid"}, Action: specs.ActNotify}},
	}
	c.Spec.Process.Args = []string{"/probe", "--syscall", "getpgid:4242", "--syscall", "getpgid:0"}
	r := c.run()
	var rec received
	select {
	case rec = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing arrived at listenerPath; run: %s", r.describe())
	}
	if rec.err != "" {
		t.Fatalf("seccomp agent: %s", rec.err)
	}
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	st := rec.state
	if len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName || st.Pid <= 0 || st.Metadata != "agent-metadata" || st.State.ID != c.ID {
		t.Errorf("container process state sent to the agent: %+v", st)
	}
	rep := parseReport(t, r.Stdout)
	// The agent answers getpgid(4242) with 777 and lets getpgid(0) through.
	if res := rep.Syscalls["getpgid:4242"]; res.Ret != 777 || res.Errno != "" {
		t.Errorf("notified getpgid(4242): %+v, want the agent's 777", res)
	}
	if res := rep.Syscalls["getpgid:0"]; res.Errno != "" || res.Ret <= 0 {
		t.Errorf("notified getpgid(0), continued by the agent: %+v", res)
	}
}

// serveNotifications answers getpgid(4242) with 777 and lets every other
// notified call continue, until the listener is closed.
func serveNotifications(fd int) {
	for {
		var req seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return
		}
		resp := seccompNotifResp{ID: req.ID, Flags: seccompUserNotifFlagContinue}
		if req.Args[0] == 4242 {
			resp = seccompNotifResp{ID: req.ID, Val: 777}
		}
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
}

// seccompCacheDir is where berth keeps compiled profiles under --root.
const seccompCacheDir = "@seccomp"

// TestSeccompCompiledOnce: a second container (and every exec) with the
// same profile gets the program berth compiled for the first, from the
// cache under --root, and it filters the same; a corrupt cache entry is
// compiled again, never loaded.
func TestSeccompCompiledOnce(t *testing.T) {
	t.Parallel()
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno,
			ErrnoRet: errnoRet(unix.EXDEV)}},
	}
	first := newContainer(t, "/bin/sleep", "1000")
	first.Spec.Linux.Seccomp = profile
	mkdirFails := func(c *container, how string, r result) {
		t.Helper()
		if !strings.Contains(r.Stdout+r.Stderr, "Invalid cross-device link") {
			t.Errorf("%s: mkdir was not refused with EXDEV by the profile: %s", how, r.describe())
		}
	}
	first.mustCreate()
	first.start()
	mkdirFails(first, "exec into the first container", first.rt("exec", first.ID, "mkdir", "/tmp/d"))
	cache := filepath.Join(first.Root, seccompCacheDir)
	entries, err := os.ReadDir(cache)
	if !isRunc() && (err != nil || len(entries) != 1) {
		t.Fatalf("berth keeps the compiled profile in %s: %v %v", cache, entries, err)
	}

	second := newContainer(t, "/bin/sh", "-c", "mkdir /tmp/d")
	second.Root = first.Root
	second.Spec.Linux.Seccomp = profile
	mkdirFails(second, "a second container, same profile", second.run())

	if !isRunc() {
		must(t, os.WriteFile(filepath.Join(cache, entries[0].Name()), []byte("BRTHBPF1 not a program"), 0o600))
	}
	third := newContainer(t, "/bin/sh", "-c", "mkdir /tmp/d")
	third.Root = first.Root
	third.Spec.Linux.Seccomp = profile
	mkdirFails(third, "after the cache entry was corrupted", third.run())
}
