// Command probe runs inside a container under test and prints, as one JSON
// document (conformance/probe/report.Report), what the container looks like
// from inside. It is built static and copied into each test rootfs as /probe.
//
// Requests (each may be repeated):
//
//	--stat PATH        lstat PATH (and readlink it if it is a symlink)
//	--read PATH        read the contents of PATH
//	--write PATH       try to create/truncate PATH and write to it
//	--sysctl NAME      read /proc/sys/NAME (dots become slashes)
//	--syscall SPEC     make a raw system call: NAME[:ARG0[:ARG1...]], numeric args
//	--exec PATH        try to execute PATH (no arguments) and wait for it
//	--sleep SECONDS    sleep after printing the report
//	--exit CODE        exit with CODE after printing (and sleeping)
//
// Note: the Go runtime raises the soft RLIMIT_NOFILE to the hard limit at
// start-up, so the reported soft NOFILE limit is not what the runtime set;
// suites read /proc/self/limits through a non-Go program for that.
//
// The Go runtime would otherwise keep cgroup CPU files open for its
// GOMAXPROCS updates, which the fd-leak checks would mistake for leaks.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/conformance/probe/report"
	"golang.org/x/sys/unix"
)

func main() {
	// List fds before the Go runtime or this program opens anything else.
	fds := openFDs()

	r := report.Report{
		Args: os.Args,
		Env:  os.Environ(),
		PID:  os.Getpid(),
		PPID: unix.Getppid(),
		UID:  unix.Getuid(), GID: unix.Getgid(),
		EUID: unix.Geteuid(), EGID: unix.Getegid(),
		FDs: fds,
	}
	r.Cwd, _ = unix.Getwd()
	r.Groups, _ = unix.Getgroups()
	if r.Groups == nil {
		r.Groups = []int{}
	}
	readStatus(&r)
	r.Rlimits = rlimits()
	r.OOMScoreAdj, _ = strconv.Atoi(strings.TrimSpace(readString("/proc/self/oom_score_adj")))
	r.Sched = sched()
	r.IOPrio = ioprio()
	p, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	r.Personality = uint32(p)
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		r.Hostname = unix.ByteSliceToString(uts.Nodename[:])
		r.Domainname = unix.ByteSliceToString(uts.Domainname[:])
	}
	r.SessionKeyring, r.SessionKeyringDesc = sessionKeyring()
	r.LoopbackUp = loopbackUp()
	r.Namespaces = namespaces()
	r.Mounts = mounts()
	r.Cgroup = lines(readString("/proc/self/cgroup"))
	r.Monotonic = clock(unix.CLOCK_MONOTONIC)
	r.Boottime = clock(unix.CLOCK_BOOTTIME)
	for fd := 0; fd < 3; fd++ {
		r.TTY[fd] = tty(fd)
	}

	sleep, exit := handleRequests(&r, os.Args[1:])

	out, err := json.Marshal(&r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(125)
	}
	os.Stdout.Write(append(out, '\n'))
	time.Sleep(sleep)
	os.Exit(exit)
}

// handleRequests performs the requests in argument order and returns how long
// to sleep and the exit code.
func handleRequests(r *report.Report, args []string) (sleep time.Duration, exit int) {
	for i := 0; i < len(args); i++ {
		flag := args[i]
		if i+1 >= len(args) {
			fatalf("%s needs a value", flag)
		}
		i++
		v := args[i]
		switch flag {
		case "--stat":
			put(&r.Stats, v, statPath(v))
		case "--read":
			put(&r.Files, v, readResult(v))
		case "--write":
			put(&r.Writes, v, writeResult(v))
		case "--sysctl":
			put(&r.Sysctls, v, readResult("/proc/sys/"+strings.ReplaceAll(v, ".", "/")))
		case "--syscall":
			put(&r.Syscalls, v, rawSyscall(v))
		case "--exec":
			put(&r.Execs, v, execResult(v))
		case "--sleep":
			s, err := strconv.ParseFloat(v, 64)
			if err != nil {
				fatalf("--sleep %q: %v", v, err)
			}
			sleep = time.Duration(s * float64(time.Second))
		case "--exit":
			n, err := strconv.Atoi(v)
			if err != nil {
				fatalf("--exit %q: %v", v, err)
			}
			exit = n
		default:
			fatalf("unknown request %q", flag)
		}
	}
	return sleep, exit
}

