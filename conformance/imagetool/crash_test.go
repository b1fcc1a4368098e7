package imagetool

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	"github.com/berthproject/berth/conformance/unpack/tree"
)

// Crash safety: berth-image killed (SIGKILL, through the shipped test
// hook BERTH_IMAGE_TEST_KILL_AT, imagetool/killpoint) at every step of
// pull, bundle, rm and gc leaves a consistent store, the same command run
// again succeeds with the right result, and gc then leaves no temp file.

const killEnv = "BERTH_IMAGE_TEST_KILL_AT"

// crashSteps are the commands each step of the hook is tested in.
var crashSteps = map[string][]string{
	"blob-partial":   {"pull", "bundle"},
	"blob-committed": {"pull", "bundle"},
	"pull-stored":    {"pull", "bundle"},
	"index-temp":     {"pull", "rm"},
	"index-written":  {"pull", "rm"},
	"unpack-layer":   {"bundle"},
	"bundle-rootfs":  {"bundle"},
	"bundle-track":   {"bundle"},
	"bundle-swap":    {"bundle"},
	"bundle-mount":   {"bundle"},
	"bundle-done":    {"bundle"},
	"gc-sweep":       {"gc"},
	"gc-cache":       {"gc"},
}

// TestImageKillHookListsSteps: a step the binary does not know is refused
// (exit 2) with the list, and that list is the one this file tests.
func TestImageKillHookListsSteps(t *testing.T) {
	r := runBin(t, []string{killEnv + "=no-such-step"}, "--store", t.TempDir(), "list")
	var ee *exec.ExitError
	if !errors.As(r.err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("unknown step: %v, want exit 2\n%s", r.err, r.stderr)
	}
	_, list, ok := strings.Cut(strings.TrimSpace(r.stderr), "the steps are: ")
	if !ok {
		t.Fatalf("unknown step: stderr does not list the steps: %s", r.stderr)
	}
	got := strings.Fields(list)
	var want []string
	for s := range crashSteps {
		want = append(want, s)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("berth-image's steps %v, the test covers %v", got, want)
	}
}

// crashEnv is what every subtest of TestCrashAtEveryStep shares.
type crashEnv struct {
	ref      string
	refTree  map[string]string // the rootfs of a bundle made without a kill
	refMode  string
	refProcs []string // its config.json process.args
}

func TestCrashAtEveryStep(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: bundles use the layer cache and overlay mounts")
	}
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	// A layer of 1 MB files, so that a download is caught mid-stream.
	l.image(t, "v1", busybox(t, harness.Layer{Files: harness.GeneratedFiles("big", 2, 3, 1_000_000)}))
	l.push(t, reg, "v1", "crash:v1")
	env := &crashEnv{ref: reg.Addr + "/crash:v1"}

	// The reference bundle.
	st := t.TempDir()
	b := filepath.Join(t.TempDir(), "b")
	env.refMode = bundleOK(t, st, env.ref, b)
	env.refTree = rootfsTree(t, b)
	env.refProcs = bundleArgs(t, b)
	mustRun(t, nil, "--store", st, "unbundle", b)

	steps := make([]string, 0, len(crashSteps))
	for s := range crashSteps {
		steps = append(steps, s)
	}
	sort.Strings(steps)
	for _, step := range steps {
		for _, cmd := range crashSteps[step] {
			t.Run(step+"/"+cmd, func(t *testing.T) {
				if strings.HasPrefix(step, "bundle-mount") || strings.HasPrefix(step, "bundle-done") {
					if env.refMode != "overlay" {
						t.Skipf("bundles here are made by %s, the step is on the overlay path", env.refMode)
					}
				}
				crashCase(t, env, step, cmd)
			})
		}
	}
}

