package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	lib "github.com/opencontainers/cgroups"
	// Registers the v1 devices-file and v2 eBPF device controllers; without
	// it the library refuses every device rule.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/cgroups/systemd"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Options say which cgroup a container gets and what goes in it.
type Options struct {
	// CgroupsPath is linux.cgroupsPath. With the fs driver an empty value
	// means /berth/<ContainerID>, and a relative one is taken relative to
	// berth's own cgroup (as runc does). With the systemd driver it is
	// "slice:prefix:name"; empty means system.slice, berth-<ContainerID>.scope.
	CgroupsPath string
	// ContainerID names the default cgroup and systemd scope.
	ContainerID string
	// Resources to apply; see FromSpec and ContainerResources. Nil means none.
	Resources *Resources
	// Systemd selects the systemd driver (`berth --systemd-cgroup`).
	Systemd bool
	// Rootless tolerates permission errors from a cgroup tree berth does
	// not own, as long as no limit needs it.
	Rootless bool
	// Kernel and KernelTCP are linux.resources.memory.kernel and
	// kernelTCP. The library no longer writes them; on v1 hosts whose
	// kernel still has the memory.kmem files, Create does.
	Kernel, KernelTCP *int64
}

// DefaultParent is the cgroup under which containers without a
// linux.cgroupsPath are created by the fs driver.
const DefaultParent = "/berth"

// Manager is one container's cgroup. It is not safe for concurrent use.
type Manager struct {
	lib       lib.Manager
	rootless  bool
	kernel    *int64
	kernelTCP *int64
	res       *Resources
	name      string // for error messages: cgroupsPath or systemd unit
	mode      Mode
	// v1Hugetlb is whether hugetlb is a v1 controller; on a hybrid host
	// without it, huge page limits go to the cgroup2 side (hybrid.go).
	v1Hugetlb bool
	// systemd is the systemd driver; unitPending says Create left the
	// scope for StartInside to start with the container's first process.
	systemd, unitPending bool
	unit                 string // the systemd unit, with the systemd driver
}

// New returns the Manager of a container that is being created. It validates
// opts and res against this host but creates nothing: Apply or Create do.
func New(opts Options) (*Manager, error) {
	if err := Validate(opts.Resources); err != nil {
		return nil, err
	}
	return newManager(opts, nil)
}

// Load returns the Manager of an existing container from the paths its
// creator saved (Paths) and the Options it was created with. Nothing on the
// host is checked or changed.
func Load(opts Options, paths map[string]string) (*Manager, error) {
	if len(paths) == 0 {
		return nil, errors.New("cgroups: no saved cgroup paths to load")
	}
	return newManager(opts, maps.Clone(paths))
}

func newManager(opts Options, paths map[string]string) (*Manager, error) {
	mode := HostMode()
	v1Hugetlb := true
	if _, saved := paths["hugetlb"]; paths != nil {
		// A container's saved paths tell where hugetlb was.
		v1Hugetlb = saved
	} else if mode == ModeHybrid {
		avail, err := availableControllers(mode)
		if err != nil {
			return nil, err
		}
		v1Hugetlb = avail["hugetlb"]
	}
	cg, name, err := libConfig(opts)
	if err != nil {
		return nil, err
	}
	res := cg.Resources
	if mode == ModeHybrid {
		// The v1 manager refuses unified keys even at construction.
		cg.Resources, _ = splitHybrid(res, v1Hugetlb)
	}
	if opts.Systemd && !systemd.IsRunningSystemd() {
		// Checked here so the caller never waits on a D-Bus that is not there.
		return nil, fmt.Errorf("systemd cgroup driver requested for %s, but systemd is not running on this host (no /run/systemd/system); use the cgroupfs driver", name)
	}
	if paths == nil && !opts.Systemd && !opts.Rootless {
		paths = v1Paths(cg, mode)
	}
	m, err := manager.NewWithPaths(cg, paths)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	return &Manager{lib: m, res: res, name: name, mode: mode, v1Hugetlb: v1Hugetlb, rootless: opts.Rootless,
		kernel: opts.Kernel, kernelTCP: opts.KernelTCP, systemd: opts.Systemd, unit: unitName(cg)}, nil
}

