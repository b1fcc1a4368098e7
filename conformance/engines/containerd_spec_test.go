package engines_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestContainerdSpec: containerd's config.json for ctr's flags (its default
// capabilities, --seccomp, --privileged, --cap-add/--cap-drop, --read-only,
// --mount, --net-host, --with-ns, --device, --rootfs) and the shim's
// `create --no-pivot` have the same effect inside the container on berth as
// on runc.
func TestContainerdSpec(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	netns := namespaceHolder(t, "--net")
	run := func(name string, flags []string, args ...string) func(t *testing.T, rt *runtimeUnderTest) (command, string) {
		return func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			c := containerd(t, rt)
			id := ctrID(rt, name)
			c.removeAfter(t, id)
			full := append(append(append([]string{"run", "--rm"}, c.runFlags()...), flags...), containerdImage, id)
			return c.ctr(t, append(full, args...)...), id
		}
	}
	// The older shims take no --runc-binary: they run "runc" from the
	// daemon's PATH, which is the wrapper.
	runOldShim := func(name, shim string, args ...string) func(t *testing.T, rt *runtimeUnderTest) (command, string) {
		return func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			c := containerd(t, rt)
			id := ctrID(rt, name)
			c.removeAfter(t, id)
			full := []string{"run", "--rm", "--runtime", shim, "--fifo-dir", filepath.Join(c.dir, "fifo"), containerdImage, id}
			res := c.ctr(t, append(full, args...)...)
			rt.wantCall(t, id, "create", "--bundle", id)
			return res, id
		}
	}
	runScenarios(t, []scenario{
		{name: "default-security", run: run("sec", nil, "sh", "-c", securityStatus),
			check: wantLines("Seccomp:\t0", "NoNewPrivs:\t1")},
		{name: "seccomp", run: run("seccomp", []string{"--seccomp"}, "sh", "-c", securityStatus),
			check: wantLines("Seccomp:\t2")},
		{name: "privileged", run: run("priv", []string{"--privileged"}, "sh", "-c", securityStatus+"; ls /dev"),
			check: wantLines("Seccomp:\t0", "kmsg")},
		// containerd's default set without NET_RAW, with SYS_ADMIN.
		{name: "caps", run: run("caps", []string{"--cap-drop", "CAP_NET_RAW", "--cap-add", "CAP_SYS_ADMIN"}, "sh", "-c", securityStatus),
			check: wantLines("CapEff:\t00000000a82405fb", "CapBnd:\t00000000a82405fb")},
		{name: "mount-table", run: run("mounts", []string{"--read-only", "--mount", "type=bind,src=" + data + ",dst=/data,options=rbind:ro"},
			"sh", "-c", mountTable+"; touch /x 2>&1; cat /data/f; touch /data/x 2>&1; "+maskedDirs),
			check: wantLines("from-host", "touch: /x: Read-only file system", "touch: /data/x: Read-only file system",
				"0", "touch: /sys/firmware/x: Read-only file system")},
		{name: "net-host", run: run("nethost", []string{"--net-host"}, "readlink", "/proc/self/ns/net"),
			check: wantLines(hostNamespace(t, "net"))},
		{name: "with-ns", run: run("withns", []string{"--with-ns", "network:" + netns.path}, "readlink", "/proc/self/ns/net"),
			check: wantLines(netns.link)},
		{name: "runc-v1-shim", run: runOldShim("v1shim", "io.containerd.runc.v1", "sh", "-c", "echo via-v1-shim"),
			check: wantLines("via-v1-shim")},
		{name: "legacy-linux-shim", run: runOldShim("legacyshim", "io.containerd.runtime.v1.linux", "sh", "-c", "echo via-legacy-shim"),
			check: wantLines("via-legacy-shim")},
		// ctr's default container has a network namespace of its own
		// with nothing but lo, which runc brings up.
		{name: "loopback", run: run("loopback", nil, "sh", "-c", localhostService),
			check: wantLines("served-on-lo", "0x9")},
		{name: "no-pivot", run: run("nopivot", []string{"--no-pivot"}, "sh", "-c", "cat /data/f 2>/dev/null; ls /bin/busybox"),
			check: wantLines("/bin/busybox")},
		{name: "device", run: run("device", []string{"--device", "/dev/kmsg"},
			"sh", "-c", "ls -l /dev/kmsg | awk '{print $1, $5, $6}'; : >/dev/kmsg && echo openable"),
			check: wantLines("crw-r--r-- 1, 11", "openable")},
		{name: "host-rootfs", run: func(t *testing.T, rt *runtimeUnderTest) (command, string) {
			c := containerd(t, rt)
			id := ctrID(rt, "rootfs")
			c.removeAfter(t, id)
			dir, err := buildBusyboxRootfs(filepath.Join(t.TempDir(), "rootfs"))
			if err != nil {
				t.Fatal(err)
			}
			// No image config, so no PATH: the program is named by path.
			args := append(append([]string{"run", "--rm"}, c.runFlags()...), "--rootfs", dir, id, "/bin/sh", "-c", "echo in-rootfs; ls /")
			return c.ctr(t, args...), id
		}, check: wantLines("in-rootfs", "bin", "etc")},
	}, func(rt *runtimeUnderTest) leftoverPlaces { return containerd(t, rt).places() })
}

