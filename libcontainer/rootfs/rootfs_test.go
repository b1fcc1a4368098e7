package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uint32p(v uint32) *uint32 { return &v }

func modep(m os.FileMode) *os.FileMode { return &m }

// TestBasicContainer covers the default /dev, devpts with /dev/ptmx, proc,
// a working busybox after the pivot and the stdio symlinks.
func TestBasicContainer(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}})
	spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: modep(0o620), UID: uint32p(1000), GID: uint32p(5)},
		{Path: "/dev/sub/loop9", Type: "b", Major: 7, Minor: 9, FileMode: modep(0o600)},
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: modep(0o666)},
	}
	probes := []probe{
		{Op: "lstat", Path: "/dev/null"},                                  // 0
		{Op: "lstat", Path: "/dev/fuse"},                                  // 1
		{Op: "lstat", Path: "/dev/sub/loop9"},                             // 2
		{Op: "lstat", Path: "/dev/ptmx"},                                  // 3
		{Op: "openrw", Path: "/dev/ptmx"},                                 // 4
		{Op: "lstat", Path: "/dev/fd"},                                    // 5
		{Op: "lstat", Path: "/dev/stderr"},                                // 6
		{Op: "read", Path: "/etc/marker"},                                 // 7
		{Op: "exec", Path: "/bin/sh", Data: "-c|echo hello-from-busybox"}, // 8
		{Op: "lstat", Path: "/dev/urandom"},                               // 9
		{Op: "lstat", Path: "/dev/tty"},                                   // 10
		{Op: "read", Path: "/proc/self/comm"},
		{Op: "write", Path: "/dev/null", Data: "x"},
		{Op: "readdir", Path: "/dev/pts"},
	}
	out := e.mustRun(Config{Spec: spec}, probes, runOpts{cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWIPC})
	r := out.Results
	checkDev := func(i int, name string, typ, perm, major, minor, uid, gid uint32) {
		t.Helper()
		got := r[i]
		if got.Err != "" {
			t.Fatalf("%s: %s", name, got.Err)
		}
		if got.Mode&unix.S_IFMT != typ || got.Mode&0o7777 != perm || got.Major != major || got.Minor != minor || got.UID != uid || got.GID != gid {
			t.Errorf("%s: mode %o %d:%d owner %d:%d; want %o %d:%d owner %d:%d",
				name, got.Mode, got.Major, got.Minor, got.UID, got.GID, typ|perm, major, minor, uid, gid)
		}
	}
	checkDev(0, "/dev/null", unix.S_IFCHR, 0o666, 1, 3, 0, 0)
	checkDev(1, "/dev/fuse", unix.S_IFCHR, 0o620, 10, 229, 1000, 5)
	checkDev(2, "/dev/sub/loop9", unix.S_IFBLK, 0o600, 7, 9, 0, 0)
	checkDev(9, "/dev/urandom", unix.S_IFCHR, 0o666, 1, 9, 0, 0)
	checkDev(10, "/dev/tty", unix.S_IFCHR, 0o666, 5, 0, 0, 0)
	if r[3].Mode&unix.S_IFMT != unix.S_IFLNK || r[3].Data != "pts/ptmx" {
		t.Errorf("/dev/ptmx: mode %o -> %q, want symlink to pts/ptmx", r[3].Mode, r[3].Data)
	}
	if r[4].Err != "" {
		t.Errorf("open /dev/ptmx: %s", r[4].Err)
	}
	if r[5].Data != "/proc/self/fd" || r[6].Data != "/proc/self/fd/2" {
		t.Errorf("/dev/fd -> %q, /dev/stderr -> %q", r[5].Data, r[6].Data)
	}
	if r[7].Data != "inside-rootfs" {
		t.Errorf("/etc/marker: %q %s", r[7].Data, r[7].Err)
	}
	if strings.TrimSpace(r[8].Data) != "hello-from-busybox" {
		t.Errorf("busybox sh: %q %s", r[8].Data, r[8].Err)
	}
	if r[12].Err != "" {
		t.Errorf("write /dev/null: %s", r[12].Err)
	}
	if r[13].Err != "" || r[13].Data != "ptmx" {
		t.Errorf("/dev/pts content %q %s, want a fresh instance with only ptmx", r[13].Data, r[13].Err)
	}
	if out.Cwd != "/" {
		t.Errorf("cwd after pivot %q", out.Cwd)
	}
	pts := mountAt(t, out.Mountinfo, "/dev/pts")
	if pts.FSType != "devpts" || !strings.Contains(pts.VFSOptions, "ptmxmode=666") || !strings.Contains(pts.VFSOptions, "mode=620") {
		t.Errorf("/dev/pts: %s %s", pts.FSType, pts.VFSOptions)
	}
	dev := mountAt(t, out.Mountinfo, "/dev")
	if dev.FSType != "tmpfs" || !hasOpt(dev.Options, "nosuid") || hasOpt(dev.Options, "relatime") {
		t.Errorf("/dev: %s %s (want tmpfs, nosuid, strictatime)", dev.FSType, dev.Options)
	}
	if mountAt(t, out.Mountinfo, "/dev/mqueue").FSType != "mqueue" {
		t.Error("/dev/mqueue is not mqueue")
	}
	if mountAt(t, out.Mountinfo, "/proc").FSType != "proc" {
		t.Error("/proc is not procfs")
	}
	// Nothing of the host may be left: every mount is the root or below it
	// and comes from our setup.
	for _, line := range strings.Split(strings.TrimSpace(out.Mountinfo), "\n") {
		f := strings.Fields(line)
		if mp := f[4]; mp != "/" && !strings.HasPrefix(mp, "/dev") && !strings.HasPrefix(mp, "/proc") {
			t.Errorf("unexpected mount in the container: %s", line)
		}
	}
	// The rootfs on the host is unchanged where it matters: no device nodes
	// were created in the image's own /dev (a tmpfs covered it).
	if ents, _ := os.ReadDir(filepath.Join(e.rootfs, "dev")); len(ents) != 0 {
		t.Errorf("image /dev was written to: %v", ents)
	}
}

