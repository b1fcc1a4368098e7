package libcontainer

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/cgroups"
)

// spawn is the one re-exec of berth as a container's init or exec process.
// It uses syscall.ForkExec rather than os/exec: os/exec forks an extra
// throw-away child on first use to probe pidfd support, which costs time
// on the start path and buys nothing here.
type spawn struct {
	files []uintptr // the child's fds, from 0
	keep  []*os.File
	env   []string
	sys   syscall.SysProcAttr
	// pid is the process started; the init when no nsenter stage forks.
	pid int
	// sock is the runtime's end of the sync socket.
	sock   *syncSocket
	syncFD int // the child's fd of its end of sock
	// ns is how the child gets its namespaces.
	ns *nsPlan
	// initialCPUs, when set, is the CPU affinity the child is forked with
	// (process.execCPUAffinity.initial).
	initialCPUs *unix.CPUSet
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
	s.syncFD = s.addFD(childEnd)
	s.env = initEnv(s.syncFD)
	return s, nil
}

// addFD passes f to the child and returns its number there. f is closed
// by close once the child has started.
func (s *spawn) addFD(f *os.File) int {
	s.files = append(s.files, f.Fd())
	s.keep = append(s.keep, f)
	return len(s.files) - 1
}

// planNamespaces decides how the child gets the namespaces of spec.
func (s *spawn) planNamespaces(spec *specs.Spec) error {
	nsp, err := planNamespaces(spec, s.addFD)
	if err != nil {
		return err
	}
	s.ns = nsp
	if !nsp.plan.Empty() {
		s.env = append(s.env, nsp.plan.Env(s.syncFD)...)
		return nil
	}
	s.sys.Cloneflags = nsp.cloneFlags
	if nsp.cloneFlags&unix.CLONE_NEWUSER != 0 {
		s.sys.UidMappings = toSysMaps(spec.Linux.UIDMappings)
		s.sys.GidMappings = toSysMaps(spec.Linux.GIDMappings)
		// Only a privileged caller may map gids while setgroups(2) stays
		// allowed; an unprivileged one must deny it first (user_namespaces(7)).
		s.sys.GidMappingsEnableSetgroups = unix.Geteuid() == 0
		// Become the namespace's root before exec, or the init would
		// start as the overflow uid without capabilities.
		s.sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	return nil
}

// start forks and execs the child (born in cg's cgroup when cg is set),
// then runs the nsenter stage's side of the conversation; it returns the
// pid of the process that will run the user program. writeMaps is used
// when the stage unshares a user namespace.
func (s *spawn) start(cg *cgroups.Manager, subreaper bool, writeMaps func(pid int) error) (int, error) {
	if subreaper {
		// The nsenter stage may fork the final process; the caller
		// waits for it, so it must become our child when orphaned.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	var pid int
	var err error
	placed := true
	if cg != nil {
		pid, placed, err = cg.StartInside(&s.sys, s.fork)
	} else {
		pid, err = s.fork()
	}
	s.closeChildFiles()
	if err != nil {
		if pid > 0 {
			s.pid = pid
		}
		return 0, err
	}
	s.pid = pid
	if s.ns.forks || s.ns.usermap {
		final, err := s.sock.nsenterStage(func() error { return writeMaps(pid) }, s.ns.forks)
		if err != nil {
			return pid, s.ns.explain(err)
		}
		if s.ns.forks {
			// The intermediate exits once it has forked the final process.
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			s.pid = final
		}
	}
	if !placed {
		// Not born in the cgroup: move the process that will run the
		// program (not the intermediate, whose child would stay out).
		if err := cg.AddPid(s.pid); err != nil {
			return s.pid, err
		}
	}
	return s.pid, nil
}

func (s *spawn) fork() (int, error) {
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
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"berth", "init"}, &syscall.ProcAttr{
		Env: s.env, Files: s.files, Sys: &s.sys,
	})
	if err != nil {
		return 0, fmt.Errorf("starting berth init: %w", err)
	}
	return pid, nil
}

// serve sends the config to the child and answers it until it is ready
// (see serveChild); errors of the C stage name the namespace entry.
func (s *spawn) serve(cfg *initConfig, onMounted func() error) error {
	return s.ns.explain(serveChild(s.sock, cfg, onMounted))
}

// closeChildFiles closes the runtime's copies of what the child inherited.
func (s *spawn) closeChildFiles() {
	for _, f := range s.keep {
		f.Close()
	}
	s.keep = nil
}

// close releases everything; call it when done with the child.
func (s *spawn) close() {
	s.closeChildFiles()
	s.sock.f.Close()
}

func toSysMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}
