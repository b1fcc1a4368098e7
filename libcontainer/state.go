package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/sysfile"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
)

// State is what berth keeps on disk for a container, in <root>/<id>/state.json.
// It is written once by create (atomically) and updated by start/pause.
type State struct {
	ID      string `json:"id"`
	Bundle  string `json:"bundle"`
	Rootfs  string `json:"rootfs"`
	InitPid int    `json:"init_pid"`
	// InitStart is the init's start time in clock ticks since boot
	// (/proc/<pid>/stat field 22): a pid alone could be reused.
	InitStart   uint64            `json:"init_start"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Config is the container's config as created, as JSON: delete needs
	// its hooks and exec its process defaults even if the bundle is gone.
	// It is kept as given, and decoded only by the commands that need it
	// (Container.spec), so create never encodes a Spec and state or kill
	// never decode one.
	Config json.RawMessage `json:"config"`
	// Hooks are the config's hooks: start and delete run some.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Version is the config's ociVersion, for the state output.
	Version string `json:"oci_version,omitempty"`
	// CgroupsPath is linux.cgroupsPath, to name the cgroup when reloading.
	CgroupsPath string `json:"cgroups_path,omitempty"`
	// CgroupPaths are the container's cgroup dirs, for reloading the manager.
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	// Systemd and Rootless record how the cgroup was made at create.
	Systemd  bool `json:"systemd,omitempty"`
	Rootless bool `json:"rootless,omitempty"`
	// NoNewKeyring is --no-new-keyring: exec'd processes keep the
	// caller's session keyring too.
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// HostMounts is set for a container without a mount namespace, whose
	// mounts hang under a bind of the rootfs in the host's mount table.
	HostMounts *HostMounts `json:"host_mounts,omitempty"`
}

// HostMounts identifies the bind of the rootfs that holds the mounts of a
// container without a mount namespace, by mount id.
type HostMounts struct {
	// Before is the mount the rootfs was on before create began.
	Before uint64 `json:"before"`
	// Bind is the container's bind, recorded once the init is ready; 0
	// while create runs (then any new mount at the rootfs is the bind).
	Bind uint64 `json:"bind,omitempty"`
}

// validID is runc's container id rule, ^[\w+\-.]+$ with ASCII \w, checked
// by hand so that berth does not link regexp for one pattern.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return false
		}
	}
	return true
}

func idChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '_' || c == '+' || c == '-' || c == '.'
}

// ValidateID refuses ids that are not safe as a single path element.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if len(id) > 1024 || !validID(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q: it may contain only letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

func stateDir(root, id string) string { return filepath.Join(root, id) }

// saveState writes state.json atomically (temp file, rename), so a reader
// sees the old state or the new one, never a mix, and a berth killed in the
// middle of a write leaves the old state whole (and a temp file that
// delete removes with the dir). It is not fsynced: the state describes
// processes and mounts that do not survive a reboot either (runc and crun
// do the same), and on a loaded disk an fsync costs up to tens of
// milliseconds on the start path.
func saveState(dir string, st *State) error {
	b, err := appendStateJSON(nil, st) // json.Marshal's, generated (state_gen.go)
	if err != nil {
		return err
	}
	return writeFileAtomicHook(filepath.Join(dir, stateFile), b, 0o600, func() { killPoint(StepStateTemp) })
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomicHook(path, data, mode, nil)
}

// writeFileAtomicHook is writeFileAtomic with beforeRename called once the
// temp file is complete (the crash-test hook).
func writeFileAtomicHook(path string, data []byte, mode os.FileMode, beforeRename func()) error {
	tmp, err := createTemp(path, mode)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			unix.Unlink(tmp.name)
		}
	}()
	if err := sysfile.WriteAll(tmp.fd, data); err != nil {
		unix.Close(tmp.fd)
		return fmt.Errorf("write %s: %w", tmp.name, err)
	}
	// The mode is set as asked, whatever the umask took from it at open.
	if err := unix.Fchmod(tmp.fd, uint32(mode.Perm())); err != nil {
		unix.Close(tmp.fd)
		return &os.PathError{Op: "chmod", Path: tmp.name, Err: err}
	}
	if err := unix.Close(tmp.fd); err != nil {
		return &os.PathError{Op: "close", Path: tmp.name, Err: err}
	}
	if beforeRename != nil {
		beforeRename()
	}
	if err := unix.Rename(tmp.name, path); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp.name, New: path, Err: err}
	}
	done = true
	return nil
}

type tempFile struct {
	fd   int
	name string
}

// createTemp makes ".<base>.tmp<random>" next to path (O_EXCL), as
// os.CreateTemp would, without an os.File.
func createTemp(path string, mode os.FileMode) (tempFile, error) {
	prefix := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	for try := 0; ; try++ {
		name := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(mode.Perm()))
		if err == nil {
			return tempFile{fd: fd, name: name}, nil
		}
		if err != unix.EEXIST || try == 100 {
			return tempFile{}, &os.PathError{Op: "createtemp", Path: prefix + "*", Err: err}
		}
	}
}

// ErrNotExist is returned when no container has the id.
var ErrNotExist = errors.New("container does not exist")

// ErrCorrupt is matched (errors.Is) by every CorruptStateError.
var ErrCorrupt = errors.New("corrupt state file")

// CorruptStateError is a state.json berth cannot use: not a regular file,
// empty, not the JSON of a state, another container's, or missing a field
// every state has.
type CorruptStateError struct {
	ID     string
	Path   string
	Reason string
	// partial is what decoded of a state that is this container's but
	// lacks a field: delete --force still cleans up what it names.
	partial *State
}

func (e *CorruptStateError) Error() string {
	return fmt.Sprintf("container %q: state file %s is corrupt: %s", e.ID, e.Path, e.Reason)
}

func (e *CorruptStateError) Is(target error) bool { return target == ErrCorrupt }

// maxStateSize bounds what is read of a state file: a config is a few KB,
// a large one (many mounts, a big seccomp profile) well under a megabyte.
const maxStateSize = 64 << 20

// loadState reads and checks <root>/<id>/state.json. Its writes are
// atomic, so any reader (locked or not) sees a whole file.
func loadState(root, id string) (*State, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := stateDir(root, id)
	path := filepath.Join(dir, stateFile)
	corrupt := func(format string, a ...any) error {
		return &CorruptStateError{ID: id, Path: path, Reason: fmt.Sprintf(format, a...)}
	}
	// Neither the dir nor the file is followed if it is a symlink, and a
	// fifo or device in its place is never opened for reading.
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil, &CorruptStateError{ID: id, Path: dir, Reason: "the state dir is not a directory (a symlink or a file)"}
	case err != nil:
		return nil, fmt.Errorf("container %q: opening %s: %w", id, dir, err)
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat(dirfd, stateFile, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		// A dir without state: a create still under way, or killed
		// before its first write.
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	case errors.Is(err, unix.ELOOP):
		return nil, corrupt("it is a symlink")
	case err != nil:
		return nil, fmt.Errorf("container %q: opening %s: %w", id, path, err)
	}
	defer unix.Close(fd)
	var fi unix.Stat_t
	if err := unix.Fstat(fd, &fi); err != nil {
		return nil, fmt.Errorf("container %q: stat %s: %w", id, path, err)
	}
	if fi.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, corrupt("it is not a regular file (%v)", fileType(fi.Mode))
	}
	b, err := sysfile.ReadFdStat(fd, &fi, path, maxStateSize)
	if errors.Is(err, sysfile.ErrTooLarge) {
		return nil, corrupt("larger than %d bytes", maxStateSize)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: reading %s: %w", id, path, err)
	}
	st, reason, partial := parseState(id, b)
	if reason != "" {
		return nil, &CorruptStateError{ID: id, Path: path, Reason: reason, partial: partial}
	}
	return st, nil
}

// stateKeys tells which fields a state.json has at all (a zero init_pid is
// a create under way; a missing one is not a state berth wrote).
type stateKeys struct {
	ID      *string         `json:"id"`
	InitPid *int            `json:"init_pid"`
	Config  json.RawMessage `json:"config"`
}

// parseState decodes a state file of container id and checks it. On
// failure it returns why, and the decoded state if it is id's own.
func parseState(id string, b []byte) (st *State, reason string, partial *State) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, "it is empty", nil
	}
	// The generated decoders first (state_gen.go), json.Unmarshal for
	// what they hand over.
	var s State
	if !decodeStateFast(b, &s) {
		s = State{}
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, "not the JSON of a container state: " + err.Error(), nil
		}
	}
	var has stateKeys
	if !decodeStateKeysFast(b, &has) {
		has = stateKeys{}
		if err := json.Unmarshal(b, &has); err != nil {
			return nil, "not the JSON of a container state: " + err.Error(), nil
		}
	}
	switch {
	case has.ID == nil:
		return nil, "it has no id", nil
	case s.ID != id:
		return nil, fmt.Sprintf("it is the state of container %q", s.ID), nil
	case has.InitPid == nil:
		return nil, "it has no init_pid", &s
	case s.InitPid < 0:
		return nil, fmt.Sprintf("init_pid %d is negative", s.InitPid), &s
	case len(has.Config) == 0 || string(has.Config) == "null":
		return nil, "it has no config", &s
	case has.Config[0] != '{':
		return nil, "its config is not a JSON object", &s
	}
	return &s, "", nil
}

// lockWait bounds how long a command waits for another berth process to
// finish with a container (a create runs the createRuntime hooks with the
// lock held).
const lockWait = 60 * time.Second

// errDirGone is lockDir's answer when the dir was removed (by a delete)
// before the lock was taken.
var errDirGone = errors.New("the container's state dir was removed")

// lockDir takes an flock (unix.LOCK_EX or LOCK_SH) on a container's state
// dir, so that two berth processes never change one container at once; an
// exec's shared lock only keeps a delete out. It waits at most lockWait.
// The lock is on the dir itself, checked to still be the one at dir once
// taken.
func lockDir(dir string, how int) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	deadline := time.Now().Add(lockWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
		err := unix.Flock(fd, how|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			unix.Close(fd)
			return nil, fmt.Errorf("flock %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			unix.Close(fd)
			return nil, fmt.Errorf("%s is locked by another berth process: gave up after %s", dir, lockWait)
		}
		time.Sleep(delay)
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Lstat(dir, &now); err != nil || now.Ino != held.Ino || now.Dev != held.Dev {
		unix.Close(fd)
		return nil, errDirGone
	}
	return func() { unix.Close(fd) }, nil
}

// fileType is the os.FileMode type of a stat(2) mode, for messages.
func fileType(mode uint32) os.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return os.ModeDir
	case unix.S_IFIFO:
		return os.ModeNamedPipe
	case unix.S_IFCHR:
		return os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		return os.ModeDevice
	case unix.S_IFSOCK:
		return os.ModeSocket
	case unix.S_IFLNK:
		return os.ModeSymlink
	}
	return os.ModeIrregular
}
