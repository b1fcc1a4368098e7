package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func TestAllFileTypesAndMetadata(t *testing.T) {
	rootfs, _ := sandbox(t)
	mtime := time.Unix(1600000000, 123456789)
	capability := string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // cap_net_bind_service, vfs v2
	mustApply(t, rootfs, layerOf(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "bin/", typ: tar.TypeDir, mode: 0o750, uid: 7, gid: 8, mtime: mtime},
		ent{name: "bin/su", typ: tar.TypeReg, body: "#!su", mode: 0o4755, uid: 0, gid: 0},
		ent{name: "bin/wall", typ: tar.TypeReg, body: "wall", mode: 0o2755, gid: 5},
		ent{name: "bin/ping", typ: tar.TypeReg, body: "ping", mode: 0o755,
			xattrs: map[string]string{"security.capability": capability, "user.note": "hi"}},
		ent{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "home/u/data", typ: tar.TypeReg, body: "data", mode: 0o640, uid: 1000, gid: 1001, mtime: mtime},
		symlink("home/abs", "/etc/passwd"),
		symlink("home/rel", "../bin/su"),
		hardlink("home/u/data2", "home/u/data"),
		ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		ent{name: "dev/loop9", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 9, gid: 6},
		ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
	))
	p := func(s string) string { return filepath.Join(rootfs, s) }

	if st := lstat(t, p("bin")); st.Mode&0o7777 != 0o750 || st.Uid != 7 || st.Gid != 8 || st.Mtim.Sec != mtime.Unix() || st.Mtim.Nsec != 123456789 {
		t.Errorf("bin: mode %o owner %d:%d mtime %v", st.Mode&0o7777, st.Uid, st.Gid, st.Mtim)
	}
	if st := lstat(t, p("bin/su")); st.Mode&0o7777 != 0o4755 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("bin/su mode %o, want setuid 4755", st.Mode)
	}
	if st := lstat(t, p("bin/wall")); st.Mode&0o7777 != 0o2755 || st.Gid != 5 {
		t.Errorf("bin/wall mode %o gid %d, want setgid 2755 gid 5", st.Mode&0o7777, st.Gid)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p("bin/ping"), "security.capability", buf)
	if err != nil || string(buf[:n]) != capability {
		t.Errorf("bin/ping security.capability = %q, %v", buf[:n], err)
	}
	if n, err := unix.Lgetxattr(p("bin/ping"), "user.note", buf); err != nil || string(buf[:n]) != "hi" {
		t.Errorf("bin/ping user.note = %q, %v", buf[:n], err)
	}
	if st := lstat(t, p("tmp")); st.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o, want sticky 1777", st.Mode&0o7777)
	}
	if st := lstat(t, p("home")); st.Mode&0o7777 != 0o755 || st.Uid != 0 {
		t.Errorf("implicit home: mode %o uid %d, want 755 root", st.Mode&0o7777, st.Uid)
	}
	st := lstat(t, p("home/u/data"))
	if st.Mode&0o7777 != 0o640 || st.Uid != 1000 || st.Gid != 1001 || st.Mtim.Sec != mtime.Unix() || st.Nlink != 2 {
		t.Errorf("home/u/data: mode %o owner %d:%d mtime %v links %d", st.Mode&0o7777, st.Uid, st.Gid, st.Mtim, st.Nlink)
	}
	if st2 := lstat(t, p("home/u/data2")); st2.Ino != st.Ino {
		t.Errorf("hardlink home/u/data2 is inode %d, want %d", st2.Ino, st.Ino)
	}
	if got := readFile(t, p("home/u/data2")); got != "data" {
		t.Errorf("home/u/data2 = %q", got)
	}
	for link, want := range map[string]string{"home/abs": "/etc/passwd", "home/rel": "../bin/su"} {
		if got, err := os.Readlink(p(link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	if st := lstat(t, p("dev/null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Mode&0o7777 != 0o666 {
		t.Errorf("dev/null: mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := lstat(t, p("dev/loop9")); st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != unix.Mkdev(7, 9) || st.Gid != 6 {
		t.Errorf("dev/loop9: mode %o rdev %x gid %d", st.Mode, st.Rdev, st.Gid)
	}
	if st := lstat(t, p("run/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o7777 != 0o620 {
		t.Errorf("run/fifo: mode %o", st.Mode)
	}
}

func TestWhiteoutRemovesLowerEntries(t *testing.T) {
	rootfs, _ := sandbox(t)
	mustApply(t, rootfs,
		layerOf(t, file("a/b", "b"), file("a/c", "c"), file("a/sub/deep", "d")),
		layerOf(t, file("a/.wh.b", ""), file("a/.wh.sub", ""), file("a/.wh.never-existed", "")),
	)
	notExist(t, filepath.Join(rootfs, "a/b"))
	notExist(t, filepath.Join(rootfs, "a/sub"))
	if readFile(t, filepath.Join(rootfs, "a/c")) != "c" {
		t.Fatal("a/c changed")
	}
}

func TestWhiteoutSparesItsOwnLayer(t *testing.T) {
	rootfs, _ := sandbox(t)
	// layer.md: whiteouts apply only to lower layers, whatever the order.
	mustApply(t, rootfs,
		layerOf(t, file("d/x", "x"), file("d/y", "y")),
		layerOf(t, file("d/z", "z"), file("d/.wh..wh..opq", ""), file("d/w", "w")),
	)
	names := dirNames(t, filepath.Join(rootfs, "d"))
	if names != "w z" {
		t.Fatalf("opaque d holds %q, want \"w z\"", names)
	}
}

func TestOpaqueDirectory(t *testing.T) {
	rootfs, _ := sandbox(t)
	mustApply(t, rootfs,
		layerOf(t, file("etc/a", "a"), file("etc/sub/b", "b"), symlink("etc/l", "/")),
		layerOf(t, dir("etc/"), file("etc/.wh..wh..opq", ""), file("etc/new", "n")),
	)
	if names := dirNames(t, filepath.Join(rootfs, "etc")); names != "new" {
		t.Fatalf("opaque etc holds %q, want \"new\"", names)
	}
}

func dirNames(t *testing.T, d string) string {
	t.Helper()
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestTypeReplacement(t *testing.T) {
	rootfs, _ := sandbox(t)
	p := func(s string) string { return filepath.Join(rootfs, s) }
	mustApply(t, rootfs,
		layerOf(t, file("x/inner", "i"), file("f", "file"), symlink("s", "/x"), dir("keep/"), file("keep/child", "c"), file("n", "")),
		// file over directory, directory over file, directory over symlink,
		// symlink over file, directory over directory keeps its children.
		layerOf(t, file("x", "now a file"), dir("f/"), dir("s/"), symlink("n", "f"),
			ent{name: "keep/", typ: tar.TypeDir, mode: 0o700, uid: 3}),
		// and back: directory over file, file over directory
		layerOf(t, dir("x/"), file("f", "file again")),
	)
	if st := lstat(t, p("x")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("x is %o, want dir", st.Mode)
	}
	notExist(t, p("x/inner"))
	if readFile(t, p("f")) != "file again" {
		t.Error("f is not the file again")
	}
	if st := lstat(t, p("s")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("s is %o, want dir", st.Mode)
	}
	if got, _ := os.Readlink(p("n")); got != "f" {
		t.Errorf("n -> %q, want f", got)
	}
	if st := lstat(t, p("keep")); st.Mode&0o7777 != 0o700 || st.Uid != 3 {
		t.Errorf("keep: mode %o uid %d, want 700 uid 3", st.Mode&0o7777, st.Uid)
	}
	if readFile(t, p("keep/child")) != "c" {
		t.Error("keep/child lost when keep/ was listed again")
	}
}

func TestSymlinksResolveInsideTheRoot(t *testing.T) {
	rootfs, _ := sandbox(t)
	// usrmerge images: /lib is a symlink and later layers write through it.
	mustApply(t, rootfs,
		layerOf(t, dir("usr/lib/"), symlink("lib", "/usr/lib"), symlink("up", "../../../..")),
		layerOf(t, file("lib/libc.so", "libc"), file("up/top", "t")),
	)
	if readFile(t, filepath.Join(rootfs, "usr/lib/libc.so")) != "libc" {
		t.Fatal("write through absolute symlink /lib did not land in usr/lib")
	}
	if readFile(t, filepath.Join(rootfs, "top")) != "t" {
		t.Fatal("write through ../../.. symlink did not land at the rootfs top")
	}
}

// escape is one layer (or several) that tries to reach outside the rootfs.
type escape struct {
	name   string
	layers func(outside string) [][]ent
	// refused: the unpack must fail and name this entry; otherwise it may
	// succeed as long as outside is untouched.
	refused string
}

func TestEscapesAreRefusedOrContained(t *testing.T) {
	cases := []escape{
		{name: "dotdot", refused: "../evil", layers: func(string) [][]ent { return [][]ent{{file("../evil", "x")}} }},
		{name: "dotdot-inner", refused: "a/../../evil", layers: func(string) [][]ent { return [][]ent{{file("a/../../evil", "x")}} }},
		{name: "absolute", refused: "/evil", layers: func(string) [][]ent { return [][]ent{{file("/evil", "x")}} }},
		{name: "hardlink-dotdot", refused: "h", layers: func(string) [][]ent {
			return [][]ent{{hardlink("h", "../outside/secret")}}
		}},
		{name: "hardlink-absolute", refused: "h", layers: func(o string) [][]ent {
			return [][]ent{{hardlink("h", filepath.Join(o, "secret"))}}
		}},
		{name: "hardlink-via-symlink", refused: "h", layers: func(o string) [][]ent {
			return [][]ent{{symlink("o", o), hardlink("h", "o/secret")}}
		}},
		{name: "hardlink-via-relative-symlink", refused: "h", layers: func(string) [][]ent {
			return [][]ent{{symlink("o", "../outside"), hardlink("h", "o/secret")}}
		}},
		{name: "whiteout-dotdot", refused: ".wh..", layers: func(string) [][]ent { return [][]ent{{file(".wh..", "")}} }},
		{name: "whiteout-dotdot-path", refused: "../outside/.wh.secret", layers: func(string) [][]ent {
			return [][]ent{{file("../outside/.wh.secret", "")}}
		}},
		{name: "whiteout-via-symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("o", o)}, {file("o/.wh.secret", "")}}
		}},
		{name: "opaque-via-symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("o", o)}, {file("o/.wh..wh..opq", "")}}
		}},
		{name: "opaque-via-relative-symlink", layers: func(string) [][]ent {
			return [][]ent{{symlink("o", "../outside")}, {file("o/.wh..wh..opq", "")}}
		}},
		{name: "write-via-absolute-symlink-dir", layers: func(o string) [][]ent {
			return [][]ent{{symlink("o", o), file("o/secret", "pwned"), file("o/new", "pwned")}}
		}},
		{name: "write-via-relative-symlink-dir", layers: func(string) [][]ent {
			return [][]ent{{symlink("o", "../outside"), file("o/secret", "pwned"), file("o/new", "pwned")}}
		}},
		{name: "overwrite-symlink-to-file", layers: func(o string) [][]ent {
			return [][]ent{{symlink("f", filepath.Join(o, "secret"))}, {file("f", "pwned")}}
		}},
		{name: "chmod-via-symlinked-dir", layers: func(o string) [][]ent {
			return [][]ent{{symlink("d", o)}, {ent{name: "d/", typ: tar.TypeDir, mode: 0o777, uid: 99}}}
		}},
		{name: "mkdir-below-symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("d", o), dir("d/sub/")}}
		}},
		{name: "hardlink-over-symlink", layers: func(o string) [][]ent {
			return [][]ent{{file("inside", "i"), symlink("l", filepath.Join(o, "secret"))}, {hardlink("l", "inside")}}
		}},
		{name: "device-over-symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", filepath.Join(o, "secret"))}, {ent{name: "l", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666}}}
		}},
		{name: "symlink-chain", layers: func(o string) [][]ent {
			return [][]ent{{symlink("a", "b"), symlink("b", "../c"), symlink("c", o), file("a/secret", "pwned")}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rootfs, outside := sandbox(t)
			var layers []Layer
			for _, ents := range c.layers(outside) {
				layers = append(layers, layerOf(t, ents...))
			}
			err := apply(t, rootfs, layers...)
			checkOutside(t, outside)
			if c.refused == "" {
				return
			}
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("want an EntryError for %q, got %v", c.refused, err)
			}
			if ee.Entry != c.refused || !strings.Contains(err.Error(), layers[len(layers)-1].Digest.String()) {
				t.Fatalf("error %q does not name layer %s and entry %q", err, layers[len(layers)-1].Digest, c.refused)
			}
		})
	}
}

