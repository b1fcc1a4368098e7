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
}

// DefaultLimits are generous for real images (the largest common images
// are a few GB with a few hundred thousand files).
func DefaultLimits() Limits {
	return Limits{MaxBytes: 64 << 30, MaxEntries: 5_000_000, MaxNameLen: 4096}
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

// reader counts the uncompressed bytes read through it against MaxBytes.
func (b *Budget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *Budget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if total := br.b.bytes.Add(int64(n)); br.b.limits.MaxBytes > 0 && total > br.b.limits.MaxBytes {
		return n, fmt.Errorf("image is over %d uncompressed bytes (limit, see --max-size)", br.b.limits.MaxBytes)
	}
	return n, err
}
