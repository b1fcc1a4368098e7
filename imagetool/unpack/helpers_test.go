package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
)

// ent is one hand-written tar entry.
type ent struct {
	name     string
	typ      byte
	body     string
	link     string
	mode     int64
	uid, gid int
	major    int64
	minor    int64
	xattrs   map[string]string
	mtime    time.Time
}

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

// tarOf writes the entries as an uncompressed PAX tar.
func tarOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = time.Unix(1700000000, 0)
		}
		hdr := &tar.Header{
			Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Devmajor: e.major, Devminor: e.minor,
			ModTime: mt, Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			hdr.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				hdr.PAXRecords[paxXattr+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipOf(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdOf(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerOf makes an uncompressed Layer of the entries.
func layerOf(t *testing.T, ents ...ent) Layer {
	t.Helper()
	raw := tarOf(t, ents...)
	return blobLayer(MediaTypeTar, raw, digest.FromBytes(raw))
}

func blobLayer(mediaType string, blob []byte, diffID digest.Digest) Layer {
	return Layer{
		Digest:    digest.FromBytes(blob),
		MediaType: mediaType,
		DiffID:    diffID,
		Open:      func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil },
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates devices and chowns files: run it as root")
	}
}

// sandbox returns a rootfs dir and, next to it, an "outside" dir holding a
// secret file that no layer may touch.
func sandbox(t *testing.T) (rootfs, outside string) {
	needRoot(t)
	base := t.TempDir()
	rootfs = filepath.Join(base, "rootfs")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{rootfs, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	return rootfs, outside
}

// checkOutside fails when anything in outside changed.
func checkOutside(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "secret" {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("outside dir changed: %v", names)
	}
	fi, err := os.Stat(filepath.Join(outside, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Fatalf("outside secret changed: mode %v, links %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Nlink)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "host" {
		t.Fatalf("outside secret content changed: %q", b)
	}
	if st, _ := os.Stat(outside); st.Mode().Perm() != 0o755 {
		t.Fatalf("outside dir mode changed: %v", st.Mode())
	}
}

func apply(t *testing.T, rootfs string, layers ...Layer) error {
	t.Helper()
	return ApplyLayers(context.Background(), rootfs, layers, Options{}, DefaultLimits())
}

func mustApply(t *testing.T, rootfs string, layers ...Layer) {
	t.Helper()
	if err := apply(t, rootfs, layers...); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func notExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("%s exists (err %v), want it gone", p, err)
	}
}
