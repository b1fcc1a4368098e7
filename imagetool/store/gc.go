package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/killpoint"
)

// Freed is one thing gc removed.
type Freed struct {
	// What is a short description, e.g. "blob sha256:…" or "cache layers/sha256/…".
	What string
	// Bytes is how much space it used.
	Bytes int64
}

// Hook lets another tool that keeps per-image data next to the store (the
// unpacker) clean it up along with images.
type Hook struct {
	Name string
	// Removed, if set, runs after rm removed entry from index.json.
	Removed func(s *Store, entry ocispec.Descriptor) error
	// GC, if set, runs under the exclusive store lock after gc removed
	// unreferenced blobs. live holds every digest still referenced:
	// manifests, configs, layers, and the layers' diff_ids.
	GC func(s *Store, live map[digest.Digest]bool) ([]Freed, error)
	// Keep, if set, runs under the exclusive store lock before gc removes
	// anything, and names digests (blobs and layer cache entries) that
	// must stay although no image references them: those live bundles use.
	Keep func(s *Store) ([]digest.Digest, error)
}

var (
	hooksMu   sync.Mutex
	hooksList []Hook
)

// RegisterHook adds h; call it from an init function.
func RegisterHook(h Hook) {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooksList = append(hooksList, h)
}

func hooks() []Hook {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	return append([]Hook(nil), hooksList...)
}

// LayerCacheDir is where the unpacker caches the layer with digest (or
// diff_id) d: <store>/cache/layers/<alg>/<hex>. gc removes entries whose
// digest is referenced by no image.
func (s *Store) LayerCacheDir(d digest.Digest) string {
	return s.path("cache", "layers", d.Algorithm().String(), d.Encoded())
}

// Live returns every digest reachable from index.json: indexes, manifests,
// configs, layers, and the diff_ids of the layers. Children of an index
// that are not in the store (platforms not pulled) are skipped.
func (s *Store) Live() (map[digest.Digest]bool, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	live := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, depth int) error
	walk = func(d ocispec.Descriptor, depth int) error {
		if live[d.Digest] || !s.Has(d.Digest, -1) {
			return nil
		}
		live[d.Digest] = true
		if depth > 8 {
			return fmt.Errorf("blob %s: indexes nested too deeply", d.Digest)
		}
		switch {
		case IsIndex(d.MediaType):
			child, err := s.Index(d)
			if err != nil {
				return err
			}
			for _, m := range child.Manifests {
				if err := walk(m, depth+1); err != nil {
					return err
				}
			}
		case IsManifest(d.MediaType):
			m, err := s.Manifest(d)
			if err != nil {
				return err
			}
			live[m.Config.Digest] = true
			for _, l := range m.Layers {
				live[l.Digest] = true
			}
			if s.Has(m.Config.Digest, -1) {
				if c, err := s.Config(m.Config); err == nil {
					for _, id := range c.RootFS.DiffIDs {
						live[id] = true
					}
				}
			}
		}
		return nil
	}
	for _, d := range idx.Manifests {
		if err := walk(d, 0); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// GC removes blobs no image references, abandoned temp files, and layer
// cache entries of unreferenced layers, then runs the registered hooks.
// It holds the store lock exclusively, so it waits for running pulls.
func (s *Store) GC() ([]Freed, error) {
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	live, err := s.Live()
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, h := range hooks() {
		if h.Keep == nil {
			continue
		}
		keep, err := h.Keep(s)
		if err != nil {
			return nil, fmt.Errorf("gc: %s: %w", h.Name, err)
		}
		for _, d := range keep {
			live[d] = true
		}
	}
	var freed []Freed
	sweep := func(dir, kind string) error {
		algs, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		for _, alg := range algs {
			ents, err := os.ReadDir(filepath.Join(dir, alg.Name()))
			if err != nil {
				continue
			}
			for _, e := range ents {
				d := digest.NewDigestFromEncoded(digest.Algorithm(alg.Name()), e.Name())
				if live[d] {
					continue
				}
				p := filepath.Join(dir, alg.Name(), e.Name())
				size := diskUsage(p)
				if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
					// A layer cache entry: move it aside first, so that a gc
					// killed while removing it leaves no half-removed entry
					// under its digest for a later bundle to trust, only a
					// temporary directory the next gc removes.
					aside := filepath.Join(dir, alg.Name(), ".tmp-gc-"+e.Name())
					if err := os.Rename(p, aside); err != nil {
						return fmt.Errorf("gc: %w", err)
					}
					killpoint.At(killpoint.GCCache)
					p = aside
				}
				if err := os.RemoveAll(p); err != nil {
					return fmt.Errorf("gc: %w", err)
				}
				freed = append(freed, Freed{What: kind + " " + string(d), Bytes: size})
				killpoint.At(killpoint.GCSweep)
			}
		}
		return nil
	}
	if err := sweep(s.path("blobs"), "blob"); err != nil {
		return freed, err
	}
	if err := sweep(s.path("cache", "layers"), "layer cache"); err != nil {
		return freed, err
	}
	n := s.cleanTemp(true)
	m, err := s.cleanLayoutTemp()
	if n += m; err != nil {
		return freed, fmt.Errorf("gc: %w", err)
	}
	if n > 0 {
		freed = append(freed, Freed{What: "abandoned temp files", Bytes: n})
	}
	// Nobody holds a blob lock while gc holds the store lock.
	os.RemoveAll(s.path("locks"))
	for _, h := range hooks() {
		if h.GC == nil {
			continue
		}
		more, err := h.GC(s, live)
		freed = append(freed, more...)
		if err != nil {
			return freed, fmt.Errorf("gc: %s: %w", h.Name, err)
		}
	}
	sort.SliceStable(freed, func(i, j int) bool { return freed[i].What < freed[j].What })
	return freed, nil
}

// cleanLayoutTemp removes the temp files of index.json and oci-layout
// updates that a killed berth-image left in the store root (see
// writeFileAtomic), under the index lock, so that no update under way
// loses its file.
func (s *Store) cleanLayoutTemp() (freed int64, err error) {
	unlock, err := s.lockFile("index.lock", unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer unlock()
	for _, name := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
		matches, _ := filepath.Glob(s.path("." + name + ".tmp-*"))
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil {
				continue
			}
			if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return freed, err
			}
			freed += fi.Size()
		}
	}
	return freed, nil
}

// diskUsage sums the sizes of the regular files under p.
func diskUsage(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
