package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	lib "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestHostMode(t *testing.T) {
	// Worked out here straight from statfs, independently of the library.
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	want := ModeV1
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		want = ModeV2
	} else if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		want = ModeHybrid
	}
	if got := HostMode(); got != want {
		t.Fatalf("HostMode() = %v, want %v", got, want)
	}
	t.Logf("host cgroup mode: %v", want)
}

// lifecycleResources is what TestLifecycleV1 asks for. The I/O weight
// only where the kernel has a scheduler that takes one (see hostHasBFQ).
func lifecycleResources(t testing.TB) *Resources {
	var blockIO *specs.LinuxBlockIO
	if hostHasBFQ() {
		blockIO = &specs.LinuxBlockIO{Weight: ptr[uint16](300)}
	}
	res, err := ContainerResources(&specs.Linux{Resources: &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: ptr[int64](10), Minor: ptr[int64](200), Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](96 << 20), Reservation: ptr[int64](32 << 20), Swappiness: ptr[uint64](20)},
		CPU:     &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](50)},
		BlockIO: blockIO,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// hostHasBFQ: an I/O weight needs BFQ since kernel 5.0 removed CFQ (the
// blkio.bfq.weight files exist only while BFQ is built in or loaded, and
// it is then listed among the block devices' schedulers). Some kernels
// this suite runs on have none.
func hostHasBFQ() bool {
	scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler")
	for _, f := range scheds {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "bfq") {
			return true
		}
	}
	return false
}

