package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/lsm"
)

// Prepare sets up the container's mounts under c.Rootfs, in the order of the
// spec, and populates /dev. It must run in the container's new mount
// namespace, before Pivot.
func Prepare(c *Config) error {
	if c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !filepath.IsAbs(c.Rootfs) {
		return fmt.Errorf("root.path: %q is not an absolute path", c.Rootfs)
	}
	if err := prepareRoot(c); err != nil {
		return err
	}
	root, err := os.OpenFile(c.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("root.path: %w", err)
	}
	defer root.Close()

	m := &mounter{c: c, root: root}
	defer m.close()
	for i := range c.Spec.Mounts {
		if err := m.mount(i); err != nil {
			return err
		}
	}
	if needsDevSetup(c.Spec.Mounts) {
		return setupDev(c, root)
	}
	return nil
}

// rootPropagation maps linux.rootfsPropagation to mount(2) flags; 0 means
// the spec leaves it unset.
func rootPropagation(c *Config) (uintptr, error) {
	v := c.linux().RootfsPropagation
	if v == "" {
		return 0, nil
	}
	p, ok := propagationOptions[v]
	if !ok {
		return 0, fmt.Errorf("linux.rootfsPropagation: unknown value %q", v)
	}
	if p.recursive {
		return p.flag | unix.MS_REC, nil
	}
	return p.flag, nil
}

