package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/imagetool/store"
	"github.com/berthproject/berth/imagetool/unpack"
)

// baseEntry is a file of an image's rootfs as its layers make it.
type baseEntry struct {
	hdr    *tar.Header // a hardlink carries its target's metadata
	layer  int
	leader string        // first name of its hardlink group
	sum    digest.Digest // content, when asked for
}

// baseTree is the rootfs an image's layers make, from their tar streams:
// whiteouts and opaque directories applied, as unpack applies them.
type baseTree struct {
	files    map[string]*baseEntry
	children map[string]map[string]bool
	members  map[string][]string // leader → names of its hardlink group
}

func cleanTarName(name string) string {
	name = strings.TrimPrefix(name, "/")
	c := path.Clean(name)
	if c == "" || c == "/" {
		return "."
	}
	return strings.TrimPrefix(c, "/")
}

// readBase reads the layers of m. hash(rel) says whose content to hash.
func readBase(ctx context.Context, s *store.Store, layers []ocispec.Descriptor, hash func(rel string) bool) (*baseTree, error) {
	t := &baseTree{files: map[string]*baseEntry{}, children: map[string]map[string]bool{}, members: map[string][]string{}}
	for i, l := range layers {
		if err := t.readLayer(ctx, s, i, l, hash); err != nil {
			return nil, fmt.Errorf("base layer %s: %w", l.Digest, err)
		}
	}
	return t, nil
}

func (t *baseTree) readLayer(ctx context.Context, s *store.Store, idx int, l ocispec.Descriptor, hash func(string) bool) error {
	rc, err := s.OpenBlob(l.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	r, done, err := unpack.Decompress(rc, l.MediaType)
	if err != nil {
		return err
	}
	defer done()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := cleanTarName(hdr.Name)
		dir, base := path.Split(rel)
		dir = path.Clean(dir + ".")
		switch {
		case base == ".wh..wh..opq":
			for c := range t.children[dir] {
				t.remove(path.Join(dir, c), idx)
			}
			continue
		case strings.HasPrefix(base, ".wh..wh."):
			continue
		case strings.HasPrefix(base, ".wh."):
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")), idx)
			continue
		}
		e := &baseEntry{hdr: hdr, layer: idx}
		if hdr.Typeflag == tar.TypeLink {
			target := t.files[cleanTarName(hdr.Linkname)]
			if target == nil {
				continue // unpack refuses it; not ours to judge
			}
			h := *target.hdr
			h.Name = hdr.Name
			e.hdr, e.sum = &h, target.sum
			e.leader = target.leader
			if e.leader == "" {
				e.leader = cleanTarName(hdr.Linkname)
				target.leader = e.leader
				t.members[e.leader] = append(t.members[e.leader], e.leader)
			}
			t.members[e.leader] = append(t.members[e.leader], rel)
		} else if old := t.files[rel]; old != nil && hdr.Typeflag == tar.TypeDir && old.hdr.Typeflag == tar.TypeDir {
			// A directory listed again keeps its content.
		} else {
			t.remove(rel, idx+1) // replaced by this entry
		}
		if (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) && hash != nil && hash(rel) {
			d := digest.Canonical.Digester()
			if _, err := io.Copy(d.Hash(), tr); err != nil {
				return err
			}
			e.sum = d.Digest()
		}
		t.files[rel] = e
		if rel != "." {
			if t.children[dir] == nil {
				t.children[dir] = map[string]bool{}
			}
			t.children[dir][base] = true
		}
	}
}

// remove deletes rel and what is below it, if it came from a layer
// before the one numbered before.
func (t *baseTree) remove(rel string, before int) {
	e := t.files[rel]
	if e == nil || e.layer >= before {
		return
	}
	for c := range t.children[rel] {
		t.remove(path.Join(rel, c), before)
	}
	delete(t.children, rel)
	delete(t.files, rel)
	dir, base := path.Split(rel)
	delete(t.children[path.Clean(dir+".")], base)
}
