package unpack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/killpoint"
	"github.com/berthproject/berth/specs"
)

// Mode is how a bundle's rootfs is made from the layer cache.
type Mode string

const (
	// ModeAuto: overlay when possible (root, no ID map, the mount
	// works), else copy.
	ModeAuto Mode = "auto"
	// ModeOverlay mounts an overlayfs of the cached layers at rootfs,
	// with the writable layer in the bundle: instant, but the bundle
	// depends on the cache and the mount (umount rootfs before removing
	// the bundle; it does not survive a reboot).
	ModeOverlay Mode = "overlay"
	// ModeCopy copies the cached layers into rootfs (reflinks where the
	// filesystem can): a self-contained bundle. Hardlinks into the
	// cache are never used, since a container writing to such a file
	// would change the cache for every later bundle.
	ModeCopy Mode = "copy"
	// ModeDirect applies the layer blobs straight into rootfs, with no
	// cache; used when not root (the cache needs real owners and
	// devices) and for --rootless.
	ModeDirect Mode = "direct"
)

// ParseMode checks a --mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeOverlay, ModeCopy:
		return m, nil
	}
	return "", fmt.Errorf("--mode %q: want auto, overlay or copy", s)
}

// overlayDir holds the overlay's upper and work dirs inside the bundle.
const overlayDir = ".berth-overlay"

// IncompleteFile (specs.IncompleteMarker, which berth create also refuses)
// marks a bundle that is not finished: it is made first in
// the temporary bundle directory and removed last, before the rename into
// place for a copied rootfs (which is thus never seen incomplete), after
// the overlay mount for an overlay rootfs (a berth-image killed between
// the rename and the mount leaves it in the bundle, whose rootfs is then
// an empty directory). The next bundle into that directory refuses it
// unless --force, naming the cause.
const IncompleteFile = specs.IncompleteMarker

// BundleOptions say how to make a bundle.
type BundleOptions struct {
	Mode Mode
	// Cache is the layer cache; nil applies the blobs directly.
	Cache *Cache
	// Force replaces a bundle directory that is not empty.
	Force  bool
	Apply  Options
	Limits Limits
	// Jobs bounds layers extracted at once.
	Jobs int
	// Spec returns the content of config.json for the finished rootfs.
	Spec func(rootfs string) (*rspec.Spec, error)
	// Record, if set, writes what the caller keeps about the bundle into
	// the (temporary) bundle directory dir once rootfs and config.json
	// are complete.
	Record func(dir string, res BundleResult) error
}

// BundleResult says what CreateBundle did.
type BundleResult struct {
	Mode      Mode `json:"mode"`
	Layers    int  `json:"layers"`
	Extracted int  `json:"extracted"` // layers extracted into the cache now
}

