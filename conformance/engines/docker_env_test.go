package engines_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerCLI is Debian's docker.io client, matching its dockerd (another
// docker on PATH may speak a newer API).
const dockerCLI = "/usr/bin/docker"

// dockerImage is the busybox rootfs imported into each dockerd.
const dockerImage = "berth-busybox:latest"

// dockerEnv is a private dockerd for one runtime: its own data root, exec
// root, socket, pidfile and managed containerd, no iptables and no bridge
// (every container runs with --network none or host), and the runtime's
// wrapper registered in daemon.json as the default runtime.
type dockerEnv struct {
	rt      *runtimeUnderTest
	dir     string
	sock    string
	name    string // the runtime's name in daemon.json
	cgroup  string // the daemon's --cgroup-parent, unique to this run
	daemon  *daemonProc
	logPath string
}

var dockers envs[*dockerEnv]

// docker returns the daemon serving rt, starting it on first use.
func docker(t *testing.T, rt *runtimeUnderTest) *dockerEnv {
	t.Helper()
	return dockers.get(t, "dockerd", rt, func() (*dockerEnv, error) { return startDocker(rt) })
}

func startDocker(rt *runtimeUnderTest) (*dockerEnv, error) {
	// Short: the managed containerd's socket lives below the exec root.
	dir := filepath.Join(workDir, "d-"+rt.name)
	d := &dockerEnv{rt: rt, dir: dir, sock: filepath.Join(dir, "docker.sock"), name: "eng-" + rt.name,
		cgroup: fmt.Sprintf("berth-docker-%s-%d", rt.name, os.Getpid()), logPath: filepath.Join(dir, "dockerd.log")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`{"runtimes": {%q: {"path": %q}}, "default-runtime": %q}`, d.name, rt.wrapper, d.name)
	configPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "x"),
		"--host", "unix://"+d.sock, "--pidfile", filepath.Join(dir, "docker.pid"), "--config-file", configPath,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--cgroup-parent", "/"+d.cgroup)
	var err error
	if d.daemon, err = startDaemon("dockerd for "+rt.name, cmd, d.logPath); err != nil {
		return nil, err
	}
	if !waitFor(30*time.Second, d.serving) {
		d.stop()
		b, _ := os.ReadFile(d.logPath)
		return nil, fmt.Errorf("dockerd did not serve %s within 30s:\n%s", d.sock, b)
	}
	imp := exec.Command("sh", "-c", fmt.Sprintf(`tar -C %s -c . | %s -H unix://%s import -c 'CMD ["sh"]' - %s`,
		shellQuote(rootfs), dockerCLI, shellQuote(d.sock), dockerImage))
	if out, err := imp.CombinedOutput(); err != nil {
		d.stop()
		return nil, fmt.Errorf("docker import: %v\n%s", err, out)
	}
	return d, nil
}

func (d *dockerEnv) serving() bool {
	conn, err := net.Dial("unix", d.sock)
	if err != nil {
		return false
	}
	conn.Close()
	return exec.Command(dockerCLI, "-H", "unix://"+d.sock, "version").Run() == nil
}

func (d *dockerEnv) command(args ...string) *exec.Cmd {
	return exec.Command(dockerCLI, append([]string{"-H", "unix://" + d.sock}, args...)...)
}

// docker runs a docker command against this daemon.
func (d *dockerEnv) docker(t *testing.T, args ...string) command {
	t.Helper()
	return runCommand(t, d.command(args...), 60*time.Second)
}

// mustDocker is docker that fails t unless the command succeeds.
func (d *dockerEnv) mustDocker(t *testing.T, args ...string) command {
	t.Helper()
	return mustSucceed(t, d.docker(t, args...), d.logPath)
}

// places is where the runtime keeps its state under this dockerd: dockerd
// passes <exec-root>/runtime-runc/moby whatever the runtime's name.
func (d *dockerEnv) places() leftoverPlaces {
	return leftoverPlaces{stateRoots: []string{filepath.Join(d.dir, "x", "runtime-runc", "moby")}}
}

// inspect reads one field of a container with docker inspect -f.
func (d *dockerEnv) inspect(t *testing.T, name, format string) string {
	t.Helper()
	return strings.TrimSpace(d.mustDocker(t, "inspect", "-f", format, name).stdout)
}

// removeAfter removes the container when the test ends, whatever it did.
func (d *dockerEnv) removeAfter(t *testing.T, name string) {
	t.Cleanup(func() { d.command("rm", "-f", name).Run() })
}

func (d *dockerEnv) stop() error { return d.daemon.stop(30 * time.Second) }

// stopDockers checks that no container is left in any daemon, then stops
// them; their directories go with the work dir.
func stopDockers() error {
	var errs []string
	for _, d := range dockers.all() {
		if out, err := d.command("ps", "-aq").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
			errs = append(errs, fmt.Sprintf("dockerd for %s still has containers: %s", d.rt.name, strings.Fields(string(out))))
			d.command("rm", "-f", strings.TrimSpace(string(out))).Run()
		}
		if err := d.stop(); err != nil {
			errs = append(errs, err.Error())
		}
		if err := removeCgroupTree(d.cgroup); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
