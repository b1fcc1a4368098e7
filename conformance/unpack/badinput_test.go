package unpack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// small is a one-layer image whose layer is easy to spot.
func small(probe []byte) image {
	return image{
		layers: []layer{{entries: []entry{dirE("bin/", 0o755), {name: "bin/probe", typ: '0', data: probe, mode: 0o755}, fileE("hello", "world", 0o644)}}},
		config: ocispec.ImageConfig{Cmd: []string{"/bin/probe"}},
	}
}

// failsCleanly checks that a berth-image run failed with a one-line error
// holding every want, and that bundle was not created.
func failsCleanly(t *testing.T, r result, bundle string, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("succeeded, want an error with %q\n%s", want, r.stdout)
	}
	msg := strings.TrimSpace(r.stderr)
	t.Logf("error: %s", msg)
	if strings.Count(msg, "\n") != 0 {
		t.Errorf("error is not one line:\n%s", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
	if _, err := os.Lstat(bundle); !os.IsNotExist(err) {
		t.Errorf("a failed unpack left %s", bundle)
	}
	entries, _ := os.ReadDir(filepath.Dir(bundle))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".berth-tmp") {
			t.Errorf("a failed unpack left %s", e.Name())
		}
	}
}

func TestMissingImage(t *testing.T) {
	base := t.TempDir()
	b := filepath.Join(base, "bundle")
	failsCleanly(t, berthImage(filepath.Join(base, "store"), "unpack", "example.com/no/such:image", b), b, "example.com/no/such:image")
}

func TestNonEmptyBundleDirIsRefusedUnlessForced(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", small(readProbe(t)))
	ref := push(t, layout, "v1", "unpack/force", "")
	store := filepath.Join(base, "store")
	b := filepath.Join(base, "bundle")
	os.Mkdir(b, 0o755)
	os.WriteFile(filepath.Join(b, "precious"), []byte("x"), 0o644)
	r := berthImage(store, "bundle", "--quiet", "--mode", "copy", ref, b)
	if r.err == nil || !strings.Contains(r.stderr, "exists and is not empty (--force replaces it)") {
		t.Fatalf("non-empty bundle dir: %v %s", r.err, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(b, "precious")); err != nil {
		t.Fatal("the refused bundle dir was changed")
	}
	mustBerthImage(t, store, "unpack", "--quiet", "--mode", "copy", "--force", ref, b)
	if got, _ := os.ReadFile(filepath.Join(b, "rootfs/hello")); string(got) != "world" {
		t.Fatalf("--force: rootfs/hello = %q", got)
	}
	if _, err := os.Stat(filepath.Join(b, "precious")); !os.IsNotExist(err) {
		t.Fatal("--force kept the old content")
	}
}

func TestCorruptLayersFailCleanly(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", small(readProbe(t)))
	ref := push(t, layout, "v1", "unpack/corrupt", "")
	for name, damage := range map[string]func(blob []byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"garbage":   func(b []byte) []byte { return []byte(strings.Repeat("not gzip ", 100)) },
	} {
		t.Run(name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			mustBerthImage(t, store, "pull", "--quiet", ref)
			layerDigest := onlyLayer(t, store, ref)
			// The store verified the blob when it was pulled; damage it
			// afterwards, as a failing disk would.
			p := filepath.Join(store, "blobs", "sha256", layerDigest.Encoded())
			blob, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, damage(blob), 0o644); err != nil {
				t.Fatal(err)
			}
			b := filepath.Join(t.TempDir(), "bundle")
			failsCleanly(t, berthImage(store, "unpack", ref, b), b, layerDigest.String())
			if _, err := os.Stat(filepath.Join(store, "cache", "layers", "sha256", layerDigest.Encoded())); !os.IsNotExist(err) {
				t.Fatal("a corrupt layer is in the layer cache")
			}
		})
	}
}

// onlyLayer returns the digest of the single layer of the stored image.
func onlyLayer(t *testing.T, store, name string) digest.Digest {
	t.Helper()
	out := mustBerthImage(t, store, "inspect", name)
	i := strings.Index(out, ocispec.MediaTypeImageLayerGzip)
	if i < 0 {
		t.Fatalf("no gzip layer in %s", out)
	}
	j := strings.Index(out[i:], "sha256:")
	return digest.Digest(out[i+j : i+j+71])
}

