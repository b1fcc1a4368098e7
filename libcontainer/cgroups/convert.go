package cgroups

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	lib "github.com/opencontainers/cgroups"
	devcfg "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	berthspecs "github.com/berthproject/berth/specs"
)

// Resources is the library's form of linux.resources, the value the Manager
// applies. It is JSON-marshalable, so callers can keep it in the container
// state and feed it back to Load and MergeUpdate.
type Resources = lib.Resources

// FieldError is a bad value in linux.resources. Path is the JSON path of the
// value, e.g. "linux.resources.memory.limit"; File is empty (the resources
// may come from config.json or from `berth update`): callers name it with
// berthspecs.ConfigErrors.InFile.
type FieldError = berthspecs.FieldError

func fieldErr(path, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// errList collects every bad value of linux.resources.
type errList struct {
	errs  berthspecs.ConfigErrors
	quiet bool // no warnings
}

func (e *errList) add(path, format string, args ...any) {
	e.errs = append(e.errs, fieldErr(path, format, args...))
}

const resPath = "linux.resources"

// FromSpec converts linux.resources into the library's Resources, checking
// every value that can be checked without looking at the host (Validate does
// the host-aware checks). A nil r gives empty Resources, which set nothing.
// The error is a berthspecs.ConfigErrors listing every bad value.
//
// The device rules are converted as given. Use ContainerResources when
// creating a container: it adds runc's default rules.
func FromSpec(r *specs.LinuxResources) (*Resources, error) {
	res, errs := fromSpec(r, true)
	if len(errs) > 0 {
		return nil, errs
	}
	return res, nil
}

// CheckSpec reports every bad value of linux.resources, those any host
// would refuse (FromSpec) and those this host cannot apply (Validate),
// without logging FromSpec's and Validate's warnings: it is for checking
// a whole config up front, before the conversion that counts. The error
// is a berthspecs.ConfigErrors whose FieldErrors name config.json, or the
// error reading the host's cgroup setup.
func CheckSpec(linux *specs.Linux) error {
	if linux == nil || linux.Resources == nil {
		return nil
	}
	// The host is asked about what the bad values ask for too: a value
	// out of range does not hide a controller the host lacks.
	res, errs := fromSpec(linux.Resources, false)
	err := validate(res, false)
	if err != nil {
		list, ok := err.(berthspecs.ConfigErrors)
		if !ok {
			return err
		}
		errs = append(errs, list...)
	}
	return errs.InFile(berthspecs.ConfigFile).Err()
}

// fromSpec is FromSpec that returns the resources converted so far along
// with every bad value.
func fromSpec(r *specs.LinuxResources, warn bool) (*Resources, berthspecs.ConfigErrors) {
	res := &Resources{}
	if r == nil {
		return res, nil
	}
	steps := []func(*specs.LinuxResources, *Resources, *errList){
		convertDevices, convertMemory, convertCPU, convertPids, convertBlockIO,
		convertHugepages, convertNetwork, convertRdma, convertUnified,
	}
	e := errList{quiet: !warn}
	for _, step := range steps {
		step(r, res, &e)
	}
	return res, e.errs
}

// ContainerResources converts the resources of a container being created, as
// runc does: the rules of linux.resources.devices come after an explicit
// deny-all and are followed by runc's default allow list (DefaultDevices),
// minus the default devices whose path linux.devices redefines.
func ContainerResources(linux *specs.Linux) (*Resources, error) {
	if linux == nil {
		linux = &specs.Linux{}
	}
	res, err := FromSpec(linux.Resources)
	if err != nil {
		return nil, err
	}
	redefined := make(map[string]bool, len(linux.Devices))
	for _, d := range linux.Devices {
		redefined[d.Path] = true
	}
	rules := []*devcfg.Rule{{Type: devcfg.WildcardDevice, Major: devcfg.Wildcard, Minor: devcfg.Wildcard, Permissions: "rwm", Allow: false}}
	rules = append(rules, res.Devices...)
	for _, d := range DefaultDevices {
		if d.Path != "" && redefined[d.Path] {
			continue
		}
		rule := d.Rule
		rules = append(rules, &rule)
	}
	res.Devices = rules
	return res, nil
}

// DefaultDevices is what runc lets every container use on top of its config:
// mknod of any device, and read/write of the standard /dev nodes, the
// console and the ptys. The entries with a Path are also the nodes runc
// creates in /dev.
var DefaultDevices = []devcfg.Device{
	{Rule: charRule(devcfg.Wildcard, devcfg.Wildcard, "m")},
	{Rule: devcfg.Rule{Type: devcfg.BlockDevice, Major: devcfg.Wildcard, Minor: devcfg.Wildcard, Permissions: "m", Allow: true}},
	{Path: "/dev/null", FileMode: 0o666, Rule: charRule(1, 3, "rwm")},
	{Path: "/dev/random", FileMode: 0o666, Rule: charRule(1, 8, "rwm")},
	{Path: "/dev/full", FileMode: 0o666, Rule: charRule(1, 7, "rwm")},
	{Path: "/dev/tty", FileMode: 0o666, Rule: charRule(5, 0, "rwm")},
	{Path: "/dev/zero", FileMode: 0o666, Rule: charRule(1, 5, "rwm")},
	{Path: "/dev/urandom", FileMode: 0o666, Rule: charRule(1, 9, "rwm")},
	{Rule: charRule(136, devcfg.Wildcard, "rwm")}, // /dev/pts/*
	{Rule: charRule(5, 2, "rwm")},                 // /dev/ptmx
}

func charRule(major, minor int64, perms devcfg.Permissions) devcfg.Rule {
	return devcfg.Rule{Type: devcfg.CharDevice, Major: major, Minor: minor, Permissions: perms, Allow: true}
}

func convertDevices(r *specs.LinuxResources, res *Resources, e *errList) {
	for i, d := range r.Devices {
		path := fmt.Sprintf("%s.devices[%d]", resPath, i)
		rule := &devcfg.Rule{Type: devcfg.WildcardDevice, Major: devcfg.Wildcard, Minor: devcfg.Wildcard, Allow: d.Allow}
		switch d.Type {
		case "", "a":
		case "b":
			rule.Type = devcfg.BlockDevice
		case "c":
			rule.Type = devcfg.CharDevice
		default:
			e.add(path+".type", "%q is not a device type (want a, b or c)", d.Type)
		}
		if d.Major != nil {
			if *d.Major < devcfg.Wildcard {
				e.add(path+".major", "%d is negative", *d.Major)
			}
			rule.Major = *d.Major
		}
		if d.Minor != nil {
			if *d.Minor < devcfg.Wildcard {
				e.add(path+".minor", "%d is negative", *d.Minor)
			}
			rule.Minor = *d.Minor
		}
		// runc rejects an empty access rather than guessing "rwm".
		if d.Access == "" || strings.Trim(d.Access, "rwm") != "" {
			e.add(path+".access", "%q must be a non-empty combination of r, w and m", d.Access)
		}
		rule.Permissions = devcfg.Permissions(d.Access)
		res.Devices = append(res.Devices, rule)
	}
}

func convertMemory(r *specs.LinuxResources, res *Resources, e *errList) {
	m := r.Memory
	if m == nil {
		return
	}
	p := resPath + ".memory."
	// 0 leaves a limit alone, -1 lifts it; nothing else below 1 makes sense.
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{
		{"limit", m.Limit, &res.Memory},
		{"reservation", m.Reservation, &res.MemoryReservation},
		{"swap", m.Swap, &res.MemorySwap},
		{"kernel", m.Kernel, nil}, //nolint:staticcheck // deprecated, still checked
		{"kernelTCP", m.KernelTCP, nil},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < -1 {
			e.add(p+f.name, "%d is below -1 (use -1 for unlimited)", *f.v)
			continue
		}
		if f.dst != nil { // kernel and kernelTCP: the Manager writes them (Options)
			*f.dst = *f.v
		}
	}
	if res.Memory > 0 && res.MemorySwap > 0 && res.MemorySwap < res.Memory {
		e.add(p+"swap", "%d is below memory.limit %d (swap is the memory+swap total)", res.MemorySwap, res.Memory)
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			e.add(p+"swappiness", "%d is above 100", *m.Swappiness)
		}
		v := *m.Swappiness
		res.MemorySwappiness = &v
	}
	if m.DisableOOMKiller != nil {
		res.OomKillDisable = *m.DisableOOMKiller
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy && !e.quiet {
		// Kernels since 5.15 (and every v2 host) always account hierarchically.
		logrus.Warnf("%suseHierarchy=false is ignored: hierarchical accounting is always on", p)
	}
	if m.CheckBeforeUpdate != nil {
		res.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
	}
}

// Kernel bounds for the cpu controller, so a bad value fails here rather
// than half-way through creating the cgroup.
const (
	minCPUShares   = 2
	maxCPUShares   = 262144
	minCFSPeriodUs = 1000
	maxCFSPeriodUs = 1000000
	minCFSQuotaUs  = 1000
)

func convertCPU(r *specs.LinuxResources, res *Resources, e *errList) {
	c := r.CPU
	if c == nil {
		return
	}
	p := resPath + ".cpu."
	if c.Shares != nil && *c.Shares != 0 {
		if *c.Shares < minCPUShares || *c.Shares > maxCPUShares {
			e.add(p+"shares", "%d is outside %d..%d", *c.Shares, minCPUShares, maxCPUShares)
		}
		res.CpuShares = *c.Shares
		res.CpuWeight = lib.ConvertCPUSharesToCgroupV2Value(*c.Shares)
	}
	if c.Period != nil && *c.Period != 0 {
		if *c.Period < minCFSPeriodUs || *c.Period > maxCFSPeriodUs {
			e.add(p+"period", "%d is outside %d..%d microseconds", *c.Period, minCFSPeriodUs, maxCFSPeriodUs)
		}
		res.CpuPeriod = *c.Period
	}
	if c.Quota != nil && *c.Quota != 0 {
		if *c.Quota != -1 && *c.Quota < minCFSQuotaUs {
			e.add(p+"quota", "%d must be -1 (unlimited) or at least %d microseconds", *c.Quota, minCFSQuotaUs)
		}
		res.CpuQuota = *c.Quota
	}
	if c.Burst != nil {
		if *c.Burst != 0 && res.CpuQuota > 0 && *c.Burst > uint64(res.CpuQuota) {
			e.add(p+"burst", "%d is above quota %d", *c.Burst, res.CpuQuota)
		}
		v := *c.Burst
		res.CpuBurst = &v
	}
	if c.RealtimeRuntime != nil {
		if *c.RealtimeRuntime < -1 {
			e.add(p+"realtimeRuntime", "%d is below -1", *c.RealtimeRuntime)
		}
		res.CpuRtRuntime = *c.RealtimeRuntime
	}
	if c.RealtimePeriod != nil {
		res.CpuRtPeriod = *c.RealtimePeriod
	}
	if res.CpuRtRuntime > 0 && res.CpuRtPeriod > 0 && uint64(res.CpuRtRuntime) > res.CpuRtPeriod {
		e.add(p+"realtimeRuntime", "%d is above realtimePeriod %d", res.CpuRtRuntime, res.CpuRtPeriod)
	}
	if _, err := parseList(c.Cpus); err != nil {
		e.add(p+"cpus", "%q: %v", c.Cpus, err)
	}
	if _, err := parseList(c.Mems); err != nil {
		e.add(p+"mems", "%q: %v", c.Mems, err)
	}
	res.CpusetCpus, res.CpusetMems = c.Cpus, c.Mems
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			e.add(p+"idle", "%d must be 0 or 1", *c.Idle)
		}
		v := *c.Idle
		res.CPUIdle = &v
	}
}

