package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	godigest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutWriter writes a minimal OCI image layout; errors are kept for finish.
type layoutWriter struct {
	dir string
	err error
}

func (w *layoutWriter) blob(mediaType string, data []byte) ocispec.Descriptor {
	sum := sha256.Sum256(data)
	hexd := hex.EncodeToString(sum[:])
	path := filepath.Join(w.dir, "blobs", "sha256", hexd)
	if w.err == nil {
		w.err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if w.err == nil {
		w.err = os.WriteFile(path, data, 0o644)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: godigest.NewDigestFromEncoded(godigest.SHA256, hexd), Size: int64(len(data))}
}

func (w *layoutWriter) finish(manifest ocispec.Descriptor) error {
	if w.err != nil {
		return w.err
	}
	idx, _ := json.Marshal(ocispec.Index{
		Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{manifest},
	})
	if err := os.WriteFile(filepath.Join(w.dir, "index.json"), idx, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
