package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Parallel range downloads. A blob of at least RangeMin bytes is asked
// for in RangeChunk ranges over Repo.streams connections (as containerd
// does). The ranges arrive out of order but are written to the sink, and
// so hashed, in order: the sink always holds a prefix of the blob (what a
// resumed download continues from) and the digest is computed over the
// whole blob in one pass. Ranges that arrive ahead of the one being
// written wait in memory, at most streams+2 chunks (48 MiB with the
// defaults). A registry that answers the first range with the whole blob
// (200) gets one stream per blob from then on.
//
// By default (--range-streams not given) the first range is also a
// measurement: when its body arrives at RangeFast or faster, one stream
// is not what limits the download (on loopback or a fast LAN the
// client's CPU is, and more streams only add work: 1.7x the time of one
// stream on the dev VM's loopback), so the rest comes in one stream.
// Behind a round trip of 20 ms one stream is bound by its TCP window (4
// MiB per round trip: ~200 MB/s) and four streams take 0.66x its time
// (docs/benchmarks.md).
const (
	// RangeChunk is the size of one range request.
	RangeChunk = 8 << 20
	// RangeMin is the smallest blob downloaded in ranges.
	RangeMin = 4 * RangeChunk
	// DefaultRangeStreams is how many connections download one large
	// blob by default.
	DefaultRangeStreams = 4
	// MaxRangeStreams bounds --range-streams.
	MaxRangeStreams = 16
	// RangeFast is the rate (bytes/s) of a first range's body from which
	// the rest of the blob is taken in one stream. One stream on the dev
	// VM's loopback: ~500 MB/s; behind a 20 ms round trip: ~200 MB/s.
	RangeFast = 250 << 20
)

// afterProbe takes the registry's 206 answer to the first range of a
// large blob (already checked; its headers came at t0), writes it, and fetches the
// rest in one stream or in parallel ranges, as the answer's rate says.
func (r *Repo) afterProbe(ctx context.Context, desc ocispec.Descriptor, w BlobSink, first *http.Response, t0 time.Time, progress func(int64)) error {
	off := w.Written()
	b, err := r.getRange(ctx, desc, off, min(off+RangeChunk, desc.Size), make([]byte, RangeChunk), first)
	if err != nil {
		return err
	}
	fast := r.autoRanges && float64(len(b))/time.Since(t0).Seconds() >= RangeFast
	if _, err := w.Write(b); err != nil {
		return permanentError{err}
	}
	if progress != nil {
		progress(w.Written())
	}
	switch {
	case w.Written() == desc.Size:
		return nil
	case fast:
		return r.fetchOnce(ctx, desc, w, progress, false)
	}
	return r.fetchRanges(ctx, desc, w, progress)
}

// chunk is one range of a parallel download.
type chunk struct {
	buf  []byte
	done chan struct{} // closed when buf holds the range (or it failed)
}

