package unpack

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Limits bound what one unpack may write, so that a decompression bomb or
// an endless tar stream fails cleanly instead of filling the disk.
type Limits struct {
	MaxBytes   int64 // uncompressed tar bytes over all layers
	MaxEntries int64 // tar entries over all layers
	MaxNameLen int   // longest entry name or link target, in bytes
	// MaxRatio bounds a layer's uncompressed size over its compressed
	// size, once it is past RatioMinBytes uncompressed: a decompression
	// bomb is refused after RatioMinBytes rather than at MaxBytes. 0: no
	// bound.
	MaxRatio int64
}

// RatioMinBytes is how much of a layer is uncompressed before MaxRatio
// applies: small layers of zeros (a 100 MB empty file) compress far
// better than any real content, and are harmless.
const RatioMinBytes = 256 << 20

// DefaultLimits are generous for real images (the largest common images
// are a few GB with a few hundred thousand files; real layers compress 2
// to 20 times). The ratio bound is 500 because deflate cannot do better
// than about 1030:1: a gzip bomb of zeros is 1012:1, so a bound at 1000
// or above would let it through to MaxBytes.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 64 << 30, MaxEntries: 5_000_000, MaxNameLen: 4096, MaxRatio: 500}
}

// Budget is what is left of Limits for one image, shared by its layers
// as they are extracted, concurrently or one by one.
type Budget struct {
	limits  Limits
	bytes   atomic.Int64
	entries atomic.Int64
}

func NewBudget(l Limits) *Budget { return &Budget{limits: l} }

func (b *Budget) entry(name, link string) error {
	if n := b.entries.Add(1); b.limits.MaxEntries > 0 && n > b.limits.MaxEntries {
		return fmt.Errorf("more than %d entries in the image (limit, see --max-entries)", b.limits.MaxEntries)
	}
	if l := b.limits.MaxNameLen; l > 0 && (len(name) > l || len(link) > l) {
		return fmt.Errorf("name longer than %d bytes (limit, see --max-name-len)", l)
	}
	return nil
}

// reader counts the uncompressed bytes of one layer read through it
// against MaxBytes (over all layers) and, with compressed counting what
// was read of the layer's blob, against MaxRatio.
func (b *Budget) reader(r io.Reader, compressed *countingReader) io.Reader {
	return &budgetReader{r: r, b: b, compressed: compressed}
}

type budgetReader struct {
	r          io.Reader
	b          *Budget
	compressed *countingReader
	n          int64 // uncompressed bytes of this layer
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if total := br.b.bytes.Add(int64(n)); br.b.limits.MaxBytes > 0 && total > br.b.limits.MaxBytes {
		return n, fmt.Errorf("image is over %d uncompressed bytes (limit, see --max-size)", br.b.limits.MaxBytes)
	}
	br.n += int64(n)
	if max := br.b.limits.MaxRatio; max > 0 && br.compressed != nil && br.n > RatioMinBytes && br.n/max > br.compressed.n.Load() {
		return n, fmt.Errorf("layer decompresses to over %d times its size (%d bytes from %d compressed; limit, see --max-ratio): a decompression bomb",
			max, br.n, br.compressed.n.Load())
	}
	return n, err
}

// countingReader counts the bytes read through it. The count is atomic:
// with igzip the blob is read by the goroutine that feeds it, and the
// count by the one that reads its output.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
