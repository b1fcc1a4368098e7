package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blobs are verified when they are written, and not again when read
// (large layers would be hashed on every unpack). These functions hash
// them again on request: `verify`, and `pull --repair`, which replaces
// what fails.

// ErrBlobCorrupt is returned (wrapped) for a stored blob whose content no
// longer matches its digest or size.
var ErrBlobCorrupt = errors.New("corrupt in store")

// CheckBlob hashes the stored blob d again; size < 0 means any size.
func (s *Store) CheckBlob(d digest.Digest, size int64) error {
	rc, err := s.OpenBlob(d)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := d.Algorithm().Hash()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("blob %s: %w: %d bytes, want %d", d, ErrBlobCorrupt, n, size)
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return fmt.Errorf("blob %s: %w: content hashes to %s", d, ErrBlobCorrupt, got)
	}
	return nil
}

// DropCorrupt removes blob d if it fails CheckBlob, so that it can be
// fetched again; it reports whether it did. It holds the blob's lock, so a
// download of the same blob by another process is not disturbed.
func (s *Store) DropCorrupt(ctx context.Context, d digest.Digest, size int64) (bool, error) {
	unlock, err := s.LockBlob(ctx, d)
	if err != nil {
		return false, err
	}
	defer unlock()
	err = s.CheckBlob(d, size)
	if err == nil || errors.Is(err, ErrBlobNotFound) {
		return false, nil
	}
	p, _ := s.BlobPath(d)
	if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return false, fmt.Errorf("removing corrupt blob %s: %w", d, rerr)
	}
	return true, nil
}

// BlobCheck is the outcome of hashing one blob of an image again.
type BlobCheck struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Role is "index", "manifest", "config" or "layer".
	Role string `json:"role"`
	// Error is empty when the blob verifies.
	Error string `json:"error,omitempty"`
}

// Verify hashes again every blob of the image entry desc: an index and
// the manifests of it that are stored, each manifest's config and layers.
// The children of a blob that fails are not reached.
func (s *Store) Verify(desc ocispec.Descriptor) []BlobCheck {
	var out []BlobCheck
	seen := map[digest.Digest]bool{}
	check := func(d ocispec.Descriptor, role string) bool {
		if seen[d.Digest] {
			return false
		}
		seen[d.Digest] = true
		c := BlobCheck{Digest: d.Digest, Size: d.Size, Role: role}
		if err := s.CheckBlob(d.Digest, d.Size); err != nil {
			c.Error = err.Error()
		}
		out = append(out, c)
		return c.Error == ""
	}
	var walk func(d ocispec.Descriptor, depth int)
	walk = func(d ocispec.Descriptor, depth int) {
		switch {
		case IsIndex(d.MediaType) && depth < 8:
			if !check(d, "index") {
				return
			}
			idx, err := s.Index(d)
			if err != nil {
				return
			}
			for _, m := range idx.Manifests {
				if s.Has(m.Digest, -1) { // platforms not pulled are not missing
					walk(m, depth+1)
				}
			}
		default:
			if !check(d, "manifest") {
				return
			}
			m, err := s.Manifest(d)
			if err != nil {
				return
			}
			check(m.Config, "config")
			for _, l := range m.Layers {
				check(l, "layer")
			}
		}
	}
	walk(desc, 0)
	return out
}
