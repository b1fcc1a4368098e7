package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{
		"9": unix.SIGKILL, "KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "kill": unix.SIGKILL, "sigkill": unix.SIGKILL,
		"TERM": unix.SIGTERM, "15": unix.SIGTERM, "hup": unix.SIGHUP, "SIGUSR1": unix.SIGUSR1, "64": unix.Signal(64),
		"WINCH": unix.SIGWINCH, "0": 0,
	} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-9", "65", "", "SIG", "FOO", "SIGFOO", "9x", " 9"} {
		if got, err := parseSignal(in); err == nil || err.Error() != "invalid signal "+strconv.Quote(in) {
			t.Errorf("parseSignal(%q) = %v, %v; want an invalid signal error", in, got, err)
		}
	}
}

func TestParseUser(t *testing.T) {
	u := specs.User{UID: 5, GID: 6, AdditionalGids: []uint32{7}}
	if err := parseUser("1000", &u); err != nil || u.UID != 1000 || u.GID != 6 {
		t.Errorf("parseUser(1000) = %+v, %v; want uid 1000, gid kept", u, err)
	}
	if err := parseUser("0:2000", &u); err != nil || u.UID != 0 || u.GID != 2000 || !reflect.DeepEqual(u.AdditionalGids, []uint32{7}) {
		t.Errorf("parseUser(0:2000) = %+v, %v", u, err)
	}
	if err := parseUser("4294967295:4294967295", &u); err != nil || u.UID != 4294967295 {
		t.Errorf("parseUser(max) = %+v, %v", u, err)
	}
	for in, want := range map[string]string{
		"":           `--user "": uid must be a number`,
		"root":       `--user "root": uid must be a number`,
		"-1":         `--user "-1": uid must be a number`,
		"4294967296": `--user "4294967296": uid must be a number`,
		"1:":         `--user "1:": gid must be a number`,
		"1:wheel":    `--user "1:wheel": gid must be a number`,
		"1:2:3":      `--user "1:2:3": gid must be a number`,
	} {
		if err := parseUser(in, &u); err == nil || err.Error() != want {
			t.Errorf("parseUser(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestAddCaps(t *testing.T) {
	proc := &specs.Process{}
	addCaps(proc, []string{"CAP_NET_ADMIN"})
	c := proc.Capabilities
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !reflect.DeepEqual(set, []string{"CAP_NET_ADMIN"}) {
			t.Errorf("%s = %q, want [CAP_NET_ADMIN]", name, set)
		}
	}
	// Never inheritable (CVE-2022-29162); ambient only with inheritable
	// ones already there, as runc.
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %q ambient %q, want none", c.Inheritable, c.Ambient)
	}
	proc = &specs.Process{Capabilities: &specs.LinuxCapabilities{Inheritable: []string{"CAP_KILL"}}}
	addCaps(proc, []string{"CAP_NET_ADMIN"})
	if c := proc.Capabilities; !reflect.DeepEqual(c.Ambient, []string{"CAP_NET_ADMIN"}) || !reflect.DeepEqual(c.Inheritable, []string{"CAP_KILL"}) {
		t.Errorf("with inheritable caps: ambient %q inheritable %q", c.Ambient, c.Inheritable)
	}
	// The container's own config (which exec copies the process from)
	// is not changed through shared slices.
	base := &specs.LinuxCapabilities{Bounding: make([]string, 1, 4), Effective: []string{"CAP_KILL"}}
	base.Bounding[0] = "CAP_CHOWN"
	proc = &specs.Process{Capabilities: base}
	addCaps(proc, []string{"CAP_SYS_ADMIN", "CAP_NET_RAW"})
	if want := []string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW"}; !reflect.DeepEqual(proc.Capabilities.Bounding, want) {
		t.Errorf("bounding = %q, want %q", proc.Capabilities.Bounding, want)
	}
	if want := []string{"CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_RAW"}; !reflect.DeepEqual(proc.Capabilities.Effective, want) {
		t.Errorf("effective = %q, want %q", proc.Capabilities.Effective, want)
	}
	if proc.Capabilities == base || len(base.Bounding) != 1 || base.Bounding[:2][1] != "" || len(base.Effective) != 1 {
		t.Errorf("the base config was changed: %+v (spare %q)", base, base.Bounding[:2][1])
	}
}

