package engines_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// containerdImage is the busybox image imported into each containerd.
const containerdImage = podmanImage

// containerdRunDir is where the runc v2 shim puts its sockets and its
// runtime's default root, whatever containerd's own root and state are.
const containerdRunDir = "/run/containerd"

// containerdEnv is a private containerd daemon for one runtime: its own
// config, root, state and socket under the work dir. Its PATH starts with
// the runtime's wrapper named "runc", so tasks created without
// --runc-binary (ctr container create, task start) use that runtime too.
type containerdEnv struct {
	rt        *runtimeUnderTest
	dir       string
	address   string
	namespace string // unique: it names the runtime's root and cgroups
	daemon    *daemonProc
}

var (
	containerdMu  sync.Mutex
	containerds   = map[string]*containerdEnv{}
	runDirExisted = dirExists(containerdRunDir)
	archiveOnce   sync.Once
	archivePath   string
	archiveErr    error
)

func dirExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// containerd returns the daemon serving rt, starting it on first use.
func containerd(t *testing.T, rt *runtimeUnderTest) *containerdEnv {
	t.Helper()
	archive := imageArchive(t)
	containerdMu.Lock()
	defer containerdMu.Unlock()
	if c := containerds[rt.name]; c != nil {
		return c
	}
	c, err := startContainerd(rt, archive)
	if err != nil {
		t.Fatalf("starting containerd for %s: %v", rt.name, err)
	}
	containerds[rt.name] = c
	return c
}

// imageArchive saves the podman-imported image as an OCI archive for
// ctr images import.
func imageArchive(t *testing.T) string {
	t.Helper()
	p := podman(t)
	archiveOnce.Do(func() {
		archivePath = filepath.Join(workDir, "berth-busybox.oci.tar")
		out, err := p.command(nil, "save", "--format", "oci-archive", "-o", archivePath, podmanImage).CombinedOutput()
		if err != nil {
			archiveErr = fmt.Errorf("podman save: %v\n%s", err, out)
		}
	})
	if archiveErr != nil {
		t.Fatal(archiveErr)
	}
	return archivePath
}

// containerdConfig is the head of a private containerd's config: root,
// state and socket under dir, no snapshotters but overlayfs, no tracing,
// no debug or metrics listeners; disabled lists further plugins (quoted,
// each followed by ", ").
func containerdConfig(dir, sock, disabled string) string {
	return fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = [%[3]s"io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "%[2]s"
[ttrpc]
  address = "%[2]s.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
`, dir, sock, disabled)
}

func startContainerd(rt *runtimeUnderTest, archive string) (*containerdEnv, error) {
	dir := filepath.Join(workDir, "containerd-"+rt.name)
	c := &containerdEnv{rt: rt, dir: dir, address: filepath.Join(dir, "containerd.sock"),
		namespace: fmt.Sprintf("berth-engines-%s-%d", rt.name, os.Getpid())}
	if err := os.MkdirAll(filepath.Join(dir, "fifo"), 0o700); err != nil {
		return nil, err
	}
	// Only what ctr run needs: no CRI, no snapshotters but overlayfs, no
	// debug or metrics listeners.
	config := containerdConfig(dir, c.address, `"io.containerd.grpc.v1.cri", `)
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "containerd.log")
	cmd := exec.Command("containerd", "--config", configPath)
	cmd.Env = append(os.Environ(), "PATH="+rt.pathDir+":"+os.Getenv("PATH"))
	var err error
	if c.daemon, err = startDaemon("containerd for "+rt.name, cmd, logPath); err != nil {
		return nil, err
	}
	if !waitFor(10*time.Second, c.serving) {
		c.stop()
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("containerd did not serve %s within 10s:\n%s", c.address, b)
	}
	out, err := c.ctrCommand("images", "import", archive).CombinedOutput()
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("ctr images import: %v\n%s", err, out)
	}
	return c, nil
}

func (c *containerdEnv) serving() bool {
	conn, err := net.Dial("unix", c.address)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (c *containerdEnv) ctrCommand(args ...string) *exec.Cmd {
	return exec.Command("ctr", append([]string{"--address", c.address, "--namespace", c.namespace}, args...)...)
}

// ctr runs a ctr command against this daemon.
func (c *containerdEnv) ctr(t *testing.T, args ...string) command {
	t.Helper()
	return runCommand(t, c.ctrCommand(args...), 60*time.Second)
}

// runFlags select the runtime explicitly, as a ctr user would, and keep
// ctr's IO fifos in the work dir.
func (c *containerdEnv) runFlags() []string {
	return []string{"--runc-binary", c.rt.wrapper, "--fifo-dir", filepath.Join(c.dir, "fifo")}
}

// places is where the shim's runtime keeps state: its default root, one
// directory per namespace.
func (c *containerdEnv) places() leftoverPlaces {
	return leftoverPlaces{stateRoots: []string{filepath.Join(containerdRunDir, "runc", c.namespace)}}
}

// taskStatus is ctr's view of a task (RUNNING, PAUSED, STOPPED), or "" if
// there is none.
func (c *containerdEnv) taskStatus(t *testing.T, id string) string {
	t.Helper()
	res := c.ctr(t, "task", "ls")
	for _, l := range strings.Split(res.stdout, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// taskPid is the pid ctr task ls reports for id's init.
func (c *containerdEnv) taskPid(t *testing.T, id string) string {
	t.Helper()
	res := c.ctr(t, "task", "ls")
	for _, l := range strings.Split(res.stdout, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			return f[1]
		}
	}
	return ""
}

// removeAfter deletes the container (and its task) when the test ends, so
// a failing test leaves no shim behind.
func (c *containerdEnv) removeAfter(t *testing.T, id string) {
	t.Cleanup(func() {
		if c.taskStatus(t, id) != "" {
			c.ctrCommand("task", "kill", "--all", "--signal", "SIGKILL", id).Run()
			waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) != "RUNNING" })
			c.ctrCommand("task", "delete", "--force", id).Run()
		}
		c.ctrCommand("container", "delete", id).Run()
	})
}

func (c *containerdEnv) stop() error { return c.daemon.stop(10 * time.Second) }

// stopContainerds stops every daemon, removes the cgroups and runtime roots
// named after the suite's namespaces, and /run/containerd if the suite
// created it.
func stopContainerds() error {
	containerdMu.Lock()
	defer containerdMu.Unlock()
	var errs []string
	for _, c := range containerds {
		if err := c.stop(); err != nil {
			errs = append(errs, err.Error())
		}
		if err := removeCgroupTree(c.namespace); err != nil {
			errs = append(errs, err.Error())
		}
		// The runtime root must be empty but for berth's cache of
		// compiled seccomp profiles (docs/architecture.md), no container's.
		root := filepath.Join(containerdRunDir, "runc", c.namespace)
		os.RemoveAll(filepath.Join(root, "@seccomp"))
		if err := os.Remove(root); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err.Error())
		}
	}
	if !runDirExisted {
		// Only empty directories: a shim still running keeps its socket.
		for _, d := range []string{"runc", "s", "fifo", ""} {
			_ = os.Remove(filepath.Join(containerdRunDir, d))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
