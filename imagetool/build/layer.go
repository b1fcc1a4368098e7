// Package build makes new images from stored ones: a layer of what
// changed in a bundle (repack), files added as a layer (insert), and a new
// config (config), each as a new manifest in the store.
package build

import (
	"archive/tar"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/imagetool/store"
)

// Compression of a new layer.
type Compression string

const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Gzip, Zstd, None:
		return c, nil
	}
	return "", fmt.Errorf("--compress %q: want gzip, zstd or none", s)
}

func (c Compression) mediaType() string {
	switch c {
	case Zstd:
		return ocispec.MediaTypeImageLayerZstd
	case None:
		return ocispec.MediaTypeImageLayer
	}
	return ocispec.MediaTypeImageLayerGzip
}

// Layer is a layer written into the store.
type Layer struct {
	Desc   ocispec.Descriptor
	DiffID digest.Digest
}

// LayerWriter writes a tar layer, compressed, into a blob of the store,
// hashing the compressed blob and the tar stream (the diff_id) as it goes.
type LayerWriter struct {
	s        *store.Store
	c        Compression
	f        *os.File
	blobHash digest.Digester
	tarHash  digest.Digester
	size     countWriter
	zw       io.WriteCloser
	tw       *tar.Writer
	done     bool
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// NewLayerWriter starts a layer in s.
func NewLayerWriter(s *store.Store, c Compression) (*LayerWriter, error) {
	f, err := s.NewTempBlob()
	if err != nil {
		return nil, err
	}
	w := &LayerWriter{s: s, c: c, f: f, blobHash: digest.Canonical.Digester(), tarHash: digest.Canonical.Digester()}
	blob := io.MultiWriter(f, w.blobHash.Hash(), &w.size)
	switch c {
	case Zstd:
		zw, err := zstd.NewWriter(blob)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.zw = zw
	case None:
		w.zw = nopCloser{blob}
	default:
		w.zw = gzip.NewWriter(blob)
	}
	w.tw = tar.NewWriter(io.MultiWriter(w.zw, w.tarHash.Hash()))
	return w, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Add writes one entry; content is read for regular files with a size.
func (w *LayerWriter) Add(hdr *tar.Header, content io.Reader) error {
	hdr.Format = tar.FormatPAX
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		n, err := io.Copy(w.tw, content)
		if err != nil {
			return fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
		if n != hdr.Size {
			return fmt.Errorf("layer entry %s: %d bytes read, %d expected (file changed while being added)", hdr.Name, n, hdr.Size)
		}
	}
	return nil
}

// Commit finishes the layer and stores it.
func (w *LayerWriter) Commit() (Layer, error) {
	if err := w.tw.Close(); err != nil {
		w.Close()
		return Layer{}, err
	}
	if err := w.zw.Close(); err != nil {
		w.Close()
		return Layer{}, err
	}
	w.done = true
	l := Layer{
		Desc:   ocispec.Descriptor{MediaType: w.c.mediaType(), Digest: w.blobHash.Digest(), Size: w.size.n},
		DiffID: w.tarHash.Digest(),
	}
	return l, w.s.AdoptBlob(w.f, l.Desc)
}

// Close discards an uncommitted layer.
func (w *LayerWriter) Close() {
	if !w.done {
		w.done = true
		w.f.Close()
		os.Remove(w.f.Name())
	}
}
