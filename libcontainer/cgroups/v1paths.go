package cgroups

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	lib "github.com/opencontainers/cgroups"

	"github.com/berthproject/berth/libcontainer/sysfile"
)

// v1Subsystems are the library's cgroupfs v1 subsystems (fs.subsystems),
// in its order; a hybrid host adds "" for the cgroup2 hierarchy.
var v1Subsystems = []string{"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb",
	"net_cls", "net_prio", "perf_event", "freezer", "rdma", "name=systemd", "misc"}

// v1Paths computes the directories the library's cgroupfs v1 manager
// would pick for cg (fs.initPaths), from the one read of mountinfo that
// v1Mounts already made and one of /proc/self/cgroup. The library finds
// each hierarchy with three stats, a statfs and a securejoin walk of its
// own (about 60 system calls per create on this layout). It returns nil,
// for the library to decide, for anything but the common layout (every
// hierarchy mounted directly below /sys/fs/cgroup) and the cases the
// library reports errors for: the paths are then exactly the library's
// (TestV1PathsAsLibrary compares them on the host).
func v1Paths(cg *lib.Cgroup, mode Mode) map[string]string {
	if mode != ModeV1 && mode != ModeHybrid {
		return nil
	}
	inner, ok := innerPath(cg)
	if !ok {
		return nil
	}
	mounts, err := v1Mounts()
	if err != nil || len(mounts) == 0 {
		return nil
	}
	own, err := selfCgroups()
	if err != nil {
		return nil
	}
	paths := make(map[string]string, len(v1Subsystems)+1)
	for _, name := range v1Subsystems {
		m, found := mountOf(mounts, strings.TrimPrefix(name, lib.CgroupNamePrefix))
		if !found {
			if name == "devices" {
				return nil // the library refuses a host without it
			}
			continue
		}
		if filepath.Dir(m.Mountpoint) != "/sys/fs/cgroup" {
			return nil
		}
		if filepath.IsAbs(inner) {
			paths[name] = filepath.Join(m.Mountpoint, inner)
			continue
		}
		cur, ok := own[name]
		if !ok {
			cur, ok = own[lib.CgroupNamePrefix+name]
		}
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(m.Root, cur)
		if err != nil {
			return nil
		}
		paths[name] = filepath.Join(m.Mountpoint, rel, inner)
	}
	if mode == ModeHybrid {
		paths[""] = filepath.Join(hybridRoot, inner)
	}
	return paths
}

func mountOf(mounts []lib.Mount, subsystem string) (lib.Mount, bool) {
	for _, m := range mounts {
		for _, s := range m.Subsystems {
			if s == subsystem {
				return m, true
			}
		}
	}
	return lib.Mount{}, false
}

// innerPath is the library's path below a hierarchy (internal/path.Inner):
// Path, or Parent/Name, each cleaned so that no ".." leaves the hierarchy.
func innerPath(cg *lib.Cgroup) (string, bool) {
	if (cg.Name != "" || cg.Parent != "") && cg.Path != "" {
		return "", false
	}
	if p := cleanPath(cg.Path); p != "" {
		return p, true
	}
	return filepath.Join(cleanPath(cg.Parent), cleanPath(cg.Name)), true
}

func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	rel, _ := filepath.Rel("/", filepath.Clean("/"+p))
	return rel
}

// ownCgroups parses a /proc/<pid>/cgroup file as lib.ParseCgroupFile does
// (a key per controller of each line, the named hierarchies as
// "name=..."), read without os.File's round trips.
func ownCgroups(file string) (map[string]string, error) {
	b, err := sysfile.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		parts := strings.SplitN(string(line), ":", 3)
		if len(parts) < 3 {
			return nil, fmt.Errorf("%s: invalid cgroup entry %q", file, line)
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}
