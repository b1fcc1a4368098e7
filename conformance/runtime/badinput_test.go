package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// badInput is a broken bundle and what the error must name: the file, the
// JSON path and the cause.
type badInput struct {
	name   string
	runc   string // why runc 1.1.5 fails this case, if it does
	break_ func(c *container)
	want   []string // substrings of the error (case-insensitive)
}

func badInputs() []badInput {
	rawConfig := func(s string) func(c *container) {
		return func(c *container) { must(c.t, os.WriteFile(filepath.Join(c.Bundle, "config.json"), []byte(s), 0o644)) }
	}
	edit := func(f func(s *specs.Spec)) func(c *container) {
		return func(c *container) { f(c.Spec); c.save() }
	}
	return []badInput{
		{name: "missing-config", break_: func(c *container) { os.Remove(filepath.Join(c.Bundle, "config.json")) },
			want: []string{"config.json", "no such file|not found|does not exist"}},
		{name: "malformed-json", runc: "runc does not name config.json", break_: rawConfig(`{"ociVersion": "1.3.0", "process": {`),
			want: []string{"config.json", "unexpected end of JSON|unexpected EOF"}},
		{name: "wrong-json-type", runc: "runc does not name config.json", break_: rawConfig(`{"ociVersion": "1.3.0", "process": {"args": "sh", "cwd": "/"}, "root": {"path": "rootfs"}}`),
			want: []string{"config.json", "process.args"}},
		{name: "unsupported-oci-version", runc: "runc 1.1.5 accepts any ociVersion",
			break_: edit(func(s *specs.Spec) { s.Version = "2.0.0" }), want: []string{"ociVersion", "2.0.0"}},
		{name: "missing-rootfs", runc: "runc does not name root.path",
			break_: edit(func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" }), want: []string{"root.path", "no-such-rootfs"}},
		{name: "missing-mount-source", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no-such-mount-source", Options: []string{"bind"}})
			}), want: []string{"mounts[7]", "/no-such-mount-source"}},
		{name: "unknown-capability", runc: "runc 1.1.5 ignores unknown capabilities",
			break_: edit(func(s *specs.Spec) {
				s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_BOGUS")
			}),
			want: []string{"process.capabilities.bounding", "CAP_BOGUS"}},
		{name: "unknown-syscall", runc: "runc 1.1.5 ignores unknown system calls",
			break_: edit(func(s *specs.Spec) {
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
					Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_syscall"}, Action: specs.ActErrno}}}
			}), want: []string{"linux.seccomp.syscalls[0].names", "no_such_syscall"}},
		{name: "failing-hook", runc: "runc does not name the hook",
			break_: edit(func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
			}), want: []string{"hooks.createRuntime[0]", "/bin/false"}},
		{name: "rlimit-above-hard-limit", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) {
				// Above fs.nr_open: not even CAP_SYS_RESOURCE may set it.
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: nrOpen + 1, Hard: nrOpen + 1}}
			}), want: []string{"process.rlimits[0]", "RLIMIT_NOFILE"}},
		{name: "unknown-rlimit", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}
			}), want: []string{"process.rlimits[0]", "RLIMIT_BOGUS"}},
		{name: "unknown-namespace", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			}), want: []string{"linux.namespaces[5]", "bogus"}},
		{name: "missing-namespace-path", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/no/such/netns" }),
			want:   []string{"linux.namespaces[1].path", "/no/such/netns"}},
		{name: "user-namespace-without-mount-namespace", runc: "runc fails in its init at mount / without naming the cause",
			break_: edit(func(s *specs.Spec) {
				s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UTSNamespace}, {Type: specs.UserNamespace}}
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				s.Linux.GIDMappings = s.Linux.UIDMappings
				s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
			}), want: []string{"linux.namespaces", "mount namespace"}},
		{name: "relative-cwd", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) { s.Process.Cwd = "relative/dir" }), want: []string{"process.cwd", "relative/dir"}},
		{name: "empty-args", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) { s.Process.Args = nil }), want: []string{"process.args"}},
		{name: "unknown-sysctl", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.no_such_sysctl": "1"} }),
			want:   []string{"linux.sysctl", "kernel.no_such_sysctl"}},
		{name: "nonexistent-cpuset", runc: "runc does not name the JSON path",
			break_: edit(func(s *specs.Spec) { s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "999"} }),
			want:   []string{"linux.resources.cpu.cpus", "999"}},
	}
}

