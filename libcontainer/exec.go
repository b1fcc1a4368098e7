package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/console"
	berthspecs "github.com/berthproject/berth/specs"
)

// ExecOpts are the inputs of `berth exec`.
type ExecOpts struct {
	Process       *specs.Process
	ConsoleSocket string
	PreserveFDs   int
	// Subreaper makes the caller reap the process (it waits for it).
	Subreaper bool
}

// Exec starts another process in the namespaces and cgroup of a created or
// running container and returns its pid once it is about to execve.
func (c *Container) Exec(o *ExecOpts) (pid int, err error) {
	switch st := c.Status(); st {
	case specs.StateCreated, specs.StateRunning:
	default:
		return 0, fmt.Errorf("container %q is %s: exec needs a created or running container", c.state.ID, st)
	}
	proc := o.Process
	if err := berthspecs.ValidateProcess(proc, "process.json"); err != nil {
		return 0, err
	}
	if proc.Terminal && o.ConsoleSocket == "" {
		return 0, errors.New("process.terminal is true: a --console-socket is required to receive the terminal")
	}
	if _, err := caps.Resolve(proc.Capabilities); err != nil {
		return 0, err
	}
	// The exec'd process lives under the container's config, with its own
	// process section; rlimits and no_new_privs default to the container's.
	spec := *c.state.Config
	base := spec.Process
	if proc.Rlimits == nil && base != nil {
		proc.Rlimits = base.Rlimits
	}
	if base != nil && base.NoNewPrivileges {
		proc.NoNewPrivileges = true
	}
	spec.Process = proc
	spec.Linux = c.joinedLinux()

	parentEnd, childEnd, err := newSyncPair()
	if err != nil {
		return 0, err
	}
	defer parentEnd.Close()
	defer childEnd.Close()
	sock := &syncSocket{f: parentEnd}

	cmd := exec.Command("/proc/self/exe", "init")
	cmd.Args[0] = "berth"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for i := 0; i < o.PreserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	addFD := func(f *os.File) int {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		return 2 + len(cmd.ExtraFiles)
	}
	syncFD := addFD(childEnd)
	cfg := &initConfig{Exec: true, Spec: &spec, Rootfs: c.state.Rootfs, FifoFD: -1, ConsoleFD: -1, PreserveFDs: o.PreserveFDs,
		State: c.specState(c.Status())}
	if o.ConsoleSocket != "" {
		s, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		closers = append(closers, s)
		cfg.ConsoleFD = addFD(s)
	}
	nsp, err := planNamespaces(&spec, func(f *os.File) int { closers = append(closers, f); return addFD(f) })
	if err != nil {
		return 0, err
	}
	cmd.Env = append(initEnv(syncFD), nsp.plan.Env(syncFD)...)
	if o.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the exec process: %w", err)
	}
	childEnd.Close()
	pid = cmd.Process.Pid
	defer func() {
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
		}
	}()
	if nsp.forks {
		if pid, err = sock.nsenterStage(nil, true); err != nil {
			cmd.Wait()
			return 0, err
		}
		cmd.Wait()
	}
	if cg, err := c.cgroup(); err == nil {
		if err := cg.AddPid(pid); err != nil {
			return 0, err
		}
	}
	if err := sock.send(&syncMsg{Type: syncConfig, Config: cfg}); err != nil {
		if _, _, rerr := sock.recv(); rerr != nil && !errors.Is(rerr, errEOF) {
			return 0, rerr
		}
		return 0, fmt.Errorf("sending the config to the exec process: %w", err)
	}
	for {
		m, fd, err := sock.recv()
		if err != nil {
			if errors.Is(err, errEOF) {
				return 0, errors.New("the exec process exited during setup")
			}
			return 0, err
		}
		switch m.Type {
		case syncSeccompFD:
			if err := sendSeccompListener(&spec, fd, cfg.State); err != nil {
				return 0, err
			}
			if err := sock.send(&syncMsg{Type: syncSeccompAck}); err != nil {
				return 0, err
			}
		case syncReady:
			return pid, nil
		default:
			return 0, fmt.Errorf("unexpected message %q from the exec process", m.Type)
		}
	}
}

// joinedLinux is the container's linux section with every namespace
// pointing at the init's, so the exec process joins them all.
func (c *Container) joinedLinux() *specs.Linux {
	l := *c.state.Config.Linux
	l.Namespaces = make([]specs.LinuxNamespace, 0, len(c.state.Config.Linux.Namespaces))
	for _, ns := range c.state.Config.Linux.Namespaces {
		name, _ := berthspecs.NamespaceProcName(ns.Type)
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{
			Type: ns.Type, Path: fmt.Sprintf("/proc/%d/ns/%s", c.state.InitPid, name),
		})
	}
	return &l
}
