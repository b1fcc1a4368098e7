package unpack

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// entry is one tar entry of a test layer, written exactly as given.
type entry struct {
	name     string
	typ      byte
	data     []byte
	link     string
	mode     int64
	uid, gid int
	major    int64
	minor    int64
	xattrs   map[string]string
}

func dirE(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }
func fileE(name, data string, mode int64) entry {
	return entry{name: name, typ: tar.TypeReg, data: []byte(data), mode: mode}
}
func linkE(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardE(name, target string) entry { return entry{name: name, typ: tar.TypeLink, link: target} }
func whiteoutE(name string) entry     { return entry{name: name, typ: tar.TypeReg, mode: 0o644} }

type layer struct {
	entries     []entry
	compression string // gzip (default), zstd or none
}

type image struct {
	layers []layer
	config ocispec.ImageConfig
}

var epoch = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

func tarBytes(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Devmajor: e.major, Devminor: e.minor, ModTime: epoch, Size: int64(len(e.data)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t *testing.T, raw []byte, how string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	switch how {
	case "none":
		return raw, ocispec.MediaTypeImageLayer
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw)
		zw.Close()
		return buf.Bytes(), ocispec.MediaTypeImageLayerZstd
	default:
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		return buf.Bytes(), ocispec.MediaTypeImageLayerGzip
	}
}

// writeLayout writes img as an OCI image layout at dir, tagged tag.
func writeLayout(t *testing.T, dir, tag string, img image) {
	t.Helper()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	cfg := ocispec.Image{
		Created:  &epoch,
		Author:   "berth unpack e2e",
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   img.config,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	for _, l := range img.layers {
		raw := tarBytes(t, l.entries)
		blob, mt := compress(t, raw, l.compression)
		m.Layers = append(m.Layers, put(mt, blob))
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(raw))
	}
	cb, _ := json.Marshal(cfg)
	m.Config = put(ocispec.MediaTypeImageConfig, cb)
	mb, _ := json.Marshal(m)
	md := put(ocispec.MediaTypeImageManifest, mb)
	md.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// push copies the layout's tag to the loopback registry as repo:tag and
// returns the reference; format "v2s2" pushes a Docker schema2 image.
func push(t *testing.T, layout, tag, repo, format string) string {
	t.Helper()
	ref := registry.Addr + "/" + repo + ":" + tag
	args := []string{"copy", "--quiet", "--dest-tls-verify=false"}
	if format != "" {
		args = append(args, "--format", format)
	}
	mustRun(t, "skopeo", append(args, "oci:"+layout+":"+tag, "docker://"+ref)...)
	return ref
}
