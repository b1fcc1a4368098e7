package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/imagetool/bundles"
	"github.com/berthproject/berth/imagetool/killpoint"
	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/berthproject/berth/imagetool/unpack"
	"github.com/berthproject/berth/specs/imageconv"
)

func init() {
	uf := &unpackFlags{}
	register(&command{
		Name:    "unpack",
		Args:    "IMAGE BUNDLE",
		Summary: "make an OCI runtime bundle (rootfs/ and config.json) from a stored image",
		Flags:   uf.define,
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 2, "IMAGE BUNDLE"); err != nil {
				return err
			}
			if err := uf.volumes.check(); err != nil {
				return err
			}
			return runUnpack(ctx, g, uf, args[0], args[1])
		},
	})
}

// unpackFlags are the flags unpack and bundle share.
type unpackFlags struct {
	mode       string
	force      bool
	rootless   bool
	uidMaps    idMapFlag
	gidMaps    idMapFlag
	entrypoint argvFlag
	cmd        argvFlag
	terminal   bool
	volumes    volumeFlag
	jobs       int
	limits     unpack.Limits
}

func (f *unpackFlags) define(fs *flag.FlagSet) {
	f.limits = unpack.DefaultLimits()
	fs.StringVar(&f.mode, "mode", "auto", "`MODE` of making the rootfs from the layer cache: auto, overlay (a mount of the cached layers) or copy")
	fs.BoolVar(&f.force, "force", false, "replace a bundle directory that is not empty")
	fs.BoolVar(&f.rootless, "rootless", false, "unpack without privileges (owners kept in user.rootlesscontainers xattrs) and write a rootless config; implied when not root")
	fs.Var(&f.uidMaps, "uid-map", "`containerID:hostID:size` to shift file owners by, for a user-namespaced container (repeatable)")
	fs.Var(&f.gidMaps, "gid-map", "`containerID:hostID:size` to shift file groups by (repeatable)")
	fs.Var(&f.entrypoint, "entrypoint", "replace the image's Entrypoint (`ARGS`: a JSON array or words; \"\" clears it)")
	fs.Var(&f.cmd, "cmd", "replace the image's Cmd (`ARGS`: a JSON array or words)")
	fs.BoolVar(&f.terminal, "terminal", false, "give the process a terminal (never implied)")
	fs.Var(&f.volumes, "volume", "`HOSTDIR:PATH` bind-mounts HOSTDIR at PATH in config.json (repeatable); the image's Volumes get a tmpfs otherwise")
	// Twice the CPUs: each layer is decompressed on a goroutine of its own
	// (see unpack's readAhead), and bundle extracts layers while they
	// download, so some wait for the network; a free slot also lets the
	// largest layer start early. Measured on the 2-CPU dev VM
	// (bench/bundle, 5 layers): cold bundle median 1.88 s with 2, 1.72 s
	// with 5, 4 and 5 alike.
	fs.IntVar(&f.jobs, "unpack-jobs", max(4, 2*runtime.NumCPU()), "extract at most `N` layers at once")
	fs.Int64Var(&f.limits.MaxBytes, "max-size", f.limits.MaxBytes, "refuse images over `BYTES` uncompressed")
	fs.Int64Var(&f.limits.MaxEntries, "max-entries", f.limits.MaxEntries, "refuse images with more than `N` files")
	fs.IntVar(&f.limits.MaxNameLen, "max-name-len", f.limits.MaxNameLen, "refuse file names or link targets over `N` bytes")
	fs.Int64Var(&f.limits.MaxRatio, "max-ratio", f.limits.MaxRatio, "refuse a layer that decompresses to over `N` times its size, once past 256 MiB (0: no limit)")
}

// idMapFlag collects --uid-map or --gid-map values.
type idMapFlag struct{ maps []rspec.LinuxIDMapping }

func (m *idMapFlag) String() string { return "" }

