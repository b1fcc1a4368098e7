package main

import (
	"github.com/berthproject/berth/libcontainer/seccomp"
	"github.com/berthproject/berth/specs/features"
)

func init() {
	register(&command{name: "features", short: "print what this build supports as runtime-spec features JSON", run: cmdFeatures})
}

func cmdFeatures(g *globals, args []string) error {
	if _, err := parse(newFlags("features"), args, 0, 0); err != nil {
		return err
	}
	f := features.Static()
	sc := seccomp.Features()
	f.Linux.Seccomp = &sc
	if f.Annotations == nil {
		f.Annotations = map[string]string{}
	}
	f.Annotations[features.AnnotationVersion] = version
	return printJSON(f)
}
