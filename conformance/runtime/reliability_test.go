package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Reliability (issue 15): concurrent commands on one container lose
// nothing, a berth killed at any step leaves what `delete --force` cleans
// up, and corrupt or foreign state files are reported, never followed.
// These tests are berth's own (its test hook, its state layout): runc has
// neither.

// call is one runtime invocation made from any goroutine: unlike
// runRuntime it never fails the test itself.
func call(c *container, env []string, timeout time.Duration, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := c.globals(args...)
	cmd := exec.CommandContext(ctx, runtimeBin, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(), env...)
	// Files, not pipes: a container process inheriting them cannot make
	// the call hang.
	out, err := os.CreateTemp(filepath.Dir(c.Bundle), "call-out")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	errf, err := os.CreateTemp(filepath.Dir(c.Bundle), "call-err")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	runErr := cmd.Run()
	so, _ := os.ReadFile(out.Name())
	se, _ := os.ReadFile(errf.Name())
	r := result{Args: full, Stdout: string(so), Stderr: string(se)}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exitErr):
		r.Code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Code = 128 + int(ws.Signal())
		}
	default:
		return r, runErr
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%v timed out after %s", full, timeout)
	}
	return r, nil
}

// concurrently runs every argument list at once and returns the results
// in the same order.
func concurrently(t *testing.T, c *container, timeout time.Duration, calls ...[]string) []result {
	t.Helper()
	results := make([]result, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, args := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = call(c, nil, timeout, args...)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for _, r := range results {
		noPanic(t, r)
	}
	return results
}

// noPanic fails the test if the runtime crashed rather than failed: a Go
// panic, or a signal other than the SIGKILL of the test hook (exit 255 is
// exec's own failure status).
func noPanic(t *testing.T, r result) {
	t.Helper()
	signalled := r.Code > 128 && r.Code < 128+65 && r.Code != 128+int(syscall.SIGKILL)
	if strings.Contains(r.Stderr, "panic:") || strings.Contains(r.Stderr, "goroutine ") || signalled {
		t.Errorf("the runtime crashed: %s", r.describe())
	}
}

// savedConfig is the config in the container's state.json, as berth
// keeps it for the next update.
func savedConfig(t *testing.T, c *container) *specs.Spec {
	t.Helper()
	var st struct {
		Config *specs.Spec `json:"config"`
	}
	b := readFile(t, filepath.Join(c.Root, c.ID, "state.json"))
	if err := json.Unmarshal([]byte(b), &st); err != nil || st.Config == nil {
		t.Fatalf("state.json: %v\n%s", err, b)
	}
	return st.Config
}

// TestConcurrentUpdates: 50 `update`s at once, each of one of seven
// resources: every one succeeds, and for every resource the cgroup file (v1,
// or v2 as the VM suite runs it) and the saved config hold the same value,
// one of those sent (an update that
// loaded the state before another saved it would put back the old value of
// the other's resource in one or both).
func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.running()
	type resource struct {
		flag, ctrl, file string
		value            func(i int) string // the flag's value, as the v1 file shows it
		saved            func(r *specs.LinuxResources) string
		// On cgroup v2: the file, which of its fields (-1: all of it),
		// and the flag's value as that shows it (nil: unchanged).
		v2file  string
		v2field int
		v2show  func(v string) string
	}
	num := func(p *int64) string {
		if p == nil {
			return "<unset>"
		}
		return strconv.FormatInt(*p, 10)
	}
	unum := func(p *uint64) string {
		if p == nil {
			return "<unset>"
		}
		return strconv.FormatUint(*p, 10)
	}
	weight := func(v string) string {
		shares, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return "<" + v + ">"
		}
		return strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(shares), 10)
	}
	cpus := []string{"0", "1", "0-1"}
	resources := []resource{
		{"pids-limit", "pids", "pids.max", func(i int) string { return strconv.Itoa(100 + i) },
			func(r *specs.LinuxResources) string {
				if r.Pids == nil {
					return "<unset>"
				}
				return num(r.Pids.Limit)
			}, "pids.max", -1, nil},
		{"cpu-share", "cpu", "cpu.shares", func(i int) string { return strconv.Itoa(500 + i) },
			func(r *specs.LinuxResources) string { return unum(orZero(r.CPU).Shares) }, "cpu.weight", -1, weight},
		{"cpu-quota", "cpu", "cpu.cfs_quota_us", func(i int) string { return strconv.Itoa(20000 + 1000*i) },
			func(r *specs.LinuxResources) string { return num(orZero(r.CPU).Quota) }, "cpu.max", 0, nil},
		{"cpu-period", "cpu", "cpu.cfs_period_us", func(i int) string { return strconv.Itoa(100000 + 1000*i) },
			func(r *specs.LinuxResources) string { return unum(orZero(r.CPU).Period) }, "cpu.max", 1, nil},
		{"memory", "memory", "memory.limit_in_bytes", func(i int) string { return strconv.Itoa((64 + i) << 20) },
			func(r *specs.LinuxResources) string { return num(orZero(r.Memory).Limit) }, "memory.max", -1, nil},
		{"memory-reservation", "memory", "memory.soft_limit_in_bytes", func(i int) string { return strconv.Itoa((16 + i) << 20) },
			func(r *specs.LinuxResources) string { return num(orZero(r.Memory).Reservation) }, "memory.low", -1, nil},
		{"cpuset-cpus", "cpuset", "cpuset.cpus", func(i int) string { return cpus[i%len(cpus)] },
			func(r *specs.LinuxResources) string { return orZero(r.CPU).Cpus }, "cpuset.cpus", -1, nil},
	}
	if online := strings.TrimSpace(readFile(t, "/sys/devices/system/cpu/online")); online != "0-1" && !strings.HasPrefix(online, "0-") {
		resources = resources[:len(resources)-1] // one CPU: nothing to choose
	}
	// inFile is what the cgroup holds for res, as show(value) gives it.
	inFile := func(res resource) string {
		if !cgroupV2 {
			return c.cgroupFile(res.ctrl, res.file)
		}
		content := c.cgroupFile("", res.v2file)
		if f := strings.Fields(content); res.v2field >= 0 && res.v2field < len(f) {
			content = f[res.v2field]
		}
		return content
	}
	show := func(res resource, v string) string {
		if cgroupV2 && res.v2show != nil {
			return res.v2show(v)
		}
		return v
	}
	const n = 50
	var calls [][]string
	sent := map[string][]string{}
	for i := 0; i < n; i++ {
		res := resources[i%len(resources)]
		v := res.value(i)
		sent[res.flag] = append(sent[res.flag], show(res, v))
		calls = append(calls, []string{"update", "--" + res.flag, v, c.ID})
	}
	for i, r := range concurrently(t, c, 2*time.Minute, calls...) {
		if r.Code != 0 {
			t.Errorf("update %d: %s", i, r.describe())
		}
	}
	saved := savedConfig(t, c).Linux.Resources
	if saved == nil {
		t.Fatal("the saved config has no linux.resources")
	}
	for _, res := range resources {
		file := inFile(res)
		inState := show(res, res.saved(saved))
		where := res.ctrl + "/" + res.file
		if cgroupV2 {
			where = res.v2file
		}
		if file != inState {
			t.Errorf("--%s: %s is %s but the saved config says %s", res.flag, where, file, inState)
		}
		if !slices.Contains(sent[res.flag], file) {
			t.Errorf("--%s: %s is %s, none of the values sent %v", res.flag, where, file, sent[res.flag])
		}
	}
	if st := c.state(); st.Status != specs.StateRunning {
		t.Errorf("after the updates the container is %s", st.Status)
	}
}

