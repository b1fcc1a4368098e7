package libcontainer

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/libcontainer/cgroups"
)

// execCgroup is the cgroup an exec'd process joins: the container's, or
// with sub (`berth exec --cgroup`) existing sub-cgroups of it. sub maps a
// v1 controller to a path below the container's cgroup; the key "" gives
// one path for every hierarchy (the cgroup v2 form).
func (c *Container) execCgroup(sub map[string]string) (*cgroups.Manager, error) {
	if len(sub) == 0 {
		return c.cgroupIfAny()
	}
	if len(c.state.CgroupPaths) == 0 {
		return nil, fmt.Errorf("--cgroup: container %q has no cgroup of its own", c.state.ID)
	}
	paths := maps.Clone(c.state.CgroupPaths)
	join := func(ctrl, base, rel string) error {
		p := filepath.Join(base, rel)
		if p != base && !strings.HasPrefix(p, base+"/") {
			return fmt.Errorf("--cgroup %s: %q leaves the container's cgroup", ctrl, rel)
		}
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return fmt.Errorf("--cgroup: sub-cgroup %s does not exist (create it first): %v", p, err)
		}
		paths[ctrl] = p
		return nil
	}
	if rel, ok := sub[""]; ok {
		for ctrl, base := range c.state.CgroupPaths {
			if err := join(ctrl, base, rel); err != nil {
				return nil, err
			}
		}
	} else {
		for ctrl, rel := range sub {
			base, ok := c.state.CgroupPaths[ctrl]
			if !ok {
				return nil, fmt.Errorf("--cgroup %s:%s: the container has no cgroup of controller %q", ctrl, rel, ctrl)
			}
			if err := join(ctrl, base, rel); err != nil {
				return nil, err
			}
		}
	}
	return cgroups.Load(cgroupOptions(c.state, nil, nil), paths)
}