// libConfig turns Options into the library's Cgroup, and a name for errors.
func libConfig(opts Options) (*lib.Cgroup, string, error) {
	res := opts.Resources
	if res == nil {
		res = &Resources{}
	}
	cg := &lib.Cgroup{Resources: res, Systemd: opts.Systemd, Rootless: opts.Rootless}
	if opts.CgroupsPath == "" {
		if err := checkID(opts.ContainerID); err != nil {
			return nil, "", err
		}
	}
	if !opts.Systemd {
		if opts.CgroupsPath == "" {
			// Parent and Name rather than Path: the same directory, but
			// the library then lets a rootless container run without a
			// cgroup it may not create (as runc's rootless mode does).
			cg.Parent, cg.Name = DefaultParent, opts.ContainerID
			return cg, DefaultParent + "/" + opts.ContainerID, nil
		}
		cg.Path = opts.CgroupsPath
		if strings.ContainsRune(cg.Path, 0) {
			return nil, "", fmt.Errorf("linux.cgroupsPath %q contains a NUL byte", cg.Path)
		}
		return cg, cg.Path, nil
	}
	if opts.CgroupsPath == "" {
		cg.ScopePrefix, cg.Name = "berth", opts.ContainerID
		return cg, "berth-" + opts.ContainerID + ".scope", nil
	}
	parts := strings.Split(opts.CgroupsPath, ":")
	if len(parts) != 3 || parts[2] == "" {
		return nil, "", fmt.Errorf("linux.cgroupsPath %q: the systemd cgroup driver expects \"slice:prefix:name\", e.g. \"system.slice:berth:%s\"", opts.CgroupsPath, opts.ContainerID)
	}
	cg.Parent, cg.ScopePrefix, cg.Name = parts[0], parts[1], parts[2]
	return cg, opts.CgroupsPath, nil
}

func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("container id %q cannot name a cgroup", id)
	}
	return nil
}

// Apply creates the cgroup, moves pid into it and applies the resources.
// On a v2 host prefer Create plus DirFD (CLONE_INTO_CGROUP), so the child
// never runs outside its cgroup.
//
// On error the cgroup is removed again if it is empty; if pid already
// entered it, the caller must kill pid and then call Destroy.
func (m *Manager) Apply(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("cgroup %s: invalid pid %d", m.name, pid)
	}
	return m.create(pid)
}

// Create creates the cgroup and applies the resources without moving any
// process: for CLONE_INTO_CGROUP (see DirFD), or to prepare a cgroup.
//
// With the systemd driver it only checks: systemd refuses to start a scope
// unit with no process in it ("Scope has no PIDs"), so StartInside starts
// the scope with the process it forks.
func (m *Manager) Create() error {
	if m.systemd {
		if err := m.checkUnused(); err != nil {
			return err
		}
		m.unitPending = true
		return nil
	}
	return m.create(-1)
}

func (m *Manager) create(pid int) error {
	if err := m.checkUnused(); err != nil {
		return err
	}
	if err := m.lib.Apply(pid); err != nil {
		if errors.Is(err, lib.ErrRootless) {
			// Rootless without an explicit path: the library dropped the
			// controllers it may not use; Set reports any limit that needed one.
			logrus.Debugf("cgroup %s: %v", m.name, err)
		} else {
			m.cleanupAfter(err)
			return fmt.Errorf("creating cgroup %s: %w", m.name, err)
		}
	}
	if err := m.set(m.res); err != nil {
		m.cleanupAfter(err)
		return fmt.Errorf("applying linux.resources to cgroup %s: %w", m.name, err)
	}
	if err := m.setKernelMemory(); err != nil {
		m.cleanupAfter(err)
		return err
	}
	return nil
}

// setKernelMemory writes the kernel memory limits to a v1 memory hierarchy
// that has their files; elsewhere they do not exist and are skipped with a
// warning, as runc does. Recent kernels keep memory.kmem.limit_in_bytes
// but ignore what is written to it, which is reported too.
func (m *Manager) setKernelMemory() error {
	for _, l := range []struct {
		field, file string
		v           *int64
	}{
		{"kernel", "memory.kmem.limit_in_bytes", m.kernel},
		{"kernelTCP", "memory.kmem.tcp.limit_in_bytes", m.kernelTCP},
	} {
		if l.v == nil || *l.v == 0 {
			continue
		}
		field := "linux.resources.memory." + l.field
		dir := m.lib.Path("memory")
		if m.mode == ModeV2 || dir == "" {
			logrus.Warnf("%s is ignored: this host has no kernel memory limits", field)
			continue
		}
		file := filepath.Join(dir, l.file)
		if _, err := os.Stat(file); err != nil {
			logrus.Warnf("%s is ignored: %v", field, err)
			continue
		}
		if err := os.WriteFile(file, []byte(strconv.FormatInt(*l.v, 10)), 0); err != nil {
			return fmt.Errorf("%s %d: %w", field, *l.v, err)
		}
		// A limit reads back rounded down to pages; "unlimited" after a
		// limit was asked for means the kernel dropped it.
		if b, err := os.ReadFile(file); err == nil && *l.v > 0 {
			if got, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && got > *l.v {
				logrus.Warnf("%s %d is ignored by this kernel (%s reads %d)", field, *l.v, l.file, got)
			}
		}
	}
	return nil
}

