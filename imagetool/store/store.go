// Package store is berth-image's local image store: an OCI image layout
// (oci-layout, index.json, blobs/<alg>/<hex>) in which every blob is
// verified against its digest and size before it becomes visible, every
// write is atomic, and concurrent users coordinate with file locks.
//
// Besides the layout files the store root holds:
//
//	lock        flock: shared while pulling or reading, exclusive for gc
//	index.lock  flock: serialises read-modify-write of index.json
//	tmp/        in-progress blob downloads, each flock'ed by its writer
//	cache/      caches of other tools (the unpacker's layers/<alg>/<hex>)
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/killpoint"
)

// AnnotationRefName is where the image's name is recorded in index.json.
const AnnotationRefName = ocispec.AnnotationRefName

// Store is an OCI image layout on disk.
type Store struct {
	root string
	// Adopted is set when Open found an OCI layout that berth-image had
	// not used before (made by skopeo, umoci, …) and added its own files
	// (lock, index.lock, tmp/; later locks/ and cache/) to it.
	Adopted bool
}

// DefaultRoot is /var/lib/berth/images for root, else
// $XDG_DATA_HOME/berth/images (~/.local/share/berth/images).
func DefaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/berth/images"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "berth", "images")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "berth", "images")
}

// Open opens the store at root, creating an empty layout if there is none,
// and removes temp files abandoned by killed processes.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	s := &Store{root: abs}
	_, errLayout := os.Stat(s.path(ocispec.ImageLayoutFile))
	_, errTmp := os.Stat(s.path("tmp"))
	s.Adopted = errLayout == nil && errors.Is(errTmp, fs.ErrNotExist)
	for _, d := range []string{abs, s.path("blobs", "sha256"), s.path("tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.initLayout(); err != nil {
		return nil, err
	}
	s.cleanTemp(false)
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// initLayout writes oci-layout and an empty index.json when missing, and
// refuses a directory that holds some other layout version.
func (s *Store) initLayout() error {
	layoutPath := s.path(ocispec.ImageLayoutFile)
	b, err := os.ReadFile(layoutPath)
	switch {
	case err == nil:
		var l ocispec.ImageLayout
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("store %s: %s: %v", s.root, ocispec.ImageLayoutFile, err)
		}
		if l.Version != ocispec.ImageLayoutVersion {
			return fmt.Errorf("store %s: %s: unsupported imageLayoutVersion %q", s.root, ocispec.ImageLayoutFile, l.Version)
		}
	case errors.Is(err, fs.ErrNotExist):
		b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		if err := writeFileAtomic(layoutPath, b, ""); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	default:
		return fmt.Errorf("store: %w", err)
	}
	if _, err := os.Stat(s.path(ocispec.ImageIndexFile)); errors.Is(err, fs.ErrNotExist) {
		unlock, err := s.lockFile("index.lock", unix.LOCK_EX)
		if err != nil {
			return err
		}
		defer unlock()
		if _, err := os.Stat(s.path(ocispec.ImageIndexFile)); errors.Is(err, fs.ErrNotExist) {
			return s.writeIndex(emptyIndex(), "")
		}
	}
	return nil
}

// RLock takes the store lock shared: hold it while pulling into or reading
// from the store, so that gc cannot remove blobs not yet referenced.
func (s *Store) RLock() (unlock func(), err error) { return s.lockFile("lock", unix.LOCK_SH) }

// Lock takes the store lock exclusively (gc does), waiting for all
// holders of RLock to finish.
func (s *Store) Lock() (unlock func(), err error) { return s.lockFile("lock", unix.LOCK_EX) }

func (s *Store) lockFile(name string, how int) (func(), error) {
	f, err := os.OpenFile(s.path(name), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// BlobPath is where the blob d lives (whether or not it exists).
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v", d, err)
	}
	return s.path("blobs", d.Algorithm().String(), d.Encoded()), nil
}

// Has reports whether blob d is present with the given size (size < 0:
// any size). Blobs are verified when written, so presence is enough.
func (s *Store) Has(d digest.Digest, size int64) bool {
	p, err := s.BlobPath(d)
	if err != nil {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// ErrBlobNotFound is returned (wrapped) for a blob the store does not hold.
var ErrBlobNotFound = errors.New("blob not in store")

// OpenBlob opens blob d for reading.
func (s *Store) OpenBlob(d digest.Digest) (io.ReadCloser, error) {
	p, err := s.BlobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d, ErrBlobNotFound)
	}
	return f, err
}

