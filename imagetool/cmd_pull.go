package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
)

func init() {
	var jobs int
	var repair, oci bool
	register(&command{
		Name:    "pull",
		Args:    "[docker://]REF",
		Summary: "pull an image from a registry into the store",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "download at most `N` blobs at once")
			fs.BoolVar(&oci, "oci", false, "store a Docker schema2 image with OCI media types (same blobs, another manifest digest), as skopeo copy to oci: does, so that skopeo and umoci read it from the store")
			fs.BoolVar(&repair, "repair", false, "hash the blobs already stored again and fetch the ones that fail (see verify)")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			return runPull(ctx, g, args, pull.Options{Jobs: jobs, Repair: repair, OCI: oci})
		},
	})
}

func runPull(ctx context.Context, g *Globals, args []string, opts pull.Options) error {
	if err := wantArgs(args, 1, "REF"); err != nil {
		return err
	}
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	rep := g.Progress()
	opts.Platform, opts.Progress = g.Platform, rep
	res, err := g.pullImage(ctx, s, args[0], opts)
	rep.Close()
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(res)
	}
	fmt.Fprintf(g.Stdout, "%s %s\n", res.Name, res.Manifest.Digest)
	return nil
}

// pullImage pulls refStr into s from the sources registries.conf gives
// for it (mirrors, then the registry's location; search registries for a
// short name), trying each until one has the image. The image is recorded
// under the name the user meant, the trust policy checked for it.
func (g *Globals) pullImage(ctx context.Context, s *store.Store, refStr string, opts pull.Options) (pull.Result, error) {
	rc, err := g.RegistriesConf()
	if err != nil {
		return pull.Result{}, err
	}
	srcs, err := rc.Pull(strings.TrimPrefix(refStr, "docker://"))
	if err != nil {
		return pull.Result{}, err
	}
	client, err := g.Registry()
	if err != nil {
		return pull.Result{}, err
	}
	var failed []string
	var lastErr error
	for i, src := range srcs {
		ref, err := reference.Parse(src.Ref, g.Insecure || src.Insecure)
		if err != nil {
			return pull.Result{}, err
		}
		name, err := reference.Parse(src.Name, false)
		if err != nil {
			return pull.Result{}, err
		}
		o := opts
		if o.Name == "" {
			o.Name = name.StoreName()
		}
		if o.Verify, err = g.verifier(name); err != nil {
			return pull.Result{}, err
		}
		var res pull.Result
		repo, err := client.Repository(ctx, ref, false)
		if err != nil {
			err = fmt.Errorf("%s: %w", ref, err)
		} else if res, err = pull.Pull(ctx, s, repo, ref, o); err == nil {
			return res, nil
		}
		if ctx.Err() != nil || len(srcs) == 1 {
			return res, err
		}
		lastErr = err
		failed = append(failed, oneLine(err))
		if i+1 < len(srcs) {
			g.note(fmt.Sprintf("%s: %s; trying %s", src.Ref, oneLine(err), srcs[i+1].Ref))
		}
	}
	return pull.Result{}, fmt.Errorf("%s: no source has it (%s): %w", refStr, strings.Join(failed, "; "), lastErr)
}
