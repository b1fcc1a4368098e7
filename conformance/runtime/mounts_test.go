package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRootReadonly(t *testing.T) {
	t.Parallel()
	ro := newContainer(t)
	rep := ro.probe("--write", "/newfile")
	if e := rep.Writes["/newfile"].Error; e != "EROFS" {
		t.Errorf("write to a read-only root: %q, want EROFS", e)
	}
	if m := findMount(t, rep, "/"); !contains(m.Options, "ro") {
		t.Errorf("root mount options %v lack ro", m.Options)
	}

	rw := newContainer(t)
	rw.Spec.Root.Readonly = false
	rep = rw.probe("--write", "/newfile")
	if e := rep.Writes["/newfile"].Error; e != "" {
		t.Errorf("write to a writable root: %s", e)
	}
	if _, err := os.Stat(filepath.Join(rw.Rootfs, "newfile")); err != nil {
		t.Errorf("file written inside is not in the rootfs: %v", err)
	}
}

// bindSource makes a host directory with a file and a tmpfs submount (with
// its own file), for bind/rbind tests.
func bindSource(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	must(t, os.Chmod(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "hello"), []byte("from the host"), 0o644))
	must(t, os.Symlink("hello", filepath.Join(src, "link")))
	hostMount(t, "tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "size=1m")
	must(t, os.WriteFile(filepath.Join(src, "sub", "inner"), []byte("submount"), 0o644))
	return src
}

func TestBindMounts(t *testing.T) {
	t.Parallel()
	src := bindSource(t)
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/bind-rw", Type: "bind", Source: src, Options: []string{"bind", "rw"}},
		specs.Mount{Destination: "/bind-ro", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/rbind", Type: "bind", Source: src, Options: []string{"rbind"}},
		specs.Mount{Destination: "/bind-nonrec", Source: src, Options: []string{"bind"}}, // no type: bind by option
		specs.Mount{Destination: "/bind-file", Type: "bind", Source: filepath.Join(src, "hello"), Options: []string{"bind", "ro"}},
	)
	rep := c.probe(
		"--read", "/bind-rw/hello", "--write", "/bind-rw/written", "--write", "/bind-ro/x",
		"--read", "/rbind/sub/inner", "--stat", "/bind-nonrec/sub/inner", "--read", "/bind-file", "--write", "/bind-file")
	if got := rep.Files["/bind-rw/hello"]; got.Content != "from the host" {
		t.Errorf("bind mount content %+v", got)
	}
	if e := rep.Writes["/bind-rw/written"].Error; e != "" {
		t.Errorf("write to rw bind: %s", e)
	} else if b, _ := os.ReadFile(filepath.Join(src, "written")); string(b) != "probe\n" {
		t.Errorf("write through the bind mount did not reach the host (%q)", b)
	}
	if e := rep.Writes["/bind-ro/x"].Error; e != "EROFS" {
		t.Errorf("write to ro bind: %q, want EROFS", e)
	}
	if got := rep.Files["/rbind/sub/inner"]; got.Content != "submount" {
		t.Errorf("rbind does not carry the submount: %+v", got)
	}
	if st := rep.Stats["/bind-nonrec/sub/inner"]; st.Error != "ENOENT" {
		t.Errorf("non-recursive bind carries the submount: %+v", st)
	}
	if got := rep.Files["/bind-file"]; got.Content != "from the host" {
		t.Errorf("file bind mount: %+v", got)
	}
	if e := rep.Writes["/bind-file"].Error; e != "EROFS" {
		t.Errorf("write to ro file bind: %q, want EROFS", e)
	}
}

// TestRecursiveMountAttributes: rro, rnosuid, rnodev, rnoexec, rnoatime,
// rnosymfollow apply to submounts too (mount_setattr with AT_RECURSIVE).
func TestRecursiveMountAttributes(t *testing.T) {
	t.Parallel()
	src := bindSource(t)
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/rro", Type: "bind", Source: src, Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/rattrs", Type: "bind", Source: src, Options: []string{"rbind", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnosymfollow"}},
		specs.Mount{Destination: "/follow", Type: "bind", Source: src, Options: []string{"rbind"}},
	)
	rep := c.probe("--write", "/rro/x", "--write", "/rro/sub/x", "--read", "/rattrs/link", "--read", "/follow/link")
	for _, p := range []string{"/rro/x", "/rro/sub/x"} {
		if e := rep.Writes[p].Error; e != "EROFS" {
			t.Errorf("write to %s under rro: %q, want EROFS", p, e)
		}
	}
	for _, mp := range []string{"/rattrs", "/rattrs/sub"} {
		if m := findMount(t, rep, mp); !hasAll(m.Options, "nosuid", "nodev", "noexec", "noatime", "nosymfollow") {
			t.Errorf("%s options %v, want nosuid,nodev,noexec,noatime,nosymfollow", mp, m.Options)
		}
	}
	if got := rep.Files["/rattrs/link"]; got.Error != "ELOOP" {
		t.Errorf("following a symlink on an rnosymfollow mount: %+v, want ELOOP", got)
	}
	if got := rep.Files["/follow/link"]; got.Content != "from the host" {
		t.Errorf("following a symlink on a plain bind mount: %+v", got)
	}
}

