package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// NewTempBlob creates a temp file in tmp/ for a blob whose digest is known
// only once it is written (a layer being built). It is flock'ed like a
// BlobWriter's, so that cleanTemp leaves it alone while it is open.
func (s *Store) NewTempBlob() (*os.File, error) {
	f, err := os.CreateTemp(s.path("tmp"), "new-*")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("store: lock temp file: %w", err)
	}
	return f, nil
}

// AdoptBlob makes the temp file f (from NewTempBlob, whose content the
// caller hashed as it wrote it) the blob desc: synced and renamed into
// blobs/. f is closed, and removed on failure or when the blob exists.
func (s *Store) AdoptBlob(f *os.File, desc ocispec.Descriptor) error {
	defer f.Close()
	dst, err := s.BlobPath(desc.Digest)
	if err == nil && s.Has(desc.Digest, desc.Size) {
		return os.Remove(f.Name())
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o755)
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		if rerr := os.Remove(f.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("blob %s: %w (and removing %s: %v)", desc.Digest, err, f.Name(), rerr)
		}
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return nil
}
