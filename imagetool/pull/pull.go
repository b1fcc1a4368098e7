// Package pull copies an image from a registry into the store: it picks the
// platform's manifest, downloads missing blobs concurrently, and records
// the image only once everything it references is stored and verified.
package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/berthproject/berth/imagetool/killpoint"
	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// DefaultJobs is how many blobs are downloaded at once by default.
const DefaultJobs = 6

// Options tunes a pull.
type Options struct {
	// Platform selects the manifest from an index.
	Platform ocispec.Platform
	// Jobs bounds concurrent blob downloads (DefaultJobs if < 1).
	Jobs int
	// Progress receives per-blob progress; nil for none.
	Progress progress.Reporter
	// All stores every image of an index and records the index, instead
	// of the one image for Platform.
	All bool
	// Name is what to record the image as; "" means ref.StoreName(),
	// and "-" means do not record it.
	Name string
	// Repair hashes every blob already in the store again and fetches
	// the ones that fail, instead of trusting their presence.
	Repair bool
	// OCI stores a Docker schema2 image manifest rewritten with OCI media
	// types (same blobs, another digest), as skopeo does for an oci:
	// destination, so that skopeo and umoci can read it from the store.
	// Not with All (an index refers to its manifests by digest).
	OCI bool
	// Verify, if set, decides from the top-level manifest (an index's
	// own descriptor for an index) whether the image may be pulled at
	// all (the trust policy); it runs before any blob is fetched.
	Verify func(ctx context.Context, repo *registry.Repo, top ocispec.Descriptor) error
}

// Result describes a pulled image.
type Result struct {
	Name string `json:"name"`
	// Manifest is the image manifest stored and recorded (the index with
	// Options.All).
	Manifest ocispec.Descriptor `json:"manifest"`
	// Index is the digest of the index the manifest was chosen from.
	Index digest.Digest `json:"index,omitempty"`
	// Fetched counts bytes downloaded; Reused bytes already present.
	Fetched int64 `json:"fetchedBytes"`
	Reused  int64 `json:"reusedBytes"`
}

// Pull fetches ref from repo into s.
func Pull(ctx context.Context, s *store.Store, repo *registry.Repo, ref reference.Reference, opts Options) (Result, error) {
	if opts.Jobs < 1 {
		opts.Jobs = DefaultJobs
	}
	if opts.Progress == nil {
		opts.Progress = progress.New(nil, true, "")
	}
	// Shared store lock: gc must not collect blobs we stored but have not
	// referenced yet.
	unlock, err := s.RLock()
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	res := Result{Name: opts.Name}
	if res.Name == "" {
		res.Name = ref.StoreName()
	}
	top, err := getManifest(ctx, s, repo, ref.Identifier())
	if err != nil {
		return res, err
	}
	if opts.Verify != nil {
		if err := opts.Verify(ctx, repo, top.Desc); err != nil {
			return res, err
		}
	}
	recorded := top.Desc
	switch {
	case store.IsIndex(top.Desc.MediaType) && opts.All:
		if err := pullIndex(ctx, s, repo, top, opts, &res); err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		res.Index, res.Manifest = top.Desc.Digest, top.Desc
	case store.IsIndex(top.Desc.MediaType):
		idx, err := parseIndex(top)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		child, err := platform.Select(idx, opts.Platform)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		mf, err := getChild(ctx, s, repo, child)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		stored, err := pullManifest(ctx, s, repo, mf, opts, &res)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		res.Index, res.Manifest, recorded = top.Desc.Digest, stored, stored
	default:
		stored, err := pullManifest(ctx, s, repo, top, opts, &res)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ref, err)
		}
		res.Manifest = withPlatform(s, stored)
		recorded = res.Manifest
	}
	killpoint.At(killpoint.PullStored)
	if res.Name != "-" {
		if err := s.Tag(res.Name, recorded); err != nil {
			return res, err
		}
	}
	return res, nil
}

// withPlatform sets desc.Platform from the image's config, so that the
// store records which platform it is and keeps other platforms of the name.
func withPlatform(s *store.Store, desc ocispec.Descriptor) ocispec.Descriptor {
	m, err := s.Manifest(desc)
	if err != nil {
		return desc
	}
	c, err := s.Config(m.Config)
	if err != nil || c.OS == "" || c.Architecture == "" {
		return desc
	}
	desc.Platform = &ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	return desc
}

