package runtime_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rootlessUID is the unprivileged host user the rootless test runs the
// runtime as. It needs no passwd entry.
const rootlessUID = 4321

// rootlessEnv is a directory an unprivileged user can use, holding a copy
// of the runtime (the suite's own build dir is private to root), a bundle
// made by `spec --rootless`, and the --root state dir.
type rootlessEnv struct {
	t                  *testing.T
	dir, bin, root, id string
	bundle             string
}

func newRootlessEnv(t *testing.T) *rootlessEnv {
	dir, err := os.MkdirTemp("", "cf-rootless-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chown(dir, rootlessUID, rootlessUID))
	e := &rootlessEnv{t: t, dir: dir, bin: filepath.Join(dir, "runtime"), root: filepath.Join(dir, "state"),
		bundle: filepath.Join(dir, "bundle"), id: uniqueID(t)}
	must(t, copyFile(runtimeBin, e.bin, 0o755))
	must(t, os.Mkdir(e.bundle, 0o755))
	must(t, os.Chown(e.bundle, rootlessUID, rootlessUID))
	makeRootfs(t, filepath.Join(e.bundle, "rootfs"))
	t.Cleanup(func() { e.run("delete", "--force", e.id) })
	return e
}

// run runs the runtime as rootlessUID, with no supplementary groups and
// an environment of its own.
func (e *rootlessEnv) run(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	full := append([]string{"--root", e.root}, args...)
	if args[0] == "spec" {
		full = args
	}
	cmd := exec.CommandContext(ctx, e.bin, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true,
		Credential: &syscall.Credential{Uid: rootlessUID, Gid: rootlessUID, Groups: []uint32{}}}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + e.dir, "XDG_RUNTIME_DIR=" + filepath.Join(e.dir, "xdg")}
	cmd.Dir = e.dir
	// Files, not pipes: a created container's init keeps its stdio open,
	// and Wait would wait for it.
	out, err := os.CreateTemp(e.dir, "out")
	must(e.t, err)
	defer os.Remove(out.Name())
	defer out.Close()
	errf, err := os.CreateTemp(e.dir, "err")
	must(e.t, err)
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	err = cmd.Run()
	r := result{Args: full, Stdout: readFile(e.t, out.Name()), Stderr: readFile(e.t, errf.Name())}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running %v as uid %d: %v", full, rootlessUID, err)
	}
	if ctx.Err() != nil {
		e.t.Fatalf("runtime %v timed out", full)
	}
	return r
}

func (e *rootlessEnv) mustRun(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		e.t.Fatalf("%s", r.describe())
	}
	return r
}

// setArgs edits the config `spec --rootless` wrote.
func (e *rootlessEnv) setArgs(args ...string) {
	e.edit(func(s *specs.Spec) { s.Process.Args, s.Process.Terminal = args, false })
}

func (e *rootlessEnv) edit(f func(s *specs.Spec)) {
	path := filepath.Join(e.bundle, "config.json")
	b, err := os.ReadFile(path)
	must(e.t, err)
	var s specs.Spec
	must(e.t, json.Unmarshal(b, &s))
	f(&s)
	b, err = json.Marshal(&s)
	must(e.t, err)
	must(e.t, os.WriteFile(path, b, 0o644))
}

// TestRootless: an unprivileged user runs a container through the whole
// lifecycle with the config `spec --rootless` writes: root inside its own
// user namespace, mapped to the user outside, in the caller's cgroups
// where it may not create its own, and nothing left behind.
func TestRootless(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	e := newRootlessEnv(t)
	e.mustRun("spec", "--rootless", "--bundle", e.bundle)

	e.setArgs("/probe")
	rep := parseReport(t, e.mustRun("run", "--bundle", e.bundle, e.id).Stdout)
	if rep.UID != 0 || rep.EUID != 0 {
		t.Errorf("uid %d euid %d inside, want 0 (mapped to %d)", rep.UID, rep.EUID, rootlessUID)
	}
	for _, ns := range []string{"user", "mnt", "pid"} {
		if rep.Namespaces[ns] == hostNamespace(t, ns) {
			t.Errorf("%s namespace is the host's", ns)
		}
	}
	if len(rep.Caps["effective"]) == 0 {
		t.Errorf("root in the user namespace has no effective capabilities")
	}

	// A time namespace takes the other way in (the C stage unshares the
	// user namespace and asks for the id maps), where an unprivileged
	// caller must deny setgroups before writing gid_map.
	e.edit(func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 86400}}
	})
	if r := e.run("run", "--bundle", e.bundle, e.id); r.Code != 0 {
		runcGap(t, "runc 1.1.5 does not know the time namespace")
		t.Fatalf("%s", r.describe())
	} else if rep := parseReport(t, r.Stdout); rep.UID != 0 || rep.Monotonic < 86400 {
		t.Errorf("with a time namespace: uid %d, monotonic %.0f s (want 0 and at least a day)", rep.UID, rep.Monotonic)
	}
	e.edit(func(s *specs.Spec) {
		s.Linux.Namespaces = s.Linux.Namespaces[:len(s.Linux.Namespaces)-1]
		s.Linux.TimeOffsets = nil
	})

	e.setArgs("/bin/sleep", "1000")
	e.mustRun("create", "--bundle", e.bundle, e.id)
	var st specs.State
	must(t, json.Unmarshal([]byte(e.mustRun("state", e.id).Stdout), &st))
	if st.Status != specs.StateCreated || st.Pid <= 0 {
		t.Fatalf("state after create: %+v", st)
	}
	var owner syscall.Stat_t
	must(t, syscall.Stat("/proc/"+strconv.Itoa(st.Pid), &owner))
	if owner.Uid != rootlessUID {
		t.Errorf("the container's process belongs to host uid %d, want %d", owner.Uid, rootlessUID)
	}
	e.mustRun("start", e.id)
	rep = parseReport(t, e.mustRun("exec", e.id, "/probe").Stdout)
	if rep.UID != 0 || rep.Namespaces["user"] == hostNamespace(t, "user") {
		t.Errorf("exec'd process: uid %d, user namespace host's: %v", rep.UID, rep.Namespaces["user"] == hostNamespace(t, "user"))
	}
	if r := e.run("pause", e.id); r.Code == 0 || !strings.Contains(r.Stderr, "cgroup") {
		t.Errorf("pause without a cgroup of its own: %s", r.describe())
	}
	e.mustRun("kill", e.id, "KILL")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.run("state", e.id).Stdout, `"stopped"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.mustRun("delete", e.id)
	if entries, _ := os.ReadDir(e.root); len(entries) > 0 {
		t.Errorf("state left under --root: %v", entries)
	}
	if procs := processesIn(e.bundle); len(procs) > 0 {
		t.Errorf("processes left: %v", procs)
	}
}
