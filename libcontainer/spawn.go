package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/cinit"
	"github.com/berthproject/berth/libcontainer/clonexec"
	"github.com/berthproject/berth/libcontainer/plan"
)

// spawn starts berth-init (libcontainer/cinit) with a plan and drives the
// conversation with it. It uses clonexec (a vfork-like clone3 whose child
// only places its fds and execs), or syscall.ForkExec where that cannot
// serve, rather than os/exec: os/exec forks an extra throw-away child on
// first use to probe pidfd support, which costs time on the start path
// and buys nothing here.
//
// The child's fds are stdio, the preserved fds 3..3+n-1, the sync socket,
// whatever addFD added, the plan and last berth-init's own image; the init
// closes everything above that before it touches any path.
type spawn struct {
	files []uintptr
	keep  []*os.File
	sys   syscall.SysProcAttr
	// pid is the process forked; intermediate, when the init forks (pid
	// and time namespaces), the one that reported the final pid and
	// stays until "ready".
	pid, intermediate int
	sock              *syncSocket
	syncFD            int
	ns                *nsSetup
	// initialCPUs, when set, is the CPU affinity the child is forked with
	// (process.execCPUAffinity.initial).
	initialCPUs *unix.CPUSet
	// cg is the cgroup the child runs in, to explain its death.
	cg *cgroups.Manager
}

// newSpawn prepares a child with stdio and the preserved fds 3..3+n-1.
func newSpawn(preserveFDs int) (*spawn, error) {
	s := &spawn{files: []uintptr{0, 1, 2}}
	for i := 0; i < preserveFDs; i++ {
		s.files = append(s.files, uintptr(3+i))
	}
	parentEnd, childEnd, err := newSyncPair()
	if err != nil {
		return nil, err
	}
	s.sock = &syncSocket{f: parentEnd}
	if err := s.sock.setLimit(initAnswerLimit); err != nil {
		return nil, fmt.Errorf("sync socket: %w", err)
	}
	s.syncFD = s.addFD(childEnd)
	return s, nil
}

// addFD passes f to the child and returns its number there. f is closed
// once the child has started.
func (s *spawn) addFD(f *os.File) int {
	s.files = append(s.files, f.Fd())
	s.keep = append(s.keep, f)
	return len(s.files) - 1
}

// planNamespaces fills p's namespace steps and the clone flags.
func (s *spawn) planNamespaces(linux *specs.Linux, p *plan.Plan) error {
	ns, err := planNamespaces(linux, p, s.addFD)
	if err != nil {
		return err
	}
	s.ns = ns
	s.sys.Cloneflags = ns.cloneFlags
	if ns.cloneFlags&unix.CLONE_NEWUSER != 0 {
		s.sys.UidMappings = toSysMaps(linux.UIDMappings)
		s.sys.GidMappings = toSysMaps(linux.GIDMappings)
		// Only a privileged caller may map gids while setgroups(2) stays
		// allowed; an unprivileged one must deny it first (user_namespaces(7)).
		s.sys.GidMappingsEnableSetgroups = unix.Geteuid() == 0
		// Become the namespace's root before exec, or the init would
		// start as the overflow uid without capabilities.
		s.sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	return nil
}

// planFile puts the encoded plan in a memory file for the child.
func planFile(p *plan.Plan) (*os.File, error) {
	b, err := p.Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the plan: %w", err)
	}
	fd, err := unix.MemfdCreate("berth-plan", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the plan: %w", err)
	}
	f := os.NewFile(uintptr(fd), "berth-plan")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the plan: %w", err)
	}
	return f, nil
}

