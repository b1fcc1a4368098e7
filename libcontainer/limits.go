package libcontainer

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
	berthspecs "github.com/berthproject/berth/specs"
)

// The process fields that are numbers to the kernel, resolved from the
// config's names: rlimits, scheduler, I/O priority, personality, memory
// policy and CPU affinity. berth-init only passes them to the kernel.

// configErr is a bad value at a JSON path of config.json. specs.Validate
// refuses these before planning; the plan checks again, in the same words.
func configErr(path, format string, args ...any) error {
	return &berthspecs.FieldError{File: berthspecs.ConfigFile, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func planRlimits(rlimits []specs.POSIXRlimit) ([]plan.Rlimit, error) {
	var out []plan.Rlimit
	for i, rl := range rlimits {
		res, ok := berthspecs.RlimitResource(rl.Type)
		if !ok {
			return nil, configErr(fmt.Sprintf("process.rlimits[%d].type", i), "unknown rlimit %q", rl.Type)
		}
		out = append(out, plan.Rlimit{Resource: uint32(res), Soft: rl.Soft, Hard: rl.Hard,
			Label: fmt.Sprintf("process.rlimits[%d] (%s)", i, rl.Type)})
	}
	return out, nil
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

// planScheduler returns process.scheduler as the struct sched_setattr takes.
func planScheduler(s *specs.Scheduler) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	policy, ok := berthspecs.SchedulerPolicy(s.Policy)
	if !ok {
		return nil, configErr("process.scheduler.policy", "unknown policy %q", s.Policy)
	}
	attr := schedAttr{Policy: uint32(policy), Nice: s.Nice, Priority: uint32(s.Priority),
		Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period}
	attr.Size = uint32(unsafe.Sizeof(attr))
	for i, f := range s.Flags {
		v, ok := berthspecs.SchedulerFlag(f)
		if !ok {
			return nil, configErr(fmt.Sprintf("process.scheduler.flags[%d]", i), "unknown flag %q", f)
		}
		attr.Flags |= v
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)), nil
}

func planIOPriority(p *specs.LinuxIOPriority) (*uint32, error) {
	if p == nil {
		return nil, nil
	}
	class, ok := berthspecs.IOPriorityClass(p.Class)
	if !ok {
		return nil, configErr("process.ioPriority.class", "unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return nil, configErr("process.ioPriority.priority", "%d is out of range (0 to 7)", p.Priority)
	}
	prio := uint32(class<<13 | p.Priority)
	return &prio, nil
}

func planPersonality(p *specs.LinuxPersonality) (*uint32, error) {
	if p == nil {
		return nil, nil
	}
	d, ok := berthspecs.PersonalityDomain(p.Domain)
	if !ok {
		return nil, configErr("linux.personality.domain", "unknown domain %q", p.Domain)
	}
	if len(p.Flags) > 0 {
		return nil, configErr("linux.personality.flags", "%q: no flags are supported", p.Flags)
	}
	v := uint32(d)
	return &v, nil
}

// planMemoryPolicy resolves linux.memoryPolicy for set_mempolicy(2); the
// policy is kept across execve, so the program starts under it.
func planMemoryPolicy(mp *specs.LinuxMemoryPolicy) (*plan.MemPolicy, error) {
	if mp == nil {
		return nil, nil
	}
	mode, ok := berthspecs.MemoryPolicyMode(mp.Mode)
	if !ok {
		return nil, configErr("linux.memoryPolicy.mode", "unknown mode %q", mp.Mode)
	}
	for _, f := range mp.Flags {
		bit, ok := berthspecs.MemoryPolicyFlag(f)
		if !ok {
			return nil, configErr("linux.memoryPolicy.flags", "unknown flag %q", f)
		}
		mode |= bit
	}
	// A 1024-bit mask with maxnode 1024, of which the kernel uses 1023.
	mask, err := listMask("linux.memoryPolicy.nodes", mp.Nodes, 1023)
	if err != nil {
		return nil, err
	}
	return &plan.MemPolicy{Mode: uint32(mode), Mask: maskBytes(mask),
		Label: fmt.Sprintf("linux.memoryPolicy (mode %s, nodes %q)", mp.Mode, mp.Nodes)}, nil
}

// planExecAffinity is the CPU mask an exec'd process runs on once it is in
// the container's cgroup: process.execCPUAffinity.final; without any
// execCPUAffinity every CPU the cgroup allows (not the affinity of whoever
// ran `berth exec`, a pinned agent say), as runc does; nil with only an
// initial one (the kernel decides, says runtime-spec).
func planExecAffinity(a *specs.CPUAffinity) ([]byte, error) {
	switch {
	case a == nil || (a.Initial == "" && a.Final == ""):
		set := new(unix.CPUSet)
		for i := 0; i < 1024; i++ {
			set.Set(i) // the kernel masks it with the cgroup's cpuset
		}
		return maskBytes(set), nil
	case a.Final != "":
		set, err := listMask("process.execCPUAffinity.final", a.Final, 1024)
		if err != nil {
			return nil, err
		}
		return maskBytes(set), nil
	}
	return nil, nil
}

// listMask turns a list ("0-3,7") of CPUs or NUMA nodes, each below max,
// into the bit mask sched_setaffinity and set_mempolicy take; nil for an
// empty list.
func listMask(field, list string, max int) (*unix.CPUSet, error) {
	members, err := berthspecs.ParseList(list, max)
	if err != nil {
		return nil, configErr(field, "%v", err)
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

// maskBytes is the mask as the kernel reads it (an array of longs).
func maskBytes(set *unix.CPUSet) []byte {
	if set == nil {
		return nil
	}
	b := make([]byte, 0, len(set)*8)
	for _, w := range set {
		b = binary.LittleEndian.AppendUint64(b, uint64(w))
	}
	return b
}
