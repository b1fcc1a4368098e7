package main

import (
	"path/filepath"

	berthspecs "github.com/berthproject/berth/specs"
)

func init() {
	register(&command{name: "spec", short: "write a default config.json into the bundle", run: cmdSpec})
}

func cmdSpec(g *globals, args []string) error {
	fs := newFlags("spec")
	bundle := fs.String("bundle", ".", "bundle directory to write config.json into")
	fs.alias("b", "bundle")
	rootless := fs.Bool("rootless", false, "write a config for a container run by an unprivileged user")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	spec := berthspecs.Default()
	if *rootless {
		spec = berthspecs.DefaultRootless()
	}
	return berthspecs.WriteSpec(filepath.Join(*bundle, "config.json"), spec)
}