// forTest is c as seen from subtest t: its failures are t's.
func (c *container) forTest(t *testing.T) *container {
	cp := *c
	cp.t = t
	return &cp
}

func orZero[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// TestConcurrentCreateOneID: of 8 creates of one id at once exactly one
// succeeds; the others say the id exists and leave nothing: one container,
// one process in its cgroup.
func TestConcurrentCreateOneID(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.save()
	var calls [][]string
	for i := 0; i < 8; i++ {
		calls = append(calls, []string{"create", "--bundle", c.Bundle, c.ID})
	}
	won := 0
	for _, r := range concurrently(t, c, time.Minute, calls...) {
		switch {
		case r.Code == 0:
			won++
		case !strings.Contains(unquote(r.Stderr), fmt.Sprintf("container with id %q already exists", c.ID)):
			t.Errorf("a losing create: want \"already exists\": %s", r.describe())
		}
	}
	if won != 1 {
		t.Fatalf("%d creates of one id succeeded, want 1", won)
	}
	if st := c.state(); st.Status != specs.StateCreated {
		t.Errorf("the container is %s, want created", st.Status)
	}
	if procs := strings.Fields(c.cgroupFile("pids", "cgroup.procs")); len(procs) != 1 {
		t.Errorf("the container's cgroup holds %v, want only its init", procs)
	}
	if entries, _ := os.ReadDir(c.Root); len(entries) != 1 {
		t.Errorf("--root holds %d entries, want the one container", len(entries))
	}
	c.start()
	c.mustRT("delete", "--force", c.ID)
	time.Sleep(100 * time.Millisecond)
	assertNothingLeft(t, c, result{})
}

// unquote undoes the text log format's escaping of quotes.
func unquote(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

// TestDeleteRacesStart: `start` and `delete --force` of a created
// container at once: delete succeeds, start either ran first or finds no
// container, and nothing is left.
func TestDeleteRacesStart(t *testing.T) {
	t.Parallel()
	for i := 0; i < 5; i++ {
		c := newContainer(t, "/bin/sleep", "1000")
		c.mustCreate()
		rs := concurrently(t, c, time.Minute, []string{"start", c.ID}, []string{"delete", "--force", c.ID})
		if rs[1].Code != 0 {
			t.Errorf("round %d: delete --force: %s", i, rs[1].describe())
		}
		if rs[0].Code != 0 && !strings.Contains(rs[0].Stderr, "does not exist") {
			t.Errorf("round %d: a start that lost to delete should say the container does not exist: %s", i, rs[0].describe())
		}
		if r := c.rt("state", c.ID); r.Code == 0 {
			t.Errorf("round %d: the container is still there: %s", i, r.Stdout)
		}
		time.Sleep(100 * time.Millisecond)
		assertNothingLeft(t, c, result{})
	}
}

// TestKillRacesDelete: `kill` (of the init, and --all) and `delete --force`
// of a running container at once: delete succeeds, kill succeeds or says
// the container is gone, and nothing is left.
func TestKillRacesDelete(t *testing.T) {
	t.Parallel()
	for i := 0; i < 6; i++ {
		c := newContainer(t, "/bin/sleep", "1000")
		c.running()
		kill := []string{"kill", c.ID, "KILL"}
		if i%2 == 1 {
			kill = []string{"kill", "--all", c.ID, "KILL"}
		}
		rs := concurrently(t, c, time.Minute, kill, []string{"delete", "--force", c.ID})
		if rs[1].Code != 0 {
			t.Errorf("round %d: delete --force: %s", i, rs[1].describe())
		}
		if rs[0].Code != 0 && !strings.Contains(rs[0].Stderr, "does not exist") && !strings.Contains(rs[0].Stderr, "not running") {
			t.Errorf("round %d: a kill that lost to delete should say the container is gone: %s", i, rs[0].describe())
		}
		time.Sleep(100 * time.Millisecond)
		assertNothingLeft(t, c, result{})
	}
}

// killSteps mirrors libcontainer.KillSteps: each step of the test hook
// BERTH_TEST_KILL_AT, with the command that reaches it.
var killSteps = []struct{ step, command string }{
	{"create-dir", "create"}, {"create-state", "create"}, {"create-cgroup", "create"},
	{"create-init", "create"}, {"create-ready", "create"}, {"create-saved", "create"},
	{"start-opened", "start"}, {"start-released", "start"},
	{"exec-placed", "exec"}, {"exec-ready", "exec"},
	{"update-cgroup", "update"}, {"update-saved", "update"},
	{"delete-killed", "delete"}, {"delete-cgroup", "delete"}, {"delete-cleaned", "delete"},
	{"state-temp", "create"},
}

// TestExecRacesDelete: `exec`s (in the foreground and --detach) and
// `delete --force` of a running container at once: delete succeeds, each
// exec ran (and was killed with the container, or finished first) or says
// the container is gone (exit 255), and nothing is left: no process outlives the
// delete in a cgroup it could not remove.
func TestExecRacesDelete(t *testing.T) {
	t.Parallel()
	for i := 0; i < 6; i++ {
		c := newContainer(t, "/bin/sleep", "1000")
		c.running()
		calls := [][]string{
			{"exec", c.ID, "/bin/true"},
			{"exec", c.ID, "/bin/sleep", "1000"},
			{"exec", "--detach", c.ID, "/bin/sleep", "1000"},
			{"delete", "--force", c.ID},
		}
		rs := concurrently(t, c, time.Minute, calls...)
		if rs[3].Code != 0 {
			t.Errorf("round %d: delete --force: %s", i, rs[3].describe())
		}
		for j, r := range rs[:3] {
			t.Logf("round %d: %v: exit %d %s", i, calls[j][:2], r.Code, strings.TrimSpace(r.Stderr))
			gone := strings.Contains(r.Stderr, "does not exist") || strings.Contains(r.Stderr, "not running") || strings.Contains(r.Stderr, "stopped")
			if r.Code != 0 && r.Code != 128+int(syscall.SIGKILL) && !gone {
				t.Errorf("round %d: %v: want success, death by SIGKILL, or that the container is gone: %s", i, calls[j], r.describe())
			}
			if gone && r.Code != 255 {
				t.Errorf("round %d: %v: an exec that could not start exits 255, as runc's does: %s", i, calls[j], r.describe())
			}
		}
		time.Sleep(100 * time.Millisecond)
		assertNothingLeft(t, c, result{})
	}
}

// TestKillHookListsSteps: berth refuses a BERTH_TEST_KILL_AT naming no
// step and lists the steps, which are exactly those TestCrashAtEveryStep
// covers.
func TestKillHookListsSteps(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	r, err := call(c, []string{"BERTH_TEST_KILL_AT=no-such-step"}, commandTimeout, "state", c.ID)
	must(t, err)
	_, list, ok := strings.Cut(r.Stderr, "the steps are: ")
	if r.Code != 2 || !ok {
		t.Fatalf("want exit 2 and the list of steps: %s", r.describe())
	}
	got := strings.Fields(strings.Trim(strings.TrimSpace(list), `"`))
	var want []string
	for _, s := range killSteps {
		want = append(want, s.step)
	}
	if !slices.Equal(got, want) {
		t.Errorf("berth's steps %v\nthe test covers %v", got, want)
	}
}

// TestCrashAtEveryStep: berth SIGKILLed at each step of create, start,
// exec, update and delete leaves a container that state and list report
// without crashing and that `delete --force` removes entirely: no state
// dir, cgroup, mount or process.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, s := range killSteps {
		for _, hostMountNS := range []bool{false, true} {
			if hostMountNS && s.command != "create" && s.command != "delete" {
				continue
			}
			name := s.step
			if hostMountNS {
				name += "/host-mount-namespace"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				crashAt(t, s.step, s.command, hostMountNS)
			})
		}
	}
}