func TestMountOptions(t *testing.T) {
	t.Parallel()
	exe := t.TempDir()
	must(t, os.Chmod(exe, 0o755))
	must(t, copyFile(busyboxBin, filepath.Join(exe, "true"), 0o755))
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/tmpfs", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "size=1m", "mode=0710", "noatime"}},
		specs.Mount{Destination: "/strict", Type: "tmpfs", Source: "tmpfs", Options: []string{"strictatime", "nodiratime"}},
		specs.Mount{Destination: "/noexec", Type: "bind", Source: exe, Options: []string{"bind", "noexec", "nosuid", "nodev", "ro"}},
		specs.Mount{Destination: "/exec", Type: "bind", Source: exe, Options: []string{"bind", "exec", "ro"}},
	)
	rep := c.probe("--stat", "/tmpfs", "--exec", "/noexec/true", "--exec", "/exec/true")
	m := findMount(t, rep, "/tmpfs")
	if m.FSType != "tmpfs" || !hasAll(m.Options, "nosuid", "nodev", "noexec", "noatime") || !hasAll(m.SuperOptions, "size=1024k", "mode=710") {
		t.Errorf("tmpfs mount %+v, want nosuid,nodev,noexec,noatime and size=1024k,mode=710", m)
	}
	if st := rep.Stats["/tmpfs"]; st.Mode != 0o710 || st.Type != "dir" {
		t.Errorf("tmpfs root %+v, want a 0710 directory", st)
	}
	if m := findMount(t, rep, "/strict"); contains(m.Options, "relatime") || contains(m.Options, "noatime") || !contains(m.Options, "nodiratime") {
		t.Errorf("strictatime,nodiratime mount options %v", m.Options)
	}
	if m := findMount(t, rep, "/noexec"); !hasAll(m.Options, "ro", "noexec", "nosuid", "nodev") {
		t.Errorf("bind mount options %v, want ro,noexec,nosuid,nodev", m.Options)
	}
	if e := rep.Execs["/noexec/true"]; e.Error != "EACCES" {
		t.Errorf("exec on a noexec mount: %+v, want EACCES", e)
	}
	if e := rep.Execs["/exec/true"]; e.Content != "exit 0" {
		t.Errorf("exec on an exec mount: %+v", e)
	}
}

// TestMountOrderAndCreation: destinations are created when missing
// (directories and files), mounts are made in order (a later mount can sit
// on an earlier one), and a relative destination (deprecated) is relative
// to "/".
func TestMountOrderAndCreation(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, []byte("file bind"), 0o644))
	must(t, os.Chmod(filepath.Dir(file), 0o755))
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/a/b/c", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/a/b/c/d", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=0700"}},
		specs.Mount{Destination: "/etc/new/file", Type: "bind", Source: file, Options: []string{"bind"}},
		specs.Mount{Destination: "relative/tmpfs", Type: "tmpfs", Source: "tmpfs"},
	)
	rep := c.probe("--stat", "/a/b/c/d", "--read", "/etc/new/file")
	if m := findMount(t, rep, "/relative/tmpfs"); m.FSType != "tmpfs" {
		t.Errorf("relative destination: %+v", m)
	}
	outer, inner := findMount(t, rep, "/a/b/c"), findMount(t, rep, "/a/b/c/d")
	if outer.FSType != "tmpfs" || inner.FSType != "tmpfs" || inner.Parent != outer.ID {
		t.Errorf("nested mounts: outer %+v inner %+v; want the inner on the outer", outer, inner)
	}
	if st := rep.Stats["/a/b/c/d"]; st.Mode != 0o700 {
		t.Errorf("inner tmpfs mode %o", st.Mode)
	}
	if got := rep.Files["/etc/new/file"]; got.Content != "file bind" {
		t.Errorf("bind of a file to a missing destination: %+v", got)
	}
}

