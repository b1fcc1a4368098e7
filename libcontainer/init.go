package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/hooks"
	"github.com/berthproject/berth/libcontainer/lsm"
)

// initSyncEnv names the child's fd of the sync socket. Its presence is what
// makes `berth init` an init rather than a user mistake.
const initSyncEnv = "_BERTH_INITSYNC"

// initEnv is the whole environment of a new init or exec process. The Go
// runtime is told not to read cgroup CPU limits: that costs time on the
// start path and leaves fds on cgroup files open in the init.
func initEnv(syncFD int) []string {
	return []string{
		initSyncEnv + "=" + strconv.Itoa(syncFD),
		"GODEBUG=containermaxprocs=0,updatemaxprocs=0",
		// One P keeps the init to few threads: it runs inside the
		// container's cgroup, where a small pids.max counts them.
		"GOMAXPROCS=1",
	}
}

// enterRoot makes the directory fd the process's root (exec into a
// container that shares the host's mount namespace).
func enterRoot(fd int) error {
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("entering the container's root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to the container's root: %w", err)
	}
	unix.Close(fd)
	return unix.Chdir("/")
}

// IsInit reports whether this process was started by the runtime as a
// container init or exec process. The runtime's main calls it first.
func IsInit() bool { return os.Getenv(initSyncEnv) != "" }

// Init is the body of the container's init (or exec) process. It never
// returns on success: it ends in execve of the user program.
func Init() {
	runtime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(initSyncEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth init: bad", initSyncEnv)
		os.Exit(1)
	}
	os.Unsetenv(initSyncEnv)
	sock := &syncSocket{f: os.NewFile(uintptr(fd), "sync")}
	if err := initProcess(sock); err != nil {
		// When the runtime hung up, it failed first and reports why.
		if !errors.Is(err, errEOF) && sock.send(&syncMsg{Type: syncError, Error: err.Error()}) != nil {
			// The runtime is gone (after ready): stderr is all we have.
			fmt.Fprintln(os.Stderr, "berth init:", err)
		}
		os.Exit(1)
	}
}

func initProcess(sock *syncSocket) error {
	m, _, err := sock.expect(syncConfig)
	if err != nil {
		return err
	}
	cfg := m.Config
	spec := cfg.Spec
	proc := spec.Process
	// No fd of the runtime's may reach the user program: everything past
	// stdio and the preserved fds closes on exec (fds opened from here on
	// are close-on-exec anyway). Done first, as the seccomp profile may
	// not allow close_range.
	if err := unix.CloseRange(uint(3+cfg.PreserveFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range: %w", err)
	}

	// Opened before the pivot: the container may have no /proc.
	lsmAttrs, err := lsm.OpenAttrs(proc, !cfg.Exec && !cfg.NoNewKeyring)
	if err != nil {
		return err
	}
	defer lsmAttrs.Close()
	if cfg.RootFD > 0 {
		if err := enterRoot(cfg.RootFD); err != nil {
			return err
		}
	}
	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if !cfg.Exec {
		// The init leads its own session, so a terminal can become its
		// controlling one and signals to the session reach the container.
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
		if err := setupFilesystem(cfg, sock); err != nil {
			return err
		}
		if err := setupUTS(spec); err != nil {
			return err
		}
		if !cfg.NoNewKeyring {
			if err := lsmAttrs.LabelKeyring(); err != nil {
				return err
			}
			// A fresh session keyring keeps the host's keys out of reach.
			if _, err := unix.KeyctlJoinSessionKeyring(cfg.State.ID); err != nil && err != unix.ENOSYS {
				return fmt.Errorf("joining a new session keyring: %w", err)
			}
		}
	}
	if proc == nil {
		// config.md: process is optional; such a container is created
		// and every attempt to start it fails.
		if err := signalReady(sock); err != nil {
			return err
		}
		return waitForStart(cfg)
	}
	if cfg.ConsoleFD >= 0 {
		if cfg.Exec {
			// The terminal must become the controlling one of a session
			// this process leads.
			if _, err := unix.Setsid(); err != nil {
				return fmt.Errorf("setsid: %w", err)
			}
		}
		if err := setupConsole(cfg); err != nil {
			return err
		}
	}
	capSet, err := caps.Resolve(proc.Capabilities)
	if err != nil {
		return err
	}
	capSet.Unavailable() // the runtime warned about these

	filter, err := compileSeccomp(spec)
	if err != nil {
		return err
	}
	if filter != nil {
		// Turned into BPF now, so that loading it later allocates
		// nothing: the rlimits below may leave little room (RLIMIT_AS).
		if err := filter.Export(); err != nil {
			return err
		}
	}
	// Before no_new_privs (under which AppArmor refuses most profile
	// changes) and any seccomp filter, with all the init's capabilities.
	if err := lsmAttrs.ApplyOnExec(); err != nil {
		return err
	}
	// Also before the filter: profiles commonly deny set_mempolicy.
	if err := setMemoryPolicy(spec.Linux.MemoryPolicy); err != nil {
		return err
	}
	if cfg.Exec {
		// The runtime placed this process in the cgroup before it sent
		// the config, so the cpuset cannot undo this any more.
		if err := setExecCPUAffinity(proc.ExecCPUAffinity); err != nil {
			return err
		}
	}
	// Set as root, before the user switch (which may take away the right
	// to raise a soft limit) and after the filter is exported.
	if err := applyProcessLimits(proc); err != nil {
		return err
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
	// the user switch may drop: load it first then (runc's order).
	if filter != nil && !proc.NoNewPrivileges {
		if err := loadSeccomp(filter, sock); err != nil {
			return err
		}
		filter = nil
	}
	if err := switchUser(proc, capSet); err != nil {
		return err
	}
	// The uid change made the process non-dumpable, which hides
	// /proc/self/fd (needed for the exec fifo) from it; execve resets this.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	if err := chdir(proc.Cwd); err != nil {
		return err
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	argv0, err := lookPath(proc.Args[0], proc.Env, proc.Cwd)
	if err != nil {
		return err
	}
	env := withHome(proc)
	// From the final filter on, the init makes only the calls any
	// profile must allow a runtime: the sync write, the exec fifo, execve.
	if filter != nil {
		if err := loadSeccomp(filter, sock); err != nil {
			return err
		}
	}
	if err := signalReady(sock); err != nil {
		return err
	}
	if !cfg.Exec {
		if err := waitForStart(cfg); err != nil {
			return err
		}
	}
	if err := unix.Exec(argv0, proc.Args, env); err != nil {
		return fmt.Errorf("exec %s: %w", proc.Args[0], err)
	}
	return nil
}

// signalReady tells the runtime the setup is done and hangs up; from here
// on the init outlives `berth create`, so its parent-death signal goes.
func signalReady(sock *syncSocket) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing the parent-death signal: %w", err)
	}
	if err := sock.send(&syncMsg{Type: syncReady}); err != nil {
		return err
	}
	return sock.f.Close()
}

