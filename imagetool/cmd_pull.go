package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/berthproject/berth/imagetool/pull"
)

func init() {
	var jobs int
	var repair, oci bool
	register(&command{
		Name:    "pull",
		Args:    "[docker://]REF",
		Summary: "pull an image from a registry into the store",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "download at most `N` blobs at once")
			fs.BoolVar(&oci, "oci", false, "store a Docker schema2 image with OCI media types (same blobs, another manifest digest), as skopeo copy to oci: does, so that skopeo and umoci read it from the store")
			fs.BoolVar(&repair, "repair", false, "hash the blobs already stored again and fetch the ones that fail (see verify)")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runPull(ctx, g, args, pull.Options{Jobs: jobs, Repair: repair, OCI: oci})
		},
	})
}

func runPull(ctx context.Context, g *Globals, args []string, opts pull.Options) error {
	if err := wantArgs(args, 1, "REF"); err != nil {
		return err
	}
	ref, s, repo, err := g.openSource(ctx, args[0])
	if err != nil {
		return err
	}
	rep := g.Progress()
	if opts.Verify, err = g.verifier(ref); err != nil {
		return err
	}
	opts.Platform, opts.Progress = g.Platform, rep
	res, err := pull.Pull(ctx, s, repo, ref, opts)
	rep.Close()
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(res)
	}
	fmt.Fprintf(g.Stdout, "%s %s\n", res.Name, res.Manifest.Digest)
	return nil
}
