package cgroups

import (
	"bytes"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	lib "github.com/opencontainers/cgroups"

	"github.com/berthproject/berth/libcontainer/sysfile"
)

// Mode is how the host has laid out its cgroup hierarchies.
type Mode int

const (
	// ModeV1 is the legacy layout: one cgroup v1 hierarchy per controller
	// (or per group of co-mounted controllers) under /sys/fs/cgroup.
	ModeV1 Mode = iota + 1
	// ModeHybrid is ModeV1 plus a cgroup2 hierarchy at
	// /sys/fs/cgroup/unified that usually carries no controllers, only
	// process tracking (systemd's "hybrid" mode).
	ModeHybrid
	// ModeV2 is the unified hierarchy mounted at /sys/fs/cgroup.
	ModeV2
)

func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeHybrid:
		return "hybrid"
	case ModeV2:
		return "v2"
	}
	return "unknown"
}

// HostMode reports the cgroup layout of this host. The answer is computed
// once per process (by the library) and cached.
func HostMode() Mode {
	switch {
	case lib.IsCgroup2UnifiedMode():
		return ModeV2
	case lib.IsCgroup2HybridMode():
		return ModeHybrid
	}
	return ModeV1
}

// v1Mounts lists the host's cgroup v1 mounts once per process: berth is a
// short-lived command and the table is read by several steps of one
// create (mountinfo can be long).
var v1Mounts = sync.OnceValues(func() ([]lib.Mount, error) {
	if HostMode() == ModeV2 {
		return lib.GetCgroupMounts(false)
	}
	return cgroupMountsV1()
})

// selfCgroups is /proc/self/cgroup, read once per process like v1Mounts.
var selfCgroups = sync.OnceValues(func() (map[string]string, error) { return ownCgroups("/proc/self/cgroup") })

// cgroupMountsV1 is lib.GetCgroupMounts(false) on a v1 or hybrid host,
// from mountinfo and /proc/self/cgroup read without os.File's round trips
// (sysfile): the first mount of each hierarchy berth's cgroup file names,
// its subsystems without the "name=" of named ones, in mountinfo order.
func cgroupMountsV1() ([]lib.Mount, error) {
	b, err := sysfile.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	infos, err := mountinfo.GetMountsFromReader(bytes.NewReader(b), mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, err
	}
	own, err := selfCgroups()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(own))
	var out []lib.Mount
	for _, mi := range infos {
		m := lib.Mount{Mountpoint: mi.Mountpoint, Root: mi.Root}
		for opt := range strings.SplitSeq(mi.VFSOptions, ",") {
			if _, known := own[opt]; !known || seen[opt] {
				continue
			}
			seen[opt] = true
			m.Subsystems = append(m.Subsystems, strings.TrimPrefix(opt, lib.CgroupNamePrefix))
		}
		if len(m.Subsystems) > 0 {
			out = append(out, m)
		}
		if len(seen) >= len(own) {
			break
		}
	}
	return out, nil
}
