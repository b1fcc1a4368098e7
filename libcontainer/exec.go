package libcontainer

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/lsm"
	berthspecs "github.com/berthproject/berth/specs"
)

// ExecOpts are the inputs of `berth exec`.
type ExecOpts struct {
	Process       *specs.Process
	ConsoleSocket string
	PreserveFDs   int
	// Subreaper makes the caller reap the process (it waits for it).
	Subreaper bool
	// SubCgroups places the process in sub-cgroups (see execCgroup).
	SubCgroups map[string]string
	// IgnorePaused allows exec into a paused container.
	IgnorePaused bool
}

// Exec starts another process in the namespaces and cgroup of a created or
// running container and returns its pid once it is about to execve.
func (c *Container) Exec(o *ExecOpts) (pid int, err error) {
	switch st := c.Status(); st {
	case specs.StateCreated, specs.StateRunning:
	case "paused":
		if !o.IgnorePaused {
			// The process would be frozen as it joins the cgroup; with
			// IgnorePaused the caller waits for a resume, as with runc.
			return 0, fmt.Errorf("container %q: cannot exec in a paused container (use --ignore-paused to override)", c.state.ID)
		}
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
	if err := lsm.CheckHost("process.json", proc, nil); err != nil {
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
	if proc.ExecCPUAffinity == nil && base != nil {
		proc.ExecCPUAffinity = base.ExecCPUAffinity
	}
	spec.Process = proc
	spec.Linux = c.joinedLinux()

	sp, err := newSpawn(o.PreserveFDs)
	if err != nil {
		return 0, err
	}
	defer sp.close()
	cfg := &initConfig{Exec: true, Spec: &spec, Rootfs: c.state.Rootfs, FifoFD: -1, ConsoleFD: -1,
		PreserveFDs: o.PreserveFDs, State: c.specState(c.Status())}
	if o.ConsoleSocket != "" {
		s, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		cfg.ConsoleFD = sp.addFD(s)
	}
	if a := proc.ExecCPUAffinity; a != nil && a.Initial != "" {
		if sp.initialCPUs, err = listMask("process.execCPUAffinity.initial", a.Initial, 1024); err != nil {
			return 0, err
		}
	}
	if !hasNamespace(&spec, specs.MountNamespace) {
		root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", c.state.InitPid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("opening the container's root: %w", err)
		}
		defer root.Close()
		cfg.RootFD = sp.addFD(root)
	}
	if err := sp.planNamespaces(&spec); err != nil {
		return 0, err
	}
	// nil for a rootless container without a cgroup of its own: the
	// process then stays in the caller's, as the init did.
	cg, err := c.execCgroup(o.SubCgroups)
	if err != nil {
		return 0, err
	}
	pid, err = sp.start(cg, o.Subreaper, nil)
	defer func() {
		if err != nil && sp.pid > 0 {
			unix.Kill(sp.pid, unix.SIGKILL)
		}
	}()
	if err != nil {
		return 0, err
	}
	if err := sp.serve(cfg, func() error { return errors.New("exec: unexpected mount sync") }); err != nil {
		return 0, err
	}
	return pid, nil
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
