package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func systemdRunning() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// TestSystemdDriver: on a host without systemd the driver is refused at
// once with a clear error; on one with systemd (make vmtest's guest) the
// scope is started through D-Bus with the process StartInside forks,
// limits reach its cgroup, it freezes and thaws, and Destroy stops it.
func TestSystemdDriver(t *testing.T) {
	requireRoot(t)
	_, err := New(Options{ContainerID: "x", CgroupsPath: "/not/slice/format", Systemd: true})
	if err == nil || !strings.Contains(err.Error(), `"slice:prefix:name"`) {
		t.Fatalf("bad systemd cgroupsPath: %v", err)
	}
	if !systemdRunning() {
		start := time.Now()
		_, err := New(Options{ContainerID: uniqueID(t), Systemd: true, Resources: &Resources{}})
		if err == nil || !strings.Contains(err.Error(), "systemd is not running") {
			t.Fatalf("got %v, want a clear 'systemd is not running' error", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v to fail", d)
		}
		return
	}
	if HostMode() != ModeV2 {
		t.Fatalf("systemd on a %v host: this test covers cgroup v2 (make vmtest)", HostMode())
	}
	id := uniqueID(t)
	m, err := New(Options{ContainerID: id, CgroupsPath: "system.slice:berth-test:" + id, Systemd: true,
		Resources: &Resources{Memory: 64 << 20, PidsLimit: ptrTo(int64(20))}})
	if err != nil {
		t.Fatal(err)
	}
	destroyOnCleanup(t, m)
	dir := m.Paths()[""]
	if want := "/sys/fs/cgroup/system.slice/berth-test-" + id + ".scope"; dir != want {
		t.Fatalf("scope directory %q, want %q", dir, want)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Create made %s before there is a process for the scope (%v)", dir, err)
	}
	var sh *shell
	pid, placed, err := m.StartInside(&syscall.SysProcAttr{}, nil, func() (int, error) {
		sh = startShell(t, "read x; echo $x", nil)
		return sh.pid(), nil
	})
	if err != nil || !placed || pid != sh.pid() {
		t.Fatalf("StartInside: pid %d placed %v: %v", pid, placed, err)
	}
	if got := readTrim(t, "/proc/"+strconv.Itoa(pid)+"/cgroup"); got != "0::/system.slice/berth-test-"+id+".scope" {
		t.Errorf("process in %q", got)
	}
	for file, want := range map[string]string{"memory.max": strconv.Itoa(64 << 20), "pids.max": "20"} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if out, err := exec.Command("systemctl", "show", "-p", "ActiveState", "berth-test-"+id+".scope").Output(); err != nil ||
		strings.TrimSpace(string(out)) != "ActiveState=active" {
		t.Errorf("systemctl show: %q %v", out, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.freeze")); got != "1" {
		t.Errorf("cgroup.freeze after Freeze: %q", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	sh.send(t, "thawed")
	if got := sh.expect(t); got != "thawed" {
		t.Errorf("the shell said %q after Thaw", got)
	}
	sh.kill()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after Destroy (%v)", dir, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
