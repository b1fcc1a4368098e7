package libcontainer

import (
	"fmt"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
	berthspecs "github.com/berthproject/berth/specs"
)

// nsSetup says how the child gets the namespaces of linux.namespaces. The
// fast path creates them all in the clone that starts berth-init; joining
// one by path, or creating a time namespace, is done by berth-init itself
// (setns, unshare), which then forks so that what follows runs inside the
// pid and time namespaces.
type nsSetup struct {
	cloneFlags  uintptr // the fast path's CLONE_NEW* flags
	newCgroupNS bool    // unshared by the init once it is in its cgroup
	userNS      bool    // the container has a user namespace of its own
	newNetNS    bool    // a new network namespace: its loopback goes up
	forks       bool    // the init forks; the container's process is its child
	usermap     bool    // the init asks for id maps after unshare
	files       []*os.File
}

// close releases the namespace files (after the child inherited them, or
// on failure).
func (n *nsSetup) close() {
	for _, f := range n.files {
		f.Close()
	}
	n.files = nil
}

// planNamespaces fills p's namespace steps for linux.namespaces. addFD
// passes a file to the child and returns its fd number there.
func planNamespaces(linux *specs.Linux, p *plan.Plan, addFD func(*os.File) int) (*nsSetup, error) {
	n := &nsSetup{}
	type join struct {
		typ   specs.LinuxNamespaceType
		flag  uintptr
		file  *os.File
		label string
	}
	var joins []join
	var newFlags uintptr
	for i, ns := range linux.Namespaces {
		flag, ok := berthspecs.NamespaceCloneFlag(ns.Type)
		if !ok {
			n.close()
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].type: unknown namespace %q", i, ns.Type)
		}
		if ns.Type == specs.UserNamespace {
			n.userNS = true
		}
		if ns.Path == "" {
			switch ns.Type {
			case specs.CgroupNamespace:
				n.newCgroupNS = true
			case specs.NetworkNamespace:
				n.newNetNS = true
				newFlags |= flag
			default:
				newFlags |= flag
			}
			continue
		}
		f, err := openNamespace(ns.Path, flag)
		if err != nil {
			n.close()
			return nil, fmt.Errorf("config.json: linux.namespaces[%d].path: %w", i, err)
		}
		n.files = append(n.files, f)
		joins = append(joins, join{ns.Type, flag, f, fmt.Sprintf("linux.namespaces[%d].path %q", i, ns.Path)})
	}
	p.NewCgroupNS = n.newCgroupNS
	if len(joins) == 0 && newFlags&unix.CLONE_NEWTIME == 0 {
		n.cloneFlags = newFlags
		return n, nil
	}
	// A user namespace is joined first: the others are then entered with
	// the capabilities it grants.
	sort.SliceStable(joins, func(i, j int) bool { return joins[i].typ == specs.UserNamespace && joins[j].typ != specs.UserNamespace })
	for _, j := range joins {
		p.Joins = append(p.Joins, plan.Join{FD: addFD(j.file), Type: uint32(j.flag), Label: j.label})
		if j.typ == specs.PIDNamespace || j.typ == specs.TimeNamespace {
			n.forks = true
		}
	}
	p.Unshare = uint64(newFlags)
	n.usermap = newFlags&unix.CLONE_NEWUSER != 0
	p.UserMap = n.usermap
	if newFlags&unix.CLONE_NEWTIME != 0 {
		clocks := make([]string, 0, len(linux.TimeOffsets))
		for clock := range linux.TimeOffsets {
			clocks = append(clocks, clock)
		}
		sort.Strings(clocks)
		for _, clock := range clocks {
			off := linux.TimeOffsets[clock]
			p.TimeOffsets = append(p.TimeOffsets, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
		}
	}
	if newFlags&(unix.CLONE_NEWPID|unix.CLONE_NEWTIME) != 0 {
		n.forks = true
	}
	p.Fork = n.forks
	return n, nil
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