// heldNamespace is a namespace kept alive by a sleeping process.
type heldNamespace struct {
	path string // /proc/<pid>/ns/<type>
	link string // what readlink shows for it, e.g. net:[4026532000]
}

// namespaceHolder starts `unshare <flag> sleep` and returns its namespace;
// the process is killed when the test ends.
func namespaceHolder(t *testing.T, flag string) heldNamespace {
	t.Helper()
	typ := map[string]string{"--net": "net", "--ipc": "ipc", "--uts": "uts"}[flag]
	cmd := exec.Command("unshare", flag, "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare %s: %v", flag, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	path := fmt.Sprintf("/proc/%d/ns/%s", cmd.Process.Pid, typ)
	own := hostNamespace(t, typ)
	var link string
	// unshare execs sleep once the namespace exists.
	if !waitFor(5*time.Second, func() bool { link, _ = os.Readlink(path); return link != "" && link != own }) {
		t.Fatalf("unshare %s made no new namespace (%s)", flag, link)
	}
	return heldNamespace{path: path, link: link}
}

// TestContainerdExecSpec: ctr task exec's process JSON (inherited
// capabilities and no_new_privs, --user, --cwd, -t without --tty) has the
// same effect on berth as on runc, and the process joins all the
// container's namespaces and cgroups.
func TestContainerdExecSpec(t *testing.T) {
	runExecCases(t, []execCase{
		{name: "inherited-security", args: []string{"sh", "-c", securityStatus}, check: wantLines("NoNewPrivs:\t1")},
		{name: "user-cwd", flags: []string{"--user", testUID, "--cwd", "/tmp"}, args: []string{"sh", "-c", "id -u; pwd"},
			check: wantLines(testUID, "/tmp")},
		{name: "namespaces-cgroups", args: []string{"sh", "-c", sameAsInit}, check: wantLines(sharedWithInit...)},
	}, func(t *testing.T, rt *runtimeUnderTest) execTarget {
		c := containerd(t, rt)
		id := ctrID(rt, "execspec")
		c.removeAfter(t, id)
		args := append(append([]string{"run", "-d", "--null-io"}, c.runFlags()...), containerdImage, id, "sleep", "1000")
		if res := c.ctr(t, args...); res.exit != 0 {
			t.Fatalf("ctr run -d failed:\n%s%s", res, rt.callReport(t, id))
		}
		n := 0
		return execTarget{id: id, exec: func(t *testing.T, flags []string, args ...string) command {
			n++
			full := append(append([]string{"task", "exec", "--fifo-dir", filepath.Join(c.dir, "fifo"), "--exec-id", fmt.Sprintf("x%d", n)}, flags...), id)
			return c.ctr(t, append(full, args...)...)
		}}
	}, func(t *testing.T, rt *runtimeUnderTest, id string) {
		c := containerd(t, rt)
		if res := c.ctr(t, "task", "kill", "--signal", "SIGKILL", id); res.exit != 0 {
			t.Errorf("ctr task kill failed:\n%s%s", res, rt.callReport(t, id))
		}
		waitFor(5*time.Second, func() bool { return c.taskStatus(t, id) == "STOPPED" })
		if res := c.ctr(t, "task", "delete", id); res.exit != 0 {
			t.Errorf("ctr task delete failed:\n%s%s", res, rt.callReport(t, id))
		}
		c.ctr(t, "container", "delete", id)
		assertCleanFlow(t, rt, id, c.places())
	})
}
