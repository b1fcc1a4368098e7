//go:build vmtest

// Package vm_test is the part of make vmtest that needs a real cgroup v2
// host with systemd as PID 1: it runs inside the guest run.sh boots (see
// README.md) and drives bin/berth ($RUNTIME) as a user, podman and
// containerd would, checking every cgroup setting twice: inside the
// container (its /sys/fs/cgroup) and in the host's cgroup files. It is
// built only with -tags vmtest, so `go test ./...` on a development host
// never runs it.
package vm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	berthBin   string   // the runtime under test ($RUNTIME)
	busyboxBin string   // busybox-static, copied into every rootfs
	applets    []string // its applets, symlinked in every rootfs
)

// cmdTimeout bounds every command the suite runs.
const cmdTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	if err := checkHost(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance/vm:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// checkHost refuses to run anywhere but the host this suite is about.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (inside the make vmtest guest)")
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return errors.New("systemd is not PID 1 here: this suite runs in the make vmtest guest")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != 0x63677270 {
		return errors.New("/sys/fs/cgroup is not cgroup2: this suite needs a pure cgroup v2 host")
	}
	berthBin = os.Getenv("RUNTIME")
	if berthBin == "" {
		return errors.New("set RUNTIME to the berth binary under test")
	}
	var err error
	if busyboxBin, err = exec.LookPath("busybox"); err != nil {
		return errors.New("busybox-static is needed for the test rootfs")
	}
	out, err := exec.Command(busyboxBin, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %v", err)
	}
	applets = strings.Fields(string(out))
	return nil
}

// result is what one command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code,
		strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// run runs a command with a timeout, its output in files (a container
// that inherits a pipe would keep Wait waiting), killing its whole process
// group when the time is up. cred, when set, runs it as that user.
func run(t *testing.T, cred *syscall.Credential, env []string, name string, args ...string) result {
	t.Helper()
	return runFor(t, cmdTimeout, cred, env, name, args...)
}

// runFor is run with another time limit.
func runFor(t *testing.T, limit time.Duration, cred *syscall.Credential, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if env != nil {
		cmd.Env = env
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "stdout"))
	must(t, err)
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	must(t, err)
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	err = cmd.Run()
	r := result{args: append([]string{name}, args...), stdout: readFile(t, out.Name()), stderr: readFile(t, errf.Name())}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %v: %v", r.args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%v timed out after %v", r.args, limit)
	}
	return r
}