// TestDevOnImage: without a /dev tmpfs the nodes are made in the image's
// /dev, replacing look-alikes; with /dev bind-mounted nothing is created.
func TestDevOnImage(t *testing.T) {
	e := newTestEnv(t)
	e.writeFile("rootfs/dev/null", "not a device", 0o666)
	if err := os.Symlink("/etc/marker", filepath.Join(e.rootfs, "dev/ptmx")); err != nil {
		t.Fatal(err)
	}
	spec := baseSpec()
	spec.Mounts = spec.Mounts[:1] // only /proc
	out := e.mustRun(Config{Spec: spec}, []probe{{Op: "lstat", Path: "/dev/null"}, {Op: "lstat", Path: "/dev/ptmx"}}, runOpts{cloneflags: unix.CLONE_NEWPID})
	if r := out.Results[0]; r.Mode != unix.S_IFCHR|0o666 || r.Major != 1 || r.Minor != 3 {
		t.Errorf("/dev/null over a regular file: %+v", r)
	}
	if r := out.Results[1]; r.Data != "pts/ptmx" {
		t.Errorf("/dev/ptmx: %+v", r)
	}

	hostDev := e.mkdir("hostdev")
	spec = baseSpec()
	spec.Mounts = []specs.Mount{spec.Mounts[0], {Destination: "/dev", Source: hostDev, Options: []string{"rbind"}}}
	out = e.mustRun(Config{Spec: spec}, []probe{{Op: "readdir", Path: "/dev"}}, runOpts{cloneflags: unix.CLONE_NEWPID})
	if out.Results[0].Data != "" {
		t.Errorf("bind-mounted /dev was populated: %q", out.Results[0].Data)
	}
}
