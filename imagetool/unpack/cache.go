package unpack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Cache keeps every layer extracted once, at Dir/<alg>/<hex> of the
// layer's (compressed) digest, the digest the store's gc checks. An entry
// holds:
//
//	fs/     the layer's files in overlayfs lower-dir form (whiteouts as 0:0
//	        character devices, opaque directories trusted.overlay.opaque=y)
//	implicit  the directories the layer has without listing them (parents
//	        of its entries; "." when it has no "./" entry), one per line:
//	        their owner and mode must come from lower layers
//	diffid  the digest of the layer's uncompressed tar, as computed while
//	        extracting, so that every later use is checked against the
//	        image's rootfs.diff_ids as well; written last
//
// Building it needs root: it holds the layers' real owners and devices.
//
// Entries appear atomically: a layer is extracted into a temporary
// Dir/<alg>/.tmp-* directory and renamed into place once complete and
// durable. gc (under the store's exclusive lock, which unpackers hold
// shared) removes abandoned temporary directories with unreferenced
// entries.
type Cache struct {
	Dir string
}

const (
	cacheFS       = "fs"
	cacheImplicit = "implicit"
	cacheDiffID   = "diffid"
)

// Path is the entry of layer d (whether or not it exists).
func (c *Cache) Path(d digest.Digest) string {
	return filepath.Join(c.Dir, d.Algorithm().String(), d.Encoded())
}

// lookup returns the diff_id recorded for layer d, or "" when d is not
// (completely) cached.
func (c *Cache) lookup(d digest.Digest) digest.Digest {
	b, err := os.ReadFile(filepath.Join(c.Path(d), cacheDiffID))
	if err != nil {
		return ""
	}
	id, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return ""
	}
	return id
}

// implicitDirs reads the implicit directories of cached layer d.
func (c *Cache) implicitDirs(d digest.Digest) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(c.Path(d), cacheImplicit))
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	set := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" {
			set[line] = true
		}
	}
	return set, nil
}

// Has reports whether layer d is cached.
func (c *Cache) Has(d digest.Digest) bool { return c.lookup(d) != "" }

// Ensure extracts the layers not yet cached, up to jobs at a time, and
// returns the layers' cached directories in order and how many layers were
// extracted now. Every layer, cached before or now, must have the DiffID
// the image says. A layer may come without DiffID and MediaType, to be
// extracted before its image's manifest and config are known (while they
// are pulled): its compression is then told from its content and its
// diff_id recorded, to be checked by the Ensure that uses it.
func (c *Cache) Ensure(ctx context.Context, layers []Layer, limits Limits, jobs int) ([]string, int, error) {
	if jobs < 1 {
		jobs = 1
	}
	dirs := make([]string, len(layers))
	var missing []Layer
	seen := map[digest.Digest]bool{}
	for i, l := range layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, 0, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		dirs[i] = filepath.Join(c.Path(l.Digest), cacheFS)
		if seen[l.Digest] {
			continue // the same layer twice in one image
		}
		seen[l.Digest] = true
		switch got := c.lookup(l.Digest); {
		case got == "":
			missing = append(missing, l)
		case l.DiffID != "" && got != l.DiffID:
			return nil, 0, fmt.Errorf("layer %s: %w", l.Digest, diffIDMismatch(got, l.DiffID))
		}
	}
	if err := c.extractAll(ctx, missing, NewBudget(limits), jobs); err != nil {
		return nil, 0, err
	}
	return dirs, len(missing), nil
}

// Prefetch extracts one layer (which may lack DiffID and MediaType, see
// Ensure) unless it is cached, counting it against b, which the other
// layers of the image share; extracted says whether it did.
func (c *Cache) Prefetch(ctx context.Context, l Layer, b *Budget) (extracted bool, err error) {
	if err := l.Digest.Validate(); err != nil {
		return false, fmt.Errorf("layer digest %q: %w", l.Digest, err)
	}
	if c.Has(l.Digest) {
		return false, nil
	}
	return true, c.extractAll(ctx, []Layer{l}, b, 1)
}

// extractAll extracts layers concurrently into temporary entries, makes
// them durable with one syncfs, and publishes them; on any error none is
// published.
func (c *Cache) extractAll(ctx context.Context, layers []Layer, b *Budget, jobs int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, jobs)
		temps    = make([]string, len(layers))
	)
	for i, l := range layers {
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
			tmp, err := c.extract(ctx, l, b)
			mu.Lock()
			defer mu.Unlock()
			temps[i] = tmp
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
	if firstErr == nil && len(layers) > 0 {
		// One syncfs for all layers: entries must be durable before
		// later bundles trust them, and one flush is far cheaper than
		// an fsync per file.
		firstErr = syncfs(c.Dir)
	}
	for i, tmp := range temps {
		if tmp == "" {
			continue
		}
		if firstErr != nil {
			os.RemoveAll(tmp)
		} else if err := c.publish(tmp, layers[i].Digest); err != nil {
			firstErr = err
		}
	}
	return firstErr
}

// publish renames a finished temporary entry into place. Losing a race
// with another process extracting the same layer is fine (theirs is
// kept); an incomplete entry left by a crash is replaced.
func (c *Cache) publish(tmp string, d digest.Digest) error {
	final := c.Path(d)
	err := os.Rename(tmp, final)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		if c.Has(d) {
			os.RemoveAll(tmp)
			return nil
		}
		if err = os.RemoveAll(final); err == nil {
			err = os.Rename(tmp, final)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("layer cache: %w", err)
	}
	return nil
}

// extract unpacks one layer into a new temporary entry next to its final
// place and returns it; on error nothing is left.
func (c *Cache) extract(ctx context.Context, l Layer, b *Budget) (string, error) {
	parent := filepath.Dir(c.Path(l.Digest))
	// 0700: cached layers hold setuid binaries and devices that other
	// users must not reach.
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("layer cache: %w", err)
	}
	tmp := filepath.Join(parent, ".tmp-"+l.Digest.Encoded()+"-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("layer cache: %w", err)
	}
	res, err := c.fill(ctx, filepath.Join(tmp, cacheFS), l, b)
	if err == nil {
		var dirs []string
		for d := range res.implicit {
			dirs = append(dirs, d+"\n")
		}
		sort.Strings(dirs)
		err = os.WriteFile(filepath.Join(tmp, cacheImplicit), []byte(strings.Join(dirs, "")), 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, cacheDiffID), []byte(res.diffID.String()+"\n"), 0o600)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

func (c *Cache) fill(ctx context.Context, dir string, l Layer, b *Budget) (applied, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return applied{}, err
	}
	root, err := openRootDir(dir)
	if err != nil {
		return applied{}, err
	}
	defer root.Close()
	return applyLayer(ctx, root, l, Options{overlay: true}, b)
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
