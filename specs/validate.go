package specs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks a container configuration before `create`: everything that
// can be decided from config.json alone, plus that the root filesystem
// exists. It reports every problem it finds, not just the first, as
// ConfigErrors: each line of the error's text is one *FieldError of the form
// "config.json: <json.path>: <cause>". Use errors.As to get the first one.
//
// A relative root.path is resolved against bundleDir. If bundleDir is
// empty, the root filesystem is not looked at (for checking a generated
// config, as `berth spec` does).
//
// Fields this build does not implement (Intel RDT) are errors, not silently ignored. Whether the host runs
// the AppArmor or SELinux a config asks for is the runtime's to judge
// (libcontainer/lsm).
// Things only the runtime can judge are left to it: seccomp (the seccomp
// package compiles and checks it), linux.resources (the cgroups package),
// and whether a joined namespace path is really of the declared type (or,
// for net.* sysctls, the host's network namespace).
func Validate(spec *rspec.Spec, bundleDir string) error {
	if spec == nil {
		return &FieldError{File: ConfigFile, Msg: "no configuration"}
	}
	v := &validator{file: ConfigFile}
	v.version(spec.Version)
	v.root(spec.Root, bundleDir)
	// process is OPTIONAL (config.md): such a container can be created,
	// and only start fails.
	if spec.Process != nil {
		v.process("process", spec.Process)
	}
	ns := v.namespaces(spec.Linux)
	v.mounts(spec.Mounts, ns, spec.Linux)
	v.hooks(spec.Hooks)
	if spec.Hostname != "" && !ns.has(rspec.UTSNamespace) {
		v.errorf("hostname", "setting a hostname needs a %q namespace in linux.namespaces", rspec.UTSNamespace)
	}
	if spec.Domainname != "" && !ns.has(rspec.UTSNamespace) {
		v.errorf("domainname", "setting a domainname needs a %q namespace in linux.namespaces", rspec.UTSNamespace)
	}
	if spec.Linux != nil {
		v.linux(spec.Linux, ns)
	}
	return v.errs.Err()
}

// ValidateProcess checks a process on its own, as for `exec --process`.
// Errors name file ("process.json") and paths relative to the process
// object ("args").
func ValidateProcess(p *rspec.Process, file string) error {
	v := &validator{file: file}
	if p == nil {
		return &FieldError{File: file, Msg: "no process"}
	}
	v.process("", p)
	return v.errs.Err()
}

// RootfsPath returns the host path of the container's root filesystem:
// root.path, resolved against the bundle directory when it is relative.
func RootfsPath(bundleDir string, root *rspec.Root) string {
	if filepath.IsAbs(root.Path) {
		return filepath.Clean(root.Path)
	}
	return filepath.Join(bundleDir, root.Path)
}

// MinVersion and MaxVersion bound the config ociVersion this build accepts,
// pre-releases included ("1.0.2-dev", which runc 1.1 and podman write).
// MaxVersion is the runtime-spec module's version; maxMinor and maxPatch
// must match it (a test checks).
const (
	MinVersion = "1.0.0"
	MaxVersion = "1.3.0"
	maxMinor   = 3
	maxPatch   = 0
)

type validator struct {
	file string
	errs ConfigErrors
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs.Add(v.file, path, fmt.Sprintf(format, args...))
}

func (v *validator) version(s string) {
	if s == "" {
		v.errorf("ociVersion", "is required")
		return
	}
	major, minor, patch, ok := parseSemver(s)
	if !ok {
		v.errorf("ociVersion", "%q is not a SemVer 2.0.0 version", s)
		return
	}
	if major != 1 || minor > maxMinor || (minor == maxMinor && patch > maxPatch) {
		v.errorf("ociVersion", "%q: unsupported (this build supports %s to %s)", s, MinVersion, MaxVersion)
	}
}

// parseSemver parses MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]. The
// pre-release and build parts are checked for syntax and then ignored:
// "1.0.2-dev" counts as 1.0.2.
func parseSemver(s string) (major, minor, patch int, ok bool) {
	core, build, hasBuild := strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(core, "-")
	if (hasBuild && !validIdentifiers(build)) || (hasPre && !validIdentifiers(pre)) {
		return 0, 0, 0, false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var nums [3]int
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return 0, 0, 0, false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p[0] == '+' {
			return 0, 0, 0, false
		}
		nums[i] = n
	}
	return nums[0], nums[1], nums[2], true
}