// start forks berth-init with p (born in cg's cgroup when cg is set) and
// runs the conversation up to "go": id maps (writeMaps) when the init
// unshares a user namespace, the cgroup when the child could not be born
// in it, then placed (net devices); after "go", the final pid when the
// init forks into a pid namespace. It returns the pid of the process that
// will run the user program.
func (s *spawn) start(p *plan.Plan, cg *cgroups.Manager, subreaper bool, writeMaps func(pid int) error, placed func(pid int) error) (int, error) {
	if subreaper {
		// The init may fork the final process; the caller waits for it,
		// so it must become our child when orphaned.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	var byChild []cgroups.ChildJoin
	if cg != nil {
		byChild = cg.ChildJoins()
		for _, j := range byChild {
			p.CgroupJoins = append(p.CgroupJoins, plan.CgroupJoin{FD: s.addFD(j.Tasks), Label: j.Label})
		}
	}
	pf, err := planFile(p)
	if err != nil {
		return 0, err
	}
	planFD := s.addFD(pf)
	exe, err := cinit.Open()
	if err != nil {
		return 0, err
	}
	exeFD := s.addFD(exe)
	argv := []string{"berth-init", strconv.Itoa(s.syncFD), strconv.Itoa(planFD), strconv.Itoa(len(s.files))}
	fork := func() (int, error) { return s.fork("/proc/self/fd/"+strconv.Itoa(exeFD), argv) }
	var pid int
	inCgroup := true
	s.cg = cg
	if cg != nil {
		pid, inCgroup, err = cg.StartInside(&s.sys, byChild, fork)
	} else {
		pid, err = fork()
	}
	s.closeChildFiles()
	if pid > 0 {
		s.pid = pid
	}
	if err != nil {
		return 0, err
	}
	if s.ns.usermap {
		if err := s.userMap(writeMaps); err != nil {
			return s.pid, err
		}
	}
	if !inCgroup {
		// Not born in the cgroup: move it in before it forks (after
		// "go"), so the process that runs the program is inside too.
		if err := cg.AddPid(s.pid); err != nil {
			return s.pid, err
		}
	}
	if placed != nil {
		if err := placed(s.pid); err != nil {
			return s.pid, err
		}
	}
	if err := s.sock.send("go"); err != nil {
		return s.pid, s.failure(err)
	}
	if s.ns.forks {
		if err := s.finalPid(); err != nil {
			return s.pid, err
		}
	}
	return s.pid, nil
}

// userMap answers "usermap": the id maps are written for the child,
// which unshared a user namespace.
func (s *spawn) userMap(writeMaps func(pid int) error) error {
	msg, _, err := s.sock.recv()
	if err != nil {
		return s.failure(err)
	}
	if msg != "usermap" {
		return fmt.Errorf("berth-init: unexpected message %q during namespace setup", msg)
	}
	if err := writeMaps(s.pid); err != nil {
		return err
	}
	if err := s.sock.send("ok"); err != nil {
		return s.failure(err)
	}
	return nil
}

// finalPid reads "pid N": the process that goes on, inside the pid
// namespace; the intermediate that says it stays until "ready".
func (s *spawn) finalPid() error {
	msg, _, err := s.sock.recv()
	if err != nil {
		return s.failure(err)
	}
	final, err := strconv.Atoi(strings.TrimPrefix(msg, "pid "))
	if !strings.HasPrefix(msg, "pid ") || err != nil || final <= 0 {
		return fmt.Errorf("berth-init: unexpected message %q, expected its pid", msg)
	}
	s.intermediate, s.pid = s.pid, final
	return nil
}

// serve answers the init until it is ready: onMounted runs the runtime's
// hooks between its mounts and its pivot; a seccomp listener is handed to
// onListener.
func (s *spawn) serve(onMounted func() error, onListener func(fd int) error) error {
	for {
		msg, fd, err := s.sock.recv()
		if err != nil {
			return s.failure(err)
		}
		switch msg {
		case "mounted":
			if err := onMounted(); err != nil {
				return err
			}
			if err := s.sock.send("hooks-done"); err != nil {
				return s.failure(err)
			}
		case "seccomp-fd":
			if fd < 0 {
				return errors.New("berth-init sent no seccomp listener fd")
			}
			if err := onListener(fd); err != nil {
				return err
			}
			if err := s.sock.send("seccomp-ack"); err != nil {
				return s.failure(err)
			}
		case "ready":
			s.reapIntermediate()
			return nil
		default:
			if fd >= 0 {
				unix.Close(fd)
			}
			return fmt.Errorf("berth-init: unexpected message %q", msg)
		}
	}
}

// reapIntermediate waits for the intermediate, which exits as soon as the
// final process is ready (or gone).
func (s *spawn) reapIntermediate() {
	if s.intermediate > 0 {
		unix.Wait4(s.intermediate, nil, 0, nil)
		s.intermediate = 0
	}
}

// failure explains a conversation that broke off: the init said why (an
// error message), or it died, which the kernel can explain.
func (s *spawn) failure(err error) error {
	if !errors.Is(err, errEOF) && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		return err
	}
	// It may have said why before it hung up (a send to it fails as soon
	// as it is gone, with its last message still unread): the socket's
	// other end is closed, so these reads do not block.
	for i := 0; i < 8; i++ {
		_, fd, rerr := s.sock.recv()
		if fd >= 0 {
			unix.Close(fd)
		}
		if rerr == nil {
			continue
		}
		if !errors.Is(rerr, errEOF) && !errors.Is(rerr, unix.ECONNRESET) && !strings.HasPrefix(rerr.Error(), "talking to berth-init") {
			return rerr
		}
		break
	}
	return initDied(s.pid, s.cg)
}

