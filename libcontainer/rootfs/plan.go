package rootfs

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
	"github.com/berthproject/berth/libcontainer/sysfile"
)

// Plan turns the config's filesystem (root, mounts, /dev, sysctls, masked
// and read-only paths, propagation) into the steps berth-init applies, with
// every option parsed and every path checked here, once.
func Plan(c *Config) (*plan.Rootfs, error) {
	if c.Spec == nil {
		return nil, fmt.Errorf("rootfs: no spec")
	}
	if !filepath.IsAbs(c.Rootfs) {
		return nil, fmt.Errorf("root.path: %q is not an absolute path", c.Rootfs)
	}
	r := &plan.Rootfs{Path: c.Rootfs, HostNS: c.HostMountNS}
	prop, err := rootPropagation(c)
	if err != nil {
		return nil, err
	}
	// rslave unless the config asks otherwise, as runc does; unbindable
	// would forbid the binds, so it is applied after the pivot only.
	r.PrepProp = unix.MS_SLAVE | unix.MS_REC
	if prop != 0 && prop&unix.MS_UNBINDABLE == 0 {
		r.PrepProp = uint64(prop)
	}
	if r.PrepProp&unix.MS_SHARED != 0 && !c.HostMountNS {
		if r.ParentMount, err = parentMount(c.Rootfs); err != nil {
			return nil, err
		}
	}
	r.RootProp = uint64(prop)
	switch {
	case c.HostMountNS:
		r.Pivot = plan.PivotChroot
	case c.NoPivot:
		r.Pivot = plan.PivotMove
	default:
		r.Pivot = plan.PivotRoot
	}
	for i := range c.Spec.Mounts {
		m, err := c.planMount(i)
		if err != nil {
			return nil, err
		}
		r.Mounts = append(r.Mounts, *m)
	}
	if needsDevSetup(c.Spec.Mounts) {
		if r.Dev, err = c.planDev(); err != nil {
			return nil, err
		}
	}
	if r.Sysctls, err = planSysctls(c.linux().Sysctl); err != nil {
		return nil, err
	}
	r.Readonly = c.linux().ReadonlyPaths
	r.Masked = c.linux().MaskedPaths
	if label := c.linux().MountLabel; label != "" {
		r.MaskData = "context=" + label
	}
	r.RootReadonly = c.Spec.Root != nil && c.Spec.Root.Readonly
	return r, nil
}

// parentMount returns the mount point that holds dir, which the init makes
// private when "/" is made shared: pivot_root refuses a new root whose
// parent mount is shared.
func parentMount(dir string) (string, error) {
	// Read without os.File's round trips (sysfile), parsed by the library.
	b, err := sysfile.ReadFile("/proc/thread-self/mountinfo")
	var mounts []*mountinfo.Info
	if err == nil {
		mounts, err = mountinfo.GetMountsFromReader(bytes.NewReader(b), mountinfo.ParentsFilter(dir))
	}
	if err != nil {
		return "", fmt.Errorf("root.path: reading mountinfo: %w", err)
	}
	parent := "/"
	for _, mi := range mounts {
		if len(mi.Mountpoint) > len(parent) {
			parent = mi.Mountpoint
		}
	}
	return parent, nil
}

// rootPropagation maps linux.rootfsPropagation to mount(2) flags; 0 means
// the config leaves it unset.
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

// userNSFallbacks are the host paths bind-mounted in place of a filesystem
// that a user namespace may not mount without the matching namespace (sysfs
// needs a network namespace, mqueue an IPC one), as runc does.
var userNSFallbacks = map[string]string{
	"sysfs":  "/sys",
	"mqueue": "/dev/mqueue",
}

// uncontextedFS are the filesystems linux.mountLabel is not passed to, as
// with runc: proc, sysfs and cgroupfs carry the kernel's own labels, and
// mqueue takes no context= option (its root is labelled instead).
var uncontextedFS = map[string]bool{"proc": true, "sysfs": true, "mqueue": true, "cgroup": true, "cgroup2": true}

func (c *Config) planMount(i int) (*plan.Mount, error) {
	sm := c.Spec.Mounts[i]
	if sm.Destination == "" {
		return nil, fmt.Errorf("mounts[%d].destination: empty", i)
	}
	opts, err := parseSpecMountOptions(sm)
	if err != nil {
		return nil, mountError(i, sm.Destination, "%w", err)
	}
	dest := path.Clean("/" + sm.Destination)
	m := &plan.Mount{Label: fmt.Sprintf("mounts[%d] (destination %q)", i, sm.Destination), Dest: dest, SrcFD: -1,
		Prop: uint64(opts.propagation), RProp: uint64(opts.recPropagation)}
	if opts.bind {
		return m, c.planBind(i, sm, opts, m)
	}
	return m, c.planFS(i, sm, opts, m)
}

