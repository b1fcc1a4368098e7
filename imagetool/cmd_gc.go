package main

import (
	"context"
	"fmt"

	"github.com/berthproject/berth/imagetool/progress"
)

func init() {
	register(&command{
		Name:    "gc",
		Summary: "remove blobs and layer caches no image references; print what was freed",
		Run:     runGC,
	})
}

func runGC(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	freed, err := s.GC()
	var total int64
	for _, f := range freed {
		total += f.Bytes
	}
	if g.JSON() {
		type item struct {
			What  string `json:"what"`
			Bytes int64  `json:"bytes"`
		}
		items := []item{}
		for _, f := range freed {
			items = append(items, item{f.What, f.Bytes})
		}
		if perr := g.PrintJSON(map[string]any{"freed": items, "totalBytes": total}); err == nil {
			err = perr
		}
		return err
	}
	for _, f := range freed {
		fmt.Fprintf(g.Stdout, "freed %s (%s)\n", f.What, progress.Bytes(f.Bytes))
	}
	fmt.Fprintf(g.Stdout, "freed %d item(s), %s total\n", len(freed), progress.Bytes(total))
	return err
}
