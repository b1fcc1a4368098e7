package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestBindAndTmpfsMounts(t *testing.T) {
	e := newTestEnv(t)
	src := e.mkdir("src")
	e.mkdir("src/sub")
	e.writeFile("src/f", "file-content", 0o644)
	// Symlinks in the image that point out of it: both must resolve inside.
	if err := os.Symlink("/etc", filepath.Join(e.rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../etc", filepath.Join(e.rootfs, "escape2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.rootfs, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/data-ro", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/data-rro", Type: "bind", Source: src, Options: []string{"rbind", "rro", "rnosuid", "rnoexec"}},
		specs.Mount{Destination: "/file-ro", Source: filepath.Join(src, "f"), Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
		specs.Mount{Destination: "/deep/new/dir", Source: src, Options: []string{"bind"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m", "mode=1777"}},
		specs.Mount{Destination: "/root", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/escape/inner", Source: src, Options: []string{"rbind"}},
		specs.Mount{Destination: "/escape2/inner2", Source: "src", Options: []string{"bind"}}, // relative to the bundle
		specs.Mount{Destination: "/deep/new/dir", Options: []string{"bind", "remount", "ro", "nosuid"}},
	)
	big := strings.Repeat("x", 2<<20)
	probes := []probe{
		{Op: "write", Path: "/data-ro/new", Data: "x"},          // 0: EROFS
		{Op: "write", Path: "/data-ro/sub/new", Data: "x"},      // 1: ok, ro is not recursive
		{Op: "write", Path: "/data-rro/sub/new", Data: "x"},     // 2: EROFS
		{Op: "read", Path: "/file-ro"},                          // 3
		{Op: "write", Path: "/file-ro", Data: "y"},              // 4: EROFS
		{Op: "readdir", Path: "/deep/new/dir"},                  // 5
		{Op: "stat", Path: "/tmp"},                              // 6: 1777
		{Op: "write", Path: "/tmp/big", Data: big},              // 7: ENOSPC
		{Op: "stat", Path: "/root"},                             // 8: 0700 kept
		{Op: "read", Path: "/etc/inner/f"},                      // 9
		{Op: "read", Path: "/etc/inner2/f"},                     // 10
		{Op: "write", Path: "/data-rro/new", Data: "x"},         // 11: EROFS
		{Op: "write", Path: "/deep/new/dir/sub/rw", Data: "ok"}, // 12: EROFS
		{Op: "write", Path: "/deep/new/dir/rw", Data: "ok"},     // 13: EROFS after the remount
	}
	out := e.mustRun(Config{Spec: spec, Bundle: e.dir}, probes, runOpts{
		cloneflags: unix.CLONE_NEWPID,
		preMounts:  []string{filepath.Join(src, "sub")},
	})
	r := out.Results
	expectErr := func(i int, what, want string) {
		t.Helper()
		if r[i].Err != want {
			t.Errorf("%s: error %q, want %q", what, r[i].Err, want)
		}
	}
	expectErr(0, "write into ro bind", "read-only file system")
	expectErr(1, "write into submount of non-recursive ro bind", "")
	expectErr(2, "write into submount of rro bind", "read-only file system")
	expectErr(4, "write to ro file bind", "read-only file system")
	expectErr(7, "2 MiB into a 1m tmpfs", "no space left on device")
	expectErr(11, "write into rro bind", "read-only file system")
	expectErr(12, "write into a dir of a bind remounted ro (a plain bind has no submounts)", "read-only file system")
	expectErr(13, "write through a bind remounted ro", "read-only file system")
	if r[3].Data != "file-content" {
		t.Errorf("file bind content %q (%s)", r[3].Data, r[3].Err)
	}
	if r[5].Data != "f sub" {
		t.Errorf("bind at a created deep destination lists %q (%s)", r[5].Data, r[5].Err)
	}
	if r[6].Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("/tmp mode %o, want dir 1777", r[6].Mode)
	}
	if r[8].Mode != unix.S_IFDIR|0o700 {
		t.Errorf("tmpfs over /root has mode %o, want the covered dir's 0700", r[8].Mode)
	}
	if r[9].Data != "file-content" || r[10].Data != "file-content" {
		t.Errorf("mounts through escaping symlinks: %q (%s), %q (%s)", r[9].Data, r[9].Err, r[10].Data, r[10].Err)
	}

	fileRo := mountAt(t, out.Mountinfo, "/file-ro")
	for _, o := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !hasOpt(fileRo.Options, o) {
			t.Errorf("/file-ro options %q lack %s", fileRo.Options, o)
		}
	}
	sub := mountAt(t, out.Mountinfo, "/data-rro/sub")
	for _, o := range []string{"ro", "nosuid", "noexec"} {
		if !hasOpt(sub.Options, o) {
			t.Errorf("/data-rro/sub options %q lack %s", sub.Options, o)
		}
	}
	if hasOpt(mountAt(t, out.Mountinfo, "/data-ro/sub").Options, "ro") {
		t.Error("/data-ro/sub is ro, but only rro is recursive")
	}
	if tmp := mountAt(t, out.Mountinfo, "/tmp"); !strings.Contains(tmp.VFSOptions, "size=1024k") || !hasOpt(tmp.Options, "nosuid") {
		t.Errorf("/tmp: %s / %s", tmp.Options, tmp.VFSOptions)
	}
	// The escapes landed in the rootfs's /etc, not the host's.
	for _, p := range []string{"/etc/inner", "/etc/inner2"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("host %s was created", p)
		}
	}
	if _, err := os.Stat(filepath.Join(e.rootfs, "etc/inner")); err != nil {
		t.Errorf("mount point inside the rootfs: %v", err)
	}
}

func TestMountErrors(t *testing.T) {
	e := newTestEnv(t)
	src := e.mkdir("src")
	cases := []struct {
		name  string
		mount specs.Mount
		want  string
	}{
		{"missing source", specs.Mount{Destination: "/data", Source: "/nonexistent-berth-src", Options: []string{"rbind"}},
			`mounts[4] (destination "/data"): mount source "/nonexistent-berth-src": no such file or directory`},
		{"unknown bind option", specs.Mount{Destination: "/data", Source: src, Options: []string{"rbind", "rdonly"}},
			`mounts[4] (destination "/data"): options: unknown option "rdonly" for a bind mount`},
		{"bad fs data", specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=lots"}},
			`mounts[4] (destination "/data"): mount tmpfs (source "tmpfs", options "size=lots"): invalid argument`},
		{"mount over procfs", specs.Mount{Destination: "/proc/self/attr", Source: src, Options: []string{"bind"}},
			`mounts[4] (destination "/proc/self/attr"): mount point is inside procfs`},
		{"symlink into procfs", specs.Mount{Destination: "/tricky/kernel", Type: "tmpfs", Source: "tmpfs"},
			`mounts[4] (destination "/tricky/kernel"): mount point is inside procfs`},
		{"idmap without mapping", specs.Mount{Destination: "/data", Source: src, Options: []string{"bind", "idmap"}},
			`mounts[4] (destination "/data"): idmap needs both uidMappings and gidMappings`},
		{"no type", specs.Mount{Destination: "/data", Source: "x"},
			`mounts[4] (destination "/data"): type is required`},
	}
	if err := os.Symlink("/proc/sys", filepath.Join(e.rootfs, "tricky")); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := baseSpec()
			spec.Mounts = append(spec.Mounts, c.mount)
			out := e.run(Config{Spec: spec}, nil, runOpts{cloneflags: unix.CLONE_NEWPID})
			if out.Phase != "prepare" || !strings.HasPrefix(out.Err, c.want) {
				t.Fatalf("got %s error %q\nwant prepare error starting with %q", out.Phase, out.Err, c.want)
			}
		})
	}
	spec := baseSpec()
	spec.Linux.RootfsPropagation = "sideways"
	out := e.run(Config{Spec: spec}, nil, runOpts{})
	if out.Err != `linux.rootfsPropagation: unknown value "sideways"` {
		t.Fatalf("bad propagation: %s %q", out.Phase, out.Err)
	}
}
