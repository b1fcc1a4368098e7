package main

import (
	"time"

	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageInfo summarises one stored image for list and inspect.
type imageInfo struct {
	Name      string            `json:"name"`
	Digest    string            `json:"digest"`
	MediaType string            `json:"mediaType"`
	Platform  string            `json:"platform,omitempty"`
	Size      int64             `json:"size"`
	Created   *time.Time        `json:"created,omitempty"`
	Manifest  *ocispec.Manifest `json:"manifest,omitempty"`
	Config    *ocispec.Image    `json:"config,omitempty"`
}

// describe reads the image behind entry, selecting plat from an index.
// Size counts manifest, config and layers.
func describe(s *store.Store, entry ocispec.Descriptor, plat ocispec.Platform) (imageInfo, error) {
	info := imageInfo{Name: store.Name(entry), Digest: entry.Digest.String(), MediaType: entry.MediaType, Size: entry.Size}
	desc, err := s.ResolveImage(entry.Digest.String(), plat)
	if err != nil {
		return info, err
	}
	if desc.Digest != entry.Digest {
		info.Size += desc.Size
	}
	m, err := s.Manifest(desc)
	if err != nil {
		return info, err
	}
	c, err := s.Config(m.Config)
	if err != nil {
		return info, err
	}
	info.Size += m.Config.Size
	for _, l := range m.Layers {
		info.Size += l.Size
	}
	info.Manifest, info.Config, info.Created = &m, &c, c.Created
	p := c.Platform
	info.Platform = p.OS + "/" + p.Architecture
	if p.Variant != "" {
		info.Platform += "/" + p.Variant
	}
	return info, nil
}
