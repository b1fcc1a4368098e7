package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func init() {
	var raw, config bool
	register(&command{
		Name:    "inspect",
		Args:    "REF | docker://REF",
		Summary: "show an image's manifest, config and layers as JSON, from the store or (docker://REF) from its registry without pulling it",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&raw, "raw", false, "print the manifest (or index) bytes exactly as stored or served")
			fs.BoolVar(&config, "config", false, "print the image config bytes exactly as stored or served")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 1, "REF"); err != nil {
				return err
			}
			if raw && config {
				return usagef("--raw and --config exclude each other")
			}
			if strings.HasPrefix(args[0], "docker://") {
				return inspectRemote(ctx, g, args[0], raw, config)
			}
			return runInspect(g, args[0], raw, config)
		},
	})
}

func runInspect(g *Globals, ref string, raw, config bool) error {
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	entry, err := s.ResolvePlatform(ref, g.Platform)
	if err != nil {
		return err
	}
	if raw {
		b, err := s.ReadBlob(entry.Digest)
		if err != nil {
			return err
		}
		_, err = g.Stdout.Write(b)
		return err
	}
	info, err := describe(s, entry, g.Platform)
	if err != nil {
		return err
	}
	if config {
		b, err := s.ReadBlob(info.Manifest.Config.Digest)
		if err != nil {
			return err
		}
		_, err = g.Stdout.Write(b)
		return err
	}
	return g.PrintJSON(info)
}

// inspectRemote describes an image in its registry: the manifest (the
// --platform one from an index, whose platforms are listed) and the
// config, fetched and verified, with no layer downloaded.
func inspectRemote(ctx context.Context, g *Globals, refStr string, raw, config bool) error {
	ref, repo, top, err := g.remoteManifest(ctx, refStr)
	if err != nil {
		return err
	}
	if raw {
		_, err = g.Stdout.Write(top.Raw)
		return err
	}
	info := imageInfo{Name: ref.String(), Digest: top.Desc.Digest.String(), MediaType: top.Desc.MediaType, Size: top.Desc.Size}
	mf := top
	if store.IsIndex(top.Desc.MediaType) {
		var idx ocispec.Index
		if err := json.Unmarshal(top.Raw, &idx); err != nil {
			return fmt.Errorf("%s: index %s: %v", ref, top.Desc.Digest, err)
		}
		info.Platforms = platforms(idx)
		child, err := platform.Select(idx, g.Platform)
		if err != nil && g.PlatformStr == "" && !config {
			// Nothing for the host: still show what the index offers.
			return g.PrintJSON(info)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		if mf, err = childManifest(ctx, repo, child); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mf.Raw, &m); err != nil {
		return fmt.Errorf("%s: manifest %s: %v", ref, mf.Desc.Digest, err)
	}
	cb, err := repo.GetSmallBlob(ctx, m.Config)
	if err != nil {
		return fmt.Errorf("%s: config: %w", ref, err)
	}
	if config {
		_, err = g.Stdout.Write(cb)
		return err
	}
	var c ocispec.Image
	if err := json.Unmarshal(cb, &c); err != nil {
		return fmt.Errorf("%s: config %s: %v", ref, m.Config.Digest, err)
	}
	info.fill(mf.Desc, m, c)
	return g.PrintJSON(info)
}

// remoteManifest fetches the manifest or index refStr names from its
// registry.
func (g *Globals) remoteManifest(ctx context.Context, refStr string) (reference.Reference, *registry.Repo, registry.Manifest, error) {
	ref, err := g.ParseRef(refStr)
	if err != nil {
		return ref, nil, registry.Manifest{}, err
	}
	client, err := g.Registry()
	if err != nil {
		return ref, nil, registry.Manifest{}, err
	}
	repo, err := client.Repository(ctx, ref, false)
	if err != nil {
		return ref, nil, registry.Manifest{}, fmt.Errorf("%s: %w", ref, err)
	}
	top, err := repo.GetManifest(ctx, ref.Identifier())
	return ref, repo, top, err
}

// childManifest fetches the image manifest an index entry names and
// checks it against the entry.
func childManifest(ctx context.Context, repo *registry.Repo, child ocispec.Descriptor) (registry.Manifest, error) {
	if !store.IsManifest(child.MediaType) {
		return registry.Manifest{}, fmt.Errorf("index entry %s: unsupported media type %q", child.Digest, child.MediaType)
	}
	mf, err := repo.GetManifest(ctx, child.Digest.String())
	if err == nil && mf.Desc.Size != child.Size {
		err = fmt.Errorf("manifest %s: size mismatch: got %d bytes, index says %d", child.Digest, mf.Desc.Size, child.Size)
	}
	return mf, err
}