// TestBadInput: each broken bundle fails create with a one-line error that
// names what is wrong, and leaves nothing behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.runc != "" {
				runcGap(t, tc.runc)
			}
			c := newContainer(t, "/bin/true")
			c.save()
			tc.break_(c)
			f := c.outFile()
			r := runRuntime(t, c.globals("create", "--bundle", c.Bundle, c.ID), f, nil)
			f.Close()
			if r.Code == 0 {
				t.Fatalf("create succeeded")
			}
			checkOneLineError(t, r, tc.want)
			assertNothingLeft(t, c, r)
			if out := c.output(); out != "" {
				t.Errorf("the container process ran: %q", out)
			}
		})
	}
}

// TestBadInputAllReported: a config with several bad fields, some that
// config validation finds (an rlimit type), some that only the runtime can
// judge (a seccomp action, a cgroup value, a CPU this host lacks), fails
// create with every one of them, one "config.json: <path>: <cause>" line
// each, on stderr and in the JSON log, and leaves nothing behind.
func TestBadInputAllReported(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc reports the first bad field only, without the file and JSON path")
	c := newContainer(t, "/bin/true")
	c.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}, {Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: "SCMP_ACT_BOGUS"}}}
	shares := uint64(1)
	c.Spec.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares, Cpus: "999"}}
	c.save()
	logFile := filepath.Join(t.TempDir(), "log.json")
	r := runRuntime(t, append([]string{"--log", logFile, "--log-format", "json"}, c.globals("create", "--bundle", c.Bundle, c.ID)...), nil, nil)
	if r.Code == 0 {
		t.Fatalf("create succeeded")
	}
	want := []string{
		`config.json: process.rlimits[1].type: unknown rlimit "RLIMIT_BOGUS"`,
		`config.json: linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_BOGUS"`,
		`config.json: linux.resources.cpu.shares: 1 is outside 2..262144`,
		`config.json: linux.resources.cpu.cpus: 999 is not online on this host`,
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != len(want) {
		t.Errorf("stderr has %d lines, want %d:\n%s", len(lines), len(want), r.Stderr)
	}
	for i, w := range want {
		if i < len(lines) && !strings.Contains(lines[i], w) {
			t.Errorf("stderr line %d: %q, want it to name %q", i+1, lines[i], w)
		}
	}
	// The log holds one error entry (what a shim shows), with all of them.
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(readFileQuiet(logFile)), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(l), &e) == nil && e.Level == "error" {
			msgs = append(msgs, e.Msg)
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("log has %d error entries, want 1: %q", len(msgs), msgs)
	}
	for _, w := range want {
		if !strings.Contains(msgs[0], w) {
			t.Errorf("the log's error %q does not name %q", msgs[0], w)
		}
	}
	assertNothingLeft(t, c, r)
}

// checkOneLineError: stderr is one line naming everything in want.
func checkOneLineError(t *testing.T, r result, want []string) {
	t.Helper()
	msg := strings.TrimSpace(r.Stderr)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("want a one-line error on stderr, got %q", msg)
	}
	for _, w := range want {
		found := false
		for _, alt := range strings.Split(w, "|") {
			found = found || strings.Contains(strings.ToLower(msg), strings.ToLower(alt))
		}
		if !found {
			t.Errorf("error %q does not name %q", msg, w)
		}
	}
}

// TestKilledDuringCreate: while create is under way the status is
// "creating"; a runtime killed in the middle of create leaves only what
// delete --force cleans up: also the mounts of a container without a
// mount namespace, which are in the host's mount table by then.
func TestKilledDuringCreate(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 has no state yet at that point; delete --force leaves the cgroups (and host mounts)")
	for _, hostMountNS := range []bool{false, true} {
		t.Run(map[bool]string{false: "mount-namespace", true: "host-mount-namespace"}[hostMountNS], func(t *testing.T) {
			t.Parallel()
			killedDuringCreate(t, hostMountNS)
		})
	}
}

