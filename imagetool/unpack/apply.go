package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/killpoint"
)

// Whiteout names from image-spec layer.md.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"

	// overlayOpaque marks an opaque directory in an overlayfs lower dir.
	overlayOpaque = "trusted.overlay.opaque"
)

// Options say how layer entries become files.
type Options struct {
	// IDs maps the owners in the layer to the owners written on disk.
	IDs IDMap
	// Rootless: do not chown (we are not root); record each owner in the
	// user.rootlesscontainers xattr, skip device nodes and privileged
	// xattrs with a note, and keep directories writable by us.
	Rootless bool
	// Note receives one-line remarks about entries adapted or skipped.
	Note func(msg string)

	// overlay writes whiteouts the way overlayfs reads them in a lower
	// directory (0:0 char devices, trusted.overlay.opaque) instead of
	// deleting: it is how layers are kept in the layer cache.
	overlay bool
}

// EntryError is a layer entry refused or failed; it names both.
type EntryError struct {
	Layer string // layer digest
	Entry string // tar entry name as written in the layer
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %v", e.Layer, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// errEscape marks names that would reach outside the rootfs.
var errEscape = errors.New("path escapes the rootfs")

// applier writes the entries of one layer's tar stream into a rootDir.
type applier struct {
	ctx    context.Context // checked before each entry: an interrupt stops a big layer early
	root   *rootDir
	opts   Options
	budget *Budget
	buf    []byte
	// written holds every path this layer made: a whiteout applies only to
	// lower layers, never to entries of its own layer (layer.md).
	written map[string]struct{}
	// dirTimes are applied when the layer is done, since adding children
	// changes a directory's mtime.
	dirTimes []dirTime
	// implicit holds the directories this layer has but does not list
	// (made as parents of its entries), "." included when the layer has
	// no "./" entry. Only tracked for the layer cache, where they must
	// not override what lower layers say about those directories.
	implicit map[string]bool
}

type dirTime struct {
	name         string
	atime, mtime time.Time
}

func newApplier(ctx context.Context, root *rootDir, opts Options, b *Budget) *applier {
	a := &applier{ctx: ctx, root: root, opts: opts, budget: b, buf: make([]byte, 1<<20), written: map[string]struct{}{}}
	if opts.overlay {
		a.implicit = map[string]bool{".": true}
	}
	return a
}

func (a *applier) note(format string, args ...any) {
	if a.opts.Note != nil {
		a.opts.Note(fmt.Sprintf(format, args...))
	}
}

// applyTar applies every entry of tr. Entry errors are *EntryError with an
// empty Layer, filled in by the caller.
func (a *applier) applyTar(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := a.ctx.Err(); err != nil {
			return err
		}
		if err := a.budget.entry(hdr.Name, hdr.Linkname); err != nil {
			return &EntryError{Entry: hdr.Name, Err: err}
		}
		if err := a.entry(hdr, layerReader{tr}); err != nil {
			return &EntryError{Entry: hdr.Name, Err: err}
		}
		killpoint.At(killpoint.UnpackLayer)
	}
	return a.finish()
}

// finish sets the directory times of this layer, deepest first.
func (a *applier) finish() error {
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		dt := a.dirTimes[i]
		fd, err := a.root.resolve(dt.name, unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			return &EntryError{Entry: dt.name, Err: fmt.Errorf("set times: %w", err)}
		}
		err = setTimesOPath(fd, dt.atime, dt.mtime)
		unix.Close(fd)
		if err != nil {
			return &EntryError{Entry: dt.name, Err: fmt.Errorf("set times: %w", err)}
		}
	}
	a.dirTimes = nil
	return nil
}

