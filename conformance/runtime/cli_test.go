package runtime_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// listEntry is one element of `list --format json` (runc's shape).
type listEntry struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	Owner  string `json:"owner"`
}

func TestList(t *testing.T) {
	t.Parallel()
	a := newContainer(t, "/bin/sleep", "1000")
	b := newContainer(t, "/bin/true")
	b.Root = a.Root // both in one --root
	a.mustCreate()
	a.start()
	b.mustCreate()

	var entries []listEntry
	r := a.mustRT("list", "--format", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &entries); err != nil {
		t.Fatalf("list --format json is not a JSON array: %v\n%s", err, r.Stdout)
	}
	got := map[string]listEntry{}
	for _, e := range entries {
		got[e.ID] = e
	}
	if e := got[a.ID]; e.Status != "running" || e.Pid <= 0 || e.Bundle != a.Bundle || e.Rootfs != a.Rootfs {
		t.Errorf("list entry for the running container: %+v", e)
	}
	if e := got[b.ID]; e.Status != "created" || e.Bundle != b.Bundle {
		t.Errorf("list entry for the created container: %+v", e)
	}

	r = a.mustRT("list", "--format=json")
	if !strings.Contains(r.Stdout, a.ID) {
		t.Errorf("list --format=json lacks %s: %s", a.ID, r.Stdout)
	}

	r = a.mustRT("list")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || !hasAll(strings.Fields(lines[0]), "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER") {
		t.Fatalf("list table:\n%s\nwant a header ID PID STATUS BUNDLE CREATED OWNER and two rows", r.Stdout)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 || (f[0] == a.ID && f[2] != "running") || (f[0] == b.ID && f[2] != "created") {
			t.Errorf("list table row %q", l)
		}
	}

	r = a.mustRT("list", "--quiet")
	ids := strings.Fields(r.Stdout)
	if len(ids) != 2 || !hasAll(ids, a.ID, b.ID) {
		t.Errorf("list --quiet printed %q, want the two ids", r.Stdout)
	}
	r = a.mustRT("list", "-q")
	if len(strings.Fields(r.Stdout)) != 2 {
		t.Errorf("list -q printed %q", r.Stdout)
	}

	empty := newContainer(t)
	r = empty.mustRT("list", "--format", "json")
	if s := strings.TrimSpace(r.Stdout); s != "[]" && s != "null" {
		t.Errorf("list --format json of an empty root printed %q, want []", s)
	}
}

func TestSpecCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runRuntime(t, []string{"spec", "--bundle", dir}, nil, nil)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	var s specs.Spec
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "config.json"))), &s); err != nil {
		t.Fatalf("spec wrote invalid JSON: %v", err)
	}
	if s.Version == "" || s.Root == nil || s.Root.Path != "rootfs" || s.Process == nil || len(s.Process.Args) == 0 ||
		s.Linux == nil || len(s.Linux.Namespaces) == 0 || len(s.Mounts) == 0 {
		t.Errorf("spec wrote an incomplete config: %+v", s)
	}
	if r := runRuntime(t, []string{"spec", "--bundle", dir}, nil, nil); r.Code == 0 {
		t.Errorf("spec overwrote an existing config.json")
	}

	// The default config runs as written (with a non-interactive process).
	c := newContainer(t)
	s.Process.Terminal = false
	s.Process.Args = []string{"/probe"}
	c.Spec = &s
	rep := c.probe()
	if rep.Args[0] != "/probe" {
		t.Errorf("probe args %v", rep.Args)
	}

	rootless := t.TempDir()
	if r := runRuntime(t, []string{"spec", "--rootless", "--bundle", rootless}, nil, nil); r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	var rs specs.Spec
	must(t, json.Unmarshal([]byte(readFile(t, filepath.Join(rootless, "config.json"))), &rs))
	hasUserNS := false
	for _, ns := range rs.Linux.Namespaces {
		hasUserNS = hasUserNS || ns.Type == specs.UserNamespace
	}
	if !hasUserNS || len(rs.Linux.UIDMappings) == 0 || len(rs.Linux.GIDMappings) == 0 {
		t.Errorf("spec --rootless lacks a user namespace with mappings: %+v", rs.Linux)
	}
}