// checkUnused refuses a cgroup that already holds processes, as runc does:
// they would share the container's limits and be killed with it.
func (m *Manager) checkUnused() error {
	if !m.lib.Exists() {
		return nil
	}
	pids, err := m.lib.GetAllPids()
	if err != nil {
		return fmt.Errorf("cgroup %s: listing processes: %w", m.name, err)
	}
	if len(pids) > 0 {
		return fmt.Errorf("cgroup %s already has %d process(es) in it (first pid %d); pick another linux.cgroupsPath", m.name, len(pids), pids[0])
	}
	return nil
}

// cleanupAfter removes what a failed Apply or Create made, unless a process
// already entered the cgroup: then the caller kills it and calls Destroy
// (trying now would only spin on EBUSY for a second per hierarchy).
func (m *Manager) cleanupAfter(cause error) {
	for _, dir := range m.lib.GetPaths() {
		if pids, _ := lib.GetPids(dir); len(pids) > 0 {
			logrus.Debugf("cgroup %s: not removed after %v: pid %d is inside", m.name, cause, pids[0])
			return
		}
	}
	if err := m.lib.Destroy(); err != nil {
		logrus.Debugf("cgroup %s: removing after %v: %v", m.name, cause, err)
	}
}

// AddPid moves pid into the existing cgroup, e.g. a process started by
// `berth exec`. It neither creates the cgroup nor changes its limits.
func (m *Manager) AddPid(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("cgroup %s: invalid pid %d", m.name, pid)
	}
	if err := m.lib.AddPid("", pid); err != nil && !errors.Is(err, lib.ErrRootless) {
		return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, m.name, err)
	}
	return nil
}

// ErrNotV2 is returned by DirFD on hosts without the unified hierarchy:
// there CLONE_INTO_CGROUP cannot place a process in its v1 cgroups, so the
// caller must use Apply(pid).
var ErrNotV2 = errors.New("CLONE_INTO_CGROUP needs a cgroup v2 host; use Apply(pid)")

