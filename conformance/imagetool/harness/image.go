package harness

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"time"

	"github.com/berthproject/berth/imagetool/store"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one entry of a test layer.
type File struct {
	Path string
	Data []byte
	Mode int64
	// Link makes the entry a symlink to Link.
	Link string
}

// Layer is a list of files and how to compress them: "gzip" (default),
// "zstd" or "none".
type Layer struct {
	Files       []File
	Compression string
}

// Image describes a test image.
type Image struct {
	OS, Arch, Variant string
	Layers            []Layer
	// Docker makes a Docker schema2 manifest and config instead of OCI.
	Docker bool
}

// BusyboxLayer holds the host's static busybox as /bin/busybox and
// /bin/sh.
func BusyboxLayer() (Layer, error) {
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return Layer{}, fmt.Errorf("busybox-static: %w", err)
	}
	return Layer{Files: []File{
		{Path: "bin/busybox", Data: b, Mode: 0o755},
		{Path: "bin/sh", Link: "busybox"},
	}}, nil
}

// words make generated files compress like text and code do.
var words = []string{"the", "container", "image", "layer", "func", "return", "error", "config", "if", "else", "for", "range", "struct", "string", "int64", "package", "import", "0x7f", "nil", "true", "false", "value", "berth", "registry", "digest", "{", "}", "(", ")", ";", "\n", "\t"}

// GeneratedFiles makes n files of about size bytes each, deterministic
// for a seed: half text-like (compresses ~4x), half random (does not),
// roughly how binaries and sources mix in real images.
func GeneratedFiles(dir string, seed int64, n, size int) []File {
	rng := rand.New(rand.NewSource(seed))
	files := make([]File, n)
	for i := range files {
		var b bytes.Buffer
		for b.Len() < size/2 {
			b.WriteString(words[rng.Intn(len(words))])
			b.WriteByte(' ')
		}
		rnd := make([]byte, size-b.Len())
		rng.Read(rnd)
		b.Write(rnd)
		files[i] = File{Path: fmt.Sprintf("%s/file-%d-%d", dir, seed, i), Data: b.Bytes(), Mode: 0o644}
	}
	return files
}

// BuildImage writes img's layers, config and manifest into s and returns
// the manifest descriptor with its platform set.
func BuildImage(s *store.Store, img Image) (ocispec.Descriptor, error) {
	layerType := map[string]string{
		"gzip": ocispec.MediaTypeImageLayerGzip, "": ocispec.MediaTypeImageLayerGzip,
		"zstd": ocispec.MediaTypeImageLayerZstd, "none": ocispec.MediaTypeImageLayer,
	}
	configType, manifestType := ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageManifest
	if img.Docker {
		configType, manifestType = store.MediaTypeDockerConfig, store.MediaTypeDockerManifest
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: img.OS, Architecture: img.Arch, Variant: img.Variant},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manifestType}
	for i, l := range img.Layers {
		mt, ok := layerType[l.Compression]
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("layer %d: unknown compression %q", i, l.Compression)
		}
		if img.Docker && mt == ocispec.MediaTypeImageLayerGzip {
			mt = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		}
		blob, diffID, err := buildLayer(l)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %d: %w", i, err)
		}
		desc, err := s.PutBytes(mt, blob)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m.Layers = append(m.Layers, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("berth test layer %d", i)})
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if m.Config, err = s.PutBytes(configType, cb); err != nil {
		return ocispec.Descriptor{}, err
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := s.PutBytes(manifestType, mb)
	desc.Platform = &cfg.Platform
	return desc, err
}

// BuildIndex writes an index (Docker manifest list when docker is set)
// of the given manifests into s.
func BuildIndex(s *store.Store, manifests []ocispec.Descriptor, docker bool) (ocispec.Descriptor, error) {
	mt := ocispec.MediaTypeImageIndex
	if docker {
		mt = store.MediaTypeDockerManifestList
	}
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mt, Manifests: manifests})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return s.PutBytes(mt, b)
}

// buildLayer returns the compressed tar and the digest of the plain tar.
func buildLayer(l Layer) ([]byte, digest.Digest, error) {
	var out bytes.Buffer
	var zw io.WriteCloser
	switch l.Compression {
	case "", "gzip":
		zw, _ = gzip.NewWriterLevel(&out, gzip.BestSpeed)
	case "zstd":
		var err error
		if zw, err = zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest)); err != nil {
			return nil, "", err
		}
	default:
		zw = nopCloser{&out}
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, h))
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dirs := map[string]bool{}
	for _, f := range l.Files {
		var missing []string // parents first
		for d := parentDir(f.Path); d != "" && !dirs[d]; d = parentDir(d) {
			dirs[d] = true
			missing = append([]string{d}, missing...)
		}
		for _, d := range missing {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime}); err != nil {
				return nil, "", err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: mtime}
		if f.Link != "" {
			hdr = &tar.Header{Typeflag: tar.TypeSymlink, Name: f.Path, Linkname: f.Link, Mode: 0o777, ModTime: mtime}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if f.Link == "" {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), digest.NewDigest(digest.SHA256, h), nil
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return ""
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
