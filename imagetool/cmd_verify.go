package main

import (
	"context"
	"fmt"

	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func init() {
	register(&command{
		Name:    "verify",
		Args:    "[REF...]",
		Summary: "hash every stored blob of the images (all of them without REF) again; pull --repair fetches what fails",
		Run:     runVerify,
	})
}

func runVerify(ctx context.Context, g *Globals, args []string) error {
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	unlock, err := s.RLock()
	if err != nil {
		return err
	}
	defer unlock()
	var entries []ocispec.Descriptor
	if len(args) == 0 {
		if entries, err = s.Images(); err != nil {
			return err
		}
	}
	for _, ref := range args {
		e, err := s.Resolve(ref)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	type report struct {
		Name   string            `json:"name"`
		Digest string            `json:"digest"`
		Blobs  []store.BlobCheck `json:"blobs"`
	}
	var reports []report
	bad, failed := 0, ""
	for _, e := range entries {
		r := report{Name: store.Name(e), Digest: e.Digest.String(), Blobs: s.Verify(e)}
		reports = append(reports, r)
		for _, c := range r.Blobs {
			if c.Error != "" {
				bad++
				if failed == "" {
					failed = r.Name
				}
			}
			if !g.JSON() && (c.Error != "" || !g.Quiet) {
				status := "ok"
				if c.Error != "" {
					status = "FAILED: " + c.Error
				}
				fmt.Fprintf(g.Stdout, "%s %-8s %s (%s) %s\n", r.Name, c.Role, c.Digest, progress.Bytes(c.Size), status)
			}
		}
	}
	if g.JSON() {
		if reports == nil {
			reports = []report{}
		}
		if err := g.PrintJSON(reports); err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d blob(s) fail verification (first in %s); `berth-image pull --repair REF` fetches them again", bad, failed)
	}
	return nil
}
