package cgroups

import (
	"maps"
	"os"
	"os/exec"
	"reflect"
	"testing"

	lib "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
)

// berth computes the v1 paths itself (v1Paths) to skip the library's
// per-hierarchy probing; they must be exactly the library's, for every
// form of cgroupsPath.
func TestV1PathsAsLibrary(t *testing.T) {
	mode := HostMode()
	if mode == ModeV2 {
		t.Skip("no cgroup v1 hierarchies on this host")
	}
	for _, cg := range []lib.Cgroup{
		{Parent: DefaultParent, Name: "ctr"},
		{Path: "/abs/ctr"},
		{Path: "rel/ctr"},
		{Path: "../../etc/ctr"},
		{Path: "/../x/./y/"},
		{Parent: "/p", Name: "../n"},
	} {
		cg.Resources = &lib.Resources{}
		want, err := fs.NewManager(&cg, nil)
		if err != nil {
			t.Fatalf("%+v: library: %v", cg, err)
		}
		got := v1Paths(&cg, mode)
		if got == nil {
			t.Fatalf("%+v: v1Paths left it to the library on this host (layout: %v)", cg, mode)
		}
		if !maps.Equal(got, want.GetPaths()) {
			t.Errorf("%+v:\n berth   %v\n library %v", cg, got, want.GetPaths())
		}
	}
	// Path together with Parent/Name is the library's error to report.
	if got := v1Paths(&lib.Cgroup{Path: "/a", Name: "b"}, mode); got != nil {
		t.Errorf("Path with Name: %v, want nil", got)
	}
}

func TestOwnCgroupsAsLibrary(t *testing.T) {
	for _, f := range []string{"/proc/self/cgroup", "/proc/thread-self/cgroup", "/proc/1/cgroup"} {
		want, err := lib.ParseCgroupFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ownCgroups(f)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("%s: got %v, %v; library %v", f, got, err, want)
		}
	}
}

// The relative forms are joined to berth's own cgroup: compare them from
// a process that is not in each hierarchy's root (this test binary again,
// moved into a cgroup of its own by a shell before it starts).
func TestV1PathsAsLibraryBelowRoot(t *testing.T) {
	requireV1(t)
	if os.Getenv("BERTH_V1PATHS_CHILD") != "" {
		t.Skip("already below the root")
	}
	dirs := v1Dirs(t, uniqueID(t))
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, d := range dirs {
			os.Remove(d)
		}
	}()
	script := `for d in "$@"; do { echo $$ > "$d/tasks"; } 2>/dev/null; done; ` +
		`grep -qv ':/$' /proc/self/cgroup || { echo "not moved"; exit 1; }; ` +
		`exec env BERTH_V1PATHS_CHILD=1 "$0" -test.run '^(TestV1PathsAsLibrary|TestOwnCgroupsAsLibrary|TestCgroupMountsAsLibrary)$' -test.v`
	out, err := exec.Command("sh", append([]string{"-c", script, os.Args[0]}, dirs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestCgroupMountsAsLibrary(t *testing.T) {
	if HostMode() == ModeV2 {
		t.Skip("v1Mounts is the library's on a v2 host")
	}
	want, err := lib.GetCgroupMounts(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cgroupMountsV1()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v\nlibrary %+v", got, err, want)
	}
}