func put[T any](m *map[string]T, k string, v T) {
	if *m == nil {
		*m = map[string]T{}
	}
	(*m)[k] = v
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "probe: "+format+"\n", a...)
	os.Exit(125)
}

// errName reports an error as its errno name (EROFS) when it has one.
func errName(err error) string {
	if err == nil {
		return ""
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return err.Error()
}

// openFDs lists /proc/self/fd with raw system calls so that nothing but the
// directory fd itself (which is left out) is open while listing.
func openFDs() map[int]string {
	fds := map[int]string{}
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fds[-1] = "error: " + errName(err)
		return fds
	}
	defer unix.Close(dir)
	buf := make([]byte, 8192)
	var names []string
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dir {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			target = "error: " + errName(err)
		}
		fds[fd] = target
	}
	return fds
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func lines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readStatus takes the capability sets, umask, no_new_privs and seccomp mode
// from /proc/self/status.
func readStatus(r *report.Report) {
	r.Caps = map[string][]string{}
	capSets := map[string]string{
		"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective",
		"CapBnd": "bounding", "CapAmb": "ambient",
	}
	for _, l := range lines(readString("/proc/self/status")) {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Umask":
			r.Umask = v
		case "NoNewPrivs":
			r.NoNewPrivs, _ = strconv.Atoi(v)
		case "Seccomp":
			r.Seccomp, _ = strconv.Atoi(v)
		default:
			if set, ok := capSets[k]; ok {
				mask, _ := strconv.ParseUint(v, 16, 64)
				r.Caps[set] = report.CapabilitySet(mask)
			}
		}
	}
}

var rlimitNames = []string{
	"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
	"RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
	"RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
	"RLIMIT_RTPRIO", "RLIMIT_RTTIME",
}

func rlimits() map[string]report.Rlimit {
	out := map[string]report.Rlimit{}
	for res, name := range rlimitNames {
		var rl unix.Rlimit
		if unix.Getrlimit(res, &rl) == nil {
			out[name] = report.Rlimit{Soft: rl.Cur, Hard: rl.Max}
		}
	}
	return out
}

var schedPolicies = map[uint32]string{
	0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH",
	4: "SCHED_ISO", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE",
}

func sched() report.Sched {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return report.Sched{Error: errName(err)}
	}
	return report.Sched{
		Policy: schedPolicies[a.Policy], Flags: a.Flags, Nice: a.Nice,
		Priority: a.Priority, Runtime: a.Runtime, Deadline: a.Deadline, Period: a.Period,
	}
}

var ioprioClasses = []string{"IOPRIO_CLASS_NONE", "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"}

func ioprio() report.IOPrio {
	const whoProcess = 1
	v, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, whoProcess, 0, 0)
	if errno != 0 {
		return report.IOPrio{Error: errName(errno)}
	}
	class := int(v >> 13)
	name := "IOPRIO_CLASS_" + strconv.Itoa(class)
	if class < len(ioprioClasses) {
		name = ioprioClasses[class]
	}
	return report.IOPrio{Class: name, Priority: int(v & 0x1fff)}
}

func namespaces() map[string]uint64 {
	out := map[string]uint64{}
	entries, _ := os.ReadDir("/proc/self/ns")
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Stat("/proc/self/ns/"+e.Name(), &st) == nil {
			out[e.Name()] = st.Ino
		}
	}
	return out
}

// mounts parses /proc/self/mountinfo (see proc(5)).
func mounts() []report.Mount {
	out := []report.Mount{}
	for _, l := range lines(readString("/proc/self/mountinfo")) {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		m := report.Mount{
			Root: unescape(f[3]), Mountpoint: unescape(f[4]),
			Options: strings.Split(f[5], ","), FSType: g[0], Source: unescape(g[1]),
			SuperOptions: strings.Split(g[2], ","),
		}
		m.ID, _ = strconv.Atoi(f[0])
		m.Parent, _ = strconv.Atoi(f[1])
		m.Propagation = propagation(f[6:])
		out = append(out, m)
	}
	return out
}

