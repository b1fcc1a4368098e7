// Package plan is the complete, plain description of what a container's
// process needs: everything in the config resolved and checked once by the
// runtime (paths made absolute, mount options turned into attribute bits,
// capabilities into bit sets, the seccomp profile into its BPF program,
// rlimits and enums into numbers). The runtime encodes it (Encode) for
// berth-init, the C program that applies it in the container's namespaces
// and execs the user program (libcontainer/cinit/c). Nothing here touches
// the system.
//
// File descriptors are the numbers they have in the child.
package plan

// Mode says which of the init's two paths runs.
type Mode uint32

const (
	Create Mode = 1 // a container's init: namespaces, rootfs, process, wait for start
	Exec   Mode = 2 // another process in a running container's namespaces
)

// Plan is one container process's description.
type Plan struct {
	Mode Mode

	// CgroupJoins are cgroups the process moves itself into first, by
	// writing "0" to the fd of their v1 "tasks" file: a thread moving
	// itself skips the RCU grace period (5-20 ms) that moving another
	// process by pid costs.
	CgroupJoins []CgroupJoin

	// Joins are namespaces entered with setns, a user namespace first.
	Joins []Join
	// Unshare are CLONE_NEW* flags unshared by the init itself (when
	// they could not be given at clone, as with joins or a time
	// namespace); UserMap then asks the runtime to write the id maps.
	Unshare uint64
	UserMap bool
	// TimeOffsets are lines for /proc/self/timens_offsets.
	TimeOffsets []string
	// Fork makes the init fork once its namespaces are entered, so that
	// what follows runs inside pid and time namespaces.
	Fork bool
	// NewCgroupNS unshares a cgroup namespace once the runtime has placed
	// the process in its cgroup.
	NewCgroupNS bool
	Setsid      bool
	// RootFD, for exec into a container without a mount namespace, is an
	// O_PATH fd of the init's root, to chroot to; -1 for none.
	RootFD int
	// Loopback brings up "lo" in a new network namespace, as runc does.
	Loopback bool
	// Hostname and Domainname are set when non-nil.
	Hostname, Domainname *string

	// Rootfs is the filesystem to build (Create only).
	Rootfs *Rootfs
	// Hooks are the createContainer and startContainer hooks, which run
	// in the container's namespaces; HookStates the state JSON they get.
	Hooks      []Hook
	HookStates []HookState
	// FifoFD is an O_PATH fd of the exec fifo that `berth start` opens
	// (Create only); -1 for none.
	FifoFD int

	// Process is the user process; nil for a config without one.
	Process *Process
}

// CgroupJoin is a v1 cgroup to join through an open "tasks" file.
type CgroupJoin struct {
	FD    int
	Label string // the controller and the directory, for errors
}

// Join is a namespace to enter by fd.
type Join struct {
	FD    int
	Type  uint32 // CLONE_NEW*
	Label string // the config entry, for errors
}

// Pivot says how the init enters the rootfs.
type Pivot uint32

const (
	PivotRoot   Pivot = 0 // pivot_root(2), the old root detached
	PivotMove   Pivot = 1 // MS_MOVE + chroot (--no-pivot, roots on ramfs)
	PivotChroot Pivot = 2 // chroot only (no mount namespace of its own)
)

// Rootfs is the container's filesystem, built before and after the pivot.
type Rootfs struct {
	Path string // absolute host path of root.path
	// HostNS: no mount namespace of its own; the rootfs becomes a private
	// bind of itself that holds every container mount.
	HostNS bool
	// PrepProp is the mount(2) propagation of "/" before the mounts
	// (rslave unless linux.rootfsPropagation says otherwise); when it is
	// shared, ParentMount (the mount holding the rootfs) is made private.
	PrepProp    uint64
	ParentMount string
	Mounts      []Mount
	// Dev is the /dev the runtime makes; nil when /dev is bound from
	// elsewhere (its content is then the caller's).
	Dev          *Dev
	Pivot        Pivot
	Sysctls      []Sysctl
	Readonly     []string // linux.readonlyPaths
	Masked       []string // linux.maskedPaths
	MaskData     string   // tmpfs option for the masking tmpfs (SELinux context)
	RootReadonly bool
	RootProp     uint64 // propagation of "/" after the pivot; 0 for none
	// RuntimeHooks: stop after the mounts for the runtime's prestart and
	// createRuntime hooks.
	RuntimeHooks bool
}

// MountKind says how a mount is made.
type MountKind uint32

const (
	Bind      MountKind = 1 // open_tree of a host path (or SrcFD) + move_mount
	FS        MountKind = 2 // fsopen/fsmount of a new filesystem + move_mount
	Remount   MountKind = 3 // "bind,remount": new attributes for the mount at Dest
	CgroupV1  MountKind = 4 // a tmpfs of v1 hierarchies (Cgroups)
	CgroupV2  MountKind = 5 // cgroup2, or a bind of CgroupUnified
	FSRemount MountKind = 6 // "remount" of a filesystem: mount(2) with MSFlags
)

