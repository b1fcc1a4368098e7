package cgroups

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// V1Mount is one cgroup v1 hierarchy as the container should see it: runc
// bind-mounts the container's own cgroup directory of each hierarchy at
// /sys/fs/cgroup/<Name> (on a tmpfs) and symlinks each of Links to Name.
// With a cgroup namespace runc instead mounts a fresh "cgroup" filesystem
// there with Name as its options ("name=systemd" for systemd).
type V1Mount struct {
	// Name is the base name of the host's mount point, e.g. "memory",
	// "cpu,cpuacct" or "systemd".
	Name string
	// Subsystems are the hierarchy's controllers, e.g. ["cpu", "cpuacct"];
	// a named hierarchy like name=systemd appears as "systemd".
	Subsystems []string
	// HostPath is the container's cgroup directory in this hierarchy, the
	// bind-mount source.
	HostPath string
	// Links are, for a co-mounted hierarchy whose Name has commas, the parts
	// of Name: runc creates /sys/fs/cgroup/<link> -> <Name> for each
	// (cpu -> cpu,cpuacct and cpuacct -> cpu,cpuacct).
	Links []string
}

// V1Mounts lists, for a v1 or hybrid host, the hierarchies the container's
// /sys/fs/cgroup should show, sorted by Name. The cgroup2 hierarchy of a
// hybrid host is not included (runc does not show it either). Call it
// after Apply or Create, when the directories exist.
func (m *Manager) V1Mounts() ([]V1Mount, error) {
	if m.mode == ModeV2 {
		return nil, fmt.Errorf("cgroup %s: V1Mounts on a cgroup v2 host; mount cgroup2 instead", m.name)
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, fmt.Errorf("listing cgroup v1 mounts: %w", err)
	}
	paths := m.Paths() // a rootless container may lack some
	var out []V1Mount
	for _, mnt := range mounts {
		host := ""
		for _, s := range mnt.Subsystems {
			if host = paths[s]; host == "" {
				host = paths["name="+s]
			}
			if host != "" {
				break
			}
		}
		if host == "" {
			// A hierarchy the library does not manage (e.g. a private
			// name=foo): the container has no cgroup there to show.
			continue
		}
		name := filepath.Base(mnt.Mountpoint)
		vm := V1Mount{Name: name, Subsystems: slices.Clone(mnt.Subsystems), HostPath: host}
		if strings.Contains(name, ",") {
			vm.Links = strings.Split(name, ",")
		}
		out = append(out, vm)
	}
	slices.SortFunc(out, func(a, b V1Mount) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