func killedDuringCreate(t *testing.T, hostMountNS bool) {
	dir := t.TempDir()
	hookPid := filepath.Join(dir, "hook.pid")
	c := newContainer(t, "/bin/true")
	if hostMountNS {
		withoutMountNamespace(c)
	}
	// The createRuntime hook holds create in the middle: the init exists, the
	// cgroup is set up, create has not returned.
	c.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh",
		Args: []string{"sh", "-c", "echo $$ > " + hookPid + "; exec sleep 30"}}}}
	c.save()
	f := c.outFile()
	defer f.Close()
	cmd := runtimeCommand(c, f, "create", "--bundle", c.Bundle, c.ID)
	must(t, cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for readFileQuiet(hookPid) == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if readFileQuiet(hookPid) == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the createRuntime hook never ran")
	}
	// Meanwhile state reports the container as creating.
	if r := c.rt("state", c.ID); r.Code != 0 || !strings.Contains(r.Stdout, `"creating"`) {
		t.Errorf("state during create: %s", r.describe())
	}
	if hostMountNS && len(hostMountsUnder(t, filepath.Join(c.Bundle, "rootfs"))) == 0 {
		t.Errorf("no container mounts in the host's table during create")
	}
	must(t, cmd.Process.Kill())
	cmd.Wait()
	if pid, err := strconv.Atoi(strings.TrimSpace(readFileQuiet(hookPid))); err == nil {
		unix.Kill(pid, unix.SIGKILL) // the orchestrator's own clean-up of the hook
	}
	c.mustRT("delete", "--force", c.ID)
	// Give a killed init a moment to be reaped by its new parent.
	time.Sleep(100 * time.Millisecond)
	assertNothingLeft(t, c, result{})
}

// TestSecurityModuleNotOnHost: an AppArmor profile or SELinux label for a
// module the host does not run is refused at create (and exec), naming the
// field, rather than silently leaving the container unconfined. On a host
// that runs the module the case is skipped: it is then applied.
func TestSecurityModuleNotOnHost(t *testing.T) {
	t.Parallel()
	apparmor := fileExists("/sys/kernel/security/apparmor")
	selinux := fileExists("/sys/fs/selinux/enforce")
	for _, tc := range []struct {
		name   string
		onHost bool
		set    func(s *specs.Spec)
		field  string
	}{
		{"apparmor", apparmor, func(s *specs.Spec) { s.Process.ApparmorProfile = "berth-test" }, "process.apparmorProfile"},
		{"selinux-label", selinux, func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "process.selinuxLabel"},
		{"mount-label", selinux, func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }, "linux.mountLabel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.onHost {
				t.Skip("this host runs the module")
			}
			runcGap(t, "runc fails in its init without naming the field")
			c := newContainer(t, "/bin/true")
			tc.set(c.Spec)
			r := c.create()
			if r.Code == 0 {
				t.Fatalf("create succeeded")
			}
			checkOneLineError(t, r, []string{tc.field, "not enabled on this host"})
			assertNothingLeft(t, c, r)
		})
	}
	t.Run("exec-apparmor", func(t *testing.T) {
		t.Parallel()
		if apparmor {
			t.Skip("this host runs AppArmor")
		}
		runcGap(t, "runc fails in its init without naming the field")
		c := newContainer(t, "/bin/sleep", "1000")
		c.mustCreate()
		r := c.rt("exec", "--apparmor", "berth-test", c.ID, "/bin/true")
		if r.Code == 0 {
			t.Fatalf("exec --apparmor succeeded")
		}
		checkOneLineError(t, r, []string{"process.apparmorProfile", "not enabled on this host"})
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestIncompleteBundleRefused: a bundle berth-image was stopped while
// making (it still holds the marker berth-image removes last, e.g. an
// overlay bundle whose rootfs was never mounted) is refused by create,
// naming the marker, rather than run with an empty or half-made rootfs;
// nothing is left behind.
func TestIncompleteBundleRefused(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc knows nothing of berth-image's marker")
	c := newContainer(t, "/bin/true")
	must(t, os.WriteFile(filepath.Join(c.Bundle, incompleteMarker), []byte("berth-image bundle did not finish making this bundle\n"), 0o600))
	r := c.create()
	if r.Code == 0 || !strings.Contains(r.Stderr, incompleteMarker) || !strings.Contains(r.Stderr, "root.path") {
		t.Errorf("create of an unfinished bundle: want a failure naming root.path and %s: %s", incompleteMarker, r.describe())
	}
	assertNothingLeft(t, c, r)
}

// incompleteMarker is the file berth-image leaves in a bundle it has not
// finished (docs/imagetool.md).
const incompleteMarker = ".berth-incomplete"