// CreateBundle makes the runtime bundle dir (rootfs/ and config.json) from
// layers. The bundle is built in a temporary directory next to dir and
// renamed into place only when complete, so a failure leaves nothing
// behind and an existing bundle replaced with Force is swapped atomically.
func CreateBundle(ctx context.Context, dir string, layers []Layer, opts BundleOptions) (res BundleResult, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return res, err
	}
	exists, err := checkBundleDir(dir, opts.Force)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return res, fmt.Errorf("bundle %s: %w", dir, err)
	}
	removeAbandoned(dir)
	tmp := fmt.Sprintf("%s.%d-%s", tempPrefix(dir), os.Getpid(), randomSuffix())
	// 0700 as umoci: the rootfs holds setuid binaries and device nodes.
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return res, fmt.Errorf("bundle %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			discardBundle(tmp)
		}
	}()
	if err := os.WriteFile(filepath.Join(tmp, IncompleteFile), []byte("berth-image bundle did not finish making this bundle\n"), 0o600); err != nil {
		return res, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if !opts.Apply.IDs.Identity() {
		// The container's root must reach rootfs through the bundle dir;
		// it gets the directory rather than everyone getting o+x.
		uid, gid, err := opts.Apply.IDs.Host(0, 0)
		if err != nil {
			return res, err
		}
		if err := os.Chown(tmp, uid, gid); err != nil {
			return res, err
		}
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return res, err
	}
	res, lowers, err := fillRootfs(ctx, tmp, rootfs, layers, opts)
	if err != nil {
		return res, err
	}
	killpoint.At(killpoint.BundleRootfs)
	spec, err := opts.Spec(rootfs)
	if err != nil {
		return res, err
	}
	if err := specs.WriteSpec(filepath.Join(tmp, "config.json"), spec); err != nil {
		return res, err
	}
	if opts.Record != nil {
		if err := opts.Record(tmp, res); err != nil {
			return res, err
		}
	}
	if res.Mode != ModeOverlay {
		if err := os.Remove(filepath.Join(tmp, IncompleteFile)); err != nil {
			return res, fmt.Errorf("bundle %s: %w", dir, err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return res, err
	}
	killpoint.At(killpoint.BundleSwap)
	if res.Mode != ModeOverlay {
		return res, swapIn(tmp, dir, exists)
	}
	// The overlay was mounted to read the image's /etc/passwd; mount it
	// again once the bundle has its final name, so that the mount table
	// names the real upper and work dirs.
	if err := unix.Unmount(rootfs, 0); err != nil {
		return res, fmt.Errorf("unmounting %s: %w", rootfs, err)
	}
	if err := swapIn(tmp, dir, exists); err != nil {
		return res, err
	}
	killpoint.At(killpoint.BundleMount)
	if err := mountOverlay(filepath.Join(dir, "rootfs"), lowers, filepath.Join(dir, overlayDir, "upper"), filepath.Join(dir, overlayDir, "work")); err != nil {
		discardBundle(dir)
		return res, err
	}
	killpoint.At(killpoint.BundleDone)
	if err := os.Remove(filepath.Join(dir, IncompleteFile)); err != nil {
		return res, fmt.Errorf("bundle %s: %w", dir, err)
	}
	return res, syncDir(dir)
}

// fillRootfs makes the rootfs in the mode asked for (see Mode); for an
// overlay it also returns the lower dirs mounted.
func fillRootfs(ctx context.Context, bundle, rootfs string, layers []Layer, opts BundleOptions) (BundleResult, []string, error) {
	res := BundleResult{Layers: len(layers)}
	mode := opts.Mode
	if mode == "" {
		mode = ModeAuto
	}
	privileged := os.Geteuid() == 0 && !opts.Apply.Rootless
	if opts.Cache == nil || !privileged {
		if mode == ModeOverlay {
			return res, nil, errors.New("--mode overlay needs root and the layer cache (and no --rootless)")
		}
		res.Mode = ModeDirect
		return res, nil, ApplyLayers(ctx, rootfs, layers, opts.Apply, opts.Limits)
	}
	if mode == ModeOverlay && !opts.Apply.IDs.Identity() {
		return res, nil, errors.New("--mode overlay cannot shift owners for --uid-map/--gid-map; use --mode copy")
	}
	dirs, n, err := opts.Cache.Ensure(ctx, layers, opts.Limits, opts.Jobs)
	if err != nil {
		return res, nil, err
	}
	res.Extracted = n
	implicit := make([]map[string]bool, len(layers))
	hidesLower := false // a layer has a directory it does not list
	for i, l := range layers {
		if implicit[i], err = opts.Cache.implicitDirs(l.Digest); err != nil {
			return res, nil, err
		}
		hidesLower = hidesLower || len(implicit[i]) > 1 || len(implicit[i]) == 1 && !implicit[i]["."]
	}
	if mode == ModeAuto && hidesLower {
		// overlayfs shows such a directory with the owner and mode of the
		// topmost layer that has it, not of the topmost that lists it.
		note(opts, "a layer does not list some of its parent directories; copying the layers so that they keep their owners and modes")
	}
	if mode == ModeOverlay || (mode == ModeAuto && opts.Apply.IDs.Identity() && !hidesLower) {
		if mode == ModeOverlay && hidesLower {
			note(opts, "a layer does not list some of its parent directories: in the overlay they show root:root 0755")
		}
		err := overlayRootfs(bundle, rootfs, dirs, implicit)
		if err == nil {
			res.Mode = ModeOverlay
			return res, dirs, nil
		}
		if mode == ModeOverlay {
			return res, nil, err
		}
		note(opts, fmt.Sprintf("overlay unavailable (%v); copying the layers instead", err))
		if err := os.RemoveAll(filepath.Join(bundle, overlayDir)); err != nil {
			return res, nil, err
		}
	}
	res.Mode = ModeCopy
	return res, nil, copyRootfs(ctx, rootfs, layers, dirs, implicit, opts.Apply)
}

func note(opts BundleOptions, msg string) {
	if opts.Apply.Note != nil {
		opts.Apply.Note(msg)
	}
}

func overlayRootfs(bundle, rootfs string, lowers []string, implicit []map[string]bool) error {
	upper := filepath.Join(bundle, overlayDir, "upper")
	work := filepath.Join(bundle, overlayDir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The merged root directory takes the upper dir's owner and mode:
	// give it those of the topmost layer that lists "./", as a copy
	// would, or a fresh directory's.
	var uid, gid int
	mode := os.FileMode(0o755)
	for i := len(lowers) - 1; i >= 0; i-- {
		if implicit[i]["."] {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(lowers[i], &st); err != nil {
			return err
		}
		uid, gid, mode = int(st.Uid), int(st.Gid), os.FileMode(st.Mode&0o777)|unixModeBits(st.Mode)
		break
	}
	if err := os.Lchown(upper, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(upper, mode); err != nil {
		return err
	}
	return mountOverlay(rootfs, lowers, upper, work)
}

// unixModeBits converts setuid/setgid/sticky bits to os.FileMode bits.
func unixModeBits(m uint32) os.FileMode {
	var fm os.FileMode
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// copyRootfs applies the cached layer dirs onto rootfs in order.
func copyRootfs(ctx context.Context, rootfs string, layers []Layer, dirs []string, implicit []map[string]bool, opts Options) error {
	root, err := openRootDir(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	unlimited := NewBudget(Limits{}) // the limits held when the cache was filled
	for i, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := newApplier(ctx, root, opts, unlimited).applyDir(d, implicit[i]); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) {
				ee.Layer = layers[i].Digest.String()
				return fmt.Errorf("copying from the layer cache: %w", err)
			}
			return fmt.Errorf("copying layer %s from the layer cache: %w", layers[i].Digest, err)
		}
	}
	return nil
}

// checkBundleDir refuses a bundle path that is not a directory, or is a
// directory with something in it unless force is set.
func checkBundleDir(dir string, force bool) (exists bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("bundle %s exists and is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err == io.EOF {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, IncompleteFile)); err == nil && !force {
		return false, fmt.Errorf("bundle directory %s holds an incomplete bundle (%s: a berth-image bundle was killed before it finished; --force replaces it)", dir, IncompleteFile)
	}
	if !force {
		return false, fmt.Errorf("bundle directory %s exists and is not empty (--force replaces it)", dir)
	}
	return true, nil
}

// tempPrefix names the temporary directories of bundle dir: hidden
// siblings of it, "<name>.berth-tmp.<pid>-<random>".
func tempPrefix(dir string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".berth-tmp")
}

// removeAbandoned removes the temporary directories an unpack of dir
// killed before it could clean up (SIGKILL, a crash) left, recognised by
// the process id in their name no longer running.
func removeAbandoned(dir string) {
	matches, _ := filepath.Glob(tempPrefix(dir) + ".*-*")
	for _, m := range matches {
		pid, _, ok := strings.Cut(strings.TrimPrefix(m, tempPrefix(dir)+"."), "-")
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			discardBundle(m)
		}
	}
}

// swapIn moves the finished bundle tmp to dir: a rename over nothing or
// an empty directory, or an atomic exchange with the old bundle, which is
// then removed.
func swapIn(tmp, dir string, exists bool) error {
	err := os.Rename(tmp, dir)
	if err == nil || !exists || !(errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST)) {
		if err != nil {
			return fmt.Errorf("bundle %s: %w", dir, err)
		}
		return nil
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("replacing bundle %s: %w", dir, err)
	}
	return discardBundle(tmp) // now the old bundle
}

// discardBundle removes a bundle directory, unmounting an overlay rootfs.
func discardBundle(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if isMountPoint(rootfs) {
		if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %w", rootfs, err)
		}
	}
	return os.RemoveAll(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
