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
		"WINCH": unix.SIGWINCH,
	} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-9", "65", "", "SIG", "FOO", "SIGFOO", "9x", " 9"} {
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
	for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted, "ambient": c.Ambient, "inheritable": c.Inheritable} {
		if !reflect.DeepEqual(set, []string{"CAP_NET_ADMIN"}) {
			t.Errorf("%s = %q, want [CAP_NET_ADMIN]", name, set)
		}
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
		"memory": "1048576", "pids-limit": "100", "cpu-shares": "512", "cpu-quota": "-1", "cpu-period": "100000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Memory == nil || *res.Memory.Limit != 1048576 || res.Pids == nil || *res.Pids.Limit != 100 {
		t.Errorf("memory/pids = %+v / %+v", res.Memory, res.Pids)
	}
	if c := res.CPU; c.Cpus != cpus || *c.Shares != 512 || *c.Quota != -1 || *c.Period != 100000 {
		t.Errorf("cpu = %+v, want the flags added to the resources file's cpus", c)
	}
	// Flags not given leave the resources alone.
	empty := &specs.LinuxResources{}
	if err := applyUpdateFlags(empty, map[string]string{"memory": "", "cpu-shares": ""}); err != nil || !reflect.DeepEqual(empty, &specs.LinuxResources{}) {
		t.Errorf("no flags: %+v, %v", empty, err)
	}
	for flags, want := range map[string]string{
		"memory=1g":         `--memory "1g": not a number`,
		"pids-limit=lots":   `--pids-limit "lots": not a number`,
		"cpu-quota=1.5":     `--cpu-quota "1.5": not a number`,
		"cpu-period=0x10":   `--cpu-period "0x10": not a number`,
		"cpu-shares=shares": `--cpu-shares "shares": not a number`,
	} {
		k, v, _ := strings.Cut(flags, "=")
		if err := applyUpdateFlags(&specs.LinuxResources{}, map[string]string{k: v}); err == nil || err.Error() != want {
			t.Errorf("--%s %s: %v, want %q", k, v, err, want)
		}
	}
}

// cpu.shares and cpu.cfs_period_us are unsigned: a negative value must be
// refused, not wrapped to 2^64-1 (which the kernel would clamp to the
// maximum weight), as runc refuses it.
func TestApplyUpdateFlagsNegativeUnsigned(t *testing.T) {
	for _, k := range []string{"cpu-shares", "cpu-period"} {
		res := &specs.LinuxResources{}
		err := applyUpdateFlags(res, map[string]string{k: "-1"})
		if err == nil || !strings.Contains(err.Error(), "--"+k+` "-1"`) {
			var got uint64
			if c := res.CPU; c != nil && c.Shares != nil {
				got = *c.Shares
			} else if c != nil && c.Period != nil {
				got = *c.Period
			}
			t.Errorf("--%s -1: err %v, value set %d; want an error naming --%s \"-1\"", k, err, got, k)
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
