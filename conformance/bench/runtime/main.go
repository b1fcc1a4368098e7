// Command runtime benchmarks the start path of bin/berth against Debian's
// runc and crun and a bare unshare+chroot: `run` of /bin/true in a
// busybox-static bundle (create + start + wait + delete in the
// foreground), every tool in turn within each round so machine noise hits
// all alike, then the separate lifecycle steps. It prints a markdown
// section on stdout; progress goes to stderr.
//
//	go run ./conformance/bench/runtime [-runs 200] [-warmup 10] [-steps 100] [-profile 15]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	berth, runc, crun, busybox string
	runs, warmup, steps        int
	execs, parallel, created   int
	seccompProfile             string
	limits                     bool
	profile, nice              int
	also                       string
	legacyView                 bool
}

func main() {
	if os.Getenv(helperEnv) != "" {
		if err := helperMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bench/runtime helper:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.berth, "berth", "bin/berth", "the berth binary (build it with make build)")
	flag.StringVar(&o.runc, "runc", "/usr/sbin/runc", "the runc binary")
	flag.StringVar(&o.crun, "crun", "/usr/bin/crun", "the crun binary")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "a static busybox for the rootfs")
	flag.IntVar(&o.runs, "runs", 200, "timed `run`s of each tool")
	flag.IntVar(&o.warmup, "warmup", 10, "untimed `run`s of each tool first")
	flag.IntVar(&o.steps, "steps", 100, "timed rounds of the separate lifecycle steps")
	flag.IntVar(&o.execs, "execs", 105, "rounds of `exec` of /bin/true into a running container (the first 5 untimed; 0: none)")
	flag.StringVar(&o.seccompProfile, "seccomp", "/usr/share/containers/seccomp.json", "podman's default seccomp profile, for the exec rounds with seccomp")
	flag.IntVar(&o.parallel, "parallel", 50, "containers run at once per tool (0: none)")
	flag.IntVar(&o.created, "created", 100, "containers created (not started) at once per tool, to weigh their waiting inits (0: none)")
	flag.BoolVar(&o.limits, "limits", true, "find the smallest memory limit each runtime starts a container under, and try pids.limit 1")
	flag.IntVar(&o.profile, "profile", 15, "traced runs for the where-the-time-goes phases (0: no profile)")
	flag.IntVar(&o.nice, "nice", -20, "scheduling priority of the benchmark and everything it runs, to shield it from other load on a shared machine")
	flag.StringVar(&o.also, "also", "", "more berth builds to measure side by side, as NAME=PATH[,NAME=PATH...] (to compare a change with bin/berth)")
	flag.BoolVar(&o.legacyView, "crun-legacy-view", true, "if crun refuses the hybrid host, run it where /sys/fs/cgroup/unified is unmounted")
	flag.Parse()
	if err := bench(&o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(1)
	}
}

// tool is one thing being timed.
type tool struct {
	name string
	exec executor
	// runArgv is the argv of one `run` of /bin/true as container id.
	runArgv func(id string) []string
	// rt is set for OCI runtimes (not the unshare baseline).
	rt *runtime
	// skip says why the tool is not measured ("" when it is).
	skip string
	note string
	// runs and cpu are the wall and CPU times of the timed `run`s.
	runs, cpu samples
}

// runtime is an OCI runtime CLI with its own state root.
type runtime struct {
	bin, root               string
	trueBundle, sleepBundle string
	seccompBundle           string // sleep under podman's default seccomp profile; "" without one
}

func (r *runtime) argv(args ...string) []string {
	return append([]string{r.bin, "--root", r.root}, args...)
}

// stopped is set by SIGINT/SIGTERM: the loops end and everything is
// cleaned up.
var stopped atomic.Bool

