package imagetool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// startRegistry starts a registry for the test and stops it at the end.
func startRegistry(t *testing.T, cfg harness.RegistryConfig) *harness.Registry {
	t.Helper()
	r, err := harness.StartRegistry(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// servedImage starts a registry set up as cfg and pushes the busybox
// image to it as repo:v1 (with cfg's credentials); it returns the
// registry and the image's reference.
func servedImage(t *testing.T, cfg harness.RegistryConfig, repo string) (*harness.Registry, string) {
	t.Helper()
	reg := startRegistry(t, cfg)
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	var creds []string
	if cfg.User != "" {
		creds = []string{"--dest-creds", cfg.User + ":" + cfg.Password}
	}
	l.push(t, reg, "v1", repo+":v1", creds...)
	return reg, reg.Addr + "/" + repo + ":v1"
}

// layout is an OCI layout the test builds images in.
type layout struct {
	dir string
	s   *store.Store
}

func newLayout(t *testing.T) layout {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return layout{dir, s}
}

// image builds img and tags it in the layout.
func (l layout) image(t *testing.T, tag string, img harness.Image) ocispec.Descriptor {
	t.Helper()
	if img.OS == "" {
		img.OS = "linux"
	}
	if img.Arch == "" {
		img.Arch = "amd64"
	}
	d, err := harness.BuildImage(l.s, img)
	if err != nil {
		t.Fatal(err)
	}
	if tag != "" {
		if err := l.s.Tag(tag, d); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// index builds an index of ms and tags it.
func (l layout) index(t *testing.T, tag string, ms ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	d, err := harness.BuildIndex(l.s, ms, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.s.Tag(tag, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// busybox is a two-layer image: busybox plus a layer of generated files.
func busybox(t *testing.T, extra ...harness.Layer) harness.Image {
	t.Helper()
	bb, err := harness.BusyboxLayer()
	if err != nil {
		t.Fatal(err)
	}
	img := harness.Image{Layers: []harness.Layer{bb, {Files: harness.GeneratedFiles("etc/data", 1, 3, 100_000)}}}
	img.Layers = append(img.Layers, extra...)
	return img
}

// push copies tag from the layout to the registry with skopeo.
func (l layout) push(t *testing.T, r *harness.Registry, tag, dest string, extra ...string) {
	t.Helper()
	args := []string{"copy", "--quiet"}
	if r.CA != nil {
		// Holds ca.crt, and a client key pair when the registry wants one.
		certDir := r.ClientCertDir()
		if _, err := os.Stat(certDir); err != nil {
			certDir = t.TempDir()
			if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), r.CA.CertPEM, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "--dest-cert-dir", certDir)
	} else {
		args = append(args, "--dest-tls-verify=false")
	}
	args = append(args, extra...)
	args = append(args, "oci:"+l.dir+":"+tag, "docker://"+r.Addr+"/"+dest)
	skopeo(t, args...)
}

// checkStore verifies every blob of the store against its digest and
// that no temp file is left.
func checkStore(t *testing.T, dir string) {
	t.Helper()
	checkBlobs(t, dir)
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		var names []string
		for _, e := range tmp {
			names = append(names, e.Name())
		}
		t.Errorf("store has %d temp file(s) left: %v", len(tmp), names)
	}
}

// checkBlobs: every file under blobs/sha256 hashes to its name, so no
// partial blob sits under its final name.
func checkBlobs(t *testing.T, dir string) {
	t.Helper()
	root := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(root, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		d, err := digest.SHA256.FromReader(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d.Encoded() != e.Name() {
			t.Errorf("store blob %s hashes to %s (a partial blob under its final name?)", e.Name(), d)
		}
	}
}

// listJSON returns `berth-image list --format json`.
func listJSON(t *testing.T, storeDir string) []map[string]any {
	t.Helper()
	out := mustRun(t, nil, "--store", storeDir, "list", "--format", "json")
	var l []map[string]any
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("list output %q: %v", out, err)
	}
	return l
}
