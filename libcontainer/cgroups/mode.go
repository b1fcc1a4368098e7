package cgroups

import (
	"sync"

	lib "github.com/opencontainers/cgroups"
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
var v1Mounts = sync.OnceValues(func() ([]lib.Mount, error) { return lib.GetCgroupMounts(false) })
