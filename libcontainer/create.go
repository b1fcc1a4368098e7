package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/hooks"
	"github.com/berthproject/berth/libcontainer/lsm"
	"github.com/berthproject/berth/libcontainer/rootfs"
	berthspecs "github.com/berthproject/berth/specs"
)

// CreateOpts are the inputs of `berth create` (and of `run`).
type CreateOpts struct {
	Root          string
	ID            string
	Bundle        string
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
	spec, err := berthspecs.LoadBundle(bundle)
	if err != nil {
		return nil, err
	}
	logrus.Debugf("container %s: loaded %s", o.ID, filepath.Join(bundle, "config.json"))
	if err := checkCreatable(spec, o); err != nil {
		return nil, err
	}
	// Everything that can be refused is refused before anything exists.
	if cs, err := caps.Resolve(processCaps(spec)); err != nil {
		return nil, err
	} else {
		if missing := cs.Unavailable(); len(missing) > 0 {
			logrus.Warnf("config.json: process.capabilities: capabilities %v are not in berth's own bounding set; the container runs without them", missing)
		}
		if bad := cs.UnraisableAmbient(); len(bad) > 0 {
			logrus.Warnf("config.json: process.capabilities.ambient: capabilities %v are not both permitted and inheritable; they are not raised", bad)
		}
	}
	if f, err := compileSeccomp(spec); err != nil {
		return nil, err
	} else if f != nil {
		f.Release()
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
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container with id %q already exists", o.ID)
		}
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	c = &Container{root: o.Root, dir: dir, state: &State{
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Created: time.Now(),
		Owner: owner(), Annotations: spec.Annotations, Config: spec, Systemd: o.SystemdCgroup,
		Rootless: o.Rootless,
	}}
	b := &builder{c: c, o: o, spec: spec, res: res}
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

// minInitTasks is the smallest pids limit the init runs under reliably. It
// is born in the container's cgroup and, being a Go program, has 4 or 5
// threads there (main, sysmon, a template thread, one for blocking system
// calls) until it execs the user program; under a lower limit create would
// fail at random (pthread_create: EAGAIN). Refusing says why instead.
// `update` may set any limit: by then the program runs alone.
const minInitTasks = 8

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
	if r := spec.Linux.Resources; r != nil && r.Pids != nil && r.Pids.Limit != nil {
		if l := *r.Pids.Limit; l > 0 && l < minInitTasks {
			return fmt.Errorf("config.json: linux.resources.pids.limit: %d is below %d, the tasks berth's init may need in the container's cgroup before the program starts (it is a Go program with several threads)", l, minInitTasks)
		}
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

func owner() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// builder holds what Create makes, so abort can undo exactly that.
type builder struct {
	c    *Container
	o    *CreateOpts
	spec *specs.Spec
	res  *cgroups.Resources

	cg *cgroups.Manager
	sp *spawn
}

func (b *builder) abort() {
	if b.sp != nil && b.sp.pid > 0 {
		unix.Kill(b.sp.pid, unix.SIGKILL)
		// Reap it if it is our child (or we are its subreaper).
		unix.Wait4(b.sp.pid, nil, 0, nil)
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
	cg, err := cgroups.New(cgroupOptions(c.state, b.res))
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

	sp, err := newSpawn(o.PreserveFDs)
	if err != nil {
		return err
	}
	b.sp = sp
	defer sp.close()
	fifo, err := makeExecFifo(c.dir)
	if err != nil {
		return err
	}
	cfg := &initConfig{
		Spec: spec, Rootfs: c.state.Rootfs, NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
		FifoFD: sp.addFD(fifo), ConsoleFD: -1, PreserveFDs: o.PreserveFDs,
	}
	if o.ConsoleSocket != "" {
		sock, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return err
		}
		cfg.ConsoleFD = sp.addFD(sock)
	}
	// If this process dies before the init is ready, the init dies too.
	sp.sys.Pdeathsig = unix.SIGKILL
	if err := sp.planNamespaces(spec); err != nil {
		return err
	}
	cfg.NewCgroupNS = sp.ns.newCgroupNS
	cfg.UserNS = sp.ns.userNS
	if cfg.MountSources, err = idmappedSources(spec, c.state.Bundle, sp); err != nil {
		return err
	}
	if err := cg.Create(); err != nil {
		// Create removed what it made; a cgroup that was there before
		// (with processes in it) is not ours to destroy.
		return err
	}
	b.cg = cg
	if o.Rootless {
		// Only the cgroups it could create (see cgroups.Manager.Paths).
		c.state.CgroupPaths = cg.Paths()
	}
	initPid, err := sp.start(cg, o.Subreaper, func(pid int) error { return writeIDMaps(pid, spec.Linux) })
	if err != nil {
		return err
	}
	logrus.Debugf("container %s: init pid %d in cgroup %v", o.ID, initPid, c.state.CgroupPaths)
	// In the init's network namespace before its program can run.
	if err := moveNetDevices(spec.Linux.NetDevices, initPid); err != nil {
		return err
	}
	c.state.InitPid = initPid
	if c.state.InitStart, _, err = procStat(initPid); err != nil {
		return fmt.Errorf("reading the init's start time: %w", err)
	}
	if cfg.CgroupMounts, cfg.Cgroup2Path, err = cgroupMountsFor(cg); err != nil {
		return err
	}
	hk := spec.Hooks
	cfg.RuntimeHooks = hk != nil && (len(hk.Prestart) > 0 || len(hk.CreateRuntime) > 0)
	cfg.State = c.specState(specs.StateCreating)
	err = sp.serve(cfg, func() error {
		// runtime.md counts everything after step 2 (the environment is
		// made) as created; runtime-tools expects that for prestart.
		st := c.specState(specs.StateCreated)
		if err := hooks.Run("prestart", spec.Hooks.Prestart, &st); err != nil {
			return err
		}
		st.Status = specs.StateCreating
		return hooks.Run("createRuntime", spec.Hooks.CreateRuntime, &st)
	})
	if err != nil {
		return err
	}
	if hm := c.state.HostMounts; hm != nil {
		if hm.Bind, err = rootfs.MountID(c.state.Rootfs); err != nil {
			return fmt.Errorf("root.path: %w", err)
		}
	}
	// Until this write the saved state has no init pid, which is what
	// makes the status "creating" (and a killed create recognisable).
	return saveState(c.dir, c.state)
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
	return os.OpenFile(path, unix.O_PATH|unix.O_CLOEXEC, 0)
}

// idmappedSources builds the idmapped mounts of a user-namespaced
// container here, outside its user namespace (the only place they can be
// made), and hands them to the child detached.
func idmappedSources(spec *specs.Spec, bundle string, sp *spawn) (map[int]int, error) {
	if !sp.ns.userNS {
		return nil, nil
	}
	var sources map[int]int
	for i, m := range spec.Mounts {
		if !slices.Contains(m.Options, "idmap") && !slices.Contains(m.Options, "ridmap") {
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

// serveChild sends the config to an init or exec process and answers it
// until it reports ready. onMounted runs the runtime's hooks between the
// child's mounts and its pivot_root.
func serveChild(sock *syncSocket, cfg *initConfig, onMounted func() error) error {
	if err := sock.send(&syncMsg{Type: syncConfig, Config: cfg}); err != nil {
		// The child may have failed first (e.g. joining a namespace):
		// its own message says why.
		if _, _, rerr := sock.recv(); rerr != nil && !errors.Is(rerr, errEOF) {
			return rerr
		}
		return fmt.Errorf("sending the config to berth init: %w", err)
	}
	for {
		m, fd, err := sock.recv()
		if err != nil {
			if errors.Is(err, errEOF) {
				return errors.New("berth init exited during setup")
			}
			return err
		}
		switch m.Type {
		case syncMounted:
			if err := onMounted(); err != nil {
				return err
			}
			if err := sock.send(&syncMsg{Type: syncHooksDone}); err != nil {
				return err
			}
		case syncSeccompFD:
			if fd < 0 {
				return errors.New("berth init sent no seccomp listener fd")
			}
			if err := sendSeccompListener(cfg.Spec, fd, cfg.State); err != nil {
				return err
			}
			if err := sock.send(&syncMsg{Type: syncSeccompAck}); err != nil {
				return err
			}
		case syncReady:
			return nil
		default:
			return fmt.Errorf("unexpected message %q from berth init", m.Type)
		}
	}
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
