package runtime_test

import (
	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProcessArgsEnvCwd(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	// HOME is given because runc-compatible runtimes add one when it is missing.
	c.Spec.Process.Env = []string{"PATH=/bin", "WITH_SPACE=a b  c", "EMPTY=", "EQUALS=x=y", "HOME=/nowhere"}
	c.Spec.Process.Cwd = "/etc"
	rep := c.probe("--exit", "0", "--stat", "arg with spaces", "--stat", "")
	want := []string{"/probe", "--exit", "0", "--stat", "arg with spaces", "--stat", ""}
	if !reflect.DeepEqual(rep.Args, want) {
		t.Errorf("args %q, want %q", rep.Args, want)
	}
	if !reflect.DeepEqual(rep.Env, c.Spec.Process.Env) {
		t.Errorf("env %q, want exactly %q", rep.Env, c.Spec.Process.Env)
	}
	if rep.Cwd != "/etc" {
		t.Errorf("cwd %q, want /etc", rep.Cwd)
	}
}

// TestProcessArgsPATHLookup: a bare args[0] is looked up in the process's PATH.
func TestProcessArgsPATHLookup(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "sh", "-c", "echo found-via-path")
	c.Spec.Process.Env = []string{"PATH=/nonexistent:/bin"}
	if r := c.run(); r.Code != 0 || !strings.Contains(r.Stdout, "found-via-path") {
		t.Errorf("%s", r.describe())
	}
}

func TestProcessUser(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{2000, 3000}, Umask: ptr(uint32(0o027))}
	rep := c.probe()
	if rep.UID != 1000 || rep.EUID != 1000 || rep.GID != 1000 || rep.EGID != 1000 {
		t.Errorf("uid/euid/gid/egid %d/%d/%d/%d, want 1000 for all", rep.UID, rep.EUID, rep.GID, rep.EGID)
	}
	groups := append([]int{}, rep.Groups...)
	sort.Ints(groups)
	if !reflect.DeepEqual(groups, []int{2000, 3000}) {
		t.Errorf("supplementary groups %v, want [2000 3000]", rep.Groups)
	}
	if rep.Umask != "0027" {
		t.Errorf("umask %s, want 0027", rep.Umask)
	}

	def := newContainer(t)
	if rep := def.probe(); rep.Umask != "0022" || len(rep.Groups) != 0 {
		t.Errorf("default umask %s groups %v, want 0022 and none", rep.Umask, rep.Groups)
	}
}

// TestTerminal: with process.terminal the runtime sends the pty master to
// --console-socket; stdio is the pty, sized by consoleSize; /dev/console
// is the pty.
func TestTerminal(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/probe", "--stat", "/dev/console", "--stat", "/dev/tty")
	c.Spec.Process.Terminal = true
	c.Spec.Process.ConsoleSize = &specs.Box{Height: 40, Width: 120}
	cs := newConsoleSocket(t)
	c.mustCreate("--console-socket", cs.Path)
	cs.waitMaster(t)
	c.start()
	rep := cs.waitReport(t)
	for fd, tty := range rep.TTY {
		if !tty.IsTTY {
			t.Errorf("fd %d is not a terminal", fd)
		}
	}
	if rep.TTY[1].Rows != 40 || rep.TTY[1].Cols != 120 {
		t.Errorf("terminal size %dx%d, want 40 rows x 120 cols", rep.TTY[1].Rows, rep.TTY[1].Cols)
	}
	if st := rep.Stats["/dev/console"]; st.Type != "char" || st.Major != 136 {
		t.Errorf("/dev/console %+v, want the pty (char 136:N)", st)
	}
	if out := c.output(); out != "" {
		t.Errorf("with a terminal, output also went to the runtime's stdout: %q", out)
	}
}

// TestTerminalWithoutSocket: terminal true without --console-socket is an error.
func TestTerminalWithoutSocket(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/true")
	c.Spec.Process.Terminal = true
	if r := c.create(); r.Code == 0 {
		t.Errorf("create with a terminal but no --console-socket succeeded")
	} else {
		assertNothingLeft(t, c, r)
	}
}

