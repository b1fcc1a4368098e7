package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBlobWriterVerifies(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello, berth")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}

	// Wrong content: refused, nothing left.
	w, err := s.NewBlobWriter(desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello, world"))
	if err := w.Commit(); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("Commit of wrong content: %v", err)
	}
	// Short content: size mismatch.
	w, _ = s.NewBlobWriter(desc)
	w.Write(data[:3])
	if err := w.Commit(); err == nil || !strings.Contains(err.Error(), "size mismatch") {
		t.Fatalf("Commit of short content: %v", err)
	}
	// Too much content is refused while writing.
	w, _ = s.NewBlobWriter(desc)
	if _, err := w.Write(append(data, '!')); err == nil {
		t.Fatal("Write past the expected size succeeded")
	}
	w.Close()
	if s.Has(desc.Digest, -1) {
		t.Fatal("a refused blob is in the store")
	}
	// Reset after a partial write, then the right content.
	w, _ = s.NewBlobWriter(desc)
	w.Write([]byte("junk"))
	if err := w.Reset(); err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadBlob(desc.Digest); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadBlob = %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
		t.Fatalf("%d temp files left", len(ents))
	}
}

func TestResolveSpellings(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := s.PutBytes(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"n":1}`))
	m2, _ := s.PutBytes(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"n":2}`))
	if err := s.Tag("docker.io/library/alpine:latest", m1); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("latest", m2); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]digest.Digest{
		"alpine":                          m1.Digest,
		"docker.io/alpine":                m1.Digest,
		"alpine@" + m1.Digest.String():    m1.Digest,
		m1.Digest.String():                m1.Digest,
		"latest":                          m2.Digest, // the exact name beats docker.io/library/latest
		"docker.io/library/alpine:latest": m1.Digest,
	} {
		d, err := s.Resolve(ref)
		if err != nil || d.Digest != want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", ref, d.Digest, err, want)
		}
	}
	for _, ref := range []string{"alpine:3", "alpine@" + m2.Digest.String(), "busybox"} {
		if _, err := s.Resolve(ref); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrImageNotFound", ref, err)
		}
	}
	// Tag replaces an image of the same name.
	if err := s.Tag("docker.io/library/alpine:latest", m2); err != nil {
		t.Fatal(err)
	}
	if imgs, _ := s.Images(); len(imgs) != 2 {
		t.Fatalf("%d images after re-tagging, want 2", len(imgs))
	}
	if _, err := s.Remove("alpine"); err != nil {
		t.Fatal(err)
	}
	if imgs, _ := s.Images(); len(imgs) != 1 || Name(imgs[0]) != "latest" {
		t.Fatalf("after Remove: %v", imgs)
	}
}

func TestOpenCleansAbandonedTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.NewBlobWriter(ocispec.Descriptor{Digest: digest.FromString("x"), Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead := filepath.Join(dir, "tmp", "dead")
	if err := os.WriteFile(dead, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	os.Chtimes(dead, old, old)
	os.Chtimes(live.f.Name(), old, old)
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("abandoned temp file kept")
	}
	if _, err := os.Stat(live.f.Name()); err != nil {
		t.Error("temp file of a live writer removed")
	}
}

func TestOpenRefusesOtherLayoutVersion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"9.9.9"}`), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Fatalf("Open: %v", err)
	}
}
