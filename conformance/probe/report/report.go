// Package report defines the JSON document that the in-container probe
// (conformance/probe) prints, so the probe and the suites that decode its
// output share one definition.
package report

import "strconv"

// Report is what the probe saw from inside the container.
type Report struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	PID  int      `json:"pid"`
	PPID int      `json:"ppid"`

	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	EUID   int    `json:"euid"`
	EGID   int    `json:"egid"`
	Groups []int  `json:"groups"`
	Umask  string `json:"umask"` // octal, as in /proc/self/status, e.g. "0022"

	// Caps maps a set name (inheritable, permitted, effective, bounding,
	// ambient) to the capability names in it, sorted by number.
	Caps        map[string][]string `json:"caps"`
	NoNewPrivs  int                 `json:"noNewPrivs"`
	Seccomp     int                 `json:"seccomp"` // 0 off, 1 strict, 2 filter
	Rlimits     map[string]Rlimit   `json:"rlimits"` // keyed by RLIMIT_* name
	OOMScoreAdj int                 `json:"oomScoreAdj"`
	Sched       Sched               `json:"sched"`
	IOPrio      IOPrio              `json:"ioprio"`
	Personality uint32              `json:"personality"`
	Hostname    string              `json:"hostname"`
	// SessionKeyring is the serial number and description of the session
	// keyring (0 and "" when there is none, or keyrings are not there).
	SessionKeyring     int32  `json:"sessionKeyring"`
	SessionKeyringDesc string `json:"sessionKeyringDesc"`
	// LoopbackUp says whether "lo" is up in the network namespace.
	LoopbackUp bool   `json:"loopbackUp"`
	Domainname string `json:"domainname"`

	// Namespaces maps the entries of /proc/self/ns to their inode numbers.
	Namespaces map[string]uint64 `json:"namespaces"`
	Mounts     []Mount           `json:"mounts"`
	Cgroup     []string          `json:"cgroup"` // lines of /proc/self/cgroup

	// Monotonic and Boottime are the clocks in seconds, to observe time
	// namespace offsets.
	Monotonic float64 `json:"monotonic"`
	Boottime  float64 `json:"boottime"`

	TTY [3]TTY `json:"tty"` // for fds 0, 1, 2
	// FDs maps each open fd (other than the one used to list them) to the
	// target of its /proc/self/fd link, read before the probe opened anything.
	FDs map[int]string `json:"fds"`

	// Results of the requests given on the command line, keyed by the argument.
	Stats    map[string]Stat    `json:"stats,omitempty"`
	Files    map[string]Result  `json:"files,omitempty"`
	Writes   map[string]Result  `json:"writes,omitempty"`
	Sysctls  map[string]Result  `json:"sysctls,omitempty"`
	Syscalls map[string]Syscall `json:"syscalls,omitempty"`
	Execs    map[string]Result  `json:"execs,omitempty"`
}

// Rlimit is one resource limit; unlimited is reported as ^uint64(0).
type Rlimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Sched is the result of sched_getattr(2).
type Sched struct {
	Policy   string `json:"policy"` // SCHED_* name
	Flags    uint64 `json:"flags"`
	Nice     int32  `json:"nice"`
	Priority uint32 `json:"priority"`
	Runtime  uint64 `json:"runtime"`
	Deadline uint64 `json:"deadline"`
	Period   uint64 `json:"period"`
	Error    string `json:"error,omitempty"`
}

// IOPrio is the result of ioprio_get(2) for the probe itself.
type IOPrio struct {
	Class    string `json:"class"` // IOPRIO_CLASS_* name
	Priority int    `json:"priority"`
	Error    string `json:"error,omitempty"`
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID           int      `json:"id"`
	Parent       int      `json:"parent"`
	Root         string   `json:"root"`
	Mountpoint   string   `json:"mountpoint"`
	Options      []string `json:"options"`     // per-mount options
	Propagation  string   `json:"propagation"` // shared, slave, private or unbindable
	FSType       string   `json:"fstype"`
	Source       string   `json:"source"`
	SuperOptions []string `json:"superOptions"`
}

// Stat is the lstat(2) of a path, plus its link target for symlinks.
type Stat struct {
	Type   string `json:"type,omitempty"` // file, dir, symlink, char, block, fifo, socket
	Mode   uint32 `json:"mode,omitempty"` // permission bits incl. setuid/setgid/sticky
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Major  uint32 `json:"major"`
	Minor  uint32 `json:"minor"`
	Size   int64  `json:"size"`
	Target string `json:"target,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Result is the outcome of a read, write or exec: Error is an errno name
// such as "EROFS" (or a message when there is no errno), empty on success.
type Result struct {
	Content string `json:"content,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Syscall is the outcome of a raw system call made by the probe.
type Syscall struct {
	Ret   int64  `json:"ret"`
	Errno string `json:"errno,omitempty"`
}

// TTY describes one standard fd.
type TTY struct {
	IsTTY bool   `json:"isatty"`
	Rows  uint16 `json:"rows,omitempty"`
	Cols  uint16 `json:"cols,omitempty"`
}

// CapabilityNames lists the Linux capabilities by number, as named in
// runtime-spec configs.
var CapabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapabilitySet decodes a capability mask as printed in /proc/self/status.
func CapabilitySet(mask uint64) []string {
	names := []string{}
	for i := 0; i < 64; i++ {
		if mask&(1<<uint(i)) == 0 {
			continue
		}
		if i < len(CapabilityNames) {
			names = append(names, CapabilityNames[i])
		} else {
			names = append(names, "CAP_UNKNOWN_"+strconv.Itoa(i))
		}
	}
	return names
}
