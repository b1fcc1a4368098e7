package unpack

import (
	"bufio"
	"bytes"
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

// sniff tells the compression from the first bytes, for a layer whose
// media type is not known yet (extracted while the manifest is fetched).
func sniff(br *bufio.Reader) compression {
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return compressionGzip
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compressionZstd
	}
	return compressionNone
}

// decompress wraps r in the decoder for mediaType ("": by the content).
// The returned close releases the decoder's resources (zstd keeps
// goroutines).
func decompress(r io.Reader, mediaType string) (io.Reader, func(), error) {
	var c compression
	if mediaType == "" {
		br := bufio.NewReaderSize(r, 64<<10)
		r, c = br, sniff(br)
	} else {
		var err error
		if c, err = compressionOf(mediaType); err != nil {
			return nil, nil, err
		}
	}
	switch c {
	case compressionGzip:
		if path := igzipPath(); path != "" {
			if zr, err := newIgzipReader(r, path); err == nil {
				return zr, zr.Close, nil
			}
			// Not startable here: the Go decoder does it.
		}
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

// Decompress wraps r in the decoder for the layer media type mediaType
// ("": told from the content); the returned func releases the decoder.
func Decompress(r io.Reader, mediaType string) (io.Reader, func(), error) {
	return decompress(r, mediaType)
}
