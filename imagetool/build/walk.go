package build

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// node is one file of a tree on disk, read without following symlinks.
type node struct {
	rel    string // clean, relative; "." for the root
	st     unix.Stat_t
	link   string            // symlink target
	xattrs map[string]string // every xattr the file has
}

func (n *node) typ() uint32 { return n.st.Mode & unix.S_IFMT }

// walkTree visits root and everything below it, parents before children
// and names sorted, by file descriptor: no symlink is ever followed, so a
// container running on the bundle cannot redirect the walk. fn returns
// whether to descend into a directory.
func walkTree(root string, fn func(n *node) (bool, error)) error {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(fd)
	n := &node{rel: "."}
	if err := unix.Fstat(fd, &n.st); err != nil {
		return err
	}
	if n.xattrs, err = xattrsOf("/proc/self/fd/"+strconv.Itoa(fd), true); err != nil {
		return fmt.Errorf("%s: xattrs: %w", root, err)
	}
	descend, err := fn(n)
	if err != nil || !descend {
		return err
	}
	return walkDir(fd, ".", fn)
}

func walkDir(fd int, rel string, fn func(n *node) (bool, error)) error {
	names, err := readNames(fd)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	sort.Strings(names)
	for _, name := range names {
		n := &node{rel: path.Join(rel, name)}
		if err := unix.Fstatat(fd, name, &n.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // removed while we walk
			}
			return fmt.Errorf("%s: %w", n.rel, err)
		}
		if n.typ() == unix.S_IFLNK {
			buf := make([]byte, unix.PathMax)
			k, err := unix.Readlinkat(fd, name, buf)
			if err != nil {
				return fmt.Errorf("%s: readlink: %w", n.rel, err)
			}
			n.link = string(buf[:k])
		}
		if n.xattrs, err = xattrsOf("/proc/self/fd/"+strconv.Itoa(fd)+"/"+name, false); err != nil {
			return fmt.Errorf("%s: xattrs: %w", n.rel, err)
		}
		descend, err := fn(n)
		if err != nil {
			return err
		}
		if descend && n.typ() == unix.S_IFDIR {
			cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", n.rel, err)
			}
			err = walkDir(cfd, n.rel, fn)
			unix.Close(cfd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// readNames lists a directory fd without closing it.
func readNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return f.Readdirnames(-1)
}

// xattrMax is XATTR_LIST_MAX and XATTR_SIZE_MAX.
const xattrMax = 65536

// xattrsOf reads the xattrs of p (not following its last component,
// unless follow is set: the root, named by its /proc/self/fd link).
func xattrsOf(p string, follow bool) (map[string]string, error) {
	list, get := unix.Llistxattr, unix.Lgetxattr
	if follow {
		list, get = unix.Listxattr, unix.Getxattr
	}
	buf := make([]byte, xattrMax)
	sz, err := list(p, buf)
	if err == unix.ENOTSUP || err == unix.EPERM || (err == nil && sz == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	val := make([]byte, xattrMax)
	for _, name := range bytes.Split(bytes.TrimSuffix(buf[:sz], []byte{0}), []byte{0}) {
		k, err := get(p, string(name), val)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[string(name)] = string(val[:k])
	}
	return out, nil
}

// Owners turns the owners on disk back into the image's: through the
// inverse of a bundle's id maps, or from user.rootlesscontainers for a
// rootless bundle (whose files all belong to the user who unpacked it).
type Owners struct {
	UIDs, GIDs []rspec.LinuxIDMapping
	Rootless   bool
}

const rootlessXattr = "user.rootlesscontainers"

func (o Owners) of(n *node) (int, int, error) {
	if o.Rootless {
		uid, gid := 0, 0
		if v, ok := n.xattrs[rootlessXattr]; ok {
			var err error
			if uid, gid, err = decodeRootless([]byte(v)); err != nil {
				return 0, 0, fmt.Errorf("%s: %s: %w", n.rel, rootlessXattr, err)
			}
		}
		return uid, gid, nil
	}
	uid, err := unmap(o.UIDs, int(n.st.Uid))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: uid %w", n.rel, err)
	}
	gid, err := unmap(o.GIDs, int(n.st.Gid))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: gid %w", n.rel, err)
	}
	return uid, gid, nil
}

func unmap(ranges []rspec.LinuxIDMapping, host int) (int, error) {
	if len(ranges) == 0 {
		return host, nil
	}
	for _, r := range ranges {
		if host >= int(r.HostID) && host-int(r.HostID) < int(r.Size) {
			return int(r.ContainerID) + host - int(r.HostID), nil
		}
	}
	return 0, fmt.Errorf("%d is outside the bundle's id map", host)
}

// decodeRootless reads the protobuf Resource{uid = 1, gid = 2} (0xFFFFFFFF:
// unchanged, that is root).
func decodeRootless(b []byte) (int, int, error) {
	ids := [3]uint64{}
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 || key&7 != 0 || key>>3 < 1 || key>>3 > 2 {
			return 0, 0, fmt.Errorf("not a Resource message")
		}
		v, m := binary.Uvarint(b[n:])
		if m <= 0 {
			return 0, 0, fmt.Errorf("not a Resource message")
		}
		ids[key>>3] = v
		b = b[n+m:]
	}
	for i := 1; i <= 2; i++ {
		if ids[i] == 0xFFFFFFFF {
			ids[i] = 0
		}
	}
	return int(ids[1]), int(ids[2]), nil
}

// keepXattr says whether an xattr on disk belongs in a layer: not
// overlayfs' own, not the rootless owner record, not SELinux labels (the
// host's, not the image's).
func keepXattr(name string) bool {
	return !strings.HasPrefix(name, "trusted.overlay.") && name != rootlessXattr && name != "security.selinux"
}

// header describes n as a tar entry of the image (owners through o).
func (o Owners) header(n *node) (*tar.Header, error) {
	uid, gid, err := o.of(n)
	if err != nil {
		return nil, err
	}
	hdr := &tar.Header{
		Name: n.rel, Uid: uid, Gid: gid,
		Mode:    int64(n.st.Mode & 0o7777),
		ModTime: time.Unix(n.st.Mtim.Unix()),
	}
	switch n.typ() {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if n.rel == "." {
			hdr.Name = "./"
		}
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, n.st.Size
	case unix.S_IFLNK:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, n.link
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if n.typ() == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(n.st.Rdev)), int64(unix.Minor(n.st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets cannot be in a layer
	}
	for k, v := range n.xattrs {
		if keepXattr(k) {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr, nil
}

// openIn opens rel below the directory root for reading, refusing any
// symlink on the way.
func openIn(rootfd int, rel string) (*os.File, error) {
	fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), rel), nil
}