func crashCase(t *testing.T, env *crashEnv, step, cmd string) {
	st := t.TempDir()
	bdir := filepath.Join(t.TempDir(), "b")
	mustRun(t, nil, "--store", st, "list") // makes the empty store
	var args []string
	switch cmd {
	case "pull":
		args = []string{"--store", st, "pull", "-q", env.ref}
	case "bundle":
		args = []string{"--store", st, "bundle", "-q", env.ref, bdir}
		t.Cleanup(func() { unmountBundle(bdir) })
	case "rm":
		mustRun(t, nil, "--store", st, "pull", "-q", env.ref)
		args = []string{"--store", st, "rm", env.ref}
	case "gc":
		// Blobs and layer cache entries for gc to remove.
		bundleOK(t, st, env.ref, bdir)
		mustRun(t, nil, "--store", st, "unbundle", bdir)
		mustRun(t, nil, "--store", st, "rm", env.ref)
		args = []string{"--store", st, "gc"}
	}

	killedRun(t, step, args)
	checkConsistent(t, st)
	// A temp file the killed run was writing stays until it is 2 s old
	// (store.tempGrace: cleanup must not race a live writer between its
	// create and its flock); the gc at the end must remove it.
	killedTemps := map[string]bool{}
	if ents, _ := os.ReadDir(filepath.Join(st, "tmp")); ents != nil {
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".partial") {
				killedTemps[e.Name()] = true
			}
		}
	}

	// The same command again.
	switch cmd {
	case "pull":
		mustRun(t, nil, args...)
		checkPulled(t, st, env.ref, killedTemps)
	case "bundle":
		if _, err := os.Lstat(bdir); err == nil {
			// A bundle left in place must say it is incomplete.
			mustFail(t, nil, args, bdir, "incomplete", "--force")
			args = append(args[:len(args)-2], "--force", env.ref, bdir)
		}
		mustRun(t, nil, args...)
		checkPulled(t, st, env.ref, killedTemps)
		checkBundle(t, env, bdir)
	case "rm":
		// The removal may have been complete before the kill.
		if r := runBin(t, nil, args...); r.err != nil && !strings.Contains(r.stderr, "image not in store") {
			t.Fatalf("rm again: %v\n%s", r.err, r.stderr)
		}
		if len(listJSON(t, st)) != 0 {
			t.Fatal("the image is still listed after rm")
		}
	case "gc":
		mustRun(t, nil, args...)
		// A cache entry half removed must not be trusted by a new bundle.
		bundleOK(t, st, env.ref, bdir)
		checkBundle(t, env, bdir)
	}

	mustRun(t, nil, "--store", st, "gc")
	checkConsistent(t, st)
	checkNoTemp(t, st, bdir)
}

// killedRun runs berth-image with the hook set to step and requires it to
// die of SIGKILL.
func killedRun(t *testing.T, step string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGQUIT) } // not SIGKILL: tell the two apart
	c.Env = append(os.Environ(), killEnv+"="+step)
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("berth-image %s with %s=%s: %v, want killed by SIGKILL\n%s", strings.Join(args, " "), killEnv, step, err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("berth-image %s with %s=%s: %v, want killed by SIGKILL\n%s", strings.Join(args, " "), killEnv, step, err, out)
	}
}

// checkConsistent: oci-layout, index.json and the bundle references parse,
// no blob sits under a digest its content does not have, and every image
// listed verifies.
func checkConsistent(t *testing.T, st string) {
	t.Helper()
	var layout ocispec.ImageLayout
	readJSON(t, filepath.Join(st, "oci-layout"), &layout)
	var idx ocispec.Index
	readJSON(t, filepath.Join(st, "index.json"), &idx)
	checkBlobs(t, st)
	refs, _ := filepath.Glob(filepath.Join(st, "bundles", "*.json"))
	for _, r := range refs {
		var v map[string]any
		readJSON(t, r, &v)
	}
	for _, img := range listJSON(t, st) {
		name, _ := img["name"].(string)
		if out := mustRun(t, nil, "--store", st, "verify", name); strings.Contains(out, "FAILED") {
			t.Fatalf("verify %s after the kill:\n%s", name, out)
		}
	}
}

