//go:build vmtest

package vm_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// engineTimeout bounds one podman or ctr call; they are slow to start in
// an emulated guest.
const engineTimeout = 120 * time.Second

// engine runs an engine's command line, bounded by engineTimeout.
func engine(t *testing.T, name string, args ...string) result {
	t.Helper()
	return runFor(t, engineTimeout, nil, nil, name, args...)
}

func mustEngine(t *testing.T, name string, args ...string) result {
	t.Helper()
	r := engine(t, name, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// podmanEnv is podman with private storage, the systemd cgroup manager
// (podman's default on such a host, named anyway) and berth as runtime.
type podmanEnv struct{ dir string }

const podmanImage = "localhost/berth-vm-busybox:latest"

var (
	podmanOnce sync.Once
	podmanDir  string
	podmanErr  error
)

func podman(t *testing.T) *podmanEnv {
	t.Helper()
	podmanOnce.Do(func() {
		podmanDir, podmanErr = os.MkdirTemp("", "vm-podman-")
		if podmanErr != nil {
			return
		}
		rootfs := filepath.Join(podmanDir, "rootfs")
		makeRootfs(t, rootfs)
		tarball := filepath.Join(podmanDir, "rootfs.tar")
		if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
			podmanErr = fmt.Errorf("tar: %v\n%s", err, out)
			return
		}
		p := &podmanEnv{dir: podmanDir}
		if r := engine(t, "podman", append(p.globals(), "import", tarball, podmanImage)...); r.code != 0 {
			podmanErr = fmt.Errorf("%s", r)
		}
	})
	if podmanErr != nil {
		t.Fatal(podmanErr)
	}
	return &podmanEnv{dir: podmanDir}
}

func (p *podmanEnv) globals() []string {
	return []string{"--root", filepath.Join(p.dir, "storage"), "--runroot", filepath.Join(p.dir, "run"),
		"--storage-driver", "overlay", "--cgroup-manager", "systemd", "--runtime", berthBin, "--events-backend", "file"}
}

func (p *podmanEnv) run(t *testing.T, args ...string) result {
	t.Helper()
	return engine(t, "podman", append(p.globals(), args...)...)
}

func (p *podmanEnv) must(t *testing.T, args ...string) result {
	t.Helper()
	return mustEngine(t, "podman", append(p.globals(), args...)...)
}

// TestPodmanSystemd: podman with the systemd cgroup manager runs berth
// with --systemd-cgroup; the limits podman asks for are in the scope
// systemd made (machine.slice/libpod-<id>.scope) and in the container;
// pause, stop and rm work and leave no scope.
func TestPodmanSystemd(t *testing.T) {
	p := podman(t)
	out := p.must(t, "run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", podmanImage,
		"cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max").stdout
	if got := strings.Fields(out); len(got) != 2 || got[0] != strconv.Itoa(64<<20) || got[1] != "50" {
		t.Errorf("podman run --memory 64m --pids-limit 50: inside %q", out)
	}

	name := fmt.Sprintf("vm-podman-%d", os.Getpid())
	t.Cleanup(func() { p.run(t, "rm", "--force", name) })
	id := strings.TrimSpace(p.must(t, "run", "-d", "--name", name, "--network", "none", "--memory", "32m", podmanImage, "sleep", "1000").stdout)
	pid, err := strconv.Atoi(strings.TrimSpace(p.must(t, "inspect", "--format", "{{.State.Pid}}", name).stdout))
	must(t, err)
	scope := "libpod-" + id + ".scope"
	dir := "/sys/fs/cgroup/machine.slice/" + scope
	if got := procCgroup(t, pid); got != dir && !strings.HasPrefix(got, dir+"/") {
		t.Errorf("container process %d is in %s, want %s", pid, got, dir)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "memory.max"))); got != strconv.Itoa(32<<20) {
		t.Errorf("%s/memory.max = %q", dir, got)
	}
	if p := systemctlShow(t, scope, "ActiveState"); p["ActiveState"] != "active" {
		t.Errorf("%s: %v", scope, p)
	}
	p.must(t, "pause", name)
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "cgroup.freeze"))); got != "1" {
		t.Errorf("after podman pause cgroup.freeze = %q", got)
	}
	p.must(t, "unpause", name)
	p.must(t, "stop", "--time", "1", name)
	p.must(t, "rm", name)
	if !waitFor(10*time.Second, func() bool { return unitGone(t, scope) }) {
		t.Errorf("%s left after podman rm", scope)
	}
}

