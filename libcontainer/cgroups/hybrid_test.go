package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	lib "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// On a hybrid host, huge page limits (when hugetlb is bound to cgroup2) and
// unified keys are applied in the container's /sys/fs/cgroup/unified
// directory, next to the v1 limits.
func TestHybridV2Side(t *testing.T) {
	requireRoot(t)
	if HostMode() != ModeHybrid {
		t.Skipf("host is %v, not hybrid", HostMode())
	}
	v1, err := availableControllers(ModeHybrid)
	if err != nil {
		t.Fatal(err)
	}
	v2side, err := v2SideControllers()
	if err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("/berth-hybridtest-%d", os.Getpid())
	restoreSubtreeControl(t, hybridRoot, parent)
	t.Cleanup(func() {
		for _, d := range v1Dirs(t, parent) {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("removing test parent %s: %v", d, err)
			}
		}
	})

	spec := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](32 << 20)},
		Unified: map[string]string{"cgroup.max.descendants": "3"},
	}
	hugetlbOnV2 := !v1["hugetlb"] && v2side["hugetlb"]
	if hugetlbOnV2 {
		spec.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
	}
	res, err := ContainerResources(&specs.Linux{Resources: spec})
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueID(t)
	inner := parent + "/" + id
	m, err := New(Options{ContainerID: id, CgroupsPath: inner, Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	sh := startShell(t, `read x`, nil)
	if err := m.Apply(sh.pid()); err != nil {
		t.Fatal(err)
	}
	v2dir := filepath.Join(hybridRoot, inner)
	if got := m.Paths()[""]; got != v2dir {
		t.Fatalf("cgroup2 path %q, want %q", got, v2dir)
	}
	want := map[string]string{
		filepath.Join(v2dir, "cgroup.max.descendants"):                         "3",
		filepath.Join("/sys/fs/cgroup/memory", inner, "memory.limit_in_bytes"): strconv.Itoa(32 << 20),
	}
	if hugetlbOnV2 {
		want[filepath.Join(v2dir, "hugetlb.2MB.max")] = strconv.Itoa(4 << 20)
	} else {
		t.Logf("hugetlb is not (only) on the cgroup2 side here; checking unified keys only")
	}
	for file, w := range want {
		if got := readTrim(t, file); got != w {
			t.Errorf("%s = %q, want %q", file, got, w)
		}
	}

	if hugetlbOnV2 {
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Hugetlb["2MB"]; !ok {
			t.Errorf("stats lack the cgroup2-side hugetlb: %+v", st.Hugetlb)
		}
		next, err := MergeUpdate(m.Resources(), &specs.LinuxResources{
			HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}},
		})
		if err != nil {
			t.Fatal(err)
		}
		lm, err := Load(Options{ContainerID: id, CgroupsPath: inner, Resources: m.Resources()}, m.Paths())
		if err != nil {
			t.Fatal(err)
		}
		if err := lm.Set(next); err != nil {
			t.Fatal(err)
		}
		if got := readTrim(t, filepath.Join(v2dir, "hugetlb.2MB.max")); got != strconv.Itoa(8<<20) {
			t.Errorf("hugetlb.2MB.max after update = %s", got)
		}
	}

	// A unified key for a controller the cgroup2 side lacks is refused early.
	if !v2side["memory"] {
		bad := &Resources{Unified: map[string]string{"memory.high": "1"}}
		if _, err := New(Options{ContainerID: id + "x", CgroupsPath: inner + "x", Resources: bad}); err == nil {
			t.Error("unified memory.high accepted on the hybrid cgroup2 side without memory")
		}
	}

	sh.kill()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertNoDirs(t, v1Dirs(t, inner))
}

// TestThreadCgroupsNamedHierarchy: a named v1 hierarchy (podman and
// dockerd mount name=systemd on hosts without systemd) is keyed
// "name=systemd" in the container's paths but listed as "systemd" among
// the mount's subsystems; the forking thread must still find its cgroup
// there, or every container would be moved in afterwards through
// cgroup.procs (an RCU grace period each).
func TestThreadCgroupsNamedHierarchy(t *testing.T) {
	own, err := lib.ParseCgroupFile("/proc/thread-self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := own["name=systemd"]; !ok {
		t.Log("this host has no name=systemd hierarchy: nothing to check")
		return
	}
	got, err := threadCgroups(map[string]string{"name=systemd": "/x", "pids": "/y"})
	if err != nil {
		t.Fatalf("threadCgroups with a named hierarchy: %v", err)
	}
	if !strings.HasPrefix(got["name=systemd"], "/sys/fs/cgroup/") || got["pids"] == "" {
		t.Errorf("thread's cgroups %v", got)
	}
}
