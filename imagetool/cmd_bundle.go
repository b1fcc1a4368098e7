package main

import (
	"context"
	"flag"

	"github.com/berthproject/berth/imagetool/pull"
)

func init() {
	uf := &unpackFlags{}
	var jobs int
	register(&command{
		Name:    "bundle",
		Args:    "REF BUNDLE",
		Summary: "pull an image and make an OCI runtime bundle of it in one step",
		Flags: func(fs *flag.FlagSet) {
			uf.define(fs)
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "download at most `N` blobs at once")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 2, "REF BUNDLE"); err != nil {
				return err
			}
			return runBundle(ctx, g, uf, jobs, args[0], args[1])
		},
	})
}

func runBundle(ctx context.Context, g *Globals, uf *unpackFlags, jobs int, refStr, bundle string) error {
	ref, err := g.ParseRef(refStr)
	if err != nil {
		return err
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	repo, err := client.Repository(ctx, ref, false)
	if err != nil {
		return err
	}
	rep := g.Progress()
	res, err := pull.Pull(ctx, s, repo, ref, pull.Options{Platform: g.Platform, Jobs: jobs, Progress: rep})
	rep.Close()
	if err != nil {
		return err
	}
	return unpackImage(ctx, g, uf, s, res.Name, res.Manifest, bundle)
}