// TestContainerdSystemd: containerd's runc shim with SystemdCgroup = true
// (ctr's --runc-systemd-cgroup) and berth as the runc binary: the task's
// scope is made by systemd from a slice:prefix:name cgroupsPath, holds the
// memory limit, pauses, and is gone after the task is deleted.
func TestContainerdSystemd(t *testing.T) {
	p := podman(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := filepath.Join(dir, "config.toml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
`, dir, sock)), 0o644))
	unit := fmt.Sprintf("berth-vm-containerd-%d", os.Getpid())
	mustRun(t, "systemd-run", "--unit", unit, "--property", "Delegate=yes", "containerd", "--config", cfg)
	t.Cleanup(func() { run(t, nil, nil, "systemctl", "stop", unit) })
	if !waitFor(60*time.Second, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("containerd did not serve %s: %s", sock, run(t, nil, nil, "journalctl", "-u", unit, "--no-pager").stdout)
	}
	ctr := func(args ...string) result {
		t.Helper()
		return mustEngine(t, "ctr", append([]string{"--address", sock}, args...)...)
	}
	archive := filepath.Join(dir, "image.tar")
	p.must(t, "save", "--format", "oci-archive", "-o", archive, podmanImage)
	ctr("images", "import", archive)

	id := fmt.Sprintf("vm-ctd-%d", os.Getpid())
	runFlags := []string{"--runc-binary", berthBin, "--runc-systemd-cgroup", "--cgroup", "system.slice:ctd:" + id,
		"--memory-limit", strconv.Itoa(64 << 20), "--null-io"}
	t.Cleanup(func() {
		engine(t, "ctr", "--address", sock, "task", "kill", "-s", "SIGKILL", id)
		engine(t, "ctr", "--address", sock, "task", "delete", "--force", id)
		engine(t, "ctr", "--address", sock, "container", "delete", id)
	})
	ctr(append(append([]string{"run", "-d"}, runFlags...), podmanImage, id, "sleep", "1000")...)
	scope := "ctd-" + id + ".scope"
	cg := "/sys/fs/cgroup/system.slice/" + scope
	var pid int
	for _, l := range strings.Split(ctr("task", "ls").stdout, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
		}
	}
	if pid == 0 {
		t.Fatalf("task %s not listed", id)
	}
	if got := procCgroup(t, pid); got != cg {
		t.Errorf("task process %d is in %s, want %s", pid, got, cg)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(cg, "memory.max"))); got != strconv.Itoa(64<<20) {
		t.Errorf("%s/memory.max = %q", cg, got)
	}
	if p := systemctlShow(t, scope, "ActiveState"); p["ActiveState"] != "active" {
		t.Errorf("%s: %v", scope, p)
	}
	ctr("task", "pause", id)
	if got := strings.TrimSpace(readFile(t, filepath.Join(cg, "cgroup.freeze"))); got != "1" {
		t.Errorf("after ctr task pause cgroup.freeze = %q", got)
	}
	ctr("task", "resume", id)
	ctr("task", "kill", "-s", "SIGKILL", id)
	if !waitFor(20*time.Second, func() bool { return strings.Contains(ctr("task", "ls").stdout, "STOPPED") }) {
		t.Errorf("task did not stop: %s", ctr("task", "ls").stdout)
	}
	ctr("task", "delete", id)
	ctr("container", "delete", id)
	if !waitFor(10*time.Second, func() bool { return unitGone(t, scope) }) {
		t.Errorf("%s left after the task was deleted", scope)
	}
}