// fetchRanges downloads desc from w.Written() on in parallel ranges.
func (r *Repo) fetchRanges(ctx context.Context, desc ocispec.Descriptor, w BlobSink, progress func(int64)) error {
	start := w.Written()
	n := int((desc.Size - start + RangeChunk - 1) / RangeChunk)
	chunks := make([]chunk, n)
	for i := range chunks {
		chunks[i].done = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	// The first failure wins; failed is closed with it, so that the
	// writer stops waiting for ranges that will never come.
	var (
		mu      sync.Mutex
		failErr error
		failed  = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failErr == nil {
			failErr = err
			close(failed)
			cancel()
		}
	}
	// Buffers (made on first use) circulate between the workers and the
	// writer. A worker takes a buffer before it takes the next range, so
	// the range the writer waits for always has one.
	streams := min(r.streams, n)
	pool := make(chan []byte, streams+2)
	for range cap(pool) {
		pool <- nil
	}
	var nextMu sync.Mutex
	next := 0
	take := func() int {
		nextMu.Lock()
		defer nextMu.Unlock()
		i := next
		next++
		return i
	}
	getBuf := func() ([]byte, bool) {
		select {
		case b := <-pool:
			if b == nil {
				b = make([]byte, RangeChunk)
			}
			return b, true
		case <-ctx.Done():
			return nil, false
		}
	}
	worker := func(i int, buf []byte) {
		defer wg.Done()
		for {
			off := start + int64(i)*RangeChunk
			end := min(off+RangeChunk, desc.Size)
			b, err := r.getRange(ctx, desc, off, end, buf, nil)
			if err != nil {
				fail(err) // or, after another failure, ignored
				return
			}
			chunks[i].buf = b
			close(chunks[i].done)
			var ok bool
			if buf, ok = getBuf(); !ok {
				return
			}
			if i = take(); i >= n {
				pool <- buf
				return
			}
		}
	}
	for range streams {
		buf, ok := getBuf()
		if !ok {
			break
		}
		i := take()
		if i >= n {
			pool <- buf
			break
		}
		wg.Add(1)
		go worker(i, buf)
	}

	for i := range chunks {
		select {
		case <-chunks[i].done:
		case <-failed:
		case <-ctx.Done(): // the caller's context
			fail(ctx.Err())
		}
		select {
		case <-failed:
			return failErr
		default:
		}
		if _, err := w.Write(chunks[i].buf); err != nil {
			fail(permanentError{err})
			return failErr
		}
		if progress != nil {
			progress(w.Written())
		}
		pool <- chunks[i].buf[:cap(chunks[i].buf)]
		chunks[i].buf = nil
	}
	return nil
}

// getRange reads bytes [off, end) of desc into buf, from resp when given
// (an answer already checked) or from a request of its own.
func (r *Repo) getRange(ctx context.Context, desc ocispec.Descriptor, off, end int64, buf []byte, resp *http.Response) ([]byte, error) {
	what := fmt.Sprintf("range bytes=%d-%d", off, end-1)
	if resp == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("blobs", desc.Digest.String()), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Range", what[len("range "):])
		if resp, err = r.http.Do(req); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			r.noRanges.Store(true)
			return nil, fmt.Errorf("%s: the registry answered with the whole blob (it served the first range)", what)
		}
		if resp.StatusCode != http.StatusPartialContent {
			defer resp.Body.Close()
			return nil, fmt.Errorf("%s: %w", what, transport.CheckError(resp, http.StatusPartialContent))
		}
		if s, e, _, ok := contentRange(resp.Header.Get("Content-Range")); !ok || s != off || e != end-1 {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: bad Content-Range %q", what, resp.Header.Get("Content-Range"))
		}
	}
	defer resp.Body.Close()
	want := end - off
	if resp.ContentLength >= 0 && resp.ContentLength != want {
		return nil, fmt.Errorf("%s: the registry sends %d bytes", what, resp.ContentLength)
	}
	b := buf[:want]
	if got, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, fmt.Errorf("%s: truncated: got %d of %d bytes: %w", what, got, want, err)
	}
	var extra [1]byte
	if n, _ := resp.Body.Read(extra[:]); n > 0 {
		return nil, fmt.Errorf("%s: the registry sends more than %d bytes", what, want)
	}
	return b, nil
}

// stream copies a blob body into w: one goroutine reads the socket while
// this one writes (and so hashes) what came before. body is closed.
func stream(body io.ReadCloser, w BlobSink, progress func(int64)) error {
	const nbuf, size = 3, 1 << 20
	type piece struct {
		b   []byte
		err error
	}
	free := make(chan []byte, nbuf)
	full := make(chan piece, nbuf) // never blocks: at most nbuf buffers
	for range nbuf {
		free <- make([]byte, size)
	}
	stop := make(chan struct{})
	go func() {
		defer close(full)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n, err := body.Read(b)
			if n > 0 || err != nil {
				full <- piece{b[:n], err}
			} else {
				free <- b
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		body.Close() // ends a Read under way
		for range full {
		}
	}()
	for p := range full {
		if len(p.b) > 0 {
			if _, err := w.Write(p.b); err != nil {
				return permanentError{err}
			}
			if progress != nil {
				progress(w.Written())
			}
		}
		if p.err == io.EOF {
			return nil
		}
		if p.err != nil {
			return fmt.Errorf("connection broke after %d bytes: %w", w.Written(), p.err)
		}
		free <- p.b[:cap(p.b)]
	}
	return nil
}