func crashAt(t *testing.T, step, command string, hostMountNS bool) {
	c := newContainer(t, "/bin/sleep", "1000")
	if hostMountNS {
		withoutMountNamespace(c)
	}
	var args []string
	switch command {
	case "create":
		c.save()
		args = []string{"create", "--bundle", c.Bundle, c.ID}
	case "start":
		c.mustCreate()
		args = []string{"start", c.ID}
	case "exec":
		c.running()
		args = []string{"exec", c.ID, "/bin/sleep", "1000"}
	case "update":
		c.running()
		args = []string{"update", "--pids-limit", "33", "--memory", "100m", c.ID}
	case "delete":
		c.running()
		args = []string{"delete", "--force", c.ID}
	}
	r, err := call(c, []string{"BERTH_TEST_KILL_AT=" + step}, commandTimeout, args...)
	must(t, err)
	if r.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("berth was not killed at %s: %s", step, r.describe())
	}
	// What it left is reported, not crashed on.
	for _, a := range [][]string{{"state", c.ID}, {"list"}} {
		r := c.rt(a...)
		noPanic(t, r)
		if r.Code != 0 && r.Code != 1 {
			t.Errorf("after a kill at %s: %s", step, r.describe())
		}
	}
	c.mustRT("delete", "--force", c.ID)
	// A killed init is reaped by its new parent a moment later.
	time.Sleep(100 * time.Millisecond)
	assertNothingLeft(t, c, result{})
}

