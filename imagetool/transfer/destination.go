package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	specs "github.com/opencontainers/image-spec/specs-go"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeDestination puts the image desc of layout from at dst.
func writeDestination(ctx context.Context, from *store.Store, desc ocispec.Descriptor, src, dst Location, opts Options) error {
	switch dst.Transport {
	case "oci":
		to, err := store.Open(dst.Path)
		if err != nil {
			return err
		}
		unlock, err := to.RLock()
		if err != nil {
			return err
		}
		defer unlock()
		if to.Root() != from.Root() {
			if err := copyBlobs(from, to, desc); err != nil {
				return err
			}
		}
		return to.Tag(layoutName(dst, src), desc)
	case "oci-archive":
		tmp, done, err := tempLayout(opts.TempDir)
		if err != nil {
			return err
		}
		defer done()
		if err := copyBlobs(from, tmp, desc); err != nil {
			return err
		}
		if err := tmp.Tag(layoutName(dst, src), desc); err != nil {
			return err
		}
		return writeArchive(tmp.Root(), dst.Path)
	case "docker":
		return push(ctx, from, desc, dst, opts)
	}
	return fmt.Errorf("unknown transport %q", dst.Transport)
}

// layoutName is the name to record in a layout: the one given, else the
// source's (its canonical reference for a registry).
func layoutName(dst, src Location) string {
	if dst.Ref != "" {
		return dst.Ref
	}
	if src.Transport == "docker" {
		return reference.Normalize(src.Ref)
	}
	return src.Ref
}

// copyBlobs copies desc and everything it references from one layout to
// another, children before parents, verifying every blob on the way.
func copyBlobs(from, to *store.Store, desc ocispec.Descriptor) error {
	var children []ocispec.Descriptor
	switch {
	case store.IsIndex(desc.MediaType):
		idx, err := from.Index(desc)
		if err != nil {
			return err
		}
		children = idx.Manifests
	case store.IsManifest(desc.MediaType):
		m, err := from.Manifest(desc)
		if err != nil {
			return err
		}
		children = append([]ocispec.Descriptor{m.Config}, m.Layers...)
	}
	for _, c := range children {
		if err := copyBlobs(from, to, c); err != nil {
			return err
		}
	}
	if to.Has(desc.Digest, desc.Size) {
		return nil
	}
	rc, err := from.OpenBlob(desc.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	return to.PutBlob(desc, rc)
}

// push uploads the image with go-containerregistry, which handles blob
// existence checks, cross-repository mounts and chunked uploads.
func push(ctx context.Context, from *store.Store, desc ocispec.Descriptor, dst Location, opts Options) error {
	ref, err := reference.Parse(dst.Ref, opts.Insecure)
	if err != nil {
		return err
	}
	if ref.Tag == "" {
		return fmt.Errorf("pushing needs a tag in %q", dst.Ref)
	}
	tag := ref.Repo().Tag(ref.Tag)
	p, done, err := pushView(from, desc, opts.TempDir)
	if err != nil {
		return err
	}
	defer done()
	h, err := v1.NewHash(desc.Digest.String())
	if err != nil {
		return err
	}
	client := opts.Client
	if opts.DestClient != nil {
		client = opts.DestClient
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(client.Base()),
		remote.WithAuthFromKeychain(client.Keychain()),
		remote.WithJobs(max(opts.Jobs, 1)),
	}
	if store.IsIndex(desc.MediaType) {
		top, err := p.ImageIndex()
		if err != nil {
			return err
		}
		idx, err := top.ImageIndex(h)
		if err != nil {
			return err
		}
		return registry.Explain(remote.WriteIndex(tag, idx, ropts...))
	}
	img, err := p.Image(h)
	if err != nil {
		return err
	}
	return registry.Explain(remote.Write(tag, img, ropts...))
}

// pushView makes a layout for go-containerregistry that holds only desc
// at top level (its layout reader finds images only there), sharing the
// blobs of from through a symlink instead of copying them.
func pushView(from *store.Store, desc ocispec.Descriptor, tempDir string) (layout.Path, func(), error) {
	dir, err := os.MkdirTemp(tempDir, "berth-image-push-")
	if err != nil {
		return "", func() {}, err
	}
	done := func() { os.RemoveAll(dir) }
	idx, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), idx, 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	}
	if err == nil {
		err = os.Symlink(filepath.Join(from.Root(), "blobs"), filepath.Join(dir, "blobs"))
	}
	if err != nil {
		done()
		return "", func() {}, err
	}
	return layout.Path(dir), done, nil
}