// TestMountDestinationSymlinkEscape: a destination that goes through a
// symlink in the rootfs pointing outside is resolved inside the rootfs and
// the missing directories are created there (as runc does, and as images
// with links like /var/run -> /run need); nothing outside is touched.
func TestMountDestinationSymlinkEscape(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	c := newContainer(t)
	must(t, os.Symlink(outside, filepath.Join(c.Rootfs, "abs")))
	must(t, os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(outside, "/"), filepath.Join(c.Rootfs, "rel")))
	c.Spec.Root.Readonly = false
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/abs/sub", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rel/sub2", Type: "tmpfs", Source: "tmpfs"},
	)
	c.Spec.Process.Args = []string{"/probe"}
	r := c.run()
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("mount destination escaped the rootfs: %s now holds %v", outside, entries)
	}
	if strings.Contains(hostMountinfo(t), outside) {
		t.Errorf("a mount appeared at %s on the host", outside)
	}
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	rep := parseReport(t, r.Stdout)
	findMount(t, rep, outside+"/sub")
	findMount(t, rep, outside+"/sub2")
}

// TestMountPropagationFlags: the propagation options set each mount's
// propagation, and rslave really receives the host's later mounts.
func TestMountPropagationFlags(t *testing.T) {
	t.Parallel()
	shared := sharedHostDir(t)
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts,
		specs.Mount{Destination: "/p-shared", Type: "bind", Source: shared, Options: []string{"rbind", "rshared"}},
		specs.Mount{Destination: "/p-slave", Type: "bind", Source: shared, Options: []string{"rbind", "rslave"}},
		specs.Mount{Destination: "/p-private", Type: "bind", Source: shared, Options: []string{"rbind", "rprivate"}},
		specs.Mount{Destination: "/p-unbindable", Type: "bind", Source: shared, Options: []string{"rbind", "runbindable"}},
	)
	c.Spec.Process.Args = []string{"/bin/sh", "-c",
		"/probe; echo; echo ready; while [ ! -e /p-slave/late/marker ]; do sleep 0.05; done; echo seen-late-mount"}
	c.mustCreate()
	c.start()
	rep := parseReport(t, c.waitOutput("ready"))
	for mp, want := range map[string]string{"/p-shared": "shared", "/p-slave": "slave", "/p-private": "private", "/p-unbindable": "unbindable"} {
		// A shared mount made from the host's shared one is also its slave.
		if m := findMount(t, rep, mp); m.Propagation != want && !(want == "shared" && strings.HasPrefix(m.Propagation, "shared")) {
			t.Errorf("%s propagation %q, want %q", mp, m.Propagation, want)
		}
	}
	late := filepath.Join(shared, "late")
	must(t, os.Mkdir(late, 0o755))
	hostMount(t, "tmpfs", late, "tmpfs", 0, "size=1m")
	must(t, os.WriteFile(filepath.Join(late, "marker"), nil, 0o644))
	c.waitOutput("seen-late-mount")
}

// sharedHostDir is a host directory on a shared mount of its own, for
// propagation tests.
func sharedHostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	hostMount(t, dir, dir, "", unix.MS_BIND, "")
	must(t, unix.Mount("", dir, "", unix.MS_SHARED, ""))
	return dir
}

