package main

import (
	"context"
	"flag"
	"io"
	"sync"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"

	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/berthproject/berth/imagetool/unpack"
)

func init() {
	uf := &unpackFlags{}
	var jobs int
	register(&command{
		Name:    "bundle",
		Args:    "[docker://]REF BUNDLE",
		Summary: "pull an image and make an OCI runtime bundle of it in one step",
		Flags: func(fs *flag.FlagSet) {
			uf.define(fs)
			fs.IntVar(&jobs, "jobs", pull.DefaultJobs, "download at most `N` blobs at once")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 2, "REF BUNDLE"); err != nil {
				return err
			}
			if err := uf.volumes.check(); err != nil {
				return err
			}
			return runBundle(ctx, g, uf, jobs, args[0], args[1])
		},
	})
}

func runBundle(ctx context.Context, g *Globals, uf *unpackFlags, jobs int, refStr, bundle string) error {
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	var rep progress.Reporter = g.Progress()
	var pre *prefetcher
	if cache := layerCache(s, uf.rootless); cache != nil {
		unlock, err := s.RLock() // gc must not take what is extracted
		if err != nil {
			return err
		}
		defer unlock()
		pre = &prefetcher{Reporter: rep, ctx: ctx, s: s, cache: cache, budget: unpack.NewBudget(uf.limits),
			layers: map[string]bool{}, sem: make(chan struct{}, max(1, uf.jobs))}
		rep = pre
	}
	res, err := g.pullImage(ctx, s, refStr, pull.Options{Platform: g.Platform, Jobs: jobs, Progress: rep})
	rep.Close()
	if pre != nil {
		pre.wg.Wait()
	}
	if err != nil {
		return err
	}
	prefetched := 0
	if pre != nil {
		prefetched = int(pre.done.Load())
	}
	return unpackImage(ctx, g, uf, s, res.Name, res.Manifest, bundle, prefetched)
}

// prefetcher extracts each layer into the layer cache as soon as the pull
// has stored it, while the other layers still download. The manifest and
// config are not known yet, so the layer's compression is told from its
// content and its diff_id is recorded; the unpack that follows checks it
// against the image config like any cache entry. A failure here is
// ignored: that unpack extracts the layer again and reports the error.
type prefetcher struct {
	progress.Reporter
	ctx    context.Context
	s      *store.Store
	cache  *unpack.Cache
	budget *unpack.Budget // the image's limits, over all its layers
	sem    chan struct{}
	wg     sync.WaitGroup
	done   atomic.Int64 // layers extracted

	mu     sync.Mutex
	layers map[string]bool // ids announced as layers
}

func (p *prefetcher) Start(id, what string, total int64) {
	if what == "layer" {
		p.mu.Lock()
		p.layers[id] = true
		p.mu.Unlock()
	}
	p.Reporter.Start(id, what, total)
}

func (p *prefetcher) Finish(id, status string) {
	p.Reporter.Finish(id, status)
	p.mu.Lock()
	isLayer := p.layers[id]
	p.mu.Unlock()
	d, err := digest.Parse(id)
	// Only blobs the store holds: it verified them against their digest.
	if !isLayer || (status != "done" && status != "exists") || err != nil || !p.s.Has(d, -1) {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case p.sem <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		layer := unpack.Layer{Digest: d, Open: func() (io.ReadCloser, error) { return p.s.OpenBlob(d) }}
		if extracted, err := p.cache.Prefetch(p.ctx, layer, p.budget); err == nil && extracted {
			p.done.Add(1)
		}
	}()
}