func TestWriteThroughDeviceReplacesIt(t *testing.T) {
	rootfs, _ := sandbox(t)
	mustApply(t, rootfs,
		layerOf(t, ent{name: "dev/sda", typ: tar.TypeBlock, major: 8, minor: 0, mode: 0o660}, ent{name: "p", typ: tar.TypeFifo, mode: 0o600}),
		layerOf(t, file("dev/sda", "plain"), file("p", "not a fifo")),
	)
	for _, f := range []string{"dev/sda", "p"} {
		if st := lstat(t, filepath.Join(rootfs, f)); st.Mode&unix.S_IFMT != unix.S_IFREG {
			t.Fatalf("%s is mode %o, want a regular file", f, st.Mode)
		}
	}
}

func TestCompressionAndMediaTypes(t *testing.T) {
	raw := tarOf(t, file("hello", "world"))
	diffID := digest.FromBytes(raw)
	for mt, blob := range map[string][]byte{
		MediaTypeTar:        raw,
		MediaTypeDockerTar:  raw,
		MediaTypeTarGzip:    gzipOf(t, raw),
		MediaTypeDockerGzip: gzipOf(t, raw),
		MediaTypeTarZstd:    zstdOf(t, raw),
		MediaTypeDockerZstd: zstdOf(t, raw),
	} {
		rootfs, _ := sandbox(t)
		if err := apply(t, rootfs, blobLayer(mt, blob, diffID)); err != nil {
			t.Fatalf("%s: %v", mt, err)
		}
		if readFile(t, filepath.Join(rootfs, "hello")) != "world" {
			t.Fatalf("%s: wrong content", mt)
		}
	}
	rootfs, _ := sandbox(t)
	err := apply(t, rootfs, blobLayer("application/vnd.example.layer.v1.tar+lz4", raw, diffID))
	if err == nil || !strings.Contains(err.Error(), "unsupported layer media type") {
		t.Fatalf("unknown media type: %v", err)
	}
}

