package runtime_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCgroupResources: linux.resources is written to the container's
// cgroup (checked on the host), the process is placed in it, the container
// sees its own cgroup at /sys/fs/cgroup (per controller on cgroup v1, as
// runc mounts it; the unified directory on v2), and delete removes it.
func TestCgroupResources(t *testing.T) {
	t.Parallel()
	type file struct{ ctrl, file, want string }
	// The same settings as cgroup v1 and as cgroup v2 files.
	host := []file{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(64 << 20)},
		{"memory", "memory.soft_limit_in_bytes", strconv.Itoa(32 << 20)},
		{"pids", "pids.max", "50"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"blkio", "blkio.throttle.read_bps_device", "254:0 1048576"},
	}
	inside := map[string]string{
		"/sys/fs/cgroup/memory/memory.limit_in_bytes": strconv.Itoa(64 << 20),
		"/sys/fs/cgroup/pids/pids.max":                "50",
		"/sys/fs/cgroup/cpu/cpu.shares":               "512",
	}
	if cgroupV2 {
		weight := strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(512), 10)
		host = []file{
			{"", "memory.max", strconv.Itoa(64 << 20)},
			{"", "memory.low", strconv.Itoa(32 << 20)},
			{"", "pids.max", "50"},
			{"", "cpu.weight", weight},
			{"", "cpu.max", "50000 100000"},
			{"", "cpuset.cpus", "0"},
			{"", "cpuset.mems", "0"},
			{"", "io.max", "254:0 rbps=1048576 wbps=max riops=max wiops=max"},
		}
		inside = map[string]string{
			"/sys/fs/cgroup/memory.max": strconv.Itoa(64 << 20),
			"/sys/fs/cgroup/pids.max":   "50",
			"/sys/fs/cgroup/cpu.weight": weight,
		}
	}
	probeArgs := []string{"/probe"}
	for f := range inside {
		probeArgs = append(probeArgs, "--read", f)
	}
	c := newContainer(t, probeArgs...)
	c.Spec.Linux.Resources = &specs.LinuxResources{
		Devices: c.Spec.Linux.Resources.Devices,
		Memory:  &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(32 << 20))},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(50))},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
			Cpus: "0", Mems: "0"},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 254, Minor: 0}, Rate: 1 << 20}}},
	}
	c.mustCreate()
	pid := c.state().Pid
	for _, f := range host {
		if got := cgroupFile(t, c, f.ctrl, f.file); got != f.want {
			t.Errorf("%s/%s = %q, want %q", f.ctrl, f.file, got, f.want)
		}
	}
	procCgroup := readFile(t, "/proc/"+strconv.Itoa(pid)+"/cgroup")
	if cgroupV2 {
		if want := "0::/" + cgroupParent + "/" + c.cgroupID + "\n"; procCgroup != want {
			t.Errorf("process %d is in %q, want %q", pid, procCgroup, want)
		}
	}
	for _, ctrl := range []string{"memory", "pids", "cpu", "cpuset", "blkio", "devices", "freezer"} {
		if cgroupV2 {
			break
		}
		want := ":" + ctrl + ":/" + cgroupParent + "/" + c.cgroupID + "\n"
		if !strings.Contains(procCgroup, want) && !strings.Contains(procCgroup, ","+ctrl+":/"+cgroupParent+"/"+c.cgroupID+"\n") {
			t.Errorf("process %d is not in the container's %s cgroup:\n%s", pid, ctrl, procCgroup)
		}
	}
	c.start()
	c.waitStatus(specs.StateStopped)
	rep := parseReport(t, c.output())
	for file, want := range inside {
		if got := rep.Files[file]; strings.TrimSpace(got.Content) != want {
			t.Errorf("inside, %s = %+v, want %s", file, got, want)
		}
	}
	c.mustRT("delete", c.ID)
	if dirs := cgroupDirs(c.cgroupID); len(dirs) > 0 {
		t.Errorf("cgroups remain after delete: %v", dirs)
	}
}

// TestCgroupDevices: the device rules decide which device nodes can be opened.
func TestCgroupDevices(t *testing.T) {
	t.Parallel()
	kmsg := specs.LinuxDevice{Path: "/dev/kmsg-test", Type: "c", Major: 1, Minor: 11, FileMode: ptr(os.FileMode(0o666))}
	deny := newContainer(t)
	deny.Spec.Linux.Devices = []specs.LinuxDevice{kmsg}
	rep := deny.probe("--write", "/dev/kmsg-test", "--write", "/dev/null")
	if e := rep.Writes["/dev/kmsg-test"].Error; e != "EPERM" {
		t.Errorf("opening a device the rules deny: %q, want EPERM", e)
	}
	if e := rep.Writes["/dev/null"].Error; e != "" {
		t.Errorf("opening /dev/null (a default device): %s", e)
	}

	allow := newContainer(t)
	allow.Spec.Linux.Devices = []specs.LinuxDevice{kmsg}
	allow.Spec.Linux.Resources.Devices = append(allow.Spec.Linux.Resources.Devices,
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(11)), Access: "w"})
	rep = allow.probe("--write", "/dev/kmsg-test")
	if e := rep.Writes["/dev/kmsg-test"].Error; e != "" {
		t.Errorf("opening a device an allow rule permits for writing: %s", e)
	}
}

