package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The profile answers "where does berth's `run` spend its time": it runs
// `berth run` under `perf trace` (kernel tracepoints, far cheaper than
// ptrace, so the phases keep their proportions) with a handful of
// syscalls that mark the phases, and prints the median of each phase. It
// also counts every runtime's syscalls with `strace -f -c`.

// traceSyscalls mark the phases; everything else is left untraced to
// keep the overhead low.
const traceSyscalls = "clone,clone3,execve,fsync,recvmsg,recvfrom,pivot_root,umount2,capset,write,wait4,exit_group"

// syscallEvent is one syscall from perf trace's output.
type syscallEvent struct {
	start, dur float64 // ms since the trace began; dur < 0 if unknown
	comm, tid  string
	name       string
	args       string
}

func (e syscallEvent) end() float64 {
	if e.dur < 0 {
		return e.start
	}
	return e.start + e.dur
}

// perf trace prints "T ( D ms): comm/tid name(args) = ret", a blocking
// call as "T (    ): comm/tid name(args) ..." and later
// "T ( D ms): comm/tid  ... [continued]: name()) = ret".
var perfLine = regexp.MustCompile(`^\s*([0-9.]+) \(\s*(?:([0-9.]+) ms)?\s*\): ([^/]+)/(\d+)\s+(\.\.\. \[continued\]: )?(\w+)\((.*)$`)

func parsePerfTrace(r io.Reader) []syscallEvent {
	var events []syscallEvent
	open := map[string]int{} // tid+name -> index of the unfinished call
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := perfLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		start, _ := strconv.ParseFloat(m[1], 64)
		dur := -1.0
		if m[2] != "" {
			dur, _ = strconv.ParseFloat(m[2], 64)
		}
		key := m[4] + "/" + m[6]
		if m[5] != "" {
			if i, ok := open[key]; ok {
				events[i].dur = dur
				// A call that execs reports the new comm.
				events[i].comm = m[3]
				delete(open, key)
			}
			continue
		}
		events = append(events, syscallEvent{start: start, dur: dur, comm: m[3], tid: m[4], name: m[6], args: m[7]})
		if dur < 0 && strings.HasSuffix(strings.TrimSpace(m[7]), "...") {
			open[key] = len(events) - 1
		}
	}
	// perf names a thread ":TID" until it learns its comm: use the
	// first name seen for that thread.
	known := map[string]string{}
	for _, e := range events {
		if _, ok := known[e.tid]; !ok && !strings.HasPrefix(e.comm, ":") {
			known[e.tid] = e.comm
		}
	}
	for i, e := range events {
		if c, ok := known[e.tid]; ok && strings.HasPrefix(e.comm, ":") {
			events[i].comm = c
		}
	}
	return events
}

// phase names, in the order of the start path. berth-init reads the
// runtime's messages with recv (recvfrom), the runtime with recvmsg.
var phaseNames = []string{
	"berth start → clone of berth-init (Go runtime, config, plan, state dir and write, cgroups)",
	"clone with the new namespaces + exec of berth-init (parent blocked: CLONE_VFORK)",
	"parent: clone → \"go\" sent (id maps, cgroup placement, net devices)",
	"berth-init: exec → \"go\" received (plan read, namespaces)",
	"berth-init: \"go\" → pivot_root (rootfs, /proc, /dev, cgroup mounts)",
	"berth-init: pivot_root → capset (old root detached, sysctls, masked/read-only paths, hostname, lo)",
	"  of which umount2 of the old root",
	"berth-init: capset → exec of /bin/true (cwd, ready, start via the exec fifo)",
	"/bin/true itself (exec → exit)",
	"container exit → berth exit (reap, delete: cgroup rmdir, state dir)",
	"all fsync(2) calls (state writes), summed",
	"total under perf trace",
}

// phasesOf splits one traced run into phaseNames; missing marks give -1.
func phasesOf(events []syscallEvent, berthComm string) []float64 {
	p := make([]float64, len(phaseNames))
	for i := range p {
		p[i] = -1
	}
	find := func(from int, ok func(e syscallEvent) bool) int {
		for i := from; i < len(events); i++ {
			if ok(events[i]) {
				return i
			}
		}
		return -1
	}
	parent := func(e syscallEvent) bool { return e.comm == berthComm }
	// berth-init's clone is the parent's last clone before the first exec
	// by another process (perf does not decode clone3's flags).
	initExec := find(0, func(e syscallEvent) bool { return !parent(e) && e.name == "execve" })
	clone := -1
	for i := 0; i < initExec; i++ {
		if e := events[i]; parent(e) && (e.name == "clone" || e.name == "clone3") {
			clone = i
		}
	}
	if clone < 0 {
		return p
	}
	c := events[clone]
	p[0] = c.start
	p[1] = c.dur
	// perf prints no buffers: "go" is the parent's first 2-byte write
	// after the clone.
	sentGo := find(clone, func(e syscallEvent) bool {
		return parent(e) && e.name == "write" && strings.Contains(e.args, "count: 2)")
	})
	if sentGo >= 0 && c.dur >= 0 {
		p[2] = events[sentGo].start - c.end()
	}
	gotGo := find(clone, func(e syscallEvent) bool { return !parent(e) && e.name == "recvfrom" })
	if initExec >= 0 && gotGo >= 0 && events[gotGo].dur >= 0 {
		p[3] = events[gotGo].end() - events[initExec].end()
	}
	pivot := find(clone, func(e syscallEvent) bool { return e.name == "pivot_root" })
	if gotGo >= 0 && pivot >= 0 {
		p[4] = events[pivot].start - events[gotGo].end()
	}
	capset := find(clone, func(e syscallEvent) bool { return !parent(e) && e.name == "capset" })
	if pivot >= 0 && capset >= 0 {
		p[5] = events[capset].start - events[pivot].start
		if u := find(pivot, func(e syscallEvent) bool { return e.name == "umount2" }); u >= 0 && u < capset {
			p[6] = events[u].dur
		}
	}
	userExec := -1
	if initExec >= 0 {
		userExec = find(initExec+1, func(e syscallEvent) bool { return !parent(e) && e.name == "execve" })
	}
	if capset >= 0 && userExec >= 0 {
		p[7] = events[userExec].start - events[capset].start
	}
	userExit := -1
	if userExec >= 0 {
		userExit = find(userExec, func(e syscallEvent) bool { return !parent(e) && e.name == "exit_group" })
	}
	if userExit >= 0 {
		p[8] = events[userExit].start - events[userExec].start
	}
	end := find(clone, func(e syscallEvent) bool { return parent(e) && e.name == "exit_group" })
	if userExit >= 0 && end >= 0 {
		p[9] = events[end].start - events[userExit].start
	}
	fsync := 0.0
	for _, e := range events {
		if e.name == "fsync" && e.dur > 0 {
			fsync += e.dur
		}
	}
	p[10] = fsync
	if end >= 0 {
		p[11] = events[end].start
	}
	return p
}

