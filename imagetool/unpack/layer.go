package unpack

import (
	"archive/tar"
	"context"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
)

// Layer is one layer of an image as its manifest and config describe it.
type Layer struct {
	Digest    digest.Digest // of the blob as stored (compressed)
	MediaType string        // "": told from the content (for Cache.Ensure only)
	DiffID    digest.Digest // of the uncompressed tar, from rootfs.diff_ids ("": not checked, only computed)
	// Open returns the blob's content.
	Open func() (io.ReadCloser, error)
	// Unverified: what Open returns was not checked against Digest (it
	// is read from a download under way, see Store.OpenDownload). It is
	// hashed as it is read, to its end, and the layer fails unless it
	// matches Digest.
	Unverified bool
}

// ApplyLayers applies layers, in order, to the existing directory rootfs.
// Each layer's uncompressed content is checked against its DiffID; a
// mismatch, a refused entry or a limit reached is an error naming the
// layer (and the entry), and rootfs is then left half-written: callers
// build into a temporary directory (see Unpack).
func ApplyLayers(ctx context.Context, rootfs string, layers []Layer, opts Options, limits Limits) error {
	root, err := openRootDir(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	b := NewBudget(limits)
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if l.DiffID == "" || l.MediaType == "" {
			return fmt.Errorf("layer %s: no diff_id or media type", l.Digest)
		}
		if _, err := applyLayer(ctx, root, l, opts, b); err != nil {
			return err
		}
	}
	return nil
}

// applied is what applying a layer found out.
type applied struct {
	diffID   digest.Digest   // of the uncompressed tar
	implicit map[string]bool // see applier.implicit
}

// applyLayer decompresses and applies one layer. The digest of its
// uncompressed tar must be l.DiffID when that is set.
func applyLayer(ctx context.Context, root *rootDir, l Layer, opts Options, b *Budget) (res applied, err error) {
	defer func() {
		if e, ok := err.(*EntryError); ok {
			e.Layer = l.Digest.String()
		} else if err != nil {
			err = fmt.Errorf("layer %s: %w", l.Digest, err)
		}
	}()
	alg := digest.Canonical
	if l.DiffID != "" {
		if err := l.DiffID.Validate(); err != nil {
			return res, fmt.Errorf("diff_id %q: %w", l.DiffID, err)
		}
		alg = l.DiffID.Algorithm()
	}
	rc, err := l.Open()
	if err != nil {
		return res, err
	}
	defer rc.Close()
	var src io.Reader = rc
	var blobDigester digest.Digester
	if l.Unverified {
		if err := l.Digest.Validate(); err != nil {
			return res, fmt.Errorf("digest %q: %w", l.Digest, err)
		}
		blobDigester = l.Digest.Algorithm().Digester()
		src = io.TeeReader(rc, blobDigester.Hash())
	}
	blob := &countingReader{r: src}
	dr, closeDecoder, err := decompress(blob, l.MediaType)
	if err != nil {
		return res, err
	}
	defer closeDecoder()
	digester := alg.Digester()
	tarStream := newReadAhead(b.reader(dr, blob), digester.Hash())
	defer tarStream.Close() // before the decoder and the blob are closed
	a := newApplier(ctx, root, opts, b)
	if err := a.applyTar(tar.NewReader(tarStream)); err != nil {
		return res, err
	}
	// The tar reader stops at the end-of-archive marker; the digest covers
	// the whole stream, padding included.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return res, fmt.Errorf("reading past the tar end: %w", err)
	}
	tarStream.Close() // the digest is complete: the stream was read to its end
	if blobDigester != nil {
		// The decoder stops at the end of its stream; the blob's digest
		// covers anything after it too.
		if _, err := io.Copy(io.Discard, blob); err != nil {
			return res, fmt.Errorf("reading past the compressed stream: %w", err)
		}
		if got := blobDigester.Digest(); got != l.Digest {
			return res, fmt.Errorf("content read hashes to %s, not to the layer's digest", got)
		}
	}
	res = applied{diffID: digester.Digest(), implicit: a.implicit}
	if l.DiffID != "" && res.diffID != l.DiffID {
		return res, diffIDMismatch(res.diffID, l.DiffID)
	}
	return res, nil
}

func diffIDMismatch(got, want digest.Digest) error {
	return fmt.Errorf("uncompressed content (%s) does not match diff_id %s: corrupt layer or wrong image config", got, want)
}
