package main

import (
	"context"
	"fmt"

	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func init() {
	register(&command{
		Name:    "rm",
		Args:    "REF...",
		Summary: "remove images from the store's index, every platform of the name or the --platform one (their blobs go with the next gc)",
		Run:     runRm,
	})
}

func runRm(ctx context.Context, g *Globals, args []string) error {
	if len(args) == 0 {
		return usagef("expected at least one REF")
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	var out []map[string]string
	for _, ref := range args {
		// --platform removes that platform's entry only; without it,
		// every platform of the name goes.
		var removed []ocispec.Descriptor
		var err error
		if g.PlatformStr != "" {
			removed, err = s.RemovePlatform(ref, g.Platform)
		} else {
			removed, err = s.Remove(ref)
		}
		if err != nil {
			return err
		}
		for _, d := range removed {
			out = append(out, map[string]string{"name": store.Name(d), "digest": d.Digest.String()})
			if !g.JSON() {
				fmt.Fprintf(g.Stdout, "removed %s %s\n", store.Name(d), d.Digest)
			}
		}
	}
	if g.JSON() {
		return g.PrintJSON(out)
	}
	return nil
}