func TestDiffIDMismatchAndCorruptLayers(t *testing.T) {
	raw := tarOf(t, file("hello", "world"))
	gz := gzipOf(t, raw)
	rootfs, _ := sandbox(t)
	wrong := digest.FromString("something else")
	err := apply(t, rootfs, blobLayer(MediaTypeTarGzip, gz, wrong))
	if err == nil || !strings.Contains(err.Error(), "does not match diff_id "+wrong.String()) || !strings.Contains(err.Error(), digest.FromBytes(gz).String()) {
		t.Fatalf("diff_id mismatch: %v", err)
	}
	for name, blob := range map[string][]byte{
		"truncated gzip": gz[:len(gz)/2],
		"not gzip":       raw,
		"truncated tar":  gzipOf(t, raw[:700]),
	} {
		rootfs, _ := sandbox(t)
		if err := apply(t, rootfs, blobLayer(MediaTypeTarGzip, blob, digest.FromBytes(raw))); err == nil {
			t.Fatalf("%s: no error", name)
		} else if !strings.Contains(err.Error(), digest.FromBytes(blob).String()) {
			t.Fatalf("%s: error does not name the layer: %v", name, err)
		}
	}
}

func TestLimits(t *testing.T) {
	bomb := tarOf(t, file("zeros", strings.Repeat("\x00", 8<<20)))
	rootfs, _ := sandbox(t)
	l := DefaultLimits()
	l.MaxBytes = 1 << 20
	err := ApplyLayers(context.Background(), rootfs, []Layer{blobLayer(MediaTypeTarGzip, gzipOf(t, bomb), digest.FromBytes(bomb))}, Options{}, l)
	if err == nil || !strings.Contains(err.Error(), "over 1048576 uncompressed bytes") {
		t.Fatalf("size limit: %v", err)
	}

	// A layer of zeros past RatioMinBytes is refused by its ratio, long
	// before MaxBytes; below that, or with the ratio unbounded, it is
	// not. Streamed: the 1 GiB is never in memory or on disk.
	bombBlob := gzipBomb(t, 1<<30)
	bombLayer := Layer{Digest: digest.FromBytes(bombBlob), MediaType: MediaTypeTarGzip, DiffID: digest.FromString("never reached"),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(bombBlob)), nil }}
	start := time.Now()
	err = ApplyLayers(context.Background(), rootfs, []Layer{bombLayer}, Options{}, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "decompresses to over 500 times its size") || !strings.Contains(err.Error(), "--max-ratio") {
		t.Fatalf("ratio limit: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "zeros")); err == nil && fi.Size() > 2*RatioMinBytes {
		t.Errorf("the bomb wrote %d bytes before it was stopped", fi.Size())
	}
	t.Logf("1 GiB gzip bomb (%d bytes) refused in %v: %v", len(bombBlob), time.Since(start), err)
	os.Remove(filepath.Join(rootfs, "zeros"))
	smallTar := tarOf(t, file("zeros", strings.Repeat("\x00", 32<<20)))
	if err := ApplyLayers(context.Background(), rootfs, []Layer{blobLayer(MediaTypeTarGzip, gzipOf(t, smallTar), digest.FromBytes(smallTar))}, Options{}, DefaultLimits()); err != nil {
		t.Fatalf("a 32 MiB file of zeros is refused: %v", err)
	}

	l = DefaultLimits()
	l.MaxEntries = 3
	layer := layerOf(t, file("a", ""), file("b", ""))
	err = ApplyLayers(context.Background(), rootfs, []Layer{layer, layerOf(t, file("c", ""), file("d", ""))}, Options{}, l)
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Entry != "d" || !strings.Contains(err.Error(), "more than 3 entries") {
		t.Fatalf("entry limit (counted over layers): %v", err)
	}

	l = DefaultLimits()
	l.MaxNameLen = 10
	err = ApplyLayers(context.Background(), rootfs, []Layer{layerOf(t, symlink("s", strings.Repeat("x", 11)))}, Options{}, l)
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "longer than 10 bytes") {
		t.Fatalf("name limit on link target: %v", err)
	}
}

