package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	lib "github.com/opencontainers/cgroups"
	"github.com/sirupsen/logrus"
)

// Validate checks that this host can apply res: every controller res needs
// is available, the CPUs, memory nodes and huge page sizes exist, and
// v2-only settings are not asked of a v1 host. It reads only, so it can run
// before anything is created. Every setting the host cannot apply is
// reported, as a berthspecs.ConfigErrors of FieldErrors naming the
// linux.resources JSON path (File empty); a failure to read the host's
// cgroup setup is returned as it is.
//
// Settings that this host's cgroup version silently lacks (for example
// realtime CPU limits on v2, as in runc) are logged, not rejected.
func Validate(res *Resources) error { return validate(res, true) }

func validate(res *Resources, warn bool) error {
	if res == nil {
		return nil
	}
	mode := HostMode()
	avail, err := availableControllers(mode)
	if err != nil {
		return err
	}
	var e errList
	// need reports whether ctrl is there, and a FieldError if not.
	need := func(path, ctrl string) bool {
		if avail[ctrl] {
			return true
		}
		e.add(path, "the %s cgroup controller is not available on this %s host", ctrl, mode)
		return false
	}
	v2 := mode == ModeV2

	if len(res.Unified) > 0 {
		// Unified keys go to a cgroup2 hierarchy: the host's, or on a
		// hybrid host the one at /sys/fs/cgroup/unified (see hybrid.go).
		v2ctrls := avail
		switch mode {
		case ModeV1:
			e.add(resPath+".unified", "needs cgroup v2, this host is %s", mode)
			v2ctrls = nil
		case ModeHybrid:
			if v2ctrls, err = v2SideControllers(); err != nil {
				return err
			}
		}
		for _, k := range slices.Sorted(maps.Keys(res.Unified)) {
			ctrl, _, _ := strings.Cut(k, ".")
			if v2ctrls != nil && ctrl != "cgroup" && !v2ctrls[ctrl] { // cgroup.* are core files, always there
				e.add(fmt.Sprintf("%s.unified[%q]", resPath, k), "the %s controller is not on this %s host's cgroup2 hierarchy", ctrl, mode)
			}
		}
	}
	if res.Memory != 0 || res.MemoryReservation != 0 || res.MemorySwap != 0 || res.MemorySwappiness != nil || res.OomKillDisable {
		need(resPath+".memory", "memory")
	}
	if res.CpuShares != 0 || res.CpuQuota != 0 || res.CpuPeriod != 0 || res.CpuBurst != nil || res.CpuRtRuntime != 0 || res.CpuRtPeriod != 0 || res.CPUIdle != nil {
		need(resPath+".cpu", "cpu")
	}
	if err := checkCpuset(res, need, &e); err != nil {
		return err
	}
	if res.PidsLimit != nil {
		need(resPath+".pids", "pids")
	}
	if blkioSet(res) {
		ctrl := "blkio"
		if v2 {
			ctrl = "io"
		}
		if need(resPath+".blockIO", ctrl) {
			checkIOWeight(res, mode, &e)
		}
	}
	if mode == ModeHybrid && len(res.HugetlbLimit) > 0 && !avail["hugetlb"] {
		// hugetlb bound to the cgroup2 side is applied there (hybrid.go).
		v2side, err := v2SideControllers()
		if err != nil {
			return err
		}
		avail["hugetlb"] = v2side["hugetlb"]
	}
	checkHugepages(res, need, &e)
	if len(res.Rdma) > 0 {
		need(resPath+".rdma", "rdma")
	}
	if !v2 {
		if res.NetClsClassid != 0 {
			need(resPath+".network.classID", "net_cls")
		}
		if len(res.NetPrioIfpriomap) > 0 {
			need(resPath+".network.priorities", "net_prio")
		}
		// The v1 manager refuses to run without the devices controller,
		// since it would leave every device open.
		if !res.SkipDevices {
			need(resPath+".devices", "devices")
		}
	} else if warn {
		warnIgnoredOnV2(res)
	}
	return e.errs.Err()
}

// checkIOWeight refuses weights the kernel has no file for: without an I/O
// scheduler that takes one, every cgroup lacks the weight files, and the
// write would fail later with only the file's name.
func checkIOWeight(res *Resources, mode Mode, e *errList) {
	weights := res.BlkioWeight != 0 || res.BlkioLeafWeight != 0 || len(res.BlkioWeightDevice) > 0
	if !weights || ioWeighted(mode) {
		return
	}
	p := resPath + ".blockIO."
	why := "this kernel has no I/O scheduler that takes a weight (BFQ is neither built in nor loaded: no block device lists it in queue/scheduler)"
	if res.BlkioWeight != 0 {
		e.add(p+"weight", "%s", why)
	}
	if res.BlkioLeafWeight != 0 && mode != ModeV2 { // ignored on v2 (warnIgnoredOnV2)
		e.add(p+"leafWeight", "%s", why)
	}
	if len(res.BlkioWeightDevice) > 0 {
		e.add(p+"weightDevice", "%s", why)
	}
}

