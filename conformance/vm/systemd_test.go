//go:build vmtest

package vm_test

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// unitGone reports whether systemd no longer has the unit loaded.
func unitGone(t *testing.T, unit string) bool {
	p := systemctlShow(t, unit, "LoadState", "ActiveState")
	return p["LoadState"] == "not-found" || (p["ActiveState"] == "inactive" && p["LoadState"] != "loaded")
}

// TestSystemdScope: with --systemd-cgroup, berth asks systemd over D-Bus
// for a transient scope named by cgroupsPath "slice:prefix:name", the
// init runs in it, it survives `systemctl daemon-reload`, and delete
// stops it and removes its cgroup.
func TestSystemdScope(t *testing.T) {
	c := newContainer(t, true, "sleep", "1000")
	c.mustCreate()
	p := systemctlShow(t, c.unit(), "ActiveState", "ControlGroup", "Delegate", "Slice", "Transient")
	if p["ActiveState"] != "active" || p["ControlGroup"] != "/system.slice/"+c.unit() || p["Delegate"] != "yes" ||
		p["Slice"] != "system.slice" || p["Transient"] != "yes" {
		t.Errorf("unit %s after create: %v", c.unit(), p)
	}
	pid := c.state().Pid
	if got := procCgroup(t, pid); got != c.cgroupDir() {
		t.Errorf("init %d is in %s, want %s", pid, got, c.cgroupDir())
	}
	mustRun(t, "systemctl", "daemon-reload")
	c.mustRT("start", c.id)
	c.waitStatus(specs.StateRunning)
	mustRun(t, "systemctl", "daemon-reload")
	if p := systemctlShow(t, c.unit(), "ActiveState"); p["ActiveState"] != "active" {
		t.Errorf("after daemon-reload: %v", p)
	}
	if got := procCgroup(t, pid); got != c.cgroupDir() {
		t.Errorf("after daemon-reload init %d is in %s", pid, got)
	}
	c.mustRT("kill", c.id, "KILL")
	c.waitStatus(specs.StateStopped)
	c.mustRT("delete", c.id)
	if !unitGone(t, c.unit()) {
		t.Errorf("unit %s still loaded after delete: %v", c.unit(), systemctlShow(t, c.unit(), "LoadState", "ActiveState"))
	}
	if _, err := os.Stat(c.cgroupDir()); !os.IsNotExist(err) {
		t.Errorf("%s left after delete (%v)", c.cgroupDir(), err)
	}
}

// TestSystemdSlicePaths: the slice part names nested slices the systemd
// way (a-b.slice is in a.slice), an empty cgroupsPath means
// system.slice/berth-<id>.scope, and a path that is not slice:prefix:name
// is refused before anything is created.
func TestSystemdSlicePaths(t *testing.T) {
	t.Run("nested-slice", func(t *testing.T) {
		c := newContainer(t, true, "true")
		c.spec.Linux.CgroupsPath = "berthvm-test.slice:pfx:" + c.id
		c.mustCreate()
		want := "/sys/fs/cgroup/berthvm.slice/berthvm-test.slice/pfx-" + c.id + ".scope"
		if got := procCgroup(t, c.state().Pid); got != want {
			t.Errorf("init in %s, want %s", got, want)
		}
		c.mustRT("delete", "--force", c.id)
		if !unitGone(t, "pfx-"+c.id+".scope") {
			t.Errorf("scope pfx-%s.scope left after delete", c.id)
		}
	})
	t.Run("default", func(t *testing.T) {
		c := newContainer(t, true, "true")
		c.spec.Linux.CgroupsPath = ""
		c.mustCreate()
		want := "/sys/fs/cgroup/system.slice/berth-" + c.id + ".scope"
		if got := procCgroup(t, c.state().Pid); got != want {
			t.Errorf("init in %s, want %s", got, want)
		}
		c.mustRT("delete", "--force", c.id)
		if !unitGone(t, "berth-"+c.id+".scope") {
			t.Errorf("scope berth-%s.scope left after delete", c.id)
		}
	})
	t.Run("bad-path", func(t *testing.T) {
		c := newContainer(t, true, "true")
		c.spec.Linux.CgroupsPath = "/not/a/slice/path"
		r := c.create()
		if r.code == 0 || !strings.Contains(r.stderr, "slice:prefix:name") {
			t.Errorf("a cgroupfs path with --systemd-cgroup: %s", r)
		}
		if _, err := os.Stat(c.root + "/" + c.id); !os.IsNotExist(err) {
			t.Errorf("state left after a refused create")
		}
	})
	t.Run("exited-scope", func(t *testing.T) {
		// A scope whose processes are all gone is stopped by systemd
		// itself; delete must still succeed and leave nothing.
		c := newContainer(t, true, "true")
		c.mustCreate()
		c.mustRT("start", c.id)
		c.waitStatus(specs.StateStopped)
		c.mustRT("delete", c.id)
		if !unitGone(t, c.unit()) {
			t.Errorf("unit %s left", c.unit())
		}
	})
}
