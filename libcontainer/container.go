package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/sysfile"
	berthspecs "github.com/berthproject/berth/specs"
)

// Container is a container known to the runtime: its state on disk and the
// root directory that holds it.
type Container struct {
	root  string
	dir   string
	state *State
	// config is state.Config decoded (see spec).
	config *specs.Spec
}

// Load reads the container id under root. Commands that change the
// container read its state again once they hold its lock (see lock): what
// Load returns is only for reading.
func Load(root, id string) (*Container, error) {
	st, err := loadState(root, id)
	if err != nil {
		return nil, err
	}
	return newContainer(root, st), nil
}

func newContainer(root string, st *State) *Container {
	c := &Container{root: root, dir: stateDir(root, st.ID), state: st}
	if st.Version == "" && len(st.Config) > 0 {
		// A state written before berth kept these beside the config.
		if spec, err := c.spec(); err == nil {
			st.Version, st.Hooks, st.CgroupsPath = spec.Version, spec.Hooks, spec.Linux.CgroupsPath
		}
	}
	return c
}

// lock takes the container's lock (unix.LOCK_EX to change it, LOCK_SH to
// keep a delete out) and then reads its state again, so every change is
// lock, load, change, save: nothing another berth process saved meanwhile
// is lost, and a container deleted meanwhile is reported as gone.
func (c *Container) lock(how int) (unlock func(), err error) {
	id := c.state.ID
	unlock, err = lockDir(c.dir, how)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, errDirGone) {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	st, err := loadState(c.root, id)
	if err != nil {
		unlock()
		return nil, err
	}
	*c = *newContainer(c.root, st)
	return unlock, nil
}

// ID returns the container's id.
func (c *Container) ID() string { return c.state.ID }

// Config returns the config the container was created with, or nil if its
// state holds none that decodes.
func (c *Container) Config() *specs.Spec {
	spec, _ := c.spec()
	return spec
}

// Spec returns the config the container was created with, or why its
// state holds none that decodes.
func (c *Container) Spec() (*specs.Spec, error) { return c.spec() }

// spec decodes the config kept in the state, once.
func (c *Container) spec() (*specs.Spec, error) {
	if c.config != nil {
		return c.config, nil
	}
	if len(c.state.Config) == 0 {
		return nil, fmt.Errorf("container %q: %s has no config", c.state.ID, filepath.Join(c.dir, stateFile))
	}
	var spec specs.Spec
	if err := berthspecs.UnmarshalSpec(c.state.Config, &spec); err != nil {
		return nil, fmt.Errorf("container %q: the config in %s: %w", c.state.ID, filepath.Join(c.dir, stateFile), err)
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	c.config = &spec
	return c.config, nil
}

// setSpec keeps spec as the container's config, in the state too.
func (c *Container) setSpec(spec *specs.Spec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	c.state.Config, c.state.Version, c.config = b, spec.Version, spec
	return nil
}

// InitPid returns the pid of the container's init (its user process).
func (c *Container) InitPid() int { return c.state.InitPid }

// Status derives the container's status from the kernel and the exec fifo,
// so it can never go stale.
func (c *Container) Status() specs.ContainerState {
	if c.state.InitPid == 0 {
		return specs.StateCreating
	}
	if !c.initAlive() {
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return specs.StateCreated
	}
	if c.paused() {
		return "paused"
	}
	return specs.StateRunning
}

// initAlive reports whether the init is still the same live process (not a
// zombie, not a reused pid).
func (c *Container) initAlive() bool {
	start, zombie, err := procStat(c.state.InitPid)
	return err == nil && !zombie && start == c.state.InitStart
}

// initEnding reports whether the init is gone or on its way out: a zombie,
// a reused pid, or a process in exit (PF_EXITING), where an init of a pid
// namespace stays until the kernel has killed and reaped the rest of it.
// Then the namespace takes no new process and its cgroup is being emptied.
func (c *Container) initEnding() bool {
	start, zombie, flags, err := procStatFlags(c.state.InitPid)
	return err != nil || zombie || start != c.state.InitStart || flags&pfExiting != 0
}

// pfExiting is the kernel's PF_EXITING task flag (include/linux/sched.h).
const pfExiting = 0x4

// procStat reads a process's start time and whether it is a zombie from
// /proc/<pid>/stat.
func procStat(pid int) (start uint64, zombie bool, err error) {
	start, zombie, _, err = procStatFlags(pid)
	return start, zombie, err
}

// procStatFlags is procStat with the task flags (field 9) too.
func procStatFlags(pid int) (start uint64, zombie bool, flags uint64, err error) {
	b, err := sysfile.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, 0, err
	}
	// The command name is in parentheses and may contain anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, 0, errors.New("malformed stat")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); the flags are field 9, the start
	// time field 22.
	if len(fields) < 20 {
		return 0, false, 0, errors.New("malformed stat")
	}
	if flags, err = strconv.ParseUint(string(fields[6]), 10, 64); err != nil {
		return 0, false, 0, errors.New("malformed stat")
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	return start, fields[0][0] == 'Z' || fields[0][0] == 'X', flags, err
}

// OCIState is the output of `berth state`: the runtime-spec state plus
// runc's extra fields, which tools such as podman read.
type OCIState struct {
	specs.State
	Rootfs  string `json:"rootfs"`
	Created string `json:"created"`
	Owner   string `json:"owner"`
}

// OCIState returns the container's state as `berth state` prints it.
func (c *Container) OCIState() *OCIState {
	st := c.specState(c.Status())
	if st.Status == specs.StateStopped {
		st.Pid = 0
	}
	return &OCIState{
		State:   st,
		Rootfs:  c.state.Rootfs,
		Created: c.state.Created.UTC().Format("2006-01-02T15:04:05.999999999Z"),
		Owner:   c.state.Owner,
	}
}

// Owner is the user who owns the container's state dir, as `list`
// shows it: computed when asked, as runc does, so create reads no
// /etc/passwd. States written before berth stopped recording it keep theirs.
func (c *Container) Owner() string {
	if c.state.Owner != "" {
		return c.state.Owner
	}
	var st unix.Stat_t
	if err := unix.Stat(c.dir, &st); err != nil {
		return ""
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "#" + uid
}

func (c *Container) specState(status specs.ContainerState) specs.State {
	version := specs.Version
	if c.state.Version != "" {
		version = c.state.Version
	}
	return specs.State{
		Version:     version,
		ID:          c.state.ID,
		Status:      status,
		Pid:         c.state.InitPid,
		Bundle:      c.state.Bundle,
		Annotations: c.state.Annotations,
	}
}

// List returns the containers under root, sorted by id.
func List(root string) ([]*Container, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			// A container whose create is still running has no state
			// yet; it is not listed.
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// signalInit sends sig to the init through a pidfd, so a reused pid can
// never receive it.
func (c *Container) signalInit(sig unix.Signal) error {
	pidfd, err := unix.PidfdOpen(c.state.InitPid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return fmt.Errorf("container %q is not running", c.state.ID)
		}
		return fmt.Errorf("pidfd_open %d: %w", c.state.InitPid, err)
	}
	defer unix.Close(pidfd)
	if !c.initAlive() {
		return fmt.Errorf("container %q is not running", c.state.ID)
	}
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %d to pid %d: %w", sig, c.state.InitPid, err)
	}
	return nil
}
