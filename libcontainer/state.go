package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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

// validID matches runc's container id rule.
var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// ValidateID refuses ids that are not safe as a single path element.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if len(id) > 1024 || !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q: it may contain only letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

func stateDir(root, id string) string { return filepath.Join(root, id) }

// saveState writes state.json atomically (temp file, rename), so a reader
// sees the old state or the new one, never a mix. It is not fsynced: the
// state describes processes and mounts that do not survive a reboot
// either (runc and crun do the same), and on a loaded disk an fsync costs
// up to tens of milliseconds on the start path.
func saveState(dir string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b, 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrNotExist is returned when no container has the id.
var ErrNotExist = errors.New("container does not exist")

func loadState(root, id string) (*State, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(stateDir(root, id), stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("container %q: corrupt %s: %w", id, filepath.Join(stateDir(root, id), stateFile), err)
	}
	return &st, nil
}

// lockDir takes an exclusive flock on the container's state dir, so that
// two berth processes never act on one container at once.
func lockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { unix.Close(fd) }, nil
}
