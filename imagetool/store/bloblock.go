package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// LockBlob takes a per-blob lock (locks/<alg>-<hex>) so that processes
// pulling images that share a blob download it once: the second waits,
// then finds the blob present. Waiting ends early when ctx is done.
func (s *Store) LockBlob(ctx context.Context, d digest.Digest) (unlock func(), err error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %v", d, err)
	}
	if err := os.MkdirAll(s.path("locks"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path("locks", d.Algorithm().String()+"-"+d.Encoded()), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("blob %s: lock: %w", d, err)
	}
	// flock cannot be interrupted by ctx, so poll without blocking.
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("blob %s: lock: %w", d, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}