// TestExecTerminal: exec with a terminal (containerd's process JSON and
// podman's --tty) also hands the pty master to the console socket.
func TestExecTerminal(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	for name, extra := range map[string][]string{"process-json": nil, "tty-flag": {"--tty"}} {
		cs := newConsoleSocket(t)
		// containerd puts terminal in the process JSON only; podman also passes --tty.
		procFile := execProcessFile(t, c, "/probe")
		b := readFile(t, procFile)
		must(t, os.WriteFile(procFile, []byte(strings.Replace(b, `{`, `{"terminal":true,`, 1)), 0o644))
		args := append([]string{"exec", "--process", procFile, "--detach", "--console-socket", cs.Path}, extra...)
		if r := c.rt(append(args, c.ID)...); r.Code != 0 {
			t.Errorf("%s: %s", name, r.describe())
			continue
		}
		cs.waitMaster(t)
		rep := cs.waitReport(t)
		if !rep.TTY[0].IsTTY || !rep.TTY[1].IsTTY {
			t.Errorf("%s: exec'd process stdio is not a terminal: %+v", name, rep.TTY)
		}
	}
}

// TestCapabilities sets all five sets. For a non-root process the kernel
// keeps only the ambient set as permitted/effective across execve; for
// root with noNewPrivileges, permitted and effective are the permitted set.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	caps := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Effective:   []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	t.Run("non-root", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t)
		c.Spec.Process.User = specs.User{UID: 1000, GID: 1000}
		c.Spec.Process.Capabilities = caps
		rep := c.probe()
		for set, want := range map[string][]string{
			"bounding": caps.Bounding, "inheritable": caps.Inheritable, "ambient": caps.Ambient,
			"permitted": caps.Ambient, "effective": caps.Ambient,
		} {
			if !sameSet(rep.Caps[set], want) {
				t.Errorf("%s capabilities %v, want %v", set, rep.Caps[set], want)
			}
		}
	})
	t.Run("root", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t)
		c.Spec.Process.Capabilities = caps
		c.Spec.Process.NoNewPrivileges = true
		rep := c.probe()
		for set, want := range map[string][]string{
			"bounding": caps.Bounding, "inheritable": caps.Inheritable, "ambient": caps.Ambient,
			"permitted": caps.Permitted, "effective": caps.Permitted,
		} {
			if !sameSet(rep.Caps[set], want) {
				t.Errorf("%s capabilities %v, want %v", set, rep.Caps[set], want)
			}
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t)
		c.Spec.Process.Capabilities = nil
		rep := c.probe()
		for _, set := range []string{"bounding", "permitted", "effective", "inheritable", "ambient"} {
			if len(rep.Caps[set]) != 0 {
				t.Errorf("without process.capabilities the %s set is %v, want empty", set, rep.Caps[set])
			}
		}
	})
}

func sameSet(a, b []string) bool {
	x, y := append([]string{}, a...), append([]string{}, b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}

// TestRlimits reads /proc/self/limits through busybox cat, since the probe
// (a Go program) has its soft NOFILE limit raised by the Go runtime.
func TestRlimits(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/cat", "/proc/self/limits")
	c.Spec.Process.Rlimits = []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200},
		{Type: "RLIMIT_NPROC", Soft: 500, Hard: 1000},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
		{Type: "RLIMIT_MSGQUEUE", Soft: 4096, Hard: 8192},
	}
	r := c.run()
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	for label, want := range map[string][2]string{
		"Max open files": {"100", "200"}, "Max processes": {"500", "1000"},
		"Max core file size": {"0", "0"}, "Max msgqueue size": {"4096", "8192"},
	} {
		soft, hard := limitsLine(r.Stdout, label)
		if soft != want[0] || hard != want[1] {
			t.Errorf("%s: %s/%s, want %s/%s", label, soft, hard, want[0], want[1])
		}
	}
	// The probe sees the same hard limits.
	p := newContainer(t)
	p.Spec.Process.Rlimits = c.Spec.Process.Rlimits
	if rep := p.probe(); rep.Rlimits["RLIMIT_NOFILE"].Hard != 200 || rep.Rlimits["RLIMIT_NPROC"].Soft != 500 {
		t.Errorf("probe rlimits %+v", rep.Rlimits)
	}
}

