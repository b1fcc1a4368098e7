package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assertNothingLeft checks that a failed operation left no state directory,
// cgroup, mount or process behind.
func assertNothingLeft(t *testing.T, c *container, r result) {
	t.Helper()
	var left []string
	entries, _ := os.ReadDir(c.Root)
	for _, e := range entries {
		// berth's cache of compiled seccomp profiles is no container's
		// state (docs/architecture.md).
		if e.Name() != seccompCacheDir {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 {
		t.Errorf("state left under --root %s: %v", c.Root, left)
	}
	// An id such as ../escape must not have created anything outside --root.
	if p := filepath.Join(c.Root, c.ID); !strings.HasPrefix(c.Root+"/", p+"/") {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was created for id %q", p, c.ID)
		}
	}
	if dirs := cgroupDirs(c.cgroupID); len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
	for _, l := range strings.Split(hostMountinfo(t), "\n") {
		if strings.Contains(l, c.Bundle) {
			t.Errorf("mount left: %s", l)
		}
	}
	if procs := processesIn(c.Bundle); len(procs) > 0 {
		t.Errorf("processes left with their root or cwd in the bundle: %v", procs)
	}
}

// processesIn lists the processes whose root or cwd is under dir.
func processesIn(dir string) []string {
	var out []string
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		for _, link := range []string{"root", "cwd"} {
			if target, err := os.Readlink(filepath.Join(p, link)); err == nil && strings.HasPrefix(target, dir) {
				cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
				out = append(out, filepath.Base(p)+" ("+strings.ReplaceAll(string(cmd), "\x00", " ")+")")
				break
			}
		}
	}
	return out
}
