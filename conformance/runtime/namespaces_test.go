package runtime_test

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsFile maps a runtime-spec namespace type to its /proc/<pid>/ns entry.
var nsFile = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

func setNamespaces(s *specs.Spec, kinds ...specs.LinuxNamespaceType) {
	s.Linux.Namespaces = nil
	for _, k := range kinds {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: k})
	}
}

// TestNewNamespaces: each namespace listed without a path is a new one.
func TestNewNamespaces(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	kinds := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace,
		specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace}
	setNamespaces(c.Spec, kinds...)
	rep := c.probe()
	for _, k := range kinds {
		if rep.Namespaces[nsFile[k]] == hostNamespace(t, nsFile[k]) {
			t.Errorf("%s namespace is the host's (inode %d)", k, rep.Namespaces[nsFile[k]])
		}
	}
	// Not listed: shared with the host.
	for _, k := range []string{"user", "time"} {
		if rep.Namespaces[k] != hostNamespace(t, k) {
			t.Errorf("%s namespace is not the host's although the config does not list it", k)
		}
	}
	if rep.PID != 1 {
		t.Errorf("pid in the new pid namespace is %d, want 1", rep.PID)
	}
	// In a new cgroup namespace the container's own cgroup is the root.
	for _, l := range rep.Cgroup {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && f[1] == "memory" && f[2] != "/" {
			t.Errorf("/proc/self/cgroup in a cgroup namespace shows %q, want the root", l)
		}
	}
}

// TestNoNamespaces: with no namespaces listed besides mount, the process
// shares the host's.
func TestSharedNamespaces(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	setNamespaces(c.Spec, specs.MountNamespace)
	c.Spec.Mounts = withoutMount(c.Spec.Mounts, "/sys", "/sys/fs/cgroup") // sysfs needs a network namespace of our own
	c.Spec.Hostname = ""
	rep := c.probe()
	for _, k := range []string{"pid", "net", "ipc", "uts", "cgroup", "user", "time"} {
		if rep.Namespaces[k] != hostNamespace(t, k) {
			t.Errorf("%s namespace differs from the host's", k)
		}
	}
	if rep.Namespaces["mnt"] == hostNamespace(t, "mnt") {
		t.Errorf("mount namespace is the host's")
	}
}

func withoutMount(ms []specs.Mount, dests ...string) []specs.Mount {
	var out []specs.Mount
	for _, m := range ms {
		if !contains(dests, m.Destination) {
			out = append(out, m)
		}
	}
	return out
}

// TestTimeNamespace: a new time namespace with timeOffsets shifts the
// monotonic and boottime clocks inside.
func TestTimeNamespace(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not know the time namespace or timeOffsets")
	c := newContainer(t)
	c.Spec.Linux.Namespaces = append(c.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	const monoOffset, bootOffset = 1000 * 86400, 2000 * 86400
	c.Spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
		"monotonic": {Secs: monoOffset}, "boottime": {Secs: bootOffset, Nanosecs: 500},
	}
	before := hostClock(unix.CLOCK_MONOTONIC)
	rep := c.probe("--read", "/proc/self/timens_offsets")
	after := hostClock(unix.CLOCK_MONOTONIC)
	if rep.Namespaces["time"] == hostNamespace(t, "time") {
		t.Errorf("time namespace is the host's")
	}
	if d := rep.Monotonic - monoOffset; d < before-1 || d > after+1 {
		t.Errorf("monotonic clock inside %.0f, want host's (%.0f..%.0f) + %d", rep.Monotonic, before, after, monoOffset)
	}
	hostBoot := hostClock(unix.CLOCK_BOOTTIME)
	if d := rep.Boottime - bootOffset; math.Abs(d-hostBoot) > 60 {
		t.Errorf("boottime clock inside %.0f, want host's %.0f + %d", rep.Boottime, hostBoot, bootOffset)
	}
	offsets := strings.Fields(rep.Files["/proc/self/timens_offsets"].Content)
	want := []string{"monotonic", strconv.Itoa(monoOffset), "0", "boottime", strconv.Itoa(bootOffset), "500"}
	if strings.Join(offsets, " ") != strings.Join(want, " ") {
		t.Errorf("timens_offsets %q, want %q", offsets, want)
	}
}

