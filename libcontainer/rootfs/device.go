package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are created in every container /dev that the runtime sets
// up (runtime-spec "Default Devices"); linux.devices entries with the same
// path replace them.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// needsDevSetup reports whether the runtime owns /dev: it does unless /dev
// is bind-mounted from somewhere (then its content is the caller's), as in
// runc.
func needsDevSetup(mounts []specs.Mount) bool {
	for _, m := range mounts {
		if path.Clean("/"+m.Destination) != "/dev" {
			continue
		}
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				return false
			}
		}
	}
	return true
}

// devSymlinks are the /dev entries that point into /proc.
var devSymlinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// setupDev creates the default and configured device nodes, the
// /dev/ptmx -> pts/ptmx symlink and the /dev/fd, stdio and core symlinks.
func setupDev(c *Config, root *os.File) error {
	dev, err := mkdirInRoot(root, "/dev")
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer dev.Close()

	// Device modes must be exactly as configured.
	oldMask := unix.Umask(0)
	defer unix.Umask(oldMask)

	d := &devMaker{root: root, userNS: c.UserNS, dirs: map[string]*os.File{"/dev": dev}}
	defer d.close()
	configured := map[string]bool{}
	for _, dv := range c.linux().Devices {
		configured[path.Clean(dv.Path)] = true
	}
	for _, dv := range defaultDevices {
		if configured[dv.Path] {
			continue
		}
		mode := os.FileMode(0o666)
		dv.FileMode = &mode
		if err := d.create(dv); err != nil {
			return fmt.Errorf("default device %s: %w", dv.Path, err)
		}
	}
	for i, dv := range c.linux().Devices {
		if err := d.create(dv); err != nil {
			return fmt.Errorf("linux.devices[%d] (path %q): %w", i, dv.Path, err)
		}
	}

	_, err = replaceAt(dev, "ptmx", func() (*os.File, error) {
		return nil, unix.Symlinkat("pts/ptmx", int(dev.Fd()), "ptmx")
	})
	if err != nil {
		return fmt.Errorf("/dev/ptmx: symlink: %w", err)
	}
	links := devSymlinks
	// Like runc, only offer /dev/core when the kernel has /proc/kcore
	// (CONFIG_PROC_KCORE). The container's /proc is not there yet, so the
	// host's answers; it is the same kernel.
	if _, err := os.Lstat("/proc/kcore"); err == nil {
		links = append(links[:len(links):len(links)], [2]string{"core", "/proc/kcore"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[1], int(dev.Fd()), l[0]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("/dev/%s: symlink: %w", l[0], err)
		}
	}
	return nil
}

// devMaker creates device nodes, caching the handles of their directories
// (usually just /dev).
type devMaker struct {
	root   *os.File
	userNS bool
	dirs   map[string]*os.File
}

func (d *devMaker) close() {
	for p, f := range d.dirs {
		if p != "/dev" { // owned by setupDev
			f.Close()
		}
	}
}

func (d *devMaker) dir(p string) (*os.File, error) {
	if f, ok := d.dirs[p]; ok {
		return f, nil
	}
	f, err := mkdirInRoot(d.root, p)
	if err != nil {
		return nil, err
	}
	d.dirs[p] = f
	return f, nil
}

func (d *devMaker) create(dv specs.LinuxDevice) error {
	if !path.IsAbs(dv.Path) || path.Clean(dv.Path) == "/" {
		return fmt.Errorf("path must be an absolute file path")
	}
	var typ uint32
	switch dv.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("type %q: must be c, u, b or p", dv.Type)
	}
	perm := uint32(0o666)
	if dv.FileMode != nil {
		perm = uint32(*dv.FileMode & 0o7777)
	}
	p := path.Clean(dv.Path)
	dir, err := d.dir(path.Dir(p))
	if err != nil {
		return err
	}
	name := path.Base(p)
	if d.userNS && typ != unix.S_IFIFO {
		// mknod of devices is not allowed in a user namespace: bind the
		// host's node over an empty file instead. Its owner stays the host's.
		f, err := replaceAt(dir, name, func() (*os.File, error) { return createAt(dir, name, 0) })
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Mount(p, procFd(int(f.Fd())), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind host %s: %w", p, err)
		}
		return nil
	}
	_, err = replaceAt(dir, name, func() (*os.File, error) {
		return nil, unix.Mknodat(int(dir.Fd()), name, typ|perm, int(unix.Mkdev(uint32(dv.Major), uint32(dv.Minor))))
	})
	if err != nil {
		return fmt.Errorf("mknod: %w", unwrapErrno(err))
	}
	uid, gid := uint32(0), uint32(0)
	if dv.UID != nil {
		uid = *dv.UID
	}
	if dv.GID != nil {
		gid = *dv.GID
	}
	if uid != 0 || gid != 0 {
		if err := unix.Fchownat(int(dir.Fd()), name, int(uid), int(gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
		}
	}
	return nil
}

// replaceAt runs create, which makes name in dir; if name exists, whatever
// the image had there (maybe a look-alike regular file) is removed and
// create runs again. Trying first saves a syscall on a fresh /dev.
func replaceAt(dir *os.File, name string, create func() (*os.File, error)) (*os.File, error) {
	f, err := create()
	if !errors.Is(err, unix.EEXIST) {
		return f, err
	}
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
		return nil, fmt.Errorf("remove existing %s: %w", name, err)
	}
	return create()
}