func bench(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (containers need namespaces, mounts and cgroups)")
	}
	// All tools inherit it, so the comparison stays fair.
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, o.nice); err != nil {
		return fmt.Errorf("-nice %d: %w", o.nice, err)
	}
	berth, err := filepath.Abs(o.berth)
	if err != nil {
		return err
	}
	if _, err := os.Stat(berth); err != nil {
		return fmt.Errorf("%s: %w (run make build first)", berth, err)
	}
	// State roots live where the runtimes' defaults do (/run), in a
	// directory of our own so other users' containers are untouched.
	work, err := os.MkdirTemp("/run", "berth-bench-runtime-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; stopped.Store(true) }()

	rootfs, err := busyboxRootfs(work, o.busybox)
	if err != nil {
		return err
	}
	local, err := newLocalExec()
	if err != nil {
		return err
	}
	defer local.close()

	// Engines give every container and exec a seccomp profile: podman's
	// default, where podman is installed.
	seccompProfile, err := podmanSeccomp(o.seccompProfile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/runtime: no exec rounds with a seccomp profile: %v\n", err)
		seccompProfile = nil
	}
	newRuntime := func(name, bin, ociVersion string) (*runtime, error) {
		r := &runtime{bin: bin, root: filepath.Join(work, "state-"+name),
			trueBundle: filepath.Join(work, "true-"+name), sleepBundle: filepath.Join(work, "sleep-"+name)}
		if err := writeBundle(berth, r.trueBundle, rootfs, []string{"/bin/true"}, ociVersion); err != nil {
			return nil, err
		}
		if seccompProfile != nil {
			r.seccompBundle = filepath.Join(work, "seccomp-"+name)
			if err := writeBundleWith(berth, r.seccompBundle, rootfs, []string{"/bin/sleep", "1000"}, ociVersion, func(cfg map[string]any) {
				if linux, ok := cfg["linux"].(map[string]any); ok {
					linux["seccomp"] = seccompProfile
				}
			}); err != nil {
				return nil, err
			}
		}
		return r, writeBundle(berth, r.sleepBundle, rootfs, []string{"/bin/sleep", "1000"}, ociVersion)
	}
	var tools []*tool
	addRuntime := func(name, bin, ociVersion string) (*tool, error) {
		r, err := newRuntime(name, bin, ociVersion)
		if err != nil {
			return nil, err
		}
		t := &tool{name: name, exec: local, rt: r,
			runArgv: func(id string) []string { return r.argv("run", "--bundle", r.trueBundle, id) }}
		tools = append(tools, t)
		return t, nil
	}
	defer func() {
		for _, t := range tools {
			if t.rt != nil {
				cleanup(t)
			}
			if t.exec != local {
				t.exec.close()
			}
		}
	}()
	if _, err := addRuntime("berth", berth, ""); err != nil {
		return err
	}
	for _, kv := range strings.Split(o.also, ",") {
		if kv == "" {
			continue
		}
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" || strings.ContainsAny(name, "/ ") {
			return fmt.Errorf("-also %q: want NAME=PATH (NAME without / or spaces)", kv)
		}
		if slices.ContainsFunc(tools, func(t *tool) bool { return t.name == name }) || name == "runc" || name == "crun" {
			return fmt.Errorf("-also %q: the name %s is taken", kv, name)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if _, err := addRuntime(name, abs, ""); err != nil {
			return err
		}
	}
	if _, err := os.Stat(o.runc); err != nil {
		return fmt.Errorf("runc is the reference: %w (apt-get install runc)", err)
	}
	if _, err := addRuntime("runc", o.runc, ""); err != nil {
		return err
	}
	// crun 1.8 knows runtime-spec up to 1.0.x and refuses newer
	// ociVersions; the config is otherwise the same.
	crun, err := addRuntime("crun", o.crun, "1.0.2")
	if err != nil {
		return err
	}
	if err := setupCrun(crun, o); err != nil {
		return err
	}
	tools = append(tools, &tool{name: "unshare+chroot", exec: local,
		note: "bare baseline: `unshare --mount --uts --ipc --pid --net --fork chroot rootfs /bin/true`",
		runArgv: func(string) []string {
			return []string{"unshare", "--mount", "--uts", "--ipc", "--pid", "--net", "--fork", "chroot", rootfs, "/bin/true"}
		}})

	var active []*tool
	for _, t := range tools {
		if t.skip == "" {
			active = append(active, t)
		}
	}
	fmt.Fprintf(os.Stderr, "bench/runtime: %d warmup + %d timed runs of %d tools...\n", o.warmup, o.runs, len(active))
	if err := runRounds(active, o.warmup, o.runs); err != nil {
		return err
	}
	var steppers []*tool
	for _, t := range active {
		if t.rt != nil {
			steppers = append(steppers, t)
		}
	}
	fmt.Fprintf(os.Stderr, "bench/runtime: %d rounds of the lifecycle steps...\n", o.steps)
	steps, err := stepRounds(steppers, o.steps)
	if err != nil {
		return err
	}
	if stopped.Load() {
		return errors.New("interrupted")
	}
	report(os.Stdout, o, tools, steppers, steps)
	var execs, execsSeccomp map[*tool]*tool
	if o.execs > 5 {
		fmt.Fprintf(os.Stderr, "bench/runtime: %d rounds of exec...\n", o.execs)
		if execs, err = execRounds(steppers, o.execs, func(r *runtime) string { return r.sleepBundle }); err != nil {
			return err
		}
		if seccompProfile != nil {
			fmt.Fprintf(os.Stderr, "bench/runtime: %d rounds of exec with a seccomp profile...\n", o.execs)
			if execsSeccomp, err = execRounds(steppers, o.execs, func(r *runtime) string { return r.seccompBundle }); err != nil {
				return err
			}
		}
	}
	var par map[*tool]parallelRun
	if o.parallel > 0 {
		fmt.Fprintf(os.Stderr, "bench/runtime: %d containers at once per tool...\n", o.parallel)
		par = parallel(steppers, o.parallel)
	}
	var created map[*tool]waiting
	if o.created > 0 {
		fmt.Fprintf(os.Stderr, "bench/runtime: %d created containers per tool...\n", o.created)
		created = createdMemory(steppers, o.created)
	}
	var mem map[*tool]int64
	var pids map[*tool]limitRun
	if o.limits {
		fmt.Fprintf(os.Stderr, "bench/runtime: smallest limits...\n")
		if mem, pids, err = floors(steppers, work, rootfs, berth); err != nil {
			return err
		}
	}
	if stopped.Load() {
		return errors.New("interrupted")
	}
	reportExtra(os.Stdout, o, steppers, execs, execsSeccomp, par, created, mem, pids)
	if o.profile > 0 {
		fmt.Fprintf(os.Stderr, "bench/runtime: profiling...\n")
		fmt.Fprintf(os.Stdout, "\n### Where the time goes (measured)\n\n")
		if err := profilePhases(os.Stdout, berth, tools[0].rt.trueBundle, tools[0].rt.root, o.profile); err != nil {
			return err
		}
		if err := syscallCounts(os.Stdout, tools, work); err != nil {
			return err
		}
	}
	return nil
}

