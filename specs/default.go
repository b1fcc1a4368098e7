package specs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Default returns the starter config `berth spec` writes. It has the content
// of `runc spec` (a read-only rootfs, "sh" on a terminal, three
// capabilities, NOFILE 1024, no_new_privs, the usual /proc, /dev, /sys
// mounts, masked and read-only /proc and /sys paths, and new pid, network,
// ipc, uts and mount namespaces), with these deliberate differences:
//   - ociVersion is the runtime-spec version this build implements (1.3.0);
//   - the hostname is "berth", not "runc";
//   - no ambient capabilities (runc 1.1 granted the three as ambient too;
//     runc 1.2 dropped them);
//   - /sys/devices/virtual/tpm is masked as well (as runc 1.2 does).
//
// Unlike runc, it never adds a cgroup namespace depending on the host's
// cgroup mode: the same berth writes the same file everywhere.
func Default() *rspec.Spec {
	caps := func() []string {
		return []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	}
	return &rspec.Spec{
		Version: rspec.Version,
		Root: &rspec.Root{
			Path:     "rootfs",
			Readonly: true,
		},
		Process: &rspec.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &rspec.LinuxCapabilities{
				Bounding:  caps(),
				Effective: caps(),
				Permitted: caps(),
			},
			Rlimits: []rspec.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024},
			},
			NoNewPrivileges: true,
		},
		Hostname: "berth",
		Mounts: []rspec.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &rspec.Linux{
			Resources: &rspec.LinuxResources{
				Devices: []rspec.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []rspec.LinuxNamespace{
				{Type: rspec.PIDNamespace},
				{Type: rspec.NetworkNamespace},
				{Type: rspec.IPCNamespace},
				{Type: rspec.UTSNamespace},
				{Type: rspec.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
				"/sys/devices/virtual/tpm",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
}

// DefaultRootless returns the config `berth spec --rootless` writes: Default
// changed the way `runc spec --rootless` changes it, mapping root in a new
// user namespace to the caller's effective user and group.
func DefaultRootless() *rspec.Spec {
	spec := Default()
	makeRootless(spec, uint32(os.Geteuid()), uint32(os.Getegid()))
	return spec
}

// makeRootless adapts a spec to a runtime without privileges on the host:
// a user namespace mapping container root to uid/gid, no network
// namespace (an unprivileged user could not configure it), /sys bound from
// the host (sysfs cannot be mounted without owning a network namespace),
// no uid=/gid= mount options (the IDs are not mapped), and no cgroup
// settings (the cgroups are not writable).
func makeRootless(spec *rspec.Spec, uid, gid uint32) {
	var nss []rspec.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != rspec.NetworkNamespace && ns.Type != rspec.UserNamespace {
			nss = append(nss, ns)
		}
	}
	spec.Linux.Namespaces = append(nss, rspec.LinuxNamespace{Type: rspec.UserNamespace})
	spec.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
	spec.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}

	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if filepath.Clean(m.Destination) == "/sys" {
			*m = rspec.Mount{Destination: "/sys", Type: "none", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			continue
		}
		var opts []string
		for _, o := range m.Options {
			if !strings.HasPrefix(o, "uid=") && !strings.HasPrefix(o, "gid=") {
				opts = append(opts, o)
			}
		}
		m.Options = opts
	}
	spec.Linux.Resources = nil
}

// WriteSpec writes spec as indented JSON to path, atomically: readers see
// either no file or the whole file. Like `runc spec` it refuses to replace
// anything already at path, including a dangling symlink (which runc would
// follow and write through), with runc's message:
// "File config.json exists. Remove it first". The mode is 0666 less the
// umask, as runc's.
func WriteSpec(path string, spec *rspec.Spec) error {
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	data = append(data, '\n')

	tmp, f, err := createTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful link, only the temporary name goes
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// link(2), unlike rename(2), fails if the target exists, so a file
	// created since the Lstat above is not replaced either.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func existsError(path string) error {
	// runc's exact message, capital letter and all.
	return fmt.Errorf("File %s exists. Remove it first", path)
}

// createTemp creates a new file next to path. Unlike os.CreateTemp it uses
// mode 0666 (less the umask), so the linked result has runc's mode.
func createTemp(path string) (string, *os.File, error) {
	for range 100 {
		tmp := fmt.Sprintf("%s.%d-%d.tmp", path, os.Getpid(), rand.Uint32())
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("writing %s: %w", path, err)
		}
		return tmp, f, nil
	}
	return "", nil, fmt.Errorf("writing %s: could not create a temporary file", path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