func propagation(optional []string) string {
	var kinds []string
	for _, o := range optional {
		switch {
		case strings.HasPrefix(o, "shared:"):
			kinds = append(kinds, "shared")
		case strings.HasPrefix(o, "master:"):
			kinds = append(kinds, "slave")
		case o == "unbindable":
			kinds = append(kinds, "unbindable")
		}
	}
	if len(kinds) == 0 {
		return "private"
	}
	return strings.Join(kinds, ",")
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func clock(id int32) float64 {
	var ts unix.Timespec
	if unix.ClockGettime(id, &ts) != nil {
		return -1
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func tty(fd int) report.TTY {
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return report.TTY{}
	}
	t := report.TTY{IsTTY: true}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		t.Rows, t.Cols = ws.Row, ws.Col
	}
	return t
}

func statPath(path string) report.Stat {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return report.Stat{Error: errName(err)}
	}
	s := report.Stat{
		Mode: st.Mode & 07777, UID: st.Uid, GID: st.Gid, Size: st.Size,
		Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		s.Type = "file"
	case unix.S_IFDIR:
		s.Type = "dir"
	case unix.S_IFLNK:
		s.Type = "symlink"
		s.Target, _ = os.Readlink(path)
	case unix.S_IFCHR:
		s.Type = "char"
	case unix.S_IFBLK:
		s.Type = "block"
	case unix.S_IFIFO:
		s.Type = "fifo"
	case unix.S_IFSOCK:
		s.Type = "socket"
	}
	return s
}

func readResult(path string) report.Result {
	b, err := os.ReadFile(path)
	if err != nil {
		return report.Result{Error: errName(err)}
	}
	return report.Result{Content: string(b)}
}

func writeResult(path string) report.Result {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return report.Result{Error: errName(err)}
	}
	defer f.Close()
	if _, err := f.WriteString("probe\n"); err != nil {
		return report.Result{Error: errName(err)}
	}
	return report.Result{}
}

func execResult(path string) report.Result {
	p, err := os.StartProcess(path, []string{path}, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
	if err != nil {
		return report.Result{Error: errName(err)}
	}
	st, err := p.Wait()
	if err != nil {
		return report.Result{Error: errName(err)}
	}
	return report.Result{Content: "exit " + strconv.Itoa(st.ExitCode())}
}

// syscallNumbers are the system calls --syscall can make: ones that take only
// numbers and are harmless, so seccomp rules (including argument filters)
// can be observed.
var syscallNumbers = map[string]uintptr{
	"getpid": unix.SYS_GETPID, "getppid": unix.SYS_GETPPID, "getuid": unix.SYS_GETUID,
	"getgid": unix.SYS_GETGID, "getpgid": unix.SYS_GETPGID, "getsid": unix.SYS_GETSID,
	"getpriority": unix.SYS_GETPRIORITY, "sync": unix.SYS_SYNC, "umask": unix.SYS_UMASK,
	"alarm":                  unix.SYS_ALARM,
	"sched_get_priority_max": unix.SYS_SCHED_GET_PRIORITY_MAX,
	"sched_get_priority_min": unix.SYS_SCHED_GET_PRIORITY_MIN,
	"sched_yield":            unix.SYS_SCHED_YIELD, "dup": unix.SYS_DUP, "close": unix.SYS_CLOSE,
	"personality": unix.SYS_PERSONALITY, "unshare": unix.SYS_UNSHARE,
	"setns": unix.SYS_SETNS, "setpgid": unix.SYS_SETPGID,
}

func rawSyscall(spec string) report.Syscall {
	parts := strings.Split(spec, ":")
	nr, ok := syscallNumbers[parts[0]]
	if !ok {
		fatalf("--syscall: unsupported system call %q", parts[0])
	}
	var args [6]uintptr
	for i, a := range parts[1:] {
		v, err := strconv.ParseUint(a, 0, 64)
		if err != nil || i >= len(args) {
			fatalf("--syscall %q: bad argument %q", spec, a)
		}
		args[i] = uintptr(v)
	}
	ret, _, errno := unix.Syscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	s := report.Syscall{Ret: int64(ret)}
	if errno != 0 {
		s.Ret, s.Errno = -1, errName(errno)
	}
	return s
}

// sessionKeyring returns the session keyring's serial and description
// without creating one.
func sessionKeyring() (int32, string) {
	id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		return 0, ""
	}
	desc, _ := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	return int32(id), desc
}

// loopbackUp reports whether "lo" has IFF_UP.
func loopbackUp() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil || unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr) != nil {
		return false
	}
	return ifr.Uint16()&unix.IFF_UP != 0
}