// prepareRoot stops our mounts from propagating to the host (rslave unless
// the spec asks otherwise, as runc does) and turns the rootfs into a mount
// point of its own, which pivot_root requires. Without a mount namespace
// of its own the container gets a private bind of the rootfs instead, and
// the host's "/" is left alone (hostns.go).
func prepareRoot(c *Config) error {
	if c.HostMountNS {
		return bindPrivateRoot(c.Rootfs)
	}
	prop, err := rootPropagation(c)
	if err != nil {
		return err
	}
	flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
	// Unbindable would forbid the bind mounts below; it is applied to the
	// new root after the pivot instead.
	if prop != 0 && prop&unix.MS_UNBINDABLE == 0 {
		flag = prop
	}
	if err := unix.Mount("", "/", "", flag, ""); err != nil {
		return fmt.Errorf("linux.rootfsPropagation: make / %s: %w", propagationName(flag), err)
	}
	if flag&unix.MS_SHARED != 0 {
		// pivot_root refuses a new root whose parent mount is shared, and
		// our bind of the rootfs must not propagate to the host.
		if err := makeParentPrivate(c.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("root.path: bind %q onto itself: %w", c.Rootfs, err)
	}
	return nil
}

func propagationName(flag uintptr) string {
	for name, p := range propagationOptions {
		if p.flag == flag&^unix.MS_REC && p.recursive == (flag&unix.MS_REC != 0) {
			return name
		}
	}
	return fmt.Sprintf("%#x", flag)
}

// makeParentPrivate makes the mount containing dir private if it is shared.
func makeParentPrivate(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(dir))
	if err != nil {
		return fmt.Errorf("root.path: reading mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, mi := range mounts {
		if parent == nil || len(mi.Mountpoint) > len(parent.Mountpoint) {
			parent = mi
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("root.path: make parent mount %q private: %w", parent.Mountpoint, err)
	}
	return nil
}

// mounter carries the state shared by the mounts of one Prepare call.
type mounter struct {
	c    *Config
	root *os.File
	// idmaps caches the user namespaces created for idmapped mounts, keyed
	// by their mapping, so that mounts sharing a mapping share a namespace.
	idmaps usernsCache
}

func (m *mounter) close() { m.idmaps.close() }

func (m *mounter) mount(i int) error {
	sm := m.c.Spec.Mounts[i]
	if sm.Destination == "" {
		return fmt.Errorf("mounts[%d].destination: empty", i)
	}
	opts, err := parseSpecMountOptions(sm)
	if err != nil {
		return mountError(i, sm.Destination, "%w", err)
	}
	if opts.bind {
		err = m.bindMount(i, sm, opts)
	} else {
		err = m.fsMount(i, sm, opts)
	}
	if err != nil {
		return mountError(i, sm.Destination, "%w", err)
	}
	return nil
}

// bindMount attaches the source tree (see sourceTree) at the destination.
func (m *mounter) bindMount(i int, sm specs.Mount, opts *mountOptions) error {
	if opts.flags&unix.MS_REMOUNT != 0 {
		return m.remountBind(sm, opts)
	}
	var tree *os.File
	if fd, ok := m.c.MountSources[i]; ok {
		tree = os.NewFile(uintptr(fd), sm.Source)
	} else {
		if opts.idmap && m.c.UserNS {
			// Maps written from inside the container's user namespace
			// would be relative to it, not to the host as the spec means.
			return errors.New("idmapped mounts in a user namespace must be made by the runtime (PrepareMountSource, Config.MountSources)")
		}
		var err error
		if tree, err = sourceTree(sm, m.c.Bundle, opts, &m.idmaps); err != nil {
			return err
		}
	}
	defer tree.Close()
	dir, err := isDir(tree)
	if err != nil {
		return fmt.Errorf("mount source %q: %w", sm.Source, err)
	}
	var target *os.File
	if dir {
		target, err = mkdirInRoot(m.root, sm.Destination)
	} else {
		target, _, err = fileInRoot(m.root, sm.Destination)
	}
	if err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	defer target.Close()
	if err := checkProcDestination(target, sm.Destination, true); err != nil {
		return err
	}
	return attachTree(tree, target, opts)
}

// remountBind handles "bind,remount": like mount -o remount,bind it changes
// the per-mount attributes of the mount already at the destination.
func (m *mounter) remountBind(sm specs.Mount, opts *mountOptions) error {
	if opts.idmap {
		return errors.New("idmap cannot be applied by a remount")
	}
	mnt, err := openInRoot(m.root, sm.Destination, 0)
	if err != nil {
		return err
	}
	defer mnt.Close()
	if err := setattr(mnt, false, mountAttrFromFlags(opts.flags, opts.cleared)); err != nil {
		return err
	}
	if err := setattr(mnt, true, opts.recAttr); err != nil {
		return err
	}
	return setPropagation(mnt, opts)
}

// sourceTree clones the source with open_tree(2) and applies every
// attribute to the detached copy: nothing is ever visible half-set, and the
// source's attributes that the options do not mention are kept, as the
// kernel demands for locked flags in user namespaces.
func sourceTree(sm specs.Mount, bundle string, opts *mountOptions, idmaps *usernsCache) (*os.File, error) {
	src := sm.Source
	if !filepath.IsAbs(src) && bundle != "" {
		src = filepath.Join(bundle, src)
	}
	tree, err := openTree(src, opts.recursive)
	if err != nil {
		return nil, fmt.Errorf("mount source %q: %w", sm.Source, unwrapErrno(err))
	}
	top := mountAttrFromFlags(opts.flags, opts.cleared)
	rec := opts.recAttr
	if opts.idmap {
		userns, err := idmaps.get(sm)
		if err != nil {
			tree.Close()
			return nil, err
		}
		a := &top
		if opts.recIdmap {
			a = &rec
		}
		a.Attr_set |= unix.MOUNT_ATTR_IDMAP
		a.Userns_fd = uint64(userns)
	}
	// Non-recursive options first, then recursive ones, like runc: "rro"
	// wins over "rw" on submounts.
	if err = setattr(tree, false, top); err == nil {
		err = setattr(tree, true, rec)
	}
	if err != nil {
		tree.Close()
		return nil, err
	}
	return tree, nil
}

// openTree returns a detached clone of the mount tree at path.
func openTree(path string, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// attachTree moves the detached tree onto target and applies the
// propagation options, which only make sense on an attached mount.
func attachTree(tree, target *os.File, opts *mountOptions) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(target.Fd()), "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return setPropagation(tree, opts)
}

// bindPath bind-mounts the host path src onto target with opts (which
// must not ask for an idmapping).
func bindPath(src string, target *os.File, opts *mountOptions) error {
	tree, err := sourceTree(specs.Mount{Source: src}, "", opts, nil)
	if err != nil {
		return err
	}
	defer tree.Close()
	return attachTree(tree, target, opts)
}

// setPropagation applies propagation options to the mount f is the root of.
func setPropagation(f *os.File, opts *mountOptions) error {
	if opts.propagation != 0 {
		if err := setattr(f, false, unix.MountAttr{Propagation: uint64(opts.propagation)}); err != nil {
			return err
		}
	}
	if opts.recPropagation != 0 {
		return setattr(f, true, unix.MountAttr{Propagation: uint64(opts.recPropagation)})
	}
	return nil
}

// setattr is mount_setattr(2) on the mount f is the root of; a no-op for
// an empty attr.
func setattr(f *os.File, recursive bool, attr unix.MountAttr) error {
	if attr == (unix.MountAttr{}) {
		return nil
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(f.Fd()), "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr(set=%#x clr=%#x propagation=%#x recursive=%v): %w",
			attr.Attr_set, attr.Attr_clr, attr.Propagation, recursive, err)
	}
	return nil
}

// userNSFallbacks are the host paths bind-mounted in place of a filesystem
// that a user namespace may not mount without the matching namespace (sysfs
// needs a network namespace, mqueue an IPC one), as runc does.
var userNSFallbacks = map[string]string{
	"sysfs":  "/sys",
	"mqueue": "/dev/mqueue",
}

// fsMount mounts a new filesystem instance (proc, tmpfs, devpts, ...).
func (m *mounter) fsMount(i int, sm specs.Mount, opts *mountOptions) error {
	if sm.Type == "" || sm.Type == "none" {
		return errors.New("type is required for a mount that is not a bind mount")
	}
	target, existed, err := dirInRoot(m.root, sm.Destination)
	if err != nil {
		return fmt.Errorf("create mount point: %w", err)
	}
	defer target.Close()
	if err := checkProcDestination(target, sm.Destination, false); err != nil {
		return err
	}
	label := m.c.linux().MountLabel
	if label != "" && !uncontextedFS[sm.Type] {
		opts.data = append(opts.data, lsm.MountContext(label))
	}
	switch sm.Type {
	case "cgroup":
		return m.cgroupMount(target, sm, opts)
	case "tmpfs":
		if opts.tmpcopyup {
			return m.tmpcopyup(target, existed, sm, opts)
		}
		if existed && !opts.hasData("mode") {
			// Keep the mode of the directory it covers (e.g. /tmp's 1777).
			var st unix.Stat_t
			if err := unix.Fstat(int(target.Fd()), &st); err != nil {
				return err
			}
			opts.data = append(opts.data, fmt.Sprintf("mode=%o", st.Mode&0o7777))
		}
	case "devpts":
		// Without it /dev/ptmx (-> pts/ptmx) would be unusable (mode 000).
		if !opts.hasData("ptmxmode") {
			opts.data = append(opts.data, "ptmxmode=0666")
		}
	}
	if opts.tmpcopyup {
		return errors.New("tmpcopyup is only valid for tmpfs mounts")
	}
	err = unix.Mount(sm.Source, procFd(int(target.Fd())), sm.Type, opts.flags, opts.mountData())
	if err != nil {
		if host, ok := userNSFallbacks[sm.Type]; ok && m.c.UserNS && errors.Is(err, unix.EPERM) {
			bindOpts := *opts
			bindOpts.recursive = true
			if berr := bindPath(host, target, &bindOpts); berr != nil {
				return fmt.Errorf("mount %s: %w; bind of host %s instead: %w", sm.Type, err, host, berr)
			}
			return nil
		}
		return fmt.Errorf("mount %s (source %q, options %q): %w", sm.Type, sm.Source, opts.mountData(), err)
	}
	if sm.Type == "mqueue" && label != "" {
		if err := m.labelRoot(sm.Destination, label); err != nil {
			return err
		}
	}
	return m.afterFsMount(sm.Destination, opts)
}

// uncontextedFS are the filesystems linux.mountLabel is not passed to, as
// with runc: proc, sysfs and cgroupfs carry the kernel's own labels, and
// mqueue takes no context= option (its root is labelled instead).
var uncontextedFS = map[string]bool{"proc": true, "sysfs": true, "mqueue": true, "cgroup": true, "cgroup2": true}

// labelRoot gives the root directory of the filesystem just mounted at
// dest the SELinux label.
func (m *mounter) labelRoot(dest, label string) error {
	mnt, err := openInRoot(m.root, dest, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer mnt.Close()
	return lsm.SetFileLabel(procFd(int(mnt.Fd())), label)
}

// withContext adds linux.mountLabel (if any) to a mount's data.
func withContext(data, label string) string {
	if label == "" {
		return data
	}
	return data + "," + lsm.MountContext(label)
}

// afterFsMount applies what mount(2) cannot: recursive attributes and
// propagation. The destination is looked up again because the handle used
// as the mount point refers to the covered directory, not the new mount.
func (m *mounter) afterFsMount(dest string, opts *mountOptions) error {
	if opts.recAttr == (unix.MountAttr{}) && opts.propagation == 0 && opts.recPropagation == 0 {
		return nil
	}
	mnt, err := openInRoot(m.root, dest, unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer mnt.Close()
	if err := setattr(mnt, true, opts.recAttr); err != nil {
		return err
	}
	return setPropagation(mnt, opts)
}

// procAllowList are the procfs files a bind mount may cover, so that tools
// like lxcfs can provide container-aware versions. Covering anything else in
// procfs could disable a security interface (CVE-2019-16884).
var procAllowList = map[string]bool{
	"/proc/cpuinfo":   true,
	"/proc/diskstats": true,
	"/proc/meminfo":   true,
	"/proc/stat":      true,
	"/proc/swaps":     true,
	"/proc/uptime":    true,
	"/proc/loadavg":   true,
	"/proc/slabinfo":  true,
	"/proc/net/dev":   true,
}

// checkProcDestination refuses mount points that resolved into a procfs.
// Checking the resolved handle (one fstatfs) rather than the path also
// catches symlinks planted in the image that lead into /proc.
func checkProcDestination(target *os.File, dest string, bind bool) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(target.Fd()), &st); err != nil {
		return fmt.Errorf("statfs mount point: %w", err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return nil
	}
	if bind && procAllowList[path.Clean("/"+dest)] {
		return nil
	}
	return errors.New("mount point is inside procfs; only bind mounts over /proc/{cpuinfo,diskstats,meminfo,stat,swaps,uptime,loadavg,slabinfo,net/dev} are allowed")
}

// unwrapErrno strips *os.PathError wrapping so that messages read
// `mount source "/nope": no such file or directory`.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
