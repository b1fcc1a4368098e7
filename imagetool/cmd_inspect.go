package main

import (
	"context"
	"flag"
)

func init() {
	var raw bool
	register(&command{
		Name:    "inspect",
		Args:    "REF",
		Summary: "show a stored image's manifest, config and layers as JSON (--raw: the manifest as stored)",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&raw, "raw", false, "print the manifest (or index) bytes exactly as stored")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runInspect(g, args, raw)
		},
	})
}

func runInspect(g *Globals, args []string, raw bool) error {
	if err := wantArgs(args, 1, "REF"); err != nil {
		return err
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	entry, err := s.Resolve(args[0])
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
	return g.PrintJSON(info)
}
