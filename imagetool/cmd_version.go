package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set by the Makefile (-X main.version=…).
var version, commit string

// versionString is the version, else the module version or VCS revision
// the Go toolchain recorded.
func versionString() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" && len(s.Value) >= 12 {
				c = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c != "" {
		v += " (commit " + c + ")"
	}
	return v
}

func init() {
	register(&command{
		Name:    "version",
		Summary: "print the version (as --version does) and the Go version it was built with",
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if g.JSON() {
				return g.PrintJSON(map[string]string{"version": versionString(), "go": runtime.Version()})
			}
			fmt.Fprintf(g.Stdout, "berth-image version %s\ngo: %s\n", versionString(), runtime.Version())
			return nil
		},
	})
	register(&command{
		Name:    "man",
		Args:    "DIR",
		Summary: "write the man pages (berth-image.1 and one per command, from the same source as --help) into DIR",
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 1, "DIR"); err != nil {
				return err
			}
			written, err := writeManPages(args[0])
			if err != nil {
				return err
			}
			if !g.Quiet {
				fmt.Fprintf(g.Stdout, "wrote %d man pages in %s\n", len(written), args[0])
			}
			return nil
		},
	})
}
