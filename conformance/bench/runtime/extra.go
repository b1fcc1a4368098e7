package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The start path beyond `run`: exec into a running container, many
// containers at once, and the smallest limits a container still starts
// under.

// execRounds times `exec` of /bin/true into one running container per
// tool, interleaved like runRounds.
func execRounds(tools []*tool, rounds int, bundle func(*runtime) string) (map[*tool]*tool, error) {
	res := map[*tool]*tool{}
	for _, t := range tools {
		id := "exec-target"
		r := t.rt
		for _, argv := range [][]string{r.argv("create", "--bundle", bundle(r), id), r.argv("start", id)} {
			if _, err := t.exec.timed(argv, "/"); err != nil {
				return nil, err
			}
		}
		res[t] = &tool{name: t.name}
	}
	defer func() {
		for _, t := range tools {
			t.exec.timed(t.rt.argv("delete", "--force", "exec-target"), "/")
		}
	}()
	for i := 0; i < rounds && !stopped.Load(); i++ {
		for k := range tools {
			t := tools[(i+k)%len(tools)]
			r, err := t.exec.timed(t.rt.argv("exec", "exec-target", "/bin/true"), "/")
			if err != nil {
				return nil, err
			}
			if i >= 5 { // the first rounds warm up
				res[t].runs = append(res[t].runs, r.wall)
				res[t].cpu = append(res[t].cpu, r.cpu)
			}
		}
	}
	return res, nil
}

// parallelRun is one tool's n containers run at once.
type parallelRun struct {
	wall time.Duration
	peak int64 // bytes; -1 when the host cannot tell
	err  error
}

// parallel runs n `run`s of /bin/true at once per tool, from a shell in a
// memory cgroup of its own: the wall time until all are done and deleted,
// and the peak memory of the runtime's processes (the containers' own
// processes are in their own cgroups).
func parallel(tools []*tool, n int) map[*tool]parallelRun {
	out := map[*tool]parallelRun{}
	for _, t := range tools {
		out[t] = parallelOne(t, n)
	}
	return out
}

func parallelOne(t *tool, n int) parallelRun {
	cg, peakFile, err := memoryCgroup("berth-bench-parallel-" + t.name)
	if err != nil {
		return parallelRun{err: err}
	}
	defer os.Remove(cg)
	// Every run must succeed: a failed one would make the others look fast.
	r, err := t.exec.timed(atOnce(fmt.Sprintf("echo $$ > %s/cgroup.procs || exit 1\n", cg), n, "", func(i int) []string {
		return t.rt.argv("run", "--bundle", t.rt.trueBundle, fmt.Sprintf("par-%d", i))
	}), "/")
	if err != nil {
		return parallelRun{err: err}
	}
	peak := int64(-1)
	if b, err := os.ReadFile(peakFile); err == nil {
		peak, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	return parallelRun{wall: r.wall, peak: peak}
}

// memoryCgroup makes a memory cgroup and names the file with its peak
// usage (cgroup v1 memory.max_usage_in_bytes, v2 memory.peak).
func memoryCgroup(name string) (dir, peak string, err error) {
	dir = filepath.Join("/sys/fs/cgroup/memory", name)
	peak = filepath.Join(dir, "memory.max_usage_in_bytes")
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		dir = filepath.Join("/sys/fs/cgroup", name)
		peak = filepath.Join(dir, "memory.peak")
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", "", err
	}
	return dir, peak, nil
}

// waiting is the memory that n created (not yet started) containers hold.
type waiting struct {
	n          int
	pss, total int64 // the inits' summed Pss, and per init
	err        error
}

// createdMemory creates n containers running sleep per tool (from n
// parallel creates), sums the proportional set size of their waiting
// inits, and deletes them: what a host that prepares containers ahead
// pays for each, the sealed copy of the init included.
func createdMemory(tools []*tool, n int) map[*tool]waiting {
	out := map[*tool]waiting{}
	for _, t := range tools {
		out[t] = createdMemoryOne(t, n)
	}
	return out
}

