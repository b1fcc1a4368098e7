package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/probe/report"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupParent is where every test container's cgroup is placed, so leftovers
// are easy to find: /sys/fs/cgroup/<controller>/berth-cf/<id>.
const cgroupParent = "berth-cf"

// cgroupV2 is whether this host has only the unified hierarchy (as under
// make vmtest); the cgroup tests then read v2 files.
var cgroupV2 = func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}()

// nrOpen is fs.nr_open, the RLIMIT_NOFILE ceiling no capability lifts.
var nrOpen = func() uint64 {
	b, _ := os.ReadFile("/proc/sys/fs/nr_open")
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}()

// commandTimeout bounds every runtime invocation, so a hung runtime fails the
// test instead of the whole suite.
const commandTimeout = 15 * time.Second

// container is one container under test: its bundle, its private --root and
// its id. The Spec is written to config.json before create/run.
type container struct {
	t      *testing.T
	ID     string
	Root   string // --root for every runtime call
	Bundle string
	Rootfs string
	Spec   *specs.Spec
	// OutPath receives the container's stdout and stderr after create/run.
	OutPath string
	// cgroupID names the cgroup under cgroupParent; tests may change ID
	// (to an invalid one, say), this stays the unique generated one.
	cgroupID string
}

// result is what one runtime invocation did.
type result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

// newContainer makes a bundle with a busybox+probe rootfs and a runc-spec-like
// default config running args, and deletes the container when t ends.
func newContainer(t *testing.T, args ...string) *container {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir makes 0700 directories; ids mapped by a user namespace must
	// be able to reach the rootfs.
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chmod(filepath.Dir(dir), 0o755))
	c := &container{
		t:      t,
		ID:     uniqueID(t),
		Root:   filepath.Join(dir, "root"),
		Bundle: filepath.Join(dir, "bundle"),
	}
	c.Rootfs = filepath.Join(c.Bundle, "rootfs")
	c.cgroupID = c.ID
	makeRootfs(t, c.Rootfs)
	c.Spec = defaultSpec(c.ID, args)
	t.Cleanup(c.cleanup)
	return c
}

var idUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueID is a valid container id that names the test, for readable leftovers.
func uniqueID(t *testing.T) string {
	slug := strings.Trim(idUnsafe.ReplaceAllString(strings.ToLower(strings.TrimPrefix(t.Name(), "Test")), "-"), "-")
	if len(slug) > 24 {
		slug = slug[:24]
	}
	b := make([]byte, 4)
	rand.Read(b)
	return "cf-" + slug + "-" + hex.EncodeToString(b)
}