// TestRootfsPropagation: linux.rootfsPropagation is the propagation of the
// container's mount tree towards the host, seen on a volume bound from a
// shared host mount: slave receives the host's later mounts, shared also
// sends the container's mounts back to the host, and by default (rslave)
// nothing goes back to the host.
func TestRootfsPropagation(t *testing.T) {
	t.Parallel()
	// The host mounts on shared/late, then creates shared/go; the container
	// waits for go and reports whether the mount reached it.
	const script = "echo ready; while [ ! -e /vol/go ]; do sleep 0.05; done; " +
		"if [ -e /vol/late/marker ]; then echo host-mount-seen; else echo host-mount-not-seen; fi"
	for prop, want := range map[string]string{"slave": "host-mount-seen", "shared": "host-mount-seen"} {
		t.Run(prop, func(t *testing.T) {
			t.Parallel()
			shared := sharedHostDir(t)
			c := newContainer(t, "/bin/sh", "-c", script)
			c.Spec.Linux.RootfsPropagation = prop
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: shared, Options: []string{"rbind"}})
			c.mustCreate()
			c.start()
			c.waitOutput("ready")
			hostMount(t, "tmpfs", filepath.Join(shared, "late"), "tmpfs", 0, "size=1m")
			must(t, os.WriteFile(filepath.Join(shared, "late", "marker"), nil, 0o644))
			must(t, os.WriteFile(filepath.Join(shared, "go"), nil, 0o644))
			if out := c.waitOutput("-seen"); !strings.Contains(out, want) {
				t.Errorf("rootfsPropagation %s: container printed %q, want %s", prop, out, want)
			}
		})
	}
	for prop, reaches := range map[string]bool{"shared": true, "": false} {
		t.Run("to-host-"+prop, func(t *testing.T) {
			t.Parallel()
			shared := sharedHostDir(t)
			must(t, os.Mkdir(filepath.Join(shared, "fromctr"), 0o755))
			t.Cleanup(func() { unix.Unmount(filepath.Join(shared, "fromctr"), unix.MNT_DETACH) })
			c := newContainer(t, "/bin/sh", "-c", "mount -t tmpfs -o size=1m ctrtmp /vol/fromctr && touch /vol/fromctr/m && echo mounted")
			c.Spec.Linux.RootfsPropagation = prop
			c.Spec.Process.Capabilities = allCaps(c.Spec.Process.Capabilities, "CAP_SYS_ADMIN")
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: shared, Options: []string{"rbind", "rshared"}})
			r := c.run()
			if r.Code != 0 || !strings.Contains(r.Stdout, "mounted") {
				t.Fatalf("%s", r.describe())
			}
			_, err := os.Stat(filepath.Join(shared, "fromctr", "m"))
			if reached := err == nil; reached != reaches {
				t.Errorf("rootfsPropagation %q: the container's mount on an rshared volume reached the host: %v, want %v", prop, reached, reaches)
			}
		})
	}
	t.Run("unbindable", func(t *testing.T) {
		t.Parallel()
		runcGap(t, "runc 1.1.5 fails to set up the rootfs with rootfsPropagation unbindable")
		c := newContainer(t)
		c.Spec.Linux.RootfsPropagation = "unbindable"
		c.probe()
	})
}

// allCaps adds names to every set of caps but ambient and inheritable.
func allCaps(caps *specs.LinuxCapabilities, names ...string) *specs.LinuxCapabilities {
	out := *caps
	out.Bounding = append(append([]string{}, caps.Bounding...), names...)
	out.Effective = append(append([]string{}, caps.Effective...), names...)
	out.Permitted = append(append([]string{}, caps.Permitted...), names...)
	return &out
}

// TestNoPivot: --no-pivot (MS_MOVE + chroot) still makes the rootfs the root.
func TestNoPivot(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	must(t, os.WriteFile(filepath.Join(c.Rootfs, "marker"), nil, 0o644))
	c.Spec.Process.Args = []string{"/probe", "--stat", "/marker", "--stat", c.Bundle, "--write", "/x"}
	r := c.run("--no-pivot")
	if r.Code != 0 {
		t.Fatalf("%s", r.describe())
	}
	rep := parseReport(t, r.Stdout)
	if rep.Stats["/marker"].Error != "" || rep.Stats[c.Bundle].Error != "ENOENT" {
		t.Errorf("root is not the rootfs with --no-pivot: /marker %+v, host bundle path %+v", rep.Stats["/marker"], rep.Stats[c.Bundle])
	}
	if e := rep.Writes["/x"].Error; e != "EROFS" {
		t.Errorf("read-only root with --no-pivot: write gave %q", e)
	}
}

