package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/transfer"
)

func init() {
	var all bool
	var jobs int
	var srcCreds, destCreds string
	register(&command{
		Name:    "copy",
		Args:    "SRC DST",
		Summary: "copy an image between docker://REF, oci:DIR[:REF] and oci-archive:FILE[:REF]",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all", false, "copy every image of an index, not just the --platform one")
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "transfer at most `N` blobs at once")
			fs.StringVar(&srcCreds, "src-creds", "", "`USER[:PASSWORD]` for the source registry (default: --creds, else the credential files)")
			fs.StringVar(&destCreds, "dest-creds", "", "`USER[:PASSWORD]` for the destination registry (default: --creds, else the credential files)")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runCopy(ctx, g, args, all, jobs, srcCreds, destCreds)
		},
	})
}

func runCopy(ctx context.Context, g *Globals, args []string, all bool, jobs int, srcCreds, destCreds string) error {
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
	client, err := g.sideRegistry("--src-creds", srcCreds)
	if err != nil {
		return err
	}
	destClient, err := g.sideRegistry("--dest-creds", destCreds)
	if err != nil {
		return err
	}
	pol, err := g.Policy()
	if err != nil {
		return err
	}
	rep := g.Progress()
	res, err := transfer.Copy(ctx, src, dst, transfer.Options{
		Client: client, DestClient: destClient, Policy: pol, Insecure: g.Insecure, Platform: g.Platform, All: all, Jobs: jobs, Progress: rep,
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

// sideRegistry is the registry client for one side of a copy: its own
// credentials when given, else --creds, else the credential files.
func (g *Globals) sideRegistry(flag, creds string) (*registry.Client, error) {
	if creds == "" {
		return g.Registry()
	}
	return g.RegistryWithCreds(flag, creds)
}