func TestIDMapShiftsOwners(t *testing.T) {
	rootfs, _ := sandbox(t)
	opts := Options{IDs: IDMap{}}
	for _, s := range []string{"0:100000:65536"} {
		m, err := ParseIDMapping(s)
		if err != nil {
			t.Fatal(err)
		}
		opts.IDs.UIDs = append(opts.IDs.UIDs, m)
		opts.IDs.GIDs = append(opts.IDs.GIDs, m)
	}
	err := ApplyLayers(context.Background(), rootfs, []Layer{layerOf(t,
		ent{name: "u/f", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 50},
		symlink("u/l", "f"),
	)}, opts, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(rootfs, "u/f")); st.Uid != 101000 || st.Gid != 100050 {
		t.Errorf("u/f owner %d:%d, want 101000:100050", st.Uid, st.Gid)
	}
	if st := lstat(t, filepath.Join(rootfs, "u")); st.Uid != 100000 || st.Gid != 100000 {
		t.Errorf("implicit u owner %d:%d, want mapped root 100000:100000", st.Uid, st.Gid)
	}
	if st := lstat(t, filepath.Join(rootfs, "u/l")); st.Uid != 100000 {
		t.Errorf("symlink owner %d, want 100000", st.Uid)
	}
	err = ApplyLayers(context.Background(), rootfs, []Layer{layerOf(t, ent{name: "big", typ: tar.TypeReg, mode: 0o644, uid: 70000})}, opts, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "uid 70000 is outside the --uid-map ranges") {
		t.Fatalf("unmapped uid: %v", err)
	}
	for _, bad := range []string{"1:2", "a:1:1", "0:0:0"} {
		if _, err := ParseIDMapping(bad); err == nil {
			t.Errorf("ParseIDMapping(%q) accepted", bad)
		}
	}
}