// TestDev: /dev has the default devices, symlinks and mounts, plus
// linux.devices with their modes and owners.
func TestDev(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o620)), UID: ptr(uint32(1)), GID: ptr(uint32(2))},
		{Path: "/dev/sub/mynull", Type: "c", Major: 1, Minor: 3},
		{Path: "/dev/myloop", Type: "b", Major: 7, Minor: 200, FileMode: ptr(os.FileMode(0o600))},
		{Path: "/dev/myfifo", Type: "p"},
	}
	args := []string{"--write", "/dev/null"}
	paths := []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
		"/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx", "/dev/pts/ptmx", "/dev/shm", "/dev/mqueue",
		"/dev/fuse", "/dev/sub/mynull", "/dev/myloop", "/dev/myfifo", "/dev/console"}
	for _, p := range paths {
		args = append(args, "--stat", p)
	}
	rep := c.probe(args...)
	for p, want := range map[string][2]uint32{
		"/dev/null": {1, 3}, "/dev/zero": {1, 5}, "/dev/full": {1, 7},
		"/dev/random": {1, 8}, "/dev/urandom": {1, 9}, "/dev/tty": {5, 0},
	} {
		st := rep.Stats[p]
		if st.Type != "char" || st.Major != want[0] || st.Minor != want[1] || st.Mode != 0o666 {
			t.Errorf("%s: %+v, want char %d:%d mode 0666", p, st, want[0], want[1])
		}
	}
	for p, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx",
	} {
		if st := rep.Stats[p]; st.Type != "symlink" || st.Target != target {
			t.Errorf("%s: %+v, want a symlink to %s", p, st, target)
		}
	}
	if st := rep.Stats["/dev/console"]; st.Error != "ENOENT" {
		t.Errorf("/dev/console exists without a terminal: %+v", st)
	}
	if e := rep.Writes["/dev/null"].Error; e != "" {
		t.Errorf("write to /dev/null: %s", e)
	}
	if m := findMount(t, rep, "/dev/pts"); m.FSType != "devpts" || !hasAll(m.SuperOptions, "ptmxmode=666") {
		t.Errorf("/dev/pts mount %+v, want a new devpts instance with ptmxmode=666", m)
	}
	if m := findMount(t, rep, "/dev/shm"); m.FSType != "tmpfs" {
		t.Errorf("/dev/shm mount %+v", m)
	}
	if m := findMount(t, rep, "/dev/mqueue"); m.FSType != "mqueue" {
		t.Errorf("/dev/mqueue mount %+v", m)
	}
	checkDev := func(p, typ string, major, minor, mode, uid, gid uint32) {
		if st := rep.Stats[p]; st.Type != typ || st.Major != major || st.Minor != minor || st.Mode != mode || st.UID != uid || st.GID != gid {
			t.Errorf("%s: %+v, want %s %d:%d mode %o owner %d:%d", p, st, typ, major, minor, mode, uid, gid)
		}
	}
	checkDev("/dev/fuse", "char", 10, 229, 0o620, 1, 2)
	checkDev("/dev/myloop", "block", 7, 200, 0o600, 0, 0)
	if st := rep.Stats["/dev/sub/mynull"]; st.Type != "char" || st.Major != 1 || st.Minor != 3 {
		t.Errorf("/dev/sub/mynull: %+v", st)
	}
	if st := rep.Stats["/dev/myfifo"]; st.Type != "fifo" {
		t.Errorf("/dev/myfifo: %+v", st)
	}
}

func TestMaskedPaths(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	must(t, os.WriteFile(filepath.Join(c.Rootfs, "etc/secret"), []byte("secret"), 0o644))
	must(t, os.MkdirAll(filepath.Join(c.Rootfs, "secretdir"), 0o755))
	must(t, os.WriteFile(filepath.Join(c.Rootfs, "secretdir/file"), []byte("secret"), 0o644))
	c.Spec.Linux.MaskedPaths = append(c.Spec.Linux.MaskedPaths, "/etc/secret", "/secretdir", "/does/not/exist")
	rep := c.probe("--read", "/etc/secret", "--stat", "/secretdir/file", "--stat", "/secretdir",
		"--read", "/proc/kcore", "--stat", "/sys/firmware", "--write", "/secretdir/x")
	if got := rep.Files["/etc/secret"]; got.Content != "" {
		t.Errorf("masked file readable: %+v", got)
	}
	if got := rep.Files["/proc/kcore"]; got.Content != "" {
		t.Errorf("masked /proc/kcore readable (%d bytes)", len(got.Content))
	}
	if st := rep.Stats["/secretdir/file"]; st.Error != "ENOENT" {
		t.Errorf("file under a masked directory visible: %+v", st)
	}
	if st := rep.Stats["/secretdir"]; st.Type != "dir" {
		t.Errorf("masked directory: %+v", st)
	}
	if e := rep.Writes["/secretdir/x"].Error; e == "" {
		t.Errorf("masked directory is writable")
	}
}

func TestReadonlyPaths(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Root.Readonly = false
	must(t, os.MkdirAll(filepath.Join(c.Rootfs, "data"), 0o755))
	c.Spec.Linux.ReadonlyPaths = append(c.Spec.Linux.ReadonlyPaths, "/data", "/does/not/exist")
	rep := c.probe("--write", "/proc/sys/kernel/hostname", "--write", "/data/x", "--write", "/tmp/x", "--read", "/proc/sys/kernel/ostype")
	for _, p := range []string{"/proc/sys/kernel/hostname", "/data/x"} {
		if e := rep.Writes[p].Error; e != "EROFS" {
			t.Errorf("write to read-only path %s: %q, want EROFS", p, e)
		}
	}
	if e := rep.Writes["/tmp/x"].Error; e != "" {
		t.Errorf("write outside the read-only paths: %s", e)
	}
	if got := rep.Files["/proc/sys/kernel/ostype"]; got.Content != "Linux\n" {
		t.Errorf("read-only path not readable: %+v", got)
	}
}

