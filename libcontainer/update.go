package libcontainer

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/cgroups"
)

// Update changes the resources of a created, running or paused container.
// Fields absent from res keep their values.
func (c *Container) Update(res *specs.LinuxResources) error {
	unlock, err := c.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st == specs.StateStopped {
		return fmt.Errorf("container %q is stopped: its resources cannot be updated", c.state.ID)
	}
	spec, err := c.spec()
	if err != nil {
		return err
	}
	cur, err := cgroups.ContainerResources(spec.Linux)
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
	killPoint(StepUpdateCgroup)
	// Keep the config in step, so the next update merges onto this one.
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	if err := mergeSpecResources(spec.Linux.Resources, res); err != nil {
		return err
	}
	if err := c.setSpec(spec); err != nil {
		return err
	}
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	killPoint(StepUpdateSaved)
	return nil
}

// mergeSpecResources merges upd into cur field by field: decoding upd's
// JSON onto cur sets exactly the values upd has and keeps the others.
func mergeSpecResources(cur, upd *specs.LinuxResources) error {
	b, err := json.Marshal(upd)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, cur)
}

// Stats returns the container's cgroup statistics, for `berth events`.
func (c *Container) Stats() (*cgroups.Stats, error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}
