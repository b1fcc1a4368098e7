package libcontainer

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/rootfs"
	"github.com/berthproject/berth/libcontainer/sysfile"
)

// cgroupOptions are the options of the container's cgroup; linux, at
// create, adds the kernel memory limits only create writes.
func cgroupOptions(st *State, linux *specs.Linux, res *cgroups.Resources) cgroups.Options {
	o := cgroups.Options{
		CgroupsPath: st.CgroupsPath, ContainerID: st.ID, Resources: res,
		Systemd: st.Systemd, Rootless: st.Rootless,
	}
	if linux != nil && linux.Resources != nil && linux.Resources.Memory != nil {
		m := linux.Resources.Memory
		o.Kernel, o.KernelTCP = m.Kernel, m.KernelTCP //nolint:staticcheck // deprecated, still honoured
	}
	return o
}

// cgroup reloads the container's cgroup manager from its saved paths.
func (c *Container) cgroup() (*cgroups.Manager, error) {
	cg, err := c.cgroupIfAny()
	if err == nil && cg == nil {
		err = fmt.Errorf("container %q has no cgroup of its own: it runs rootless in its caller's cgroups, where berth could not create one", c.state.ID)
	}
	return cg, err
}

// cgroupIfAny is cgroup, with nil for a rootless container that has no
// cgroup of its own.
func (c *Container) cgroupIfAny() (*cgroups.Manager, error) {
	if len(c.state.CgroupPaths) == 0 && c.state.Rootless {
		return nil, nil
	}
	return cgroups.Load(cgroupOptions(c.state, nil, nil), c.state.CgroupPaths)
}

func (c *Container) paused() bool {
	// The freezer's own file, without loading the cgroup manager: state
	// and exec ask this on every call.
	if dir := c.state.CgroupPaths["freezer"]; dir != "" {
		b, err := sysfile.ReadFile(filepath.Join(dir, "freezer.state"))
		return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
	}
	if dir := c.state.CgroupPaths[""]; dir != "" && cgroups.HostMode() == cgroups.ModeV2 {
		b, err := sysfile.ReadFile(filepath.Join(dir, "cgroup.events"))
		return err == nil && strings.Contains(string(b), "frozen 1")
	}
	cg, err := c.cgroup()
	if err != nil {
		return false
	}
	frozen, err := cg.Frozen()
	return err == nil && frozen
}

// destroyCgroup removes the cgroup; the kernel may need a moment after the
// last process died before rmdir succeeds.
func destroyCgroup(cg *cgroups.Manager) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = cg.Destroy(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// cgroupMountsFor tells the rootfs code how to show the container its own
// cgroup under /sys/fs/cgroup.
// A rootless container may have no cgroup of its own in some hierarchies
// (it runs in its caller's there): those are not shown.
func cgroupMountsFor(cg *cgroups.Manager) ([]rootfs.CgroupMount, string, error) {
	unified := cg.Paths()[""]
	if cgroups.HostMode() == cgroups.ModeV2 {
		return nil, unified, nil
	}
	v1, err := cg.V1Mounts()
	if err != nil {
		return nil, "", err
	}
	known := kernelControllers()
	out := make([]rootfs.CgroupMount, 0, len(v1))
	for _, m := range v1 {
		subs := make([]string, len(m.Subsystems))
		for i, s := range m.Subsystems {
			// A named hierarchy (name=systemd) is mounted by its name.
			if !known[s] && !strings.HasPrefix(s, "name=") {
				s = "name=" + s
			}
			subs[i] = s
		}
		out = append(out, rootfs.CgroupMount{Controller: strings.Join(subs, ","), Path: m.HostPath})
	}
	return out, unified, nil
}

// kernelControllers lists the controllers in /proc/cgroups.
func kernelControllers() map[string]bool {
	known := map[string]bool{}
	b, _ := sysfile.ReadFile("/proc/cgroups")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			known[f[0]] = true
		}
	}
	return known
}
