package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/lsm"
	"github.com/berthproject/berth/libcontainer/plan"
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
// A shared lock is held until the process is in the container's cgroup, so
// a delete either runs before (and exec finds no container) or after (and
// kills it with the rest); it is released before the process is started
// in a paused container, where it waits (frozen) for a resume.
func (c *Container) Exec(o *ExecOpts) (pid int, err error) {
	unlock, err := c.lock(unix.LOCK_SH)
	if err != nil {
		return 0, err
	}
	var once sync.Once
	release := func() { once.Do(unlock) }
	defer release()
	paused := false
	switch st := c.Status(); st {
	case specs.StateCreated, specs.StateRunning:
	case "paused":
		paused = true
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
	config, err := c.spec()
	if err != nil {
		return 0, err
	}
	spec := *config
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
	spec.Linux = c.joinedLinux(config.Linux)

	sp, err := newSpawn(o.PreserveFDs)
	if err != nil {
		return 0, err
	}
	defer sp.close()
	if o.IgnorePaused {
		// The process is frozen as it joins a paused container's cgroup:
		// it answers once the container is resumed, whenever that is.
		if err := sp.sock.setLimit(0); err != nil {
			return 0, err
		}
	}
	p := &plan.Plan{Mode: plan.Exec, RootFD: -1, FifoFD: -1}
	consoleFD := -1
	if o.ConsoleSocket != "" {
		s, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		consoleFD = sp.addFD(s)
		// The terminal must become the controlling one of a session
		// the process leads.
		p.Setsid = true
	}
	if a := proc.ExecCPUAffinity; a != nil && a.Initial != "" {
		if sp.initialCPUs, err = listMask("process.execCPUAffinity.initial", a.Initial, 1024); err != nil {
			return 0, err
		}
	}
	if !hasNamespace(&spec, specs.MountNamespace) {
		// A joined mount namespace would bring the container's root
		// along; without one, the process chroots to the init's.
		root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", c.state.InitPid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("opening the root of the container's init (pid %d): %w", c.state.InitPid, err)
		}
		p.RootFD = sp.addFD(root)
	}
	if err := sp.planNamespaces(spec.Linux, p); err != nil {
		return 0, err
	}
	// A fresh session keyring, as the init got, unless the container
	// was created with --no-new-keyring (runc's rule for exec too).
	keyring := c.state.ID
	if c.state.NoNewKeyring {
		keyring = ""
	}
	if p.Process, err = planProcess(proc, &spec, processOpts{keyring: keyring, consoleFD: consoleFD,
		preserveFDs: o.PreserveFDs, exec: true, seccomp: seccompCache(c.root)}); err != nil {
		return 0, err
	}
	// nil for a rootless container without a cgroup of its own: the
	// process then stays in the caller's, as the init did.
	cg, err := c.execCgroup(o.SubCgroups)
	if err != nil {
		return 0, err
	}
	if paused {
		// The forking thread joins the frozen cgroup and the process is
		// frozen: a resume must be able to take the lock meanwhile.
		release()
	}
	pid, err = sp.start(p, cg, o.Subreaper, nil, func(int) error {
		release()
		killPoint(StepExecPlaced)
		return nil
	})
	defer func() {
		if err != nil {
			sp.kill()
			err = c.explainExecDeath(err)
		}
	}()
	if err != nil {
		return 0, err
	}
	err = sp.serve(func() error { return errors.New("exec: unexpected mount sync") }, func(fd int) error {
		return sendSeccompListener(&spec, fd, c.specState(c.Status()))
	})
	if err != nil {
		return 0, err
	}
	killPoint(StepExecReady)
	return pid, nil
}

// explainExecDeath: once the lock is released a delete (or a kill of the
// container) may end the exec's process with the rest of the container
// before it is ready. Then the cause is the container's end, which is
// said, whatever form the failure took: a SIGKILL, a berth-init that hung
// up unreaped, or a fork refused by a pid namespace whose init is exiting
// (ENOMEM). After a SIGKILL or a hang-up the init is given a moment to
// die of the same kill.
func (c *Container) explainExecDeath(err error) error {
	var died *initDeath
	tries := 1
	if (errors.As(err, &died) && died.signal == unix.SIGKILL) || errors.Is(err, errInitVanished) {
		tries = 10
	}
	for i := 0; i < tries; i++ {
		if c.initEnding() {
			return fmt.Errorf("container %q stopped while the process was being started (deleted or killed meanwhile): %w", c.state.ID, err)
		}
		if i+1 < tries {
			unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
		}
	}
	return err
}

// joinedLinux is the container's linux section with every namespace
// pointing at the init's, so the exec process joins them all.
func (c *Container) joinedLinux(linux *specs.Linux) *specs.Linux {
	l := *linux
	l.Namespaces = make([]specs.LinuxNamespace, 0, len(linux.Namespaces))
	for _, ns := range linux.Namespaces {
		name, _ := berthspecs.NamespaceProcName(ns.Type)
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{
			Type: ns.Type, Path: fmt.Sprintf("/proc/%d/ns/%s", c.state.InitPid, name),
		})
	}
	return &l
}
