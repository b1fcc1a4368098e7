package unpack

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Layer media types, OCI and Docker names.
const (
	MediaTypeTar         = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeTarGzip     = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeTarZstd     = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeDockerTar   = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerGzip  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerZstd  = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	mediaTypeOCIForeign  = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	mediaTypeDockerForgn = "application/vnd.docker.image.rootfs.foreign.diff.tar"
)

type compression int

const (
	compressionNone compression = iota
	compressionGzip
	compressionZstd
)

func compressionOf(mediaType string) (compression, error) {
	switch mediaType {
	case MediaTypeTar, MediaTypeDockerTar, mediaTypeOCIForeign:
		return compressionNone, nil
	case MediaTypeTarGzip, MediaTypeDockerGzip, mediaTypeOCIForeign + "+gzip", mediaTypeDockerForgn + ".gzip":
		return compressionGzip, nil
	case MediaTypeTarZstd, MediaTypeDockerZstd, mediaTypeOCIForeign + "+zstd":
		return compressionZstd, nil
	}
	return 0, fmt.Errorf("unsupported layer media type %q", mediaType)
}

// decompress wraps r in the decoder for mediaType. The returned close
// releases the decoder's resources (zstd keeps goroutines).
func decompress(r io.Reader, mediaType string) (io.Reader, func(), error) {
	c, err := compressionOf(mediaType)
	if err != nil {
		return nil, nil, err
	}
	switch c {
	case compressionGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err // already says "gzip: ..."
		}
		return zr, func() { zr.Close() }, nil
	case compressionZstd:
		// One goroutine per decoder: layers are already decoded in parallel.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return r, func() {}, nil
}