// waitForStart blocks until `berth start` opens the exec fifo for reading,
// runs the startContainer hooks, and tells start how they went: a zero
// byte, or the error's text.
func waitForStart(cfg *initConfig) error {
	path := "/proc/self/fd/" + strconv.Itoa(cfg.FifoFD)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	unix.Close(cfg.FifoFD)
	reply := []byte{0}
	var hookErr error
	if cfg.Spec.Process == nil {
		hookErr = errors.New("config.json has no process: there is nothing to start")
		reply = []byte(hookErr.Error())
	} else if h := cfg.Spec.Hooks; h != nil && len(h.StartContainer) > 0 {
		if hookErr = hooks.Run("startContainer", h.StartContainer, hookState(cfg, specs.StateCreated)); hookErr != nil {
			reply = []byte(hookErr.Error())
		}
	}
	if _, err := unix.Write(fd, reply); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	return hookErr
}

// hookState is the state given to hooks the init runs. They run in the
// container's namespaces, so the pid is the one seen there (as runc does).
func hookState(cfg *initConfig, status specs.ContainerState) *specs.State {
	st := cfg.State
	st.Status = status
	st.Pid = unix.Getpid()
	return &st
}

func setupUTS(spec *specs.Spec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", spec.Domainname, err)
		}
	}
	return nil
}

func setupConsole(cfg *initConfig) error {
	sock := os.NewFile(uintptr(cfg.ConsoleFD), "console-socket")
	defer sock.Close()
	master, slave, err := console.Open()
	if err != nil {
		return err
	}
	defer master.Close()
	if err := console.SetSize(slave, cfg.Spec.Process.ConsoleSize); err != nil {
		return err
	}
	if !cfg.Exec {
		if err := console.MountAsConsole(slave); err != nil {
			return err
		}
	}
	if u := cfg.Spec.Process.User; u.UID != 0 {
		// The user process must be able to reopen its own terminal.
		if err := slave.Chown(int(u.UID), -1); err != nil {
			return fmt.Errorf("chown terminal: %w", err)
		}
	}
	if err := console.Send(sock, master); err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(int(slave.Fd()), i, 0); err != nil {
			return fmt.Errorf("terminal as fd %d: %w", i, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("making the terminal the controlling one: %w", err)
	}
	return slave.Close()
}

// switchUser sets groups and ids, keeping the configured capabilities
// across the uid change.
func switchUser(proc *specs.Process, capSet *caps.Set) error {
	if err := capSet.DropBounding(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_KEEPCAPS: %w", err)
	}
	u := proc.User
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil {
		// In a user namespace with setgroups denied, an empty list is
		// the only possible state; anything else is an error.
		if !(errors.Is(err, unix.EPERM) && len(gids) == 0) {
			return fmt.Errorf("process.user.additionalGids %v: %w", u.AdditionalGids, err)
		}
	}
	// Raw syscalls: the Go wrappers would change every thread, and only
	// this one will exec.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, e)
	}
	if err := capSet.Apply(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_KEEPCAPS: %w", err)
	}
	umask := 0o022 // runc's default when the config has none
	if u.Umask != nil {
		umask = int(*u.Umask)
	}
	unix.Umask(umask)
	return nil
}

func chdir(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", cwd, err)
	}
	return nil
}

// lookPath finds the program in the container's PATH (from process.env),
// relative to cwd for relative names, as execvp would.
func lookPath(name string, env []string, cwd string) (string, error) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("process.args[0] %q: %w", name, err)
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmt.Errorf("process.args[0] %q: %w", name, firstErr)
	}
	return "", fmt.Errorf("process.args[0] %q: executable file not found in $PATH", name)
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &os.PathError{Op: "exec", Path: p, Err: unix.EISDIR}
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return &os.PathError{Op: "exec", Path: p, Err: err}
	}
	return nil
}

// withHome adds HOME from the container's /etc/passwd when the config has
// none, as runc does.
func withHome(proc *specs.Process) []string {
	for _, e := range proc.Env {
		if strings.HasPrefix(e, "HOME=") {
			return proc.Env
		}
	}
	home := "/"
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		uid := strconv.FormatUint(uint64(proc.User.UID), 10)
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[2] == uid && f[5] != "" {
				home = f[5]
				break
			}
		}
	}
	return append(append([]string{}, proc.Env...), "HOME="+home)
}