func TestDiffIDMismatchAndEscapingLayerAreRefused(t *testing.T) {
	base := t.TempDir()
	// An image whose config lists the wrong diff_id: writeLayout computes
	// the right one, so rewrite the layer after the fact.
	evil := image{
		layers: []layer{{entries: []entry{fileE("ok", "ok", 0o644), fileE("../../escape", "x", 0o644)}}},
		config: ocispec.ImageConfig{Cmd: []string{"/x"}},
	}
	layout := filepath.Join(base, "evil")
	writeLayout(t, layout, "v1", evil)
	ref := push(t, layout, "v1", "unpack/evil", "")
	store := filepath.Join(base, "store")
	b := filepath.Join(base, "bundle")
	r := berthImage(store, "bundle", "--quiet", ref, b)
	failsCleanly(t, r, b, `entry "../../escape"`, "escapes the rootfs", "layer sha256:")
	if _, err := os.Lstat(filepath.Join(base, "escape")); !os.IsNotExist(err) {
		t.Fatal("the escaping entry was written")
	}

	mismatch := filepath.Join(base, "mismatch")
	writeLayout(t, mismatch, "v1", small(readProbe(t)))
	swapDiffIDs(t, mismatch)
	ref = push(t, mismatch, "v1", "unpack/mismatch", "")
	failsCleanly(t, berthImage(store, "bundle", "--quiet", ref, b), b, "does not match diff_id")
}

// swapDiffIDs replaces the image's diff_id with the digest of something
// else and rewrites config, manifest and index to match.
func swapDiffIDs(t *testing.T, layout string) {
	t.Helper()
	idx := readJSON[ocispec.Index](t, layout, "index.json")
	m := readJSON[ocispec.Manifest](t, layout, blobPath(idx.Manifests[0].Digest))
	c := readJSON[ocispec.Image](t, layout, blobPath(m.Config.Digest))
	c.RootFS.DiffIDs[0] = digest.FromString("not this layer")
	m.Config = writeJSON(t, layout, m.Config.MediaType, c)
	md := writeJSON(t, layout, idx.Manifests[0].MediaType, m)
	md.Annotations = idx.Manifests[0].Annotations
	idx.Manifests[0] = md
	b, _ := jsonMarshal(idx)
	os.WriteFile(filepath.Join(layout, "index.json"), b, 0o644)
}

func TestRmAndGCCleanTheLayerCache(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", small(readProbe(t)))
	ref := push(t, layout, "v1", "unpack/gc", "")
	store := filepath.Join(base, "store")
	b := filepath.Join(base, "bundle")
	mustBerthImage(t, store, "bundle", "--quiet", "--mode", "copy", ref, b)
	cached := filepath.Join(store, "cache", "layers", "sha256", onlyLayer(t, store, ref).Encoded())
	if _, err := os.Stat(filepath.Join(cached, "fs", "hello")); err != nil {
		t.Fatalf("layer not cached at %s: %v", cached, err)
	}
	mustBerthImage(t, store, "gc")
	if _, err := os.Stat(cached); err != nil {
		t.Fatal("gc removed the cache of an image still in the store")
	}
	mustBerthImage(t, store, "rm", ref)
	out := mustBerthImage(t, store, "gc")
	if _, err := os.Stat(cached); !os.IsNotExist(err) {
		t.Fatalf("gc after rm kept %s:\n%s", cached, out)
	}
	// The copied bundle does not depend on the cache.
	if got, _ := os.ReadFile(filepath.Join(b, "rootfs/hello")); string(got) != "world" {
		t.Fatalf("bundle after gc: rootfs/hello = %q", got)
	}
}

func TestFullDiskFailsCleanly(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", small(readProbe(t))) // the probe is a few MB
	ref := push(t, layout, "v1", "unpack/full", "")
	store := filepath.Join(base, "store")
	mustBerthImage(t, store, "pull", "--quiet", ref)
	// A 1 MB filesystem for the bundle: the rootfs does not fit.
	small := filepath.Join(base, "small")
	os.Mkdir(small, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "berth-unpack-e2e-full", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	for _, mode := range []string{"copy", "auto"} {
		b := filepath.Join(small, "bundle-"+mode)
		r := berthImage(store, "unpack", "--mode", mode, ref, b)
		if mode == "auto" && r.err == nil {
			// The overlay needs only its (empty) upper dir on the small
			// filesystem; that is a success, not a failure to check.
			exec.Command("umount", filepath.Join(b, "rootfs")).Run()
			continue
		}
		failsCleanly(t, r, b, "no space left on device")
		if names, _ := os.ReadDir(small); len(names) != 0 {
			t.Fatalf("%s: the full filesystem still holds %v", mode, names)
		}
	}
}