func (m *idMapFlag) Set(s string) error {
	v, err := unpack.ParseIDMapping(s)
	if err != nil {
		return err
	}
	m.maps = append(m.maps, v)
	return nil
}

// volumeFlag collects --volume HOSTDIR:PATH values.
type volumeFlag struct{ binds map[string]string }

func (v *volumeFlag) String() string { return "" }

func (v *volumeFlag) Set(s string) error {
	host, dest, ok := strings.Cut(s, ":")
	if !ok || host == "" || !strings.HasPrefix(dest, "/") {
		return fmt.Errorf("%q: want HOSTDIR:/container/path", s)
	}
	abs, err := filepath.Abs(host)
	if err != nil {
		return err
	}
	if v.binds == nil {
		v.binds = map[string]string{}
	}
	v.binds[filepath.Clean(dest)] = abs
	return nil
}

// check makes sure every host directory exists, before anything is
// pulled or unpacked.
func (v *volumeFlag) check() error {
	for dest, host := range v.binds {
		if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
			if err == nil {
				err = fmt.Errorf("%s: not a directory", host)
			}
			return fmt.Errorf("--volume %s:%s: %w", host, dest, err)
		}
	}
	return nil
}

// argvFlag is a command line given as a JSON array or as words; set
// tells "not given" from "given empty".
type argvFlag struct {
	set  bool
	argv []string
}

func (a *argvFlag) String() string { return "" }

func (a *argvFlag) Set(s string) error {
	a.set = true
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		if err := json.Unmarshal([]byte(s), &a.argv); err != nil {
			return fmt.Errorf("%q is not a JSON array of strings: %v", s, err)
		}
		return nil
	}
	a.argv = strings.Fields(s)
	return nil
}

// value is nil when the flag was not given (keep the image's).
func (a *argvFlag) value() []string {
	if !a.set {
		return nil
	}
	if a.argv == nil {
		return []string{}
	}
	return a.argv
}

func runUnpack(ctx context.Context, g *Globals, f *unpackFlags, image, bundle string) error {
	s, err := g.OpenStore()
	if err != nil {
		return err
	}
	desc, err := s.ResolveImage(image, g.Platform)
	if err != nil {
		return err
	}
	return unpackImage(ctx, g, f, s, image, desc, bundle, 0)
}

