package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/hooks"
	"github.com/berthproject/berth/libcontainer/lsm"
	"github.com/berthproject/berth/libcontainer/plan"
	"github.com/berthproject/berth/libcontainer/rootfs"
	"github.com/berthproject/berth/libcontainer/sysfile"
	berthspecs "github.com/berthproject/berth/specs"
)

// CreateOpts are the inputs of `berth create` (and of `run`).
type CreateOpts struct {
	Root   string
	ID     string
	Bundle string
	// ConfigJSON, when set, is the bundle's config.json as the caller
	// already read it (run reads process.terminal first): read once.
	ConfigJSON []byte
	// Spec, when set with ConfigJSON, is ConfigJSON as ParseBundleConfig
	// decoded and checked it: decoded once.
	Spec          *specs.Spec
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	// PreserveFDs passes fds 3 .. 3+PreserveFDs-1 into the container.
	PreserveFDs   int
	SystemdCgroup bool
	// Rootless tolerates cgroup permission errors where no limit needs
	// the cgroup (berth run by an unprivileged user).
	Rootless bool
	// Subreaper makes the caller reap the init when the nsenter stage
	// forks it (for `run`, which waits for it).
	Subreaper bool
}

// Create sets up a container whose user process waits for Start. On any
// error nothing is left behind: no state dir, cgroup, mount or process.
func Create(o *CreateOpts) (c *Container, err error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	data := o.ConfigJSON
	if data == nil {
		if data, err = ReadBundleConfig(bundle); err != nil {
			return nil, berthspecs.ConfigReadError(err)
		}
	}
	spec := o.Spec
	if spec == nil || o.ConfigJSON == nil {
		if spec, err = berthspecs.ParseBundleJSON(bundle, data, checkRuntimeConfig); err != nil {
			return nil, err
		}
	}
	logrus.Debugf("container %s: loaded %s", o.ID, filepath.Join(bundle, "config.json"))
	if err := checkCreatable(spec, o); err != nil {
		return nil, err
	}
	// Everything that can be refused is refused before anything exists:
	// the process is resolved here, once (its seccomp profile compiled).
	var proc *plan.Process
	if spec.Process != nil {
		if cs, err := caps.Resolve(spec.Process.Capabilities); err == nil {
			if missing := cs.Unavailable(); len(missing) > 0 {
				logrus.Warnf("config.json: process.capabilities: %s not in berth's own bounding set; the container runs without them", capNames(missing))
			}
			// runc raises what it can and says so only at debug level;
			// engines such as buildah list ambient capabilities they do
			// not make inheritable on every step.
			if bad := cs.UnraisableAmbient(); len(bad) > 0 {
				logrus.Debugf("config.json: process.capabilities.ambient: %s not both permitted and inheritable; not raised", capNames(bad))
			}
		}
		keyring := ""
		if !o.NoNewKeyring {
			keyring = o.ID
		}
		if proc, err = planProcess(spec.Process, spec, processOpts{keyring: keyring, consoleFD: -1, preserveFDs: o.PreserveFDs, seccomp: seccompCache(o.Root)}); err != nil {
			return nil, err
		}
	}
	res, err := cgroups.ContainerResources(spec.Linux)
	if err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}

	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("--root %s: %w", o.Root, err)
	}
	dir := stateDir(o.Root, o.ID)
	// mkdir is the one atomic claim of the id: of two creates of one id
	// exactly one makes the dir, the other stops here having made nothing.
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container with id %q already exists", o.ID)
		}
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	// Held until create returns: a delete, start or update of the id
	// waits for it. A delete --force that got the dir between the mkdir
	// and this lock removed it (it had no state): then nothing is ours.
	unlock, err := lockDir(dir, unix.LOCK_EX)
	if errors.Is(err, errDirGone) || errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %q was deleted while it was being created", o.ID)
	}
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	defer unlock()
	killPoint(StepCreateDir)
	// The config is kept as given (compacted), not encoded again.
	var config bytes.Buffer
	if err := json.Compact(&config, data); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	c = &Container{root: o.Root, dir: dir, config: spec, state: &State{
		// UTC, as runc keeps it: no time zone file to read on every run.
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(),
		Annotations: spec.Annotations, Config: config.Bytes(), Version: spec.Version, Hooks: spec.Hooks,
		CgroupsPath: spec.Linux.CgroupsPath, Systemd: o.SystemdCgroup, Rootless: o.Rootless, NoNewKeyring: o.NoNewKeyring,
	}}
	b := &builder{c: c, o: o, spec: spec, res: res, proc: proc}
	defer func() {
		if err != nil {
			b.abort()
		}
	}()
	if err := b.build(); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadBundleConfig reads the bundle's config.json (see CreateOpts.ConfigJSON).