func TestLifecycleV1(t *testing.T) {
	requireV1(t)
	id := uniqueID(t)
	inner := filepath.Join(DefaultParent, id)
	opts := Options{ContainerID: id, Resources: lifecycleResources(t)}

	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	if m.Exists() {
		t.Fatal("New created the cgroup; only Apply should")
	}

	// The shell waits for "go" so it does its work inside the cgroup.
	sh := startShell(t, `read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo worked; read x`, nil)
	// A frozen v1 task ignores SIGKILL until thawed: thaw before the kill.
	t.Cleanup(func() { _ = m.Thaw() })
	if err := m.Apply(sh.pid()); err != nil {
		t.Fatal(err)
	}
	sh.send(t, "go")
	if got := sh.expect(t); got != "worked" {
		t.Fatalf("shell said %q", got)
	}

	paths := m.Paths()
	for _, key := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices", "freezer"} {
		if want := filepath.Join("/sys/fs/cgroup", key, inner); paths[key] != want {
			t.Errorf("Paths()[%q] = %q, want %q", key, paths[key], want)
		}
	}
	if HostMode() == ModeHybrid && paths[""] != filepath.Join("/sys/fs/cgroup/unified", inner) {
		t.Errorf("hybrid host: Paths()[\"\"] = %q, want the cgroup2 directory", paths[""])
	}

	// The process is in the container's cgroup in every hierarchy.
	pid := strconv.Itoa(sh.pid())
	for key, dir := range paths {
		if procs := strings.Fields(readTrim(t, filepath.Join(dir, "cgroup.procs"))); !slices.Contains(procs, pid) {
			t.Errorf("pid %s not in %s/cgroup.procs (%q)", pid, dir, key)
		}
	}
	procCgroup := readTrim(t, "/proc/"+pid+"/cgroup")
	for _, line := range strings.Split(procCgroup, "\n") {
		if !strings.HasSuffix(line, ":"+inner) {
			t.Errorf("/proc/%s/cgroup line %q is not in %s", pid, line, inner)
		}
	}

	// The limits are in the kernel's files.
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes":       strconv.Itoa(64 << 20),
		"memory/memory.memsw.limit_in_bytes": strconv.Itoa(96 << 20),
		"memory/memory.soft_limit_in_bytes":  strconv.Itoa(32 << 20),
		"memory/memory.swappiness":           "20",
		"pids/pids.max":                      "50",
		"cpu/cpu.shares":                     "512",
		"cpu/cpu.cfs_quota_us":               "50000",
		"cpu/cpu.cfs_period_us":              "100000",
		"cpuset/cpuset.cpus":                 "0",
		"cpuset/cpuset.mems":                 "0",
	} {
		ctrl, name, _ := strings.Cut(file, "/")
		if got := readTrim(t, filepath.Join("/sys/fs/cgroup", ctrl, inner, name)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if hostHasBFQ() {
		weightFile := filepath.Join("/sys/fs/cgroup/blkio", inner, "blkio.weight")
		if _, err := os.Stat(weightFile); err != nil {
			weightFile = filepath.Join("/sys/fs/cgroup/blkio", inner, "blkio.bfq.weight")
		}
		if got := readTrim(t, weightFile); got != "300" && got != "default 300" {
			t.Errorf("%s = %q, want 300", weightFile, got)
		}
	} else {
		t.Log("no I/O weight checked: this kernel has no BFQ scheduler")
	}
	devList := strings.Split(readTrim(t, filepath.Join("/sys/fs/cgroup/devices", inner, "devices.list")), "\n")
	for _, want := range []string{"c 10:200 rwm", "c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"} {
		if !slices.Contains(devList, want) {
			t.Errorf("devices.list lacks %q: %q", want, devList)
		}
	}
	if slices.Contains(devList, "a *:* rwm") {
		t.Errorf("devices.list allows everything: %q", devList)
	}

	// Pids lists it; Stats sees the work and the limits, and marshals.
	if pids, err := m.Pids(); err != nil || !slices.Contains(pids, sh.pid()) {
		t.Fatalf("Pids() = %v, %v; want it to include %d", pids, err, sh.pid())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current < 1 || st.Pids.Limit != 50 || st.Memory.Usage.Limit != 64<<20 || st.Memory.Usage.Usage == 0 || st.CPU.Usage.Total == 0 {
		t.Errorf("implausible stats: pids %+v, memory usage %+v, cpu total %d", st.Pids, st.Memory.Usage, st.CPU.Usage.Total)
	}
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu":`, `"memory":`, `"pids":`, `"blkio":`, `"hugetlb":`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("stats JSON lacks %s: %s", key, js)
		}
	}

	// Freeze stops the process, Thaw resumes it.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if frozen, err := m.Frozen(); err != nil || !frozen {
		t.Fatalf("Frozen() = %v, %v after Freeze", frozen, err)
	}
	if s := procState(t, sh.pid()); s != "D" {
		t.Errorf("frozen process state %q, want D", s)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if frozen, err := m.Frozen(); err != nil || frozen {
		t.Fatalf("Frozen() = %v, %v after Thaw", frozen, err)
	}
	if s := procState(t, sh.pid()); s == "D" {
		t.Errorf("thawed process still in state D")
	}

	// An update changes only what it names and leaves devices alone.
	next, err := MergeUpdate(m.Resources(), &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](80 << 20)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](60)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(next); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/memory", inner, "memory.limit_in_bytes")); got != strconv.Itoa(80<<20) {
		t.Errorf("memory limit after update = %s", got)
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/pids", inner, "pids.max")); got != "60" {
		t.Errorf("pids.max after update = %s", got)
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/cpu", inner, "cpu.shares")); got != "512" {
		t.Errorf("cpu.shares changed by an update that did not name it: %s", got)
	}
	if got := strings.Split(readTrim(t, filepath.Join("/sys/fs/cgroup/devices", inner, "devices.list")), "\n"); !slices.Equal(got, devList) {
		t.Errorf("update changed devices.list: %q -> %q", devList, got)
	}

	// A later berth process re-loads the manager from the saved paths.
	saved, err := json.Marshal(m.Paths())
	if err != nil {
		t.Fatal(err)
	}
	var loadedPaths map[string]string
	if err := json.Unmarshal(saved, &loadedPaths); err != nil {
		t.Fatal(err)
	}
	lm, err := Load(Options{ContainerID: id}, loadedPaths)
	if err != nil {
		t.Fatal(err)
	}
	if pids, err := lm.Pids(); err != nil || !slices.Equal(pids, []int{sh.pid()}) {
		t.Fatalf("loaded manager Pids() = %v, %v", pids, err)
	}
	if err := lm.Freeze(); err != nil {
		t.Fatal(err)
	}
	if frozen, _ := m.Frozen(); !frozen {
		t.Error("freeze through the loaded manager not visible")
	}
	if err := lm.Thaw(); err != nil {
		t.Fatal(err)
	}

	// Destroy kills nothing: with the process inside it fails and leaves
	// everything in place.
	if err := m.Destroy(); err == nil {
		t.Fatal("Destroy succeeded with a live process inside")
	}
	if err := unix.Kill(sh.pid(), 0); err != nil {
		t.Fatalf("Destroy harmed the process: %v", err)
	}
	for _, dir := range paths {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("failed Destroy removed %s", dir)
		}
	}

	sh.kill()
	if err := lm.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertNoDirs(t, v1Dirs(t, inner))
	if err := lm.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func TestDevicesEnforcedV1(t *testing.T) {
	requireV1(t)
	res, err := FromSpec(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{ContainerID: uniqueID(t), Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	sh := startShell(t, `read x
		if echo hi >/dev/null; then echo null-ok; else echo null-denied; fi
		if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi`, nil)
	if err := m.Apply(sh.pid()); err != nil {
		t.Fatal(err)
	}
	sh.send(t, "go")
	if a, b := sh.expect(t), sh.expect(t); a != "null-ok" || b != "zero-denied" {
		t.Fatalf("inside the cgroup: %s, %s; want null-ok, zero-denied", a, b)
	}
}

func TestCreateThenAddPid(t *testing.T) {
	requireV1(t)
	id := uniqueID(t)
	m, err := New(Options{ContainerID: id, Resources: &Resources{PidsLimit: ptr[int64](7)}})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(DefaultParent, id)
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/pids", inner, "pids.max")); got != "7" {
		t.Fatalf("pids.max = %q after Create", got)
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 0 {
		t.Fatalf("Create moved processes in: %v, %v", pids, err)
	}
	if _, err := m.DirFD(); !errors.Is(err, ErrNotV2) {
		t.Fatalf("DirFD on a %v host: %v, want ErrNotV2", HostMode(), err)
	}

	sh := startShell(t, `read x`, nil)
	if err := m.AddPid(sh.pid()); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{sh.pid()}) {
		t.Fatalf("Pids() after AddPid = %v, %v", pids, err)
	}

	// A second container may not take over a cgroup that has processes.
	other, err := New(Options{CgroupsPath: inner, ContainerID: "other"})
	if err != nil {
		t.Fatal(err)
	}
	sh2 := startShell(t, `read x`, nil)
	err = other.Apply(sh2.pid())
	if err == nil || !strings.Contains(err.Error(), "already has 1 process") {
		t.Fatalf("Apply into a busy cgroup: %v", err)
	}
	if pids, _ := m.Pids(); !slices.Equal(pids, []int{sh.pid()}) {
		t.Fatalf("refused Apply still changed the cgroup: %v", pids)
	}
}

func TestV1Mounts(t *testing.T) {
	requireV1(t)
	id := uniqueID(t)
	m, err := New(Options{ContainerID: id, Resources: &Resources{}})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.V1Mounts()
	if err != nil {
		t.Fatal(err)
	}
	// Compare with the v1 mount points listed in /proc/self/mountinfo.
	want := map[string]bool{}
	for _, line := range strings.Split(readTrim(t, "/proc/self/mountinfo"), "\n") {
		f := strings.Fields(line)
		if i := slices.Index(f, "-"); i > 0 && f[i+1] == "cgroup" {
			want[filepath.Base(f[4])] = true
		}
	}
	got := map[string]bool{}
	for _, vm := range mounts {
		got[vm.Name] = true
		if vm.HostPath != filepath.Join("/sys/fs/cgroup", vm.Name, DefaultParent, id) {
			t.Errorf("%s: HostPath %q", vm.Name, vm.HostPath)
		}
		if fi, err := os.Stat(vm.HostPath); err != nil || !fi.IsDir() {
			t.Errorf("%s: HostPath %s is not a directory: %v", vm.Name, vm.HostPath, err)
		}
		if wantLinks := strings.Split(vm.Name, ","); len(wantLinks) > 1 && !slices.Equal(vm.Links, wantLinks) || len(wantLinks) == 1 && vm.Links != nil {
			t.Errorf("%s: links %q", vm.Name, vm.Links)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("V1Mounts names %v, mountinfo has %v", got, want)
	}
	if !slices.IsSortedFunc(mounts, func(a, b V1Mount) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("V1Mounts not sorted")
	}
}

// Bad values are refused before anything exists on the host.
func TestValidateRefusesEarly(t *testing.T) {
	requireV1(t)
	id := uniqueID(t)
	online := readTrim(t, "/sys/devices/system/cpu/online")
	cpus, err := parseList(online)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		res  *Resources
		path string
	}{
		{&Resources{Unified: map[string]string{"memory.high": "1"}}, "linux.resources.unified"},
		{&Resources{CpusetCpus: strconv.Itoa(cpus[len(cpus)-1] + 1)}, "linux.resources.cpu.cpus"},
		{&Resources{CpusetMems: "63"}, "linux.resources.cpu.mems"},
		{&Resources{HugetlbLimit: []*lib.HugepageLimit{{Pagesize: "3MB", Limit: 1}}}, "linux.resources.hugepageLimits"},
	}
	avail, err := availableControllers(HostMode())
	if err != nil {
		t.Fatal(err)
	}
	// Controllers this host lacks must be refused too (here: net_cls).
	if !avail["net_cls"] {
		cases = append(cases, struct {
			res  *Resources
			path string
		}{&Resources{NetClsClassid: 0x100001}, "linux.resources.network.classID"})
	}
	v2side := map[string]bool{}
	if HostMode() == ModeHybrid {
		if v2side, err = v2SideControllers(); err != nil {
			t.Fatal(err)
		}
	}
	if !avail["hugetlb"] && !v2side["hugetlb"] {
		cases = append(cases, struct {
			res  *Resources
			path string
		}{&Resources{HugetlbLimit: []*lib.HugepageLimit{{Pagesize: "2MB", Limit: 1}}}, "linux.resources.hugepageLimits"})
	}
	for _, tc := range cases {
		_, err := New(Options{ContainerID: id, Resources: tc.res})
		if err == nil || !strings.HasPrefix(err.Error(), tc.path) {
			t.Errorf("New(%+v): %v, want an error at %s", tc.res, err, tc.path)
		} else {
			t.Logf("ok: %v", err)
		}
	}
	assertNoDirs(t, v1Dirs(t, filepath.Join(DefaultParent, id)))
}

// A limit the kernel refuses half-way through leaves no directories.
func TestApplyFailureCleansUp(t *testing.T) {
	requireV1(t)
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"); err != nil {
		t.Fatalf("this test needs CONFIG_RT_GROUP_SCHED: %v", err)
	}
	id := uniqueID(t)
	// The parent gets no realtime budget, so the kernel refuses the child's.
	m, err := New(Options{ContainerID: id, Resources: &Resources{CpuRtRuntime: 900000, CpuRtPeriod: 1000000}})
	if err != nil {
		t.Fatal(err)
	}
	sh := startShell(t, `read x`, nil)
	err = m.Apply(sh.pid())
	if err == nil {
		_ = m.Destroy()
		t.Fatal("Apply accepted a realtime runtime the parent cannot give")
	}
	t.Logf("ok: %v", err)
	if !strings.Contains(err.Error(), "cgroup "+filepath.Join(DefaultParent, id)) {
		t.Errorf("error does not name the cgroup: %v", err)
	}
	sh.kill()
	_ = m.Destroy() // the pid may have entered some hierarchies before the failure
	assertNoDirs(t, v1Dirs(t, filepath.Join(DefaultParent, id)))
}

func TestOptionsErrors(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b"} {
		if _, err := New(Options{ContainerID: id}); err == nil || !strings.Contains(err.Error(), "container id") {
			t.Errorf("id %q: %v", id, err)
		}
	}
	if _, err := Load(Options{ContainerID: "x"}, nil); err == nil {
		t.Error("Load with no paths succeeded")
	}
}
