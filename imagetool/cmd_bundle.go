package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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
			layers: map[string]*download{}, jobs: uf.jobs}
		rep = pre
	}
	res, err := g.pullImage(ctx, s, refStr, pull.Options{Platform: g.Platform, Jobs: jobs, Progress: rep})
	rep.Close()
	if pre != nil {
		pre.end()
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

// prefetcher extracts each layer into the layer cache while the pull is
// under way: from the partial download as soon as its first bytes are
// written (reading behind the download, see followReader), so that
// decompressing and writing files overlap the transfer instead of waiting
// for it. What is read that way is hashed and checked against the layer's
// digest before the cache entry is published; when it fails (a download
// that started over, a race with its rename), the layer is extracted
// again from the store once the pull has stored it. A layer that was
// already stored is extracted from the store. The manifest and config are
// not known yet, so the layer's compression is told from its content and
// its diff_id is recorded; the unpack that follows checks it against the
// image config like any cache entry. A failure here is ignored: that
// unpack extracts the layer again and reports the error.
//
// At most jobs layers are extracted at once; a free slot goes to the
// largest layer waiting, which takes longest.
type prefetcher struct {
	progress.Reporter
	ctx    context.Context
	s      *store.Store
	cache  *unpack.Cache
	budget *unpack.Budget // the image's limits, over all its layers
	jobs   int
	wg     sync.WaitGroup
	done   atomic.Int64 // layers extracted

	mu      sync.Mutex
	layers  map[string]*download // announced as layers, by id
	running int
	queue   []*download
}

// download is what the pull has reported of one layer.
type download struct {
	d        digest.Digest
	size     int64
	written  int64 // bytes in the partial download
	finished bool
	status   string        // Finish's
	changed  chan struct{} // closed (and replaced) at every report
	started  bool          // an extraction is queued or running
	stream   bool          // it reads the partial download
}

func (p *prefetcher) Start(id, what string, total int64) {
	if d, err := digest.Parse(id); err == nil && what == "layer" {
		p.mu.Lock()
		if p.layers[id] == nil {
			p.layers[id] = &download{d: d, size: total, changed: make(chan struct{})}
		}
		p.mu.Unlock()
	}
	p.Reporter.Start(id, what, total)
}

func (p *prefetcher) Update(id string, done int64) {
	p.Reporter.Update(id, done)
	p.mu.Lock()
	defer p.mu.Unlock()
	if dl := p.layers[id]; dl != nil && !dl.finished {
		dl.written = done
		dl.notify()
		if !dl.started && done > 0 {
			dl.started, dl.stream = true, true
			p.enqueue(dl)
		}
	}
}

func (p *prefetcher) Finish(id, status string) {
	p.Reporter.Finish(id, status)
	p.mu.Lock()
	defer p.mu.Unlock()
	if dl := p.layers[id]; dl != nil && !dl.finished {
		dl.finished, dl.status = true, status
		dl.notify()
		if !dl.started && stored(status) {
			dl.started = true
			p.enqueue(dl)
		}
	}
}

// end is called when the pull has returned: a layer whose download was
// never finished (the pull failed before) ends its extraction.
func (p *prefetcher) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, dl := range p.layers {
		if !dl.finished {
			dl.finished, dl.status = true, "the pull ended before this layer was stored"
			dl.notify()
		}
	}
}

func stored(status string) bool { return status == "done" || status == "exists" }

func (dl *download) notify() {
	close(dl.changed)
	dl.changed = make(chan struct{})
}

// enqueue runs dl's extraction now if a slot is free, else queues it.
// p.mu is held.
func (p *prefetcher) enqueue(dl *download) {
	if p.running >= max(1, p.jobs) {
		p.queue = append(p.queue, dl)
		return
	}
	p.running++
	p.wg.Add(1)
	go p.run(dl)
}

// run extracts dl, then starts the largest layer waiting, if any.
func (p *prefetcher) run(dl *download) {
	defer p.wg.Done()
	if p.ctx.Err() == nil && p.extract(dl) {
		p.done.Add(1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	if len(p.queue) == 0 || p.ctx.Err() != nil {
		return
	}
	next := 0
	for i, q := range p.queue {
		if q.size > p.queue[next].size {
			next = i
		}
	}
	dl = p.queue[next]
	p.queue = append(p.queue[:next], p.queue[next+1:]...)
	p.running++
	p.wg.Add(1)
	go p.run(dl)
}

// extract extracts one layer into the cache, from its partial download
// if it is one; it reports whether it extracted it now.
func (p *prefetcher) extract(dl *download) bool {
	if dl.stream {
		layer := unpack.Layer{Digest: dl.d, Unverified: true, Open: func() (io.ReadCloser, error) { return p.follow(dl) }}
		extracted, err := p.cache.Prefetch(p.ctx, layer, p.budget)
		if err == nil {
			return extracted
		}
		// Start over from the store, once the pull has stored the layer.
		for {
			p.mu.Lock()
			finished, changed := dl.finished, dl.changed
			p.mu.Unlock()
			if finished {
				break
			}
			select {
			case <-changed:
			case <-p.ctx.Done():
				return false
			}
		}
	}
	p.mu.Lock()
	status := dl.status
	p.mu.Unlock()
	// Only blobs the store holds: it verified them against their digest.
	if !stored(status) || !p.s.Has(dl.d, -1) {
		return false
	}
	layer := unpack.Layer{Digest: dl.d, Open: func() (io.ReadCloser, error) { return p.s.OpenBlob(dl.d) }}
	extracted, err := p.cache.Prefetch(p.ctx, layer, p.budget)
	return err == nil && extracted
}

// follow opens dl's partial download (or the blob, once stored) to be
// read as far as the pull has written it.
func (p *prefetcher) follow(dl *download) (io.ReadCloser, error) {
	f, err := p.s.OpenDownload(dl.d)
	if err != nil {
		return nil, err
	}
	return &followReader{f: f, p: p, dl: dl}, nil
}

// followReader reads a file that the pull is writing: no further than the
// bytes it has reported written, waiting for more, and to the end of the
// file once the download is finished and stored. A failed download is an
// error.
type followReader struct {
	f   *os.File
	p   *prefetcher
	dl  *download
	pos int64
}

func (r *followReader) Read(b []byte) (int, error) {
	for {
		r.p.mu.Lock()
		written, finished, status, changed := r.dl.written, r.dl.finished, r.dl.status, r.dl.changed
		r.p.mu.Unlock()
		if finished && !stored(status) {
			return 0, fmt.Errorf("download of %s: %s", r.dl.d, status)
		}
		if finished || written > r.pos {
			if !finished {
				b = b[:min(int64(len(b)), written-r.pos)]
			}
			n, err := r.f.Read(b)
			r.pos += int64(n)
			if n > 0 {
				return n, nil
			}
			if err == io.EOF && finished {
				return 0, io.EOF
			}
			if err != nil && err != io.EOF {
				return 0, err
			}
			// Shorter than reported: the download started over.
		}
		select {
		case <-changed:
		case <-r.p.ctx.Done():
			return 0, r.p.ctx.Err()
		}
	}
}

func (r *followReader) Close() error { return r.f.Close() }