func parseIndex(m registry.Manifest) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(m.Raw, &idx); err != nil {
		return idx, fmt.Errorf("index %s: %v", m.Desc.Digest, err)
	}
	return idx, nil
}

// getChild fetches the image manifest an index entry points to and checks
// it against the entry.
func getChild(ctx context.Context, s *store.Store, repo *registry.Repo, child ocispec.Descriptor) (registry.Manifest, error) {
	if !store.IsManifest(child.MediaType) {
		return registry.Manifest{}, fmt.Errorf("index entry %s: unsupported media type %q", child.Digest, child.MediaType)
	}
	mf, err := getManifest(ctx, s, repo, child.Digest.String())
	if err != nil {
		return mf, err
	}
	if mf.Desc.Size != child.Size {
		return mf, fmt.Errorf("manifest %s: size mismatch: got %d bytes, index says %d", child.Digest, mf.Desc.Size, child.Size)
	}
	mf.Desc.Platform = child.Platform
	return mf, nil
}

// pullIndex stores every image of an index, then the index itself.
func pullIndex(ctx context.Context, s *store.Store, repo *registry.Repo, top registry.Manifest, opts Options, res *Result) error {
	idx, err := parseIndex(top)
	if err != nil {
		return err
	}
	for _, child := range idx.Manifests {
		mf, err := getChild(ctx, s, repo, child)
		if err != nil {
			return err
		}
		if _, err := pullManifest(ctx, s, repo, mf, opts, res); err != nil {
			return err
		}
	}
	return putManifest(ctx, s, top, opts.Repair)
}

// pullManifest fetches the config and layers of image manifest mf, then
// stores mf itself: last, so that a stored manifest always has its blobs
// (gc and rm rely on that).
// It returns the descriptor stored (another one with opts.OCI).
func pullManifest(ctx context.Context, s *store.Store, repo *registry.Repo, mf registry.Manifest, opts Options, res *Result) (ocispec.Descriptor, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(mf.Raw, &m); err != nil {
		return mf.Desc, fmt.Errorf("manifest %s: %v", mf.Desc.Digest, err)
	}
	if err := checkManifest(m); err != nil {
		return mf.Desc, fmt.Errorf("manifest %s: %w", mf.Desc.Digest, err)
	}
	fetched, reused, err := fetchBlobs(ctx, s, repo, append([]ocispec.Descriptor{m.Config}, m.Layers...), opts)
	res.Fetched += fetched
	res.Reused += reused
	if err != nil {
		return mf.Desc, err
	}
	if opts.OCI && !opts.All {
		if mf, err = toOCI(mf); err != nil {
			return mf.Desc, err
		}
	}
	return mf.Desc, putManifest(ctx, s, mf, opts.Repair)
}

// putManifest stores a fetched manifest or index; with repair, a stored
// copy that fails verification is replaced.
func putManifest(ctx context.Context, s *store.Store, m registry.Manifest, repair bool) error {
	if repair {
		if _, err := s.DropCorrupt(ctx, m.Desc.Digest, m.Desc.Size); err != nil {
			return err
		}
	}
	return s.PutBlob(m.Desc, bytes.NewReader(m.Raw))
}

// getManifest returns the manifest from the store when asked by digest
// and present (never fetched twice), else from the registry. A stored copy
// that fails its digest check is fetched again (with Repair, putManifest
// then replaces it).
func getManifest(ctx context.Context, s *store.Store, repo *registry.Repo, id string) (registry.Manifest, error) {
	if d, err := digest.Parse(id); err == nil && s.Has(d, -1) {
		raw, err := s.ReadBlob(d)
		if err == nil {
			var probe struct {
				MediaType string `json:"mediaType"`
			}
			json.Unmarshal(raw, &probe)
			if store.IsIndex(probe.MediaType) || store.IsManifest(probe.MediaType) {
				return registry.Manifest{Raw: raw, Desc: ocispec.Descriptor{MediaType: probe.MediaType, Digest: d, Size: int64(len(raw))}}, nil
			}
		}
	}
	return repo.GetManifest(ctx, id)
}