func TestSysctl(t *testing.T) {
	t.Parallel()
	c := newContainer(t)
	c.Spec.Linux.Sysctl = map[string]string{
		"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1234", "kernel.shmmax": "123456789",
	}
	rep := c.probe("--sysctl", "net.ipv4.ip_forward", "--sysctl", "net.core.somaxconn", "--sysctl", "kernel.shmmax")
	for k, want := range c.Spec.Linux.Sysctl {
		if got := strings.TrimSpace(rep.Sysctls[k].Content); got != want {
			t.Errorf("sysctl %s inside is %q (%s), want %q", k, got, rep.Sysctls[k].Error, want)
		}
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/shmmax"); strings.TrimSpace(string(b)) == "123456789" {
		t.Errorf("the container's sysctl changed the host's kernel.shmmax")
	}
}

func TestPersonality(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not implement linux.personality")
	for domain, want := range map[specs.LinuxPersonalityDomain]uint32{specs.PerLinux32: 0x0008, specs.PerLinux: 0} {
		c := newContainer(t)
		c.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: domain}
		if rep := c.probe(); rep.Personality != want {
			t.Errorf("personality %s: got %#x, want %#x", domain, rep.Personality, want)
		}
	}
}

// TestIDMappedMount: a bind mount with uidMappings/gidMappings shows files
// owned by the mapping's containerID as its hostID.
func TestIDMappedMount(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 does not support idmapped mounts")
	src := t.TempDir()
	must(t, os.Chmod(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "owned"), []byte("x"), 0o644))
	must(t, os.Chown(filepath.Join(src, "owned"), 0, 0))
	c := newContainer(t)
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{
		Destination: "/idmapped", Type: "bind", Source: src, Options: []string{"bind", "idmap"},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1234, Size: 1}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 4321, Size: 1}},
	})
	rep := c.probe("--stat", "/idmapped/owned")
	if st := rep.Stats["/idmapped/owned"]; st.UID != 1234 || st.GID != 4321 {
		t.Errorf("file owned by 0:0 on an idmapped mount shows as %d:%d (%s), want 1234:4321", st.UID, st.GID, st.Error)
	}
	if m := findMount(t, rep, "/idmapped"); !contains(m.Options, "idmapped") {
		t.Errorf("mount options %v lack idmapped", m.Options)
	}
}

// TestMemoryPolicy: linux.memoryPolicy is the NUMA policy the container's
// processes run under, as /proc/self/numa_maps shows it (policy is kept
// across fork and execve). Node 0 exists on every NUMA-capable kernel.
func TestMemoryPolicy(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 predates linux.memoryPolicy (runtime-spec 1.3)")
	if _, err := os.Stat("/proc/self/numa_maps"); err != nil {
		t.Skip("kernel without NUMA:", err)
	}
	for _, tc := range []struct {
		policy *specs.LinuxMemoryPolicy
		want   string // the policy column of numa_maps
	}{
		{nil, "default"},
		{&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}, "bind:0"},
		{&specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0"}, "interleave:0"},
		{&specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred, Nodes: "0"}, "prefer:0"},
		{&specs.LinuxMemoryPolicy{Mode: specs.MpolLocal}, "local"},
		{&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}, "bind=static:0"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, "/bin/sh", "-c", "head -n 1 /proc/self/numa_maps")
			c.Spec.Linux.MemoryPolicy = tc.policy
			r := c.run()
			if f := strings.Fields(r.Stdout); r.Code != 0 || len(f) < 2 || f[1] != tc.want {
				t.Errorf("numa_maps policy: %s, want %q", r.describe(), tc.want)
			}
		})
	}
	t.Run("no-such-node", func(t *testing.T) {
		t.Parallel()
		c := newContainer(t, "/bin/true")
		c.Spec.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "1000"}
		r := c.create()
		if r.Code == 0 {
			t.Fatalf("create with a policy on a missing node succeeded")
		}
		checkOneLineError(t, r, []string{"linux.memoryPolicy", "set_mempolicy"})
		assertNothingLeft(t, c, r)
	})
}
