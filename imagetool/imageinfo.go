package main

import (
	"time"

	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageInfo summarises one image, stored or in a registry, for list and
// inspect.
type imageInfo struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Platforms lists what an index offers (indexes only).
	Platforms []string `json:"platforms,omitempty"`
	// ManifestDigest is the image manifest chosen from an index.
	ManifestDigest string            `json:"manifestDigest,omitempty"`
	Platform       string            `json:"platform,omitempty"`
	Size           int64             `json:"size"`
	Created        *time.Time        `json:"created,omitempty"`
	Manifest       *ocispec.Manifest `json:"manifest,omitempty"`
	Config         *ocispec.Image    `json:"config,omitempty"`
}

// describe reads the image behind entry, selecting plat from an index.
// Size counts manifest, config and layers.
func describe(s *store.Store, entry ocispec.Descriptor, plat ocispec.Platform) (imageInfo, error) {
	info := imageInfo{Name: store.Name(entry), Digest: entry.Digest.String(), MediaType: entry.MediaType, Size: entry.Size}
	if store.IsIndex(entry.MediaType) {
		if idx, err := s.Index(entry); err == nil {
			info.Platforms = platforms(idx)
		}
	}
	desc, err := s.ResolveImage(entry.Digest.String(), plat)
	if err != nil {
		return info, err
	}
	m, err := s.Manifest(desc)
	if err != nil {
		return info, err
	}
	c, err := s.Config(m.Config)
	if err != nil {
		return info, err
	}
	info.fill(desc, m, c)
	return info, nil
}

// fill adds the image manifest desc (m, with config c) to info.
func (info *imageInfo) fill(desc ocispec.Descriptor, m ocispec.Manifest, c ocispec.Image) {
	if desc.Digest.String() != info.Digest {
		info.Size += desc.Size
		info.ManifestDigest = desc.Digest.String()
	}
	info.Size += m.Config.Size
	for _, l := range m.Layers {
		info.Size += l.Size
	}
	info.Manifest, info.Config, info.Created = &m, &c, c.Created
	info.Platform = platform.String(&c.Platform)
}

// platforms lists the platforms of the images of an index, leaving out
// attestation manifests.
func platforms(idx ocispec.Index) []string {
	out := []string{}
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == "unknown" {
			continue
		}
		out = append(out, platform.String(m.Platform))
	}
	return out
}