// DirFD opens the container's cgroup directory for clone3's
// CLONE_INTO_CGROUP. Call Create first. The file is close-on-exec; the
// caller closes it after the clone.
func (m *Manager) DirFD() (*os.File, error) {
	if m.mode != ModeV2 {
		return nil, ErrNotV2
	}
	dir := m.lib.Path("")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %w", dir, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Set applies res to the existing cgroup and remembers it as the current
// resources (see MergeUpdate for `berth update`).
func (m *Manager) Set(res *Resources) error {
	if res == nil {
		return errors.New("cgroups: Set needs resources")
	}
	if err := Validate(res); err != nil {
		return err
	}
	if err := m.set(res); err != nil {
		return fmt.Errorf("updating cgroup %s: %w", m.name, err)
	}
	m.res = res
	return nil
}

// set applies res through the library and, on a hybrid host, through the
// cgroup2 side for what the v1 manager cannot apply.
func (m *Manager) set(res *Resources) error {
	res = withoutIdleWeight(res)
	if m.mode != ModeHybrid {
		if err := m.lib.Set(res); err != nil {
			return err
		}
		return m.setUnitProps(res)
	}
	forV1, forV2 := splitHybrid(res, m.v1Hugetlb)
	if err := m.lib.Set(forV1); err != nil {
		return err
	}
	if forV2 != nil {
		if err := setV2Side(m.lib.Path(""), forV2); err != nil {
			return fmt.Errorf("cgroup2 side of the hybrid host: %w", err)
		}
	}
	return nil
}

// SetPidsLimit writes only the pids limit. Create applies it once the
// container's init is in place: the process that forks the init sits in
// the cgroup for the fork, and berth-init may fork once more (pid
// namespaces), so a limit of 1 or 2 set earlier would refuse the
// container's own start.
func (m *Manager) SetPidsLimit(limit int64) error {
	if err := m.set(&Resources{PidsLimit: &limit, SkipDevices: true, Freezer: lib.Undefined}); err != nil {
		return fmt.Errorf("cgroup %s: linux.resources.pids.limit %d: %w", m.name, limit, err)
	}
	if m.res == nil {
		m.res = &Resources{}
	}
	m.res.PidsLimit = &limit
	return nil
}

// Resources returns the resources last applied by Create, Apply or Set, or
// given to Load.
func (m *Manager) Resources() *Resources { return m.res }

// Freeze stops every process in the cgroup (`berth pause`).
func (m *Manager) Freeze() error {
	if err := m.lib.Freeze(lib.Frozen); err != nil {
		return fmt.Errorf("freezing cgroup %s: %w", m.name, err)
	}
	return nil
}

// Thaw resumes the processes Freeze stopped (`berth resume`).
func (m *Manager) Thaw() error {
	if err := m.lib.Freeze(lib.Thawed); err != nil {
		return fmt.Errorf("thawing cgroup %s: %w", m.name, err)
	}
	return nil
}

// Frozen reports whether the cgroup is frozen (the container is paused).
func (m *Manager) Frozen() (bool, error) {
	st, err := m.lib.GetFreezerState()
	if err != nil {
		return false, fmt.Errorf("reading freezer state of cgroup %s: %w", m.name, err)
	}
	return st == lib.Frozen, nil
}

// Kill SIGKILLs every process in the cgroup and its sub-cgroups. On
// cgroup v2 it writes cgroup.kill (Linux 5.14+), which the kernel applies
// to the whole tree at once, frozen or not, so a process forking in a
// loop cannot escape; elsewhere it thaws the cgroup and signals pid by pid.
func (m *Manager) Kill() error {
	if dir := m.lib.Path(""); m.mode == ModeV2 && dir != "" {
		err := lib.WriteFile(dir, "cgroup.kill", "1")
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("killing cgroup %s: %w", m.name, err)
		}
	}
	if frozen, _ := m.Frozen(); frozen {
		_ = m.Thaw()
	}
	pids, err := m.Pids()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("killing pid %d of cgroup %s: %w", pid, m.name, err)
		}
	}
	return nil
}

// Pids lists every process in the cgroup and its sub-cgroups, for
// `berth kill --all` and `berth ps`.
func (m *Manager) Pids() ([]int, error) {
	pids, err := m.lib.GetAllPids()
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", m.name, err)
	}
	return pids, nil
}

// OOMKillCount is how many processes the kernel OOM-killed in the cgroup.
func (m *Manager) OOMKillCount() (uint64, error) {
	n, err := m.lib.OOMKillCount()
	if err != nil {
		return 0, fmt.Errorf("reading OOM kills of cgroup %s: %w", m.name, err)
	}
	return n, nil
}

// Exists reports whether the cgroup directory is there.
func (m *Manager) Exists() bool { return m.lib.Exists() }

// Paths returns the cgroup directories to persist in the container state and
// hand to Load. On v1 the keys are controller names ("" is the cgroup2
// directory of a hybrid host); on v2 the only key is "".
//
// A rootless container runs in its caller's cgroup where berth could not
// create its own (as in runc's rootless mode): those are left out.
func (m *Manager) Paths() map[string]string {
	paths := maps.Clone(m.lib.GetPaths())
	// (A systemd scope is made whole or not at all, and maybe not yet.)
	if m.rootless && !m.systemd {
		maps.DeleteFunc(paths, func(_, dir string) bool {
			_, err := os.Stat(dir)
			return err != nil
		})
	}
	return paths
}

// Destroy removes the cgroup directories (and the systemd unit). It kills
// nothing: it fails while processes are still inside. Destroying twice is
// not an error.
func (m *Manager) Destroy() error {
	if err := m.lib.Destroy(); err != nil {
		return fmt.Errorf("removing cgroup %s (are processes still in it?): %w", m.name, err)
	}
	return nil
}

// withoutIdleWeight drops the CPU weight from res when it makes the cgroup
// idle (cpu.idle 1): the kernel refuses a weight for an idle group
// (EINVAL), which would fail every later update of such a container. The
// weight is written again when an update makes it non-idle, since the
// kernel then resets it to the default. res itself is not modified.
func withoutIdleWeight(res *Resources) *Resources {
	if res == nil || res.CPUIdle == nil || *res.CPUIdle != 1 || (res.CpuWeight == 0 && res.CpuShares == 0) {
		return res
	}
	r := *res
	r.CpuWeight, r.CpuShares = 0, 0
	return &r
}
