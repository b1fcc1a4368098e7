//go:build vmtest

package vm_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	lib "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootDevice is the major and minor of the guest's disk, for io.max.
func rootDevice(t *testing.T) (int64, int64) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Stat("/dev/vda", &st))
	return int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
}

// ioWeightFile is the file the weight lands in: BFQ's when the disk's
// scheduler is BFQ, else io.weight (blk-iocost), as runc does.
func ioWeightFile(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "io.bfq.weight")); err == nil {
		return "io.bfq.weight"
	}
	return "io.weight"
}

func ioWeightWant(file string, weight uint16) string {
	if file == "io.bfq.weight" {
		return fmt.Sprintf("default %d", weight)
	}
	return fmt.Sprintf("default %d", lib.ConvertBlkIOToIOWeightValue(weight))
}

// want is one cgroup file and what it must read, on the host and inside.
type want struct{ file, value string }

// checkFiles compares the container's cgroup files with wants, in the
// host's cgroup directory and, through `berth exec`, inside the container.
func checkFiles(t *testing.T, c *container, when string, wants []want) {
	t.Helper()
	args := []string{"exec", c.id, "sh", "-c", readInside, "sh"}
	for _, w := range wants {
		if got := c.hostFile(w.file); got != w.value {
			t.Errorf("%s: host %s/%s = %q, want %q", when, c.cgroupDir(), w.file, got, w.value)
		}
		args = append(args, w.file)
	}
	inside := parseKV(c.mustRT(args...).stdout)
	for _, w := range wants {
		if got := inside[w.file]; got != w.value {
			t.Errorf("%s: inside the container /sys/fs/cgroup/%s = %q, want %q", when, w.file, got, w.value)
		}
	}
}

// TestResources: every linux.resources setting a cgroup v2 host has is
// written at create, by both drivers, and read back on the host and
// inside; then `berth update` changes each of them, and (systemd driver)
// a `systemctl daemon-reload`, which re-applies the unit's properties,
// changes none of them.
func TestResources(t *testing.T) {
	eachDriver(t, func(t *testing.T, systemd bool) {
		major, minor := rootDevice(t)
		c := newContainer(t, systemd, "sleep", "1000")
		dev := specs.LinuxBlockIODevice{Major: major, Minor: minor}
		c.spec.Linux.Resources = &specs.LinuxResources{
			Devices: c.spec.Linux.Resources.Devices,
			Memory: &specs.LinuxMemory{Limit: ptr(int64(256 << 20)), Reservation: ptr(int64(64 << 20)),
				Swap: ptr(int64(384 << 20))},
			CPU: &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
				Burst: ptr(uint64(10000)), Idle: ptr(int64(0)), Cpus: "1", Mems: "0"},
			Pids: &specs.LinuxPids{Limit: ptr(int64(64))},
			BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(300)),
				ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1 << 20}}},
			HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}},
			Unified:        map[string]string{"memory.high": strconv.Itoa(200 << 20), "memory.min": strconv.Itoa(8 << 20)},
		}
		c.mustCreate()
		pid := c.state().Pid
		if got := procCgroup(t, pid); got != c.cgroupDir() {
			t.Fatalf("init %d is in %s, want %s", pid, got, c.cgroupDir())
		}
		c.mustRT("start", c.id)
		wf := ioWeightFile(c.cgroupDir())
		devs := fmt.Sprintf("%d:%d", major, minor)
		checkFiles(t, c, "after create", []want{
			{"memory.max", strconv.Itoa(256 << 20)},
			{"memory.low", strconv.Itoa(64 << 20)},
			{"memory.swap.max", strconv.Itoa(128 << 20)},
			{"memory.high", strconv.Itoa(200 << 20)},
			{"memory.min", strconv.Itoa(8 << 20)},
			{"cpu.weight", strconv.FormatUint(lib.ConvertCPUSharesToCgroupV2Value(512), 10)},
			{"cpu.max", "50000 100000"},
			{"cpu.max.burst", "10000"},
			{"cpu.idle", "0"},
			{"cpuset.cpus", "1"},
			{"cpuset.mems", "0"},
			{"pids.max", "64"},
			{wf, ioWeightWant(wf, 300)},
			{"io.max", devs + " rbps=1048576 wbps=max riops=max wiops=max"},
			{"hugetlb.2MB.max", strconv.Itoa(8 << 20)},
		})
		// The container's processes run only where cpuset allows.
		status := c.mustRT("exec", c.id, "cat", "/proc/self/status").stdout
		if !strings.Contains(status, "Cpus_allowed_list:\t1\n") {
			t.Errorf("inside, a process may run on other CPUs than 1:\n%s", status)
		}

		upd := specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: ptr(int64(128 << 20)), Reservation: ptr(int64(32 << 20)),
				Swap: ptr(int64(160 << 20))},
			CPU: &specs.LinuxCPU{Shares: ptr(uint64(2048)), Quota: ptr(int64(20000)), Period: ptr(uint64(50000)),
				Burst: ptr(uint64(5000)), Idle: ptr(int64(1)), Cpus: "0-1", Mems: "0"},
			Pids: &specs.LinuxPids{Limit: ptr(int64(32))},
			BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500)),
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 100}}},
			HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
			Unified:        map[string]string{"memory.high": strconv.Itoa(100 << 20), "memory.min": strconv.Itoa(4 << 20)},
		}
		b, err := json.Marshal(upd)
		must(t, err)
		resFile := filepath.Join(t.TempDir(), "resources.json")
		must(t, os.WriteFile(resFile, b, 0o644))
		c.mustRT("update", "--resources", resFile, c.id)
		updated := []want{
			{"memory.max", strconv.Itoa(128 << 20)},
			{"memory.low", strconv.Itoa(32 << 20)},
			{"memory.swap.max", strconv.Itoa(32 << 20)},
			{"memory.high", strconv.Itoa(100 << 20)},
			{"memory.min", strconv.Itoa(4 << 20)},
			// (no cpu.weight: an idle group has none; see below)
			{"cpu.max", "20000 50000"},
			{"cpu.max.burst", "5000"},
			{"cpu.idle", "1"},
			{"cpuset.cpus", "0-1"},
			{"cpuset.mems", "0"},
			{"pids.max", "32"},
			{wf, ioWeightWant(wf, 500)},
			{"io.max", devs + " rbps=1048576 wbps=max riops=max wiops=100"},
			{"hugetlb.2MB.max", strconv.Itoa(4 << 20)},
		}
		checkFiles(t, c, "after update", updated)
		// The single-value flags runc has.
		c.mustRT("update", "--memory", strconv.Itoa(96<<20), "--pids-limit", "48", "--cpu-quota", "30000", c.id)
		set := func(file, value string) {
			for i := range updated {
				if updated[i].file == file {
					updated[i].value = value
					return
				}
			}
			updated = append(updated, want{file, value})
		}
		set("memory.max", strconv.Itoa(96<<20))
		set("pids.max", "48")
		set("cpu.max", "30000 50000")
		// memory.swap.max is the swap total minus the limit: 160M - 96M.
		set("memory.swap.max", strconv.Itoa(64<<20))
		checkFiles(t, c, "after update --memory --pids-limit --cpu-quota", updated)
		// Leaving idle: the kernel resets the weight, so the update's
		// weight (2048 shares) must be written again.
		must(t, os.WriteFile(resFile, []byte(`{"cpu":{"idle":0}}`), 0o644))
		c.mustRT("update", "--resources", resFile, c.id)
		set("cpu.idle", "0")
		set("cpu.weight", strconv.FormatUint(lib.ConvertCPUSharesToCgroupV2Value(2048), 10))
		checkFiles(t, c, "after update of cpu.idle to 0", updated)
		if systemd {
			mustRun(t, "systemctl", "daemon-reload")
			checkFiles(t, c, "after systemctl daemon-reload", updated)
			if st := c.state(); st.Status != specs.StateRunning {
				t.Errorf("after daemon-reload the container is %s", st.Status)
			}
		}
		c.mustRT("delete", "--force", c.id)
		if _, err := os.Stat(c.cgroupDir()); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after delete (%v)", c.cgroupDir(), err)
		}
	})
}

