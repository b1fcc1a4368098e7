package libcontainer

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/rootfs"
)

// initConfig is everything the init (or exec) process needs, computed by the
// runtime so the init does no lookups of its own. File descriptors are the
// numbers they have in the child.
type initConfig struct {
	// Exec is set for `berth exec`: the namespaces are joined by the
	// nsenter stage and no filesystem is set up.
	Exec    bool        `json:"exec,omitempty"`
	Spec    *specs.Spec `json:"spec"`
	Rootfs  string      `json:"rootfs"`
	NoPivot bool        `json:"no_pivot,omitempty"`
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// NewCgroupNS asks the init to unshare the cgroup namespace once it has
	// been placed in its cgroup, so that cgroup is the namespace's root.
	NewCgroupNS bool `json:"new_cgroup_ns,omitempty"`
	// UserNS is set when the container has its own user namespace.
	UserNS bool `json:"user_ns,omitempty"`
	// CgroupMounts lets the rootfs code show the container its own cgroup
	// under /sys/fs/cgroup on v1 hosts.
	CgroupMounts []rootfs.CgroupMount `json:"cgroup_mounts,omitempty"`
	Cgroup2Path  string               `json:"cgroup2_path,omitempty"`
	// MountSources are detached idmapped mounts made by the runtime, by
	// mount index (see rootfs.Config.MountSources).
	MountSources map[int]int `json:"mount_sources,omitempty"`
	// RootFD, for exec into a container without a mount namespace, is an
	// O_PATH fd of the init's root: the exec process chroots to it (a
	// joined mount namespace would have brought the root along).
	RootFD int `json:"root_fd,omitempty"`
	// FifoFD is an O_PATH fd of <state>/exec.fifo; -1 for exec.
	FifoFD int `json:"fifo_fd"`
	// ConsoleFD is the console socket; -1 without a terminal.
	ConsoleFD int `json:"console_fd"`
	// RuntimeHooks is set when the runtime has prestart or createRuntime
	// hooks to run after the mounts, so the init stops and waits for it.
	RuntimeHooks bool `json:"runtime_hooks,omitempty"`
	// PreserveFDs is how many fds after stdio the user program inherits.
	PreserveFDs int `json:"preserve_fds,omitempty"`
	// State is the container state handed to hooks the init runs.
	State specs.State `json:"state"`
}
