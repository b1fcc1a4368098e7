package engines_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// criEnv is Kubernetes' node path for one runtime: a private containerd
// with its CRI plugin, whose default runtime handler is the runc v2 shim
// with BinaryName set to the runtime's wrapper, driven by crictl (built by
// `make crictl`). Pods use the host network (no CNI on real interfaces);
// their cgroups live under a parent unique to this run.
type criEnv struct {
	rt      *runtimeUnderTest
	dir     string
	sock    string
	cgroup  string // the pods' cgroup_parent
	daemon  *daemonProc
	logPath string
}

// criPauseImage is the sandbox image, built by the suite from
// testdata/pause.c.
const criPauseImage = "localhost/berth-pause:latest"

var (
	cris        envs[*criEnv]
	crictlOnce  sync.Once
	crictlPath  string
	crictlErr   error
	pauseOnce   sync.Once
	pauseTar    string
	pauseTarErr error
)

// crictl builds (or finds in the cache) the crictl the Makefile pins.
func crictl(t *testing.T) string {
	t.Helper()
	crictlOnce.Do(func() {
		out, err := exec.Command("make", "-s", "--no-print-directory", "-C", repoRoot, "crictl", "print-crictl").CombinedOutput()
		if err != nil {
			crictlErr = fmt.Errorf("make crictl: %v\n%s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		crictlPath = lines[len(lines)-1]
	})
	if crictlErr != nil {
		t.Fatal(crictlErr)
	}
	return crictlPath
}

// pauseArchive compiles the pause program statically and makes it an OCI
// archive with buildah (no runtime is involved: FROM scratch, copy,
// commit, push).
func pauseArchive(t *testing.T) string {
	t.Helper()
	pauseOnce.Do(func() {
		dir := filepath.Join(workDir, "pause")
		pauseTar = filepath.Join(dir, "pause.tar")
		bin := filepath.Join(dir, "pause")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			pauseTarErr = err
			return
		}
		steps := [][]string{
			{"gcc", "-static", "-O2", "-o", bin, filepath.Join(repoRoot, "conformance/engines/testdata/pause.c")},
		}
		bh := []string{"buildah", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				pauseTarErr = fmt.Errorf("%s: %v\n%s", s, err, out)
				return
			}
		}
		out, err := exec.Command(bh[0], append(bh[1:], "from", "scratch")...).Output()
		if err != nil {
			pauseTarErr = fmt.Errorf("buildah from scratch: %v", err)
			return
		}
		ctr := strings.TrimSpace(string(out))
		for _, s := range [][]string{
			{"copy", ctr, bin, "/pause"},
			{"config", "--entrypoint", `["/pause"]`, ctr},
			{"commit", "--quiet", ctr, criPauseImage},
			{"rm", ctr},
			{"push", criPauseImage, "oci-archive:" + pauseTar + ":" + criPauseImage},
			{"rmi", "--all", "--force"},
		} {
			if out, err := exec.Command(bh[0], append(bh[1:], s...)...).CombinedOutput(); err != nil {
				pauseTarErr = fmt.Errorf("buildah %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	if pauseTarErr != nil {
		t.Fatal(pauseTarErr)
	}
	return pauseTar
}

// cri returns the CRI daemon serving rt, starting it on first use.
func cri(t *testing.T, rt *runtimeUnderTest) *criEnv {
	t.Helper()
	crictl(t)
	images := []string{pauseArchive(t), imageArchive(t)}
	return cris.get(t, "containerd (CRI)", rt, func() (*criEnv, error) { return startCRI(rt, images) })
}

func startCRI(rt *runtimeUnderTest, images []string) (*criEnv, error) {
	dir := filepath.Join(workDir, "cri-"+rt.name)
	c := &criEnv{rt: rt, dir: dir, sock: filepath.Join(dir, "c.sock"), cgroup: fmt.Sprintf("berth-cri-%s-%d", rt.name, os.Getpid()), logPath: filepath.Join(dir, "containerd.log")}
	for _, d := range []string{"cni", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	// restrict_oom_score_adj: the sandbox asks for oomScoreAdj -998, which
	// needs CAP_SYS_RESOURCE, absent from this host's bounding set (runc
	// fails there too); restricted, containerd keeps the score at its own.
	config := containerdConfig(dir, c.sock, "") + fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[2]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "under-test"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.under-test]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.under-test.options]
        BinaryName = %[3]q
        Root = "%[1]s/rtroot"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[1]s/cni"
`, dir, criPauseImage, rt.wrapper)
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "crictl.yaml"), nil, 0o644); err != nil {
		return nil, err
	}
	var err error
	if c.daemon, err = startDaemon("containerd (CRI) for "+rt.name, exec.Command("containerd", "--config", configPath), c.logPath); err != nil {
		return nil, err
	}
	if !waitFor(20*time.Second, func() bool { return c.command("info").Run() == nil }) {
		c.stop()
		b, _ := os.ReadFile(c.logPath)
		return nil, fmt.Errorf("the CRI plugin did not answer on %s within 20s:\n%s", c.sock, b)
	}
	for _, img := range images {
		out, err := exec.Command("ctr", "--address", c.sock, "--namespace", "k8s.io", "images", "import", img).CombinedOutput()
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("ctr images import %s: %v\n%s", img, err, out)
		}
	}
	return c, nil
}

func (c *criEnv) command(args ...string) *exec.Cmd {
	return exec.Command(crictlPath, append([]string{"--config", filepath.Join(c.dir, "crictl.yaml"),
		"--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock, "--timeout", "50s"}, args...)...)
}

func (c *criEnv) crictl(t *testing.T, args ...string) command {
	t.Helper()
	return runCommand(t, c.command(args...), 60*time.Second)
}

// must is crictl that fails t unless it succeeds; it returns the trimmed
// stdout (an id, for runp and create).
func (c *criEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(mustSucceed(t, c.crictl(t, args...), c.logPath).stdout)
}

// writeConfig writes a pod or container config for crictl.
func (c *criEnv) writeConfig(t *testing.T, name, json string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *criEnv) places() leftoverPlaces {
	return leftoverPlaces{stateRoots: []string{filepath.Join(c.dir, "rtroot", "k8s.io")}}
}

func (c *criEnv) stop() error { return c.daemon.stop(20 * time.Second) }

// stopCRIs fails if a pod is left, then stops the daemons and removes the
// pods' cgroup parents.
func stopCRIs() error {
	var errs []string
	for _, c := range cris.all() {
		if out, err := c.command("pods", "-q").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
			errs = append(errs, fmt.Sprintf("containerd (CRI) for %s still has pods: %s", c.rt.name, strings.Fields(string(out))))
			for _, p := range strings.Fields(string(out)) {
				c.command("stopp", p).Run()
				c.command("rmp", "-f", p).Run()
			}
		}
		if err := c.stop(); err != nil {
			errs = append(errs, err.Error())
		}
		if err := removeCgroupTree(c.cgroup); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// logTail is the end of a daemon's log, for failure messages.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
