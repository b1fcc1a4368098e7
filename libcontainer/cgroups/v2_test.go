package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	lib "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const v2ChildEnv = "BERTH_CGROUPS_TEST_V2_CHILD"

// TestV2InUnifiedHierarchy runs the v2 code paths for real. On a v2 host it
// runs in place. On a v1 or hybrid host it re-runs itself in a private mount
// namespace with the cgroup2 hierarchy mounted at /sys/fs/cgroup, which is
// exactly what a v2 host looks like to the library (only with the
// controllers this host binds to v2, if any).
func TestV2InUnifiedHierarchy(t *testing.T) {
	requireRoot(t)
	if os.Getenv(v2ChildEnv) == "" && HostMode() != ModeV2 {
		runInV2MountNS(t)
		return
	}
	if HostMode() != ModeV2 {
		t.Fatalf("expected a cgroup v2 view of /sys/fs/cgroup, HostMode() = %v", HostMode())
	}
	testV2(t)
}

func runInV2MountNS(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("need unshare(1) to give the test a v2 view: %v", err)
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
		`mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"`,
		os.Args[0], "-test.run=^TestV2InUnifiedHierarchy$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), v2ChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("v2 child:\n%s", out)
	if err != nil {
		t.Fatalf("v2 child failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestV2InUnifiedHierarchy") {
		t.Fatal("v2 child did not run the test")
	}
}

func testV2(t *testing.T) {
	const root = "/sys/fs/cgroup"
	parent := fmt.Sprintf("/berth-v2test-%d", os.Getpid())
	restoreSubtreeControl(t, root, parent)
	avail, err := availableControllers(ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("v2 controllers: %v", avail)

	// What the hierarchy lacks is refused up front, with the JSON path.
	if !avail["memory"] {
		_, err := New(Options{ContainerID: "x", CgroupsPath: parent + "/x", Resources: &Resources{Memory: 1 << 30}})
		if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.memory: ") {
			t.Errorf("memory limit without the memory controller: %v", err)
		}
		_, err = New(Options{ContainerID: "x", CgroupsPath: parent + "/x", Resources: &Resources{Unified: map[string]string{"memory.high": "1"}}})
		if err == nil || !strings.HasPrefix(err.Error(), `linux.resources.unified["memory.high"]: `) {
			t.Errorf("unified memory.high without the memory controller: %v", err)
		}
	}

	res, err := FromSpec(&specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"},
		},
		Unified: map[string]string{"cgroup.max.descendants": "5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cgroup.max.descendants": "5"}
	if avail["hugetlb"] && slices.Contains(lib.HugePageSizes(), "2MB") {
		res.HugetlbLimit = []*lib.HugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
		want["hugetlb.2MB.max"] = strconv.Itoa(4 << 20)
	}
	if avail["pids"] {
		res.PidsLimit = ptr[int64](20)
		want["pids.max"] = "20"
	}
	if avail["memory"] {
		res.Memory = 64 << 20
		want["memory.max"] = strconv.Itoa(64 << 20)
	}

	id := uniqueID(t)
	inner := parent + "/" + id
	opts := Options{ContainerID: id, CgroupsPath: inner, Resources: res}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, inner)
	if got := m.Paths(); !maps1(got, "", dir) {
		t.Fatalf("Paths() = %v, want only \"\": %s", got, dir)
	}
	for file, w := range want {
		if got := readTrim(t, filepath.Join(dir, file)); got != w {
			t.Errorf("%s = %q, want %q", file, got, w)
		}
	}
	if _, err := m.V1Mounts(); err == nil {
		t.Error("V1Mounts succeeded on v2")
	}

	// CLONE_INTO_CGROUP: the child starts inside; it never ran elsewhere.
	fd, err := m.DirFD()
	if err != nil {
		t.Fatal(err)
	}
	sh := startShell(t, `grep '^0::' /proc/self/cgroup
		if echo hi >/dev/null; then echo null-ok; else echo null-denied; fi
		if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi
		read x; echo awake; read x`, func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	})
	t.Cleanup(func() { _ = m.Thaw() })
	fd.Close()
	if got := sh.expect(t); got != "0::"+inner {
		t.Fatalf("child's cgroup line %q, want 0::%s", got, inner)
	}
	if a, b := sh.expect(t), sh.expect(t); a != "null-ok" || b != "zero-denied" {
		t.Fatalf("eBPF device filter: %s, %s; want null-ok, zero-denied", a, b)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{sh.pid()}) {
		t.Fatalf("Pids() = %v, %v; want [%d]", pids, err, sh.pid())
	}

	// Frozen, it does not answer; thawed, it does.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readTrim(t, filepath.Join(dir, "cgroup.events")), "frozen 1") {
		t.Error("cgroup.events does not say frozen after Freeze")
	}
	if frozen, err := m.Frozen(); err != nil || !frozen {
		t.Fatalf("Frozen() = %v, %v", frozen, err)
	}
	sh.send(t, "go")
	answered := make(chan string, 1)
	go func() { line, _ := sh.out.ReadString('\n'); answered <- strings.TrimSpace(line) }()
	select {
	case line := <-answered:
		t.Fatalf("frozen process answered %q", line)
	case <-time.After(300 * time.Millisecond):
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-answered:
		if line != "awake" {
			t.Fatalf("thawed process said %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("thawed process did not answer")
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if res.HugetlbLimit != nil {
		if _, ok := st.Hugetlb["2MB"]; !ok {
			t.Errorf("stats lack hugetlb 2MB: %+v", st.Hugetlb)
		}
	}

	next, err := MergeUpdate(m.Resources(), &specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(next); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.max.descendants")); got != "7" {
		t.Errorf("cgroup.max.descendants after update = %q", got)
	}
	// The update left the device filter alone.
	lm, err := Load(opts, m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	if pids, err := lm.Pids(); err != nil || !slices.Equal(pids, []int{sh.pid()}) {
		t.Fatalf("loaded Pids() = %v, %v", pids, err)
	}

	sh.send(t, "bye")
	if err := sh.cmd.Wait(); err != nil {
		t.Fatalf("shell: %v", err)
	}
	if err := lm.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertNoDirs(t, []string{dir})

	// Apply(pid) works on v2 as well.
	id2 := uniqueID(t) + "b"
	m2, err := New(Options{ContainerID: id2, CgroupsPath: parent + "/" + id2})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m2)
	sh2 := startShell(t, `read x; grep '^0::' /proc/self/cgroup`, nil)
	if err := m2.Apply(sh2.pid()); err != nil {
		t.Fatal(err)
	}
	sh2.send(t, "go")
	if got := sh2.expect(t); got != "0::"+parent+"/"+id2 {
		t.Fatalf("applied process's cgroup line %q", got)
	}
}

func maps1(m map[string]string, k, v string) bool { return len(m) == 1 && m[k] == v }

// restoreSubtreeControl undoes, at the end of the test, what creating
// cgroups under parent does to the shared hierarchy: the library enables
// every available controller in each ancestor's cgroup.subtree_control.
func restoreSubtreeControl(t *testing.T, root, parent string) {
	before := strings.Fields(readTrim(t, filepath.Join(root, "cgroup.subtree_control")))
	t.Cleanup(func() {
		if err := os.Remove(filepath.Join(root, parent)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("removing %s: %v", parent, err)
		}
		file := filepath.Join(root, "cgroup.subtree_control")
		now, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			return
		}
		for _, c := range strings.Fields(string(now)) {
			if !slices.Contains(before, c) {
				// EBUSY means another cgroup now uses it; leave it then.
				if err := os.WriteFile(file, []byte("-"+c), 0); err != nil {
					t.Logf("leaving %s enabled at the root: %v", c, err)
				}
			}
		}
	})
}
