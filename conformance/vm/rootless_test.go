//go:build vmtest

package vm_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The guest's unprivileged user, whose systemd user manager lingers and
// has every controller delegated (image.sh).
const (
	rootlessUser = "rootless"
	rootlessUID  = 1000
)

// asRootless runs berth as the rootless user in a login session of its
// own (runuser -l goes through PAM, so logind puts it in a session scope
// of user-1000.slice, as an ssh login would), talking to its user
// manager over the session bus.
func asRootless(t *testing.T, args ...string) result {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := fmt.Sprintf("export XDG_RUNTIME_DIR=/run/user/%d DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/%d/bus; exec %s %s",
		rootlessUID, rootlessUID, berthBin, strings.Join(quoted, " "))
	return run(t, nil, nil, "runuser", "-l", rootlessUser, "-c", script)
}

// TestRootlessSystemd: an unprivileged user's berth --systemd-cgroup asks
// the user's own systemd for the scope, in the cgroup subtree delegated
// to it (user@1000.service), with real limits, pause and resume there,
// and delete removes it.
func TestRootlessSystemd(t *testing.T) {
	if !waitFor(20*time.Second, func() bool { _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", rootlessUID)); return err == nil }) {
		t.Fatalf("the user manager of %s is not running (no /run/user/%d/bus)", rootlessUser, rootlessUID)
	}
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chmod(filepath.Dir(dir), 0o755)) // t.TempDir's parent is 0700
	must(t, os.Chown(dir, rootlessUID, rootlessUID))
	bundle, state := filepath.Join(dir, "bundle"), filepath.Join(dir, "state")
	must(t, os.Mkdir(bundle, 0o755))
	makeRootfs(t, filepath.Join(bundle, "rootfs"))
	must(t, os.Chown(bundle, rootlessUID, rootlessUID))
	if r := asRootless(t, "spec", "--rootless", "--bundle", bundle); r.code != 0 {
		t.Fatalf("%s", r)
	}
	cfg := filepath.Join(bundle, "config.json")
	var s specs.Spec
	must(t, json.Unmarshal([]byte(readFile(t, cfg)), &s))
	s.Process.Terminal, s.Process.Args = false, []string{"sleep", "1000"}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(30))}
	s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(20000)), Period: ptr(uint64(100000))}
	id := fmt.Sprintf("vm-rootless-%d", os.Getpid())
	s.Linux.CgroupsPath = "user.slice:berth:" + id
	b, err := json.Marshal(&s)
	must(t, err)
	must(t, os.WriteFile(cfg, b, 0o644))

	rt := func(args ...string) result {
		t.Helper()
		return asRootless(t, append([]string{"--systemd-cgroup", "--root", state}, args...)...)
	}
	mustRT := func(args ...string) result {
		t.Helper()
		r := rt(args...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return r
	}
	t.Cleanup(func() { rt("delete", "--force", id) })
	mustRT("run", "--detach", "--bundle", bundle, id)
	var st specs.State
	must(t, json.Unmarshal([]byte(mustRT("state", id).stdout), &st))
	want := fmt.Sprintf("/sys/fs/cgroup/user.slice/user-%d.slice/user@%d.service/user.slice/berth-%s.scope", rootlessUID, rootlessUID, id)
	if got := procCgroup(t, st.Pid); got != want {
		t.Fatalf("the rootless container's init is in %s, want %s", got, want)
	}
	for file, v := range map[string]string{"memory.max": strconv.Itoa(64 << 20), "pids.max": "30", "cpu.max": "20000 100000"} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(want, file))); got != v {
			t.Errorf("host %s/%s = %q, want %q", want, file, got, v)
		}
	}
	inside := parseKV(mustRT("exec", id, "sh", "-c", readInside, "sh", "memory.max", "pids.max").stdout)
	if inside["memory.max"] != strconv.Itoa(64<<20) || inside["pids.max"] != "30" {
		t.Errorf("inside: %v", inside)
	}
	mustRT("update", "--memory", strconv.Itoa(96<<20), id)
	if got := strings.TrimSpace(readFile(t, filepath.Join(want, "memory.max"))); got != strconv.Itoa(96<<20) {
		t.Errorf("after update memory.max = %q", got)
	}
	mustRT("pause", id)
	if got := strings.TrimSpace(readFile(t, filepath.Join(want, "cgroup.freeze"))); got != "1" {
		t.Errorf("after pause cgroup.freeze = %q", got)
	}
	mustRT("resume", id)
	mustRT("delete", "--force", id)
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Errorf("the scope's cgroup is left after delete (%v)", err)
	}
}