// checkPulled: the image is listed, its blobs hash to their names, and
// nothing is left in tmp/ but the killed run's young temp files.
func checkPulled(t *testing.T, st, ref string, killedTemps map[string]bool) {
	t.Helper()
	l := listJSON(t, st)
	if len(l) != 1 || l[0]["name"] != ref {
		t.Fatalf("store lists %v, want %s", l, ref)
	}
	checkBlobs(t, st)
	ents, _ := os.ReadDir(filepath.Join(st, "tmp"))
	for _, e := range ents {
		if !killedTemps[e.Name()] {
			t.Errorf("temp file left in the store after the run again: %s", e.Name())
		}
	}
}

// checkNoTemp: after gc, no temp file of the store, and none of the
// bundle beside it.
func checkNoTemp(t *testing.T, st, bdir string) {
	t.Helper()
	var left []string
	filepath.WalkDir(st, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(st, p)
		base := d.Name()
		switch {
		case rel == "tmp" || rel == "locks" || rel == "bundles":
		case strings.HasPrefix(rel, "tmp/"), strings.HasPrefix(rel, "locks/"):
			left = append(left, rel)
		case strings.HasPrefix(base, ".") && strings.Contains(base, "tmp"):
			left = append(left, rel)
		case strings.HasPrefix(rel, "bundles/") && !strings.HasSuffix(base, ".json"):
			left = append(left, rel)
		}
		if d.IsDir() && strings.HasPrefix(rel, "cache/layers/sha256/") && strings.Count(rel, "/") == 3 {
			return fs.SkipDir // a layer's files
		}
		return nil
	})
	sib, _ := filepath.Glob(filepath.Join(filepath.Dir(bdir), ".*"))
	left = append(left, sib...)
	if len(left) != 0 {
		t.Fatalf("temp files left after gc: %v", left)
	}
}

// bundleOK bundles ref into b with a clean run and returns its mode.
func bundleOK(t *testing.T, st, ref, b string) string {
	t.Helper()
	t.Cleanup(func() { unmountBundle(b) })
	out := mustRun(t, nil, "--store", st, "--format", "json", "bundle", ref, b)
	var res struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "{"):]), &res); err != nil {
		t.Fatalf("bundle output %q: %v", out, err)
	}
	return res.Mode
}

// checkBundle: the bundle is complete, and its rootfs and process are
// those of the reference bundle.
func checkBundle(t *testing.T, env *crashEnv, b string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(b, ".berth-incomplete")); err == nil {
		t.Fatalf("bundle %s still marked incomplete after a successful bundle", b)
	}
	if got := bundleArgs(t, b); !slices.Equal(got, env.refProcs) {
		t.Fatalf("bundle %s: process.args %v, want %v", b, got, env.refProcs)
	}
	for _, d := range tree.Diff(rootfsTree(t, b), env.refTree) {
		t.Errorf("bundle %s: rootfs/%s", b, d)
	}
}

func bundleArgs(t *testing.T, b string) []string {
	t.Helper()
	var spec struct {
		Process struct {
			Args []string `json:"args"`
		} `json:"process"`
	}
	readJSON(t, filepath.Join(b, "config.json"), &spec)
	return spec.Process.Args
}

// rootfsTree describes every file of b/rootfs as the unpack suite's
// comparisons do (type, mode, owner, content hash, link target, device
// numbers, xattrs, hardlinks).
func rootfsTree(t *testing.T, b string) map[string]string {
	t.Helper()
	snap, err := tree.Snapshot(filepath.Join(b, "rootfs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) < 10 {
		t.Fatalf("bundle %s: rootfs has only %d entries", b, len(snap))
	}
	return snap
}

// unmountBundle undoes an overlay rootfs left mounted (by a killed
// bundle, or at the end of a test), so the temp dir can be removed.
func unmountBundle(b string) {
	syscall.Unmount(filepath.Join(b, "rootfs"), syscall.MNT_DETACH)
}