func createdMemoryOne(t *tool, n int) waiting {
	defer func() {
		for i := 0; i < n; i++ {
			t.exec.timed(t.rt.argv("delete", "--force", fmt.Sprintf("wait-%d", i)), "/")
		}
	}()
	if _, err := t.exec.timed(atOnce("", n, " </dev/null >/dev/null 2>&1", func(i int) []string {
		return t.rt.argv("create", "--bundle", t.rt.sleepBundle, fmt.Sprintf("wait-%d", i))
	}), "/"); err != nil {
		return waiting{err: err}
	}
	w := waiting{n: n}
	for i := 0; i < n; i++ {
		r, err := t.exec.timed(t.rt.argv("state", fmt.Sprintf("wait-%d", i)), "/")
		if err != nil {
			return waiting{err: err}
		}
		var st struct {
			Pid int `json:"pid"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Pid <= 0 {
			return waiting{err: fmt.Errorf("state wait-%d: %q", i, r.stdout)}
		}
		pss, err := pssOf(st.Pid)
		if err != nil {
			return waiting{err: err}
		}
		w.pss += pss
	}
	w.total = w.pss / int64(n)
	return w
}

// pssOf reads a process's proportional set size, in bytes.
func pssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("pid %d: no Pss in smaps_rollup", pid)
}

// limitRun says whether a tool runs /bin/true under a limit.
type limitRun struct {
	ok  bool
	why string
}

// memoryLimits are tried from the largest down.
var memoryLimits = []int64{4 << 20, 2 << 20, 1 << 20, 768 << 10, 512 << 10, 384 << 10, 256 << 10, 192 << 10, 160 << 10, 128 << 10, 96 << 10, 64 << 10}

// floors finds, per tool, the smallest memory limit under which `run` of
// /bin/true succeeds three times in a row (the busybox binary is read first,
// so its page cache is not charged to the container), and whether it runs
// a single-process container under pids.limit 1.
func floors(tools []*tool, work, rootfs, berth string) (map[*tool]int64, map[*tool]limitRun, error) {
	// Page cache is charged to whoever reads a file first.
	if b, err := os.ReadFile(filepath.Join(rootfs, "bin", "busybox")); err != nil || len(b) == 0 {
		return nil, nil, fmt.Errorf("reading the rootfs's busybox: %v", err)
	}
	mem := map[*tool]int64{}
	pids := map[*tool]limitRun{}
	for _, t := range tools {
		oci := ""
		if t.name == "crun" {
			oci = "1.0.2"
		}
		mem[t] = 0
		for _, limit := range memoryLimits {
			dir := filepath.Join(work, fmt.Sprintf("mem-%s-%d", t.name, limit))
			if err := writeBundleWith(berth, dir, rootfs, []string{"/bin/true"}, oci, func(cfg map[string]any) {
				resources(cfg)["memory"] = map[string]any{"limit": limit}
			}); err != nil {
				return nil, nil, err
			}
			ok := true
			for i := 0; i < 3 && ok; i++ {
				_, err := t.exec.timed(t.rt.argv("run", "--bundle", dir, fmt.Sprintf("mem-%d-%d", limit, i)), "/")
				ok = err == nil
			}
			if !ok {
				break
			}
			mem[t] = limit
		}
		dir := filepath.Join(work, "pids-"+t.name)
		if err := writeBundleWith(berth, dir, rootfs, []string{"/bin/true"}, oci, func(cfg map[string]any) {
			resources(cfg)["pids"] = map[string]any{"limit": 1}
		}); err != nil {
			return nil, nil, err
		}
		if _, err := t.exec.timed(t.rt.argv("run", "--bundle", dir, "pids-1"), "/"); err != nil {
			pids[t] = limitRun{why: firstLine(err.Error())}
		} else {
			pids[t] = limitRun{ok: true}
		}
	}
	return mem, pids, nil
}

func resources(cfg map[string]any) map[string]any {
	linux, _ := cfg["linux"].(map[string]any)
	if linux == nil {
		linux = map[string]any{}
		cfg["linux"] = linux
	}
	res, _ := linux["resources"].(map[string]any)
	if res == nil {
		res = map[string]any{}
		linux["resources"] = res
	}
	return res
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func kib(n int64) string {
	switch {
	case n <= 0:
		return "none tried"
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func reportExtra(w io.Writer, o *options, tools []*tool, execs, execsSeccomp map[*tool]*tool, par map[*tool]parallelRun, created map[*tool]waiting, mem map[*tool]int64, pids map[*tool]limitRun) {
	var runc *tool
	for _, t := range tools {
		if t.name == "runc" {
			runc = t
		}
	}
	if execs != nil {
		fmt.Fprintf(w, "\n### `exec` of /bin/true into a running container\n\n")
		fmt.Fprintf(w, "%d timed `RUNTIME exec ID /bin/true` per tool into one container running `sleep`, interleaved as above (after 5 untimed rounds).\n\n", o.execs-5)
		execTable(w, tools, execs, runc)
	}
	if execsSeccomp != nil {
		fmt.Fprintf(w, "\n### `exec` into a container with podman's default seccomp profile\n\n")
		fmt.Fprintf(w, "The same, into a container whose config has the seccomp profile podman gives its containers (%s, the rules for amd64 with the default capabilities, %d%s): "+
			"every exec loads it again, as engines' exec do.\n\n", o.seccompProfile, o.execs-5, " timed rounds")
		execTable(w, tools, execsSeccomp, runc)
	}
	if par != nil {
		fmt.Fprintf(w, "\n### %d containers at once\n\n", o.parallel)
		fmt.Fprintf(w, "%d `RUNTIME run` of /bin/true started together from one shell (create, start, wait, delete each), one tool after the other: "+
			"the wall time until all are done, and the peak memory of the shell's cgroup, which holds the runtime's own processes "+
			"(each container's processes are in its own cgroup; a runtime whose init starts outside it is counted until it moves in).\n\n", o.parallel)
		fmt.Fprintln(w, "| tool | wall | vs runc | peak memory | vs runc |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		base := par[runc]
		for _, t := range tools {
			p := par[t]
			if p.err != nil {
				fmt.Fprintf(w, "| %s | failed: %s | | | |\n", t.name, firstLine(p.err.Error()))
				continue
			}
			peak, vs := "n/a", "–"
			if p.peak >= 0 {
				peak = fmt.Sprintf("%.1f MiB", float64(p.peak)/(1<<20))
				if base.peak > 0 {
					vs = fmt.Sprintf("%.2fx", float64(p.peak)/float64(base.peak))
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", t.name, ms(p.wall), ratio(p.wall, base.wall), peak, vs)
		}
	}
	if created != nil {
		fmt.Fprintf(w, "\n### %d created containers, waiting for start\n\n", o.created)
		fmt.Fprintf(w, "%d `RUNTIME create` of a container running `sleep`, started together, then the proportional set size (Pss, /proc/PID/smaps_rollup) "+
			"of each waiting init, summed: the memory a host pays for containers it prepares ahead (for berth, the sealed in-memory copy of berth-init included).\n\n", o.created)
		fmt.Fprintln(w, "| tool | all inits | per init | vs runc |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		base := created[runc]
		for _, t := range tools {
			c := created[t]
			if c.err != nil {
				fmt.Fprintf(w, "| %s | failed: %s | | |\n", t.name, firstLine(c.err.Error()))
				continue
			}
			vs := "–"
			if base.pss > 0 {
				vs = fmt.Sprintf("%.2fx", float64(c.pss)/float64(base.pss))
			}
			fmt.Fprintf(w, "| %s | %.1f MiB | %d KiB | %s |\n", t.name, float64(c.pss)/(1<<20), c.total>>10, vs)
		}
	}
	if mem != nil {
		fmt.Fprintf(w, "\n### Smallest limits a container starts under\n\n")
		fmt.Fprintf(w, "`linux.resources.memory.limit`: the smallest of %s under which `run` of /bin/true succeeded 3 times in a row "+
			"(tried from the largest down; the busybox binary read first, so its page cache is not charged to the container). "+
			"`pids.limit: 1`: whether `run` of /bin/true succeeds.\n\n", kibList())
		fmt.Fprintln(w, "| tool | smallest memory limit | pids.limit 1 |")
		fmt.Fprintln(w, "|---|---:|---|")
		for _, t := range tools {
			p := "runs"
			if !pids[t].ok {
				p = "fails: " + pids[t].why
			}
			m := kib(mem[t])
			if mem[t] == 0 {
				m = "fails at " + kib(memoryLimits[0])
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.name, m, p)
		}
	}
}

func kibList() string {
	var s []string
	for _, l := range memoryLimits {
		s = append(s, kib(l))
	}
	return strings.Join(s, ", ")
}

func execTable(w io.Writer, tools []*tool, execs map[*tool]*tool, runc *tool) {
	fmt.Fprintln(w, "| tool | median | p90 | median vs runc | CPU median | CPU vs runc |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	base := execs[runc]
	for _, t := range tools {
		e := execs[t]
		med, cpu := e.runs.quantile(0.5), e.cpu.quantile(0.5)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", t.name, ms(med), ms(e.runs.quantile(0.9)),
			ratio(med, base.runs.quantile(0.5)), ms(cpu), ratio(cpu, base.cpu.quantile(0.5)))
	}
}

// atOnce is a shell command line that runs prelude, then the n commands
// of argv in the background (each with redirect), and waits for every one
// by its pid: it fails if any failed. (`wait $(jobs -p)` waits for
// nothing in dash: the command substitution's subshell has no jobs.)
func atOnce(prelude string, n int, redirect string, argv func(i int) []string) []string {
	var script strings.Builder
	script.WriteString(prelude)
	script.WriteString("pids=\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&script, "%s%s &\npids=\"$pids $!\"\n", strings.Join(argv(i), " "), redirect)
	}
	script.WriteString("fail=0\nfor p in $pids; do wait $p || fail=1; done\nexit $fail\n")
	return []string{"/bin/sh", "-c", script.String()}
}
