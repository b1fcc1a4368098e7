package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/berthproject/berth/imagetool/transfer"
)

func init() {
	var jobs int
	var destCreds string
	register(&command{
		Name:    "push",
		Args:    "REF [docker://DEST]",
		Summary: "push a stored image to a registry (to its own name, or DEST): copy from the store",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "upload at most `N` blobs at once")
			fs.StringVar(&destCreds, "dest-creds", "", "`USER[:PASSWORD]` for the registry (default: --creds, else the credential files)")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if len(args) != 1 && len(args) != 2 {
				return usagef("expected REF [docker://DEST], got %d argument(s)", len(args))
			}
			s, err := g.OpenStore()
			if err != nil {
				return err
			}
			entry, err := s.ResolvePlatform(args[0], g.Platform)
			if err != nil {
				return err
			}
			dest := store.Name(entry)
			if len(args) == 2 {
				dest = args[1]
			}
			if !strings.HasPrefix(dest, "docker://") {
				dest = "docker://" + dest
			}
			dst, err := transfer.Parse(dest)
			if err != nil {
				return usagef("destination: %v", err)
			}
			// registries.conf: a blocked registry, a location rewrite.
			rc, err := g.RegistriesConf()
			if err != nil {
				return err
			}
			target, err := rc.Push(reference.Normalize(dst.Ref))
			if err != nil {
				return err
			}
			dst.Ref = target.Ref
			client, err := g.sideRegistry("--dest-creds", destCreds)
			if err != nil {
				return err
			}
			pol, err := g.Policy()
			if err != nil {
				return err
			}
			src := transfer.Location{Transport: "oci", Path: s.Root(), Ref: entry.Digest.String()}
			rep := g.Progress()
			res, err := transfer.Copy(ctx, src, dst, transfer.Options{
				Client: client, Policy: pol, Insecure: g.Insecure, Platform: g.Platform, Jobs: jobs, Progress: rep,
			})
			rep.Close()
			if err != nil {
				return err
			}
			if g.JSON() {
				return g.PrintJSON(res)
			}
			if !g.Quiet {
				fmt.Fprintf(g.Stdout, "pushed %s to %s (%s)\n", args[0], dst.Ref, res.Descriptor.Digest)
			}
			return nil
		},
	})
}
