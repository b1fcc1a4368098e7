package libcontainer

import (
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/plan"
	"github.com/berthproject/berth/libcontainer/seccomp"
)

// processOpts are what the runtime adds to a process section.
type processOpts struct {
	// keyring names the new session keyring; "" keeps the caller's.
	keyring string
	// consoleFD is the child's fd of the console socket; -1 without a
	// terminal. consoleMount binds the terminal over /dev/console.
	consoleFD    int
	consoleMount bool
	preserveFDs  int
	// exec: the process joins a running container (execCPUAffinity).
	exec bool
	// seccomp keeps compiled profiles (seccompCache of the root).
	seccomp seccomp.Cache
}

// planProcess resolves a process section (with the container's linux
// section, for the per-process settings that live there: personality,
// memory policy, seccomp) into what berth-init applies. Create and exec
// both come here, so neither can forget a setting.
func planProcess(proc *specs.Process, spec *specs.Spec, o processOpts) (*plan.Process, error) {
	p := &plan.Process{Args: proc.Args, Env: proc.Env, Cwd: proc.Cwd, UID: proc.User.UID, GID: proc.User.GID,
		Umask: 0o022, NoNewPrivs: proc.NoNewPrivileges, OOMScoreAdj: proc.OOMScoreAdj,
		AppArmor: proc.ApparmorProfile, SELinux: proc.SelinuxLabel, Keyring: o.keyring,
		PreserveFDs: o.preserveFDs, HomeLookup: !hasEnv(proc.Env, "HOME")}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	p.Groups = proc.User.AdditionalGids
	if proc.User.Umask != nil {
		p.Umask = *proc.User.Umask
	}
	cs, err := caps.Resolve(proc.Capabilities)
	if err != nil {
		return nil, err
	}
	cs.Unavailable() // the runtime warned about these; no one can grant them
	p.Caps = [5]uint64{cs.Bounding, cs.Effective, cs.Permitted, cs.Inheritable, cs.Ambient}
	p.LastCap = caps.LastCap()
	if p.Rlimits, err = planRlimits(proc.Rlimits); err != nil {
		return nil, err
	}
	if p.Sched, err = planScheduler(proc.Scheduler); err != nil {
		return nil, err
	}
	if p.IOPrio, err = planIOPriority(proc.IOPriority); err != nil {
		return nil, err
	}
	linux := spec.Linux
	if p.Personality, err = planPersonality(linux.Personality); err != nil {
		return nil, err
	}
	if p.MemPolicy, err = planMemoryPolicy(linux.MemoryPolicy); err != nil {
		return nil, err
	}
	if o.exec {
		if p.Affinity, err = planExecAffinity(proc.ExecCPUAffinity); err != nil {
			return nil, err
		}
	}
	if p.Seccomp, err = planSeccomp(spec, proc.NoNewPrivileges, o.seccomp); err != nil {
		return nil, err
	}
	p.KeyringLabel = p.Keyring != "" && p.SELinux != ""
	if o.consoleFD >= 0 {
		p.Console = consolePlan(proc, o.consoleFD, o.consoleMount)
	}
	return p, nil
}

// consolePlan is process.terminal with the console socket the child has
// as fd; mount binds the terminal over /dev/console (the init).
func consolePlan(proc *specs.Process, fd int, mount bool) *plan.Console {
	c := &plan.Console{FD: fd, Mount: mount}
	if sz := proc.ConsoleSize; sz != nil {
		c.Rows, c.Cols = uint32(sz.Height), uint32(sz.Width)
	}
	return c
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}
