package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/cgroups"
)

// Update changes the resources of a created, running or paused container.
// Fields absent from res keep their values.
func (c *Container) Update(res *specs.LinuxResources) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st == specs.StateStopped {
		return fmt.Errorf("container %q is stopped: its resources cannot be updated", c.state.ID)
	}
	cur, err := cgroups.ContainerResources(c.state.Config.Linux)
	if err != nil {
		return err
	}
	merged, err := cgroups.MergeUpdate(cur, res)
	if err != nil {
		return err
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := cg.Set(merged); err != nil {
		return err
	}
	// Keep the config in step, so the next update merges onto this one.
	if c.state.Config.Linux.Resources == nil {
		c.state.Config.Linux.Resources = &specs.LinuxResources{}
	}
	mergeSpecResources(c.state.Config.Linux.Resources, res)
	return saveState(c.dir, c.state)
}

// mergeSpecResources copies the sections present in upd into cur.
func mergeSpecResources(cur, upd *specs.LinuxResources) {
	if upd.Memory != nil {
		cur.Memory = upd.Memory
	}
	if upd.CPU != nil {
		cur.CPU = upd.CPU
	}
	if upd.Pids != nil {
		cur.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		cur.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		cur.HugepageLimits = upd.HugepageLimits
	}
	if upd.Network != nil {
		cur.Network = upd.Network
	}
	if upd.Rdma != nil {
		cur.Rdma = upd.Rdma
	}
	if upd.Unified != nil {
		cur.Unified = upd.Unified
	}
}

// Stats returns the container's cgroup statistics, for `berth events`.
func (c *Container) Stats() (*cgroups.Stats, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}
