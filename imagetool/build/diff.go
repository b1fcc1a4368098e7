package build

import (
	"archive/tar"
	"context"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/store"
)

// diffTree compares a rootfs (a copied bundle's, or a merged overlay's)
// with the rootfs the image's layers make, as umoci does, and returns the
// entries of a layer holding the difference.
//
// A file is unchanged when its type, mode (setuid, setgid and sticky
// included), owner, xattrs, link target or device number, and for
// non-directories its size and mtime are what the layers say, and either
// its ctime is older than since (the moment the bundle was complete: a
// write or chmod since would have moved it) or its content hashes to the
// layers'. Missing files become whiteouts (of the topmost missing
// directory only), and hardlink groups that were split or joined are
// written again whole.
func diffTree(ctx context.Context, s *store.Store, layers []ocispec.Descriptor, rootfs string, o Owners, since time.Time) ([]entry, error) {
	actual := map[string]*node{}
	var order []string
	unsure := map[string]bool{}
	err := walkTree(rootfs, func(n *node) (bool, error) {
		actual[n.rel] = n
		order = append(order, n.rel)
		if n.typ() == unix.S_IFREG && !time.Unix(n.st.Ctim.Unix()).Before(since) {
			unsure[n.rel] = true
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	base, err := readBase(ctx, s, layers, func(rel string) bool { return unsure[rel] })
	if err != nil {
		return nil, err
	}
	rootfd, err := openRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)

	changed := map[string]bool{}
	for _, rel := range order {
		n := actual[rel]
		c, err := differs(n, base.files[rel], o, rootfd, unsure[rel])
		if err != nil {
			return nil, err
		}
		if c {
			changed[rel] = true
		}
	}
	markHardlinks(actual, base, changed)

	var whiteouts []string
	for rel, e := range base.files {
		if _, ok := actual[rel]; ok || rel == "." {
			continue
		}
		if o.Rootless && (e.hdr.Typeflag == tar.TypeChar || e.hdr.Typeflag == tar.TypeBlock) {
			continue // a rootless unpack cannot make devices
		}
		parent := actual[path.Dir(rel)]
		if parent == nil || parent.typ() != unix.S_IFDIR {
			continue // gone with its parent, or the parent is no directory now
		}
		whiteouts = append(whiteouts, rel)
	}
	// Every emitted path comes with its parent directories, so that the
	// layer lists every directory it has (overlay bundles need that).
	for _, rel := range append(keys(changed), whiteouts...) {
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			changed[d] = true
		}
	}
	var out []entry
	names := keys(changed)
	sort.Strings(names)
	for _, rel := range names {
		n := actual[rel]
		hdr, err := o.header(n)
		if err != nil {
			return nil, err
		}
		if hdr != nil {
			out = append(out, entry{hdr: hdr, rel: rel, ino: n.st.Ino, nlink: uint64(n.st.Nlink)})
		}
	}
	for _, rel := range whiteouts {
		out = append(out, whiteoutEntry(rel))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].rel == "." || out[j].rel == "." {
			return out[i].rel == "."
		}
		return out[i].hdr.Name < out[j].hdr.Name
	})
	return out, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

var tarType = map[byte]uint32{
	tar.TypeReg: unix.S_IFREG, tar.TypeRegA: unix.S_IFREG, tar.TypeDir: unix.S_IFDIR, tar.TypeSymlink: unix.S_IFLNK,
	tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO,
}

// differs compares one file with what the layers made of its path.
func differs(n *node, e *baseEntry, o Owners, rootfd int, unsure bool) (bool, error) {
	if e == nil {
		return true, nil
	}
	if tarType[e.hdr.Typeflag] != n.typ() {
		return true, nil
	}
	got, err := o.header(n)
	if err != nil || got == nil {
		return true, err
	}
	want := e.hdr
	gm, wm := got.Mode&0o7777, want.Mode&0o7777
	if o.Rootless && n.typ() == unix.S_IFDIR {
		gm, wm = gm|0o700, wm|0o700
	}
	if gm != wm || got.Uid != want.Uid || got.Gid != want.Gid || got.Linkname != want.Linkname ||
		got.Devmajor != want.Devmajor || got.Devminor != want.Devminor || !sameXattrs(got, want, o.Rootless) {
		return true, nil
	}
	if n.typ() == unix.S_IFDIR {
		return false, nil // its entries tell what changed in it
	}
	if (n.typ() == unix.S_IFREG && got.Size != want.Size) || !got.ModTime.Equal(want.ModTime) {
		return true, nil
	}
	if n.typ() != unix.S_IFREG || !unsure {
		return false, nil
	}
	if e.sum == "" {
		return true, nil
	}
	f, err := openIn(rootfd, n.rel)
	if err != nil {
		return false, err
	}
	defer f.Close()
	d := digest.Canonical.Digester()
	if _, err := io.Copy(d.Hash(), f); err != nil {
		return false, err
	}
	return d.Digest() != e.sum, nil
}

func sameXattrs(got, want *tar.Header, rootless bool) bool {
	const p = "SCHILY.xattr."
	count := func(h *tar.Header) map[string]string {
		m := map[string]string{}
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, p); ok && keepXattr(name) {
				if rootless && (strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "trusted.")) {
					continue // a rootless unpack cannot set them
				}
				m[name] = v
			}
		}
		return m
	}
	g, w := count(got), count(want)
	if len(g) != len(w) {
		return false
	}
	for k, v := range w {
		if g[k] != v {
			return false
		}
	}
	return true
}

// markHardlinks marks as changed every hardlink group of the rootfs that
// is not the group the layers made (split, joined, or new), and then every
// member of a group of which one member changed, so that the layer links
// them again.
func markHardlinks(actual map[string]*node, base *baseTree, changed map[string]bool) {
	byIno := map[uint64][]string{}
	for rel, n := range actual {
		if n.typ() == unix.S_IFREG && n.st.Nlink > 1 {
			byIno[n.st.Ino] = append(byIno[n.st.Ino], rel)
		}
	}
	leaderOf := func(rel string) string {
		if e := base.files[rel]; e != nil && e.leader != "" {
			return e.leader
		}
		return rel
	}
	markAll := func(rels []string) {
		for _, r := range rels {
			changed[r] = true
		}
	}
	for _, group := range byIno {
		l := leaderOf(group[0])
		same := true
		for _, r := range group {
			same = same && leaderOf(r) == l
		}
		if !same || len(existing(base.members[l], actual)) != len(group) {
			markAll(group)
		}
	}
	for _, members := range base.members {
		ex := existing(members, actual)
		for _, r := range ex {
			if n := actual[r]; n.typ() != unix.S_IFREG || n.st.Ino != actual[ex[0]].st.Ino {
				markAll(ex)
				break
			}
		}
	}
	for _, group := range byIno {
		for _, r := range group {
			if changed[r] {
				markAll(group)
				break
			}
		}
	}
}

func existing(rels []string, actual map[string]*node) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rels {
		if actual[r] != nil && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
