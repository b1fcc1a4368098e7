package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	berthspecs "github.com/berthproject/berth/specs"
)

// applyProcessLimits applies the process fields that the user switch does
// not touch: rlimits, oomScoreAdj, scheduler and ioPriority.
func applyProcessLimits(proc *specs.Process) error {
	if err := setRlimits(0, proc.Rlimits); err != nil {
		return err
	}
	if proc.OOMScoreAdj != nil {
		v := strconv.Itoa(*proc.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			return fmt.Errorf("process.oomScoreAdj %s: %w", v, err)
		}
	}
	if proc.Scheduler != nil {
		if err := setScheduler(proc.Scheduler); err != nil {
			return err
		}
	}
	if proc.IOPriority != nil {
		if err := setIOPriority(proc.IOPriority); err != nil {
			return err
		}
	}
	return nil
}

// setRlimits applies process.rlimits to pid (0: the calling process).
func setRlimits(pid int, rlimits []specs.POSIXRlimit) error {
	for i, rl := range rlimits {
		res, ok := berthspecs.RlimitResource(rl.Type)
		if !ok {
			return fmt.Errorf("process.rlimits[%d].type: unknown rlimit %q", i, rl.Type)
		}
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(pid, res, &lim, nil); err != nil {
			if errors.Is(err, unix.EPERM) {
				var cur unix.Rlimit
				unix.Prlimit(pid, res, nil, &cur)
				return fmt.Errorf("process.rlimits[%d] (%s): hard limit %d is above the current hard limit %d, which needs CAP_SYS_RESOURCE: %w", i, rl.Type, rl.Hard, cur.Max, err)
			}
			return fmt.Errorf("process.rlimits[%d] (%s soft=%d hard=%d): %w", i, rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	return nil
}

// schedAttr is struct sched_attr from <linux/sched/types.h>.
type schedAttr struct {
	Size     uint32
	Policy   uint32
	Flags    uint64
	Nice     int32
	Priority uint32
	Runtime  uint64
	Deadline uint64
	Period   uint64
}

func setScheduler(s *specs.Scheduler) error {
	policy, ok := berthspecs.SchedulerPolicy(s.Policy)
	if !ok {
		return fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
	}
	attr := schedAttr{Policy: uint32(policy), Nice: s.Nice, Priority: uint32(s.Priority),
		Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	attr.Size = uint32(unsafe.Sizeof(attr))
	for i, f := range s.Flags {
		v, ok := berthspecs.SchedulerFlag(f)
		if !ok {
			return fmt.Errorf("process.scheduler.flags[%d]: unknown flag %q", i, f)
		}
		attr.Flags |= v
	}
	if _, _, e := unix.Syscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&attr)), 0); e != 0 {
		return fmt.Errorf("process.scheduler (policy %s): sched_setattr: %w", s.Policy, e)
	}
	return nil
}

func setIOPriority(p *specs.LinuxIOPriority) error {
	class, ok := berthspecs.IOPriorityClass(p.Class)
	if !ok {
		return fmt.Errorf("process.ioPriority.class: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("process.ioPriority.priority %d: must be 0 to 7", p.Priority)
	}
	const ioprioWhoProcess = 1
	prio := class<<13 | p.Priority
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
		return fmt.Errorf("process.ioPriority: ioprio_set: %w", e)
	}
	return nil
}

// setPersonality applies linux.personality.
func setPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	d, ok := berthspecs.PersonalityDomain(p.Domain)
	if !ok {
		return fmt.Errorf("linux.personality.domain: unknown domain %q", p.Domain)
	}
	if len(p.Flags) > 0 {
		return fmt.Errorf("linux.personality.flags %v: no flags are supported", p.Flags)
	}
	if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, uintptr(d), 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: %w", e)
	}
	return nil
}

// setMemoryPolicy applies linux.memoryPolicy with set_mempolicy(2). The
// policy is kept across execve, so the user program starts under it.
func setMemoryPolicy(mp *specs.LinuxMemoryPolicy) error {
	if mp == nil {
		return nil
	}
	mode, ok := berthspecs.MemoryPolicyMode(mp.Mode)
	if !ok {
		return fmt.Errorf("linux.memoryPolicy.mode: unknown mode %q", mp.Mode)
	}
	for _, f := range mp.Flags {
		bit, ok := berthspecs.MemoryPolicyFlag(f)
		if !ok {
			return fmt.Errorf("linux.memoryPolicy.flags: unknown flag %q", f)
		}
		mode |= bit
	}
	// x/sys passes a CPUSet (1024 bits) as the node mask, with maxnode
	// 1024, of which the kernel uses 1023.
	mask, err := listMask("linux.memoryPolicy.nodes", mp.Nodes, 1023)
	if err != nil {
		return err
	}
	if err := unix.SetMemPolicy(mode, mask); err != nil {
		return fmt.Errorf("linux.memoryPolicy (mode %s, nodes %q): set_mempolicy: %w", mp.Mode, mp.Nodes, err)
	}
	return nil
}

// listMask turns a list ("0-3,7") of CPUs or NUMA nodes, each below max,
// into the bit mask sched_setaffinity and set_mempolicy take; nil for an
// empty list.
func listMask(field, list string, max int) (*unix.CPUSet, error) {
	members, err := berthspecs.ParseList(list, max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	set := new(unix.CPUSet)
	for _, m := range members {
		set.Set(m)
	}
	return set, nil
}

// setExecCPUAffinity gives an exec'd process, now in the container's
// cgroup, process.execCPUAffinity.final. Without any execCPUAffinity it
// may run on every CPU the cgroup allows, rather than keep the affinity
// of whoever ran `berth exec` (a pinned agent, say), as runc does.
func setExecCPUAffinity(a *specs.CPUAffinity) error {
	var set *unix.CPUSet
	switch {
	case a == nil || (a.Initial == "" && a.Final == ""):
		set = new(unix.CPUSet)
		for i := 0; i < 1024; i++ {
			set.Set(i) // the kernel masks it with the cgroup's cpuset
		}
	case a.Final != "":
		var err error
		if set, err = listMask("process.execCPUAffinity.final", a.Final, 1024); err != nil {
			return err
		}
	default:
		return nil // only initial: the kernel decides (runtime-spec)
	}
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("process.execCPUAffinity: sched_setaffinity: %w", err)
	}
	return nil
}
