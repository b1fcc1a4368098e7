package pull

import (
	"encoding/json"
	"fmt"

	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ociLayerTypes maps Docker schema2 layer media types to OCI ones; the
// blobs are the same bytes.
var ociLayerTypes = map[string]string{
	"application/vnd.docker.image.rootfs.diff.tar.gzip": ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar":      ocispec.MediaTypeImageLayer,
}

// toOCI rewrites a Docker schema2 image manifest with OCI media types,
// referring to the same config and layer blobs, as skopeo does when it
// copies such an image into an OCI layout: skopeo and umoci read only OCI
// manifests from a layout. The digest then differs from the registry's.
func toOCI(mf registry.Manifest) (registry.Manifest, error) {
	if mf.Desc.MediaType != store.MediaTypeDockerManifest {
		return mf, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mf.Raw, &m); err != nil {
		return mf, fmt.Errorf("manifest %s: %v", mf.Desc.Digest, err)
	}
	out := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config:      ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: m.Config.Digest, Size: m.Config.Size},
		Annotations: m.Annotations,
	}
	for _, l := range m.Layers {
		if t, ok := ociLayerTypes[l.MediaType]; ok {
			l.MediaType = t
		}
		out.Layers = append(out.Layers, l)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return mf, err
	}
	return registry.Manifest{Raw: raw, Desc: ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)), Platform: mf.Desc.Platform,
	}}, nil
}
