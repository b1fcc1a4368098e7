package bundles

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berthproject/berth/imagetool/store"
)

// Live bundles and gc.
//
// An overlay bundle's rootfs mounts layers of the store's layer cache, and
// repacking any bundle needs the image it was made from. So that `rm` +
// `gc` of the image cannot break a bundle, every bundle leaves a
// reference file <store>/bundles/<id>.json naming its directory. gc keeps
// the image (manifest, config, layers, their cache) of each overlay bundle
// still there (the directory exists and holds the .berth-bundle.json of
// that id), and the
// cached layers of each overlay mounted from the store's cache in any
// mount namespace (/proc/*/mountinfo: also a bundle that was moved, or
// whose rootfs a running container still has), and removes the reference
// files of bundles that are gone. A `--mode copy` (or rootless) bundle
// runs without the store and keeps nothing: repacking it needs its image,
// which a pull brings back once gc took it.

// ref is a bundle's reference file.
type ref struct {
	Bundle string `json:"bundle"`
	Info   Info   `json:"info"`
}

func refDir(s *store.Store) string { return filepath.Join(s.Root(), "bundles") }

// Track writes the reference file of the bundle at dir.
func Track(s *store.Store, dir string, info Info) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(refDir(s), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(ref{Bundle: abs, Info: info})
	if err != nil {
		return err
	}
	// Durable before the bundle is renamed into place: a bundle in place
	// always has its reference.
	return store.WriteFileAtomic(filepath.Join(refDir(s), info.ID+".json"), b, 0o600, "")
}

// isTemp says whether name is a reference file being written
// (store.WriteFileAtomic's ".<name>.tmp-*"); one left by a killed
// berth-image is removed by gc (which runs while no bundle is made).
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".json.tmp-")
}

// Untrack removes the reference file of bundle id.
func Untrack(s *store.Store, id string) error {
	err := os.Remove(filepath.Join(refDir(s), id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// alive reports whether the bundle of r is still where it was made.
func (r ref) alive() bool {
	info, _, err := Read(r.Bundle)
	return err == nil && info.ID == r.Info.ID
}

// keep lists what the live bundles of s use, dropping stale references.
func keep(s *store.Store) ([]digest.Digest, error) {
	var out []digest.Digest
	ents, err := os.ReadDir(refDir(s))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if isTemp(e.Name()) {
			os.Remove(filepath.Join(refDir(s), e.Name())) // left by a killed Track
			continue
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(refDir(s), e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r ref
		if json.Unmarshal(b, &r) != nil || !r.alive() {
			os.Remove(p)
			continue
		}
		if r.Info.Mode != "overlay" {
			continue // runs without the store
		}
		out = append(out, r.Info.Manifest.Digest)
		if m, err := s.Manifest(r.Info.Manifest); err == nil {
			out = append(out, m.Config.Digest)
			for _, l := range m.Layers {
				out = append(out, l.Digest)
			}
		}
		for _, l := range r.Info.Layers {
			if d, err := digest.Parse(l); err == nil {
				out = append(out, d)
			}
		}
	}
	mounted, err := mountedLayers(filepath.Join(s.Root(), "cache", "layers"))
	if err != nil {
		return nil, err
	}
	return append(out, mounted...), nil
}

// mountedLayers finds the cached layers (cache/<alg>/<hex>/fs) that overlay
// mounts in any mount namespace use as lower directories.
func mountedLayers(cache string) ([]digest.Digest, error) {
	seenNS := map[string]bool{}
	found := map[digest.Digest]bool{}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "mnt"))
		if err != nil || seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		f, err := os.Open(filepath.Join("/proc", p.Name(), "mountinfo"))
		if err != nil {
			continue // the process exited
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, " - overlay ") || !strings.Contains(line, cache) {
				continue
			}
			for _, d := range layersIn(line, cache) {
				found[d] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("/proc/%s/mountinfo: %w", p.Name(), err)
		}
	}
	var out []digest.Digest
	for d := range found {
		out = append(out, d)
	}
	return out, nil
}

// OverlayUsers lists processes in other mount namespaces than ours that
// still have an overlay mount with upper dir upper (a container running
// on the bundle).
func OverlayUsers(upper string) []int {
	self, _ := os.Readlink("/proc/self/ns/mnt")
	seenNS := map[string]bool{self: true}
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid := 0
		if _, err := fmt.Sscanf(p.Name(), "%d", &pid); err != nil {
			continue
		}
		ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns", "mnt"))
		if err != nil || seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "mountinfo"))
		if err == nil && strings.Contains(string(b), "upperdir="+upper+",") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// layersIn picks the cache entries named in the lowerdir options of a
// mountinfo line (octal escapes of spaces and the like are left as they
// are: cache paths have none).
func layersIn(line, cache string) []digest.Digest {
	var out []digest.Digest
	for rest := line; ; {
		i := strings.Index(rest, cache+"/")
		if i < 0 {
			return out
		}
		rest = rest[i+len(cache)+1:]
		// <alg>/<hex>/fs
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) == 3 {
			if d, err := digest.Parse(parts[0] + ":" + parts[1]); err == nil {
				out = append(out, d)
			}
		}
	}
}

func init() {
	store.RegisterHook(store.Hook{Name: "bundles", Keep: keep})
}