// limitsLine finds the soft and hard values of a /proc/self/limits row.
func limitsLine(limits, label string) (string, string) {
	for _, l := range strings.Split(limits, "\n") {
		if strings.HasPrefix(l, label+" ") {
			f := strings.Fields(strings.TrimPrefix(l, label))
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	return "", ""
}

func TestNoNewPrivileges(t *testing.T) {
	t.Parallel()
	for _, nnp := range []bool{true, false} {
		c := newContainer(t)
		c.Spec.Process.NoNewPrivileges = nnp
		want := 0
		if nnp {
			want = 1
		}
		if rep := c.probe(); rep.NoNewPrivs != want {
			t.Errorf("noNewPrivileges %v: NoNewPrivs %d", nnp, rep.NoNewPrivs)
		}
	}
}

func TestOOMScoreAdj(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Process.OOMScoreAdj = ptr(345)
	if rep := c.probe(); rep.OOMScoreAdj != 345 {
		t.Errorf("oom_score_adj %d, want 345", rep.OOMScoreAdj)
	}
}

func TestScheduler(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not implement process.scheduler")
	c := newContainer(t)
	c.Spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
	if rep := c.probe(); rep.Sched.Policy != "SCHED_BATCH" || rep.Sched.Nice != 7 {
		t.Errorf("scheduler %+v, want SCHED_BATCH nice 7", rep.Sched)
	}
	idle := newContainer(t)
	idle.Spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle}
	if rep := idle.probe(); rep.Sched.Policy != "SCHED_IDLE" {
		t.Errorf("scheduler %+v, want SCHED_IDLE", rep.Sched)
	}
}

func TestIOPriority(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not implement process.ioPriority")
	c := newContainer(t)
	c.Spec.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
	if rep := c.probe(); rep.IOPrio.Class != "IOPRIO_CLASS_BE" || rep.IOPrio.Priority != 6 {
		t.Errorf("io priority %+v, want IOPRIO_CLASS_BE 6", rep.IOPrio)
	}
	idle := newContainer(t)
	idle.Spec.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
	if rep := idle.probe(); rep.IOPrio.Class != "IOPRIO_CLASS_IDLE" {
		t.Errorf("io priority %+v, want IOPRIO_CLASS_IDLE", rep.IOPrio)
	}
}

func TestHostname(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Hostname = "probe-host"
	if rep := c.probe(); rep.Hostname != "probe-host" {
		t.Errorf("hostname %q, want probe-host", rep.Hostname)
	}
	if h, _ := os.Hostname(); h == "probe-host" {
		t.Errorf("the container changed the host's hostname")
	}
}

// TestNoFDLeak: the process gets exactly stdin, stdout and stderr; fds the
// runtime inherited are passed on only with --preserve-fds.
func TestNoFDLeak(t *testing.T) {
	t.Parallel()
	extra, err := os.Open(filepath.Join("/proc", "self", "status"))
	must(t, err)
	defer extra.Close()
	for _, preserve := range []int{0, 1} {
		c := newContainer(t)
		c.Spec.Process.Args = []string{"/probe"}
		c.save()
		f := c.outFile()
		args := c.globals("run", "--bundle", c.Bundle)
		if preserve > 0 {
			args = append(args, "--preserve-fds", strconv.Itoa(preserve))
		}
		r := runRuntime(t, append(args, c.ID), f, []*os.File{extra})
		f.Close()
		if r.Code != 0 {
			t.Fatalf("%s", r.describe())
		}
		rep := parseReport(t, r.Stdout)
		var fds []int
		for fd := range rep.FDs {
			fds = append(fds, fd)
		}
		sort.Ints(fds)
		want := []int{0, 1, 2}
		if preserve > 0 {
			want = append(want, 3)
		}
		if !reflect.DeepEqual(fds, want) {
			t.Errorf("--preserve-fds %d: open fds in the container %v (%v), want %v", preserve, fds, rep.FDs, want)
		}
	}
}

func TestDomainname(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 ignores domainname")
	c := newContainer(t)
	c.Spec.Domainname = "probe.domain"
	if rep := c.probe(); rep.Domainname != "probe.domain" {
		t.Errorf("domainname %q, want probe.domain", rep.Domainname)
	}
}

// TestExecPerProcessSettings: a process `exec` starts gets the per-process
// settings of the container's config that live outside process.json, as
// the init did: linux.personality and a fresh session keyring of the
// container's (not the caller's).
func TestExecPerProcessSettings(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not implement linux.personality")
	c := newContainer(t, "/bin/sleep", "1000")
	c.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	c.mustCreate()
	c.start()
	rep := parseReport(t, c.mustRT("exec", c.ID, "/probe").Stdout)
	if rep.Personality != 0x0008 {
		t.Errorf("exec'd process personality %#x, want PER_LINUX32 (0x8) from linux.personality", rep.Personality)
	}
	own, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SessionKeyring == 0 || rep.SessionKeyring == int32(own) {
		t.Errorf("exec'd process session keyring %d (%q); the caller's is %d: want one of the container's own", rep.SessionKeyring, rep.SessionKeyringDesc, own)
	}
	if !strings.Contains(rep.SessionKeyringDesc, c.ID) {
		t.Errorf("exec'd process session keyring %q is not the container's (%s)", rep.SessionKeyringDesc, c.ID)
	}
}

// TestExecJoinsEveryCgroup: an exec'd process is in every cgroup of the
// container's init (in each v1 hierarchy, the memory one too, which berth
// joins only after the clone), whichever namespaces it joins first.
func TestExecJoinsEveryCgroup(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	r := c.mustRT("exec", c.ID, "/bin/sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup")
	self, init, ok := strings.Cut(r.Stdout, "---\n")
	if !ok || strings.TrimSpace(self) != strings.TrimSpace(init) {
		t.Errorf("the exec'd process's cgroups differ from the init's:\n%s", r.Stdout)
	}
}

// TestExecRepeated: exec after exec into a container with its own pid
// namespace, two at a time. berth-init forks into the pid namespace and
// reports the final pid before that process may speak; an exec whose
// program starts at once must never have its "ready" arrive first.
func TestExecRepeated(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	c.start()
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if r := c.rt("exec", c.ID, "/bin/true"); r.Code != 0 {
					t.Errorf("exec %d: %s", i, r.describe())
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestSignalStateClean: the container's process, and an exec'd one,
// start with no signal blocked or caught, and none ignored but what the
// caller ignores itself (an ignored signal is inherited through fork and
// exec, and runc passes on the ones its Go runtime leaves alone too).
// berth starts berth-init with every signal blocked (its clone shares the
// runtime's memory until the exec), and a user namespace takes Go's own
// fork path: both must end clean.
func TestSignalStateClean(t *testing.T) {
	t.Parallel()
	ownIgnored := sigMask(t, readFile(t, "/proc/self/status"), "SigIgn")
	for _, userns := range []bool{false, true} {
		c := newContainer(t)
		if userns {
			c = userNSContainer(t)
		}
		c.Spec.Process.Args = []string{"/bin/sleep", "1000"}
		c.mustCreate()
		c.start()
		for who, pid := range map[string]string{"init": "1", "exec": "self"} {
			status := c.mustRT("exec", c.ID, "/bin/cat", "/proc/"+pid+"/status").Stdout
			if m := sigMask(t, status, "SigBlk"); m != 0 {
				t.Errorf("user namespace %v: the %s process starts with signals %#x blocked, want none:\n%s", userns, who, m, status)
			}
			if m := sigMask(t, status, "SigCgt"); m != 0 {
				t.Errorf("user namespace %v: the %s process starts with handlers for signals %#x, want none:\n%s", userns, who, m, status)
			}
			if m := sigMask(t, status, "SigIgn") &^ ownIgnored; m != 0 {
				t.Errorf("user namespace %v: the %s process ignores signals %#x that the caller does not (it ignores %#x):\n%s", userns, who, m, ownIgnored, status)
			}
		}
	}
}

// sigMask is a signal mask field of a /proc/<pid>/status text.
func sigMask(t *testing.T, status, field string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + field + `:\s*([0-9a-f]+)$`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no %s in:\n%s", field, status)
	}
	v, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return v
}