// layerTypes are the layer media types an unpacker can apply.
var layerTypes = map[string]bool{
	ocispec.MediaTypeImageLayer:                         true,
	ocispec.MediaTypeImageLayerGzip:                     true,
	ocispec.MediaTypeImageLayerZstd:                     true,
	"application/vnd.docker.image.rootfs.diff.tar.gzip": true,
	"application/vnd.docker.image.rootfs.diff.tar":      true,
}

// checkManifest refuses manifests we could not turn into a rootfs.
func checkManifest(m ocispec.Manifest) error {
	if m.SchemaVersion != 2 {
		return fmt.Errorf("unsupported schemaVersion %d", m.SchemaVersion)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != store.MediaTypeDockerConfig {
		return fmt.Errorf("config %s: unsupported media type %q", m.Config.Digest, m.Config.MediaType)
	}
	if m.Config.Size > store.MaxManifestSize {
		return fmt.Errorf("config %s: %d bytes is over the %d byte limit", m.Config.Digest, m.Config.Size, store.MaxManifestSize)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("bad digest %q: %v", d.Digest, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("blob %s: negative size %d", d.Digest, d.Size)
		}
	}
	for _, l := range m.Layers {
		if !layerTypes[l.MediaType] {
			return fmt.Errorf("layer %s: unsupported media type %q", l.Digest, l.MediaType)
		}
	}
	return nil
}

// fetchBlobs downloads the blobs the store lacks, opts.Jobs at a time.
func fetchBlobs(ctx context.Context, s *store.Store, repo *registry.Repo, blobs []ocispec.Descriptor, opts Options) (fetched, reused int64, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Jobs)
	seen := map[digest.Digest]bool{}
	var nFetched, nReused atomic.Int64
	for i, b := range blobs {
		if seen[b.Digest] {
			continue
		}
		seen[b.Digest] = true
		what := "layer"
		if i == 0 {
			what = "config"
		}
		opts.Progress.Start(b.Digest.String(), what, b.Size)
		if opts.Repair {
			if _, err := s.DropCorrupt(ctx, b.Digest, b.Size); err != nil {
				return 0, 0, err
			}
		}
		if s.Has(b.Digest, b.Size) {
			nReused.Add(b.Size)
			opts.Progress.Finish(b.Digest.String(), "exists")
			continue
		}
		g.Go(func() error {
			got, err := fetchBlob(gctx, ctx, s, repo, b, opts.Progress)
			switch {
			case err != nil:
				opts.Progress.Finish(b.Digest.String(), err.Error())
				return err
			case got:
				nFetched.Add(b.Size)
				opts.Progress.Finish(b.Digest.String(), "done")
			default:
				nReused.Add(b.Size)
				opts.Progress.Finish(b.Digest.String(), "exists")
			}
			return nil
		})
	}
	err = g.Wait()
	return nFetched.Load(), nReused.Load(), err
}

// fetchBlob downloads b unless another process did while we waited for the
// blob's lock; fetched reports which.
// A download interrupted by the caller (outer is done: SIGINT, SIGTERM) is
// kept for the next run to resume; one stopped because another blob
// failed is not.
func fetchBlob(ctx, outer context.Context, s *store.Store, repo *registry.Repo, b ocispec.Descriptor, rep progress.Reporter) (fetched bool, err error) {
	unlock, err := s.LockBlob(ctx, b.Digest)
	if err != nil {
		return false, err
	}
	defer unlock()
	if s.Has(b.Digest, b.Size) {
		return false, nil
	}
	w, err := s.ResumeBlobWriter(b)
	if err != nil {
		return false, err
	}
	defer func() {
		if outer.Err() != nil {
			w.Keep()
		}
		w.Close()
	}()
	id := b.Digest.String()
	if w.Resumed > 0 {
		rep.Update(id, w.Resumed)
	}
	if err := repo.FetchBlob(ctx, b, w, func(n int64) { rep.Update(id, n) }); err != nil {
		return false, err
	}
	return true, w.Commit()
}