// Mount is one entry of the config's mounts, ready to apply.
type Mount struct {
	Kind   MountKind
	Label  string // `mounts[3] (destination "/data")`
	Dest   string // clean absolute path in the container
	Source string // host path (Bind) or the filesystem's source
	FSType string
	// SrcFD is a detached tree the runtime made (idmapped mounts, which
	// only a process outside the container's user namespace can make);
	// -1 for none.
	SrcFD     int
	Recursive bool // rbind
	// AttrSet and AttrClr are MOUNT_ATTR_* bits for the mount itself,
	// RAttrSet and RAttrClr for it and every submount.
	AttrSet, AttrClr, RAttrSet, RAttrClr uint64
	Prop, RProp                          uint64 // MS_SHARED etc.
	// SBFlags are superblock flags for fsconfig ("ro", "sync"); Data the
	// filesystem options, one per entry ("size=64m", "newinstance").
	SBFlags, Data []string
	TmpCopyUp     bool
	// KeepMode: a tmpfs over an existing directory takes its mode.
	KeepMode bool
	// Fallback is the host path bound instead when a user namespace may
	// not mount this filesystem (sysfs, mqueue), as runc does.
	Fallback string
	// RootLabel is an SELinux label for the new filesystem's root
	// (mqueue, which takes no context= option).
	RootLabel string
	// ProcOK allows a bind over one of the procfs files lxcfs provides.
	ProcOK bool
	// Cgroups are the v1 hierarchies (CgroupV1); CgroupUnified the host
	// path of the container's cgroup2 directory; CgroupNew mounts fresh
	// cgroup filesystems (in a cgroup namespace) instead of binding;
	// CgroupEmptyOK allows an empty tmpfs when there is nothing to show.
	Cgroups       []CgroupEntry
	CgroupUnified string
	CgroupNew     bool
	CgroupEmptyOK bool
	MSFlags       uint64 // FSRemount
}

// CgroupEntry is one cgroup v1 hierarchy and the container's cgroup in it.
type CgroupEntry struct {
	Controller string // "cpu,cpuacct", "name=systemd"
	Path       string // host path of the container's directory
}

// Dev is the content of a /dev the runtime owns.
type Dev struct {
	Devices  []Device
	Symlinks []Symlink
}

// Device is a node under /dev.
type Device struct {
	Path     string // absolute, clean
	Mode     uint32 // S_IF* | permissions
	Rdev     uint64
	UID, GID uint32
	Label    string // `linux.devices[2] (path "/dev/fuse")`
	// Bind binds the host's node over an empty file (user namespaces,
	// where mknod is refused).
	Bind bool
}

// Symlink is a link in /dev.
type Symlink struct{ Name, Target string }

// Sysctl is one linux.sysctl entry.
type Sysctl struct {
	Label string // `linux.sysctl["net.ipv4.ip_forward"]`
	Rel   string // path below /proc/sys
	Value string
}

// HookKind is a hook the init runs.
type HookKind uint32

const (
	CreateContainer HookKind = 1
	StartContainer  HookKind = 2
)

// Hook is one createContainer or startContainer hook.
type Hook struct {
	Kind    HookKind
	Label   string // `hooks.createContainer[0] (/usr/bin/hook)`
	Path    string
	Args    []string
	Env     []string
	Timeout uint32 // seconds; 0 for none
}

// HookState is the state JSON a kind of hook gets on stdin, split around
// the pid, which only the init knows (as the container sees it).
type HookState struct {
	Kind           HookKind
	Prefix, Suffix string
}

// Process is the user process.
type Process struct {
	Args, Env []string
	Cwd       string
	UID, GID  uint32
	Groups    []uint32
	Umask     uint32
	// Caps are the bounding, effective, permitted, inheritable and ambient
	// sets; LastCap the highest capability the kernel knows.
	Caps       [5]uint64
	LastCap    int
	NoNewPrivs bool
	Rlimits    []Rlimit
	// OOMScoreAdj, IOPrio and Personality are set when non-nil.
	OOMScoreAdj *int
	Sched       []byte // struct sched_attr, when set
	IOPrio      *uint32
	Personality *uint32
	MemPolicy   *MemPolicy
	// Affinity is a CPU mask for sched_setaffinity (exec only).
	Affinity []byte
	Seccomp  *Seccomp
	AppArmor string
	SELinux  string
	// Keyring names a new session keyring to join; "" keeps the caller's.
	Keyring string
	// KeyringLabel labels that keyring with SELinux.
	KeyringLabel bool
	Console      *Console
	PreserveFDs  int
	// HomeLookup sets HOME from the container's /etc/passwd (env has none).
	HomeLookup bool
}

// Rlimit is one process.rlimits entry.
type Rlimit struct {
	Resource   uint32
	Soft, Hard uint64
	Label      string // `process.rlimits[0] (RLIMIT_NOFILE)`
}

// MemPolicy is linux.memoryPolicy.
type MemPolicy struct {
	Mode  uint32 // mode | flags
	Mask  []byte // node mask; nil for none
	Label string
}

// Seccomp is the compiled filter.
type Seccomp struct {
	Program []byte // struct sock_filter[]
	Flags   uint32 // SECCOMP_FILTER_FLAG_*
	Notify  bool   // the program uses SCMP_ACT_NOTIFY: hand the listener over
	// Early loads it before the user switch (without no_new_privs the
	// load needs CAP_SYS_ADMIN).
	Early bool
}

// Console is process.terminal: FD is the console socket.
type Console struct {
	FD         int
	Rows, Cols uint32
	// Mount binds the terminal over /dev/console (the init).
	Mount bool
}
