package rootfs

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config is everything the rootfs phases need. Only Spec and Rootfs are
// required.
type Config struct {
	// Spec is the container's runtime-spec config.
	Spec *specs.Spec
	// Rootfs is the absolute host path of root.path.
	Rootfs string
	// Bundle is the absolute bundle path; relative bind-mount sources are
	// resolved against it (runtime-spec: "relative to the bundle").
	Bundle string
	// NoPivot switches Pivot to MS_MOVE + chroot (for ramfs roots).
	NoPivot bool
	// HostMountNS is set when linux.namespaces has no mount namespace: the
	// init then works in the runtime's own mount namespace, so the rootfs
	// becomes a private bind of itself that holds every container mount
	// (DetachHostMounts removes it), "/" is never touched, and Pivot
	// chroots.
	HostMountNS bool
	// UserNS is true when the init runs in a new user namespace: device
	// nodes are then bind-mounted from the host instead of created.
	UserNS bool
	// CgroupMounts, when non-empty, selects cgroup v1 emulation for mounts
	// of type "cgroup": one entry per mounted hierarchy.
	CgroupMounts []CgroupMount
	// Cgroup2Path is the host path of the container's cgroup v2 directory.
	// On a v2 host it is bind-mounted when the container has no cgroup
	// namespace; on a hybrid host it appears as <dest>/unified.
	Cgroup2Path string
	// MountSources maps a mount index to a detached mount made by
	// PrepareMountSource, used instead of opening mounts[i].source. A
	// container with its own user namespace needs this for idmapped
	// mounts, which only a process outside that namespace can create.
	// Prepare closes the fds it uses.
	MountSources map[int]int
}

// CgroupMount names one cgroup v1 hierarchy and the container's directory in it.
type CgroupMount struct {
	// Controller is the hierarchy's controller list as in /proc/self/cgroup,
	// for example "cpu", "cpu,cpuacct" or "name=systemd".
	Controller string
	// Path is the host path of the container's cgroup directory in it.
	Path string
}

// mountError formats errors about mounts[i] so that the JSON path and the
// destination come first: `mounts[3] (destination "/data"): ...`.
func mountError(i int, dest string, format string, args ...any) error {
	return fmt.Errorf("mounts[%d] (destination %q): %w", i, dest, fmt.Errorf(format, args...))
}

func (c *Config) linux() *specs.Linux {
	if c.Spec.Linux == nil {
		return &specs.Linux{}
	}
	return c.Spec.Linux
}

// hasNamespace reports whether the spec asks for a namespace of type t
// (whether new or joined by path: either way the init is inside one).
func (c *Config) hasNamespace(t specs.LinuxNamespaceType) bool {
	for _, ns := range c.linux().Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
