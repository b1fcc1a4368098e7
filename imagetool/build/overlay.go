package build

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// errFullDiff says an overlay upper dir cannot be read as a layer as it is
// (a renamed directory recorded with redirect_dir, a metacopy-only file):
// the merged rootfs must be compared against the image instead.
var errFullDiff = errors.New("the overlay's upper directory uses redirects or metacopy")

// upperEntries turns an overlayfs upper directory into layer entries:
// it already is the difference from the lower layers. Whiteouts (0:0
// character devices) become .wh.NAME, opaque directories get
// .wh..wh..opq, overlayfs' own xattrs are dropped.
func upperEntries(upper string, o Owners) ([]entry, error) {
	var out []entry
	err := walkTree(upper, func(n *node) (bool, error) {
		for _, x := range []string{"trusted.overlay.redirect", "trusted.overlay.metacopy"} {
			if _, ok := n.xattrs[x]; ok {
				return false, fmt.Errorf("%s: %w", n.rel, errFullDiff)
			}
		}
		if n.typ() == unix.S_IFCHR && n.st.Rdev == 0 {
			out = append(out, whiteoutEntry(n.rel))
			return false, nil
		}
		if n.typ() == unix.S_IFREG {
			if _, ok := n.xattrs["trusted.overlay.whiteout"]; ok {
				out = append(out, whiteoutEntry(n.rel))
				return false, nil
			}
		}
		hdr, err := o.header(n)
		if err != nil || hdr == nil {
			return false, err
		}
		out = append(out, entry{hdr: hdr, rel: n.rel, ino: n.st.Ino, nlink: uint64(n.st.Nlink)})
		if n.typ() == unix.S_IFDIR && n.xattrs["trusted.overlay.opaque"] == "y" {
			out = append(out, opaqueEntry(n.rel))
		}
		return true, nil
	})
	return out, err
}