// OpenDownload opens blob d for reading while it may still be being
// downloaded into the store: the temporary file of the download under way
// (see ResumeBlobWriter), else the stored blob once it was committed. What
// is read from a download is not verified and may be incomplete or, if
// the download starts over, out of date: the caller checks what it read
// against d itself.
func (s *Store) OpenDownload(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %v", d, err)
	}
	f, err := os.Open(s.path("tmp", d.Algorithm().String()+"-"+d.Encoded()+partialSuffix))
	if errors.Is(err, fs.ErrNotExist) { // committed (renamed) meanwhile, or given up
		f, err = os.Open(s.path("blobs", d.Algorithm().String(), d.Encoded()))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", d, ErrBlobNotFound)
		}
	}
	return f, err
}

// ReadBlob reads a small blob (manifest, index, config) into memory,
// refusing one over MaxManifestSize and checking its digest again, since
// these are parsed and trusted.
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	rc, err := s.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("blob %s: larger than %d bytes", d, MaxManifestSize)
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s: corrupt in store (content hashes to %s)", d, got)
	}
	return b, nil
}

// ReadJSON reads blob desc and decodes it into v.
func (s *Store) ReadJSON(desc ocispec.Descriptor, v any) error {
	b, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s (%s): %v", desc.Digest, desc.MediaType, err)
	}
	return nil
}

// Manifest reads the image manifest desc (OCI or Docker schema2).
func (s *Store) Manifest(desc ocispec.Descriptor) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if desc.MediaType != "" && !IsManifest(desc.MediaType) {
		return m, fmt.Errorf("blob %s: media type %s is not an image manifest", desc.Digest, desc.MediaType)
	}
	err := s.ReadJSON(desc, &m)
	return m, err
}

// Index reads the image index desc (OCI or Docker manifest list).
func (s *Store) Index(desc ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	if !IsIndex(desc.MediaType) {
		return idx, fmt.Errorf("blob %s: media type %s is not an image index", desc.Digest, desc.MediaType)
	}
	err := s.ReadJSON(desc, &idx)
	return idx, err
}

// Config reads the image config desc.
func (s *Store) Config(desc ocispec.Descriptor) (ocispec.Image, error) {
	var c ocispec.Image
	err := s.ReadJSON(desc, &c)
	return c, err
}

// PutBytes stores b as a blob of the given media type.
func (s *Store) PutBytes(mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return desc, s.PutBlob(desc, bytes.NewReader(b))
}

// PutBlob copies r into the store as blob desc, verifying digest and size.
func (s *Store) PutBlob(desc ocispec.Descriptor, r io.Reader) error {
	if s.Has(desc.Digest, desc.Size) {
		return nil
	}
	w, err := s.NewBlobWriter(desc)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return w.Commit()
}

// writeFileAtomic is WriteFileAtomic of a file others may read (0644).
func writeFileAtomic(path string, b []byte, step string) error {
	return WriteFileAtomic(path, b, 0o644, step)
}

// WriteFileAtomic writes b to path via a temp file named
// ".<name>.tmp-*" beside it, fsync and rename, then syncs the directory;
// the test hook may kill berth-image at step between the two.
func WriteFileAtomic(path string, b []byte, perm os.FileMode, step string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		if step != "" {
			killpoint.At(step)
		}
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tempGrace keeps cleanup away from temp files that were just created and
// not yet locked by their writer.
const tempGrace = 2 * time.Second

// partialKeep is how long Open keeps a resumable download.
const partialKeep = 24 * time.Hour

// cleanTemp removes temp files whose writer is gone: a live writer holds
// an flock on its file, so a file we can lock is abandoned. Resumable
// downloads are kept unless all is set (gc).
func (s *Store) cleanTemp(all bool) (freed int64) {
	dir := s.path("tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		// gc (all) holds the store lock exclusively and every writer of
		// tmp/ holds it shared: no file there can be a writer's that is
		// not yet locked, and the grace is not needed.
		if err != nil || (!all && time.Since(fi.ModTime()) < tempGrace) {
			continue
		}
		// Downloads a killed run left are kept for the next one to resume,
		// for a day; gc removes them at once.
		if !all && strings.HasSuffix(e.Name(), partialSuffix) && time.Since(fi.ModTime()) < partialKeep {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if os.Remove(p) == nil {
				freed += fi.Size()
			}
		}
		f.Close()
	}
	return freed
}

// emptyIndex is index.json with no images.
func emptyIndex() ocispec.Index {
	return ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
}

// syncBlobDirs fsyncs blobs/<alg>/ so that committed blobs survive a crash.
func (s *Store) syncBlobDirs() error {
	algs, err := os.ReadDir(s.path("blobs"))
	if err != nil {
		return err
	}
	for _, a := range algs {
		if a.IsDir() {
			if err := syncDir(s.path("blobs", a.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
