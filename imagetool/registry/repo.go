package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repo is an authenticated handle on one repository of a registry.
type Repo struct {
	ref  reference.Reference
	rt   http.RoundTripper
	http *http.Client
	// streams is how many connections download one large blob;
	// with autoRanges, only when the first range came slowly.
	streams    int
	autoRanges bool
	// noRanges is set once the registry answered a Range request with
	// the whole blob: later blobs are not asked for in ranges.
	noRanges atomic.Bool
}

// Transport is the authenticated transport, for go-containerregistry's
// remote package (pushes).
func (r *Repo) Transport() http.RoundTripper { return r.rt }

func (r *Repo) url(kind, id string) string {
	// The scheme is corrected to http by go-containerregistry when the
	// ping found a plain-HTTP registry.
	return fmt.Sprintf("https://%s/v2/%s/%s/%s", r.ref.Repo().RegistryStr(), r.ref.Repository, kind, id)
}

// manifestAccept lists what we can read, plus schema1 so that it can be
// recognised and refused with a clear error rather than "not found".
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest,
	store.MediaTypeDockerManifestList, store.MediaTypeDockerManifest,
	store.MediaTypeDockerSchema1Signed, store.MediaTypeDockerSchema1,
}, ", ")

// Manifest is a fetched, verified manifest or index.
type Manifest struct {
	Raw  []byte
	Desc ocispec.Descriptor
}

// GetManifest fetches the manifest or index with the given tag or digest,
// refusing one over store.MaxManifestSize, of an unknown media type, or
// whose content does not match the digest asked for or announced.
func (r *Repo) GetManifest(ctx context.Context, id string) (Manifest, error) {
	what := r.ref.Name() + ":" + id
	if strings.Contains(id, ":") {
		what = r.ref.Name() + "@" + id
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("manifests", id), nil)
	if err != nil {
		return Manifest{}, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := r.http.Do(req)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		transport.CheckError(resp) // drain
		return Manifest{}, fmt.Errorf("manifest %s: not found in the registry (unknown image or tag)", what)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %s", what, describeErr(err))
	}
	if resp.ContentLength > store.MaxManifestSize {
		return Manifest{}, fmt.Errorf("manifest %s: %d bytes is over the %d byte limit", what, resp.ContentLength, store.MaxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, store.MaxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", what, err)
	}
	if len(raw) > store.MaxManifestSize {
		return Manifest{}, fmt.Errorf("manifest %s: over the %d byte limit", what, store.MaxManifestSize)
	}
	mt := mediaType(resp.Header.Get("Content-Type"), raw)
	if store.IsSchema1(mt) {
		return Manifest{}, fmt.Errorf("manifest %s: Docker schema1 (%s) is not supported; push the image again with a current tool", what, mt)
	}
	if !store.IsIndex(mt) && !store.IsManifest(mt) {
		return Manifest{}, fmt.Errorf("manifest %s: unsupported media type %q", what, mt)
	}
	got := digest.FromBytes(raw)
	if want, err := digest.Parse(id); err == nil {
		if got2 := want.Algorithm().FromBytes(raw); got2 != want {
			return Manifest{}, fmt.Errorf("manifest %s: digest mismatch: content hashes to %s", what, got2)
		}
		got = want
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if want, err := digest.Parse(h); err == nil && want.Algorithm().FromBytes(raw) != want {
			return Manifest{}, fmt.Errorf("manifest %s: digest mismatch: registry says %s, content hashes to %s", what, want, got)
		}
	}
	return Manifest{Raw: raw, Desc: ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(raw))}}, nil
}

// mediaType takes the Content-Type, falling back to the mediaType field of
// the document for registries that send a generic type.
func mediaType(contentType string, raw []byte) string {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	if mt != "" && mt != "application/json" && mt != "text/plain" && mt != "application/octet-stream" {
		return mt
	}
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return mt
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.SchemaVersion == 1:
		return store.MediaTypeDockerSchema1
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return mt
}

// BlobSink receives a blob; *store.BlobWriter is one.
type BlobSink interface {
	io.Writer
	Written() int64
	Reset() error
}

// permanentError marks a failure that retrying the download cannot fix:
// the sink failed (disk full, too much data) or the registry announces
// the wrong size.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// blobAttempts bounds how often one blob download is started or resumed.
const blobAttempts = 6

