package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// source is one layer of the bench image: host trees copied into it, each
// up to a share of the image's size, as a debootstrap'ed system and the
// packages installed on top of it would be.
type source struct {
	trees []string
	share float64 // of the total size
}

var sources = []source{
	{trees: []string{"/etc", "/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"}, share: 0.40},
	{trees: []string{"/usr/share/doc", "/usr/share/man", "/usr/share/locale", "/usr/share/zoneinfo"}, share: 0.20},
	{trees: []string{"/usr/lib/python3", "/usr/lib/python3.11"}, share: 0.20},
	{trees: []string{"/usr/share/perl", "/usr/share/perl5", "/usr/lib/gcc", "/var/lib/dpkg"}, share: 0.20},
}

// maxFile leaves out files no base image has.
const maxFile = 8 << 20

// buildImage writes an OCI layout at dir with the layers above (gzip) and
// a last layer that changes and deletes files, and describes it.
func buildImage(dir string, total int64) (string, error) {
	var (
		layers             []ocispec.Descriptor
		diffIDs            []digest.Digest
		files, raw, packed int64
	)
	for _, src := range append(sources, source{}) {
		w, err := newLayerWriter(dir)
		if err != nil {
			return "", err
		}
		if src.trees == nil { // the last layer: edits and whiteouts
			err = w.edits()
		} else {
			err = w.addTrees(src.trees, int64(src.share*float64(total)))
		}
		if err != nil {
			return "", err
		}
		desc, diffID, n, err := w.finish()
		if err != nil {
			return "", err
		}
		layers, diffIDs = append(layers, desc), append(diffIDs, diffID)
		files += n
		raw += w.raw
		packed += desc.Size
	}
	created := time.Now().UTC()
	cfg := ocispec.Image{Created: &created, Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cdesc, err := putJSON(dir, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return "", err
	}
	mdesc, err := putJSON(dir, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specsgo.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: layers})
	if err != nil {
		return "", err
	}
	mdesc.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mdesc}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d layers (gzip), %.0f MB uncompressed, %.0f MB compressed, %d entries, from this host's Debian files",
		len(layers), float64(raw)/1e6, float64(packed)/1e6, files), nil
}

type layerWriter struct {
	dir      string
	tmp      *os.File
	gz       *gzip.Writer
	tw       *tar.Writer
	diff     hashCounter
	entries  int64
	raw      int64
	seenDirs map[string]bool
	inodes   map[uint64]string
}

type hashCounter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) { h.n += int64(len(p)); return h.h.Write(p) }

func newLayerWriter(dir string) (*layerWriter, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, "layer-")
	if err != nil {
		return nil, err
	}
	w := &layerWriter{dir: dir, tmp: tmp, seenDirs: map[string]bool{}, inodes: map[uint64]string{}}
	w.diff.h = sha256.New()
	w.gz = gzip.NewWriter(tmp)
	w.tw = tar.NewWriter(io.MultiWriter(w.gz, &w.diff))
	return w, nil
}

// parents writes the directory entries above name once per layer, as
// image builders do.
func (w *layerWriter) parents(name string) error {
	var dirs []string
	for d := filepath.Dir(name); d != "." && d != "/"; d = filepath.Dir(d) {
		dirs = append(dirs, d)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if w.seenDirs[d] {
			continue
		}
		w.seenDirs[d] = true
		fi, err := os.Lstat("/" + d)
		if err != nil || !fi.IsDir() {
			fi = nil
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Unix(1700000000, 0)}
		if fi != nil {
			hdr, _ = tar.FileInfoHeader(fi, "")
			hdr.Name = d + "/"
		}
		if err := w.write(hdr, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *layerWriter) write(hdr *tar.Header, body io.Reader) error {
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	w.entries++
	if body != nil {
		if _, err := io.Copy(w.tw, body); err != nil {
			return err
		}
	}
	return nil
}

// addTrees copies host trees (sorted, deterministic) until budget bytes of
// file content are in the layer.
func (w *layerWriter) addTrees(trees []string, budget int64) error {
	var used int64
	for _, tree := range trees {
		if used >= budget {
			break
		}
		err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
			if err != nil || used >= budget {
				return fs.SkipDir
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			name := strings.TrimPrefix(p, "/")
			link := ""
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				if link, err = os.Readlink(p); err != nil {
					return nil
				}
			case fi.Mode().IsRegular(), fi.IsDir():
			default:
				return nil // sockets, devices, fifos of the host
			}
			if err := w.parents(name); err != nil {
				return err
			}
			if fi.IsDir() {
				if w.seenDirs[name] {
					return nil
				}
				w.seenDirs[name] = true
			}
			hdr, err := tar.FileInfoHeader(fi, link)
			if err != nil {
				return nil
			}
			hdr.Name = name
			if fi.IsDir() {
				hdr.Name += "/"
			}
			if fi.Mode().IsRegular() && fi.Size() > maxFile {
				return nil // a few huge libraries (LLVM) would dwarf the rest
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				if first, ok := w.inodes[st.Ino]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
					return w.write(hdr, nil)
				}
				w.inodes[st.Ino] = name
			}
			if !fi.Mode().IsRegular() {
				return w.write(hdr, nil)
			}

			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			used += fi.Size()
			return w.write(hdr, f)
		})
		if err != nil && err != fs.SkipDir {
			return err
		}
	}
	return nil
}

// edits is the top layer: changed files and whiteouts, as package
// upgrades and clean-ups make.
func (w *layerWriter) edits() error {
	mt := time.Unix(1700000000, 0)
	for _, name := range []string{"etc/hostname", "etc/motd", "etc/bench-marker"} {
		if err := w.parents(name); err != nil {
			return err
		}
		body := "edited by the bench image\n"
		if err := w.write(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mt}, strings.NewReader(body)); err != nil {
			return err
		}
	}
	for _, gone := range []string{"usr/share/doc/.wh.bash", "usr/share/man/.wh.man8", "usr/share/locale/.wh.de"} {
		if err := w.parents(gone); err != nil {
			return err
		}
		if err := w.write(&tar.Header{Typeflag: tar.TypeReg, Name: gone, Mode: 0o644, ModTime: mt}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *layerWriter) finish() (ocispec.Descriptor, digest.Digest, int64, error) {
	if err := w.tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", 0, err
	}
	if err := w.gz.Close(); err != nil {
		return ocispec.Descriptor{}, "", 0, err
	}
	w.raw = w.diff.n
	diffID := digest.NewDigestFromBytes(digest.SHA256, w.diff.h.Sum(nil))
	if _, err := w.tmp.Seek(0, io.SeekStart); err != nil {
		return ocispec.Descriptor{}, "", 0, err
	}
	d, err := digest.FromReader(w.tmp)
	if err != nil {
		return ocispec.Descriptor{}, "", 0, err
	}
	fi, _ := w.tmp.Stat()
	w.tmp.Close()
	if err := os.Rename(w.tmp.Name(), filepath.Join(w.dir, "blobs", "sha256", d.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", 0, err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: fi.Size()}, diffID, w.entries, nil
}

func putJSON(dir, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), b, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}