func hostClock(id int32) float64 {
	var ts unix.Timespec
	unix.ClockGettime(id, &ts)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// userNSContainer configures a new user namespace mapping container ids
// 0..65535 to host ids 100000...
func userNSContainer(t *testing.T) *container {
	c := newContainer(t)
	c.Spec.Linux.Namespaces = append(c.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	c.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	c.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	return c
}

// TestUserNamespace: uid/gid mappings are applied; host root's files look
// like the overflow id inside.
func TestUserNamespace(t *testing.T) {
	t.Parallel()
	c := userNSContainer(t)
	c.Spec.Process.Args = []string{"/probe", "--read", "/proc/self/uid_map", "--read", "/proc/self/gid_map", "--stat", "/probe"}
	c.mustCreate()
	pid := c.state().Pid
	// From the host, the container's root is uid 100000 / gid 200000.
	if m := strings.Fields(readFile(t, "/proc/"+strconv.Itoa(pid)+"/uid_map")); strings.Join(m, " ") != "0 100000 65536" {
		t.Errorf("host view of uid_map %v", m)
	}
	c.start()
	c.waitStatus(specs.StateStopped)
	rep := parseReport(t, c.output())
	if rep.Namespaces["user"] == hostNamespace(t, "user") {
		t.Errorf("user namespace is the host's")
	}
	if rep.UID != 0 || rep.GID != 0 {
		t.Errorf("uid/gid inside %d/%d, want 0/0", rep.UID, rep.GID)
	}
	if m := strings.Fields(rep.Files["/proc/self/gid_map"].Content); strings.Join(m, " ") != "0 200000 65536" {
		t.Errorf("gid_map inside %v", m)
	}
	if st := rep.Stats["/probe"]; st.UID != 65534 || st.GID != 65534 {
		t.Errorf("host-root-owned /probe is %d:%d inside, want the overflow ids 65534:65534", st.UID, st.GID)
	}
}

// TestJoinNamespacesByPath: a container joins another's namespaces by
// /proc/<pid>/ns paths, as pods do; the inodes are the target's.
func TestJoinNamespacesByPath(t *testing.T) {
	t.Parallel()
	a := userNSContainer(t)
	a.Spec.Process.Args = []string{"/bin/sleep", "1000"}
	a.Spec.Linux.Namespaces = append(a.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	a.mustCreate()
	a.start()
	apid := a.state().Pid

	b := newContainer(t)
	kinds := []specs.LinuxNamespaceType{specs.UserNamespace, specs.PIDNamespace, specs.NetworkNamespace,
		specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace}
	b.Spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	for _, k := range kinds {
		b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces,
			specs.LinuxNamespace{Type: k, Path: "/proc/" + strconv.Itoa(apid) + "/ns/" + nsFile[k]})
	}
	// Engines pass the joined namespace's mappings along (runc requires them).
	b.Spec.Linux.UIDMappings, b.Spec.Linux.GIDMappings = a.Spec.Linux.UIDMappings, a.Spec.Linux.GIDMappings
	b.Spec.Hostname = "" // the uts namespace is A's; setting a hostname in a joined one is an error
	rep := b.probe()
	for _, k := range kinds {
		if want := nsInode(t, "/proc/"+strconv.Itoa(apid)+"/ns/"+nsFile[k]); rep.Namespaces[nsFile[k]] != want {
			t.Errorf("%s namespace inode %d, want the target's %d", k, rep.Namespaces[nsFile[k]], want)
		}
	}
	if rep.PID == 1 {
		t.Errorf("pid 1 in a joined pid namespace whose init is the other container")
	}
	if rep.UID != 0 {
		t.Errorf("uid %d in the joined user namespace, want 0", rep.UID)
	}
}

// TestJoinNetworkNamespaceIPNetns joins a namespace made by `ip netns add`.
func TestJoinNetworkNamespaceIPNetns(t *testing.T) {
	t.Parallel()
	b := make([]byte, 4)
	rand.Read(b)
	name := "cf-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	path := "/var/run/netns/" + name
	c := newContainer(t)
	for i, ns := range c.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			c.Spec.Linux.Namespaces[i].Path = path
		}
	}
	rep := c.probe()
	if rep.Namespaces["net"] != nsInode(t, path) {
		t.Errorf("net namespace %d, want %s's %d", rep.Namespaces["net"], path, nsInode(t, path))
	}
}

// TestJoinMountAndUTSNamespaceBindFile joins namespaces persisted by
// `unshare --mount=FILE --uts=FILE`.
func TestJoinMountAndUTSNamespaceBindFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A persistent mount namespace must be bound on a private mount.
	hostMount(t, dir, dir, "", unix.MS_BIND, "")
	must(t, unix.Mount("", dir, "", unix.MS_PRIVATE, ""))
	mnt, uts := filepath.Join(dir, "mnt"), filepath.Join(dir, "uts")
	for _, f := range []string{mnt, uts} {
		must(t, os.WriteFile(f, nil, 0o644))
	}
	if out, err := exec.Command("unshare", "--mount="+mnt, "--uts="+uts, "hostname", "joined-uts").CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v: %s", err, out)
	}
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		unix.Unmount(uts, unix.MNT_DETACH)
	})
	c := newContainer(t)
	c.Spec.Hostname = ""
	for i, ns := range c.Spec.Linux.Namespaces {
		switch ns.Type {
		case specs.MountNamespace:
			c.Spec.Linux.Namespaces[i].Path = mnt
		case specs.UTSNamespace:
			c.Spec.Linux.Namespaces[i].Path = uts
		}
	}
	must(t, os.WriteFile(filepath.Join(c.Rootfs, "marker"), nil, 0o644))
	rep := c.probe("--stat", "/marker", "--stat", c.Bundle)
	if rep.Namespaces["mnt"] != nsInode(t, mnt) || rep.Namespaces["uts"] != nsInode(t, uts) {
		t.Errorf("mnt/uts namespaces %d/%d, want %d/%d", rep.Namespaces["mnt"], rep.Namespaces["uts"], nsInode(t, mnt), nsInode(t, uts))
	}
	if rep.Hostname != "joined-uts" {
		t.Errorf("hostname %q, want the joined namespace's joined-uts", rep.Hostname)
	}
	// The rootfs was still set up (and made the root) inside the joined mount namespace.
	if rep.Stats["/marker"].Error != "" || rep.Stats[c.Bundle].Error != "ENOENT" {
		t.Errorf("root inside is not the rootfs: stat /marker %+v, stat of the host's bundle path %+v",
			rep.Stats["/marker"], rep.Stats[c.Bundle])
	}
}

// TestLoopbackUp: a new network namespace has lo up, as runc leaves it, so
// services bound to localhost work in a container without a network.
func TestLoopbackUp(t *testing.T) {
	t.Parallel()
	if rep := newContainer(t).probe(); !rep.LoopbackUp {
		t.Error("lo is down in the container's new network namespace")
	}
	c := newContainer(t, "/bin/sh", "-c", "nc -l -p 5555 -e echo hello-lo & sleep 0.2; nc 127.0.0.1 5555")
	if r := c.run(); !strings.Contains(r.Stdout, "hello-lo") {
		t.Errorf("no connection over 127.0.0.1 in the container: %s", r.describe())
	}
}