// validIdentifiers checks SemVer's dot-separated [0-9A-Za-z-] identifiers.
func validIdentifiers(s string) bool {
	for id := range strings.SplitSeq(s, ".") {
		if id == "" {
			return false
		}
		for _, r := range id {
			if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

func (v *validator) root(root *rspec.Root, bundleDir string) {
	if root == nil {
		v.errorf("root", "is required")
		return
	}
	if root.Path == "" {
		v.errorf("root.path", "is required")
		return
	}
	if bundleDir == "" {
		return
	}
	if _, err := os.Lstat(filepath.Join(bundleDir, IncompleteMarker)); err == nil {
		v.errorf("root.path", "the bundle is not finished (%s is there: berth-image was stopped while making it); make it again with berth-image bundle --force", filepath.Join(bundleDir, IncompleteMarker))
		return
	}
	path := RootfsPath(bundleDir, root)
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		v.errorf("root.path", "%q: %v", root.Path, err)
	case !fi.IsDir():
		v.errorf("root.path", "%q: %s is not a directory", root.Path, path)
	default:
		// As runc: the root must be named by its real path, so that what
		// was checked is what the init binds (a link could be swapped).
		if resolved, err := filepath.EvalSymlinks(path); err == nil && resolved != filepath.Clean(path) {
			v.errorf("root.path", "%q: %s is a symlink or lies below one (it resolves to %s); give the real path", root.Path, path, resolved)
		}
	}
}

func (v *validator) process(p string, proc *rspec.Process) {
	if len(proc.Args) == 0 {
		v.errorf(fieldName(p, "args"), "must not be empty: it names the program to run")
	} else if proc.Args[0] == "" {
		v.errorf(index(fieldName(p, "args"), 0), "must not be empty: it names the program to run")
	}
	v.absPath(fieldName(p, "cwd"), proc.Cwd)
	v.env(fieldName(p, "env"), proc.Env)
	if u := proc.User.Umask; u != nil && *u > 0o777 {
		v.errorf(fieldName(p, "user", "umask"), "%d is not a umask (0 to 511, i.e. 0777)", *u)
	}
	if c := proc.Capabilities; c != nil {
		sets := []struct {
			name  string
			names []string
		}{
			{"bounding", c.Bounding},
			{"effective", c.Effective},
			{"inheritable", c.Inheritable},
			{"permitted", c.Permitted},
			{"ambient", c.Ambient},
		}
		for _, set := range sets {
			for i, name := range set.names {
				if _, ok := CapabilityValue(name); !ok {
					v.errorf(index(fieldName(p, "capabilities", set.name), i), "unknown capability %q", name)
				}
			}
		}
	}
	v.rlimits(fieldName(p, "rlimits"), proc.Rlimits)
	if adj := proc.OOMScoreAdj; adj != nil && (*adj < -1000 || *adj > 1000) {
		v.errorf(fieldName(p, "oomScoreAdj"), "%d is out of range (-1000 to 1000)", *adj)
	}
	if proc.Scheduler != nil {
		v.scheduler(fieldName(p, "scheduler"), proc.Scheduler)
	}
	if io := proc.IOPriority; io != nil {
		if _, ok := IOPriorityClass(io.Class); !ok {
			v.errorf(fieldName(p, "ioPriority", "class"), "unknown class %q (known: %s)", io.Class,
				quoteList([]string{string(rspec.IOPRIO_CLASS_RT), string(rspec.IOPRIO_CLASS_BE), string(rspec.IOPRIO_CLASS_IDLE)}))
		}
		if io.Priority < 0 || io.Priority > 7 {
			v.errorf(fieldName(p, "ioPriority", "priority"), "%d is out of range (0 to 7)", io.Priority)
		}
	}
	if a := proc.ExecCPUAffinity; a != nil {
		v.cpuList(fieldName(p, "execCPUAffinity", "initial"), a.Initial)
		v.cpuList(fieldName(p, "execCPUAffinity", "final"), a.Final)
	}
}

func (v *validator) absPath(path, value string) {
	switch {
	case value == "":
		v.errorf(path, "is required")
	case !filepath.IsAbs(value):
		v.errorf(path, "%q is not an absolute path", value)
	}
}

// env checks what execve(2) and the init need: NAME=value with a non-empty
// name and no NUL byte (which would silently truncate the entry).
func (v *validator) env(path string, env []string) {
	for i, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			v.errorf(index(path, i), "%q is not NAME=value", kv)
		case name == "":
			v.errorf(index(path, i), "%q has an empty name", kv)
		case strings.IndexByte(kv, 0) >= 0:
			v.errorf(index(path, i), "%q contains a NUL byte", kv)
		}
	}
}

