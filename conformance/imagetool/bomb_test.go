package imagetool

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// gzipBombLayer is a gzipped tar of one file of size zero bytes, made
// streaming (never held uncompressed): 10 GiB give about 10 MiB.
func gzipBombLayer(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(1700000000, 0)}); err != nil {
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

// TestBundleRefusesGzipBomb: an image whose layer is 10 GiB of zeros
// gzipped to about 10 MiB, served by the distribution registry, is pulled
// (the blob is what its manifest says) and then refused by the ratio limit
// with an error naming the layer and --max-ratio, long before 10 GiB are
// written; no bundle directory, partial or not, is left.
func TestBundleRefusesGzipBomb(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	bomb := gzipBombLayer(t, 10<<30)
	layerDigest, err := reg.UploadBlob("bomb/app", bomb)
	if err != nil {
		t.Fatal(err)
	}
	// The diff_id is never reached: the limit stops the layer first.
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Cmd":["/zeros"]},"rootfs":{"type":"layers","diff_ids":[%q]}}`,
		digest.FromString("the uncompressed bomb")))
	cfgDigest, err := reg.UploadBlob("bomb/app", cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerDigest, Size: int64(len(bomb))}},
	})
	if err := reg.PutManifest("bomb/app", "v1", ocispec.MediaTypeImageManifest, m); err != nil {
		t.Fatal(err)
	}
	ref := reg.Addr + "/bomb/app:v1"
	parent := t.TempDir()
	bundle := filepath.Join(parent, "bundle")
	st := t.TempDir()
	start := time.Now()
	mustFail(t, nil, []string{"--store", st, "bundle", "-q", ref, bundle},
		"layer "+layerDigest.String(), "decompresses to over 500 times its size", "--max-ratio")
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("the bomb took %v to refuse", d)
	}
	if entries, _ := os.ReadDir(parent); len(entries) > 0 {
		t.Errorf("left next to the bundle: %v", entries)
	}
	// The layer cache keeps nothing of it either.
	var big []string
	filepath.Walk(st, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > 64<<20 {
			big = append(big, p)
		}
		return nil
	})
	if len(big) > 0 {
		t.Errorf("the store keeps extracted bomb content: %v", big)
	}
	// With the limit lifted it is the size limit that stops it.
	mustFail(t, nil, []string{"--store", st, "bundle", "-q", "--max-ratio", "0", "--max-size", "1073741824", ref, bundle},
		"over 1073741824 uncompressed bytes", "--max-size")
	if entries, _ := os.ReadDir(parent); len(entries) > 0 {
		t.Errorf("left next to the bundle: %v", entries)
	}
}
