package cgroups

import (
	"fmt"

	lib "github.com/opencontainers/cgroups"
)

// Stats is a cgroup's usage in the JSON shape of runc's `events --stats`
// data (the cgroup parts of it), so tools that parse runc's output can parse
// berth's.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	CPUSet  CPUSetStats             `json:"cpuset"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	Blkio   BlkioStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb"`
}

// PSIStats is pressure stall information (cgroup v2 only).
type PSIStats = lib.PSIStats

// CPUStats is CPU time used and CFS throttling.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
	PSI        *PSIStats  `json:"psi,omitempty"`
}

// CPUUsage is in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// Throttling counts CFS periods and the time the cgroup was throttled.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUSetStats is the cpuset configuration (v1 only).
type CPUSetStats struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// MemoryEntry is one memory counter with its limit, in bytes.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// MemoryStats is memory use; Raw holds every line of memory.stat.
type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
	PSI       *PSIStats         `json:"psi,omitempty"`
}

// PidsStats is the task count and its limit (0 when unlimited).
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioEntry is one per-device, per-operation counter.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// BlkioStats is block I/O done by the cgroup.
type BlkioStats struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	PSI                     *PSIStats    `json:"psi,omitempty"`
}

// HugetlbStats is huge page use for one page size, in bytes.
type HugetlbStats struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Stats reads the cgroup's current usage.
func (m *Manager) Stats() (*Stats, error) {
	s, err := m.lib.GetStats()
	if err != nil {
		return nil, fmt.Errorf("reading stats of cgroup %s: %w", m.name, err)
	}
	if m.mode == ModeHybrid && !m.v1Hugetlb {
		if dir := m.lib.Path(""); dir != "" {
			if err := v2SideStats(dir, s); err != nil {
				return nil, fmt.Errorf("reading hugetlb stats of cgroup %s: %w", m.name, err)
			}
		}
	}
	return convertStats(s), nil
}

func convertStats(s *lib.Stats) *Stats {
	cpu := s.CpuStats
	mem := s.MemoryStats
	out := &Stats{
		CPU: CPUStats{
			Usage: CPUUsage{
				Total:        cpu.CpuUsage.TotalUsage,
				Percpu:       cpu.CpuUsage.PercpuUsage,
				PercpuKernel: cpu.CpuUsage.PercpuUsageInKernelmode,
				PercpuUser:   cpu.CpuUsage.PercpuUsageInUsermode,
				Kernel:       cpu.CpuUsage.UsageInKernelmode,
				User:         cpu.CpuUsage.UsageInUsermode,
			},
			Throttling: Throttling{
				Periods:          cpu.ThrottlingData.Periods,
				ThrottledPeriods: cpu.ThrottlingData.ThrottledPeriods,
				ThrottledTime:    cpu.ThrottlingData.ThrottledTime,
			},
			PSI: cpu.PSI,
		},
		CPUSet: CPUSetStats(s.CPUSetStats),
		Memory: MemoryStats{
			Cache:     mem.Cache,
			Usage:     memoryEntry(mem.Usage),
			Swap:      memoryEntry(mem.SwapUsage),
			Kernel:    memoryEntry(mem.KernelUsage),
			KernelTCP: memoryEntry(mem.KernelTCPUsage),
			Raw:       mem.Stats,
			PSI:       mem.PSI,
		},
		Pids: PidsStats(s.PidsStats),
		Blkio: BlkioStats{
			IoServiceBytesRecursive: blkioEntries(s.BlkioStats.IoServiceBytesRecursive),
			IoServicedRecursive:     blkioEntries(s.BlkioStats.IoServicedRecursive),
			IoQueuedRecursive:       blkioEntries(s.BlkioStats.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkioEntries(s.BlkioStats.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkioEntries(s.BlkioStats.IoWaitTimeRecursive),
			IoMergedRecursive:       blkioEntries(s.BlkioStats.IoMergedRecursive),
			IoTimeRecursive:         blkioEntries(s.BlkioStats.IoTimeRecursive),
			SectorsRecursive:        blkioEntries(s.BlkioStats.SectorsRecursive),
			PSI:                     s.BlkioStats.PSI,
		},
		Hugetlb: make(map[string]HugetlbStats, len(s.HugetlbStats)),
	}
	for size, h := range s.HugetlbStats {
		out.Hugetlb[size] = HugetlbStats{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func memoryEntry(d lib.MemoryData) MemoryEntry {
	return MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
}

func blkioEntries(in []lib.BlkioStatEntry) []BlkioEntry {
	if len(in) == 0 {
		return nil
	}
	out := make([]BlkioEntry, len(in))
	for i, e := range in {
		out[i] = BlkioEntry(e)
	}
	return out
}
