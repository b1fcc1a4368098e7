// Package imagetool is the end-to-end suite of berth-image: it builds the
// binary, starts the real distribution registry (/usr/bin/docker-registry)
// on loopback in several configurations, pushes images it builds itself
// with skopeo, and drives the binary as a user would.
package imagetool

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin is the berth-image binary under test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-image-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "berth-image")
	build := exec.Command("go", "build", "-o", bin, "./imagetool")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building berth-image:", err)
		os.Exit(1)
	}
	for _, tool := range []string{"/usr/bin/docker-registry", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "missing %s: %v\n", tool, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot finds the module root from the test's working directory.
func repoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

// result is the outcome of one berth-image run.
type result struct {
	stdout, stderr string
	err            error
}

// runBin runs berth-image with env added to the environment.
func runBin(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{out.String(), errb.String(), err}
}

// mustRun runs berth-image and fails the test if it fails.
func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := runBin(t, env, args...)
	if r.err != nil {
		t.Fatalf("berth-image %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustFail runs berth-image, requires it to fail with a one-line error
// containing every one of want, and returns the error line.
func mustFail(t *testing.T, env []string, args []string, want ...string) string {
	t.Helper()
	r := runBin(t, env, args...)
	if r.err == nil {
		t.Fatalf("berth-image %s succeeded, want failure\nstdout: %s", strings.Join(args, " "), r.stdout)
	}
	// The error line; usage text may follow it.
	last := ""
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "berth-image") {
			last = line
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Fatalf("berth-image %s: error %q does not mention %q (stderr: %s)", strings.Join(args, " "), last, w, r.stderr)
		}
	}
	t.Logf("expected error: %s", last)
	return last
}

// skopeo runs skopeo with the given args.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("skopeo", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