func (c *Config) planBind(i int, sm specs.Mount, opts *mountOptions, m *plan.Mount) error {
	top := mountAttrFromFlags(opts.flags, opts.cleared)
	m.AttrSet, m.AttrClr = top.Attr_set, top.Attr_clr
	m.RAttrSet, m.RAttrClr = opts.recAttr.Attr_set, opts.recAttr.Attr_clr
	if opts.flags&unix.MS_REMOUNT != 0 {
		if opts.idmap {
			return mountError(i, sm.Destination, "idmap cannot be applied by a remount")
		}
		m.Kind = plan.Remount
		return nil
	}
	m.Kind = plan.Bind
	m.Recursive = opts.recursive
	if opts.recursive && opts.flags&unix.MS_RDONLY != 0 && opts.recAttr.Attr_clr&unix.MOUNT_ATTR_RDONLY == 0 {
		// "ro" on an rbind covers its submounts too, as in runc 1.2: a
		// read-only /sys must not leave the host's cgroup mounts below
		// it writable.
		m.RAttrSet |= unix.MOUNT_ATTR_RDONLY
	}
	m.ProcOK = procAllowList[m.Dest]
	if fd, ok := c.MountSources[i]; ok {
		m.SrcFD = fd
		m.Source = sm.Source
		return nil
	}
	if opts.idmap {
		// Maps written from inside the container's user namespace would
		// be relative to it, not to the host as the spec means.
		return mountError(i, sm.Destination, "idmapped mounts must be made by the runtime (PrepareMountSource, Config.MountSources)")
	}
	m.Source = sm.Source
	if !filepath.IsAbs(m.Source) && c.Bundle != "" {
		m.Source = filepath.Join(c.Bundle, m.Source)
	}
	return nil
}

// superblockFlags are the mount(2) flags that belong to a new
// filesystem's superblock, by their fsconfig names.
var superblockFlags = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "ro"},
	{unix.MS_SYNCHRONOUS, "sync"},
	{unix.MS_DIRSYNC, "dirsync"},
	{unix.MS_MANDLOCK, "mand"},
	{unix.MS_LAZYTIME, "lazytime"},
}

func (c *Config) planFS(i int, sm specs.Mount, opts *mountOptions, m *plan.Mount) error {
	if sm.Type == "" || sm.Type == "none" {
		return mountError(i, sm.Destination, "type is required for a mount that is not a bind mount")
	}
	if opts.tmpcopyup && sm.Type != "tmpfs" {
		return mountError(i, sm.Destination, "tmpcopyup is only valid for tmpfs mounts")
	}
	m.FSType, m.Source = sm.Type, sm.Source
	label := c.linux().MountLabel
	data := slices.Clone(opts.data)
	if opts.flags&unix.MS_REMOUNT != 0 {
		// mount(2) takes the options as one string: the context needs
		// its quotes there.
		if label != "" && !uncontextedFS[sm.Type] {
			data = append(data, `context="`+label+`"`)
		}
		m.Kind, m.MSFlags, m.Data = plan.FSRemount, uint64(opts.flags), data
		return nil
	}
	if label != "" && !uncontextedFS[sm.Type] {
		data = append(data, "context="+label)
	}
	// A new mount gets the per-mount attributes at fsmount; recursive
	// ones are the same there (it has no submounts yet).
	m.AttrSet = mountAttrFromFlags(opts.flags, 0).Attr_set
	m.RAttrSet, m.RAttrClr = opts.recAttr.Attr_set, opts.recAttr.Attr_clr
	for _, f := range superblockFlags {
		if opts.flags&f.flag != 0 && !(f.flag == unix.MS_RDONLY && opts.tmpcopyup) {
			m.SBFlags = append(m.SBFlags, f.name)
		}
	}
	switch sm.Type {
	case "cgroup":
		return c.planCgroup(m, data)
	case "tmpfs":
		m.TmpCopyUp = opts.tmpcopyup
		m.KeepMode = !opts.hasData("mode")
	case "devpts":
		// Without it /dev/ptmx (-> pts/ptmx) would be unusable (mode 000).
		if !opts.hasData("ptmxmode") {
			data = append(data, "ptmxmode=0666")
		}
	case "mqueue":
		m.RootLabel = label
	}
	if c.UserNS {
		m.Fallback = userNSFallbacks[sm.Type]
	}
	m.Kind, m.Data = plan.FS, data
	return nil
}

