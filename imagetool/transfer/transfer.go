// Package transfer copies images between registries (docker://REF), OCI
// layout directories (oci:DIR[:REF]) and OCI layout tar archives
// (oci-archive:FILE[:REF]), in any direction. Every copy goes through an
// OCI layout: registry sources are pulled into one, archives are unpacked
// into one, and blobs are verified again as they are copied between
// layouts.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/berthproject/berth/imagetool/policy"
	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Location is one side of a copy.
type Location struct {
	// Transport is "docker", "oci" or "oci-archive".
	Transport string
	// Ref is the image reference (docker) or the name in the layout
	// (oci, oci-archive; may be empty).
	Ref string
	// Path is the layout directory or archive file.
	Path string
}

func (l Location) String() string {
	switch l.Transport {
	case "docker":
		return "docker://" + l.Ref
	case "oci", "oci-archive":
		if l.Ref != "" {
			return l.Transport + ":" + l.Path + ":" + l.Ref
		}
		return l.Transport + ":" + l.Path
	}
	return l.Transport + ":?"
}

// Parse reads "docker://REF", "oci:DIR[:REF]" or "oci-archive:FILE[:REF]".
// The layout name is everything after the first colon following the path,
// so paths must not contain colons.
func Parse(s string) (Location, error) {
	if r, ok := strings.CutPrefix(s, "docker://"); ok {
		if _, err := reference.Parse(r, false); err != nil {
			return Location{}, err
		}
		return Location{Transport: "docker", Ref: r}, nil
	}
	for _, t := range []string{"oci-archive", "oci"} {
		if rest, ok := strings.CutPrefix(s, t+":"); ok {
			path, ref, _ := strings.Cut(rest, ":")
			if path == "" {
				return Location{}, fmt.Errorf("%q: missing path after %s:", s, t)
			}
			return Location{Transport: t, Path: path, Ref: ref}, nil
		}
	}
	return Location{}, fmt.Errorf("%q: want docker://REF, oci:DIR[:REF] or oci-archive:FILE[:REF]", s)
}

// Options tunes a copy.
type Options struct {
	// Client reaches registries; DestClient, when set, the destination
	// registry (its own credentials: copy --dest-creds).
	Client     *registry.Client
	DestClient *registry.Client
	// Policy decides whether the source image may be copied.
	Policy   *policy.Policy
	Insecure bool
	Platform ocispec.Platform
	// All copies every image of an index instead of the Platform one.
	All      bool
	Jobs     int
	Progress progress.Reporter
	// TempDir is where temporary layouts go ("" for the system default).
	TempDir string
}

// Result describes a finished copy.
type Result struct {
	Source      string             `json:"source"`
	Destination string             `json:"destination"`
	Descriptor  ocispec.Descriptor `json:"descriptor"`
}

// Copy copies the image src names to dst.
func Copy(ctx context.Context, src, dst Location, opts Options) (Result, error) {
	res := Result{Source: src.String(), Destination: dst.String()}
	if opts.Policy == nil {
		opts.Policy = policy.AcceptAnything()
	}
	cleanup := func() {}
	defer func() { cleanup() }()

	// A registry source pulled straight into an oci: destination needs no
	// temporary layout.
	var direct *store.Store
	if src.Transport == "docker" && dst.Transport == "oci" {
		s, err := store.Open(dst.Path)
		if err != nil {
			return res, err
		}
		direct = s
	}
	from, desc, done, err := openSource(ctx, src, direct, layoutName(dst, src), opts)
	cleanup = done
	if err != nil {
		return res, fmt.Errorf("%s: %w", src, err)
	}
	res.Descriptor = desc
	// Keep gc off both layouts while blobs are read and written.
	unlock, err := from.RLock()
	if err != nil {
		return res, err
	}
	defer unlock()
	if err := writeDestination(ctx, from, desc, src, dst, opts); err != nil {
		return res, fmt.Errorf("%s: %w", dst, err)
	}
	return res, nil
}