// makeRootfs builds a minimal rootfs: busybox with its applet links, the
// probe, and users/groups the process tests refer to.
func makeRootfs(t *testing.T, rootfs string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		must(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	must(t, os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777))
	must(t, linkOrCopy(busyboxBin, filepath.Join(rootfs, "bin/busybox")))
	must(t, linkOrCopy(probeBin, filepath.Join(rootfs, "probe")))
	for _, a := range applets {
		if a != "busybox" {
			must(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", a)))
		}
	}
	must(t, os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte(
		"root:x:0:0:root:/root:/bin/sh\n"+
			"probe:x:1000:1000:probe:/tmp:/bin/sh\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte(
		"root:x:0:\ntty:x:5:\nprobe:x:1000:\nextra:x:2000:probe\nnogroup:x:65534:\n"), 0o644))
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst, 0o755)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// defaultSpec is the config `runc spec` writes, made non-interactive, with
// the cgroup placed under cgroupParent.
func defaultSpec(id string, args []string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: ociVersion(),
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "cf",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/" + cgroupParent + "/" + id,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// ociVersion is the version written into test configs: the runtime-spec
// version berth implements, unless CONFORMANCE_OCI_VERSION overrides it (crun
// 1.8 refuses "1.3.0"; the override lets the suite be cross-checked with it).
func ociVersion() string {
	if v := os.Getenv("CONFORMANCE_OCI_VERSION"); v != "" {
		return v
	}
	return specs.Version
}

// save writes the Spec to the bundle's config.json.
func (c *container) save() {
	c.t.Helper()
	b, err := json.MarshalIndent(c.Spec, "", "\t")
	must(c.t, err)
	must(c.t, os.WriteFile(filepath.Join(c.Bundle, "config.json"), b, 0o644))
}

// globals are the global flags for this container: its --root, or none when
// Root is empty (the runtime's default root, as podman uses it).
func (c *container) globals(args ...string) []string {
	if c.Root == "" {
		return args
	}
	return append([]string{"--root", c.Root}, args...)
}

// rt runs the runtime with this container's --root.
func (c *container) rt(args ...string) result {
	c.t.Helper()
	return runRuntime(c.t, c.globals(args...), nil, nil)
}

// mustRT is rt that fails the test unless the runtime exits 0.
func (c *container) mustRT(args ...string) result {
	c.t.Helper()
	r := c.rt(args...)
	if r.Code != 0 {
		c.t.Fatalf("%s", r.describe())
	}
	return r
}

func (r result) describe() string {
	return "runtime " + strings.Join(r.Args, " ") + ": exit " + strconv.Itoa(r.Code) +
		"\nstderr: " + strings.TrimSpace(r.Stderr) + "\nstdout: " + strings.TrimSpace(r.Stdout)
}

// runRuntime runs the runtime with args; stdout (the container's too, for
// create and run) goes to out when given. Files rather than pipes are used so
// that a container inheriting them cannot make the call hang.
func runRuntime(t *testing.T, args []string, out *os.File, extra []*os.File) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin, args...)
	// On timeout kill the whole process group: a hung runtime's children
	// (its init, a hook) must not outlive the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir = t.TempDir()
	var err error
	if out == nil {
		out, err = os.CreateTemp(cmd.Dir, "stdout")
		must(t, err)
		defer out.Close()
	}
	errf, err := os.CreateTemp(cmd.Dir, "stderr")
	must(t, err)
	defer errf.Close()
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = out, errf, extra
	runErr := cmd.Run()
	r := result{Args: args, Stdout: readFile(t, out.Name()), Stderr: readFile(t, errf.Name())}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exitErr):
		r.Code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Code = 128 + int(ws.Signal())
		}
	default:
		t.Fatalf("running %s %v: %v", runtimeBin, args, runErr)
	}
	if ctx.Err() != nil {
		t.Fatalf("runtime %v timed out after %v", args, commandTimeout)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}

// outFile opens a fresh file for the container's stdout and stderr.
func (c *container) outFile() *os.File {
	f, err := os.CreateTemp(filepath.Dir(c.Bundle), "out")
	must(c.t, err)
	c.OutPath = f.Name()
	return f
}

// create saves the config and runs `create --bundle B [extra...] ID`.
func (c *container) create(extra ...string) result {
	c.t.Helper()
	c.save()
	f := c.outFile()
	defer f.Close()
	args := append(c.globals("create", "--bundle", c.Bundle), extra...)
	return runRuntime(c.t, append(args, c.ID), f, nil)
}

// mustCreate is create that fails the test unless it succeeds and the state
// then says "created".
func (c *container) mustCreate(extra ...string) {
	c.t.Helper()
	if r := c.create(extra...); r.Code != 0 {
		c.t.Fatalf("%s", r.describe())
	}
	if st := c.state(); st.Status != specs.StateCreated {
		c.t.Fatalf("after create: status %q, want created", st.Status)
	}
}

// run saves the config and runs `run --bundle B [extra...] ID` in the foreground.
func (c *container) run(extra ...string) result {
	c.t.Helper()
	c.save()
	f := c.outFile()
	defer f.Close()
	args := append(c.globals("run", "--bundle", c.Bundle), extra...)
	return runRuntime(c.t, append(args, c.ID), f, nil)
}

// probe runs /probe with args as the container process and returns its report.
func (c *container) probe(args ...string) report.Report {
	c.t.Helper()
	c.Spec.Process.Args = append([]string{"/probe"}, args...)
	r := c.run()
	if r.Code != 0 {
		c.t.Fatalf("%s", r.describe())
	}
	return parseReport(c.t, r.Stdout)
}

func parseReport(t *testing.T, out string) report.Report {
	t.Helper()
	var rep report.Report
	start := strings.Index(out, "{")
	if start < 0 {
		t.Fatalf("no probe report in output: %q", out)
	}
	if err := json.NewDecoder(strings.NewReader(out[start:])).Decode(&rep); err != nil {
		t.Fatalf("decoding probe report: %v\noutput: %q", err, out)
	}
	return rep
}