// corruptCase is a state file that is not a usable state of the id it is
// filed under.
type corruptCase struct {
	name, reason string
	// make writes the state file of c (a real container, created) or of
	// a container that is not there (real is false).
	make func(t *testing.T, c *container, path string)
	// real: the case starts from a created container, whose cgroup and
	// init delete --force must still remove.
	real bool
}

func corruptCases() []corruptCase {
	write := func(body string) func(t *testing.T, c *container, path string) {
		return func(t *testing.T, c *container, path string) { must(t, os.WriteFile(path, []byte(body), 0o600)) }
	}
	// edit rewrites a real state without one field.
	without := func(key string) func(t *testing.T, c *container, path string) {
		return func(t *testing.T, c *container, path string) {
			var m map[string]json.RawMessage
			must(t, json.Unmarshal([]byte(readFile(t, path)), &m))
			delete(m, key)
			b, err := json.Marshal(m)
			must(t, err)
			must(t, os.WriteFile(path, b, 0o600))
		}
	}
	return []corruptCase{
		{name: "empty", reason: "it is empty", make: write("")},
		{name: "truncated", reason: "not the JSON of a container state", real: true,
			make: func(t *testing.T, c *container, path string) {
				b := readFile(t, path)
				must(t, os.WriteFile(path, []byte(b[:len(b)/2]), 0o600))
			}},
		{name: "no-config", reason: "it has no config", real: true, make: without("config")},
		{name: "no-pid", reason: "it has no init_pid", real: true, make: without("init_pid")},
		{name: "not-an-object", reason: "not the JSON of a container state", make: write(`["a"]`)},
	}
}

