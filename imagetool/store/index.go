package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/berthproject/berth/imagetool/killpoint"
	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ErrImageNotFound is returned (wrapped) when no image matches a reference.
var ErrImageNotFound = errors.New("image not in store")

// readIndex reads index.json.
func (s *Store) readIndex() (ocispec.Index, error) {
	var idx ocispec.Index
	b, err := os.ReadFile(s.path(ocispec.ImageIndexFile))
	if err != nil {
		return idx, fmt.Errorf("store: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("store %s: %v", s.path(ocispec.ImageIndexFile), err)
	}
	return idx, nil
}

func (s *Store) writeIndex(idx ocispec.Index, step string) error {
	base := emptyIndex()
	base.Manifests = idx.Manifests
	if base.Manifests == nil {
		base.Manifests = []ocispec.Descriptor{}
	}
	base.Annotations = idx.Annotations
	b, err := json.MarshalIndent(base, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path(ocispec.ImageIndexFile), append(b, '\n'), step)
}

// updateIndex applies fn to index.json under the index lock.
func (s *Store) updateIndex(fn func(*ocispec.Index) error) error {
	unlock, err := s.lockFile("index.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(&idx); err != nil {
		return err
	}
	if err := s.writeIndex(idx, killpoint.IndexTemp); err != nil {
		return err
	}
	killpoint.At(killpoint.IndexWritten)
	return nil
}

// Images lists the entries of index.json. Entries without a name are
// included with an empty name.
func (s *Store) Images() ([]ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	return idx.Manifests, err
}

// Name returns the recorded name of an index.json entry.
func Name(desc ocispec.Descriptor) string { return desc.Annotations[AnnotationRefName] }

// Tag records desc under name, replacing the image of that name and the
// same platform (see replaces: desc.Platform keeps other platforms). The
// blob desc (and everything it references) must already be in the store.
func (s *Store) Tag(name string, desc ocispec.Descriptor) error {
	if !s.Has(desc.Digest, desc.Size) {
		return fmt.Errorf("tag %s: manifest %s: %w", name, desc.Digest, ErrBlobNotFound)
	}
	// Commit renames blobs into place without syncing the directory (one
	// sync here covers them all): make the renames durable before
	// index.json refers to them.
	if err := s.syncBlobDirs(); err != nil {
		return fmt.Errorf("tag %s: %w", name, err)
	}
	entry := ocispec.Descriptor{
		MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size,
		Platform: desc.Platform, ArtifactType: desc.ArtifactType,
		Annotations: map[string]string{AnnotationRefName: name},
	}
	return s.updateIndex(func(idx *ocispec.Index) error {
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if Name(m) != name || !replaces(desc.Platform, m.Platform) {
				kept = append(kept, m)
			}
		}
		idx.Manifests = append(kept, entry)
		return nil
	})
}

// Remove deletes the index.json entries that ref resolves to and returns
// them; their blobs stay until gc. Registered remove hooks run after.
func (s *Store) Remove(ref string) ([]ocispec.Descriptor, error) {
	var removed []ocispec.Descriptor
	err := s.updateIndex(func(idx *ocispec.Index) error {
		match := matcher(idx.Manifests, ref)
		kept := idx.Manifests[:0]
		for i, m := range idx.Manifests {
			if match[i] {
				removed = append(removed, m)
			} else {
				kept = append(kept, m)
			}
		}
		idx.Manifests = kept
		if len(removed) == 0 {
			return fmt.Errorf("%s: %w", ref, ErrImageNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, s.runRemoved(removed)
}

// runRemoved runs the hooks' Removed for entries taken out of index.json.
func (s *Store) runRemoved(removed []ocispec.Descriptor) error {
	for _, h := range hooks() {
		if h.Removed == nil {
			continue
		}
		for _, d := range removed {
			if err := h.Removed(s, d); err != nil {
				return fmt.Errorf("%s: after removing %s: %w", h.Name, Name(d), err)
			}
		}
	}
	return nil
}

// Resolve finds the index.json entry for ref, which may be the name as
// recorded ("latest" in a skopeo-made layout), any spelling of an image
// reference ("alpine" for docker.io/library/alpine:latest), a manifest
// digest, or name@digest.
func (s *Store) Resolve(ref string) (ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	match := matcher(idx.Manifests, ref)
	for i := len(idx.Manifests) - 1; i >= 0; i-- {
		if match[i] {
			return idx.Manifests[i], nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, ErrImageNotFound)
}

// matcher marks the entries of ms that ref names (see Resolve). An exact
// name match wins over a normalised one, so that "latest" in an oci: dir
// does not also match docker.io/library/latest.
func matcher(ms []ocispec.Descriptor, ref string) []bool {
	match := make([]bool, len(ms))
	exact := false
	for i, m := range ms {
		if Name(m) == ref {
			match[i], exact = true, true
		}
	}
	if exact {
		return match
	}
	if d, err := digest.Parse(ref); err == nil {
		for i, m := range ms {
			match[i] = m.Digest == d
		}
		return match
	}
	r, err := reference.Parse(ref, false)
	if err != nil {
		return match
	}
	want := r.StoreName()
	for i, m := range ms {
		switch {
		case r.Digest != "" && m.Digest != r.Digest:
		case Name(m) == want:
			match[i] = true
		case r.Tag == "" && strings.HasPrefix(Name(m), r.Name()+":"):
			match[i] = true // name@digest matches any tag of that image
		}
	}
	return match
}

// ResolveImage resolves ref to an image manifest, choosing the manifest
// for plat when ref names an index.
func (s *Store) ResolveImage(ref string, plat ocispec.Platform) (ocispec.Descriptor, error) {
	desc, err := s.ResolvePlatform(ref, plat)
	if err != nil {
		return desc, err
	}
	for depth := 0; IsIndex(desc.MediaType); depth++ {
		if depth > 4 {
			return desc, fmt.Errorf("%s: image indexes nested too deeply", ref)
		}
		idx, err := s.Index(desc)
		if err != nil {
			return desc, err
		}
		if desc, err = platform.Select(idx, plat); err != nil {
			return desc, fmt.Errorf("%s: %w", ref, err)
		}
	}
	if !IsManifest(desc.MediaType) {
		return desc, fmt.Errorf("%s: unsupported media type %s", ref, desc.MediaType)
	}
	if !s.Has(desc.Digest, desc.Size) {
		return desc, fmt.Errorf("%s: manifest %s: %w", ref, desc.Digest, ErrBlobNotFound)
	}
	return desc, nil
}
