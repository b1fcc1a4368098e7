package suite

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// suiteCgroupNames are the top-level cgroup directories the validation
// programs create: runtime-tools' cgroups.AbsCgroupPath ("/cgrouptest") and
// the first element of cgroups.RelCgroupPath ("testdir/cgrouptest/container"),
// which runtimes resolve below their own cgroup. The runtime removes the leaf
// on delete but not the parents it created.
var suiteCgroupNames = []string{"cgrouptest", "testdir"}

// cleanup removes everything a program left behind under tmp (containers
// whose bundle is there, mounts, the directory itself) and the suite's
// cgroups. It returns what it found; the error names what it could not remove.
func (e Env) cleanup(tmp string) (leftovers []string, err error) {
	var errs []error
	ids, lerr := e.containersIn(tmp)
	if lerr != nil {
		errs = append(errs, lerr)
	}
	for _, id := range ids {
		leftovers = append(leftovers, "container "+id)
		if out, err := exec.Command(e.Runtime, "delete", "--force", id).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s delete --force %s: %v: %s", e.Runtime, id, err, strings.TrimSpace(string(out))))
		}
	}

	mounts, merr := mountsUnder(tmp)
	if merr != nil {
		errs = append(errs, merr)
	}
	for _, m := range mounts {
		leftovers = append(leftovers, "mount "+m)
		// Detach: a container process may still hold it busy.
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", m, err))
		}
	}

	cgs, cerr := removeSuiteCgroups()
	leftovers = append(leftovers, cgs...)
	if cerr != nil {
		errs = append(errs, cerr)
	}

	if err := removeUnlessMounted(tmp); err != nil {
		errs = append(errs, err)
	}
	return leftovers, errors.Join(errs...)
}

// removeUnlessMounted removes dir, but never across a mount point: a bind
// mount of a host directory below it would have its contents deleted.
func removeUnlessMounted(dir string) error {
	still, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	if len(still) > 0 {
		return fmt.Errorf("not removing %s: still mounted below it: %v", dir, still)
	}
	return os.RemoveAll(dir)
}

// containersIn asks the runtime (runc's "list --format json") for the
// containers whose bundle lies under dir.
func (e Env) containersIn(dir string) ([]string, error) {
	out, err := exec.Command(e.Runtime, "list", "--format", "json").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("%s list --format json: %v %s (cannot find leftover containers)", e.Runtime, err, stderr)
	}
	var list []struct {
		ID     string `json:"id"`
		Bundle string `json:"bundle"`
	}
	if s := strings.TrimSpace(string(out)); s != "" && s != "null" {
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("%s list --format json: %w", e.Runtime, err)
		}
	}
	var ids []string
	for _, c := range list {
		if isUnder(c.Bundle, dir) {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

func isUnder(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	entries, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var under []string
	for _, m := range entries {
		if isUnder(m.mountPoint, dir) {
			under = append(under, m.mountPoint)
		}
	}
	// Deepest first, so children go before their parents.
	sort.SliceStable(under, func(i, j int) bool {
		return strings.Count(under[i], "/") > strings.Count(under[j], "/")
	})
	return under, nil
}

type mountEntry struct {
	mountPoint string
	fsType     string
}

func readMountinfo(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(bufio.NewScanner(f))
}

// parseMountinfo reads proc(5) mountinfo lines: field 5 is the mount point
// (octal-escaped), the field after " - " the filesystem type.
func parseMountinfo(sc *bufio.Scanner) ([]mountEntry, error) {
	var out []mountEntry
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 1 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		out = append(out, mountEntry{mountPoint: unescapeOctal(fields[4]), fsType: postFields[0]})
	}
	return out, sc.Err()
}

// unescapeOctal undoes the \ooo escaping of spaces, tabs, newlines and
// backslashes in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeSuiteCgroups removes the suite's cgroup directories (suiteCgroupNames)
// at the root of every cgroup hierarchy and below this process's own cgroups.
// It only rmdirs, so it never touches a cgroup that still has processes.
func removeSuiteCgroups() (removed []string, err error) {
	mounts, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	bases := map[string]bool{"/": true}
	if own, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
			// "<id>:<controllers>:<path>"
			if parts := strings.SplitN(line, ":", 3); len(parts) == 3 {
				bases[parts[2]] = true
			}
		}
	}
	var errs []error
	for _, m := range mounts {
		if m.fsType != "cgroup" && m.fsType != "cgroup2" {
			continue
		}
		for base := range bases {
			for _, name := range suiteCgroupNames {
				top := filepath.Join(m.mountPoint, base, name)
				if _, err := os.Lstat(top); err != nil {
					continue
				}
				removed = append(removed, "cgroup "+top)
				if err := rmdirTree(top); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return removed, errors.Join(errs...)
}

// rmdirTree removes a cgroup directory tree bottom-up with rmdir (cgroup
// control files cannot be unlinked; rmdir removes them with the directory).
func rmdirTree(top string) error {
	var dirs []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", top, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("rmdir cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}
