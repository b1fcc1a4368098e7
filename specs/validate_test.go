package specs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// newBundle makes a bundle directory with an empty rootfs.
func newBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ptr[T any](v T) *T { return &v }

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *rspec.Spec)
		want   string // one full line of the error text
	}{
		{"no version", func(s *rspec.Spec) { s.Version = "" },
			`config.json: ociVersion: is required`},
		{"version 2", func(s *rspec.Spec) { s.Version = "2.0.0" },
			`config.json: ociVersion: "2.0.0": unsupported (this build supports 1.0.0 to 1.3.0)`},
		{"version too new", func(s *rspec.Spec) { s.Version = "1.4.0" },
			`config.json: ociVersion: "1.4.0": unsupported (this build supports 1.0.0 to 1.3.0)`},
		{"version patch too new", func(s *rspec.Spec) { s.Version = "1.3.1" },
			`config.json: ociVersion: "1.3.1": unsupported`},
		{"version 0.x", func(s *rspec.Spec) { s.Version = "0.6.0" },
			`config.json: ociVersion: "0.6.0": unsupported`},
		{"version not semver", func(s *rspec.Spec) { s.Version = "1.0" },
			`config.json: ociVersion: "1.0" is not a SemVer 2.0.0 version`},
		{"version leading zero", func(s *rspec.Spec) { s.Version = "1.01.0" },
			`config.json: ociVersion: "1.01.0" is not a SemVer 2.0.0 version`},
		{"version bad prerelease", func(s *rspec.Spec) { s.Version = "1.0.2-" },
			`config.json: ociVersion: "1.0.2-" is not a SemVer 2.0.0 version`},
		{"no root", func(s *rspec.Spec) { s.Root = nil },
			`config.json: root: is required`},
		{"no root path", func(s *rspec.Spec) { s.Root.Path = "" },
			`config.json: root.path: is required`},
		{"rootfs missing", func(s *rspec.Spec) { s.Root.Path = "nope" },
			`config.json: root.path: "nope": stat `},
		{"rootfs a file", func(s *rspec.Spec) { s.Root.Path = "config.json" },
			`config.json: root.path: "config.json": `},
		{"no args", func(s *rspec.Spec) { s.Process.Args = nil },
			`config.json: process.args: must not be empty`},
		{"empty program", func(s *rspec.Spec) { s.Process.Args = []string{""} },
			`config.json: process.args[0]: must not be empty`},
		{"no cwd", func(s *rspec.Spec) { s.Process.Cwd = "" },
			`config.json: process.cwd: is required`},
		{"relative cwd", func(s *rspec.Spec) { s.Process.Cwd = "home" },
			`config.json: process.cwd: "home" is not an absolute path`},
		{"env without =", func(s *rspec.Spec) { s.Process.Env = append(s.Process.Env, "FOO") },
			`config.json: process.env[2]: "FOO" is not NAME=value`},
		{"env empty name", func(s *rspec.Spec) { s.Process.Env = []string{"=x"} },
			`config.json: process.env[0]: "=x" has an empty name`},
		{"env NUL", func(s *rspec.Spec) { s.Process.Env = []string{"A=b\x00c"} },
			`config.json: process.env[0]: "A=b\x00c" contains a NUL byte`},
		{"umask", func(s *rspec.Spec) { s.Process.User.Umask = ptr(uint32(0o1000)) },
			`config.json: process.user.umask: 512 is not a umask`},
		{"unknown bounding cap", func(s *rspec.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding[:2], "CAP_FOO")
		}, `config.json: process.capabilities.bounding[2]: unknown capability "CAP_FOO"`},
		{"unknown effective cap", func(s *rspec.Spec) { s.Process.Capabilities.Effective = []string{"cap_kill"} },
			`config.json: process.capabilities.effective[0]: unknown capability "cap_kill"`},
		{"unknown inheritable cap", func(s *rspec.Spec) { s.Process.Capabilities.Inheritable = []string{"CAP_X"} },
			`config.json: process.capabilities.inheritable[0]: unknown capability "CAP_X"`},
		{"unknown permitted cap", func(s *rspec.Spec) { s.Process.Capabilities.Permitted = []string{"CAP_KILL", ""} },
			`config.json: process.capabilities.permitted[1]: unknown capability ""`},
		{"unknown ambient cap", func(s *rspec.Spec) { s.Process.Capabilities.Ambient = []string{"CAP_Y"} },
			`config.json: process.capabilities.ambient[0]: unknown capability "CAP_Y"`},
		{"unknown rlimit", func(s *rspec.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, rspec.POSIXRlimit{Type: "RLIMIT_FOO"})
		}, `config.json: process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"`},
		{"duplicate rlimit", func(s *rspec.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, rspec.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1})
		}, `config.json: process.rlimits[1].type: duplicate "RLIMIT_NOFILE" (also process.rlimits[0])`},
		{"soft above hard", func(s *rspec.Spec) { s.Process.Rlimits[0].Soft = 2048 },
			`config.json: process.rlimits[0]: soft limit 2048 is above hard limit 1024`},
		{"oomScoreAdj", func(s *rspec.Spec) { s.Process.OOMScoreAdj = ptr(1001) },
			`config.json: process.oomScoreAdj: 1001 is out of range (-1000 to 1000)`},
		{"scheduler no policy", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{} },
			`config.json: process.scheduler.policy: is required`},
		{"scheduler unknown policy", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: "SCHED_FAST"} },
			`config.json: process.scheduler.policy: unknown policy "SCHED_FAST"`},
		{"scheduler ISO", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedISO} },
			`config.json: process.scheduler.policy: "SCHED_ISO" is not implemented by Linux`},
		{"scheduler flag", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Flags: []rspec.LinuxSchedulerFlag{"SCHED_FLAG_X"}}
		}, `config.json: process.scheduler.flags[0]: unknown flag "SCHED_FLAG_X"`},
		{"scheduler nice", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Nice: 20} },
			`config.json: process.scheduler.nice: 20 is out of range (-20 to 19)`},
		{"scheduler FIFO priority", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedFIFO} },
			`config.json: process.scheduler.priority: 0 is out of range for SCHED_FIFO (1 to 99)`},
		{"scheduler OTHER priority", func(s *rspec.Spec) { s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedBatch, Priority: 5} },
			`config.json: process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority`},
		{"scheduler deadline order", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedDeadline, Runtime: 10, Deadline: 5}
		}, `config.json: process.scheduler: SCHED_DEADLINE needs runtime <= deadline <= period`},
		{"scheduler deadline fields", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedOther, Period: 5}
		}, `config.json: process.scheduler: runtime, deadline and period are only for SCHED_DEADLINE`},
		{"ioPriority class", func(s *rspec.Spec) { s.Process.IOPriority = &rspec.LinuxIOPriority{Class: "IOPRIO_CLASS_NONE"} },
			`config.json: process.ioPriority.class: unknown class "IOPRIO_CLASS_NONE"`},
		{"ioPriority priority", func(s *rspec.Spec) {
			s.Process.IOPriority = &rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_BE, Priority: 8}
		},
			`config.json: process.ioPriority.priority: 8 is out of range (0 to 7)`},
		{"execCPUAffinity", func(s *rspec.Spec) { s.Process.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "0-3,7", Final: "3-1"} },
			`config.json: process.execCPUAffinity.final: "3-1" is not a list like "0-3,7"`},
		{"mount destination", func(s *rspec.Spec) { s.Mounts[2].Destination = "" },
			`config.json: mounts[2].destination: is required`},
		{"mount half mappings", func(s *rspec.Spec) {
			s.Mounts[0].UIDMappings = []rspec.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, `config.json: mounts[0]: uidMappings and gidMappings must be given together`},
		{"mount mapping size", func(s *rspec.Spec) {
			s.Mounts[0].UIDMappings = []rspec.LinuxIDMapping{{HostID: 1000, Size: 0}}
			s.Mounts[0].GIDMappings = []rspec.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, `config.json: mounts[0].uidMappings[0].size: must be greater than zero`},
		{"idmap without mappings", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/data", Source: "/srv", Options: []string{"rbind", "idmap"}})
		}, `config.json: mounts[7].options[1]: "idmap" needs uidMappings and gidMappings on the mount or a new user namespace with mappings`},
		{"hook relative path", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{CreateRuntime: []rspec.Hook{{Path: "/bin/true"}, {Path: "hook"}}}
		}, `config.json: hooks.createRuntime[1].path: "hook" is not an absolute path`},
		{"hook no path", func(s *rspec.Spec) { s.Hooks = &rspec.Hooks{Poststop: []rspec.Hook{{}}} },
			`config.json: hooks.poststop[0].path: is required`},
		{"hook timeout", func(s *rspec.Spec) { s.Hooks = &rspec.Hooks{Prestart: []rspec.Hook{{Path: "/x", Timeout: ptr(0)}}} },
			`config.json: hooks.prestart[0].timeout: 0 must be greater than zero`},
		{"hook env", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{StartContainer: []rspec.Hook{{Path: "/x", Env: []string{"A"}}}}
		},
			`config.json: hooks.startContainer[0].env[0]: "A" is not NAME=value`},
		{"hostname without uts", func(s *rspec.Spec) { removeNS(s, rspec.UTSNamespace) },
			`config.json: hostname: setting a hostname needs a "uts" namespace in linux.namespaces`},
		{"domainname without uts", func(s *rspec.Spec) { s.Hostname = ""; s.Domainname = "x"; removeNS(s, rspec.UTSNamespace) },
			`config.json: domainname: setting a domainname needs a "uts" namespace`},
		{"hostname without linux", func(s *rspec.Spec) { s.Linux = nil },
			`config.json: hostname: setting a hostname needs a "uts" namespace`},
		{"unknown namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: "foo"})
		}, `config.json: linux.namespaces[5].type: unknown namespace type "foo" (known: "cgroup", "ipc", "mount", "network", "pid", "time", "user" or "uts")`},
		{"duplicate namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: "pid", Path: "/proc/1/ns/pid"})
		}, `config.json: linux.namespaces[5].type: duplicate "pid" (also linux.namespaces[0])`},
		{"relative namespace path", func(s *rspec.Spec) { s.Linux.Namespaces[1].Path = "netns" },
			`config.json: linux.namespaces[1].path: "netns" is not an absolute path`},
		{"mappings without userns", func(s *rspec.Spec) {
			s.Linux.UIDMappings = []rspec.LinuxIDMapping{{HostID: 1000, Size: 1}}
		}, `config.json: linux.uidMappings: user ID mappings need a "user" namespace in linux.namespaces`},
		{"userns without mappings", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
		}, `config.json: linux.uidMappings: a new user namespace needs both uidMappings and gidMappings`},
		{"mapping overflow", func(s *rspec.Spec) {
			addUserNS(s)
			s.Linux.GIDMappings[0] = rspec.LinuxIDMapping{ContainerID: 0, HostID: 4294967295, Size: 2}
		}, `config.json: linux.gidMappings[0]: hostID 4294967295 + size 2 is past the last ID`},
		{"mapping container overlap", func(s *rspec.Spec) {
			addUserNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: 500, HostID: 300000, Size: 10})
		}, `config.json: linux.uidMappings[1]: container IDs overlap with linux.uidMappings[0]`},
		{"mapping host overlap", func(s *rspec.Spec) {
			addUserNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: 70000, HostID: 100100, Size: 10})
		}, `config.json: linux.uidMappings[1]: host IDs overlap with linux.uidMappings[0]`},
		{"too many mappings", func(s *rspec.Spec) {
			addUserNS(s)
			s.Linux.UIDMappings = nil
			for i := range uint32(341) {
				s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: i, HostID: 100000 + i, Size: 1})
			}
		}, `config.json: linux.uidMappings: 341 mappings; the kernel takes at most 340`},
		{"sysctl not namespaced", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} },
			`config.json: linux.sysctl["vm.swappiness"]: "vm.swappiness" is not namespaced: setting it would change the host`},
		{"sysctl net without netns", func(s *rspec.Spec) {
			removeNS(s, rspec.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net/ipv4/conf/eth0.100/forwarding": "1"}
		}, `config.json: linux.sysctl["net/ipv4/conf/eth0.100/forwarding"]: needs a "network" namespace in linux.namespaces`},
		{"sysctl ipc without ipcns", func(s *rspec.Spec) {
			removeNS(s, rspec.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
		}, `config.json: linux.sysctl["fs.mqueue.msg_max"]: needs a "ipc" namespace`},
		{"sysctl hostname", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} },
			`config.json: linux.sysctl["kernel.hostname"]: set the hostname with the "hostname" field instead`},
		{"sysctl escape", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"net/../../etc": "x"} },
			`config.json: linux.sysctl["net/../../etc"]: "net/../../etc" is not a sysctl name`},
		{"sysctl empty component", func(s *rspec.Spec) { s.Linux.Sysctl = map[string]string{"net..ipv4": "x"} },
			`config.json: linux.sysctl["net..ipv4"]: "net..ipv4" is not a sysctl name`},
		{"timeOffsets without timens", func(s *rspec.Spec) {
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, `config.json: linux.timeOffsets: clock offsets need a new "time" namespace (without a path) in linux.namespaces`},
		{"timeOffsets with joined timens", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace, Path: "/proc/1/ns/time"})
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"boottime": {Secs: 1}}
		}, `config.json: linux.timeOffsets: clock offsets need a new "time" namespace`},
		{"timeOffsets clock", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, `config.json: linux.timeOffsets.realtime: unknown clock "realtime"`},
		{"timeOffsets nanosecs", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Nanosecs: 1e9}}
		}, `config.json: linux.timeOffsets.monotonic.nanosecs: 1000000000 is not below one second`},
		{"personality domain", func(s *rspec.Spec) { s.Linux.Personality = &rspec.LinuxPersonality{Domain: "LINUX64"} },
			`config.json: linux.personality.domain: unknown domain "LINUX64"`},
		{"personality flags", func(s *rspec.Spec) {
			s.Linux.Personality = &rspec.LinuxPersonality{Domain: rspec.PerLinux32, Flags: []rspec.LinuxPersonalityFlag{"X"}}
		}, `config.json: linux.personality.flags[0]: unknown flag "X" (no flags are defined)`},
		{"masked path relative", func(s *rspec.Spec) { s.Linux.MaskedPaths[3] = "proc/keys" },
			`config.json: linux.maskedPaths[3]: "proc/keys" is not an absolute path`},
		{"readonly path relative", func(s *rspec.Spec) { s.Linux.ReadonlyPaths[0] = "" },
			`config.json: linux.readonlyPaths[0]: is required`},
		{"masked paths without mountns", func(s *rspec.Spec) { removeNS(s, rspec.MountNamespace) },
			`config.json: linux.maskedPaths: needs a "mount" namespace in linux.namespaces`},
		{"rootfsPropagation", func(s *rspec.Spec) { s.Linux.RootfsPropagation = "rbind" },
			`config.json: linux.rootfsPropagation: unknown propagation "rbind"`},
		{"device path", func(s *rspec.Spec) { s.Linux.Devices = []rspec.LinuxDevice{{Path: "dev/fuse", Type: "c"}} },
			`config.json: linux.devices[0].path: "dev/fuse" is not an absolute path`},
		{"device type", func(s *rspec.Spec) { s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/fuse", Type: "x"}} },
			`config.json: linux.devices[0].type: unknown device type "x"`},
		{"intelRdt", func(s *rspec.Spec) { s.Linux.IntelRdt = &rspec.LinuxIntelRdt{ClosID: "x"} },
			`config.json: linux.intelRdt: Intel RDT is not supported by this build of berth`},
		{"memoryPolicy mode", func(s *rspec.Spec) { s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: "MPOL_SPREAD", Nodes: "0"} },
			`config.json: linux.memoryPolicy.mode: unknown mode "MPOL_SPREAD"`},
		{"memoryPolicy bind without nodes", func(s *rspec.Spec) { s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind} },
			`config.json: linux.memoryPolicy.nodes: MPOL_BIND needs at least one node`},
		{"memoryPolicy local with nodes", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolLocal, Nodes: "0"}
		},
			`config.json: linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes`},
		{"memoryPolicy nodes", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0-2048"}
		},
			`config.json: linux.memoryPolicy.nodes: "0-2048" is not a list like "0-3,7": 2048 is not below 1023`},
		{"memoryPolicy flag", func(s *rspec.Spec) {
			s.Linux.MemoryPolicy = &rspec.LinuxMemoryPolicy{Mode: rspec.MpolBind, Nodes: "0", Flags: []rspec.MemoryPolicyFlagType{"MPOL_F_FAST"}}
		}, `config.json: linux.memoryPolicy.flags[0]: unknown flag "MPOL_F_FAST"`},
		{"netDevices without netns", func(s *rspec.Spec) {
			removeNS(s, rspec.NetworkNamespace)
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth1": {}}
		}, `config.json: linux.netDevices: needs a "network" namespace in linux.namespaces`},
		{"netDevices host name", func(s *rspec.Spec) { s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth/1": {}} },
			`config.json: linux.netDevices["eth/1"]: "eth/1" is not a network interface name`},
		{"netDevices new name", func(s *rspec.Spec) {
			s.Linux.NetDevices = map[string]rspec.LinuxNetDevice{"eth1": {Name: "a-name-that-is-too-long"}}
		}, `config.json: linux.netDevices.eth1.name: "a-name-that-is-too-long" is not a network interface name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := newBundle(t)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			spec := Default()
			tt.modify(spec)
			err := Validate(spec, bundle)
			if err == nil {
				t.Fatalf("Validate accepted the config; want error %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			found := false
			for _, line := range lines {
				if strings.HasPrefix(line, tt.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("error\n%s\nhas no line starting with\n%s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v holds no *FieldError", err)
			}
		})
	}
}

func removeNS(s *rspec.Spec, t rspec.LinuxNamespaceType) {
	var out []rspec.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

// addUserNS adds a new user namespace with a typical subordinate-ID mapping.
func addUserNS(s *rspec.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
	s.Linux.UIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// TestValidateAccepts checks valid configs that exercise the optional
// fields, so the validator is not simply rejecting everything unusual.
// TestValidateRootSymlink: a root.path that is a symlink (here to the
// bundle's real rootfs) is refused, as runc refuses it.
func TestValidateRootSymlink(t *testing.T) {
	bundle := newBundle(t)
	if err := os.Symlink("rootfs", filepath.Join(bundle, "link")); err != nil {
		t.Fatal(err)
	}
	spec := Default()
	spec.Root.Path = "link"
	err := Validate(spec, bundle)
	if err == nil || !strings.Contains(err.Error(), `config.json: root.path: "link": `) || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("symlinked root.path: %v", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *rspec.Spec)
	}{
		{"default", func(s *rspec.Spec) {}},
		{"runc 1.1 version", func(s *rspec.Spec) { s.Version = "1.0.2-dev" }},
		{"1.0.0", func(s *rspec.Spec) { s.Version = "1.0.0" }},
		{"1.0.0-rc5", func(s *rspec.Spec) { s.Version = "1.0.0-rc5" }},
		{"1.2.1", func(s *rspec.Spec) { s.Version = "1.2.1" }},
		{"1.3.0-rc.1+build", func(s *rspec.Spec) { s.Version = "1.3.0-rc.1+build.5" }},
		{"absolute rootfs", func(s *rspec.Spec) {}}, // root.path rewritten below
		{"relative mount destination", func(s *rspec.Spec) {
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "data", Type: "tmpfs", Source: "tmpfs"})
		}},
		{"all capabilities", func(s *rspec.Spec) {
			s.Process.Capabilities.Bounding = CapabilityNames()
			s.Process.Capabilities.Ambient = []string{"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
		}},
		{"rlimits", func(s *rspec.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits,
				rspec.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 0, Hard: ^uint64(0)},
				rspec.POSIXRlimit{Type: "RLIMIT_RTTIME", Soft: 5, Hard: 5})
		}},
		{"user namespace and idmap mount", func(s *rspec.Spec) {
			addUserNS(s)
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/data", Source: "/srv", Type: "none", Options: []string{"rbind", "ridmap"}})
		}},
		{"idmap mount with own mappings", func(s *rspec.Spec) {
			m := []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
			s.Mounts = append(s.Mounts, rspec.Mount{Destination: "/data", Source: "/srv", Options: []string{"bind", "idmap"}, UIDMappings: m, GIDMappings: m})
		}},
		{"joined user namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace, Path: "/proc/1/ns/user"})
		}},
		{"adjacent mappings", func(s *rspec.Spec) {
			addUserNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, rspec.LinuxIDMapping{ContainerID: 65536, HostID: 165536, Size: 1})
		}},
		{"namespaced sysctls", func(s *rspec.Spec) {
			s.Linux.Sysctl = map[string]string{
				"net.ipv4.ip_forward":               "1",
				"net/ipv4/conf/eth0.100/forwarding": "1",
				"net.ipv4.conf.eth0/100.rp_filter":  "1",
				"kernel.shmmax":                     "1",
				"fs.mqueue.msg_max":                 "10",
				"kernel.domainname":                 "example.org",
			}
		}},
		{"time namespace", func(s *rspec.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.TimeNamespace})
			s.Linux.TimeOffsets = map[string]rspec.LinuxTimeOffset{"monotonic": {Secs: -5, Nanosecs: 999999999}, "boottime": {Secs: 86400}}
		}},
		{"process extras", func(s *rspec.Spec) {
			s.Process.User.Umask = ptr(uint32(0o22))
			s.Process.OOMScoreAdj = ptr(-1000)
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedRR, Priority: 99, Nice: -20,
				Flags: []rspec.LinuxSchedulerFlag{rspec.SchedFlagResetOnFork}}
			s.Process.IOPriority = &rspec.LinuxIOPriority{Class: rspec.IOPRIO_CLASS_IDLE, Priority: 7}
			s.Process.ExecCPUAffinity = &rspec.CPUAffinity{Initial: "7", Final: "0-3,7"}
			s.Linux.Personality = &rspec.LinuxPersonality{Domain: rspec.PerLinux32}
			s.Linux.RootfsPropagation = "rslave"
			s.Linux.Devices = []rspec.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		}},
		{"deadline", func(s *rspec.Spec) {
			s.Process.Scheduler = &rspec.Scheduler{Policy: rspec.SchedDeadline, Runtime: 10000, Deadline: 20000, Period: 30000}
		}},
		{"hooks", func(s *rspec.Spec) {
			s.Hooks = &rspec.Hooks{
				Prestart:        []rspec.Hook{{Path: "/bin/true"}},
				CreateRuntime:   []rspec.Hook{{Path: "/bin/true", Args: []string{"true"}, Env: []string{"A=1"}, Timeout: ptr(5)}},
				CreateContainer: []rspec.Hook{{Path: "/bin/true"}},
				StartContainer:  []rspec.Hook{{Path: "/bin/true"}},
				Poststart:       []rspec.Hook{{Path: "/bin/true"}},
				Poststop:        []rspec.Hook{{Path: "/bin/true"}},
			}
		}},
		{"no linux section, no hostname", func(s *rspec.Spec) { s.Linux = nil; s.Hostname = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := newBundle(t)
			spec := Default()
			if tt.name == "absolute rootfs" {
				spec.Root.Path = filepath.Join(bundle, "rootfs")
			}
			tt.modify(spec)
			if err := Validate(spec, bundle); err != nil {
				t.Fatalf("Validate rejected a valid config:\n%v", err)
			}
		})
	}
}

// TestValidateReportsAll checks that every problem is reported, one per
// line, in a stable order.
func TestValidateReportsAll(t *testing.T) {
	spec := Default()
	spec.Version = "9.0.0"
	spec.Process.Cwd = "rel"
	spec.Process.Capabilities.Bounding[1] = "CAP_NOPE"
	spec.Linux.Sysctl = map[string]string{"vm.b": "1", "vm.a": "1"}
	err := Validate(spec, "")
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	want := `config.json: ociVersion: "9.0.0": unsupported (this build supports 1.0.0 to 1.3.0)
config.json: process.cwd: "rel" is not an absolute path
config.json: process.capabilities.bounding[1]: unknown capability "CAP_NOPE"
config.json: linux.sysctl["vm.a"]: "vm.a" is not namespaced: setting it would change the host
config.json: linux.sysctl["vm.b"]: "vm.b" is not namespaced: setting it would change the host`
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
}

func TestValidateProcess(t *testing.T) {
	p := Default().Process
	p.Args = nil
	p.Capabilities.Ambient = []string{"CAP_FOO"}
	err := ValidateProcess(p, "process.json")
	want := "process.json: args: must not be empty: it names the program to run\n" +
		`process.json: capabilities.ambient[0]: unknown capability "CAP_FOO"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant\n%s", err, want)
	}
	if err := ValidateProcess(Default().Process, "process.json"); err != nil {
		t.Fatalf("default process rejected: %v", err)
	}
}

