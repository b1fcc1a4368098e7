package rootfs

// The real tests run Prepare/Pivot/Finish in a re-executed copy of the test
// binary that was cloned into fresh namespaces, then let that child report
// what it sees (mountinfo, stats, reads, writes) as JSON on fd 3.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const childEnv = "BERTH_ROOTFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

// childInput is what the parent hands the child.
type childInput struct {
	Config Config
	// PreMounts are tmpfs mounts the child makes (in its own namespace)
	// before Prepare, to give bind sources submounts.
	PreMounts []string
	Probes    []probe
}

// probe is one observation the child makes after Finish.
type probe struct {
	Op   string // lstat, stat, read, write, readdir, openrw, exec
	Path string
	Data string // for write: content; for exec: arguments separated by "|"
}

type probeResult struct {
	Err          string
	Mode         uint32
	UID, GID     uint32
	Major, Minor uint32
	Dev          uint64
	Data         string
}

type childOutput struct {
	Phase     string // the phase that failed, "" if none
	Err       string
	Cwd       string
	Elapsed   time.Duration // Prepare+Pivot+Finish
	NewFds    []string      // fds open after Finish that were not before Prepare
	Mountinfo string
	Results   []probeResult
}

func runChild() {
	runtime.LockOSThread()
	out := os.NewFile(3, "report")
	var in childInput
	raw, err := os.ReadFile(os.Getenv(childEnv + "_INPUT"))
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad child input:", err)
		os.Exit(2)
	}
	res := childOutput{}
	report := func() {
		if err := json.NewEncoder(out).Encode(res); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	for _, p := range in.PreMounts {
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
			res.Phase, res.Err = "premount", err.Error()
			report()
		}
	}
	c := &in.Config
	fdsBefore := openFds()
	start := time.Now()
	for _, ph := range []struct {
		name string
		fn   func(*Config) error
	}{{"prepare", Prepare}, {"pivot", Pivot}, {"finish", Finish}} {
		if err := ph.fn(c); err != nil {
			res.Phase, res.Err = ph.name, err.Error()
			report()
		}
	}
	res.Elapsed = time.Since(start)
	for fd, target := range openFds() {
		if _, ok := fdsBefore[fd]; !ok {
			res.NewFds = append(res.NewFds, fd+"="+target)
		}
	}
	res.Cwd, _ = os.Getwd()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	res.Mountinfo = string(mi)
	for _, p := range in.Probes {
		res.Results = append(res.Results, doProbe(p))
	}
	report()
}

// openFds maps each open fd to where it points. Handles on a procfs are
// left out: pathrs-lite keeps one private (subset=pid) procfs handle cached
// for the life of the process by design; it is O_CLOEXEC.
func openFds() map[string]string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	fds := map[string]string{}
	for _, n := range names {
		fd, _ := strconv.Atoi(n)
		var st unix.Statfs_t
		if fd == int(d.Fd()) || (unix.Fstatfs(fd, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC) {
			continue
		}
		fds[n], _ = os.Readlink("/proc/self/fd/" + n)
	}
	return fds
}

func doProbe(p probe) probeResult {
	var r probeResult
	var err error
	switch p.Op {
	case "lstat", "stat":
		var st unix.Stat_t
		if p.Op == "lstat" {
			err = unix.Lstat(p.Path, &st)
		} else {
			err = unix.Stat(p.Path, &st)
		}
		r.Mode, r.UID, r.GID, r.Dev = st.Mode, st.Uid, st.Gid, st.Dev
		r.Major, r.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			r.Data, err = os.Readlink(p.Path)
		}
	case "read":
		var f *os.File
		if f, err = os.Open(p.Path); err == nil {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(f, 1<<16))
			r.Data = string(b)
			f.Close()
		}
	case "write":
		err = os.WriteFile(p.Path, []byte(p.Data), 0o644)
	case "readdir":
		var names []string
		var ents []os.DirEntry
		ents, err = os.ReadDir(p.Path)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		r.Data = strings.Join(names, " ")
	case "openrw":
		var f *os.File
		if f, err = os.OpenFile(p.Path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	case "exec":
		var b []byte
		b, err = exec.Command(p.Path, strings.Split(p.Data, "|")...).CombinedOutput()
		r.Data = string(b)
	default:
		err = fmt.Errorf("unknown probe %q", p.Op)
	}
	if err != nil {
		r.Err = unwrapErrno(err).Error()
	}
	return r
}

// testEnv is one test's scratch area: a busybox rootfs and host-side dirs.
type testEnv struct {
	t      *testing.T
	dir    string // unique scratch dir on the host
	rootfs string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests need root (they create namespaces and mounts)")
	}
	dir, err := os.MkdirTemp("", "berth-rootfs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &testEnv{t: t, dir: dir, rootfs: filepath.Join(dir, "rootfs")}
	e.makeBusyboxRootfs()
	return e
}

