package libcontainer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/libcontainer/cgroups"
)

func TestKernelControllers(t *testing.T) {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		want[strings.Fields(line)[0]] = true
	}
	got := kernelControllers()
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("kernelControllers = %v, /proc/cgroups lists %v", got, want)
	}
	for c := range want {
		if !got[c] {
			t.Errorf("kernelControllers lacks %s", c)
		}
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if !got[c] {
			t.Errorf("kernelControllers lacks %s", c)
		}
	}
	for c := range got {
		if strings.HasPrefix(c, "#") || strings.HasPrefix(c, "name=") {
			t.Errorf("kernelControllers has %q, not a controller", c)
		}
	}
}

// cgroupMountsFor lists the container's own dir of each v1 hierarchy by
// its /proc/self/cgroup controller list, named hierarchies as name=<n>.
func TestCgroupMountsFor(t *testing.T) {
	needRoot(t)
	id := "berth-lctest-mounts-" + strconv.Itoa(os.Getpid())
	cg, err := cgroups.New(cgroups.Options{ContainerID: id})
	if err != nil {
		t.Fatal(err)
	}
	mounts, cg2, err := cgroupMountsFor(cg)
	if err != nil {
		t.Fatal(err)
	}
	paths := cg.Paths()
	if cg2 != paths[""] {
		t.Errorf("cgroup2 path %q, want %q", cg2, paths[""])
	}
	if cgroups.HostMode() == cgroups.ModeV2 {
		if mounts != nil {
			t.Fatalf("v2 host: v1 mounts %v", mounts)
		}
		return
	}
	// What the host's own process sees, to compare the names with.
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	hostLists := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] != "" {
			hostLists[f[1]] = true
		}
	}
	if len(mounts) == 0 {
		t.Fatal("no v1 mounts on a v1 host")
	}
	known := kernelControllers()
	for _, m := range mounts {
		if !hostLists[m.Controller] {
			t.Errorf("mount %q: not a controller list of /proc/self/cgroup %v", m.Controller, hostLists)
		}
		first := strings.Split(m.Controller, ",")[0]
		if !known[first] && !strings.HasPrefix(first, "name=") {
			t.Errorf("mount %q: unknown controller not given as name=", m.Controller)
		}
		if want := paths[first]; m.Path != want || m.Path == "" {
			t.Errorf("mount %q: path %q, want %q", m.Controller, m.Path, want)
		}
		if !strings.HasSuffix(m.Path, filepath.Join(cgroups.DefaultParent, id)) {
			t.Errorf("mount %q: path %q is not the container's", m.Controller, m.Path)
		}
		// Nothing was created: New only computes the paths.
		if _, err := os.Stat(m.Path); err == nil {
			t.Errorf("%s exists: cgroupMountsFor must not create cgroups", m.Path)
		}
	}
	if hostLists["name=systemd"] {
		found := false
		for _, m := range mounts {
			found = found || m.Controller == "name=systemd"
		}
		if !found {
			t.Errorf("no name=systemd mount in %v", mounts)
		}
	}
}
