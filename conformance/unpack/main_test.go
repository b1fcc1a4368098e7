// Package unpack is the end-to-end suite of `berth-image unpack` and
// `bundle`: it builds images of its own (several layers, whiteouts, opaque
// directories, hardlinks, a non-root USER, ENTRYPOINT + CMD, a zstd layer),
// pushes them with skopeo to the distribution registry started on loopback,
// makes bundles with the berth-image binary, compares each rootfs with what
// `umoci unpack` makes of the same image, and runs the bundles with berth,
// checking from inside (with the conformance probe) files, env, cwd, ids
// and args.
package unpack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

var (
	imageBin string // berth-image under test
	berthBin string // the runtime that runs the bundles
	probeBin string // static in-container probe, the images' entrypoint
	registry *harness.Registry
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "conformance/unpack: must run as root (it mounts, chowns and runs containers)")
		return 1
	}
	for _, tool := range []string{harness.RegistryBinary, "skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "conformance/unpack: missing %s: %v (make deps)\n", tool, err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "berth-unpack-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	imageBin = filepath.Join(dir, "berth-image")
	berthBin = filepath.Join(dir, "berth")
	probeBin = filepath.Join(dir, "probe")
	builds := []struct{ out, pkg, cgo string }{{imageBin, "./imagetool", ""}, {probeBin, "./conformance/probe", "0"}}
	// $RUNTIME runs the bundles with another runtime (runc, crun) instead.
	if rt := os.Getenv("RUNTIME"); rt != "" {
		berthBin = rt
	} else {
		// The berth `make` ships (berth-init embedded, static link).
		cmd := exec.Command("make", "-s", "berth")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building berth with make: %v\n%s", err, out)
			return 1
		}
		berthBin = filepath.Join(repoRoot(), "bin", "berth")
	}
	for _, b := range builds {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = repoRoot()
		if b.cgo != "" {
			cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	registry, err = harness.StartRegistry(filepath.Join(dir, "registry"), harness.RegistryConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the registry:", err)
		return 1
	}
	defer registry.Close()
	return m.Run()
}

func repoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

type result struct {
	stdout, stderr string
	err            error
}

func run(name string, args ...string) result {
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{out.String(), errb.String(), err}
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := run(name, args...)
	if r.err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// berthImage runs berth-image on store with --insecure (the registry is
// plain HTTP).
func berthImage(store string, args ...string) result {
	return run(imageBin, append([]string{"--store", store, "--insecure"}, args...)...)
}

func mustBerthImage(t *testing.T, store string, args ...string) string {
	t.Helper()
	r := berthImage(store, args...)
	if r.err != nil {
		t.Fatalf("berth-image %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// cleanupBundle unmounts an overlay rootfs (if any) when the test ends, so
// that the temp dir can go.
func cleanupBundle(t *testing.T, bundle string) {
	t.Cleanup(func() { exec.Command("umount", "-l", filepath.Join(bundle, "rootfs")).Run() })
}
