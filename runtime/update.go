package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/berthproject/berth/libcontainer"
)

func init() {
	register(&command{name: "update", args: "<container-id>", short: "change the resource limits of a container", run: cmdUpdate,
		desc: "Limits come from --resources (a linux.resources JSON object, - for stdin) and from\n" +
			"the flags below, which override the file's values. Memory sizes take a unit\n" +
			"suffix (k, m, g, t, p; powers of 1024) or -1 for unlimited."})
}

// updateFlags are the single-value flags of `berth update`, in runc's
// spelling; each maps onto one linux.resources field.
var updateFlags = []struct {
	name, usage string
	set         func(r *specs.LinuxResources, v string) error
}{
	{"blkio-weight", "per-cgroup block IO weight, 10 to 1000", func(r *specs.LinuxResources, v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		r.BlockIO = orNew(r.BlockIO)
		r.BlockIO.Weight = ptr(uint16(n))
		return err
	}},
	{"cpu-period", "CPU CFS period in microseconds (0: the system default)", setCPUUint(func(c *specs.LinuxCPU) **uint64 { return &c.Period })},
	{"cpu-quota", "CPU CFS quota in microseconds per period (-1: none)", setCPUInt(func(c *specs.LinuxCPU) **int64 { return &c.Quota })},
	{"cpu-burst", "CPU CFS burst in microseconds", setCPUUint(func(c *specs.LinuxCPU) **uint64 { return &c.Burst })},
	{"cpu-share", "CPU shares (relative weight against other containers)", setCPUUint(func(c *specs.LinuxCPU) **uint64 { return &c.Shares })},
	{"cpu-rt-period", "CPU realtime period in microseconds", setCPUUint(func(c *specs.LinuxCPU) **uint64 { return &c.RealtimePeriod })},
	{"cpu-rt-runtime", "CPU realtime runtime in microseconds per period", setCPUInt(func(c *specs.LinuxCPU) **int64 { return &c.RealtimeRuntime })},
	{"cpu-idle", "1 for SCHED_IDLE, 0 for the default", setCPUInt(func(c *specs.LinuxCPU) **int64 { return &c.Idle })},
	{"cpuset-cpus", "CPUs to run on, e.g. 0-1", func(r *specs.LinuxResources, v string) error {
		r.CPU = orNew(r.CPU)
		r.CPU.Cpus = v
		return nil
	}},
	{"cpuset-mems", "memory nodes to allocate on, e.g. 0", func(r *specs.LinuxResources, v string) error {
		r.CPU = orNew(r.CPU)
		r.CPU.Mems = v
		return nil
	}},
	{"memory", "memory limit in bytes", setMemory(func(m *specs.LinuxMemory) **int64 { return &m.Limit })},
	{"memory-reservation", "memory soft limit in bytes", setMemory(func(m *specs.LinuxMemory) **int64 { return &m.Reservation })},
	{"memory-swap", "memory plus swap limit in bytes (-1: unlimited swap)", setMemory(func(m *specs.LinuxMemory) **int64 { return &m.Swap })},
	{"kernel-memory", "(obsolete: ignored, with a warning)", setMemory(func(m *specs.LinuxMemory) **int64 { return &m.Kernel })}, //nolint:staticcheck // runc's flag, ignored
	{"kernel-memory-tcp", "(obsolete: ignored, with a warning)", setMemory(func(m *specs.LinuxMemory) **int64 { return &m.KernelTCP })},
	{"pids-limit", "maximum number of processes (0 or -1: unlimited)", func(r *specs.LinuxResources, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		r.Pids = &specs.LinuxPids{Limit: &n}
		return err
	}},
	{"l3-cache-schema", "Intel RDT/CAT L3 cache schema (not supported in this build)", refuseRDT},
	{"mem-bw-schema", "Intel RDT/MBA memory bandwidth schema (not supported in this build)", refuseRDT},
}