func ReadBundleConfig(bundle string) ([]byte, error) {
	return sysfile.ReadFile(filepath.Join(bundle, berthspecs.ConfigFile))
}

// ParseBundleConfig decodes and checks config.json's bytes as Create does
// (see CreateOpts.Spec).
func ParseBundleConfig(bundle string, data []byte) (*specs.Spec, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	return berthspecs.ParseBundleJSON(abs, data, checkRuntimeConfig)
}

// checkCreatable refuses configs berth cannot run, with the field's path.
func checkCreatable(spec *specs.Spec, o *CreateOpts) error {
	if spec.Linux == nil {
		return errors.New("config.json: linux: required on Linux")
	}
	if !hasNamespace(spec, specs.MountNamespace) && hasNamespace(spec, specs.UserNamespace) {
		// The host's mount namespace belongs to the initial user
		// namespace: nothing could be mounted from inside the container's.
		return errors.New("config.json: linux.namespaces: a user namespace without a mount namespace is not supported (berth would have to mount into the host's mount namespace from inside the user namespace)")
	}
	if err := lsm.CheckHost("config.json", spec.Process, spec.Linux); err != nil {
		return err
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" {
		return errors.New("config.json: process.terminal is true: a --console-socket is required to receive the terminal")
	}
	if !terminal && o.ConsoleSocket != "" {
		return errors.New("--console-socket given but config.json: process.terminal is false")
	}
	return nil
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func processCaps(spec *specs.Spec) *specs.LinuxCapabilities {
	if spec.Process == nil {
		return nil
	}
	return spec.Process.Capabilities
}

// builder holds what Create makes, so abort can undo exactly that.
type builder struct {
	c    *Container
	o    *CreateOpts
	spec *specs.Spec
	res  *cgroups.Resources

	cg     *cgroups.Manager
	sp     *spawn
	rootfs *rootfs.Config
	proc   *plan.Process
}

func (b *builder) abort() {
	if b.sp != nil {
		b.sp.kill()
	}
	if b.cg != nil {
		destroyCgroup(b.cg)
	}
	if err := b.c.detachHostMounts(); err != nil {
		logrus.Warn(err)
	}
	os.RemoveAll(b.c.dir)
}

func (b *builder) build() error {
	spec, o, c := b.spec, b.o, b.c
	// The pids limit is written once the init is in place (SetPidsLimit).
	res, pids := withoutPidsLimit(b.res)
	cg, err := cgroups.New(cgroupOptions(c.state, spec.Linux, res))
	if err != nil {
		return err
	}
	c.state.CgroupPaths = cg.Paths()
	if !hasNamespace(spec, specs.MountNamespace) {
		id, err := rootfs.MountID(c.state.Rootfs)
		if err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
		c.state.HostMounts = &HostMounts{Before: id}
	}
	// Written before the init exists, so a berth killed from here on
	// leaves state that `delete --force` can clean up.
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	killPoint(StepCreateState)

	sp, err := newSpawn(o.PreserveFDs)
	if err != nil {
		return err
	}
	b.sp = sp
	defer sp.close()
	p, err := b.plan(sp)
	if err != nil {
		return err
	}
	if err := cg.Create(); err != nil {
		// Create removed what it made; a cgroup that was there before
		// (with processes in it) is not ours to destroy.
		return err
	}
	b.cg = cg
	killPoint(StepCreateCgroup)
	if o.Rootless {
		// Only the cgroups it could create (see cgroups.Manager.Paths).
		c.state.CgroupPaths = cg.Paths()
	}
	// The cgroup mounts show the container its own cgroup directories.
	rp := p.Rootfs
	if rp.Mounts, err = b.withCgroupMounts(cg); err != nil {
		return err
	}
	initPid, err := sp.start(p, cg, o.Subreaper,
		func(pid int) error { return writeIDMaps(pid, spec.Linux) },
		// In the init's network namespace before its program can run.
		func(pid int) error { return moveNetDevices(spec.Linux.NetDevices, pid) })
	if err != nil {
		return err
	}
	logrus.Debugf("container %s: init pid %d in cgroup %v", o.ID, initPid, c.state.CgroupPaths)
	c.state.InitPid = initPid
	if c.state.InitStart, _, err = procStat(initPid); err != nil {
		return fmt.Errorf("reading the init's start time: %w", err)
	}
	killPoint(StepCreateInit)
	err = sp.serve(func() error {
		// runtime.md counts everything after step 2 (the environment is
		// made) as created; runtime-tools expects that for prestart.
		st := c.specState(specs.StateCreated)
		if err := hooks.Run("prestart", spec.Hooks.Prestart, &st); err != nil {
			return err
		}
		st.Status = specs.StateCreating
		return hooks.Run("createRuntime", spec.Hooks.CreateRuntime, &st)
	}, func(fd int) error {
		return sendSeccompListener(spec, fd, c.specState(specs.StateCreating))
	})
	if err != nil {
		return err
	}
	killPoint(StepCreateReady)
	if pids != nil {
		if err := cg.SetPidsLimit(*pids); err != nil {
			return err
		}
	}
	if hm := c.state.HostMounts; hm != nil {
		if hm.Bind, err = rootfs.MountID(c.state.Rootfs); err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
	}
	// Until this write the saved state has no init pid, which is what
	// makes the status "creating" (and a killed create recognisable).
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	killPoint(StepCreateSaved)
	return nil
}

// withoutPidsLimit returns res without its pids limit, and the limit.
func withoutPidsLimit(res *cgroups.Resources) (*cgroups.Resources, *int64) {
	if res == nil || res.PidsLimit == nil || *res.PidsLimit <= 0 {
		return res, nil
	}
	r := *res
	r.PidsLimit = nil
	return &r, res.PidsLimit
}

// plan resolves the config into berth-init's plan (all but the cgroup
// mounts, which need the cgroup).
func (b *builder) plan(sp *spawn) (*plan.Plan, error) {
	spec, o, c := b.spec, b.o, b.c
	fifo, err := makeExecFifo(c.dir)
	if err != nil {
		return nil, err
	}
	p := &plan.Plan{Mode: plan.Create, Setsid: true, RootFD: -1, FifoFD: sp.addFD(fifo)}
	if spec.Hostname != "" {
		p.Hostname = &spec.Hostname
	}
	if spec.Domainname != "" {
		p.Domainname = &spec.Domainname
	}
	consoleFD := -1
	if o.ConsoleSocket != "" {
		sock, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		consoleFD = sp.addFD(sock)
	}
	// If this process dies before the init is ready, the init dies too.
	sp.sys.Pdeathsig = unix.SIGKILL
	if err := sp.planNamespaces(spec.Linux, p); err != nil {
		return nil, err
	}
	p.Loopback = sp.ns.newNetNS
	sources, err := idmappedSources(spec, c.state.Bundle, sp)
	if err != nil {
		return nil, err
	}
	b.rootfs = &rootfs.Config{Spec: spec, Rootfs: c.state.Rootfs, Bundle: c.state.Bundle, NoPivot: o.NoPivot,
		UserNS: sp.ns.userNS, HostMountNS: !hasNamespace(spec, specs.MountNamespace), MountSources: sources}
	if p.Rootfs, err = rootfs.Plan(b.rootfs); err != nil {
		return nil, err
	}
	hk := spec.Hooks
	p.Rootfs.RuntimeHooks = hk != nil && (len(hk.Prestart) > 0 || len(hk.CreateRuntime) > 0)
	if p.Hooks, p.HookStates, err = initHooks(hk, c); err != nil {
		return nil, err
	}
	if p.Process = b.proc; p.Process != nil && consoleFD >= 0 {
		p.Process.Console = consolePlan(spec.Process, consoleFD, true)
	}
	return p, nil
}

// withCgroupMounts plans the config's mounts again, now that the cgroup
// exists and its directories can be shown under /sys/fs/cgroup.
func (b *builder) withCgroupMounts(cg *cgroups.Manager) ([]plan.Mount, error) {
	var err error
	if b.rootfs.CgroupMounts, b.rootfs.Cgroup2Path, err = cgroupMountsFor(cg); err != nil {
		return nil, err
	}
	rp, err := rootfs.Plan(b.rootfs)
	if err != nil {
		return nil, err
	}
	return rp.Mounts, nil
}

// initHooks are the hooks berth-init runs in the container's namespaces,
// with the state JSON each kind gets around the pid only the init knows.
func initHooks(hk *specs.Hooks, c *Container) ([]plan.Hook, []plan.HookState, error) {
	if hk == nil {
		return nil, nil, nil
	}
	var out []plan.Hook
	var states []plan.HookState
	for _, k := range []struct {
		name   string
		kind   plan.HookKind
		hooks  []specs.Hook
		status specs.ContainerState
	}{
		{"createContainer", plan.CreateContainer, hk.CreateContainer, specs.StateCreating},
		{"startContainer", plan.StartContainer, hk.StartContainer, specs.StateCreated},
	} {
		if len(k.hooks) == 0 {
			continue
		}
		for i, h := range k.hooks {
			ph := plan.Hook{Kind: k.kind, Label: fmt.Sprintf("hooks.%s[%d] (%s)", k.name, i, h.Path), Path: h.Path,
				Args: h.Args, Env: h.Env}
			if h.Timeout != nil {
				if *h.Timeout <= 0 {
					return nil, nil, fmt.Errorf("%s: timeout %d: must be a positive number of seconds", ph.Label, *h.Timeout)
				}
				ph.Timeout = uint32(*h.Timeout)
			}
			out = append(out, ph)
		}
		pre, suf, err := stateAroundPid(c.specState(k.status))
		if err != nil {
			return nil, nil, err
		}
		states = append(states, plan.HookState{Kind: k.kind, Prefix: pre, Suffix: suf})
	}
	return out, states, nil
}

// stateAroundPid marshals st and splits it where the pid goes.
func stateAroundPid(st specs.State) (prefix, suffix string, err error) {
	const marker = 987654321987
	st.Pid = marker
	b, err := json.Marshal(st)
	if err != nil {
		return "", "", err
	}
	pre, suf, ok := strings.Cut(string(b), strconv.Itoa(marker))
	if !ok {
		return "", "", errors.New("hook state: no pid in the state JSON")
	}
	return pre, suf, nil
}

// makeExecFifo makes the fifo the init waits on until start, and opens it
// O_PATH for the init, which reopens it for writing.
func makeExecFifo(dir string) (*os.File, error) {
	path := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(path, 0o622); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	// Writable by any user, whatever the umask: the init opens it after
	// switching to process.user (which may be unmapped on the host).
	if err := unix.Chmod(path, 0o622); err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	// os.NewFile, unlike os.OpenFile, tries no poller registration.
	return os.NewFile(uintptr(fd), path), nil
}

// idmappedSources builds the config's idmapped mounts here, in the
// runtime (a process inside the container's user namespace could not give
// them host ids), and hands them to the init detached.
func idmappedSources(spec *specs.Spec, bundle string, sp *spawn) (map[int]int, error) {
	var sources map[int]int
	for i, m := range spec.Mounts {
		idmap := len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || slices.Contains(m.Options, "idmap") || slices.Contains(m.Options, "ridmap")
		if !idmap {
			continue
		}
		f, err := rootfs.PrepareMountSource(spec, bundle, i)
		if err != nil {
			return nil, err
		}
		if sources == nil {
			sources = map[int]int{}
		}
		sources[i] = sp.addFD(f)
	}
	return sources, nil
}

// writeIDMaps writes linux.uidMappings and gidMappings for pid.
func writeIDMaps(pid int, linux *specs.Linux) error {
	write := func(file string, maps []specs.LinuxIDMapping, path string) error {
		var buf []byte
		for _, m := range maps {
			buf = fmt.Appendf(buf, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		p := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(p, buf, 0); err != nil {
			return fmt.Errorf("linux.%s: writing %s: %w", path, p, err)
		}
		return nil
	}
	if err := write("uid_map", linux.UIDMappings, "uidMappings"); err != nil {
		return err
	}
	if unix.Geteuid() != 0 {
		// An unprivileged caller may write gid_map only once setgroups(2)
		// is denied in the namespace (user_namespaces(7)).
		p := fmt.Sprintf("/proc/%d/setgroups", pid)
		if err := os.WriteFile(p, []byte("deny"), 0); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return write("gid_map", linux.GIDMappings, "gidMappings")
}

// capNames lists capabilities by name for messages.
func capNames(caps []int) string {
	names := make([]string, len(caps))
	for i, v := range caps {
		names[i] = berthspecs.CapabilityName(v)
	}
	return strings.Join(names, ", ")
}