func TestApplyUpdateFlags(t *testing.T) {
	cpus := "0-1"
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: cpus}}
	err := applyUpdateFlags(res, map[string]string{
		"memory": "1048576", "memory-swap": "-1", "memory-reservation": "1g", "pids-limit": "100",
		"cpu-share": "512", "cpu-quota": "-1", "cpu-period": "100000", "cpu-burst": "10", "cpu-rt-period": "1000",
		"cpu-rt-runtime": "500", "cpu-idle": "1", "cpuset-mems": "0", "blkio-weight": "300",
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Memory
	if m == nil || *m.Limit != 1048576 || *m.Swap != -1 || *m.Reservation != 1<<30 || res.Pids == nil || *res.Pids.Limit != 100 {
		t.Errorf("memory/pids = %+v / %+v", res.Memory, res.Pids)
	}
	if c := res.CPU; c.Cpus != cpus || *c.Shares != 512 || *c.Quota != -1 || *c.Period != 100000 || *c.Burst != 10 ||
		*c.RealtimePeriod != 1000 || *c.RealtimeRuntime != 500 || *c.Idle != 1 || c.Mems != "0" {
		t.Errorf("cpu = %+v, want the flags added to the resources file's cpus", c)
	}
	if res.BlockIO == nil || *res.BlockIO.Weight != 300 {
		t.Errorf("blockIO = %+v", res.BlockIO)
	}
	// Flags not given leave the resources alone.
	empty := &specs.LinuxResources{}
	if err := applyUpdateFlags(empty, map[string]string{}); err != nil || !reflect.DeepEqual(empty, &specs.LinuxResources{}) {
		t.Errorf("no flags: %+v, %v", empty, err)
	}
	for flags, want := range map[string]string{
		"memory=1x":              `--memory "1x": not a valid value`,
		"pids-limit=lots":        `--pids-limit "lots": not a valid value`,
		"cpu-quota=1.5":          `--cpu-quota "1.5": not a valid value`,
		"cpu-period=0x10":        `--cpu-period "0x10": not a valid value`,
		"cpu-share=shares":       `--cpu-share "shares": not a valid value`,
		"cpu-share=-1":           `--cpu-share "-1": not a valid value`,
		"cpu-period=-1":          `--cpu-period "-1": not a valid value`,
		"blkio-weight=70000":     `--blkio-weight "70000": not a valid value`,
		"l3-cache-schema=L3:0=f": `--l3-cache-schema: Intel RDT is not supported in this build (berth does not implement linux.intelRdt)`,
		"mem-bw-schema=MB:0=70":  `--mem-bw-schema: Intel RDT is not supported in this build (berth does not implement linux.intelRdt)`,
	} {
		k, v, _ := strings.Cut(flags, "=")
		if err := applyUpdateFlags(&specs.LinuxResources{}, map[string]string{k: v}); err == nil || err.Error() != want {
			t.Errorf("--%s %s: %v, want %q", k, v, err, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1k": 1024, "64m": 64 << 20, "2G": 2 << 30, "1gb": 1 << 30, "3MiB": 3 << 20, "1.5k": 1536, "-1": -1} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "1x", "-2", "1kk", "m1"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d; want an error", in, got)
		}
	}
}

func TestParseSubCgroups(t *testing.T) {
	got, err := parseSubCgroups([]string{"cpu,cpuacct:a/b", "memory:m"})
	if err != nil || !reflect.DeepEqual(got, map[string]string{"cpu": "a/b", "cpuacct": "a/b", "memory": "m"}) {
		t.Errorf("v1 form: %v, %v", got, err)
	}
	if got, err := parseSubCgroups([]string{"sub"}); err != nil || !reflect.DeepEqual(got, map[string]string{"": "sub"}) {
		t.Errorf("v2 form: %v, %v", got, err)
	}
	for _, bad := range [][]string{{"a", "b"}, {":x"}, {"cpu:a", "cpu:b"}} {
		if got, err := parseSubCgroups(bad); err == nil {
			t.Errorf("parseSubCgroups(%q) = %v; want an error", bad, got)
		}
	}
}

// Flags may follow positional arguments; -- and exec's program end them.
func TestParseArgsInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stopAt int
		want   []string
		all    bool
		str    string
	}{
		{[]string{"ID", "--all"}, 0, []string{"ID"}, true, ""},
		{[]string{"--all", "ID", "9"}, 0, []string{"ID", "9"}, true, ""},
		{[]string{"ID", "-s", "v", "9"}, 0, []string{"ID", "9"}, false, "v"},
		{[]string{"ID", "--", "--all"}, 0, []string{"ID", "--all"}, false, ""},
		{[]string{"ID", "-s", "--", "x"}, 0, []string{"ID", "x"}, false, "--"},
		{[]string{"ID", "--all", "sh", "-s", "x"}, 2, []string{"ID", "sh", "-s", "x"}, true, ""},
		{[]string{"ID", "--", "-s", "x"}, 2, []string{"ID", "-s", "x"}, false, ""},
	} {
		fs := newFlags("kill")
		all := fs.Bool("all", false, "")
		str := fs.String("s", "", "")
		got, err := fs.parseArgs(tc.args, tc.stopAt)
		if err != nil || !reflect.DeepEqual(got, tc.want) || *all != tc.all || *str != tc.str {
			t.Errorf("parseArgs(%q, %d) = %q, %v (all %v, s %q); want %q (all %v, s %q)", tc.args, tc.stopAt, got, err, *all, *str, tc.want, tc.all, tc.str)
		}
	}
}

func TestWritePidFile(t *testing.T) {
	if err := writePidFile("", 42); err != nil {
		t.Fatalf("no --pid-file: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "pid")
	if err := writePidFile(path, 4242); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242" {
		t.Fatalf("pid file holds %q, want 4242 (no newline, as runc)", b)
	}
	if err := writePidFile(path, 7); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "7" {
		t.Fatalf("pid file holds %q after rewrite, want 7", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("dir holds %d entries, want only the pid file (no temp file)", len(ents))
	}
}

// A reader (the shim, conmon) never sees an empty or partial pid file.
func TestWritePidFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pid")
	if err := writePidFile(path, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for i := 1000000; i < 1000300; i++ {
			if err := writePidFile(path, i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := strconv.Atoi(string(b)); err != nil {
				t.Fatalf("a reader saw %q", b)
			}
		}
	}
}

func TestWritePidFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "pid")
	if err := writePidFile(missing, 1); err == nil || !strings.HasPrefix(err.Error(), "--pid-file: open "+missing) {
		t.Fatalf("pid file in a missing dir: %v", err)
	}
	// The rename fails onto a non-empty directory: no temp file is left.
	target := filepath.Join(dir, "busy")
	os.MkdirAll(filepath.Join(target, "x"), 0o755)
	if err := writePidFile(target, 1); err == nil || !strings.HasPrefix(err.Error(), "--pid-file: rename ") {
		t.Fatalf("pid file onto a directory: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "no" && e.Name() != "busy" {
			t.Errorf("%s left behind after a failed write", e.Name())
		}
	}
}
