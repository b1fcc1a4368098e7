package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	lib "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
)

// On a hybrid host some controllers may be bound to the cgroup2 hierarchy
// at /sys/fs/cgroup/unified instead of a v1 one (hugetlb is, on kernels
// where nothing mounts it as v1). The library's v1 manager only joins that
// hierarchy; it cannot apply limits there, and it refuses
// linux.resources.unified outright. The "v2 side" below applies those
// settings with the library's v2 code on the container's cgroup2 directory.

const hybridRoot = "/sys/fs/cgroup/unified"

// v2SideControllers lists the controllers bound to the cgroup2 hierarchy of
// a hybrid host.
func v2SideControllers() (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(hybridRoot, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("reading the hybrid host's cgroup2 controllers: %w", err)
	}
	ctrls := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		ctrls[c] = true
	}
	return ctrls, nil
}

// splitHybrid divides res between the v1 manager and the v2 side: the v2
// side gets the unified keys and, when hugetlb is not a v1 controller here,
// the huge page limits. v2 is nil when the v2 side has nothing to do.
// res itself is not modified.
func splitHybrid(res *Resources, v1HasHugetlb bool) (v1, v2 *Resources) {
	moveHugetlb := !v1HasHugetlb && len(res.HugetlbLimit) > 0
	if len(res.Unified) == 0 && !moveHugetlb {
		return res, nil
	}
	v1Part := *res
	v1Part.Unified = nil
	// Devices stay with v1 (the devices controller enforces them there);
	// the freezer too (v1 freezer is authoritative for pause).
	v2Part := &Resources{Unified: res.Unified, SkipDevices: true}
	if moveHugetlb {
		v1Part.HugetlbLimit = nil
		v2Part.HugetlbLimit = res.HugetlbLimit
	}
	return &v1Part, v2Part
}

// setV2Side applies r to the container's cgroup2 directory dir, first
// enabling in every ancestor the controllers r needs (cgroup2 only shows a
// controller's files in a child when the parent delegates it).
func setV2Side(dir string, r *Resources) error {
	if dir == "" {
		return errors.New("this hybrid host's cgroup2 hierarchy has no directory for the container")
	}
	need := map[string]bool{}
	if len(r.HugetlbLimit) > 0 {
		need["hugetlb"] = true
	}
	for k := range r.Unified {
		if ctrl, _, _ := strings.Cut(k, "."); ctrl != "cgroup" {
			need[ctrl] = true
		}
	}
	rel, err := filepath.Rel(hybridRoot, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup2 directory %s is not below %s", dir, hybridRoot)
	}
	// Ancestors from the root down: a parent must delegate before its child can.
	var ancestors []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		ancestors = append(ancestors, p)
		if p == hybridRoot {
			break
		}
	}
	for _, p := range slices.Backward(ancestors) {
		if err := enableControllers(p, need); err != nil {
			return err
		}
	}
	m, err := fs2.NewManager(&lib.Cgroup{Resources: r}, dir)
	if err != nil {
		return err
	}
	return m.Set(r)
}

func enableControllers(dir string, ctrls map[string]bool) error {
	for c := range ctrls {
		if err := lib.WriteFile(dir, "cgroup.subtree_control", "+"+c); err != nil {
			return fmt.Errorf("enabling the %s controller in %s: %w", c, dir, err)
		}
	}
	return nil
}

// v2SideStats reads the huge page usage the v1 manager cannot see.
func v2SideStats(dir string, into *lib.Stats) error {
	m, err := fs2.NewManager(&lib.Cgroup{Resources: &Resources{}}, dir)
	if err != nil {
		return err
	}
	st, err := m.Stats(&lib.StatsOptions{Controllers: lib.HugeTLB})
	if err != nil {
		return err
	}
	into.HugetlbStats = st.HugetlbStats
	return nil
}