// corruptCommands are the commands that take a container id.
func corruptCommands(id string) [][]string {
	return [][]string{
		{"state", id}, {"start", id}, {"kill", id, "KILL"}, {"kill", "--all", id, "KILL"},
		{"pause", id}, {"resume", id}, {"update", "--pids-limit", "7", id}, {"exec", id, "/bin/true"},
		{"ps", id}, {"events", "--stats", id}, {"delete", id},
	}
}

// checkCorrupt runs every command on id: each fails, naming the state file
// and why it is corrupt, without crashing.
func checkCorrupt(t *testing.T, c *container, id, path, reason string) {
	t.Helper()
	want := fmt.Sprintf("container %q: state file %s is corrupt: %s", id, path, reason)
	for _, args := range corruptCommands(id) {
		r := c.rt(args...)
		noPanic(t, r)
		if r.Code == 0 || !strings.Contains(unquote(r.Stderr), want) {
			t.Errorf("want a failure saying %q: %s", want, r.describe())
		}
	}
}

// TestCorruptState: every command on a container whose state.json is
// empty, truncated, not an object or missing a field fails with
// "container ID: state file PATH is corrupt: REASON"; delete --force
// removes it, and for a state that is the container's own but lacks a
// field, its init and cgroup too.
func TestCorruptState(t *testing.T) {
	t.Parallel()
	for _, tc := range corruptCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/sleep", "1000")
			path := filepath.Join(c.Root, c.ID, "state.json")
			if tc.real {
				c.mustCreate()
			} else {
				must(t, os.MkdirAll(filepath.Dir(path), 0o711))
			}
			tc.make(t, c, path)
			checkCorrupt(t, c, c.ID, path, tc.reason)
			r := c.mustRT("delete", "--force", c.ID)
			noPanic(t, r)
			if tc.real && (tc.name == "no-config" || tc.name == "no-pid") {
				time.Sleep(100 * time.Millisecond)
				assertNothingLeft(t, c, result{})
			} else if _, err := os.Lstat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("delete --force left %s (%v)", filepath.Dir(path), err)
			}
		})
	}
}

// TestForeignState: a state file that is another container's (copied, or
// a symlink to it) is refused under the wrong id, and delete --force of
// that id removes only its own dir: the other container keeps running.
func TestForeignState(t *testing.T) {
	t.Parallel()
	a := newContainer(t, "/bin/sleep", "1000")
	a.running()
	aState := filepath.Join(a.Root, a.ID, "state.json")
	for _, kind := range []string{"copy", "symlink", "dir-symlink"} {
		t.Run(kind, func(t *testing.T) {
			a := a.forTest(t)
			id := uniqueID(t)
			dir := filepath.Join(a.Root, id)
			path := filepath.Join(dir, "state.json")
			reason := fmt.Sprintf("it is the state of container %q", a.ID)
			switch kind {
			case "copy":
				must(t, os.Mkdir(dir, 0o711))
				must(t, os.WriteFile(path, []byte(readFile(t, aState)), 0o600))
			case "symlink":
				must(t, os.Mkdir(dir, 0o711))
				must(t, os.Symlink(aState, path))
				reason = "it is a symlink"
			case "dir-symlink":
				must(t, os.Symlink(filepath.Dir(aState), dir))
				path, reason = dir, "the state dir is not a directory"
			}
			checkCorrupt(t, a, id, path, reason)
			a.mustRT("delete", "--force", id)
			if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("delete --force left %s (%v)", dir, err)
			}
			if st := a.state(); st.Status != specs.StateRunning {
				t.Errorf("the other container is %s after delete --force of %s", st.Status, id)
			}
			if procs := strings.Fields(a.cgroupFile("pids", "cgroup.procs")); len(procs) == 0 {
				t.Errorf("the other container's cgroup was emptied")
			}
		})
	}
}
