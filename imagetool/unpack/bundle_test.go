package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/conformance/unpack/tree"
	"github.com/berthproject/berth/specs"
)

// richLayers exercise every rule at once: whiteouts, opaque dirs, type
// replacement, hardlinks, devices, setuid, xattrs, owners.
func richLayers(t *testing.T) []Layer {
	return []Layer{
		layerOf(t,
			ent{name: "./", typ: tar.TypeDir, mode: 0o755},
			dir("bin/"), ent{name: "bin/su", typ: tar.TypeReg, body: "su", mode: 0o4755},
			ent{name: "bin/ping", typ: tar.TypeReg, body: "ping", mode: 0o755, xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
			dir("etc/"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), file("etc/old", "old"),
			dir("opt/"), dir("opt/app/"), file("opt/app/a", "a"), file("opt/app/b", "b"),
			dir("var/"), ent{name: "var/tmp/", typ: tar.TypeDir, mode: 0o1777},
			ent{name: "home/", typ: tar.TypeDir, mode: 0o755}, ent{name: "home/u/", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000},
			ent{name: "home/u/f", typ: tar.TypeReg, body: "f", mode: 0o600, uid: 1000, gid: 1000},
			hardlink("home/u/f2", "home/u/f"),
			dir("dev/"), ent{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
			ent{name: "dev/fifo", typ: tar.TypeFifo, mode: 0o644},
			dir("x/"), file("x/inside", "i"), file("y", "y"),
			symlink("lib", "/usr/lib"), dir("usr/"), dir("usr/lib/"),
		),
		layerOf(t,
			dir("etc/"), file("etc/.wh.old", ""), file("etc/new", "new"),
			dir("opt/"), dir("opt/app/"), file("opt/app/.wh..wh..opq", ""), file("opt/app/c", "c"),
			file("x", "x is a file now"), dir("y/"), file("y/z", "z"),
			dir("usr/"), dir("usr/lib/"), file("usr/lib/libc.so", "libc"),
		),
		layerOf(t,
			dir("bin/"), ent{name: "bin/su", typ: tar.TypeReg, body: "su2", mode: 0o4750, gid: 10},
			dir("home/"), ent{name: "home/u/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
			file("home/u/.wh.f2", ""),
		),
	}
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	snap, err := tree.Snapshot(root, func(name string) bool { return strings.HasPrefix(name, "trusted.overlay.") })
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func diffSnapshots(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if diffs := tree.Diff(got, want); len(diffs) > 0 {
		t.Fatalf("%s differs:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func defaultSpec(string) (*rspec.Spec, error) { return specs.Default(), nil }

func testCache(t *testing.T) *Cache {
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache", "layers")}
}

func unmountBundle(t *testing.T, bundle string) {
	t.Cleanup(func() { discardBundle(bundle) })
}

func TestBundleModesGiveTheSameRootfs(t *testing.T) {
	needRoot(t)
	layers := richLayers(t)
	base := t.TempDir()

	direct := filepath.Join(base, "direct")
	res, err := CreateBundle(context.Background(), direct, layers, BundleOptions{Spec: defaultSpec, Limits: DefaultLimits()})
	if err != nil || res.Mode != ModeDirect {
		t.Fatalf("direct: %+v %v", res, err)
	}
	want := snapshot(t, filepath.Join(direct, "rootfs"))
	// Spot-check the direct result itself.
	for p, w := range map[string]string{
		"etc/old":         "",
		"etc/new":         "-rw-r--r-- 0:0",
		"opt/app/a":       "",
		"opt/app/c":       "-rw-r--r-- 0:0",
		"x":               "-rw-r--r-- 0:0",
		"y/z":             "-rw-r--r-- 0:0",
		"bin/su":          "urwxr-x--- 0:10",
		"home/u/f2":       "",
		"home/u":          "drwxr-x--- 1000:1000",
		"var/tmp":         "dtrwxrwxrwx 0:0",
		"dev/null":        "Dcrw-rw-rw- 0:0 dev 1:3",
		"usr/lib/libc.so": "-rw-r--r-- 0:0",
	} {
		if w == "" {
			if _, ok := want[p]; ok {
				t.Errorf("%s survived its whiteout", p)
			}
		} else if !strings.HasPrefix(want[p], w) {
			t.Errorf("%s = %q, want prefix %q", p, want[p], w)
		}
	}

	cache := testCache(t)
	for _, mode := range []Mode{ModeOverlay, ModeCopy, ModeAuto} {
		b := filepath.Join(base, string(mode))
		unmountBundle(t, b)
		res, err := CreateBundle(context.Background(), b, layers, BundleOptions{Mode: mode, Cache: cache, Spec: defaultSpec, Limits: DefaultLimits(), Jobs: 2})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		wantMode := mode
		if mode == ModeAuto {
			wantMode = ModeOverlay
		}
		if res.Mode != wantMode {
			t.Fatalf("%s: made a %s bundle", mode, res.Mode)
		}
		if mode == ModeOverlay && res.Extracted != 3 || mode != ModeOverlay && res.Extracted != 0 {
			t.Fatalf("%s: extracted %d layers (cache reuse broken)", mode, res.Extracted)
		}
		diffSnapshots(t, string(mode)+" rootfs vs direct", snapshot(t, filepath.Join(b, "rootfs")), want)
		if res.Mode == ModeOverlay {
			mounts, _ := os.ReadFile("/proc/self/mountinfo")
			if !strings.Contains(string(mounts), " "+filepath.Join(b, "rootfs")+" ") || !strings.Contains(string(mounts), "upperdir="+filepath.Join(b, overlayDir, "upper")) {
				t.Fatalf("%s: the overlay is not mounted at %s/rootfs with the bundle's upper dir", mode, b)
			}
		}
		if _, err := specs.LoadBundle(b); err != nil {
			t.Fatalf("%s: config.json: %v", mode, err)
		}
	}
}

func TestCacheHoldsOverlayForm(t *testing.T) {
	needRoot(t)
	layers := richLayers(t)
	cache := testCache(t)
	dirs, n, err := cache.Ensure(context.Background(), layers, DefaultLimits(), 3)
	if err != nil || n != 3 {
		t.Fatalf("Ensure: %d %v", n, err)
	}
	if st := lstat(t, filepath.Join(dirs[1], "etc/old")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout etc/old in the cache is mode %o rdev %d, want a 0:0 char device", st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(dirs[1], "opt/app"), overlayOpaque, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque opt/app: %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(dirs[1], "opt/app/.wh..wh..opq")); !os.IsNotExist(err) {
		t.Error("the opaque marker file itself was written into the cache")
	}
	if _, n, err := cache.Ensure(context.Background(), layers, DefaultLimits(), 3); err != nil || n != 0 {
		t.Fatalf("second Ensure extracted %d layers (%v), want 0", n, err)
	}
	if fi, err := os.Stat(filepath.Dir(dirs[0])); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %v (%v), want 0700", fi.Mode(), err)
	}
}

func TestBundleRefusesNonEmptyDirUnlessForced(t *testing.T) {
	needRoot(t)
	layers := []Layer{layerOf(t, file("hello", "1"))}
	b := filepath.Join(t.TempDir(), "b")
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(b, "mine"), []byte("x"), 0o644)
	_, err := CreateBundle(context.Background(), b, layers, BundleOptions{Spec: defaultSpec})
	if err == nil || !strings.Contains(err.Error(), "exists and is not empty") {
		t.Fatalf("non-empty bundle dir: %v", err)
	}
	if readFile(t, filepath.Join(b, "mine")) != "x" {
		t.Fatal("refused bundle dir was changed")
	}
	cache := testCache(t)
	for _, mode := range []Mode{ModeOverlay, ModeCopy} {
		unmountBundle(t, b)
		if _, err := CreateBundle(context.Background(), b, layers, BundleOptions{Mode: mode, Cache: cache, Force: true, Spec: defaultSpec}); err != nil {
			t.Fatalf("--force %s: %v", mode, err)
		}
		notExist(t, filepath.Join(b, "mine"))
		if readFile(t, filepath.Join(b, "rootfs/hello")) != "1" {
			t.Fatalf("--force %s: rootfs not there", mode)
		}
	}
	// The replaced overlay bundle was unmounted and removed: nothing but
	// the bundle is left next to it.
	if names := dirNames(t, filepath.Dir(b)); names != "b" {
		t.Fatalf("left next to the bundle: %q", names)
	}
	// An empty existing directory is fine without --force.
	e := filepath.Join(t.TempDir(), "empty")
	os.Mkdir(e, 0o755)
	if _, err := CreateBundle(context.Background(), e, layers, BundleOptions{Spec: defaultSpec}); err != nil {
		t.Fatalf("empty bundle dir: %v", err)
	}
}

func TestFailedBundleLeavesNothing(t *testing.T) {
	needRoot(t)
	good := layerOf(t, file("a", "a"))
	bad := layerOf(t, file("b", "b"))
	bad.DiffID = good.DiffID // a diff_id mismatch, found after the layer was applied
	for _, mode := range []Mode{ModeAuto, ModeCopy, ModeDirect} {
		base := t.TempDir()
		cache := testCache(t)
		opts := BundleOptions{Mode: mode, Cache: cache, Spec: defaultSpec}
		if mode == ModeDirect {
			opts.Mode, opts.Cache = ModeAuto, nil
		}
		_, err := CreateBundle(context.Background(), filepath.Join(base, "b"), []Layer{good, bad}, opts)
		if err == nil || !strings.Contains(err.Error(), "does not match diff_id") || !strings.Contains(err.Error(), bad.Digest.String()) {
			t.Fatalf("%s: %v", mode, err)
		}
		if names := dirNames(t, base); names != "" {
			t.Fatalf("%s: a failed unpack left %q", mode, names)
		}
		if mode != ModeDirect {
			// The good layer may stay cached; the bad one must not.
			if cache.Has(bad.Digest) {
				t.Fatalf("%s: the bad layer is in the cache", mode)
			}
			entries, _ := os.ReadDir(filepath.Join(cache.Dir, "sha256"))
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".tmp-") {
					t.Fatalf("%s: temporary cache dir %s left", mode, e.Name())
				}
			}
		}
	}
	// A failing config is a failure too.
	base := t.TempDir()
	_, err := CreateBundle(context.Background(), filepath.Join(base, "b"), []Layer{good}, BundleOptions{Spec: func(string) (*rspec.Spec, error) {
		return nil, fmt.Errorf("no config for you")
	}})
	if err == nil || dirNames(t, base) != "" {
		t.Fatalf("failing config: %v, left %q", err, dirNames(t, base))
	}
}

func TestCopyModeShiftsOwners(t *testing.T) {
	needRoot(t)
	m, _ := ParseIDMapping("0:200000:65536")
	b := filepath.Join(t.TempDir(), "b")
	res, err := CreateBundle(context.Background(), b, richLayers(t), BundleOptions{
		Cache: testCache(t), Spec: defaultSpec, Apply: Options{IDs: IDMap{UIDs: []rspec.LinuxIDMapping{m}, GIDs: []rspec.LinuxIDMapping{m}}},
	})
	if err != nil || res.Mode != ModeCopy {
		t.Fatalf("%+v %v", res, err)
	}
	if st := lstat(t, filepath.Join(b, "rootfs/home/u/f")); st.Uid != 201000 || st.Gid != 201000 {
		t.Fatalf("home/u/f owner %d:%d, want 201000:201000", st.Uid, st.Gid)
	}
	if st := lstat(t, filepath.Join(b, "rootfs/bin/su")); st.Uid != 200000 || st.Gid != 200010 || st.Mode&0o7777 != 0o4750 {
		t.Fatalf("bin/su owner %d:%d mode %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if _, err := CreateBundle(context.Background(), filepath.Join(t.TempDir(), "o"), richLayers(t), BundleOptions{
		Mode: ModeOverlay, Cache: testCache(t), Spec: defaultSpec, Apply: Options{IDs: IDMap{UIDs: []rspec.LinuxIDMapping{m}}},
	}); err == nil {
		t.Fatal("overlay with an ID map accepted")
	}
}

func TestCacheChecksDiffIDsOnEveryUse(t *testing.T) {
	needRoot(t)
	cache := testCache(t)
	l := layerOf(t, file("a", "a"))
	if _, n, err := cache.Ensure(context.Background(), []Layer{l}, DefaultLimits(), 1); err != nil || n != 1 {
		t.Fatalf("Ensure: %d %v", n, err)
	}
	if got := readFile(t, filepath.Join(cache.Path(l.Digest), "diffid")); got != l.DiffID.String()+"\n" {
		t.Fatalf("recorded diffid %q, want %s", got, l.DiffID)
	}
	// Another image config naming the same blob with another diff_id.
	wrong := l
	wrong.DiffID = layerOf(t, file("b", "b")).DiffID
	_, _, err := cache.Ensure(context.Background(), []Layer{wrong}, DefaultLimits(), 1)
	if err == nil || !strings.Contains(err.Error(), "does not match diff_id "+wrong.DiffID.String()) {
		t.Fatalf("cached layer used with a wrong diff_id: %v", err)
	}
	// An entry left without its diffid (a crash between writes) is
	// extracted again and replaced.
	if err := os.Remove(filepath.Join(cache.Path(l.Digest), "diffid")); err != nil {
		t.Fatal(err)
	}
	if _, n, err := cache.Ensure(context.Background(), []Layer{l}, DefaultLimits(), 1); err != nil || n != 1 || !cache.Has(l.Digest) {
		t.Fatalf("incomplete entry: extracted %d, %v", n, err)
	}
	if readFile(t, filepath.Join(cache.Path(l.Digest), "fs", "a")) != "a" {
		t.Fatal("re-extracted entry lacks its file")
	}
}

func TestUnlistedParentDirsKeepLowerAttributes(t *testing.T) {
	needRoot(t)
	layers := []Layer{
		layerOf(t, ent{name: "./", typ: tar.TypeDir, mode: 0o751}, dir("home/"), ent{name: "home/app/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
			dir("usr/"), dir("usr/lib/"), symlink("lib", "usr/lib")),
		// No "./", "home/", "home/app/" or "lib/" entries: they are only
		// parents; "lib/libx.so" goes through the lower layer's symlink.
		layerOf(t, ent{name: "home/app/.profile", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1000}, file("lib/libx.so", "x")),
	}
	base := t.TempDir()
	direct := filepath.Join(base, "direct")
	if _, err := CreateBundle(context.Background(), direct, layers, BundleOptions{Spec: defaultSpec}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, filepath.Join(direct, "rootfs"))
	if !strings.HasPrefix(want["home/app"], "drwxr-x--- 1000:1000") || !strings.HasPrefix(want["."], "drwxr-x--x 0:0") ||
		!strings.HasPrefix(want["lib"], "Lrwxrwxrwx") || want["usr/lib/libx.so"] == "" {
		t.Fatalf("direct: home/app %q, root %q", want["home/app"], want["."])
	}
	cache := testCache(t)
	for _, mode := range []Mode{ModeAuto, ModeCopy} {
		var notes []string
		b := filepath.Join(base, string(mode))
		unmountBundle(t, b)
		res, err := CreateBundle(context.Background(), b, layers, BundleOptions{Mode: mode, Cache: cache, Spec: defaultSpec,
			Apply: Options{Note: func(m string) { notes = append(notes, m) }}})
		if err != nil || res.Mode != ModeCopy {
			t.Fatalf("%s: made %s (%v)", mode, res.Mode, err)
		}
		if mode == ModeAuto && (len(notes) != 1 || !strings.Contains(notes[0], "does not list some of its parent directories")) {
			t.Errorf("auto: notes %q", notes)
		}
		diffSnapshots(t, string(mode)+" rootfs vs direct", snapshot(t, filepath.Join(b, "rootfs")), want)
	}
}

func TestCacheExtractsLayersNotDescribedYet(t *testing.T) {
	needRoot(t)
	raw := tarOf(t, file("f", "content"))
	diffID := digest.FromBytes(raw)
	for mt, blob := range map[string][]byte{MediaTypeTar: raw, MediaTypeTarGzip: gzipOf(t, raw), MediaTypeTarZstd: zstdOf(t, raw)} {
		cache := testCache(t)
		bare := blobLayer("", blob, "")
		if _, n, err := cache.Ensure(context.Background(), []Layer{bare}, DefaultLimits(), 1); err != nil || n != 1 {
			t.Fatalf("%s without media type and diff_id: %d %v", mt, n, err)
		}
		dirs, n, err := cache.Ensure(context.Background(), []Layer{blobLayer(mt, blob, diffID)}, DefaultLimits(), 1)
		if err != nil || n != 0 || readFile(t, filepath.Join(dirs[0], "f")) != "content" {
			t.Fatalf("%s described later: %d %v", mt, n, err)
		}
		if _, _, err := cache.Ensure(context.Background(), []Layer{blobLayer(mt, blob, digest.FromString("x"))}, DefaultLimits(), 1); err == nil {
			t.Fatalf("%s: a wrong diff_id passed on a layer extracted undescribed", mt)
		}
	}
}

func TestOverlayWithMoreLayersThanFitInMountOptions(t *testing.T) {
	needRoot(t)
	var layers []Layer
	for i := range 60 {
		layers = append(layers, layerOf(t, file(fmt.Sprintf("f%02d", i), fmt.Sprint(i)), file("top", fmt.Sprint(i))))
	}
	cache := testCache(t)
	dirs, _, err := cache.Ensure(context.Background(), layers, DefaultLimits(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len("lowerdir="+joinLowers(dirs)) < os.Getpagesize() {
		t.Fatalf("the test needs lower dirs longer than a page")
	}
	b := filepath.Join(t.TempDir(), "b")
	unmountBundle(t, b)
	res, err := CreateBundle(context.Background(), b, layers, BundleOptions{Mode: ModeOverlay, Cache: cache, Spec: defaultSpec})
	if err != nil || res.Mode != ModeOverlay {
		t.Fatalf("%+v %v", res, err)
	}
	if readFile(t, filepath.Join(b, "rootfs/f00")) != "0" || readFile(t, filepath.Join(b, "rootfs/top")) != "59" {
		t.Fatal("merged view wrong: the lowest file or the topmost version is missing")
	}
}

func TestAbandonedTempDirsAreRemoved(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	b := filepath.Join(base, "b")
	dead := tempPrefix(b) + ".999999999-abc" // no such process
	live := fmt.Sprintf("%s.%d-abc", tempPrefix(b), os.Getpid())
	for _, d := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(d, "rootfs", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := CreateBundle(context.Background(), b, []Layer{layerOf(t, file("a", "a"))}, BundleOptions{Spec: defaultSpec}); err != nil {
		t.Fatal(err)
	}
	notExist(t, dead)
	if _, err := os.Stat(live); err != nil {
		t.Fatal("the temp dir of a running unpack was removed")
	}
}

func TestCancelledUnpackLeavesNothing(t *testing.T) {
	needRoot(t)
	// A big layer, cancelled while it is being applied.
	var ents []ent
	for i := range 2000 {
		ents = append(ents, file(fmt.Sprintf("d/f%04d", i), strings.Repeat("x", 4096)))
	}
	layers := []Layer{layerOf(t, ents...)}
	for _, cache := range []*Cache{nil, testCache(t)} {
		base := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		opts := BundleOptions{Cache: cache, Spec: defaultSpec, Limits: DefaultLimits()}
		// Cancel from inside, about the 500th file, as the blob is read.
		layer := layers[0]
		open := layer.Open
		layer.Open = func() (io.ReadCloser, error) {
			rc, err := open()
			return &cancelAfter{ReadCloser: rc, n: &n, at: 500 * 4096, cancel: cancel}, err
		}
		_, err := CreateBundle(ctx, filepath.Join(base, "b"), []Layer{layer}, opts)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cache %v: want context.Canceled, got %v", cache != nil, err)
		}
		if names := dirNames(t, base); names != "" {
			t.Fatalf("a cancelled unpack left %q", names)
		}
	}
}

// cancelAfter cancels a context once at bytes were read through it.
type cancelAfter struct {
	io.ReadCloser
	n      *int
	at     int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if *c.n += n; *c.n >= c.at {
		c.cancel()
	}
	return n, err
}
