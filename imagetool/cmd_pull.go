package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/berthproject/berth/imagetool/pull"
)

func init() {
	var jobs int
	register(&command{
		Name:    "pull",
		Args:    "REF",
		Summary: "pull an image from a registry into the store",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "download at most `N` blobs at once")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runPull(ctx, g, args, jobs)
		},
	})
}

func runPull(ctx context.Context, g *Globals, args []string, jobs int) error {
	if err := wantArgs(args, 1, "REF"); err != nil {
		return err
	}
	ref, s, repo, err := g.openSource(ctx, args[0])
	if err != nil {
		return err
	}
	rep := g.Progress()
	res, err := pull.Pull(ctx, s, repo, ref, pull.Options{Platform: g.Platform, Jobs: jobs, Progress: rep})
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
