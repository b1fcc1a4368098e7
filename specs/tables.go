package specs

import (
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"strconv"
)

// The tables below map the names used in config.json to kernel values.
// They are the single copy in the project: the validator, `berth features`
// and the runtime all read them, so nobody re-types these lists.
// Values come from x/sys/unix where it defines them, so they are right on
// every architecture (rlimit numbers differ on mips, sparc and alpha).

// capabilities is ordered by capability number, as capabilities(7) lists them.
var capabilities = []struct {
	name  string
	value int
}{
	{"CAP_CHOWN", unix.CAP_CHOWN},
	{"CAP_DAC_OVERRIDE", unix.CAP_DAC_OVERRIDE},
	{"CAP_DAC_READ_SEARCH", unix.CAP_DAC_READ_SEARCH},
	{"CAP_FOWNER", unix.CAP_FOWNER},
	{"CAP_FSETID", unix.CAP_FSETID},
	{"CAP_KILL", unix.CAP_KILL},
	{"CAP_SETGID", unix.CAP_SETGID},
	{"CAP_SETUID", unix.CAP_SETUID},
	{"CAP_SETPCAP", unix.CAP_SETPCAP},
	{"CAP_LINUX_IMMUTABLE", unix.CAP_LINUX_IMMUTABLE},
	{"CAP_NET_BIND_SERVICE", unix.CAP_NET_BIND_SERVICE},
	{"CAP_NET_BROADCAST", unix.CAP_NET_BROADCAST},
	{"CAP_NET_ADMIN", unix.CAP_NET_ADMIN},
	{"CAP_NET_RAW", unix.CAP_NET_RAW},
	{"CAP_IPC_LOCK", unix.CAP_IPC_LOCK},
	{"CAP_IPC_OWNER", unix.CAP_IPC_OWNER},
	{"CAP_SYS_MODULE", unix.CAP_SYS_MODULE},
	{"CAP_SYS_RAWIO", unix.CAP_SYS_RAWIO},
	{"CAP_SYS_CHROOT", unix.CAP_SYS_CHROOT},
	{"CAP_SYS_PTRACE", unix.CAP_SYS_PTRACE},
	{"CAP_SYS_PACCT", unix.CAP_SYS_PACCT},
	{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN},
	{"CAP_SYS_BOOT", unix.CAP_SYS_BOOT},
	{"CAP_SYS_NICE", unix.CAP_SYS_NICE},
	{"CAP_SYS_RESOURCE", unix.CAP_SYS_RESOURCE},
	{"CAP_SYS_TIME", unix.CAP_SYS_TIME},
	{"CAP_SYS_TTY_CONFIG", unix.CAP_SYS_TTY_CONFIG},
	{"CAP_MKNOD", unix.CAP_MKNOD},
	{"CAP_LEASE", unix.CAP_LEASE},
	{"CAP_AUDIT_WRITE", unix.CAP_AUDIT_WRITE},
	{"CAP_AUDIT_CONTROL", unix.CAP_AUDIT_CONTROL},
	{"CAP_SETFCAP", unix.CAP_SETFCAP},
	{"CAP_MAC_OVERRIDE", unix.CAP_MAC_OVERRIDE},
	{"CAP_MAC_ADMIN", unix.CAP_MAC_ADMIN},
	{"CAP_SYSLOG", unix.CAP_SYSLOG},
	{"CAP_WAKE_ALARM", unix.CAP_WAKE_ALARM},
	{"CAP_BLOCK_SUSPEND", unix.CAP_BLOCK_SUSPEND},
	{"CAP_AUDIT_READ", unix.CAP_AUDIT_READ},
	{"CAP_PERFMON", unix.CAP_PERFMON},
	{"CAP_BPF", unix.CAP_BPF},
	{"CAP_CHECKPOINT_RESTORE", unix.CAP_CHECKPOINT_RESTORE},
}

var capabilityByName = func() map[string]int {
	m := make(map[string]int, len(capabilities))
	for _, c := range capabilities {
		m[c.name] = c.value
	}
	return m
}()

