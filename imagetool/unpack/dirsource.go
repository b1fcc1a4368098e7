package unpack

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// applyDir applies a layer kept in the layer cache (a directory in
// overlayfs lower-dir form) as if it were the layer's tar stream: each file
// becomes the tar.Header it came from, 0:0 character devices become
// ".wh.NAME" and opaque directories ".wh..wh..opq", so that the same
// applier rules (type replacement, whiteouts, owners, ID maps) hold in
// every mode.
//
// Directories in implicit (the layer has them only as parents of its
// entries) are walked but not emitted, so that they keep what lower layers
// made of them, as they would had the layer's tar been applied.
func (a *applier) applyDir(layerDir string, implicit map[string]bool) error {
	fd, err := unix.Open(layerDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: layerDir, Err: err}
	}
	w := &dirWalker{a: a, links: map[uint64]string{}, implicit: implicit}
	err = w.dir(fd, ".", "./")
	unix.Close(fd)
	if err != nil {
		return err
	}
	return a.finish()
}

type dirWalker struct {
	a *applier
	// links maps an inode seen with nlink > 1 to its first name, so that
	// later names become hardlinks as in the original tar.
	links    map[uint64]string
	implicit map[string]bool
}

// dir emits directory fd (named name in the layer, header name hname) and
// then everything in it.
func (w *dirWalker) dir(fd int, name, hname string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	xattrs, err := fdXattrs(fd)
	if err != nil {
		return fmt.Errorf("xattrs of %s: %w", name, err)
	}
	opaque := xattrs[overlayOpaque] == "y"
	hdr, err := header(&st, hname, xattrs)
	if err != nil {
		return err
	}
	if !w.implicit[name] {
		if err := w.emit(hdr, nil); err != nil {
			return err
		}
	}
	if opaque {
		if err := w.emit(&tar.Header{Name: path.Join(name, whiteoutOpaque), Typeflag: tar.TypeReg}, nil); err != nil {
			return err
		}
	}
	// os.File owns (and finally closes) its fd, so give it a duplicate.
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), name)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	sort.Strings(names)
	for _, child := range names {
		if err := w.child(fd, name, child); err != nil {
			return err
		}
	}
	return nil
}

func (w *dirWalker) child(dirfd int, dir, base string) error {
	name := path.Join(dir, base)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		defer unix.Close(fd)
		return w.dir(fd, name, name+"/")
	case unix.S_IFREG:
		if st.Nlink > 1 {
			if first, ok := w.links[st.Ino]; ok {
				return w.emit(&tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: first}, nil)
			}
			w.links[st.Ino] = name
		}
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		defer unix.Close(fd)
		xattrs, err := fdXattrs(fd)
		if err != nil {
			return fmt.Errorf("xattrs of %s: %w", name, err)
		}
		hdr, err := header(&st, name, xattrs)
		if err != nil {
			return err
		}
		return w.emit(hdr, &cacheFile{fd})
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			return w.emit(&tar.Header{Name: path.Join(dir, whiteoutPrefix+base), Typeflag: tar.TypeReg}, nil)
		}
	}
	// Symlinks, devices, fifos: read through the parent, never followed.
	xattrs, err := pathXattrs("/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + base)
	if err != nil {
		return fmt.Errorf("xattrs of %s: %w", name, err)
	}
	hdr, err := header(&st, name, xattrs)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dirfd, base, buf)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", name, err)
		}
		hdr.Linkname = string(buf[:n])
	}
	return w.emit(hdr, nil)
}

func (w *dirWalker) emit(hdr *tar.Header, f *cacheFile) error {
	if err := w.a.ctx.Err(); err != nil {
		return err
	}
	var r io.Reader = f
	if f == nil {
		r = bytes.NewReader(nil)
	}
	if err := w.a.entry(hdr, r); err != nil {
		return &EntryError{Entry: hdr.Name, Err: err}
	}
	return nil
}

// header is the tar header a file of the cache was made from. The
// overlay's own xattrs are not part of the layer and are left out.
func header(st *unix.Stat_t, name string, xattrs map[string]string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:       name,
		Mode:       int64(st.Mode & 0o7777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Unix()),
		AccessTime: time.Unix(st.Atim.Unix()),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("%s: unsupported file type %o", name, st.Mode&unix.S_IFMT)
	}
	if len(xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range xattrs {
			if strings.HasPrefix(k, "trusted.overlay.") {
				continue
			}
			hdr.PAXRecords[paxXattr+k] = v
		}
	}
	return hdr, nil
}

// fdXattrs and pathXattrs read all extended attributes of a file.
func fdXattrs(fd int) (map[string]string, error) {
	return readXattrs(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(n string, b []byte) (int, error) { return unix.Fgetxattr(fd, n, b) })
}

func pathXattrs(p string) (map[string]string, error) {
	return readXattrs(func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(n string, b []byte) (int, error) { return unix.Lgetxattr(p, n, b) })
}

func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) (map[string]string, error) {
	// Ask for the size first: most files have no xattrs, and then
	// nothing is allocated.
	n, err := list(nil)
	if err == unix.ENOTSUP || err == nil && n == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = list(buf); err == unix.ERANGE { // grew meanwhile
		buf = make([]byte, xattrMax)
		n, err = list(buf)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range bytes.Split(bytes.TrimSuffix(buf[:n], []byte{0}), []byte{0}) {
		m, err := get(string(name), nil)
		if err == unix.ENODATA {
			continue
		}
		val := make([]byte, m)
		if err == nil {
			m, err = get(string(name), val)
		}
		if err == unix.ERANGE {
			val = make([]byte, xattrMax)
			m, err = get(string(name), val)
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", name, err)
		}
		out[string(name)] = string(val[:m])
	}
	return out, nil
}

// xattrMax is XATTR_LIST_MAX and XATTR_SIZE_MAX of linux/limits.h.
const xattrMax = 65536
