package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestUpdateMergesAndEvents: successive updates change only what they
// name (the memory limit set by the first survives the second), single
// flags work like --resources, bad values are refused, and events --stats
// reports the container's cgroup as runc's JSON shape.
func TestUpdateMergesAndEvents(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}
	c.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(40))}
	c.mustCreate()
	c.start()

	c.mustRT("update", "--memory", strconv.Itoa(96<<20), c.ID)
	res := filepath.Join(t.TempDir(), "res.json")
	must(t, os.WriteFile(res, []byte(`{"pids":{"limit":55},"cpu":{"shares":256}}`), 0o644))
	c.mustRT("update", "--resources", res, c.ID)
	files := []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(96 << 20)},
		{"pids", "pids.max", "55"},
		{"cpu", "cpu.shares", "256"},
	}
	if cgroupV2 {
		files[0].file, files[2].file = "memory.max", "cpu.weight"
		files[2].want = strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(256), 10)
	}
	for _, f := range files {
		if got := cgroupFile(t, c, f.ctrl, f.file); got != f.want {
			t.Errorf("after two updates %s/%s = %q, want %q", f.ctrl, f.file, got, f.want)
		}
	}
	if r := c.rt("update", "--cpu-shares", "-1", c.ID); r.Code == 0 {
		t.Errorf("update --cpu-shares -1 succeeded: %s", r.describe())
	}

	r := c.mustRT("events", "--stats", c.ID)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
			Memory struct {
				Usage struct {
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &ev); err != nil {
		t.Fatalf("events --stats is not one JSON object: %v\n%s", err, r.Stdout)
	}
	if ev.Type != "stats" || ev.ID != c.ID || ev.Data.Pids.Current < 1 || ev.Data.Pids.Limit != 55 {
		t.Errorf("events --stats: %+v\n%s", ev, r.Stdout)
	}
	if ev.Data.Memory.Usage.Limit != 96<<20 {
		t.Errorf("events --stats memory limit %d, want %d", ev.Data.Memory.Usage.Limit, 96<<20)
	}
}

// TestSmallAddressSpaceWithSeccomp: a low RLIMIT_AS (which starves a Go
// process's allocator) together with a seccomp profile still starts: the
// runtime must not allocate after applying the limit.
func TestSmallAddressSpaceWithSeccomp(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/probe")
	c.Spec.Process.Rlimits = append(c.Spec.Process.Rlimits,
		specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: 1 << 30, Hard: 1 << 30})
	eperm := uint(1)
	// A profile of realistic size: libseccomp needs room to build it.
	sc := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}}
	for i := 0; i < 300; i++ {
		sc.Syscalls = append(sc.Syscalls, specs.LinuxSyscall{
			Names: []string{"personality", "keyctl", "add_key"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(0x10000 + i), Op: specs.OpEqualTo}},
		})
	}
	c.Spec.Linux.Seccomp = sc
	rep := c.probe()
	if got := rep.Rlimits["RLIMIT_AS"]; got.Soft != 1<<30 {
		t.Errorf("RLIMIT_AS inside: %+v, want soft %d", got, 1<<30)
	}
}

// TestKernelTCPLimit: linux.resources.memory.kernelTCP reaches
// memory.kmem.tcp.limit_in_bytes on a v1 kernel that has it (runc 1.1.5
// and opencontainers/cgroups drop it).
func TestKernelTCPLimit(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 ignores kernelTCP")
	c := newContainer(t, "/bin/true")
	c.Spec.Linux.Resources.Memory = &specs.LinuxMemory{KernelTCP: ptr(int64(16 << 20))}
	if cgroupV2 {
		// cgroup v2 has no such limit: a warning, as with runc, not a refusal.
		if r := c.create(); r.Code != 0 || !strings.Contains(r.Stderr, "kernelTCP") {
			t.Errorf("kernelTCP on cgroup v2: want create to succeed with a warning naming it: %s", r.describe())
		}
		return
	}
	c.mustCreate()
	if got := cgroupFile(t, c, "memory", "memory.kmem.tcp.limit_in_bytes"); got != strconv.Itoa(16<<20) {
		t.Errorf("memory.kmem.tcp.limit_in_bytes = %q, want %d", got, 16<<20)
	}
}
