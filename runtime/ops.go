package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer"
)

func init() {
	commands["pause"] = &command{usage: "pause ID", short: "freeze every process of a container", run: cmdPause}
	commands["resume"] = &command{usage: "resume ID", short: "thaw a paused container", run: cmdResume}
	commands["ps"] = &command{usage: "ps [--format table|json] ID", short: "list the processes of a container", run: cmdPs}
	commands["update"] = &command{usage: "update [--resources FILE|-] ID", short: "change the resources of a container", run: cmdUpdate}
	commands["events"] = &command{usage: "events [--stats] [--interval D] ID", short: "print container statistics as JSON", run: cmdEvents}
}

// loadOne is load for a command that takes only the id.
func loadOne(g *globals, name string, args []string) (*libcontainer.Container, error) {
	c, _, err := load(g, newFlags(name), args, 1, 1)
	return c, err
}

// load parses a command's flags and arguments (min to max of them, the
// container id first) and loads that container.
func load(g *globals, fs *flag.FlagSet, args []string, min, max int) (*libcontainer.Container, []string, error) {
	rest, err := parse(fs, args, min, max)
	if err != nil {
		return nil, nil, err
	}
	c, err := libcontainer.Load(g.root, rest[0])
	return c, rest, err
}

func cmdPause(g *globals, args []string) error {
	c, err := loadOne(g, "pause", args)
	if err != nil {
		return err
	}
	return c.Pause()
}

func cmdResume(g *globals, args []string) error {
	c, err := loadOne(g, "resume", args)
	if err != nil {
		return err
	}
	return c.Resume()
}

func cmdPs(g *globals, args []string) error {
	fs := newFlags("ps")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "short for --format")
	c, _, err := load(g, fs, args, 1, -1)
	if err != nil {
		return err
	}
	pids, err := c.Processes()
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		return json.NewEncoder(os.Stdout).Encode(pids)
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 8, 1, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, pid := range pids {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			fmt.Fprintf(w, "%d\t%s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
		return w.Flush()
	default:
		return fmt.Errorf("--format %q: must be table or json", *format)
	}
}

func cmdUpdate(g *globals, args []string) error {
	fs := newFlags("update")
	resFile := fs.String("resources", "", "file with a linux.resources JSON object (- for stdin)")
	fs.StringVar(resFile, "r", "", "short for --resources")
	memory := fs.String("memory", "", "memory limit in bytes")
	pidsLimit := fs.String("pids-limit", "", "maximum number of processes")
	cpuShares := fs.String("cpu-shares", "", "CPU shares (relative weight)")
	cpuQuota := fs.String("cpu-quota", "", "CPU CFS quota in microseconds")
	cpuPeriod := fs.String("cpu-period", "", "CPU CFS period in microseconds")
	cpusetCpus := fs.String("cpuset-cpus", "", "CPUs to run on, e.g. 0-1")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	res := &specs.LinuxResources{}
	if *resFile != "" {
		var b []byte
		if *resFile == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*resFile)
		}
		if err != nil {
			return fmt.Errorf("--resources: %w", err)
		}
		if err := json.Unmarshal(b, res); err != nil {
			return fmt.Errorf("--resources %s: %w", *resFile, err)
		}
	}
	if err := applyUpdateFlags(res, map[string]string{
		"memory": *memory, "pids-limit": *pidsLimit, "cpu-shares": *cpuShares,
		"cpu-quota": *cpuQuota, "cpu-period": *cpuPeriod,
	}); err != nil {
		return err
	}
	if *cpusetCpus != "" {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		res.CPU.Cpus = *cpusetCpus
	}
	c, err := libcontainer.Load(g.root, rest[0])
	if err != nil {
		return err
	}
	return c.Update(res)
}

// applyUpdateFlags sets the resources given as single flags.
func applyUpdateFlags(res *specs.LinuxResources, flags map[string]string) error {
	num := func(name string) (int64, bool, error) {
		v := flags[name]
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("--%s %q: not a number", name, v)
		}
		return n, true, nil
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	if n, ok, err := num("memory"); err != nil {
		return err
	} else if ok {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		res.Memory.Limit = &n
	}
	if n, ok, err := num("pids-limit"); err != nil {
		return err
	} else if ok {
		res.Pids = &specs.LinuxPids{Limit: &n}
	}
	unsigned := func(name string) (uint64, bool, error) {
		n, ok, err := num(name)
		if err == nil && n < 0 {
			err = fmt.Errorf("--%s %q: must not be negative", name, flags[name])
		}
		return uint64(n), ok, err
	}
	if u, ok, err := unsigned("cpu-shares"); err != nil {
		return err
	} else if ok {
		cpu().Shares = &u
	}
	if n, ok, err := num("cpu-quota"); err != nil {
		return err
	} else if ok {
		cpu().Quota = &n
	}
	if u, ok, err := unsigned("cpu-period"); err != nil {
		return err
	} else if ok {
		cpu().Period = &u
	}
	return nil
}

// event is runc's `events` JSON object.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func cmdEvents(g *globals, args []string) error {
	fs := newFlags("events")
	stats := fs.Bool("stats", false, "print statistics once and exit")
	interval := fs.Duration("interval", 5*time.Second, "interval between statistics")
	c, _, err := load(g, fs, args, 1, 1)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	for {
		s, err := c.Stats()
		if err != nil {
			return err
		}
		if err := enc.Encode(event{Type: "stats", ID: c.ID(), Data: s}); err != nil {
			return err
		}
		if *stats {
			return nil
		}
		time.Sleep(*interval)
		if c.Status() == specs.StateStopped {
			return nil
		}
	}
}