// FetchBlob downloads blob desc into w. When the connection breaks it
// resumes where it stopped with a Range request (restarting if the server
// ignores Range). progress, if set, is called with the bytes written so
// far. Digest and size are checked by the sink's Commit.
func (r *Repo) FetchBlob(ctx context.Context, desc ocispec.Descriptor, w BlobSink, progress func(int64)) error {
	var err error
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = r.fetchOnce(ctx, desc, w, progress, true)
		var se permanentError
		if err == nil || errors.As(err, &se) || ctx.Err() != nil || attempt == blobAttempts || !retryable(err) {
			break
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay *= 2
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return nil
}

// retryable is false for answers that will not change (not found,
// unauthorized) and true for broken connections and server trouble.
func retryable(err error) bool {
	var te *transport.Error
	if asTransportError(err, &te) {
		for _, c := range retryCodes {
			if te.StatusCode == c {
				return true
			}
		}
		return false
	}
	return true
}

func asTransportError(err error, te **transport.Error) bool { return errors.As(err, te) }

// fetchOnce makes one attempt at the rest of the blob; with ranges, a
// large blob may be asked for in ranges.
func (r *Repo) fetchOnce(ctx context.Context, desc ocispec.Descriptor, w BlobSink, progress func(int64), ranges bool) error {
	offset := w.Written()
	if desc.Size >= 0 && offset == desc.Size {
		return nil // all there (a resumed download); the sink's Commit verifies
	}
	// A large blob is asked for in ranges; the answer to the first one
	// tells whether the registry serves ranges at all.
	ranged := ranges && r.streams > 1 && desc.Size >= 0 && desc.Size-offset >= RangeMin && !r.noRanges.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("blobs", desc.Digest.String()), nil)
	if err != nil {
		return err
	}
	switch {
	case ranged:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, min(offset+RangeChunk, desc.Size)-1))
	case offset > 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	t0 := time.Now() // the headers are in: the rate of the body is timed from here
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if ranged { // Range ignored: this blob and the next in one stream each
			r.noRanges.Store(true)
		}
		if offset > 0 { // Range ignored: start over
			if err := w.Reset(); err != nil {
				return permanentError{err}
			}
			offset = 0
		}
	case http.StatusPartialContent:
		start, end, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			return fmt.Errorf("bad Content-Range %q for a request from byte %d", resp.Header.Get("Content-Range"), offset)
		}
		if ranged {
			if total >= 0 && total != desc.Size {
				return permanentError{fmt.Errorf("size mismatch: the registry has %d bytes, the manifest says %d", total, desc.Size)}
			}
			if want := min(offset+RangeChunk, desc.Size) - 1; end != want {
				return fmt.Errorf("bad Content-Range %q for a request of bytes %d-%d", resp.Header.Get("Content-Range"), offset, want)
			}
			return r.afterProbe(ctx, desc, w, resp, t0, progress)
		}
	case http.StatusNotFound:
		transport.CheckError(resp)
		return &transport.Error{StatusCode: http.StatusNotFound, Errors: []transport.Diagnostic{{Code: transport.BlobUnknownErrorCode, Message: "blob not found in the registry"}}}
	default:
		return transport.CheckError(resp, http.StatusOK)
	}
	if n := resp.ContentLength; n >= 0 && desc.Size >= 0 && offset+n != desc.Size {
		return permanentError{fmt.Errorf("size mismatch: the registry sends %d bytes from byte %d, the manifest says %d in all", n, offset, desc.Size)}
	}
	if progress != nil {
		progress(offset)
	}
	if err := stream(resp.Body, w, progress); err != nil {
		return err
	}
	if desc.Size >= 0 && w.Written() < desc.Size {
		return fmt.Errorf("truncated: got %d of %d bytes: %w", w.Written(), desc.Size, io.ErrUnexpectedEOF)
	}
	return nil
}

// contentRange parses "bytes START-END/TOTAL"; total is -1 for "*".
func contentRange(cr string) (start, end, total int64, ok bool) {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, tot, ok := strings.Cut(s, "/")
	a, b, ok2 := strings.Cut(rng, "-")
	if !ok || !ok2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total = -1
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || (total >= 0 && end >= total) {
		return 0, 0, 0, false
	}
	return start, end, total, true
}