func TestRootfsPath(t *testing.T) {
	for _, tt := range []struct{ bundle, root, want string }{
		{"/b", "rootfs", "/b/rootfs"},
		{"/b", "/abs/rootfs/", "/abs/rootfs"},
		{"/b", "../other", "/other"},
		{"rel", "rootfs", "rel/rootfs"},
	} {
		if got := RootfsPath(tt.bundle, &rspec.Root{Path: tt.root}); got != tt.want {
			t.Errorf("RootfsPath(%q, %q) = %q, want %q", tt.bundle, tt.root, got, tt.want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	for _, tt := range []struct {
		key, want string
		ok        bool
	}{
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward", true},
		{"net/ipv4/ip_forward", "net/ipv4/ip_forward", true},
		{"net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter", true},
		{"net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter", true},
		{"kernel", "kernel", true},
		{"", "", false},
		{".net.x", "", false},
		{"net.", "", false},
		{"net/../x", "", false},
		{"/net/x", "", false},
		{"net.a b", "", false},
	} {
		got, ok := SysctlPath(tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// BenchmarkValidate keeps an eye on the cost on the container start path.
func BenchmarkValidate(b *testing.B) {
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		b.Fatal(err)
	}
	spec := Default()
	for b.Loop() {
		if err := Validate(spec, dir); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMaxVersionConstants(t *testing.T) {
	major, minor, patch, ok := parseSemver(MaxVersion)
	if !ok || major != 1 || minor != maxMinor || patch != maxPatch {
		t.Fatalf("MaxVersion %q does not match maxMinor %d, maxPatch %d", MaxVersion, maxMinor, maxPatch)
	}
	if err := Validate(&rspec.Spec{Version: MaxVersion}, ""); err != nil && strings.Contains(err.Error(), "ociVersion") {
		t.Fatalf("MaxVersion rejected: %v", err)
	}
}