// planCgroup handles mounts of type "cgroup": with CgroupMounts, an
// emulated v1 /sys/fs/cgroup (a tmpfs of hierarchies); otherwise cgroup2.
func (c *Config) planCgroup(m *plan.Mount, data []string) error {
	cgroupNS := c.hasNamespace(specs.CgroupNamespace)
	m.CgroupUnified = c.Cgroup2Path
	if len(c.CgroupMounts) == 0 {
		m.Kind, m.Data = plan.CgroupV2, data
		// A fresh mount in a cgroup namespace, where the kernel shows only
		// the container's subtree; without one (or without a cgroup) the
		// container's directory is bound.
		m.CgroupNew = cgroupNS || c.Cgroup2Path == ""
		m.CgroupEmptyOK = c.Cgroup2Path == "" && c.UserNS
		return nil
	}
	m.Kind, m.CgroupNew = plan.CgroupV1, cgroupNS
	for _, cm := range c.CgroupMounts {
		m.Cgroups = append(m.Cgroups, plan.CgroupEntry{Controller: cm.Controller, Path: cm.Path})
	}
	return nil
}

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
var devSymlinks = []plan.Symlink{
	{Name: "fd", Target: "/proc/self/fd"},
	{Name: "stdin", Target: "/proc/self/fd/0"},
	{Name: "stdout", Target: "/proc/self/fd/1"},
	{Name: "stderr", Target: "/proc/self/fd/2"},
}

func (c *Config) planDev() (*plan.Dev, error) {
	d := &plan.Dev{Symlinks: slices.Clone(devSymlinks)}
	// Like runc, only offer /dev/core when the kernel has /proc/kcore
	// (CONFIG_PROC_KCORE).
	if _, err := os.Lstat("/proc/kcore"); err == nil {
		d.Symlinks = append(d.Symlinks, plan.Symlink{Name: "core", Target: "/proc/kcore"})
	}
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
		pd, err := c.planDevice(dv, "default device "+dv.Path)
		if err != nil {
			return nil, err
		}
		d.Devices = append(d.Devices, *pd)
	}
	for i, dv := range c.linux().Devices {
		pd, err := c.planDevice(dv, fmt.Sprintf("linux.devices[%d] (path %q)", i, dv.Path))
		if err != nil {
			return nil, err
		}
		d.Devices = append(d.Devices, *pd)
	}
	return d, nil
}

func (c *Config) planDevice(dv specs.LinuxDevice, label string) (*plan.Device, error) {
	if !path.IsAbs(dv.Path) || path.Clean(dv.Path) == "/" {
		return nil, fmt.Errorf("%s: path must be an absolute file path", label)
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
		return nil, fmt.Errorf("%s: type %q: must be c, u, b or p", label, dv.Type)
	}
	perm := uint32(0o666)
	if dv.FileMode != nil {
		perm = uint32(*dv.FileMode & 0o7777)
	}
	pd := &plan.Device{Path: path.Clean(dv.Path), Mode: typ | perm, Rdev: unix.Mkdev(uint32(dv.Major), uint32(dv.Minor)), Label: label,
		// mknod of devices is refused in a user namespace: the host's
		// node is bound over an empty file (its owner stays the host's).
		Bind: c.UserNS && typ != unix.S_IFIFO}
	if dv.UID != nil {
		pd.UID = *dv.UID
	}
	if dv.GID != nil {
		pd.GID = *dv.GID
	}
	return pd, nil
}

func planSysctls(sysctl map[string]string) ([]plan.Sysctl, error) {
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []plan.Sysctl
	for _, k := range keys {
		rel, err := sysctlPath(k)
		if err != nil {
			return nil, fmt.Errorf("linux.sysctl[%q]: %w", k, err)
		}
		out = append(out, plan.Sysctl{Label: fmt.Sprintf("linux.sysctl[%q]", k), Rel: rel, Value: sysctl[k]})
	}
	return out, nil
}

// sysctlPath turns a sysctl key into a path relative to /proc/sys. As in
// sysctl(8), "." separates components and "/" stands for a dot inside one
// (net.ipv4.conf.eth0/100.forwarding). Components that would walk anywhere
// else ("", ".", "..") are refused.
func sysctlPath(key string) (string, error) {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		p = strings.ReplaceAll(p, "/", ".")
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("invalid key %q", key)
		}
		parts[i] = p
	}
	return strings.Join(parts, "/"), nil
}