// ioWeighted reports whether this kernel takes an I/O weight: CFQ (before
// 5.0; blkio.weight at the v1 root), blk-iocost (v2's io.weight; its
// io.cost.qos is at the root) or BFQ, built in or loaded, which every
// block device then lists among its schedulers.
func ioWeighted(mode Mode) bool {
	if mode == ModeV2 {
		if _, err := os.Stat("/sys/fs/cgroup/io.cost.qos"); err == nil {
			return true
		}
	} else if mounts, err := v1Mounts(); err == nil {
		for _, m := range mounts {
			if slices.Contains(m.Subsystems, "blkio") {
				if _, err := os.Stat(filepath.Join(m.Mountpoint, "blkio.weight")); err == nil {
					return true
				}
			}
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

func blkioSet(res *Resources) bool {
	return res.BlkioWeight != 0 || res.BlkioLeafWeight != 0 || len(res.BlkioWeightDevice) > 0 ||
		len(res.BlkioThrottleReadBpsDevice) > 0 || len(res.BlkioThrottleWriteBpsDevice) > 0 ||
		len(res.BlkioThrottleReadIOPSDevice) > 0 || len(res.BlkioThrottleWriteIOPSDevice) > 0
}

// warnIgnoredOnV2 logs the settings cgroup v2 has no file for; the library
// skips them, like runc.
func warnIgnoredOnV2(res *Resources) {
	p := resPath + "."
	for _, f := range []struct {
		set  bool
		name string
	}{
		{res.CpuRtRuntime != 0 || res.CpuRtPeriod != 0, "cpu.realtimeRuntime/realtimePeriod"},
		{res.MemorySwappiness != nil, "memory.swappiness"},
		{res.OomKillDisable, "memory.disableOOMKiller"},
		{res.BlkioLeafWeight != 0, "blockIO.leafWeight"},
		{res.NetClsClassid != 0, "network.classID"},
		{len(res.NetPrioIfpriomap) > 0, "network.priorities"},
	} {
		if f.set {
			logrus.Warnf("%s%s is ignored: cgroup v2 has no equivalent", p, f.name)
		}
	}
}

func checkCpuset(res *Resources, need func(path, ctrl string) bool, e *errList) error {
	for _, f := range []struct {
		name, list, online string
	}{
		{"cpus", res.CpusetCpus, "/sys/devices/system/cpu/online"},
		{"mems", res.CpusetMems, "/sys/devices/system/node/online"},
	} {
		if f.list == "" {
			continue
		}
		path := resPath + ".cpu." + f.name
		if !need(path, "cpuset") {
			continue
		}
		want, err := parseList(f.list)
		if err != nil {
			e.add(path, "%q: %v", f.list, err)
			continue
		}
		have, err := onlineList(f.online)
		if err != nil {
			return err
		}
		for _, n := range want {
			if !slices.Contains(have, n) {
				e.add(path, "%d is not online on this host (online: %s)", n, formatList(have))
				break
			}
		}
	}
	return nil
}

// onlineList reads a sysfs "online" list. A kernel without NUMA has no
// node directory; it has exactly node 0.
func onlineList(file string) ([]int, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) && strings.Contains(file, "/node/") {
		return []int{0}, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := parseList(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return list, nil
}

func formatList(l []int) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func checkHugepages(res *Resources, need func(path, ctrl string) bool, e *errList) {
	if len(res.HugetlbLimit) == 0 || !need(resPath+".hugepageLimits", "hugetlb") {
		return
	}
	sizes := lib.HugePageSizes()
	for i, h := range res.HugetlbLimit {
		if !slices.Contains(sizes, h.Pagesize) {
			e.add(fmt.Sprintf("%s.hugepageLimits[%d].pageSize", resPath, i),
				"%q is not a huge page size of this host (have %s)", h.Pagesize, strings.Join(sizes, ", "))
		}
	}
}

// availableControllers lists the controllers a container cgroup can use:
// on v1 the mounted hierarchies, on v2 those in the root's
// cgroup.controllers. On a hybrid host these are the v1 controllers; the
// cgroup2 side is v2SideControllers.
func availableControllers(mode Mode) (map[string]bool, error) {
	avail := map[string]bool{}
	if mode == ModeV2 {
		data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err != nil {
			return nil, fmt.Errorf("reading cgroup v2 controllers: %w", err)
		}
		for _, c := range strings.Fields(string(data)) {
			avail[c] = true
		}
		return avail, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, fmt.Errorf("listing cgroup v1 mounts: %w", err)
	}
	for _, m := range mounts {
		for _, s := range m.Subsystems {
			avail[s] = true
		}
	}
	return avail, nil
}