func (v *validator) rlimits(path string, rlimits []rspec.POSIXRlimit) {
	seen := make(map[string]int, len(rlimits))
	for i, rl := range rlimits {
		p := index(path, i)
		if _, ok := RlimitResource(rl.Type); !ok {
			v.errorf(p+".type", "unknown rlimit %q", rl.Type)
		} else if first, dup := seen[rl.Type]; dup {
			v.errorf(p+".type", "duplicate %q (also %s)", rl.Type, index(path, first))
		} else {
			seen[rl.Type] = i
		}
		if rl.Soft > rl.Hard {
			v.errorf(p, "soft limit %d is above hard limit %d", rl.Soft, rl.Hard)
		}
	}
}

func (v *validator) scheduler(p string, s *rspec.Scheduler) {
	if s.Policy == "" {
		v.errorf(p+".policy", "is required")
	} else if _, ok := SchedulerPolicy(s.Policy); !ok {
		if s.Policy == rspec.SchedISO {
			v.errorf(p+".policy", "%q is not implemented by Linux", s.Policy)
		} else {
			v.errorf(p+".policy", "unknown policy %q", s.Policy)
		}
	}
	for i, f := range s.Flags {
		if _, ok := SchedulerFlag(f); !ok {
			v.errorf(index(p+".flags", i), "unknown flag %q", f)
		}
	}
	if s.Nice < -20 || s.Nice > 19 {
		v.errorf(p+".nice", "%d is out of range (-20 to 19)", s.Nice)
	}
	// sched_setattr(2): real-time policies need a priority of 1 to 99,
	// all others exactly 0.
	realtime := s.Policy == rspec.SchedFIFO || s.Policy == rspec.SchedRR
	if realtime && (s.Priority < 1 || s.Priority > 99) {
		v.errorf(p+".priority", "%d is out of range for %s (1 to 99)", s.Priority, s.Policy)
	} else if !realtime && s.Priority != 0 {
		v.errorf(p+".priority", "only SCHED_FIFO and SCHED_RR take a priority")
	}
	if s.Policy == rspec.SchedDeadline {
		if s.Runtime > s.Deadline || (s.Period != 0 && s.Deadline > s.Period) {
			v.errorf(p, "SCHED_DEADLINE needs runtime <= deadline <= period")
		}
	} else if s.Runtime != 0 || s.Deadline != 0 || s.Period != 0 {
		v.errorf(p, "runtime, deadline and period are only for SCHED_DEADLINE")
	}
}

// cpuList checks the "0-3,7" syntax of a CPU list; empty means unset.
func (v *validator) cpuList(path, list string) {
	if _, err := ParseList(list, maxCPUs); err != nil {
		v.errorf(path, "%v", err)
	}
}

// netDevices checks linux.netDevices: interface names (both the host's
// and the new one, which may end in a "%d" template), and a network
// namespace of the container's own to move them into.
func (v *validator) netDevices(devs map[string]rspec.LinuxNetDevice, ns nsSet) {
	if len(devs) > 0 && !ns.has(rspec.NetworkNamespace) {
		v.errorf("linux.netDevices", "needs a %q namespace in linux.namespaces to move the devices into", rspec.NetworkNamespace)
	}
	for _, name := range sortedKeys(devs) {
		p := fieldName("linux.netDevices", name)
		if !validIfName(name) {
			v.errorf(p, "%q is not a network interface name", name)
		}
		if n := devs[name].Name; n != "" && !validIfName(n) {
			v.errorf(p+".name", "%q is not a network interface name", n)
		}
	}
}

