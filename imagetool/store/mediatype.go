package store

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// Docker media types that the store accepts next to the OCI ones.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// MaxManifestSize bounds manifests, indexes and configs read into memory;
// the distribution registry refuses larger manifests too.
const MaxManifestSize = 4 << 20

// IsIndex reports whether mt is an OCI index or Docker manifest list.
func IsIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifest reports whether mt is an OCI or Docker schema2 image manifest.
func IsManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsSchema1 reports whether mt is the retired Docker schema1 format.
func IsSchema1(mt string) bool {
	return mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1Signed || mt == "application/json"
}