// initDied says how the init ended, when it is our child (or we are its
// subreaper): its socket closes a moment before it becomes a zombie, so
// this waits up to 200 ms for that.
func initDied(pid int, cg *cgroups.Manager) error {
	var ws unix.WaitStatus
	for i := 0; i < 20; i++ {
		r, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			break // not ours to reap
		}
		if r == pid {
			return describeDeath(ws, cg)
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
	}
	return errInitVanished
}

// errInitVanished: berth-init hung up and was not ours to reap (or not yet
// a zombie), so how it ended is unknown; a kill of the whole container,
// such as a racing delete, is the usual cause (see explainExecDeath).
var errInitVanished = errors.New("berth-init exited during setup")

func describeDeath(ws unix.WaitStatus, cg *cgroups.Manager) error {
	if ws.Signaled() && ws.Signal() == unix.SIGKILL && cg != nil {
		if n, err := cg.OOMKillCount(); err == nil && n > 0 {
			limit := "its memory limit"
			if r := cg.Resources(); r != nil && r.Memory > 0 {
				limit = fmt.Sprintf("the memory limit of %s", formatBytes(r.Memory))
			}
			return fmt.Errorf("berth-init was killed by the OOM killer during setup: %s is too small for the container to start (linux.resources.memory.limit)", limit)
		}
	}
	if ws.Signaled() {
		return &initDeath{signal: ws.Signal()}
	}
	return fmt.Errorf("berth-init exited with status %d during setup", ws.ExitStatus())
}

// initDeath is berth-init killed by a signal before it was ready.
type initDeath struct{ signal unix.Signal }

func (e *initDeath) Error() string {
	return fmt.Sprintf("berth-init was killed by %s during setup", unix.SignalName(e.signal))
}

// formatBytes prints n as people write memory limits.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *spawn) fork(path string, argv []string) (int, error) {
	if s.initialCPUs != nil {
		// The child inherits the forking thread's affinity; the thread
		// gets its own back afterwards.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var own unix.CPUSet
		if err := unix.SchedGetaffinity(0, &own); err != nil {
			return 0, fmt.Errorf("sched_getaffinity: %w", err)
		}
		if err := unix.SchedSetaffinity(0, s.initialCPUs); err != nil {
			return 0, fmt.Errorf("process.execCPUAffinity.initial: sched_setaffinity: %w", err)
		}
		defer unix.SchedSetaffinity(0, &own)
	}
	pid, err := 0, clonexec.ErrUnsupported
	if clonexec.Supported(&s.sys) {
		pid, err = clonexec.Start(path, argv, s.files, &s.sys)
	}
	if err == clonexec.ErrUnsupported {
		// A user namespace's id maps, an old kernel, another build: Go's own.
		pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{Files: s.files, Sys: &s.sys})
	}
	if err != nil {
		return 0, fmt.Errorf("starting berth-init: %w", err)
	}
	return pid, nil
}

// closeChildFiles closes the runtime's copies of what the child inherited.
func (s *spawn) closeChildFiles() {
	for _, f := range s.keep {
		f.Close()
	}
	s.keep = nil
	if s.ns != nil {
		s.ns.close()
	}
}

// close releases everything; call it when done with the child.
func (s *spawn) close() {
	s.closeChildFiles()
	s.sock.f.Close()
}

// kill ends the child and its intermediate after a failure, reaping what
// is ours to reap.
func (s *spawn) kill() {
	for _, pid := range []int{s.pid, s.intermediate} {
		if pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
			unix.Wait4(pid, nil, 0, nil)
		}
	}
}

func toSysMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}