// TestCgroupPidsLimitEnforced: with pids.max 10, sh (pid 1) can start only
// nine more processes.
func TestCgroupPidsLimitEnforced(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done")
	c.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(10))}
	// busybox sh gives up with "can't fork" when the limit is hit.
	if r := c.run(); !strings.Contains(r.Stderr, "can't fork") {
		t.Errorf("twelve forks under pids.max 10 did not fail: %s", r.describe())
	}
}

// TestCgroupPidsLimitOne: pids.max 1 runs a single-process container, as
// under runc: the program starts (nothing of the runtime's is left in the
// cgroup to count) and its first fork is refused (busybox sh then exits).
func TestCgroupPidsLimitOne(t *testing.T) {
	t.Parallel()
	for _, pidns := range []bool{true, false} {
		t.Run(map[bool]string{true: "new-pid-namespace", false: "host-pid-namespace"}[pidns], func(t *testing.T) {
			c := newContainer(t, "/bin/sh", "-c", "echo started; /bin/true; echo forked")
			c.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(1))}
			if !pidns {
				c.Spec.Linux.Namespaces = withoutNamespace(c.Spec.Linux.Namespaces, specs.PIDNamespace)
			}
			r := c.run()
			if !strings.Contains(r.Stdout, "started") || !strings.Contains(r.Stderr, "can't fork") {
				t.Errorf("want the program started and its fork refused under pids.max 1: %s", r.describe())
			}
		})
	}
}

// TestSmallMemoryLimit: a static program runs under a 256 KiB memory limit
// (nothing of the runtime's is charged to the container but berth-init,
// which is small, and not even the namespaces its clone makes, on v1); on
// a cgroup v2 host, where the clone happens inside the cgroup
// (CLONE_INTO_CGROUP), under 1 MiB. Under 64 KiB the container cannot
// start, and the error says it was the OOM killer and names the limit.
func TestSmallMemoryLimit(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 cannot start a container under 256 KiB (its Go init needs a few MiB)")
	// Page cache is charged to whoever reads a file first: not the container.
	if _, err := os.ReadFile(busyboxBin); err != nil {
		t.Fatal(err)
	}
	limit := int64(256 << 10)
	if cgroupV2 {
		limit = 1 << 20
	}
	c := newContainer(t, "/bin/sh", "-c", "echo ran")
	c.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(limit)}
	if r := c.run(); r.Code != 0 || !strings.Contains(r.Stdout, "ran") {
		t.Errorf("under a %d KiB limit: %s", limit>>10, r.describe())
	}
	c = newContainer(t, "/bin/true")
	c.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 10))}
	if r := c.run(); r.Code == 0 || !strings.Contains(r.Stderr, "OOM killer") || !strings.Contains(r.Stderr, "64 KiB") {
		t.Errorf("under a 64 KiB limit: want a failure that names the OOM killer and the limit: %s", r.describe())
	}
}

// TestCgroupIOWeight: linux.resources.blockIO.weight lands in the weight
// file of the host's I/O scheduler; on a kernel with none that takes a
// weight (no BFQ since CFQ's removal in 5.0, and no blk-iocost on v2) create
// refuses it naming the field, and leaves nothing behind.
func TestCgroupIOWeight(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.Spec.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(300))}
	if !kernelTakesIOWeight() {
		r := c.create()
		if r.Code == 0 || !strings.Contains(r.Stderr, "linux.resources.blockIO.weight") || !strings.Contains(r.Stderr, "BFQ") {
			t.Fatalf("create with an I/O weight on a kernel without a weighting scheduler: want a refusal naming linux.resources.blockIO.weight and why: %s", r.describe())
		}
		assertNothingLeft(t, c, r)
		return
	}
	c.mustCreate()
	ctrl, files := "blkio", []string{"blkio.bfq.weight", "blkio.weight"}
	if cgroupV2 {
		ctrl, files = "", []string{"io.bfq.weight", "io.weight"}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(cgroupDir(c, ctrl), f)); err != nil {
			continue
		}
		want := []string{"300", "default 300"}
		if f == "io.weight" {
			want = []string{"default " + strconv.FormatUint(cgroups.ConvertBlkIOToIOWeightValue(300), 10)}
		}
		if got := cgroupFile(t, c, ctrl, f); !slices.Contains(want, got) {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
		c.mustRT("delete", "--force", c.ID)
		return
	}
	t.Errorf("create succeeded but the container's cgroup has none of %v", files)
	c.mustRT("delete", "--force", c.ID)
}

// kernelTakesIOWeight: CFQ (blkio.weight at the v1 root), blk-iocost (its
// io.cost.qos at the v2 root) or BFQ, which the block devices then list.
func kernelTakesIOWeight() bool {
	for _, f := range []string{"/sys/fs/cgroup/blkio/blkio.weight", "/sys/fs/cgroup/io.cost.qos"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler")
	for _, f := range scheds {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "bfq") {
			return true
		}
	}
	return false
}