func readFeatures(t *testing.T) features.Features {
	t.Helper()
	r := runRuntime(t, []string{"features"}, nil, nil)
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	var f features.Features
	if err := json.Unmarshal([]byte(r.Stdout), &f); err != nil {
		t.Fatalf("features output is not JSON: %v\n%s", err, r.Stdout)
	}
	return f
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	f := readFeatures(t)
	if f.OCIVersionMin == "" || f.OCIVersionMax == "" {
		t.Errorf("features: ociVersionMin %q ociVersionMax %q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if !hasAll(f.Hooks, "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop") {
		t.Errorf("features hooks %v lack some of the six hook kinds", f.Hooks)
	}
	if !hasAll(f.MountOptions, "bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "relatime", "rprivate", "rslave", "rshared", "private", "slave", "shared", "unbindable") {
		t.Errorf("features mountOptions %v lack basic options", f.MountOptions)
	}
	if f.Linux == nil {
		t.Fatalf("features has no linux section")
	}
	if !hasAll(f.Linux.Namespaces, "pid", "network", "mount", "ipc", "uts", "user", "cgroup") {
		t.Errorf("features namespaces %v", f.Linux.Namespaces)
	}
	if !hasAll(f.Linux.Capabilities, "CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_AUDIT_READ") {
		t.Errorf("features capabilities %v", f.Linux.Capabilities)
	}
	if f.Linux.Cgroup == nil || f.Linux.Cgroup.V1 == nil || !*f.Linux.Cgroup.V1 {
		t.Errorf("features cgroup %+v: v1 must be true on this host", f.Linux.Cgroup)
	}
	if sc := f.Linux.Seccomp; sc == nil || sc.Enabled == nil || !*sc.Enabled ||
		!hasAll(sc.Actions, "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG") ||
		!hasAll(sc.Operators, "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ") ||
		!hasAll(sc.Archs, "SCMP_ARCH_X86_64") {
		t.Errorf("features seccomp %+v", sc)
	}
}

// TestFeaturesRuntimeSpec13 checks the features of runtime-spec 1.3.0 that
// berth implements.
func TestFeaturesRuntimeSpec13(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 reports ociVersionMax 1.0.2-dev and lacks the time namespace and idmap mounts")
	f := readFeatures(t)
	if f.OCIVersionMax != "1.3.0" {
		t.Errorf("ociVersionMax %q, want 1.3.0", f.OCIVersionMax)
	}
	if f.Linux == nil {
		t.Fatalf("features has no linux section")
	}
	if !contains(f.Linux.Namespaces, "time") {
		t.Errorf("features namespaces %v lack time", f.Linux.Namespaces)
	}
	if !hasAll(f.MountOptions, "rro", "rrw", "rnosuid", "rnodev", "rnoexec", "ratime", "rnoatime", "idmap", "ridmap") {
		t.Errorf("features mountOptions %v lack the recursive attributes or idmap", f.MountOptions)
	}
	if sc := f.Linux.Seccomp; sc == nil || !hasAll(sc.Actions, "SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD") {
		t.Errorf("features seccomp actions lack SCMP_ACT_NOTIFY / KILL_PROCESS / KILL_THREAD: %+v", sc)
	}
	if me := f.Linux.MountExtensions; me == nil || me.IDMap == nil || me.IDMap.Enabled == nil || !*me.IDMap.Enabled {
		t.Errorf("features mountExtensions.idmap not enabled: %+v", me)
	}
	if mp := f.Linux.MemoryPolicy; mp == nil || !hasAll(mp.Modes, "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL") || !contains(mp.Flags, "MPOL_F_STATIC_NODES") {
		t.Errorf("features memoryPolicy lacks the modes or flags berth applies: %+v", mp)
	}
}

// TestUnknownContainerNamed: operations on a container that does not exist
// fail with a message that names it.
func TestUnknownContainerNamed(t *testing.T) {
	t.Parallel()
	runcGap(t, `runc says "container does not exist" without the id`)
	c := newContainer(t)
	for _, cmd := range []string{"state", "start", "kill", "delete", "pause", "resume", "ps"} {
		r := c.rt(cmd, c.ID)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.ID) {
			t.Errorf("%s of an unknown container: want a failure naming %s\n%s", cmd, c.ID, r.describe())
		}
	}
}

