package security_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupParent holds every container cgroup of the suite:
// /sys/fs/cgroup/<controller>/berth-sec/<id>.
const cgroupParent = "berth-sec"

// witness is a host directory an attack aims at, outside every rootfs:
// after the attack it must hold exactly what it held before.
type witness struct {
	path   string
	before map[string]string // relative path -> signature
}

// hostDir makes a directory on the host, outside the attack's bundles, for
// an attack to aim at, with a file in it. Everything below the attack's
// host area (those directories and their parent) is watched.
func (a *attack) hostDir(name string) string {
	a.t.Helper()
	area := filepath.Join(a.dir, "host")
	p := filepath.Join(area, name)
	must(a.t, os.MkdirAll(p, 0o755))
	must(a.t, os.WriteFile(filepath.Join(p, "host-file"), []byte("the host's\n"), 0o644))
	for _, w := range a.witnesses {
		if w.path == area {
			w.before = snapshot(area)
			return p
		}
	}
	a.watch(area)
	return p
}

// watch snapshots a host directory; checkHost compares it afterwards.
func (a *attack) watch(path string) {
	a.t.Helper()
	a.witnesses = append(a.witnesses, &witness{path: path, before: snapshot(path)})
}

// snapshot signs every entry below dir: type, mode, size and (for small
// regular files) content. It does not follow symlinks.
func snapshot(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return nil
		}
		sig := info.Mode().String() + " " + strconv.FormatInt(info.Size(), 10)
		if info.Mode().IsRegular() && info.Size() < 1<<20 {
			b, _ := os.ReadFile(p)
			h := sha256.Sum256(b)
			sig += " " + hex.EncodeToString(h[:8])
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			t, _ := os.Readlink(p)
			sig += " -> " + t
		}
		out[rel] = sig
		return nil
	})
	return out
}

// checkHost runs after the attack's containers are deleted: the runtime
// binary is unchanged, watched host directories hold what they held, and
// no cgroup or mount of the attack is left. What it finds is an escape
// (or a leftover) of the runtime under attack; new files are removed.
func (a *attack) checkHost() {
	if sum, err := fileSum(a.bin); err != nil {
		a.escaped("the runtime binary %s cannot be read any more: %v", a.bin, err)
	} else if sum != a.rt.sum {
		a.escaped("the runtime binary %s was overwritten (sha256 %s, was %s)", a.bin, sum[:16], a.rt.sum[:16])
	}
	for _, w := range a.witnesses {
		after := snapshot(w.path)
		var changed []string
		for rel, sig := range after {
			if before, ok := w.before[rel]; !ok {
				changed = append(changed, "created "+rel)
			} else if before != sig {
				changed = append(changed, "changed "+rel+" ("+before+" -> "+sig+")")
			}
		}
		for rel := range w.before {
			if _, ok := after[rel]; !ok {
				changed = append(changed, "removed "+rel)
			}
		}
		sort.Strings(changed)
		if len(changed) > 0 {
			a.escaped("host directory %s was written: %s", w.path, strings.Join(changed, "; "))
		}
		// Remove what the attack created, deepest first.
		var created []string
		for rel := range after {
			if _, ok := w.before[rel]; !ok {
				created = append(created, rel)
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(created)))
		for _, rel := range created {
			os.Remove(filepath.Join(w.path, rel))
		}
	}
	for _, c := range a.containers {
		if dirs := cgroupDirs(c.id); len(dirs) > 0 {
			a.escaped("cgroups left on the host after delete: %v", dirs)
			removeCgroups(dirs)
		}
	}
	if left := mountsUnder(a.dir); len(left) > 0 {
		a.escaped("mounts left on the host after delete: %v", left)
		for i := len(left) - 1; i >= 0; i-- {
			unix.Unmount(left[i], unix.MNT_DETACH)
		}
	}
}

// removeContainers deletes every container of the attack with the clean
// copy of the runtime, then kills whatever a broken runtime left in their
// cgroups.
func (a *attack) removeContainers() {
	for i := len(a.containers) - 1; i >= 0; i-- {
		c := a.containers[i]
		c.stopAttacker()
		a.call(callOpts{bin: a.clean, timeout: 10 * time.Second}, "delete", "--force", c.id)
	}
	for _, c := range a.containers {
		dirs := cgroupDirs(c.id)
		for _, d := range dirs {
			for _, pid := range strings.Fields(readQuiet(filepath.Join(d, "cgroup.procs"))) {
				if n, err := strconv.Atoi(pid); err == nil && n > 1 {
					unix.Kill(n, unix.SIGKILL)
				}
			}
		}
	}
}

// cgroupDirs lists the cgroup directories of a container of the suite,
// in every hierarchy (v1, the hybrid's unified one, or pure v2).
func cgroupDirs(id string) []string {
	if !strings.HasPrefix(id, "sec-") || strings.ContainsAny(id, "/.") {
		panic("cgroupDirs: not a container id of the suite: " + id)
	}
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent, id))
	if st, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupParent, id)); err == nil && st.IsDir() {
		matches = append(matches, filepath.Join("/sys/fs/cgroup", cgroupParent, id))
	}
	return matches
}

// removeCgroups removes empty cgroup directories, retrying while the
// kernel finishes with processes that were just killed.
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		for i := 0; i < 50 && os.Remove(d) != nil; i++ {
			if _, err := os.Stat(d); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func removeCgroupParents() {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", cgroupParent)) {
		os.Remove(d)
	}
}

// mountsUnder lists the mount points of the test process's mount
// namespace (the host's) below dir.
func mountsUnder(dir string) []string {
	var out []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rewatch takes the watched directories' snapshots again, after the test
// has laid out its decoys in them.
func (a *attack) rewatch() {
	for _, w := range a.witnesses {
		w.before = snapshot(w.path)
	}
}

// oomOf is a host process's oom_score_adj, read through the host's /proc
// (-1001 when it cannot be read).
func oomOf(pid int) int {
	n, err := strconv.Atoi(strings.TrimSpace(readQuiet("/proc/" + strconv.Itoa(pid) + "/oom_score_adj")))
	if err != nil {
		return -1001
	}
	return n
}