// profilePhases traces n runs of berth and writes the median phases.
func profilePhases(w io.Writer, berth, bundle, root string, n int) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		fmt.Fprintf(w, "(perf not installed: apt-get install linux-perf)\n\n")
		return nil
	}
	runs := make([][]float64, 0, n)
	out := filepath.Join(root, "perf-trace.txt")
	for i := 0; i < n && !stopped.Load(); i++ {
		cmd := exec.Command(perf, "trace", "-o", out, "-e", traceSyscalls, "--",
			berth, "--root", root, "run", "--bundle", bundle, fmt.Sprintf("profile-%d", i))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("perf trace berth run: %v: %s", err, b)
		}
		f, err := os.Open(out)
		if err != nil {
			return err
		}
		runs = append(runs, phasesOf(parsePerfTrace(f), filepath.Base(berth)))
		f.Close()
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(w, "Median of %d runs of `berth run` of /bin/true under `perf trace -e %s` (the parent's and berth-init's phases overlap between the clone and \"go\").\n\n", n, traceSyscalls)
	fmt.Fprintln(w, "| phase | median |")
	fmt.Fprintln(w, "|---|---:|")
	for i, name := range phaseNames {
		var vals []float64
		for _, r := range runs {
			if r[i] >= 0 {
				vals = append(vals, r[i])
			}
		}
		if len(vals) == 0 {
			fmt.Fprintf(w, "| %s | – |\n", name)
			continue
		}
		sort.Float64s(vals)
		fmt.Fprintf(w, "| %s | %.2f ms |\n", name, vals[len(vals)/2])
	}
	fmt.Fprintln(w)
	return nil
}

// syscallCounts runs each runtime's `run` once under strace -f -c and
// writes a table of its syscall counts.
func syscallCounts(w io.Writer, tools []*tool, work string) error {
	if _, err := exec.LookPath("strace"); err != nil {
		fmt.Fprintf(w, "(strace not installed: apt-get install strace)\n\n")
		return nil
	}
	rows := []struct{ label, names string }{
		{"all syscalls", ""},
		{"execve", "execve"},
		{"clone, clone3, vfork", "clone clone3 vfork"},
		{"mount, move_mount, open_tree, mount_setattr, umount2", "mount move_mount open_tree mount_setattr umount2"},
		{"mkdir, mkdirat", "mkdir mkdirat"},
		{"rmdir, unlinkat", "rmdir unlinkat"},
		{"write", "write"},
		{"fsync, fdatasync", "fsync fdatasync"},
		{"openat, openat2", "openat openat2"},
		{"futex, nanosleep, sched_yield (threads)", "futex nanosleep sched_yield"},
		{"rt_sigaction, rt_sigprocmask, sigaltstack", "rt_sigaction rt_sigprocmask sigaltstack"},
	}
	var names []string
	var counts []map[string]int
	for _, t := range tools {
		if t.skip != "" || t.rt == nil {
			continue
		}
		out := filepath.Join(work, "strace-"+t.name+".txt")
		argv := append([]string{"strace", "-f", "-c", "-o", out}, t.runArgv("strace")...)
		if _, err := t.exec.timed(argv, "/"); err != nil {
			return err
		}
		c, err := readStraceCounts(out)
		if err != nil {
			return err
		}
		names = append(names, t.name)
		counts = append(counts, c)
	}
	fmt.Fprintf(w, "Syscalls of one `run` of /bin/true (`strace -f -c`, all processes):\n\n| syscalls | %s |\n|---|%s\n",
		strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, r := range rows {
		cells := []string{r.label}
		for _, c := range counts {
			n := 0
			if r.names == "" {
				n = c["total"]
			}
			for _, s := range strings.Fields(r.names) {
				n += c[s]
			}
			cells = append(cells, strconv.Itoa(n))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	return nil
}

// readStraceCounts reads strace -c's table: "% time seconds usecs/call
// calls [errors] syscall", and the "total" line.
func readStraceCounts(path string) (map[string]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || strings.HasPrefix(line, "%") || strings.HasPrefix(line, "-") {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		counts[f[len(f)-1]] += n
	}
	if counts["total"] == 0 {
		return nil, fmt.Errorf("%s: no strace -c table", path)
	}
	return counts, nil
}