// TestRDMA: linux.resources.rdma reaches rdma.max, on a soft-RoCE device
// (rdma_rxe over a dummy interface) made for the test, by both drivers.
//
// The device is left in place: the guest is thrown away after the suite,
// and unregistering it while a removed cgroup's rdma pool is still being
// freed hits a list corruption BUG in the guest's 6.1 kernel
// (free_cg_rpool_locked from rdmacg_unregister_device), after which the
// cgroup tests that follow hang.
func TestRDMA(t *testing.T) {
	link := fmt.Sprintf("vmd%d", os.Getpid()%100000)
	dev := "vmrxe" + link[3:]
	mustRun(t, "ip", "link", "add", link, "type", "dummy")
	mustRun(t, "ip", "link", "set", link, "up")
	mustRun(t, "modprobe", "rdma_rxe")
	mustRun(t, "rdma", "link", "add", dev, "type", "rxe", "netdev", link)
	eachDriver(t, func(t *testing.T, systemd bool) {
		c := newContainer(t, systemd, "sleep", "1000")
		c.spec.Linux.Resources.Rdma = map[string]specs.LinuxRdma{dev: {HcaHandles: ptr(uint32(5)), HcaObjects: ptr(uint32(100))}}
		c.mustCreate()
		c.mustRT("start", c.id)
		checkFiles(t, c, "after create", []want{{"rdma.max", dev + " hca_handle=5 hca_object=100"}})
		c.mustRT("update", "--resources", writeJSON(t, map[string]any{"rdma": map[string]any{dev: map[string]int{"hcaHandles": 7, "hcaObjects": 50}}}), c.id)
		checkFiles(t, c, "after update", []want{{"rdma.max", dev + " hca_handle=7 hca_object=50"}})
	})
}

// writeJSON writes v to a temp file and returns its path.
func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	f := filepath.Join(t.TempDir(), "v.json")
	must(t, os.WriteFile(f, b, 0o644))
	return f
}