// CapabilityValue returns the kernel number of a capability named as in
// config.json ("CAP_SYS_ADMIN"). Names are case-sensitive, like runc's.
func CapabilityValue(name string) (int, bool) {
	v, ok := capabilityByName[name]
	return v, ok
}

// CapabilityName returns the config.json name of capability number v, or
// its number for one this build does not know.
func CapabilityName(v int) string {
	for _, c := range capabilities {
		if c.value == v {
			return c.name
		}
	}
	return strconv.Itoa(v)
}

// CapabilityNames returns every capability this build knows, in kernel
// number order. The slice is a fresh copy.
func CapabilityNames() []string {
	names := make([]string, len(capabilities))
	for i, c := range capabilities {
		names[i] = c.name
	}
	return names
}

var rlimitByName = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// RlimitResource returns the resource number for setrlimit(2)/prlimit(2)
// of an rlimit type named as in config.json ("RLIMIT_NOFILE").
func RlimitResource(name string) (int, bool) {
	v, ok := rlimitByName[name]
	return v, ok
}

// namespaces is sorted by type name; procName is the file under
// /proc/<pid>/ns/.
var namespaces = []struct {
	typ       rspec.LinuxNamespaceType
	cloneFlag uintptr
	procName  string
}{
	{rspec.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{rspec.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{rspec.MountNamespace, unix.CLONE_NEWNS, "mnt"},
	{rspec.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{rspec.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{rspec.TimeNamespace, unix.CLONE_NEWTIME, "time"},
	{rspec.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{rspec.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
}

func namespaceIndex(t rspec.LinuxNamespaceType) int {
	for i := range namespaces {
		if namespaces[i].typ == t {
			return i
		}
	}
	return -1
}

// NamespaceCloneFlag returns the CLONE_NEW* flag (for clone3, unshare and
// setns) of a namespace type as named in config.json ("network").
func NamespaceCloneFlag(t rspec.LinuxNamespaceType) (uintptr, bool) {
	if i := namespaceIndex(t); i >= 0 {
		return namespaces[i].cloneFlag, true
	}
	return 0, false
}

// NamespaceProcName returns the name of the namespace's file under
// /proc/<pid>/ns/ ("net" for "network", "mnt" for "mount").
func NamespaceProcName(t rspec.LinuxNamespaceType) (string, bool) {
	if i := namespaceIndex(t); i >= 0 {
		return namespaces[i].procName, true
	}
	return "", false
}

// NamespaceTypes returns every namespace type this build knows, sorted by
// name. The slice is a fresh copy.
func NamespaceTypes() []rspec.LinuxNamespaceType {
	types := make([]rspec.LinuxNamespaceType, len(namespaces))
	for i, ns := range namespaces {
		types[i] = ns.typ
	}
	return types
}

// Kernel values that x/sys/unix does not define, from the kernel's uapi
// headers: linux/ioprio.h and linux/personality.h.
const (
	ioprioClassRT   = 1
	ioprioClassBE   = 2
	ioprioClassIdle = 3

	perLinux   = 0x0000
	perLinux32 = 0x0008
)

// IOPriorityClass returns the IOPRIO_CLASS_* value of an I/O scheduling
// class named as in process.ioPriority.class.
func IOPriorityClass(c rspec.IOPriorityClass) (int, bool) {
	switch c {
	case rspec.IOPRIO_CLASS_RT:
		return ioprioClassRT, true
	case rspec.IOPRIO_CLASS_BE:
		return ioprioClassBE, true
	case rspec.IOPRIO_CLASS_IDLE:
		return ioprioClassIdle, true
	}
	return 0, false
}

// PersonalityDomain returns the personality(2) value of an execution
// domain named as in linux.personality.domain.
func PersonalityDomain(d rspec.LinuxPersonalityDomain) (int, bool) {
	switch d {
	case rspec.PerLinux:
		return perLinux, true
	case rspec.PerLinux32:
		return perLinux32, true
	}
	return 0, false
}

// SchedulerPolicy returns the sched_setattr(2) policy number of a policy
// named as in process.scheduler.policy. SCHED_ISO is listed by the spec
// but not implemented by Linux, so it is not known here.
func SchedulerPolicy(p rspec.LinuxSchedulerPolicy) (int, bool) {
	switch p {
	case rspec.SchedOther:
		return unix.SCHED_NORMAL, true
	case rspec.SchedFIFO:
		return unix.SCHED_FIFO, true
	case rspec.SchedRR:
		return unix.SCHED_RR, true
	case rspec.SchedBatch:
		return unix.SCHED_BATCH, true
	case rspec.SchedIdle:
		return unix.SCHED_IDLE, true
	case rspec.SchedDeadline:
		return unix.SCHED_DEADLINE, true
	}
	return 0, false
}

// SchedulerFlag returns the SCHED_FLAG_* bit of a flag named as in
// process.scheduler.flags.
func SchedulerFlag(f rspec.LinuxSchedulerFlag) (uint64, bool) {
	switch f {
	case rspec.SchedFlagResetOnFork:
		return unix.SCHED_FLAG_RESET_ON_FORK, true
	case rspec.SchedFlagReclaim:
		return unix.SCHED_FLAG_RECLAIM, true
	case rspec.SchedFlagDLOverrun:
		return unix.SCHED_FLAG_DL_OVERRUN, true
	case rspec.SchedFlagKeepPolicy:
		return unix.SCHED_FLAG_KEEP_POLICY, true
	case rspec.SchedFlagKeepParams:
		return unix.SCHED_FLAG_KEEP_PARAMS, true
	case rspec.SchedFlagUtilClampMin:
		return unix.SCHED_FLAG_UTIL_CLAMP_MIN, true
	case rspec.SchedFlagUtilClampMax:
		return unix.SCHED_FLAG_UTIL_CLAMP_MAX, true
	}
	return 0, false
}

var memoryPolicyModes = []struct {
	name  rspec.MemoryPolicyModeType
	value int
}{
	{rspec.MpolDefault, unix.MPOL_DEFAULT},
	{rspec.MpolPreferred, unix.MPOL_PREFERRED},
	{rspec.MpolBind, unix.MPOL_BIND},
	{rspec.MpolInterleave, unix.MPOL_INTERLEAVE},
	{rspec.MpolLocal, unix.MPOL_LOCAL},
	{rspec.MpolPreferredMany, unix.MPOL_PREFERRED_MANY},
	{rspec.MpolWeightedInterleave, unix.MPOL_WEIGHTED_INTERLEAVE},
}

var memoryPolicyFlags = []struct {
	name  rspec.MemoryPolicyFlagType
	value int
}{
	{rspec.MpolFNumaBalancing, unix.MPOL_F_NUMA_BALANCING},
	{rspec.MpolFRelativeNodes, unix.MPOL_F_RELATIVE_NODES},
	{rspec.MpolFStaticNodes, unix.MPOL_F_STATIC_NODES},
}

// MemoryPolicyMode returns the set_mempolicy(2) mode of a mode named as in
// linux.memoryPolicy.mode.
func MemoryPolicyMode(m rspec.MemoryPolicyModeType) (int, bool) {
	for _, e := range memoryPolicyModes {
		if e.name == m {
			return e.value, true
		}
	}
	return 0, false
}

// MemoryPolicyFlag returns the mode flag bit of a flag named as in
// linux.memoryPolicy.flags.
func MemoryPolicyFlag(f rspec.MemoryPolicyFlagType) (int, bool) {
	for _, e := range memoryPolicyFlags {
		if e.name == f {
			return e.value, true
		}
	}
	return 0, false
}

// MemoryPolicyModes and MemoryPolicyFlags list the known names, for
// `berth features` and error messages.
func MemoryPolicyModes() []string {
	out := make([]string, len(memoryPolicyModes))
	for i, e := range memoryPolicyModes {
		out[i] = string(e.name)
	}
	return out
}

func MemoryPolicyFlags() []string {
	out := make([]string, len(memoryPolicyFlags))
	for i, e := range memoryPolicyFlags {
		out[i] = string(e.name)
	}
	return out
}