func TestRootlessRecordsOwnersAndSkipsDevices(t *testing.T) {
	rootfs, _ := sandbox(t)
	var notes []string
	opts := Options{Rootless: true, Note: func(m string) { notes = append(notes, m) }}
	err := ApplyLayers(context.Background(), rootfs, []Layer{layerOf(t,
		ent{name: "home/", typ: tar.TypeDir, mode: 0o500, uid: 1000, gid: 1000},
		ent{name: "home/f", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 0},
		ent{name: "rootfile", typ: tar.TypeReg, mode: 0o600},
		ent{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
	)}, opts, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(rootfs, "home/f"), rootlessXattr, buf)
	// Resource{uid: 1000, gid: NoopID}
	want := []byte{0x08, 0xe8, 0x07, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Errorf("home/f %s = %x (%v), want %x", rootlessXattr, buf[:n], err, want)
	}
	if _, err := unix.Lgetxattr(filepath.Join(rootfs, "rootfile"), rootlessXattr, buf); err != unix.ENODATA {
		t.Errorf("root-owned file got a %s xattr (%v)", rootlessXattr, err)
	}
	if st := lstat(t, filepath.Join(rootfs, "home")); st.Mode&0o7777 != 0o700 {
		t.Errorf("home mode %o, want 0700 (0500 kept writable for us)", st.Mode&0o7777)
	}
	notExist(t, filepath.Join(rootfs, "dev/null"))
	if len(notes) != 1 || !strings.Contains(notes[0], "skipped device node dev/null") {
		t.Errorf("notes %q", notes)
	}
}

func TestUnsettableXattrIsANamedError(t *testing.T) {
	rootfs, _ := sandbox(t)
	bad := file("f", "x")
	bad.xattrs = map[string]string{"bogus.name": "v"}
	l := layerOf(t, bad)
	err := apply(t, rootfs, l)
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Entry != "f" || !strings.Contains(err.Error(), "xattr bogus.name") || !strings.Contains(err.Error(), l.Digest.String()) {
		t.Fatalf("want an error naming layer, entry and xattr, got %v", err)
	}
	// Rootless unpacks skip what they cannot set, with a note.
	rootfs2, _ := sandbox(t)
	var notes []string
	if err := ApplyLayers(context.Background(), rootfs2, []Layer{l}, Options{Rootless: true, Note: func(m string) { notes = append(notes, m) }}, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "skipped xattr bogus.name on f") {
		t.Fatalf("notes %q", notes)
	}
}

func TestParentThroughDanglingSymlinkIsCreatedInside(t *testing.T) {
	rootfs, outside := sandbox(t)
	mustApply(t, rootfs, layerOf(t,
		symlink("lib", "/usr/lib"), file("lib/libc.so", "libc"),
		symlink("up", "../../.."+outside+"/made"), file("up/x", "x"),
		symlink("loop1", "loop2"), symlink("loop2", "loop1"),
	))
	if readFile(t, filepath.Join(rootfs, "usr/lib/libc.so")) != "libc" {
		t.Fatal("lib -> /usr/lib was not followed to create usr/lib inside the rootfs")
	}
	if readFile(t, filepath.Join(rootfs, outside, "made/x")) != "x" {
		t.Fatal("a link climbing out was not clamped to the rootfs")
	}
	checkOutside(t, outside)
	err := apply(t, rootfs, layerOf(t, file("loop1/x", "x")))
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Entry != "loop1/x" {
		t.Fatalf("symlink loop: %v", err)
	}
}

// gzipBomb is a gzipped tar of one file of size zero bytes, made streaming.
func gzipBomb(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(zeros)) {
		if _, err := tw.Write(zeros[:min(int64(len(zeros)), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