// setupCrun checks that crun runs here, directly or in the legacy view,
// and sets why not otherwise.
func setupCrun(t *tool, o *options) error {
	if _, err := os.Stat(t.rt.bin); err != nil {
		t.skip = "n/a: not installed"
		return nil
	}
	_, err := t.exec.timed(t.runArgv("probe-direct"), "/")
	if err == nil {
		return nil
	}
	if !strings.Contains(err.Error(), "hybrid") {
		return fmt.Errorf("crun: %w", err)
	}
	t.skip = "n/a: refuses hybrid cgroups"
	if !o.legacyView {
		return nil
	}
	lv, err := newLegacyViewExec()
	if err != nil {
		return err
	}
	if _, err := lv.timed(t.runArgv("probe-legacy"), "/"); err != nil {
		lv.close()
		t.skip += fmt.Sprintf(" (also in a v1-only view: %v)", err)
		return nil
	}
	t.exec, t.skip = lv, ""
	t.note = "refuses this hybrid host (\"cgroups in hybrid mode not supported\", also with `--cgroup-manager=disabled` or a cgroupsPath); " +
		"measured in a private mount namespace where /sys/fs/cgroup/unified is unmounted, so it sees pure cgroup v1 and " +
		"still creates and removes its cgroup in the 9 v1 hierarchies, but not in the cgroup2 one that berth and runc also use " +
		"(one mkdir + rmdir less: near, not exactly, apples to apples); its bundle says ociVersion 1.0.2, which crun 1.8 requires"
	return nil
}

// runRounds times `run` of every tool once per round, rotating the order
// each round so no tool always follows the same one.
func runRounds(tools []*tool, warmup, runs int) error {
	for i := 0; i < warmup+runs && !stopped.Load(); i++ {
		for k := range tools {
			t := tools[(i+k)%len(tools)]
			r, err := t.exec.timed(t.runArgv(fmt.Sprintf("run-%d", i)), "/")
			if err != nil {
				return err
			}
			if i >= warmup {
				t.runs = append(t.runs, r.wall)
				t.cpu = append(t.cpu, r.cpu)
			}
		}
	}
	return nil
}

var stepNames = []string{"create", "start", "state", "kill", "delete"}

// stepRounds times each lifecycle step of a container running sleep, one
// container per tool per round. Between kill and delete it waits, untimed,
// until the runtime reports the container stopped.
func stepRounds(tools []*tool, rounds int) (map[*tool]map[string]samples, error) {
	res := map[*tool]map[string]samples{}
	for _, t := range tools {
		res[t] = map[string]samples{}
	}
	for i := 0; i < rounds && !stopped.Load(); i++ {
		for k := range tools {
			t := tools[(i+k)%len(tools)]
			id := fmt.Sprintf("steps-%d", i)
			r := t.rt
			argvs := map[string][]string{
				"create": r.argv("create", "--bundle", r.sleepBundle, id),
				"start":  r.argv("start", id),
				"state":  r.argv("state", id),
				"kill":   r.argv("kill", id, "KILL"),
				"delete": r.argv("delete", id),
			}
			for _, step := range stepNames {
				if step == "delete" {
					if err := awaitStopped(t, id); err != nil {
						return nil, err
					}
				}
				r, err := t.exec.timed(argvs[step], "/")
				if err != nil {
					return nil, err
				}
				res[t][step] = append(res[t][step], r.wall)
			}
		}
	}
	return res, nil
}

func awaitStopped(t *tool, id string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := t.exec.timed(t.rt.argv("state", id), "/")
		if err != nil {
			return err
		}
		if strings.Contains(r.stdout, `"stopped"`) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: container %s not stopped 5s after kill: %s", t.name, id, r.stdout)
		}
		time.Sleep(time.Millisecond)
	}
}

// cleanup force-deletes whatever a failed or interrupted run left in the
// tool's state root.
func cleanup(t *tool) {
	entries, _ := os.ReadDir(t.rt.root)
	for _, e := range entries {
		// "@seccomp" is berth's cache of compiled profiles, no container.
		if e.IsDir() && !strings.HasPrefix(e.Name(), "@") {
			if _, err := t.exec.timed(t.rt.argv("delete", "--force", e.Name()), "/"); err != nil {
				fmt.Fprintf(os.Stderr, "bench/runtime: cleanup: %v\n", err)
			}
		}
	}
}
