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

// podmanImage is the busybox image imported into the suite's podman storage.
const podmanImage = "localhost/berth-busybox:latest"

// podmanEnv is a podman whose storage, run dir, locks, events and config all
// live in the suite's work dir, so nothing is left on the host.
type podmanEnv struct {
	dir          string
	env          []string
	global       []string // global flags before every podman command
	cgroupParent string   // where podman puts conmon and the containers
}

var (
	podmanOnce sync.Once
	thePodman  *podmanEnv
	podmanErr  error
)

// podman returns the suite's podman, setting it up on first use.
func podman(t *testing.T) *podmanEnv {
	t.Helper()
	podmanOnce.Do(func() { thePodman, podmanErr = newPodmanEnv() })
	if podmanErr != nil {
		t.Fatalf("setting up podman: %v", podmanErr)
	}
	return thePodman
}

func newPodmanEnv() (*podmanEnv, error) {
	dir := filepath.Join(workDir, "podman")
	p := &podmanEnv{dir: dir, cgroupParent: fmt.Sprintf("berth-engines-podman-%d", os.Getpid())}
	for _, d := range []string{"graph", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	// Podman asks for nofile and nproc rlimits of 1048576 by default; a host
	// without CAP_SYS_RESOURCE (like the CI VM) cannot grant them to runc or
	// berth. nofile at the caller's own hard limit and a modest nproc can
	// always be granted. Podman lowers its own nproc limit, so use a fixed one.
	hardNofile, err := hardLimit("-Hn")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=%[2]s:%[2]s", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "%[1]s/tmp"
# Engines pass --log-format=json --log only to runtimes listed here.
runtime_supports_json = ["crun", "runc", "berth"]

# Commands without --runtime (cleanup, rm) find a container's runtime by
# name; the default is the reference.
runtime = "runc"

[engine.runtimes]
%[3]s
`, dir, hardNofile, runtimeTable())
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = \"%[1]s/graph\"\nrunroot = \"%[1]s/run\"\n", dir)
	confPath, storagePath := filepath.Join(dir, "containers.conf"), filepath.Join(dir, "storage.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(storagePath, []byte(storage), 0o644); err != nil {
		return nil, err
	}
	p.env = append(os.Environ(), "CONTAINERS_CONF="+confPath, "CONTAINERS_STORAGE_CONF="+storagePath)
	p.global = []string{"--root", dir + "/graph", "--runroot", dir + "/run", "--tmpdir", dir + "/tmp",
		"--storage-driver", "overlay", "--cgroup-manager=cgroupfs", "--events-backend=file"}

	imp := p.command(nil, "import", "-", podmanImage)
	tar := exec.Command("tar", "-C", rootfs, "-c", ".")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return nil, err
	}
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		return nil, err
	}
	out, err := imp.CombinedOutput()
	if werr := tar.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("tar: %v", werr)
	}
	if err != nil {
		return nil, fmt.Errorf("podman import: %v\n%s", err, out)
	}
	return p, nil
}

func runtimeTable() string {
	var lines []string
	for _, rt := range runtimes {
		lines = append(lines, fmt.Sprintf("%s = [%q]", rt.name, rt.wrapper))
	}
	return strings.Join(lines, "\n")
}

func hardLimit(flag string) (string, error) {
	out, err := exec.Command("sh", "-c", "ulimit "+flag).Output()
	if err != nil {
		return "", fmt.Errorf("ulimit %s: %v", flag, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// command builds a podman command using rt as its OCI runtime (none: the
// default runtime, for commands that do not start containers).
func (p *podmanEnv) command(rt *runtimeUnderTest, args ...string) *exec.Cmd {
	full := append([]string{}, p.global...)
	if rt != nil {
		full = append(full, "--runtime", rt.wrapper)
	}
	cmd := exec.Command("podman", append(full, args...)...)
	cmd.Env = p.env
	return cmd
}

// run runs a podman command with rt as the runtime.
func (p *podmanEnv) run(t *testing.T, rt *runtimeUnderTest, args ...string) command {
	t.Helper()
	return runCommand(t, p.command(rt, args...), 60*time.Second)
}

// runFlags are flags plus what every container gets: the suite's cgroup
// parent and no network (the suite is offline and tests the runtime, not
// netavark), unless it joins a pod's.
func (p *podmanEnv) runFlags(flags []string) []string {
	full := []string{"--cgroup-parent=/" + p.cgroupParent}
	joinsPod := false
	for _, f := range flags {
		joinsPod = joinsPod || f == "--pod"
	}
	if !joinsPod {
		full = append(full, "--network=none")
	}
	return append(full, flags...)
}

// startDetached runs a long-lived container and returns its id; it is
// removed when the test ends, whatever happened.
func (p *podmanEnv) startDetached(t *testing.T, rt *runtimeUnderTest, flags []string, args ...string) string {
	t.Helper()
	full := append(append([]string{"run", "-d"}, p.runFlags(flags)...), podmanImage)
	res := p.run(t, rt, append(full, args...)...)
	id := strings.TrimSpace(res.stdout)
	if res.exit != 0 || len(id) != 64 {
		t.Fatalf("podman run -d failed:\n%s%s", res, rt.callReport(t, p.lastContainerID(t)))
	}
	t.Cleanup(func() { p.command(rt, "rm", "-f", "-t", "0", id).Run() })
	return id
}

// runOnce runs a container to completion with --rm and returns the result
// and the container's id (from --cidfile).
func (p *podmanEnv) runOnce(t *testing.T, rt *runtimeUnderTest, flags []string, args ...string) (command, string) {
	t.Helper()
	return p.runOnceStdin(t, rt, "", flags, args...)
}

// runOnceStdin is runOnce with stdin given to podman (and, with -i, to the
// container).
func (p *podmanEnv) runOnceStdin(t *testing.T, rt *runtimeUnderTest, stdin string, flags []string, args ...string) (command, string) {
	t.Helper()
	cidfile := filepath.Join(t.TempDir(), "cid")
	full := append(append([]string{"run", "--rm", "--cidfile", cidfile}, p.runFlags(flags)...), podmanImage)
	cmd := p.command(rt, append(full, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	res := runCommand(t, cmd, 60*time.Second)
	id, err := os.ReadFile(cidfile)
	if err != nil {
		t.Fatalf("podman wrote no --cidfile: %v\n%s", err, res)
	}
	return res, strings.TrimSpace(string(id))
}

// lastContainerID is the most recently created container (to find the
// runtime's calls when podman fails before printing an id).
func (p *podmanEnv) lastContainerID(t *testing.T) string {
	out, _ := p.command(nil, "ps", "-a", "--latest", "--format", "{{.ID}}", "--no-trunc").Output()
	return strings.TrimSpace(string(out))
}

// status is podman's view of a container's state (running, paused, exited).
func (p *podmanEnv) status(t *testing.T, id string) string {
	t.Helper()
	out, err := p.command(nil, "inspect", "--format", "{{.State.Status}}", id).Output()
	if err != nil {
		t.Fatalf("podman inspect %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// places says where podman's runtimes keep container state: podman passes
// no --root, so each runtime's default root is used.
func (p *podmanEnv) places() leftoverPlaces {
	return leftoverPlaces{stateRoots: []string{"/run/runc", "/run/berth"}}
}

// resetPodman removes every container and image of the suite's podman and
// the cgroups it made.
func resetPodman() error {
	if thePodman == nil {
		return nil
	}
	p := thePodman
	var errs []string
	if out, err := p.command(nil, "rm", "-a", "-f", "-t", "0").CombinedOutput(); err != nil {
		errs = append(errs, fmt.Sprintf("podman rm -a: %v: %s", err, out))
	}
	// Reset unmounts the storage and removes the images; it has been seen
	// to fail once in a while when called right after other commands.
	for attempt := 1; ; attempt++ {
		out, err := p.command(nil, "system", "reset", "-f").CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 3 {
			errs = append(errs, fmt.Sprintf("podman system reset: %v: %s", err, out))
			break
		}
		time.Sleep(time.Second)
	}
	if err := removeCgroupTree(p.cgroupParent); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// remove force-removes a container and fails the test if podman cannot.
// podman's own clean-up has failed (rarely) to remove the container's
// userdata/shm because something still had it mounted; the report then
// names every process whose mount namespace still holds a mount there.
func (p *podmanEnv) remove(t *testing.T, rt *runtimeUnderTest, id string) {
	t.Helper()
	if res := p.run(t, rt, "rm", "-f", "-t", "0", id); res.exit != 0 {
		t.Errorf("podman rm -f failed:\n%s%s\n  mounts of the container still held:\n%s",
			res, rt.callReport(t, id), mountHolders(id))
	}
}

// mountHolders lists, for each process, its mountinfo lines that mention s.
func mountHolders(s string) string {
	var b strings.Builder
	files, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		dir := filepath.Dir(f)
		cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		mnt, _ := os.Readlink(filepath.Join(dir, "ns", "mnt"))
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, s) {
				fmt.Fprintf(&b, "    pid %s (%s, %s): %s\n", filepath.Base(dir), strings.ReplaceAll(strings.TrimSpace(string(cmd)), "\x00", " "), mnt, l)
			}
		}
	}
	if b.Len() == 0 {
		return "    (none)\n"
	}
	return b.String()
}
