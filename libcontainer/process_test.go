package libcontainer

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
)

func testProcess() *specs.Process {
	umask := uint32(0o077)
	adj := 100
	return &specs.Process{
		Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "",
		User: specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{5, 6}, Umask: &umask},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_KILL"},
			Permitted: []string{"CAP_KILL"}, Inheritable: []string{"CAP_KILL"}, Ambient: []string{"CAP_KILL"},
		},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}},
		OOMScoreAdj:     &adj,
		NoNewPrivileges: true,
		Scheduler:       &specs.Scheduler{Policy: "SCHED_BATCH", Nice: 3},
		IOPriority:      &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_BE", Priority: 4},
	}
}

func TestPlanProcess(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Personality: &specs.LinuxPersonality{Domain: "LINUX32"},
		MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND", Nodes: "0"}}}
	p, err := planProcess(testProcess(), spec, processOpts{keyring: "id1", consoleFD: 7, consoleMount: true, preserveFDs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cwd != "/" || p.Umask != 0o077 || p.UID != 1000 || p.GID != 100 || len(p.Groups) != 2 || !p.HomeLookup || p.PreserveFDs != 2 {
		t.Errorf("basics: %+v", p)
	}
	kill := uint64(1) << unix.CAP_KILL
	if p.Caps[0] != kill|1<<unix.CAP_CHOWN || p.Caps[1] != kill || p.Caps[4] != kill {
		t.Errorf("capability bits %x", p.Caps)
	}
	if len(p.Rlimits) != 1 || p.Rlimits[0].Resource != unix.RLIMIT_NOFILE || p.Rlimits[0].Label != "process.rlimits[0] (RLIMIT_NOFILE)" {
		t.Errorf("rlimits %+v", p.Rlimits)
	}
	if len(p.Sched) != 48 || binary.LittleEndian.Uint32(p.Sched[4:]) != 3 /* SCHED_BATCH */ || int32(binary.LittleEndian.Uint32(p.Sched[16:])) != 3 {
		t.Errorf("sched_attr %x", p.Sched)
	}
	if p.IOPrio == nil || *p.IOPrio != 2<<13|4 {
		t.Errorf("ioprio %v", p.IOPrio)
	}
	if p.Personality == nil || *p.Personality != 8 /* PER_LINUX32 */ {
		t.Errorf("personality %v", p.Personality)
	}
	if p.MemPolicy == nil || p.MemPolicy.Mode != 2 /* MPOL_BIND */ || len(p.MemPolicy.Mask) != 128 || p.MemPolicy.Mask[0] != 1 {
		t.Errorf("memory policy %+v", p.MemPolicy)
	}
	if p.Affinity != nil {
		t.Error("the init got an exec CPU affinity")
	}
	if p.Console == nil || p.Console.FD != 7 || !p.Console.Mount || p.Keyring != "id1" || p.KeyringLabel {
		t.Errorf("console %+v keyring %q", p.Console, p.Keyring)
	}
}

func TestPlanProcessExec(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActErrno}}}}}
	proc := testProcess()
	proc.Env = append(proc.Env, "HOME=/root")
	proc.NoNewPrivileges = false
	p, err := planProcess(proc, spec, processOpts{consoleFD: -1, exec: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.HomeLookup || p.Console != nil || p.Keyring != "" {
		t.Errorf("exec: %+v", p)
	}
	// Without execCPUAffinity: every CPU the cgroup allows.
	if len(p.Affinity) != 128 || p.Affinity[0] != 0xff || p.Affinity[127] != 0xff {
		t.Errorf("default exec affinity %x", p.Affinity)
	}
	if p.Seccomp == nil || len(p.Seccomp.Program)%8 != 0 || len(p.Seccomp.Program) == 0 || !p.Seccomp.Early || p.Seccomp.Notify {
		t.Errorf("seccomp without no_new_privs loads early: %+v", p.Seccomp)
	}
	proc.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "1"}
	if p, err = planProcess(proc, spec, processOpts{consoleFD: -1, exec: true}); err != nil {
		t.Fatal(err)
	}
	if p.Affinity[0] != 2 {
		t.Errorf("final affinity 1: mask %x", p.Affinity[:2])
	}
}

func TestPlanProcessErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		edit func(*specs.Process, *specs.Linux)
		want string
	}{
		{func(p *specs.Process, _ *specs.Linux) { p.Capabilities.Effective = []string{"CAP_NOPE"} }, `process.capabilities.effective[0]: unknown capability "CAP_NOPE"`},
		{func(p *specs.Process, _ *specs.Linux) { p.Rlimits[0].Type = "RLIMIT_NOPE" }, `config.json: process.rlimits[0].type: unknown rlimit "RLIMIT_NOPE"`},
		{func(p *specs.Process, _ *specs.Linux) { p.Scheduler.Policy = "SCHED_ISO" }, `config.json: process.scheduler.policy: unknown policy "SCHED_ISO"`},
		{func(p *specs.Process, _ *specs.Linux) { p.IOPriority.Priority = 9 }, "config.json: process.ioPriority.priority: 9 is out of range (0 to 7)"},
		{func(_ *specs.Process, l *specs.Linux) { l.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, `config.json: linux.personality.domain: unknown domain "LINUX64"`},
		{func(_ *specs.Process, l *specs.Linux) {
			l.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND", Nodes: "2000"}
		}, "config.json: linux.memoryPolicy.nodes"},
		{func(_ *specs.Process, l *specs.Linux) {
			l.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}
		}, "config.json: linux.seccomp.defaultAction"},
	} {
		proc, linux := testProcess(), &specs.Linux{}
		tc.edit(proc, linux)
		if _, err := planProcess(proc, &specs.Spec{Linux: linux}, processOpts{consoleFD: -1}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

func TestPlanNamespaces(t *testing.T) {
	var added []*os.File
	addFD := func(f *os.File) int { added = append(added, f); return 10 + len(added) }
	linux := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace},
		{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace}}}
	p := &plan.Plan{}
	n, err := planNamespaces(linux, p, addFD)
	if err != nil {
		t.Fatal(err)
	}
	// All new: the clone makes them; the cgroup one waits for the cgroup.
	if n.cloneFlags != unix.CLONE_NEWPID|unix.CLONE_NEWNET|unix.CLONE_NEWNS || !n.newNetNS || !p.NewCgroupNS || p.Fork || p.Unshare != 0 {
		t.Errorf("fast path: %+v plan %+v", n, p)
	}

	// Joining: the user namespace first, the rest unshared by the init,
	// which forks for the pid namespace.
	linux.Namespaces = []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"},
		{Type: specs.UserNamespace, Path: "/proc/self/ns/user"}, {Type: specs.PIDNamespace}}
	p = &plan.Plan{}
	if n, err = planNamespaces(linux, p, addFD); err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if n.cloneFlags != 0 || len(p.Joins) != 2 || p.Joins[0].Type != unix.CLONE_NEWUSER || p.Joins[1].Label != `linux.namespaces[0].path "/proc/self/ns/net"` ||
		p.Unshare != unix.CLONE_NEWPID || !p.Fork || n.newNetNS {
		t.Errorf("joins: %+v plan %+v", n, p)
	}

	// A time namespace is unshared by the init (offsets before anyone
	// enters), with the offsets sorted by clock.
	linux.Namespaces = []specs.LinuxNamespace{{Type: specs.TimeNamespace}}
	linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 5}, "boottime": {Secs: -1, Nanosecs: 2}}
	p = &plan.Plan{}
	if _, err = planNamespaces(linux, p, addFD); err != nil {
		t.Fatal(err)
	}
	if p.Unshare != unix.CLONE_NEWTIME || !p.Fork || strings.Join(p.TimeOffsets, ";") != "boottime -1 2;monotonic 5 0" {
		t.Errorf("time namespace: %+v", p)
	}

	for _, bad := range []struct {
		ns   specs.LinuxNamespace
		want string
	}{
		{specs.LinuxNamespace{Type: "bogus"}, `linux.namespaces[0].type: unknown namespace "bogus"`},
		{specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/nope"}, "linux.namespaces[0].path: open /nope"},
		{specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/self/ns/net"}, "a namespace of another type"},
	} {
		linux.Namespaces = []specs.LinuxNamespace{bad.ns}
		if _, err := planNamespaces(linux, &plan.Plan{}, addFD); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.ns, err, bad.want)
		}
	}
}

func TestStateAroundPid(t *testing.T) {
	pre, suf, err := stateAroundPid(specs.State{Version: "1.3.0", ID: "x", Status: specs.StateCreating, Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pre + "42" + suf; got != `{"ociVersion":"1.3.0","id":"x","status":"creating","pid":42,"bundle":"/b"}` {
		t.Errorf("state with the init's pid: %s", got)
	}
}