func mustRun(t *testing.T, name string, args ...string) result {
	t.Helper()
	r := run(t, nil, nil, name, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// waitFor polls cond every 20 ms for at most limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeRootfs fills dir with busybox and its applets.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	b, err := os.ReadFile(busyboxBin)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "bin/busybox"), b, 0o755))
	for _, a := range applets {
		if a != "busybox" {
			must(t, os.Symlink("busybox", filepath.Join(dir, "bin", a)))
		}
	}
	must(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\n"), 0o644))
}

// container is one berth container of a test: a bundle from `berth spec`
// with a busybox rootfs, its own --root, and the cgroup driver to use.
type container struct {
	t       *testing.T
	id      string
	root    string
	bundle  string
	spec    *specs.Spec
	systemd bool // --systemd-cgroup
	out     string
}

// cgroupParent and slice hold every test container's cgroup: the fs
// driver's /berth-vm/<id>, the systemd driver's system.slice/berth-vm-<id>.scope.
const (
	cgroupParent = "berth-vm"
	scopePrefix  = "berth-vm"
)

var seq int

func newContainer(t *testing.T, systemd bool, args ...string) *container {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	seq++
	c := &container{t: t, systemd: systemd, root: filepath.Join(dir, "root"), bundle: filepath.Join(dir, "bundle"),
		id: fmt.Sprintf("vm-%s-%d-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), os.Getpid(), seq)}
	if len(c.id) > 60 {
		c.id = fmt.Sprintf("vm-%d-%d", os.Getpid(), seq)
	}
	makeRootfs(t, filepath.Join(c.bundle, "rootfs"))
	mustRun(t, berthBin, "spec", "--bundle", c.bundle)
	var s specs.Spec
	must(t, json.Unmarshal([]byte(readFile(t, filepath.Join(c.bundle, "config.json"))), &s))
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Readonly = false // the tests' programs write to /tmp
	if systemd {
		s.Linux.CgroupsPath = "system.slice:" + scopePrefix + ":" + c.id
	} else {
		s.Linux.CgroupsPath = "/" + cgroupParent + "/" + c.id
	}
	c.spec = &s
	c.out = filepath.Join(dir, "out")
	t.Cleanup(c.cleanup)
	return c
}

// driver names the cgroup driver, for subtest names.
func driver(systemd bool) string {
	if systemd {
		return "systemd"
	}
	return "cgroupfs"
}

// eachDriver runs f once with the cgroupfs driver and once with systemd's.
func eachDriver(t *testing.T, f func(t *testing.T, systemd bool)) {
	for _, sd := range []bool{false, true} {
		t.Run(driver(sd), func(t *testing.T) { f(t, sd) })
	}
}

func (c *container) globals(args ...string) []string {
	g := []string{"--root", c.root}
	if c.systemd {
		g = append(g, "--systemd-cgroup")
	}
	return append(g, args...)
}

func (c *container) rt(args ...string) result {
	c.t.Helper()
	return run(c.t, nil, nil, berthBin, c.globals(args...)...)
}

func (c *container) mustRT(args ...string) result {
	c.t.Helper()
	r := c.rt(args...)
	if r.code != 0 {
		c.t.Fatalf("%s", r)
	}
	return r
}

func (c *container) save() {
	b, err := json.MarshalIndent(c.spec, "", "\t")
	must(c.t, err)
	must(c.t, os.WriteFile(filepath.Join(c.bundle, "config.json"), b, 0o644))
}

// create runs `berth create`, the container's stdout and stderr going to
// c.out. Files, not pipes: the container's init keeps them open.
func (c *container) create() result {
	c.t.Helper()
	c.save()
	f, err := os.Create(c.out)
	must(c.t, err)
	defer f.Close()
	errf, err := os.CreateTemp(filepath.Dir(c.out), "create-stderr")
	must(c.t, err)
	defer errf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	args := c.globals("create", "--bundle", c.bundle, c.id)
	cmd := exec.CommandContext(ctx, berthBin, args...)
	cmd.Stdout, cmd.Stderr = f, errf
	err = cmd.Run()
	r := result{args: append([]string{berthBin}, args...), stderr: readFile(c.t, errf.Name())}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("berth create: %v", err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("berth create timed out after %v", cmdTimeout)
	}
	return r
}

func (c *container) mustCreate() {
	c.t.Helper()
	if r := c.create(); r.code != 0 {
		c.t.Fatalf("%s", r)
	}
}

func (c *container) state() specs.State {
	c.t.Helper()
	var st specs.State
	must(c.t, json.Unmarshal([]byte(c.mustRT("state", c.id).stdout), &st))
	return st
}

func (c *container) waitStatus(want specs.ContainerState) {
	c.t.Helper()
	var st specs.State
	if !waitFor(15*time.Second, func() bool { st = c.state(); return st.Status == want }) {
		c.t.Fatalf("container %s: status %q, want %q", c.id, st.Status, want)
	}
}

// output is what the container wrote to stdout and stderr.
func (c *container) output() string { return readFile(c.t, c.out) }

func (c *container) cleanup() {
	if _, err := os.Stat(filepath.Join(c.root, c.id)); err == nil {
		run(c.t, nil, nil, berthBin, c.globals("delete", "--force", c.id)...)
	}
}

// unit is the systemd scope of a container made with the systemd driver.
func (c *container) unit() string { return scopePrefix + "-" + c.id + ".scope" }

// cgroupDir is where the container's cgroup must be, by driver.
func (c *container) cgroupDir() string {
	if c.systemd {
		return "/sys/fs/cgroup/system.slice/" + c.unit()
	}
	return filepath.Join("/sys/fs/cgroup", cgroupParent, c.id)
}

// hostFile reads one of the container's cgroup files on the host.
func (c *container) hostFile(name string) string {
	c.t.Helper()
	return strings.TrimSpace(readFile(c.t, filepath.Join(c.cgroupDir(), name)))
}

// procCgroup is the cgroup of pid (a cgroup v2 host has one line, 0::/path).
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	line := strings.TrimSpace(readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid)))
	path, ok := strings.CutPrefix(line, "0::")
	if !ok {
		t.Fatalf("/proc/%d/cgroup is not a cgroup v2 one: %q", pid, line)
	}
	return "/sys/fs/cgroup" + path
}

// readInside is the script that prints name=content for cgroup files as
// the container sees them at /sys/fs/cgroup.
const readInside = `cd /sys/fs/cgroup && for f in "$@"; do printf '%s=%s\n' "$f" "$(tr '\n' ' ' < "$f" | sed 's/ *$//')"; done`

// parseKV parses readInside's output.
func parseKV(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// systemctlShow returns the named properties of a unit.
func systemctlShow(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	r := mustRun(t, "systemctl", "show", unit, "-p", strings.Join(props, ","))
	return parseKV(r.stdout)
}

// itoa is strconv.Itoa for the int64s of the spec.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