// cleanName turns a tar name into a clean path relative to the root ("."
// for the root itself). Absolute names and any ".." are refused rather than
// rewritten: no real layer has them and they are how escapes are tried.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute name: %w", errEscape)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("\"..\" in name: %w", errEscape)
		}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("NUL byte in name")
	}
	return path.Clean(name), nil
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = path.Clean(dir + ".")
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base)
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the root can only be a directory")
		}
		return a.rootDirMeta(hdr)
	}
	pfd, err := a.root.dir(dir, true, a.newDir)
	if err != nil {
		return err
	}
	a.written[name] = struct{}{}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.mkdir(pfd, base, name, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont: // contiguous files are regular ones (POSIX)
		return a.regular(pfd, base, hdr, r)
	case tar.TypeSymlink:
		if err := a.create(pfd, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return a.metaAt(pfd, base, hdr, false)
	case tar.TypeLink:
		return a.hardlink(pfd, base, name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.node(pfd, base, hdr)
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

// replace removes what is at base unless nothing is, so that an entry of
// another type (or a file over a file) starts from a clean slate. Nothing
// existing is ever opened for writing: a device node or fifo planted by a
// lower layer is unlinked, not written through.
func (a *applier) replace(pfd int, base string) error {
	st, ok, err := lstatAt(pfd, base)
	if err != nil || !ok {
		return err
	}
	if err := a.root.removeAt(pfd, base, &st); err != nil {
		return fmt.Errorf("replace existing: %w", err)
	}
	return nil
}

func (a *applier) mkdir(pfd int, base, name string, hdr *tar.Header) error {
	created := uint32(0o700 &^ umask())
	err := unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		created = noMode // an existing directory keeps its content, takes new metadata
		st, ok, serr := lstatAt(pfd, base)
		if serr != nil {
			return serr
		}
		err = nil
		if ok && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := a.root.removeAt(pfd, base, &st); err != nil {
				return fmt.Errorf("replace existing: %w", err)
			}
			err = unix.Mkdirat(pfd, base, 0o700)
			created = uint32(0o700 &^ umask())
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	if err := a.metaFd(fd, hdr, true, created); err != nil {
		return err
	}
	a.dirTimes = append(a.dirTimes, dirTime{name, hdr.AccessTime, hdr.ModTime})
	delete(a.implicit, name)
	return nil
}

func (a *applier) rootDirMeta(hdr *tar.Header) error {
	// Reopen readable: fchown and fchmod do not work on O_PATH fds.
	rfd, err := unix.Openat(a.root.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	if err := a.metaFd(rfd, hdr, true, noMode); err != nil {
		return err
	}
	a.dirTimes = append(a.dirTimes, dirTime{".", hdr.AccessTime, hdr.ModTime})
	delete(a.implicit, ".")
	return nil
}

func (a *applier) regular(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	mode := uint32(hdr.Mode & 0o7777)
	var fd int
	err := a.create(pfd, base, func() (err error) {
		// Created with its final permissions (less the umask, in a
		// directory only we can reach yet), to spare a chmod.
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode&0o777)
		return err
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer unix.Close(fd)
	if src, ok := r.(*cacheFile); ok {
		err = copyFile(fd, src.fd, a.buf)
	} else {
		err = writeAll(fd, io.LimitReader(r, hdr.Size), a.buf)
	}
	var re *readError
	if errors.As(err, &re) {
		return re
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := a.metaFd(fd, hdr, false, mode&0o777&^umask()); err != nil {
		return err
	}
	return setTimes(fd, hdr.AccessTime, hdr.ModTime)
}

// create runs mk, which makes base in pfd; when something is already
// there, it is removed (see replace) and mk runs again. Trying first saves
// a stat per entry: most entries are new.
func (a *applier) create(pfd int, base string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if err := a.replace(pfd, base); err != nil {
		return err
	}
	return mk()
}

// writeAll copies r into fd with plain write(2) calls: an os.File would
// try to register every file with the poller first.
func writeAll(fd int, r io.Reader, buf []byte) error {
	for {
		n, err := r.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			m, werr := unix.Write(fd, p)
			if werr == unix.EINTR {
				continue
			}
			if werr != nil {
				return werr
			}
			p = p[m:]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// cacheFile is a file of the layer cache being copied into a rootfs.
type cacheFile struct{ fd int }

func (c *cacheFile) Read(p []byte) (int, error) {
	n, err := unix.Read(c.fd, p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

// copyFile copies a file of the layer cache: a reflink where the
// filesystem shares extents (btrfs, xfs), else copy_file_range, which
// copies in the kernel, else (across filesystems) read and write through
// buf.
func copyFile(dst, src int, buf []byte) error {
	if err := unix.IoctlFileClone(dst, src); err == nil {
		return nil
	}
	for {
		n, err := unix.CopyFileRange(src, nil, dst, nil, 1<<30, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EXDEV || err == unix.ENOSYS || err == unix.EINVAL || err == unix.EOPNOTSUPP {
			return writeAll(dst, &cacheFile{src}, buf)
		}
		if err != nil || n == 0 {
			return err
		}
	}
}

// layerReader marks errors reading an entry's content, so that they are
// not reported as errors writing the file.
type layerReader struct{ r io.Reader }

func (l layerReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

type readError struct{ err error }

func (e *readError) Error() string {
	if e.err == io.ErrUnexpectedEOF {
		return "reading the layer: unexpected end (truncated or corrupt layer)"
	}
	return "reading the layer: " + e.err.Error()
}

func (e *readError) Unwrap() error { return e.err }

func (a *applier) hardlink(pfd int, base, name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == name {
		return fmt.Errorf("hardlink to itself")
	}
	if target == "." {
		return fmt.Errorf("hardlink to the root")
	}
	// The target's directory is resolved inside the root like any path;
	// its last component is linked as is (a symlink stays a symlink).
	tfd, err := a.root.resolve(path.Dir(target), unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	if err := a.create(pfd, base, func() error { return unix.Linkat(tfd, path.Base(target), pfd, base, 0) }); err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (a *applier) node(pfd int, base string, hdr *tar.Header) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	case tar.TypeFifo:
		mode |= unix.S_IFIFO
	}
	if a.opts.Rootless && hdr.Typeflag != tar.TypeFifo {
		a.note("skipped device node %s (%d:%d): cannot mknod without privileges", hdr.Name, hdr.Devmajor, hdr.Devminor)
		return nil
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := a.create(pfd, base, func() error { return unix.Mknodat(pfd, base, mode, dev) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return a.metaAt(pfd, base, hdr, true)
}

// whiteout applies ".wh.NAME" or the opaque marker in dir.
func (a *applier) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // other aufs metadata (.wh..wh.plnk and the like) means nothing here
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("whiteout of %q: %w", victim, errEscape)
	}
	if a.opts.overlay {
		pfd, err := a.root.dir(dir, true, a.newDir)
		if err != nil {
			return err
		}
		if _, exists, err := lstatAt(pfd, victim); err != nil || exists {
			return err // the same layer's own entry wins over its whiteout
		}
		if err := unix.Mknodat(pfd, victim, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("whiteout: %w", err)
		}
		return nil
	}
	if _, own := a.written[path.Join(dir, victim)]; own {
		return nil
	}
	pfd, err := a.root.dir(dir, false, nil)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	st, ok, err := lstatAt(pfd, victim)
	if err != nil || !ok {
		return err
	}
	if err := a.root.removeAt(pfd, victim, &st); err != nil {
		return fmt.Errorf("whiteout: %w", err)
	}
	return nil
}

// opaque hides everything lower layers put in dir.
func (a *applier) opaque(dir string) error {
	if a.opts.overlay {
		pfd, err := a.root.dir(dir, true, a.newDir)
		if err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fsetxattr(fd, overlayOpaque, []byte("y"), 0); err != nil {
			return fmt.Errorf("opaque directory: %w", err)
		}
		return nil
	}
	fd, err := a.root.resolve(dir, unix.O_DIRECTORY)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a.root.invalidate() // the cached directory may be one that goes away
	return emptyDirAt(fd, ".", func(child string) bool {
		_, own := a.written[path.Join(dir, child)]
		return own
	})
}
