package build

import (
	"encoding/json"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/imagetool/store"
)

// Image is a stored image being changed. The config is kept as raw JSON
// fields so that what ocispec.Image does not know (Docker's Healthcheck,
// Shell, container_config...) survives.
type Image struct {
	s        *store.Store
	entry    ocispec.Descriptor // the base image manifest (with its platform)
	manifest ocispec.Manifest
	config   map[string]json.RawMessage
	// Config is the "config" object of the image config, editable.
	Config  map[string]json.RawMessage
	diffIDs []digest.Digest
	history []ocispec.History
	layers  []ocispec.Descriptor
	author  string
}

// Open reads the image manifest desc of s.
func Open(s *store.Store, desc ocispec.Descriptor) (*Image, error) {
	m, err := s.Manifest(desc)
	if err != nil {
		return nil, err
	}
	raw, err := s.ReadBlob(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	img := &Image{s: s, entry: desc, manifest: m, Config: map[string]json.RawMessage{}}
	if err := json.Unmarshal(raw, &img.config); err != nil {
		return nil, fmt.Errorf("config %s: %v", m.Config.Digest, err)
	}
	var typed ocispec.Image
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, fmt.Errorf("config %s: %v", m.Config.Digest, err)
	}
	if len(typed.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers but config %s has %d diff_ids", desc.Digest, len(m.Layers), m.Config.Digest, len(typed.RootFS.DiffIDs))
	}
	if c := img.config["config"]; len(c) > 0 && string(c) != "null" {
		if err := json.Unmarshal(c, &img.Config); err != nil {
			return nil, fmt.Errorf("config %s: config: %v", m.Config.Digest, err)
		}
	}
	img.diffIDs, img.history, img.author = typed.RootFS.DiffIDs, typed.History, typed.Author
	for _, l := range m.Layers {
		l.MediaType = ociLayerType(l.MediaType)
		img.layers = append(img.layers, l)
	}
	return img, nil
}

// Manifest is the base manifest.
func (img *Image) Manifest() ocispec.Manifest { return img.manifest }

// ociLayerType gives Docker layer media types their OCI names (the same
// bytes), since the new manifest is an OCI one.
func ociLayerType(mt string) string {
	switch mt {
	case "application/vnd.docker.image.rootfs.diff.tar.gzip":
		return ocispec.MediaTypeImageLayerGzip
	case "application/vnd.docker.image.rootfs.diff.tar":
		return ocispec.MediaTypeImageLayer
	case "application/vnd.docker.image.rootfs.diff.tar.zstd":
		return ocispec.MediaTypeImageLayerZstd
	case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	}
	return mt
}

// Set replaces field of the config object (nil removes it).
func (img *Image) Set(field string, v any) error {
	if v == nil {
		delete(img.Config, field)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	img.Config[field] = b
	return nil
}

// Get decodes field of the config object into v (left alone if unset).
func (img *Image) Get(field string, v any) error {
	if b, ok := img.Config[field]; ok && string(b) != "null" {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("config.%s: %v", field, err)
		}
	}
	return nil
}

// AddLayer appends l with its history entry.
func (img *Image) AddLayer(l Layer, h ocispec.History) {
	img.layers = append(img.layers, l.Desc)
	img.diffIDs = append(img.diffIDs, l.DiffID)
	img.history = append(img.history, h)
}

// AddHistory appends a history entry of a change without a layer.
func (img *Image) AddHistory(h ocispec.History) {
	h.EmptyLayer = true
	img.history = append(img.history, h)
}

// SetAuthor sets the image's author.
func (img *Image) SetAuthor(a string) { img.author = a }

// Commit writes the new config and manifest and records the image as
// name (with the base's platform); it returns the new manifest.
func (img *Image) Commit(name string, created time.Time) (ocispec.Descriptor, error) {
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err == nil {
			img.config[k] = b
		}
		return err
	}
	created = created.UTC()
	for k, v := range map[string]any{
		"created": created,
		"rootfs":  ocispec.RootFS{Type: "layers", DiffIDs: img.diffIDs},
		"history": img.history,
		"config":  img.Config,
	} {
		if err := set(k, v); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if img.author != "" {
		if err := set("author", img.author); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	cb, err := json.Marshal(img.config)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cdesc, err := img.s.PutBytes(ocispec.MediaTypeImageConfig, cb)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{
		Versioned: specsgo.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cdesc,
		Layers:    img.layers,
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc, err := img.s.PutBytes(ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc.Platform = img.entry.Platform
	if mdesc.Platform == nil {
		var p ocispec.Platform
		if json.Unmarshal(img.config["os"], &p.OS) == nil && json.Unmarshal(img.config["architecture"], &p.Architecture) == nil && p.OS != "" {
			json.Unmarshal(img.config["variant"], &p.Variant)
			mdesc.Platform = &p
		}
	}
	if err := img.s.Tag(name, mdesc); err != nil {
		return mdesc, err
	}
	return mdesc, nil
}
