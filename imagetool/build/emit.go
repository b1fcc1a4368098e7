package build

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// entry is one thing to put in a new layer: a file of the tree (hdr from
// Owners.header) or a whiteout.
type entry struct {
	hdr   *tar.Header
	rel   string
	ino   uint64 // regular files with more than one link: hardlink groups
	nlink uint64
}

func whiteoutEntry(rel string) entry {
	dir, base := path.Split(rel)
	name := dir + ".wh." + base
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, rel: name}
}

func opaqueEntry(dir string) entry {
	name := ".wh..wh..opq"
	if dir != "." {
		name = dir + "/" + name
	}
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, rel: name}
}

// writeEntries writes entries in order into w, reading file contents from
// the tree at rootfd; later names of a hardlinked inode become links to the
// first.
func writeEntries(w *LayerWriter, rootfd int, entries []entry) (int, error) {
	first := map[uint64]string{}
	n := 0
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg && e.nlink > 1 {
			if leader, ok := first[e.ino]; ok {
				link := *hdr
				link.Typeflag, link.Linkname, link.Size, link.PAXRecords = tar.TypeLink, leader, 0, nil
				if err := w.Add(&link, nil); err != nil {
					return n, err
				}
				n++
				continue
			}
			first[e.ino] = strings.TrimSuffix(hdr.Name, "/")
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 && !strings.Contains(path.Base(hdr.Name), ".wh.") {
			f, err := openIn(rootfd, e.rel)
			if err != nil {
				return n, err
			}
			err = w.Add(hdr, f)
			f.Close()
			if err != nil {
				return n, err
			}
		} else if err := w.Add(hdr, nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func openRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", dir, err)
	}
	return fd, nil
}