// openSource returns a layout holding the source image and its
// descriptor, plus a function removing any temporary layout. into, when
// set, is the layout to pull a registry image into; a pulled image is
// recorded as name while the pull still holds the store lock, so that a
// concurrent gc cannot take its blobs.
func openSource(ctx context.Context, src Location, into *store.Store, name string, opts Options) (*store.Store, ocispec.Descriptor, func(), error) {
	noop := func() {}
	switch src.Transport {
	case "docker":
		ref, err := reference.Parse(src.Ref, opts.Insecure)
		if err != nil {
			return nil, ocispec.Descriptor{}, noop, err
		}
		s, done := into, noop
		if s == nil {
			if s, done, err = tempLayout(opts.TempDir); err != nil {
				return nil, ocispec.Descriptor{}, noop, err
			}
		}
		repo, err := opts.Client.Repository(ctx, ref, false)
		if err != nil {
			return nil, ocispec.Descriptor{}, done, err
		}
		res, err := pull.Pull(ctx, s, repo, ref, pull.Options{Platform: opts.Platform, All: opts.All, Jobs: opts.Jobs, Progress: opts.Progress, Name: name,
			Verify: policy.Verifier(opts.Policy, ref)})
		if err != nil {
			return nil, ocispec.Descriptor{}, done, err
		}
		return s, res.Manifest, done, nil
	case "oci":
		if err := opts.Policy.CheckLayout(src.Transport, src.Path, src.Ref); err != nil {
			return nil, ocispec.Descriptor{}, noop, err
		}
		s, err := openExistingLayout(src.Path)
		if err != nil {
			return nil, ocispec.Descriptor{}, noop, err
		}
		desc, err := pick(s, src.Ref, opts)
		return s, desc, noop, err
	case "oci-archive":
		if err := opts.Policy.CheckLayout(src.Transport, src.Path, src.Ref); err != nil {
			return nil, ocispec.Descriptor{}, noop, err
		}
		s, done, err := tempLayout(opts.TempDir)
		if err != nil {
			return nil, ocispec.Descriptor{}, noop, err
		}
		if err := extractArchive(src.Path, s.Root()); err != nil {
			return nil, ocispec.Descriptor{}, done, err
		}
		if s, err = openExistingLayout(s.Root()); err != nil {
			return nil, ocispec.Descriptor{}, done, err
		}
		desc, err := pick(s, src.Ref, opts)
		return s, desc, done, err
	}
	return nil, ocispec.Descriptor{}, noop, fmt.Errorf("unknown transport %q", src.Transport)
}

// openExistingLayout opens a layout for reading without creating one.
func openExistingLayout(dir string) (*store.Store, error) {
	if _, err := os.Stat(dir + "/" + ocispec.ImageLayoutFile); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an OCI image layout (no %s)", dir, ocispec.ImageLayoutFile)
		}
		return nil, err
	}
	return store.Open(dir)
}

// pick resolves ref in a layout (the only image when ref is empty), and
// chooses the platform's manifest from an index unless All is set.
func pick(s *store.Store, ref string, opts Options) (ocispec.Descriptor, error) {
	if ref == "" {
		imgs, err := s.Images()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if len(imgs) != 1 {
			return ocispec.Descriptor{}, fmt.Errorf("the layout holds %d images; name one (oci:DIR:REF)", len(imgs))
		}
		ref = imgs[0].Digest.String()
	}
	if opts.All {
		return s.Resolve(ref)
	}
	return s.ResolveImage(ref, opts.Platform)
}

func tempLayout(dir string) (*store.Store, func(), error) {
	d, err := os.MkdirTemp(dir, "berth-image-copy-")
	if err != nil {
		return nil, func() {}, err
	}
	done := func() { os.RemoveAll(d) }
	s, err := store.Open(d)
	if err != nil {
		done()
		return nil, func() {}, err
	}
	return s, done, nil
}