// TestContainerIDs: ids are validated as runc does; an existing id is refused.
func TestContainerIDs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"a/b", "../escape", "has space", "..", ".", "semi;colon"} {
		t.Run(strconv.Quote(bad), func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/true")
			c.ID = bad
			r := c.create()
			if r.Code == 0 {
				c.rt("delete", "--force", bad)
				t.Fatalf("create with id %q succeeded", bad)
			}
			assertNothingLeft(t, c, r)
		})
	}
	t.Run("valid-characters", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/true")
		c.ID = c.ID + "_A.b+c-D"
		c.mustCreate()
		c.mustRT("delete", "--force", c.ID)
		c.cleanup()
	})
	t.Run("duplicate", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/sleep", "1000")
		c.mustCreate()
		first := c.state()
		if r := c.create(); r.Code == 0 {
			t.Fatalf("second create with the same id succeeded")
		} else if strings.TrimSpace(r.Stderr) == "" {
			t.Errorf("duplicate id refused without a message")
		}
		if st := c.state(); st.Status != specs.StateCreated || st.Pid != first.Pid {
			t.Errorf("the first container changed after the refused duplicate: %+v", st)
		}
	})
}

// jsonLogLines parses a --log-format json file; every line must be a JSON
// object with level, msg and time.
func jsonLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		for _, k := range []string{"level", "msg", "time"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %q: %q", k, l)
			}
		}
		if ts, ok := m["time"].(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("log time %q is not RFC 3339", ts)
			}
		}
		out = append(out, m)
	}
	return out
}

// TestLogFormatJSON: errors are written to --log as JSON lines (as the
// containerd shim and conmon read them), in both flag spellings.
func TestLogFormatJSON(t *testing.T) {
	t.Parallel()
	for name, globals := range map[string]func(log string) []string{
		"separate": func(log string) []string { return []string{"--log", log, "--log-format", "json"} },
		"equals":   func(log string) []string { return []string{"--log-format=json", "--log=" + log} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t)
			log := filepath.Join(t.TempDir(), "log.json")
			r := runRuntime(t, append(append(globals(log), "--root", c.Root), "state", "cf-no-such-container"), nil, nil)
			if r.Code == 0 {
				t.Fatalf("state of a missing container succeeded")
			}
			lines := jsonLogLines(t, log)
			found := false
			for _, m := range lines {
				found = found || m["level"] == "error"
			}
			if !found {
				t.Errorf("no error line in %s:\n%s", log, readFile(t, log))
			}
		})
	}
	t.Run("debug-create", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/true")
		c.save()
		log := filepath.Join(t.TempDir(), "log.json")
		f := c.outFile()
		defer f.Close()
		r := runRuntime(t, []string{"--debug", "--root", c.Root, "--log", log, "--log-format", "json", "create", "--bundle", c.Bundle, c.ID}, f, nil)
		if r.Code != 0 {
			t.Fatalf("%s", r.describe())
		}
		if lines := jsonLogLines(t, log); len(lines) == 0 {
			t.Errorf("--debug create wrote no log lines")
		}
		if out := c.output(); strings.Contains(out, `"level"`) {
			t.Errorf("log lines leaked into the container's stdout: %q", out)
		}
	})
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"-v"}, {"--help"}} {
		r := runRuntime(t, args, nil, nil)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
			t.Errorf("%s", r.describe())
		}
	}
	if r := runRuntime(t, []string{"no-such-command"}, nil, nil); r.Code == 0 {
		t.Errorf("an unknown command succeeded")
	}
}

// TestGlobalFlagForms: global flags work before the command as --flag=value
// and as --flag value (conmon and the containerd shim use one each).
func TestGlobalFlagForms(t *testing.T) {
	t.Parallel()
	c := newContainer(t, "/bin/sleep", "1000")
	c.mustCreate()
	for _, args := range [][]string{
		{"--root=" + c.Root, "state", c.ID},
		{"--root", c.Root, "state", c.ID},
		{"--log-format=text", "--root", c.Root, "state", c.ID},
		{"--rootless=false", "--root", c.Root, "state", c.ID},
		{"--rootless", "auto", "--root", c.Root, "state", c.ID},
		{"--debug", "--root=" + c.Root, "--log", filepath.Join(t.TempDir(), "log"), "state", c.ID},
	} {
		if r := runRuntime(t, args, nil, nil); r.Code != 0 || !strings.Contains(r.Stdout, c.ID) {
			t.Errorf("%s", r.describe())
		}
	}
}