// unpackImage makes bundle from the image manifest desc of s; prefetched
// layers were put in the cache while the image was pulled.
func unpackImage(ctx context.Context, g *Globals, f *unpackFlags, s *store.Store, name string, desc ocispec.Descriptor, bundle string, prefetched int) error {
	mode, err := unpack.ParseMode(f.mode)
	if err != nil {
		return err
	}
	// Shared store lock: gc must not remove the blobs or cached layers
	// while they are read.
	unlock, err := s.RLock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.Manifest(desc)
	if err != nil {
		return err
	}
	img, err := s.Config(m.Config)
	if err != nil {
		return err
	}
	layers, err := imageLayers(s, name, m, img)
	if err != nil {
		return err
	}

	note := func(msg string) {
		if !g.Quiet {
			fmt.Fprintf(g.Stderr, "note: %s\n", msg)
		}
	}
	rootless := f.rootless
	if os.Geteuid() != 0 && !rootless {
		rootless = true
		note("not running as root: unpacking rootless (as --rootless)")
	}
	ids := unpack.IDMap{UIDs: f.uidMaps.maps, GIDs: f.gidMaps.maps}
	opts := unpack.BundleOptions{
		Mode:   mode,
		Force:  f.force,
		Apply:  unpack.Options{IDs: ids, Rootless: rootless, Note: note},
		Limits: f.limits,
		Jobs:   f.jobs,
		Spec: func(rootfs string) (*rspec.Spec, error) {
			return imageconv.Convert(&img, rootfs, imageconv.Options{
				Entrypoint:  f.entrypoint.value(),
				Cmd:         f.cmd.value(),
				Terminal:    f.terminal,
				Rootless:    rootless,
				UIDMappings: ids.UIDs,
				GIDMappings: ids.GIDs,
				Binds:       f.volumes.binds,
			})
		},
	}
	opts.Cache = layerCache(s, rootless)
	// The unpack phase gets its own progress line (or bar, or JSON events).
	rep := g.Progress()
	rep.Start(bundle, "unpack", int64(len(layers)))
	info := bundles.Info{ID: bundles.NewID(), Image: name, Manifest: desc, Store: s.Root(), Rootless: rootless, UIDMap: ids.UIDs, GIDMap: ids.GIDs}
	opts.Record = func(dir string, res unpack.BundleResult) error {
		info.Mode, info.Created = string(res.Mode), time.Now().UTC()
		if res.Mode == unpack.ModeOverlay {
			for _, l := range layers {
				info.Layers = append(info.Layers, l.Digest.String())
			}
		}
		if err := bundles.Write(dir, info); err != nil {
			return err
		}
		// The reference goes in before the bundle is renamed into place,
		// so that a bundle in place always has one (gc drops a reference
		// whose directory does not hold the bundle of its id).
		killpoint.At(killpoint.BundleTrack)
		if err := bundles.Track(s, bundle, info); err != nil {
			return fmt.Errorf("%s: recording the bundle in the store: %w", bundle, err)
		}
		return nil
	}
	res, err := unpack.CreateBundle(ctx, bundle, layers, opts)
	if err != nil {
		rep.Finish(bundle, progress.Aborted)
		rep.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	rep.Update(bundle, int64(len(layers)))
	rep.Finish(bundle, "done")
	rep.Close()
	if g.JSON() {
		return g.PrintJSON(struct {
			Bundle string `json:"bundle"`
			Image  string `json:"image"`
			unpack.BundleResult
			Prefetched int `json:"extractedWhileDownloading"`
		}{bundle, desc.Digest.String(), res, prefetched})
	}
	if !g.Quiet {
		if res.Mode == unpack.ModeDirect {
			fmt.Fprintf(g.Stdout, "%s: %d layers applied straight from the blobs (rootless: no layer cache)\n", bundle, res.Layers)
		} else {
			fmt.Fprintf(g.Stdout, "%s: %d layers (%d extracted while downloading, %d after, %d from the cache), rootfs by %s\n",
				bundle, res.Layers, prefetched, res.Extracted, res.Layers-res.Extracted-prefetched, res.Mode)
		}
		if res.Mode == unpack.ModeOverlay {
			fmt.Fprintf(g.Stdout, "%s/rootfs is an overlay mount of the store's layer cache: remove the bundle with `berth-image unbundle %s` (rm -rf fails on the mount, after emptying the rootfs)\n", bundle, bundle)
		}
	}
	return nil
}

// layerCache is the store's layer cache, or nil when it cannot be used:
// it needs root, since it keeps real owners and device nodes.
func layerCache(s *store.Store, rootless bool) *unpack.Cache {
	if os.Geteuid() != 0 || rootless {
		return nil
	}
	// The same place store.LayerCacheDir names, which gc sweeps.
	return &unpack.Cache{Dir: filepath.Join(s.Root(), "cache", "layers")}
}

// imageLayers lists the layers of m with their diff_ids from img.
func imageLayers(s *store.Store, name string, m ocispec.Manifest, img ocispec.Image) ([]unpack.Layer, error) {
	if len(m.Layers) != len(img.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: manifest has %d layers but config %s has %d diff_ids", name, len(m.Layers), m.Config.Digest, len(img.RootFS.DiffIDs))
	}
	layers := make([]unpack.Layer, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = unpack.Layer{
			Digest:    l.Digest,
			MediaType: l.MediaType,
			DiffID:    img.RootFS.DiffIDs[i],
			Open:      func() (io.ReadCloser, error) { return s.OpenBlob(l.Digest) },
		}
	}
	return layers, nil
}
