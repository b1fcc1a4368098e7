package unpack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	digest "github.com/opencontainers/go-digest"
)

func TestReadAheadDeliversTheStreamThenItsError(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*readAheadChunk/16+1000) // chunks and a partial one
	broken := errors.New("broken")
	for _, c := range []struct {
		name string
		r    io.Reader
		err  error
	}{
		{"eof", iotest.OneByteReader(bytes.NewReader(data)), io.EOF},
		{"error", io.MultiReader(bytes.NewReader(data), iotest.ErrReader(broken)), broken},
	} {
		h := sha256.New()
		ra := newReadAhead(c.r, h)
		got, err := io.ReadAll(ra)
		if c.err == io.EOF && err != nil || c.err != io.EOF && !errors.Is(err, c.err) {
			t.Fatalf("%s: error %v, want %v", c.name, err, c.err)
		}
		ra.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes, want the %d written", c.name, len(got), len(data))
		}
		if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("%s: hash is not of the stream", c.name)
		}
	}
}

func TestReadAheadClosedEarlyStops(t *testing.T) {
	ra := newReadAhead(bytes.NewReader(make([]byte, 10*readAheadChunk)), sha256.New())
	if _, err := ra.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	ra.Close() // returns only once the goroutine is gone
	ra.Close()
}

func TestUnverifiedLayerIsCheckedAgainstItsDigest(t *testing.T) {
	needRoot(t)
	raw := tarOf(t, file("f", "content"))
	blob := gzipOf(t, raw)
	good := blobLayer("", blob, "")
	good.Unverified = true
	cache := testCache(t)
	if _, err := cache.Prefetch(context.Background(), good, NewBudget(DefaultLimits())); err != nil {
		t.Fatalf("the right content: %v", err)
	}
	// A valid layer, but not the blob the digest names.
	other := blobLayer("", blob, "")
	other.Digest, other.Unverified = digest.FromString("another blob"), true
	cache = testCache(t)
	if _, err := cache.Prefetch(context.Background(), other, NewBudget(DefaultLimits())); err == nil {
		t.Fatal("content that does not hash to the layer's digest was extracted")
	}
	if cache.Has(other.Digest) {
		t.Fatal("a layer that failed its digest is in the cache")
	}
}