// validIfName is the kernel's dev_valid_name: 1 to 15 bytes, not "." or
// "..", no '/', ':' or whitespace.
func validIfName(name string) bool {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

// maxCPUs and maxNUMANodes bound lists, as the kernel's NR_CPUS and
// set_mempolicy's 1023-node mask (x/sys/unix.CPUSet) do.
const (
	maxCPUs      = 8192
	maxNUMANodes = 1023
)

// memoryPolicy checks linux.memoryPolicy against set_mempolicy(2): known
// mode and flags, and nodes exactly where the mode takes them.
func (v *validator) memoryPolicy(mp *rspec.LinuxMemoryPolicy) {
	if mp == nil {
		return
	}
	const p = "linux.memoryPolicy"
	for i, f := range mp.Flags {
		if _, ok := MemoryPolicyFlag(f); !ok {
			v.errorf(index(p+".flags", i), "unknown flag %q (known: %s)", f, quoteList(MemoryPolicyFlags()))
		}
	}
	nodes, err := ParseList(mp.Nodes, maxNUMANodes)
	if err != nil {
		v.errorf(p+".nodes", "%v", err)
		return
	}
	switch mp.Mode {
	case rspec.MpolDefault, rspec.MpolLocal:
		if len(nodes) > 0 {
			v.errorf(p+".nodes", "%s takes no nodes", mp.Mode)
		}
	case rspec.MpolBind, rspec.MpolInterleave, rspec.MpolWeightedInterleave, rspec.MpolPreferredMany:
		if len(nodes) == 0 {
			v.errorf(p+".nodes", "%s needs at least one node", mp.Mode)
		}
	case rspec.MpolPreferred: // no nodes means the local node
	default:
		v.errorf(p+".mode", "unknown mode %q (known: %s)", mp.Mode, quoteList(MemoryPolicyModes()))
	}
}

// nsSet records the namespaces a config asks for: type -> path ("" for a
// new namespace).
type nsSet map[rspec.LinuxNamespaceType]string

func (s nsSet) has(t rspec.LinuxNamespaceType) bool { _, ok := s[t]; return ok }

func (s nsSet) isNew(t rspec.LinuxNamespaceType) bool { p, ok := s[t]; return ok && p == "" }

func (v *validator) namespaces(linux *rspec.Linux) nsSet {
	set := nsSet{}
	if linux == nil {
		return set
	}
	where := make(map[rspec.LinuxNamespaceType]int, len(linux.Namespaces))
	for i, ns := range linux.Namespaces {
		p := index("linux.namespaces", i)
		if _, ok := NamespaceCloneFlag(ns.Type); !ok {
			known := make([]string, 0, len(namespaces))
			for _, t := range NamespaceTypes() {
				known = append(known, string(t))
			}
			v.errorf(p+".type", "unknown namespace type %q (known: %s)", ns.Type, quoteList(known))
			continue
		}
		if first, dup := where[ns.Type]; dup {
			v.errorf(p+".type", "duplicate %q (also %s)", ns.Type, index("linux.namespaces", first))
			continue
		}
		where[ns.Type] = i
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			v.errorf(p+".path", "%q is not an absolute path", ns.Path)
		}
		set[ns.Type] = ns.Path
	}
	return set
}

func (v *validator) mounts(mounts []rspec.Mount, ns nsSet, linux *rspec.Linux) {
	// A mount without its own mappings borrows the container's; that needs
	// a new user namespace (whose mappings Validate checks elsewhere).
	userMapped := ns.isNew(rspec.UserNamespace) && linux != nil &&
		len(linux.UIDMappings) > 0 && len(linux.GIDMappings) > 0
	for i, m := range mounts {
		p := index("mounts", i)
		// Relative destinations are deprecated but allowed (config.md,
		// "Mounts": interpreted relative to "/").
		if m.Destination == "" {
			v.errorf(p+".destination", "is required")
		}
		if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
			v.errorf(p, "uidMappings and gidMappings must be given together")
		}
		v.idMappings(p+".uidMappings", m.UIDMappings)
		v.idMappings(p+".gidMappings", m.GIDMappings)
		for j, opt := range m.Options {
			if (opt == "idmap" || opt == "ridmap") && len(m.UIDMappings) == 0 && len(m.GIDMappings) == 0 && !userMapped {
				v.errorf(index(p+".options", j), "%q needs uidMappings and gidMappings on the mount or a new user namespace with mappings", opt)
			}
		}
	}
}

