package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/berthproject/berth/imagetool/build"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerFlags are the flags of the commands that add a layer.
type layerFlags struct {
	compress, author, message string
}

func (f *layerFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.compress, "compress", "gzip", "layer compression: `gzip`, zstd or none")
	fs.StringVar(&f.author, "author", "", "`NAME` recorded as the image's and the history entry's author")
	fs.StringVar(&f.message, "message", "", "`TEXT` recorded as the history entry's comment")
}

func (f *layerFlags) options(createdBy string) (build.LayerOptions, error) {
	c, err := build.ParseCompression(f.compress)
	if err != nil {
		return build.LayerOptions{}, usagef("%v", err)
	}
	return build.LayerOptions{Compression: c, Author: f.author, Message: f.message, CreatedBy: createdBy, Created: time.Now()}, nil
}

// storeName is the name an image made here is recorded as: the
// canonical reference when name is one.
func storeName(name string) string { return reference.Normalize(name) }

func init() {
	for _, name := range []string{"repack", "commit"} {
		lf := &layerFlags{}
		var image string
		summary := "make an image of a bundle: its image plus one layer with what changed in its rootfs"
		if name == "commit" {
			summary = "the same as repack"
		}
		register(&command{
			Name:    name,
			Args:    "--image REF BUNDLE",
			Summary: summary,
			Flags: func(fs *flag.FlagSet) {
				fs.StringVar(&image, "image", "", "record the new image as `REF` (required)")
				lf.define(fs)
			},
			Run: func(ctx context.Context, g *Globals, args []string) error {
				if err := wantArgs(args, 1, "BUNDLE"); err != nil {
					return err
				}
				if image == "" {
					return usagef("--image REF is required")
				}
				lo, err := lf.options("berth-image " + name)
				if err != nil {
					return err
				}
				s, err := g.OpenStore()
				if err != nil {
					return err
				}
				res, err := build.Repack(ctx, s, args[0], storeName(image), lo, g.note)
				if err != nil {
					return err
				}
				return g.printBuilt(storeName(image), res)
			},
		})
	}

	lf := &layerFlags{}
	var tag string
	var whiteout bool
	register(&command{
		Name:    "insert",
		Args:    "REF SRC DEST",
		Summary: "add the host file or directory SRC at DEST of image REF as a new layer",
		Flags: func(fs *flag.FlagSet) {
			lf.define(fs)
			fs.StringVar(&tag, "tag", "", "record the new image as `REF` instead of replacing the one changed")
			fs.BoolVar(&whiteout, "whiteout", false, "delete DEST from the image instead (SRC is ignored; give \"-\")")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 3, "REF SRC DEST"); err != nil {
				return err
			}
			lo, err := lf.options("berth-image insert " + args[1] + " " + args[2])
			if err != nil {
				return err
			}
			s, base, name, err := g.imageToChange(args[0], tag)
			if err != nil {
				return err
			}
			res, err := build.Insert(ctx, s, base, name, args[1], args[2], build.InsertOptions{LayerOptions: lo, Whiteout: whiteout})
			if err != nil {
				return err
			}
			return g.printBuilt(name, res)
		},
	})

	register(&command{
		Name:    "tag",
		Args:    "SRC DST",
		Summary: "record the stored image SRC also as DST (every platform of it)",
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 2, "SRC DST"); err != nil {
				return err
			}
			s, err := g.OpenStore()
			if err != nil {
				return err
			}
			entries, err := s.Entries(args[0])
			if err != nil {
				return err
			}
			dst := storeName(args[1])
			for _, e := range entries {
				if err := s.Tag(dst, e); err != nil {
					return err
				}
				if !g.Quiet {
					fmt.Fprintf(g.Stdout, "%s %s\n", dst, e.Digest)
				}
			}
			return nil
		},
	})
}

// imageToChange resolves the stored image ref (for --platform) and the
// name its changed version is recorded as: tag, else its own name.
func (g *Globals) imageToChange(ref, tag string) (*store.Store, ocispec.Descriptor, string, error) {
	s, err := g.OpenStore()
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	entry, err := s.ResolvePlatform(ref, g.Platform)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	desc, err := s.ResolveImage(entry.Digest.String(), g.Platform)
	if err != nil {
		return nil, ocispec.Descriptor{}, "", err
	}
	if desc.Platform == nil {
		desc.Platform = entry.Platform
	}
	name := store.Name(entry)
	if name == "" {
		name = ref
	}
	if tag != "" {
		name = storeName(tag)
	}
	return s, desc, name, nil
}

func (g *Globals) note(msg string) {
	if !g.Quiet {
		fmt.Fprintf(g.Stderr, "note: %s\n", msg)
	}
}

func (g *Globals) printBuilt(name string, res build.Result) error {
	if g.JSON() {
		return g.PrintJSON(struct {
			Name string `json:"name"`
			build.Result
		}{name, res})
	}
	if !g.Quiet {
		var how []string
		if res.Layer != nil {
			how = append(how, fmt.Sprintf("new layer %s, %d entries", res.Layer.Desc.Digest, res.Entries))
		}
		if res.Method != "" {
			how = append(how, res.Method)
		}
		fmt.Fprintf(g.Stdout, "%s %s (%s)\n", name, res.Manifest.Digest, strings.Join(how, "; "))
	}
	return nil
}