// makeBusyboxRootfs builds a minimal rootfs from the static busybox.
func (e *testEnv) makeBusyboxRootfs() {
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		e.mkdir("rootfs/" + d)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		e.t.Fatalf("busybox-static is needed: %v", err)
	}
	e.writeFile("rootfs/bin/busybox", string(bb), 0o755)
	for _, applet := range []string{"sh", "ls", "cat", "stat", "id", "mount", "touch"} {
		if err := os.Symlink("busybox", filepath.Join(e.rootfs, "bin", applet)); err != nil {
			e.t.Fatal(err)
		}
	}
	e.writeFile("rootfs/etc/marker", "inside-rootfs", 0o644)
}

func (e *testEnv) mkdir(rel string) string {
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *testEnv) writeFile(rel, content string, mode os.FileMode) string {
	p := filepath.Join(e.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// baseSpec is a typical container spec: proc, a /dev tmpfs, devpts, shm.
func baseSpec() *specs.Spec {
	return &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}},
		},
	}
}

type runOpts struct {
	cloneflags uintptr
	userns     bool // map container 0-65535 to host 0-65535
	preMounts  []string
	extraFiles []*os.File // become fds 4, 5, ... in the child
}

// run executes the three phases in a child and returns its report. It
// fails the test if the host's mount table changed.
func (e *testEnv) run(cfg Config, probes []probe, o runOpts) childOutput {
	e.t.Helper()
	if cfg.Rootfs == "" {
		cfg.Rootfs = e.rootfs
	}
	input, err := json.Marshal(childInput{Config: cfg, Probes: probes, PreMounts: o.preMounts})
	if err != nil {
		e.t.Fatal(err)
	}
	inputFile := filepath.Join(e.dir, "child-input.json")
	if err := os.WriteFile(inputFile, input, 0o600); err != nil {
		e.t.Fatal(err)
	}
	before := hostMounts(e.t)

	r, w, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_INPUT="+inputFile)
	cmd.ExtraFiles = append([]*os.File{w}, o.extraFiles...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | o.cloneflags, Pdeathsig: syscall.SIGKILL}
	if o.userns {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	w.Close()
	data, _ := io.ReadAll(r)
	r.Close()
	werr := cmd.Wait()
	var out childOutput
	if err := json.Unmarshal(data, &out); err != nil {
		e.t.Fatalf("child gave no report (%v, exit %v): %s", err, werr, stderr.String())
	}
	checkHostMounts(e.t, before, hostMounts(e.t), e.dir)
	return out
}

// mustRun is run for configurations that must succeed.
func (e *testEnv) mustRun(cfg Config, probes []probe, o runOpts) childOutput {
	e.t.Helper()
	out := e.run(cfg, probes, o)
	if out.Phase != "" {
		e.t.Fatalf("%s failed: %s", out.Phase, out.Err)
	}
	if len(out.NewFds) > 0 {
		e.t.Errorf("the setup left fds open: %v", out.NewFds)
	}
	if len(out.Results) != len(probes) {
		e.t.Fatalf("got %d probe results for %d probes", len(out.Results), len(probes))
	}
	return out
}

func hostMounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(lines)
	return lines
}

// checkHostMounts fails if any mount appeared or vanished on the host,
// except those of other test suites working in their own /tmp or /run
// scratch directories concurrently on this machine.
func checkHostMounts(t *testing.T, before, after []string, ours string) {
	t.Helper()
	set := func(ls []string) map[string]bool {
		m := map[string]bool{}
		for _, l := range ls {
			m[l] = true
		}
		return m
	}
	b, a := set(before), set(after)
	var diff []string
	consider := func(l, sign string) {
		f := strings.Fields(l)
		if len(f) < 5 {
			return
		}
		mp := f[4]
		foreign := (strings.HasPrefix(mp, "/tmp/") || strings.HasPrefix(mp, "/run/")) && !strings.HasPrefix(mp, ours)
		if !foreign {
			diff = append(diff, sign+l)
		}
	}
	for l := range a {
		if !b[l] {
			consider(l, "+")
		}
	}
	for l := range b {
		if !a[l] {
			consider(l, "-")
		}
	}
	if len(diff) > 0 {
		t.Fatalf("host mount table changed:\n%s", strings.Join(diff, "\n"))
	}
}

// mountAt returns the last (topmost) mount at mountpoint in a mountinfo text.
func mountAt(t *testing.T, info, mountpoint string) *mountinfo.Info {
	t.Helper()
	ms := mountsAt(info, mountpoint)
	if len(ms) == 0 {
		t.Fatalf("no mount at %s in:\n%s", mountpoint, info)
	}
	return ms[len(ms)-1]
}

func mountsAt(info, mountpoint string) []*mountinfo.Info {
	ms, _ := mountinfo.GetMountsFromReader(strings.NewReader(info), func(m *mountinfo.Info) (bool, bool) {
		return m.Mountpoint != mountpoint, false
	})
	return ms
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
