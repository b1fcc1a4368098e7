package cgroups

import (
	"maps"

	lib "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MergeUpdate returns cur with the values that upd sets replaced, for
// `berth update`. Values upd leaves out keep their current setting: the
// library cannot tell "unset" from zero on every field, and on v2 the swap
// limit is computed from the memory limit, so Set needs the whole picture.
//
// Device rules are never changed by an update (as in runc): the result has
// SkipDevices set, so Set does not rewrite them. cur is not modified.
func MergeUpdate(cur *Resources, upd *specs.LinuxResources) (*Resources, error) {
	u, err := FromSpec(upd)
	if err != nil {
		return nil, err
	}
	next := cloneResources(cur)
	next.SkipDevices = true
	// Never let an update thaw a paused container or freeze a running one.
	next.Freezer = lib.Undefined
	if upd == nil {
		return next, nil
	}
	if m := upd.Memory; m != nil {
		setIf(m.Limit != nil, &next.Memory, u.Memory)
		setIf(m.Reservation != nil, &next.MemoryReservation, u.MemoryReservation)
		setIf(m.Swap != nil, &next.MemorySwap, u.MemorySwap)
		setIf(m.Swappiness != nil, &next.MemorySwappiness, u.MemorySwappiness)
		setIf(m.DisableOOMKiller != nil, &next.OomKillDisable, u.OomKillDisable)
		setIf(m.CheckBeforeUpdate != nil, &next.MemoryCheckBeforeUpdate, u.MemoryCheckBeforeUpdate)
		if next.Memory > 0 && next.MemorySwap > 0 && next.MemorySwap < next.Memory {
			return nil, fieldErr(resPath+".memory.swap", "%d is below the memory limit %d (swap is the memory+swap total)", next.MemorySwap, next.Memory)
		}
	}
	if c := upd.CPU; c != nil {
		setIf(c.Shares != nil, &next.CpuShares, u.CpuShares)
		setIf(c.Shares != nil, &next.CpuWeight, u.CpuWeight)
		setIf(c.Quota != nil, &next.CpuQuota, u.CpuQuota)
		setIf(c.Burst != nil, &next.CpuBurst, u.CpuBurst)
		setIf(c.Period != nil, &next.CpuPeriod, u.CpuPeriod)
		setIf(c.RealtimeRuntime != nil, &next.CpuRtRuntime, u.CpuRtRuntime)
		setIf(c.RealtimePeriod != nil, &next.CpuRtPeriod, u.CpuRtPeriod)
		setIf(c.Cpus != "", &next.CpusetCpus, u.CpusetCpus)
		setIf(c.Mems != "", &next.CpusetMems, u.CpusetMems)
		setIf(c.Idle != nil, &next.CPUIdle, u.CPUIdle)
	}
	if upd.Pids != nil && upd.Pids.Limit != nil {
		next.PidsLimit = u.PidsLimit
	}
	if b := upd.BlockIO; b != nil {
		setIf(b.Weight != nil, &next.BlkioWeight, u.BlkioWeight)
		setIf(b.LeafWeight != nil, &next.BlkioLeafWeight, u.BlkioLeafWeight)
		setIf(b.WeightDevice != nil, &next.BlkioWeightDevice, u.BlkioWeightDevice)
		setIf(b.ThrottleReadBpsDevice != nil, &next.BlkioThrottleReadBpsDevice, u.BlkioThrottleReadBpsDevice)
		setIf(b.ThrottleWriteBpsDevice != nil, &next.BlkioThrottleWriteBpsDevice, u.BlkioThrottleWriteBpsDevice)
		setIf(b.ThrottleReadIOPSDevice != nil, &next.BlkioThrottleReadIOPSDevice, u.BlkioThrottleReadIOPSDevice)
		setIf(b.ThrottleWriteIOPSDevice != nil, &next.BlkioThrottleWriteIOPSDevice, u.BlkioThrottleWriteIOPSDevice)
	}
	setIf(upd.HugepageLimits != nil, &next.HugetlbLimit, u.HugetlbLimit)
	if n := upd.Network; n != nil {
		setIf(n.ClassID != nil, &next.NetClsClassid, u.NetClsClassid)
		setIf(n.Priorities != nil, &next.NetPrioIfpriomap, u.NetPrioIfpriomap)
	}
	if len(u.Rdma) > 0 {
		if next.Rdma == nil {
			next.Rdma = map[string]lib.LinuxRdma{}
		}
		maps.Copy(next.Rdma, u.Rdma)
	}
	if len(u.Unified) > 0 {
		if next.Unified == nil {
			next.Unified = map[string]string{}
		}
		maps.Copy(next.Unified, u.Unified)
	}
	return next, nil
}

func setIf[T any](cond bool, dst *T, v T) {
	if cond {
		*dst = v
	}
}

// cloneResources copies r deeply enough that changing the copy's fields,
// slices or maps never changes r.
func cloneResources(r *Resources) *Resources {
	if r == nil {
		return &Resources{}
	}
	c := *r
	c.Rdma = maps.Clone(r.Rdma)
	c.Unified = maps.Clone(r.Unified)
	// Slices of pointers are replaced wholesale by MergeUpdate, never
	// modified in place, so sharing their elements is safe.
	return &c
}
