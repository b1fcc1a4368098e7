package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthproject/berth/imagetool/progress"
)

func init() {
	register(&command{
		Name:    "list",
		Summary: "list the images in the store (name, platform, digest, size, created)",
		Run:     runList,
	})
}

func runList(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	entries, err := s.Images()
	if err != nil {
		return err
	}
	infos := []imageInfo{}
	for _, e := range entries {
		info, err := describe(s, e, g.Platform)
		if err != nil {
			// Keep listing: an index without the host's platform is
			// still an image in the store.
			g.Debugf("list %s: %v", info.Name, err)
		}
		info.Manifest, info.Config = nil, nil
		infos = append(infos, info)
	}
	if g.JSON() {
		return g.PrintJSON(infos)
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPLATFORM\tDIGEST\tSIZE\tCREATED")
	for _, i := range infos {
		created := "-"
		if i.Created != nil {
			created = i.Created.UTC().Format(time.RFC3339)
		}
		name := i.Name
		if name == "" {
			name = "<none>"
		}
		plat := i.Platform
		if len(i.Platforms) > 0 {
			plat = strings.Join(i.Platforms, ",")
		}
		if plat == "" {
			plat = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, plat, i.Digest, progress.Bytes(i.Size), created)
	}
	return tw.Flush()
}
