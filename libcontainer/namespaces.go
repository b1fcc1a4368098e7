package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/nsenter"
	berthspecs "github.com/berthproject/berth/specs"
)

// nsPlan says how the init gets its namespaces. The fast path creates them
// all in the clone that starts the init; joining one by path, or a time
// namespace, needs the C nsenter stage, which runs before the Go runtime.
type nsPlan struct {
	plan        nsenter.Plan
	cloneFlags  uintptr // fast path only
	newCgroupNS bool    // unshared by the init once it is in its cgroup
	userNS      bool    // the container has a user namespace of its own
	forks       bool    // the nsenter stage forks; the init is its child
	usermap     bool    // the nsenter stage asks for id maps
	// joined names each joined namespace by the child's fd, so that an
	// error of the C stage ("setns 5: ...") can say which entry failed.
	joined map[int]string
}

// explain rewrites the C stage's "setns FD" into the config entry.
func (p *nsPlan) explain(err error) error {
	if err == nil || p == nil {
		return err
	}
	msg := err.Error()
	for fd, name := range p.joined {
		needle := fmt.Sprintf("setns %d:", fd)
		if strings.Contains(msg, needle) {
			return errors.New(strings.Replace(msg, needle, "setns "+name+":", 1))
		}
	}
	return err
}

// planNamespaces builds the plan for linux.namespaces. addFD passes a file
// to the child and returns its fd number there.
func planNamespaces(spec *specs.Spec, addFD func(*os.File) int) (*nsPlan, error) {
	p := &nsPlan{}
	type join struct {
		typ  specs.LinuxNamespaceType
		file *os.File
		name string
	}
	var joins []join
	closeJoins := func() {
		for _, j := range joins {
			j.file.Close()
		}
	}
	var newFlags uintptr
	for i, ns := range spec.Linux.Namespaces {
		flag, ok := berthspecs.NamespaceCloneFlag(ns.Type)
		if !ok {
			closeJoins()
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].type: unknown namespace %q", i, ns.Type)
		}
		if ns.Type == specs.UserNamespace {
			p.userNS = true
		}
		if ns.Path == "" {
			if ns.Type == specs.CgroupNamespace {
				p.newCgroupNS = true
				continue
			}
			newFlags |= flag
			continue
		}
		f, err := openNamespace(ns.Path, flag)
		if err != nil {
			closeJoins()
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].path: %w", i, err)
		}
		joins = append(joins, join{ns.Type, f, fmt.Sprintf("linux.namespaces[%d].path %q", i, ns.Path)})
	}
	needsStage := len(joins) > 0 || newFlags&unix.CLONE_NEWTIME != 0
	if !needsStage {
		p.cloneFlags = newFlags
		return p, nil
	}
	// A user namespace is joined first: the others are then entered with
	// the capabilities it grants.
	sort.SliceStable(joins, func(i, j int) bool { return joins[i].typ == specs.UserNamespace && joins[j].typ != specs.UserNamespace })
	p.joined = make(map[int]string, len(joins))
	for _, j := range joins {
		fd := addFD(j.file)
		p.joined[fd] = j.name
		p.plan.Join(fd)
		if j.typ == specs.UserNamespace {
			p.plan.BecomeRoot()
		}
		if j.typ == specs.PIDNamespace || j.typ == specs.TimeNamespace {
			p.forks = true
		}
	}
	p.plan.Unshare(newFlags)
	p.usermap = newFlags&unix.CLONE_NEWUSER != 0
	if newFlags&unix.CLONE_NEWTIME != 0 {
		clocks := make([]string, 0, len(spec.Linux.TimeOffsets))
		for clock := range spec.Linux.TimeOffsets {
			clocks = append(clocks, clock)
		}
		sort.Strings(clocks)
		for _, clock := range clocks {
			off := spec.Linux.TimeOffsets[clock]
			p.plan.TimeOffset(clock, off.Secs, off.Nanosecs)
		}
	}
	if newFlags&(unix.CLONE_NEWPID|unix.CLONE_NEWTIME) != 0 {
		p.forks = true
	}
	if p.forks {
		p.plan.Fork()
	}
	return p, nil
}

// openNamespace opens a namespace file and checks it is one of the
// expected type, so a wrong path fails here with a clear error.
func openNamespace(path string, flag uintptr) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	const nsGetNSType = 0xb703 // NS_GET_NSTYPE from <linux/nsfs.h>
	t, err := unix.IoctlRetInt(int(f.Fd()), nsGetNSType)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a namespace file: %w", path, err)
	}
	if uintptr(t) != flag {
		f.Close()
		return nil, fmt.Errorf("%s: a namespace of another type", path)
	}
	return f, nil
}
