package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/bundles"
	"github.com/berthproject/berth/imagetool/store"
)

// LayerOptions say how a new layer and its history entry are written.
type LayerOptions struct {
	Compression Compression
	Author      string // also the image's author when set
	Message     string // history comment
	CreatedBy   string // history created_by
	Created     time.Time
}

func (o LayerOptions) history() ocispec.History {
	created := o.Created.UTC()
	return ocispec.History{Created: &created, CreatedBy: o.CreatedBy, Author: o.Author, Comment: o.Message}
}

// Result is a new image.
type Result struct {
	Manifest ocispec.Descriptor `json:"manifest"`
	Layer    *Layer             `json:"layer,omitempty"`
	Entries  int                `json:"entries"`
	// Method is how the difference was found: "overlay upper directory"
	// or "compared with the image's layers".
	Method string `json:"method,omitempty"`
}

// Repack records as name the image a bundle was made from plus one layer
// with everything that changed in the bundle's rootfs since.
func Repack(ctx context.Context, s *store.Store, bundle, name string, lo LayerOptions, note func(string)) (Result, error) {
	info, since, err := bundles.Read(bundle)
	if err != nil {
		return Result{}, err
	}
	unlock, err := s.RLock()
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if !s.Has(info.Manifest.Digest, info.Manifest.Size) {
		return Result{}, fmt.Errorf("%s was made from %s (%s), which is no longer in the store %s: pull it again", bundle, info.Image, info.Manifest.Digest, s.Root())
	}
	img, err := Open(s, info.Manifest)
	if err != nil {
		return Result{}, err
	}
	o := Owners{UIDs: info.UIDMap, GIDs: info.GIDMap, Rootless: info.Rootless}
	rootfs := filepath.Join(bundle, "rootfs")
	var entries []entry
	var from, method string
	if upper := filepath.Join(bundle, bundles.OverlayUpper); info.Mode == "overlay" {
		entries, err = upperEntries(upper, o)
		from, method = upper, "overlay upper directory"
		if errors.Is(err, errFullDiff) {
			note(fmt.Sprintf("%v: comparing the merged rootfs with the image instead", err))
			err = nil
			entries = nil
		}
	}
	if entries == nil && err == nil {
		if info.Mode == "overlay" && !mounted(rootfs) {
			return Result{}, fmt.Errorf("%s is not mounted: the overlay bundle cannot be compared with its image", rootfs)
		}
		entries, err = diffTree(ctx, s, img.Manifest().Layers, rootfs, o, since)
		from, method = rootfs, "compared with the image's layers"
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", bundle, err)
	}
	res, err := writeLayer(ctx, s, img, name, from, entries, lo)
	res.Method = method
	return res, err
}

// mounted reports whether dir is a mount point.
func mounted(dir string) bool {
	var sx unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &sx) != nil {
		return false
	}
	return sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// writeLayer writes entries (contents read below dir) as a new layer of
// img and records the result as name.
func writeLayer(ctx context.Context, s *store.Store, img *Image, name, dir string, entries []entry, lo LayerOptions) (Result, error) {
	rootfd, err := openRoot(dir)
	if err != nil {
		return Result{}, err
	}
	defer unix.Close(rootfd)
	w, err := NewLayerWriter(s, lo.Compression)
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	n, err := writeEntries(w, rootfd, entries)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	l, err := w.Commit()
	if err != nil {
		return Result{}, err
	}
	img.AddLayer(l, lo.history())
	if lo.Author != "" {
		img.SetAuthor(lo.Author)
	}
	m, err := img.Commit(name, lo.Created)
	return Result{Manifest: m, Layer: &l, Entries: n}, err
}

// InsertOptions say what insert adds.
type InsertOptions struct {
	LayerOptions
	// Whiteout deletes Dest instead of adding anything.
	Whiteout bool
}

// Insert records as name the image base plus one layer holding the file
// or directory tree src at dest (owners, modes, xattrs as on the host; a
// symlink src itself is followed, symlinks inside a tree are kept).
// Parent directories of dest keep the image's owners and modes.
func Insert(ctx context.Context, s *store.Store, base ocispec.Descriptor, name, src, dest string, opts InsertOptions) (Result, error) {
	if !path.IsAbs(dest) {
		return Result{}, fmt.Errorf("destination %q: want an absolute path in the image", dest)
	}
	for _, c := range strings.Split(dest, "/") {
		if c == ".." {
			return Result{}, fmt.Errorf("destination %q: \"..\" is not allowed", dest)
		}
	}
	rel := cleanTarName(dest)
	if rel == "." && opts.Whiteout {
		return Result{}, fmt.Errorf("--whiteout of the root")
	}
	unlock, err := s.RLock()
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	img, err := Open(s, base)
	if err != nil {
		return Result{}, err
	}
	tree, err := readBase(ctx, s, img.Manifest().Layers, nil)
	if err != nil {
		return Result{}, err
	}
	var entries []entry
	for d := path.Dir(rel); d != "." && rel != "."; d = path.Dir(d) {
		hdr := &tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: opts.Created}
		if e := tree.files[d]; e != nil && e.hdr.Typeflag == tar.TypeDir {
			h := *e.hdr
			h.Name = d + "/"
			hdr = &h
		}
		entries = append([]entry{{hdr: hdr, rel: d}}, entries...)
	}
	dir := "/"
	if opts.Whiteout {
		entries = append(entries, whiteoutEntry(rel))
	} else {
		src, err = filepath.EvalSymlinks(src)
		if err != nil {
			return Result{}, err
		}
		fi, err := os.Stat(src)
		if err != nil {
			return Result{}, err
		}
		top := src
		if !fi.IsDir() {
			dir, top = filepath.Dir(src), filepath.Dir(src)
		} else {
			dir = src
		}
		err = walkTree(top, func(n *node) (bool, error) {
			if !fi.IsDir() && n.rel != filepath.Base(src) {
				return n.rel == ".", nil
			}
			hdr, err := Owners{}.header(n)
			if err != nil || hdr == nil {
				return true, err
			}
			srcRel := n.rel
			target := rel
			if fi.IsDir() && n.rel != "." {
				target = path.Join(rel, n.rel)
			}
			hdr.Name = target
			if n.typ() == unix.S_IFDIR {
				hdr.Name = target + "/"
			}
			if target == "." {
				hdr.Name = "./"
			}
			entries = append(entries, entry{hdr: hdr, rel: srcRel, ino: n.st.Ino, nlink: uint64(n.st.Nlink)})
			return true, nil
		})
		if err != nil {
			return Result{}, err
		}
	}
	return writeLayer(ctx, s, img, name, dir, entries, opts.LayerOptions)
}