func convertPids(r *specs.LinuxResources, res *Resources, _ *errList) {
	if r.Pids != nil && r.Pids.Limit != nil {
		// A limit <= 0 means "max" (no limit), as in runc.
		v := *r.Pids.Limit
		res.PidsLimit = &v
	}
}

// Bounds of blkio.weight and friends (the kernel maps them to io.weight on v2).
const (
	minBlkioWeight = 10
	maxBlkioWeight = 1000
)

func checkWeight(path string, w *uint16, e *errList) uint16 {
	if w == nil || *w == 0 {
		return 0
	}
	if *w < minBlkioWeight || *w > maxBlkioWeight {
		e.add(path, "%d is outside %d..%d", *w, minBlkioWeight, maxBlkioWeight)
		return 0
	}
	return *w
}

func checkBlockDevice(path string, d specs.LinuxBlockIODevice, e *errList) {
	if d.Major < 0 {
		e.add(path+".major", "%d is negative", d.Major)
	}
	if d.Minor < 0 {
		e.add(path+".minor", "%d is negative", d.Minor)
	}
}

func convertBlockIO(r *specs.LinuxResources, res *Resources, e *errList) {
	b := r.BlockIO
	if b == nil {
		return
	}
	p := resPath + ".blockIO."
	res.BlkioWeight = checkWeight(p+"weight", b.Weight, e)
	res.BlkioLeafWeight = checkWeight(p+"leafWeight", b.LeafWeight, e)
	for i, wd := range b.WeightDevice {
		path := fmt.Sprintf("%sweightDevice[%d]", p, i)
		checkBlockDevice(path, wd.LinuxBlockIODevice, e)
		n := len(e.errs)
		w := checkWeight(path+".weight", wd.Weight, e)
		lw := checkWeight(path+".leafWeight", wd.LeafWeight, e)
		if w == 0 && lw == 0 && n == len(e.errs) {
			e.add(path, "sets neither weight nor leafWeight")
		}
		res.BlkioWeightDevice = append(res.BlkioWeightDevice, lib.NewWeightDevice(wd.Major, wd.Minor, w, lw))
	}
	for _, t := range []struct {
		name string
		src  []specs.LinuxThrottleDevice
		dst  *[]*lib.ThrottleDevice
	}{
		{"throttleReadBpsDevice", b.ThrottleReadBpsDevice, &res.BlkioThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", b.ThrottleWriteBpsDevice, &res.BlkioThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", b.ThrottleReadIOPSDevice, &res.BlkioThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice, &res.BlkioThrottleWriteIOPSDevice},
	} {
		for i, td := range t.src {
			checkBlockDevice(fmt.Sprintf("%s%s[%d]", p, t.name, i), td.LinuxBlockIODevice, e)
			*t.dst = append(*t.dst, lib.NewThrottleDevice(td.Major, td.Minor, td.Rate))
		}
	}
}

