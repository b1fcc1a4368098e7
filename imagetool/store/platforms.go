package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/berthproject/berth/imagetool/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Several platforms of one image can be stored under one name: index.json
// then has one entry per platform, each with its `platform`, as in an
// image index. An entry without a platform (a whole index, or an image
// from another tool's layout) stands for every platform of the name.

// replaces reports whether a new entry recorded under a name replaces an
// old one of the same name: an entry without platform replaces them all,
// one with a platform replaces the same platform and platform-less ones.
func replaces(newEntry, old *ocispec.Platform) bool {
	if newEntry == nil || old == nil {
		return true
	}
	return newEntry.OS == old.OS && newEntry.Architecture == old.Architecture && newEntry.Variant == old.Variant
}

// ResolvePlatform finds the index.json entry for ref (any spelling, see
// Resolve), choosing among entries of several platforms the one for plat,
// else a platform-less one (an index to select from). When none fits, the
// error lists the platforms stored under the name.
func (s *Store) ResolvePlatform(ref string, plat ocispec.Platform) (ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	match := matcher(idx.Manifests, ref)
	var cands []ocispec.Descriptor
	for i := len(idx.Manifests) - 1; i >= 0; i-- { // newest first
		if match[i] {
			cands = append(cands, idx.Manifests[i])
		}
	}
	if len(cands) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, ErrImageNotFound)
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	var withPlatform []ocispec.Descriptor
	for _, c := range cands {
		if c.Platform == nil {
			return c, nil
		}
		withPlatform = append(withPlatform, c)
	}
	d, err := platform.Select(ocispec.Index{Manifests: withPlatform}, plat)
	if err != nil {
		return d, fmt.Errorf("%s: among the platforms stored under this name, %w (choose with --platform)", ref, err)
	}
	return d, nil
}

// RemovePlatform deletes the entries ref resolves to whose platform is
// plat (and platform-less ones only when nothing else matches), and
// returns them; Remove deletes every platform.
func (s *Store) RemovePlatform(ref string, plat ocispec.Platform) ([]ocispec.Descriptor, error) {
	var removed []ocispec.Descriptor
	err := s.updateIndex(func(idx *ocispec.Index) error {
		match := matcher(idx.Manifests, ref)
		var stored []string
		kept := idx.Manifests[:0]
		for i, m := range idx.Manifests {
			if match[i] {
				stored = append(stored, platform.String(m.Platform))
			}
			if match[i] && m.Platform != nil && platform.Matches(plat, m.Platform) {
				removed = append(removed, m)
			} else {
				kept = append(kept, m)
			}
		}
		idx.Manifests = kept
		if len(removed) == 0 {
			if len(stored) == 0 {
				return fmt.Errorf("%s: %w", ref, ErrImageNotFound)
			}
			sort.Strings(stored)
			return fmt.Errorf("%s: %w for platform %s (stored: %s)", ref, ErrImageNotFound, platform.String(&plat), strings.Join(stored, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, s.runRemoved(removed)
}

// Entries returns every index.json entry ref resolves to (all platforms
// stored under its name).
func (s *Store) Entries(ref string) ([]ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	match := matcher(idx.Manifests, ref)
	var out []ocispec.Descriptor
	for i, m := range idx.Manifests {
		if match[i] {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", ref, ErrImageNotFound)
	}
	return out, nil
}
