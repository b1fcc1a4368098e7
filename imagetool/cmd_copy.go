package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/transfer"
)

func init() {
	var all bool
	var jobs int
	register(&command{
		Name:    "copy",
		Args:    "SRC DST",
		Summary: "copy an image between docker://REF, oci:DIR[:REF] and oci-archive:FILE[:REF]",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all", false, "copy every image of an index, not just the --platform one")
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "transfer at most `N` blobs at once")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runCopy(ctx, g, args, all, jobs)
		},
	})
}

func runCopy(ctx context.Context, g *Globals, args []string, all bool, jobs int) error {
	if err := wantArgs(args, 2, "SRC and DST"); err != nil {
		return err
	}
	src, err := transfer.Parse(args[0])
	if err != nil {
		return usagef("source: %v", err)
	}
	dst, err := transfer.Parse(args[1])
	if err != nil {
		return usagef("destination: %v", err)
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	pol, err := g.Policy()
	if err != nil {
		return err
	}
	rep := g.Progress()
	res, err := transfer.Copy(ctx, src, dst, transfer.Options{
		Client: client, Policy: pol, Insecure: g.Insecure, Platform: g.Platform, All: all, Jobs: jobs, Progress: rep,
	})
	rep.Close()
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(res)
	}
	fmt.Fprintf(g.Stdout, "copied %s to %s (%s)\n", res.Source, res.Destination, res.Descriptor.Digest)
	return nil
}