// validPageSize checks the runtime-spec format of
// hugepageLimits[].pageSize, ^[1-9][0-9]*[KMGTP]B$, which is also how the
// kernel names the hugetlb.<size>.* files. By hand, so that berth does not
// link regexp for one pattern.
func validPageSize(s string) bool {
	n := len(s)
	if n < 3 || s[n-1] != 'B' || !strings.ContainsRune("KMGTP", rune(s[n-2])) || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < n-2; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func convertHugepages(r *specs.LinuxResources, res *Resources, e *errList) {
	seen := map[string]bool{}
	for i, h := range r.HugepageLimits {
		path := fmt.Sprintf("%s.hugepageLimits[%d].pageSize", resPath, i)
		if !validPageSize(h.Pagesize) {
			e.add(path, "%q is not a page size like 2MB or 1GB", h.Pagesize)
			continue
		}
		if seen[h.Pagesize] {
			e.add(path, "%q is listed twice", h.Pagesize)
			continue
		}
		seen[h.Pagesize] = true
		res.HugetlbLimit = append(res.HugetlbLimit, &lib.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
}

func convertNetwork(r *specs.LinuxResources, res *Resources, e *errList) {
	n := r.Network
	if n == nil {
		return
	}
	if n.ClassID != nil {
		res.NetClsClassid = *n.ClassID
	}
	for i, prio := range n.Priorities {
		if prio.Name == "" || strings.ContainsAny(prio.Name, " \t\n/") {
			e.add(fmt.Sprintf("%s.network.priorities[%d].name", resPath, i), "%q is not an interface name", prio.Name)
			continue
		}
		res.NetPrioIfpriomap = append(res.NetPrioIfpriomap, &lib.IfPrioMap{Interface: prio.Name, Priority: int64(prio.Priority)})
	}
}

func convertRdma(r *specs.LinuxResources, res *Resources, e *errList) {
	if len(r.Rdma) == 0 {
		return
	}
	res.Rdma = make(map[string]lib.LinuxRdma, len(r.Rdma))
	for _, dev := range slices.Sorted(maps.Keys(r.Rdma)) {
		if dev == "" || strings.ContainsAny(dev, " \t\n=") {
			e.add(resPath+".rdma", "%q is not an RDMA device name", dev)
			continue
		}
		l := r.Rdma[dev]
		res.Rdma[dev] = lib.LinuxRdma{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
	}
}

func convertUnified(r *specs.LinuxResources, res *Resources, e *errList) {
	if len(r.Unified) == 0 {
		return
	}
	res.Unified = make(map[string]string, len(r.Unified))
	for _, k := range slices.Sorted(maps.Keys(r.Unified)) {
		ctrl, param, ok := strings.Cut(k, ".")
		if !ok || ctrl == "" || param == "" || strings.ContainsAny(k, "/\x00") {
			e.add(fmt.Sprintf("%s.unified[%q]", resPath, k), "key must be a cgroup file name like memory.high")
			continue
		}
		res.Unified[k] = r.Unified[k]
	}
}

// parseList parses a cpuset list such as "0-3,8,10-11" and returns its
// members. An empty list is valid (it means "inherit").
func parseList(s string) ([]int, error) {
	return berthspecs.ParseList(s, maxListIndex+1)
}

// maxListIndex bounds parseList so a typo like "0-99999999" is an error,
// not a huge allocation. The kernel's NR_CPUS tops out at 8192.
const maxListIndex = 8192
