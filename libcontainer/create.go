package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/caps"
	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/console"
	"github.com/berthproject/berth/libcontainer/hooks"
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
	if _, err := caps.Resolve(spec.Process.Capabilities); err != nil {
		return nil, err
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

// checkCreatable refuses configs berth cannot run, with the field's path.
func checkCreatable(spec *specs.Spec, o *CreateOpts) error {
	if spec.Process == nil {
		return errors.New("config.json: process: required to create a container")
	}
	if spec.Linux == nil {
		return errors.New("config.json: linux: required on Linux")
	}
	hasMountNS := false
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.MountNamespace {
			hasMountNS = true
		}
	}
	if !hasMountNS {
		return errors.New("config.json: linux.namespaces: a mount namespace is required (berth sets up the rootfs in it)")
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" {
		return errors.New("config.json: process.terminal is true: a --console-socket is required to receive the terminal")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return errors.New("--console-socket given but config.json: process.terminal is false")
	}
	return nil
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

	cg       *cgroups.Manager
	cmd      *exec.Cmd
	initPid  int
	sock     *syncSocket
	closers  []*os.File
	childEnd *os.File
}

func (b *builder) abort() {
	if b.initPid > 0 {
		unix.Kill(b.initPid, unix.SIGKILL)
	}
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	}
	if b.initPid > 0 && b.initPid != b.cmdPid() {
		// Reap it if we are its subreaper; otherwise init does.
		unix.Wait4(b.initPid, nil, unix.WNOHANG, nil)
	}
	if b.cg != nil {
		destroyCgroup(b.cg)
	}
	os.RemoveAll(b.c.dir)
}

func (b *builder) cmdPid() int {
	if b.cmd != nil && b.cmd.Process != nil {
		return b.cmd.Process.Pid
	}
	return 0
}

