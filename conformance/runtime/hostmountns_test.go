package runtime_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// withoutMountNamespace makes c's config share the host's mount namespace:
// no mount entry in linux.namespaces, and no masked or read-only paths
// (which need a mount namespace of the container's own).
func withoutMountNamespace(c *container) {
	var kept []specs.LinuxNamespace
	for _, ns := range c.Spec.Linux.Namespaces {
		if ns.Type != specs.MountNamespace {
			kept = append(kept, ns)
		}
	}
	c.Spec.Linux.Namespaces = kept
	c.Spec.Linux.MaskedPaths, c.Spec.Linux.ReadonlyPaths = nil, nil
	// A runtime that leaves its mounts in the host's table (runc does)
	// must not leave them to the rest of the machine.
	rootfs := filepath.Join(c.Bundle, "rootfs")
	c.t.Cleanup(func() {
		left := hostMountsUnder(c.t, rootfs)
		for i := len(left) - 1; i >= 0; i-- {
			unix.Unmount(strings.Fields(left[i])[4], unix.MNT_DETACH)
		}
	})
}

// hostMountsUnder lists the host's mountinfo lines whose mountpoint is dir
// or below it.
func hostMountsUnder(t *testing.T, dir string) []string {
	var out []string
	for _, l := range strings.Split(hostMountinfo(t), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, l)
		}
	}
	return out
}

// rootMountFields is the host's "/" entry of mountinfo without its mount
// ids: the options and propagation the container must leave alone.
func rootMountFields(t *testing.T) string {
	var last string
	for _, l := range strings.Split(hostMountinfo(t), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == "/" {
			last = strings.Join(f[2:], " ")
		}
	}
	return last
}

// TestNoMountNamespace: a config without a mount namespace shares the
// host's (config-linux.md: an unlisted namespace is inherited from the
// runtime). The container's mounts then live in the host's mount table,
// under its rootfs, where they propagate nowhere; "/" is left as it was;
// exec enters the container's root; delete takes every mount away.
func TestNoMountNamespace(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 leaves the container's mounts in the host's mount table after delete, and its exec does not enter the container's root")
	c := newContainer(t, "/bin/sleep", "1000")
	withoutMountNamespace(c)
	rootBefore := rootMountFields(t)
	rootfs := filepath.Join(c.Bundle, "rootfs")

	c.mustCreate()
	pid := c.state().Pid
	if got := nsInode(t, "/proc/"+strconv.Itoa(pid)+"/ns/mnt"); got != hostNamespace(t, "mnt") {
		t.Errorf("the init's mount namespace %d is not the host's", got)
	}
	mounts := hostMountsUnder(t, rootfs)
	for _, want := range []string{rootfs, rootfs + "/proc", rootfs + "/dev", rootfs + "/dev/pts", rootfs + "/sys"} {
		found := false
		for _, l := range mounts {
			found = found || strings.Fields(l)[4] == want
		}
		if !found {
			t.Errorf("no mount at %s in the host's mount table; under the rootfs: %q", want, mounts)
		}
	}
	for _, l := range mounts {
		if strings.Contains(l, " shared:") || strings.Contains(l, " master:") {
			t.Errorf("a container mount takes part in propagation: %s", l)
		}
	}
	c.start()

	r := c.rt("exec", c.ID, "/probe")
	if r.Code != 0 {
		t.Fatalf("exec: %s", r.describe())
	}
	rep := parseReport(t, r.Stdout)
	if rep.Namespaces["mnt"] != hostNamespace(t, "mnt") {
		t.Errorf("exec'd process is not in the host's mount namespace")
	}
	// Chrooted into the rootfs, the process sees only the container's
	// mounts, and the read-only root.
	if m := findMount(t, rep, "/"); !contains(m.Options, "ro") || m.Propagation != "private" {
		t.Errorf("root mount options %v, propagation %s: want ro (root.readonly) and private", m.Options, m.Propagation)
	}
	findMount(t, rep, "/proc")
	findMount(t, rep, "/dev/pts")
	for _, m := range rep.Mounts {
		if m.Mountpoint == "/etc" || m.Mountpoint == "/run" || m.Mountpoint == "/tmp" {
			t.Errorf("exec'd process sees the host mount %s (%s)", m.Mountpoint, m.FSType)
		}
	}

	c.mustRT("delete", "--force", c.ID)
	if left := hostMountsUnder(t, rootfs); len(left) > 0 {
		t.Errorf("mounts left after delete: %q", left)
	}
	if got := rootMountFields(t); got != rootBefore {
		t.Errorf("the host's / changed:\n before %s\n after  %s", rootBefore, got)
	}
}

// TestNoMountNamespaceFailedCreate: a create that fails after some of the
// container's mounts were made in the host's mount namespace takes them
// all away again.
func TestNoMountNamespaceFailedCreate(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 leaves the mounts of a failed create in the host's mount table")
	c := newContainer(t, "/bin/true")
	withoutMountNamespace(c)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/data", Type: "no-such-fs", Source: "none"})
	r := c.create()
	if r.Code == 0 {
		t.Fatalf("create with a mount of an unknown filesystem type succeeded")
	}
	checkOneLineError(t, r, []string{"mounts[7]", "no-such-fs"})
	assertNothingLeft(t, c, r)
}