func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func setCPUUint(field func(*specs.LinuxCPU) **uint64) func(*specs.LinuxResources, string) error {
	return func(r *specs.LinuxResources, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		r.CPU = orNew(r.CPU)
		*field(r.CPU) = &n
		return err
	}
}

func setCPUInt(field func(*specs.LinuxCPU) **int64) func(*specs.LinuxResources, string) error {
	return func(r *specs.LinuxResources, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		r.CPU = orNew(r.CPU)
		*field(r.CPU) = &n
		return err
	}
}

func setMemory(field func(*specs.LinuxMemory) **int64) func(*specs.LinuxResources, string) error {
	return func(r *specs.LinuxResources, v string) error {
		n, err := parseBytes(v)
		r.Memory = orNew(r.Memory)
		*field(r.Memory) = &n
		return err
	}
}

var errNoRDT = errors.New("Intel RDT is not supported in this build (berth does not implement linux.intelRdt)")

func refuseRDT(*specs.LinuxResources, string) error { return errNoRDT }

// parseBytes reads a size as runc's update does: a number of bytes with an
// optional unit (k, m, g, t, p, optionally followed by b or ib; powers of
// 1024), or -1 for unlimited.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	num := strings.TrimRight(strings.ToLower(s), "kmgtpib")
	unit := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s)[len(num):], "b"), "i")
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}
	sh, ok := shift[unit]
	if !ok || num == "" {
		return 0, errors.New("not a size")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) {
		return 0, errors.New("not a size") // NaN, "inf" and negatives too
	}
	// 2^63 is exact as a float64: anything from there on overflows.
	if b := f * float64(uint64(1)<<sh); b < math.MaxInt64 {
		return int64(b), nil
	}
	return 0, errors.New("too large")
}

func cmdUpdate(g *globals, args []string) error {
	fs := newFlags("update")
	resFile := fs.String("resources", "", "path to a file with a linux.resources JSON object, or - for stdin")
	fs.alias("r", "resources")
	values := map[string]*string{}
	for _, f := range updateFlags {
		values[f.name] = fs.String(f.name, "", f.usage)
	}
	// berth's older spelling of --cpu-share.
	fs.Var(fs.Lookup("cpu-share").Value, "cpu-shares", "")
	fs.aliases["cpu-share"] = "cpu-shares"
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	res := &specs.LinuxResources{}
	if *resFile != "" {
		in := os.Stdin
		if *resFile != "-" {
			if in, err = os.Open(*resFile); err != nil {
				return fmt.Errorf("--resources: %w", err)
			}
			defer in.Close()
		}
		// One JSON value, as runc reads it: a caller that keeps stdin
		// open after writing the object must not wait for its EOF.
		if err := json.NewDecoder(in).Decode(res); err != nil {
			return fmt.Errorf("--resources %s: %w", *resFile, err)
		}
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		name := fs.longName(f.Name)
		if _, ok := values[name]; ok {
			set[name] = f.Value.String()
		}
	})
	if err := applyUpdateFlags(res, set); err != nil {
		return err
	}
	if m := res.Memory; m != nil && (m.Kernel != nil || m.KernelTCP != nil) { //nolint:staticcheck // runc's flags
		logrus.Warn("kernel memory limits are ignored by update (linux.resources.memory.kernel and kernelTCP are obsolete)")
		m.Kernel, m.KernelTCP = nil, nil //nolint:staticcheck // dropped on purpose
	}
	c, err := libcontainer.Load(g.root, rest[0])
	if err != nil {
		return err
	}
	return c.Update(res)
}

// applyUpdateFlags sets the resources given as single flags (name ->
// value, only for flags that were given).
func applyUpdateFlags(res *specs.LinuxResources, given map[string]string) error {
	for _, f := range updateFlags {
		v, ok := given[f.name]
		if !ok {
			continue
		}
		if err := f.set(res, v); err != nil {
			if err == errNoRDT {
				return fmt.Errorf("--%s: %w", f.name, err)
			}
			return fmt.Errorf("--%s %q: not a valid value", f.name, v)
		}
	}
	return nil
}