func (b *builder) build() error {
	defer func() {
		for _, f := range b.closers {
			f.Close()
		}
	}()
	spec, o, c := b.spec, b.o, b.c

	fifo := filepath.Join(c.dir, fifoName)
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return fmt.Errorf("mkfifo %s: %w", fifo, err)
	}
	// Writable by any user, whatever the umask: the init opens it after
	// switching to process.user (which may be unmapped on the host).
	if err := unix.Chmod(fifo, 0o622); err != nil {
		return err
	}
	fifoFile, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, fifoFile)

	cg, err := cgroups.New(cgroupOptions(o.ID, spec, b.res, o.SystemdCgroup))
	if err != nil {
		return err
	}
	b.cg = cg
	c.state.CgroupPaths = cg.Paths()
	// Written before the init exists, so a berth killed from here on
	// leaves state that `delete --force` can clean up.
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}

	parentEnd, childEnd, err := newSyncPair()
	if err != nil {
		return err
	}
	b.sock = &syncSocket{f: parentEnd}
	b.closers = append(b.closers, parentEnd, childEnd)

	cmd := exec.Command("/proc/self/exe", "init")
	cmd.Args[0] = "berth"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Preserved fds keep their numbers: 3, 4, ... come first.
	for i := 0; i < o.PreserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	addFD := func(f *os.File) int {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		return 2 + len(cmd.ExtraFiles)
	}
	syncFD := addFD(childEnd)
	cfg := &initConfig{
		Spec: spec, Rootfs: c.state.Rootfs, NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
		FifoFD: addFD(fifoFile), ConsoleFD: -1, PreserveFDs: o.PreserveFDs,
	}
	if o.ConsoleSocket != "" {
		sock, err := console.Dial(o.ConsoleSocket)
		if err != nil {
			return err
		}
		b.closers = append(b.closers, sock)
		cfg.ConsoleFD = addFD(sock)
	}
	cmd.Env = initEnv(syncFD)
	// If this process dies before the init is ready, the init dies too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}

	nsp, err := planNamespaces(spec, func(f *os.File) int { b.closers = append(b.closers, f); return addFD(f) })
	if err != nil {
		return err
	}
	cfg.NewCgroupNS = nsp.newCgroupNS
	cfg.UserNS = nsp.userNS
	if nsp.userNS {
		// Idmapped mounts can only be made outside the container's user
		// namespace: make them here, detached, and hand them over.
		for i, m := range spec.Mounts {
			if !slices.Contains(m.Options, "idmap") && !slices.Contains(m.Options, "ridmap") {
				continue
			}
			f, err := rootfs.PrepareMountSource(spec, c.state.Bundle, i)
			if err != nil {
				return err
			}
			b.closers = append(b.closers, f)
			if cfg.MountSources == nil {
				cfg.MountSources = map[int]int{}
			}
			cfg.MountSources[i] = addFD(f)
		}
	}
	if nsp.plan.Empty() {
		cmd.SysProcAttr.Cloneflags = nsp.cloneFlags
		if nsp.cloneFlags&unix.CLONE_NEWUSER != 0 {
			cmd.SysProcAttr.UidMappings = toSysMaps(spec.Linux.UIDMappings)
			cmd.SysProcAttr.GidMappings = toSysMaps(spec.Linux.GIDMappings)
			cmd.SysProcAttr.GidMappingsEnableSetgroups = true
			// Become the namespace's root before exec, or the init
			// would start as the overflow uid without capabilities.
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
		}
	} else {
		cmd.Env = append(cmd.Env, nsp.plan.Env(syncFD)...)
	}
	if o.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	b.cmd = cmd
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the container init: %w", err)
	}
	childEnd.Close()
	b.initPid = cmd.Process.Pid
	if nsp.forks || nsp.usermap {
		pid, err := b.sock.nsenterStage(func() error { return writeIDMaps(cmd.Process.Pid, spec.Linux) }, nsp.forks)
		if err != nil {
			return err
		}
		if nsp.forks {
			b.initPid = pid
			// The intermediate exits once it has forked the init.
			cmd.Wait()
		}
	}
	if err := cg.Apply(b.initPid); err != nil {
		return err
	}
	logrus.Debugf("container %s: init pid %d in cgroup %v", o.ID, b.initPid, c.state.CgroupPaths)
	c.state.InitPid = b.initPid
	if c.state.InitStart, _, err = procStat(b.initPid); err != nil {
		return fmt.Errorf("reading the init's start time: %w", err)
	}
	if err := saveState(c.dir, c.state); err != nil {
		return err
	}
	if cfg.CgroupMounts, cfg.Cgroup2Path, err = cgroupMountsFor(cg); err != nil {
		return err
	}
	hk := spec.Hooks
	cfg.RuntimeHooks = hk != nil && (len(hk.Prestart) > 0 || len(hk.CreateRuntime) > 0)
	cfg.State = c.specState(specs.StateCreating)
	if err := b.sock.send(&syncMsg{Type: syncConfig, Config: cfg}); err != nil {
		// The init may have failed first (e.g. joining a namespace):
		// its own message says why.
		if _, _, rerr := b.sock.recv(); rerr != nil && !errors.Is(rerr, errEOF) {
			return rerr
		}
		return fmt.Errorf("sending the config to the init: %w", err)
	}
	return b.serveInit()
}

// serveInit answers the init until it reports ready.
func (b *builder) serveInit() error {
	spec, st := b.spec, b.c.specState(specs.StateCreating)
	for {
		m, fd, err := b.sock.recv()
		if err != nil {
			if errors.Is(err, errEOF) {
				return errors.New("the container init exited during setup")
			}
			return err
		}
		switch m.Type {
		case syncMounted:
			if err := hooks.Run("prestart", spec.Hooks.Prestart, &st); err != nil {
				return err
			}
			if err := hooks.Run("createRuntime", spec.Hooks.CreateRuntime, &st); err != nil {
				return err
			}
			if err := b.sock.send(&syncMsg{Type: syncHooksDone}); err != nil {
				return err
			}
		case syncSeccompFD:
			if fd < 0 {
				return errors.New("the init sent no seccomp listener fd")
			}
			if err := sendSeccompListener(spec, fd, st); err != nil {
				return err
			}
			if err := b.sock.send(&syncMsg{Type: syncSeccompAck}); err != nil {
				return err
			}
		case syncReady:
			return nil
		default:
			return fmt.Errorf("unexpected message %q from the init", m.Type)
		}
	}
}

func toSysMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
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
	return write("gid_map", linux.GIDMappings, "gidMappings")
}