func (v *validator) hooks(h *rspec.Hooks) {
	if h == nil {
		return
	}
	kinds := []struct {
		name  string
		hooks []rspec.Hook
	}{
		{"prestart", h.Prestart},
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	}
	for _, k := range kinds {
		for i, hook := range k.hooks {
			p := index("hooks."+k.name, i)
			v.absPath(p+".path", hook.Path)
			v.env(p+".env", hook.Env)
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				v.errorf(p+".timeout", "%d must be greater than zero", *hook.Timeout)
			}
		}
	}
}

// maxIDMappings is the kernel's limit on lines in uid_map/gid_map
// (since Linux 4.15).
const maxIDMappings = 340

func (v *validator) idMappings(path string, maps []rspec.LinuxIDMapping) {
	if len(maps) > maxIDMappings {
		v.errorf(path, "%d mappings; the kernel takes at most %d", len(maps), maxIDMappings)
	}
	for i, m := range maps {
		p := index(path, i)
		switch {
		case m.Size == 0:
			v.errorf(p+".size", "must be greater than zero")
		case uint64(m.ContainerID)+uint64(m.Size) > 1<<32:
			v.errorf(p, "containerID %d + size %d is past the last ID", m.ContainerID, m.Size)
		case uint64(m.HostID)+uint64(m.Size) > 1<<32:
			v.errorf(p, "hostID %d + size %d is past the last ID", m.HostID, m.Size)
		default:
			// The kernel rejects overlapping ranges on either side.
			for j, o := range maps[:i] {
				if o.Size == 0 {
					continue
				}
				if overlaps(m.ContainerID, m.Size, o.ContainerID, o.Size) {
					v.errorf(p, "container IDs overlap with %s", index(path, j))
				} else if overlaps(m.HostID, m.Size, o.HostID, o.Size) {
					v.errorf(p, "host IDs overlap with %s", index(path, j))
				}
			}
		}
	}
}

func overlaps(a, aSize, b, bSize uint32) bool {
	return uint64(a) < uint64(b)+uint64(bSize) && uint64(b) < uint64(a)+uint64(aSize)
}

func (v *validator) linux(linux *rspec.Linux, ns nsSet) {
	hasMappings := len(linux.UIDMappings) > 0 || len(linux.GIDMappings) > 0
	switch {
	case !ns.has(rspec.UserNamespace) && hasMappings:
		v.errorf("linux.uidMappings", "user ID mappings need a %q namespace in linux.namespaces", rspec.UserNamespace)
	case ns.isNew(rspec.UserNamespace) && (len(linux.UIDMappings) == 0 || len(linux.GIDMappings) == 0):
		v.errorf("linux.uidMappings", "a new user namespace needs both uidMappings and gidMappings")
	}
	v.idMappings("linux.uidMappings", linux.UIDMappings)
	v.idMappings("linux.gidMappings", linux.GIDMappings)

	v.sysctls(linux.Sysctl, ns)

	if len(linux.TimeOffsets) > 0 && !ns.isNew(rspec.TimeNamespace) {
		v.errorf("linux.timeOffsets", "clock offsets need a new %q namespace (without a path) in linux.namespaces", rspec.TimeNamespace)
	}
	for _, clock := range sortedKeys(linux.TimeOffsets) {
		p := fieldName("linux.timeOffsets", clock)
		if clock != "monotonic" && clock != "boottime" {
			v.errorf(p, "unknown clock %q (known: \"monotonic\" or \"boottime\")", clock)
		}
		if ns := linux.TimeOffsets[clock].Nanosecs; ns >= 1e9 {
			v.errorf(p+".nanosecs", "%d is not below one second", ns)
		}
	}

	if pers := linux.Personality; pers != nil {
		if _, ok := PersonalityDomain(pers.Domain); !ok {
			v.errorf("linux.personality.domain", "unknown domain %q (known: \"LINUX\" or \"LINUX32\")", pers.Domain)
		}
		for i, f := range pers.Flags {
			v.errorf(index("linux.personality.flags", i), "unknown flag %q (no flags are defined)", f)
		}
	}

	for _, list := range []struct {
		name  string
		paths []string
	}{{"linux.maskedPaths", linux.MaskedPaths}, {"linux.readonlyPaths", linux.ReadonlyPaths}} {
		for i, path := range list.paths {
			v.absPath(index(list.name, i), path)
		}
		if len(list.paths) > 0 && !ns.has(rspec.MountNamespace) {
			v.errorf(list.name, "needs a %q namespace in linux.namespaces", rspec.MountNamespace)
		}
	}

	switch linux.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		v.errorf("linux.rootfsPropagation", "unknown propagation %q (known: \"shared\", \"slave\", \"private\" or \"unbindable\", optionally with an \"r\" prefix)", linux.RootfsPropagation)
	}

	for i, d := range linux.Devices {
		p := index("linux.devices", i)
		v.absPath(p+".path", d.Path)
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			v.errorf(p+".type", "unknown device type %q (known: \"c\", \"b\", \"u\" or \"p\")", d.Type)
		}
	}

	v.unsupported("linux.intelRdt", linux.IntelRdt != nil, "Intel RDT")
	v.memoryPolicy(linux.MemoryPolicy)
	v.netDevices(linux.NetDevices, ns)
}