// output is what the container has written so far.
func (c *container) output() string {
	c.t.Helper()
	if c.OutPath == "" {
		return ""
	}
	return readFile(c.t, c.OutPath)
}

// waitOutput waits until the container's output contains want.
func (c *container) waitOutput(want string) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := c.output()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container output never contained %q; got %q", want, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runtimeState is the state JSON with runc's extra fields.
type runtimeState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

func (c *container) state() runtimeState {
	c.t.Helper()
	r := c.mustRT("state", c.ID)
	var st runtimeState
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		c.t.Fatalf("state output is not JSON: %v\n%s", err, r.Stdout)
	}
	return st
}

// waitStatus polls state until the container has the status.
func (c *container) waitStatus(want specs.ContainerState) runtimeState {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.state()
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("status stayed %q, want %q", st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs `start ID` and fails the test unless it succeeds.
func (c *container) start() {
	c.t.Helper()
	c.mustRT("start", c.ID)
}

// cleanup removes the container whatever state it is in, and anything a
// broken runtime may have left: processes in its cgroup and the cgroup.
func (c *container) cleanup() {
	runRuntime(c.t, c.globals("delete", "--force", c.ID), nil, nil)
	for _, dir := range cgroupDirs(c.cgroupID) {
		for _, pid := range strings.Fields(readFileQuiet(filepath.Join(dir, "cgroup.procs"))) {
			if n, err := strconv.Atoi(pid); err == nil {
				unix.Kill(n, unix.SIGKILL)
			}
		}
		for i := 0; i < 50 && os.Remove(dir) != nil && dirExists(dir); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func readFileQuiet(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

var generatedID = regexp.MustCompile(`^cf-[a-z0-9-]+$`)

// cgroupDirs lists the existing v1 (and unified) cgroup directories of a
// container placed under cgroupParent. It only accepts ids made by uniqueID:
// anything else (such as "..") could name cgroups that are not the suite's,
// and cleanup kills the processes in what this returns.
func cgroupDirs(id string) []string {
	if !generatedID.MatchString(id) {
		panic("cgroupDirs: not a generated container id: " + id)
	}
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent, id))
	if st, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupParent, id)); err == nil && st.IsDir() {
		matches = append(matches, filepath.Join("/sys/fs/cgroup", cgroupParent, id))
	}
	return matches
}

// removeCgroupParents removes the (by then empty) cgroupParent directories.
func removeCgroupParents() {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", cgroupParent)) {
		os.Remove(d)
	}
}

// hostNamespace is the inode of the test process's namespace of a kind
// (an entry of /proc/self/ns).
func hostNamespace(t *testing.T, kind string) uint64 {
	return nsInode(t, "/proc/self/ns/"+kind)
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Stat(path, &st))
	return st.Ino
}

// findMount returns the probe's mountinfo entry for a mountpoint (the last
// one, which is the visible one).
func findMount(t *testing.T, rep report.Report, mountpoint string) report.Mount {
	t.Helper()
	for i := len(rep.Mounts) - 1; i >= 0; i-- {
		if rep.Mounts[i].Mountpoint == mountpoint {
			return rep.Mounts[i]
		}
	}
	t.Fatalf("no mount at %s inside the container; mounts: %s", mountpoint, mountpoints(rep))
	return report.Mount{}
}

func mountpoints(rep report.Report) string {
	var b bytes.Buffer
	for _, m := range rep.Mounts {
		b.WriteString(m.Mountpoint + "(" + m.FSType + ") ")
	}
	return b.String()
}

func hasAll(have []string, want ...string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

func contains(have []string, want string) bool { return hasAll(have, want) }

// hostMount mounts on the host for the test's duration.
func hostMount(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	must(t, os.MkdirAll(target, 0o755))
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		t.Fatalf("mount %s on %s: %v", source, target, err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
}

// hostMountinfo is the test process's /proc/self/mountinfo.
func hostMountinfo(t *testing.T) string {
	return readFile(t, "/proc/self/mountinfo")
}

func ptr[T any](v T) *T { return &v }

// runtimeCommand prepares (without starting) a runtime call for this
// container, with stdout and stderr going to out.
func runtimeCommand(c *container, out *os.File, args ...string) *exec.Cmd {
	cmd := exec.Command(runtimeBin, c.globals(args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}
