package unpack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Cache keeps every layer extracted once, in the form overlayfs takes as a
// lower directory (whiteouts as 0:0 character devices, opaque directories
// marked trusted.overlay.opaque=y), at Dir/<alg>/<hex> of the layer's
// (compressed) digest, the same digest the store's gc checks. Building it
// needs root: it holds the layer's real owners and device nodes.
//
// Entries appear atomically: a layer is extracted into a temporary
// Dir/<alg>/.tmp-* directory, verified, and renamed into place. gc (under
// the store's exclusive lock, which unpackers hold shared) removes
// abandoned temporary directories along with unreferenced entries.
type Cache struct {
	Dir string
}

// Path is where layer d is (or would be) cached.
func (c *Cache) Path(d digest.Digest) string {
	return filepath.Join(c.Dir, d.Algorithm().String(), d.Encoded())
}

// Has reports whether layer d is cached.
func (c *Cache) Has(d digest.Digest) bool {
	fi, err := os.Lstat(c.Path(d))
	return err == nil && fi.IsDir()
}

// Ensure extracts the layers not yet cached, up to jobs at a time, and
// returns the cached directories in layer order and how many layers were
// extracted now.
func (c *Cache) Ensure(ctx context.Context, layers []Layer, limits Limits, jobs int) ([]string, int, error) {
	if jobs < 1 {
		jobs = 1
	}
	dirs := make([]string, len(layers))
	var missing []int
	for i, l := range layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, 0, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		dirs[i] = c.Path(l.Digest)
		if !c.Has(l.Digest) {
			missing = append(missing, i)
		}
	}
	b := newBudget(limits)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, jobs)
		temps    = map[digest.Digest]string{}
	)
	for _, i := range missing {
		l := layers[i]
		if _, dup := temps[l.Digest]; dup {
			continue // the same layer twice in one image
		}
		temps[l.Digest] = ""
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			tmp, err := c.extract(l, b)
			mu.Lock()
			defer mu.Unlock()
			if tmp != "" {
				temps[l.Digest] = tmp
			}
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil && len(temps) > 0 {
		// One syncfs for all layers: entries must be durable before
		// later bundles trust them, and one flush is far cheaper than
		// an fsync per file.
		firstErr = syncfs(c.Dir)
	}
	for d, tmp := range temps {
		if tmp == "" {
			continue
		}
		if firstErr != nil {
			os.RemoveAll(tmp)
		} else if err := publish(tmp, c.Path(d)); err != nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return dirs, len(temps), nil
}

// publish renames a finished temporary layer directory into place; losing
// a race with another process extracting the same layer is fine (theirs
// is kept).
func publish(tmp, final string) error {
	err := os.Rename(tmp, final)
	if err == nil {
		return nil
	}
	os.RemoveAll(tmp)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return nil
	}
	return fmt.Errorf("layer cache: %w", err)
}

// extract unpacks one layer into a new temporary directory next to its
// final place and returns it; on error nothing is left.
func (c *Cache) extract(l Layer, b *budget) (string, error) {
	parent := filepath.Dir(c.Path(l.Digest))
	// 0700: cached layers hold setuid binaries and devices that other
	// users must not reach.
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("layer cache: %w", err)
	}
	tmp := filepath.Join(parent, ".tmp-"+l.Digest.Encoded()+"-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", fmt.Errorf("layer cache: %w", err)
	}
	if err := c.fill(tmp, l, b); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

func (c *Cache) fill(dir string, l Layer, b *budget) error {
	root, err := openRootDir(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return applyLayer(root, l, Options{overlay: true}, b)
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