// unsupported reports a field this build does not implement: the runtime
// spec wants an error rather than a silently ignored setting (config.md,
// "Valid values"). `berth features` reports the same gaps.
func (v *validator) unsupported(path string, set bool, feature string) {
	if set {
		v.errorf(path, "%s is not supported by this build of berth", feature)
	}
}

// ipcSysctls are the kernel/* sysctls that belong to the IPC namespace;
// fs/mqueue/* does too.
var ipcSysctls = map[string]bool{
	"kernel/msgmax":          true,
	"kernel/msgmnb":          true,
	"kernel/msgmni":          true,
	"kernel/sem":             true,
	"kernel/shmall":          true,
	"kernel/shmmax":          true,
	"kernel/shmmni":          true,
	"kernel/shm_rmid_forced": true,
}

// sysctls accepts only sysctls that are namespaced by a namespace the
// container has: anything else would change the host (/proc/sys is not
// fully namespaced).
func (v *validator) sysctls(sysctl map[string]string, ns nsSet) {
	for _, key := range sortedKeys(sysctl) {
		p := fieldName("linux.sysctl", key)
		path, ok := SysctlPath(key)
		if !ok {
			v.errorf(p, "%q is not a sysctl name", key)
			continue
		}
		var need rspec.LinuxNamespaceType
		switch {
		case ipcSysctls[path] || strings.HasPrefix(path, "fs/mqueue/"):
			need = rspec.IPCNamespace
		case strings.HasPrefix(path, "net/"):
			need = rspec.NetworkNamespace
		case path == "kernel/domainname":
			need = rspec.UTSNamespace
		case path == "kernel/hostname":
			v.errorf(p, "set the hostname with the \"hostname\" field instead")
			continue
		default:
			v.errorf(p, "%q is not namespaced: setting it would change the host", key)
			continue
		}
		if !ns.has(need) {
			v.errorf(p, "needs a %q namespace in linux.namespaces", need)
		}
	}
}

// SysctlPath returns the file under /proc/sys that a linux.sysctl key names
// ("net.ipv4.ip_forward" -> "net/ipv4/ip_forward"). Like sysctl(8) it also
// takes '/' as the separator when the key's first separator is a '/'; then
// a '.' belongs to a component ("net/ipv4/conf/eth0.100/forwarding"). It
// refuses keys with empty, "." or ".." components, which could escape
// /proc/sys.
func SysctlPath(key string) (string, bool) {
	if key == "" || strings.ContainsAny(key, "\x00 \t\n") {
		return "", false
	}
	path := key
	if i := strings.IndexAny(key, "./"); i < 0 || key[i] == '.' {
		path = strings.Map(func(r rune) rune {
			switch r {
			case '.':
				return '/'
			case '/':
				return '.'
			}
			return r
		}, key)
	}
	for comp := range strings.SplitSeq(path, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return "", false
		}
	}
	return path, true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
