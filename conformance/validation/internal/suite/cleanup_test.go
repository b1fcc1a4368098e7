package suite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts and creates cgroups: run it as root")
	}
}

// fakeRuntime writes a runtime whose "list --format json" prints listJSON
// and which records every other invocation in a log file.
func fakeRuntime(t *testing.T, listJSON string) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	path, log = filepath.Join(dir, "fake-runtime"), filepath.Join(dir, "calls")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = list ]; then echo '%s'; exit 0; fi\necho \"$@\" >> %s\n", listJSON, log)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func TestCleanupRemovesContainersMountsAndDir(t *testing.T) {
	needRoot(t)
	work := t.TempDir()
	tmp := filepath.Join(work, "tmp", "prog")
	bundle := filepath.Join(tmp, "ocitest1")
	inner := filepath.Join(bundle, "dev")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	// A bundle mounted on itself with a mount inside, as a shared-propagation
	// container leaves them.
	if err := unix.Mount(bundle, bundle, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", inner, "tmpfs", 0, "size=64k"); err != nil {
		unix.Unmount(bundle, unix.MNT_DETACH)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(inner, unix.MNT_DETACH)
		unix.Unmount(bundle, unix.MNT_DETACH)
	})
	runtime, calls := fakeRuntime(t, fmt.Sprintf(`[{"id":"mine","bundle":%q},{"id":"other","bundle":"/elsewhere"}]`, bundle))
	env := Env{WorkDir: work, Runtime: runtime, Timeout: time.Minute}

	left, err := env.cleanup(tmp)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	got := strings.Join(left, "\n")
	for _, want := range []string{"container mine", "mount " + inner, "mount " + bundle} {
		if !strings.Contains(got, want) {
			t.Errorf("leftovers %q do not mention %q", got, want)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("a container outside the program's TMPDIR was touched: %q", got)
	}
	log, _ := os.ReadFile(calls)
	if string(log) != "delete --force mine\n" {
		t.Errorf("runtime calls = %q, want one delete --force of mine", log)
	}
	if m, _ := mountsUnder(tmp); len(m) != 0 {
		t.Errorf("still mounted: %v", m)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", tmp, err)
	}
}

func TestRemoveUnlessMountedRefusesAcrossAMount(t *testing.T) {
	needRoot(t)
	tmp := filepath.Join(t.TempDir(), "prog")
	target := filepath.Join(tmp, "hostdir")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	precious := filepath.Join(host, "precious")
	if err := os.WriteFile(precious, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(host, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	err := removeUnlessMounted(tmp)
	if err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("removing a directory with a mount below it: err = %v, want a refusal", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatalf("a file was deleted through a bind mount: %v", err)
	}
}

func TestRmdirTreeRemovesNestedCgroups(t *testing.T) {
	needRoot(t)
	root := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		t.Fatalf("this test needs the cgroup v1 pids hierarchy at %s: %v", root, err)
	}
	top := filepath.Join(root, fmt.Sprintf("validation-test-%d", os.Getpid()))
	if err := os.MkdirAll(filepath.Join(top, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(filepath.Join(top, "a", "b"))
		os.Remove(filepath.Join(top, "a"))
		os.Remove(top)
	})
	if err := rmdirTree(top); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(top); !os.IsNotExist(err) {
		t.Fatalf("%s still exists: %v", top, err)
	}
}

// TestRunProgramAgainstRunc builds the suite and runs one program end to end
// against runc, the reference runtime installed on the CI host.
func TestRunProgramAgainstRunc(t *testing.T) {
	needRoot(t)
	const runc = "/usr/sbin/runc"
	if _, err := os.Stat(runc); err != nil {
		t.Fatalf("this test needs runc at %s: %v", runc, err)
	}
	work := t.TempDir()
	ctx := context.Background()
	programs, err := Build(ctx, "../..", work)
	if err != nil {
		t.Fatal(err)
	}
	if len(programs) != 58 {
		t.Errorf("built %d validation programs, the pinned runtime-tools has 58", len(programs))
	}
	env := Env{WorkDir: work, Runtime: runc, Timeout: time.Minute}
	if err := env.Prepare("/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	r := env.RunProgram(ctx, "state")
	if r.StartErr != nil || r.ExitCode != 0 || r.TimedOut || r.CleanupErr != nil {
		t.Fatalf("state: start %v, exit %d, timed out %v, cleanup %v\nstderr: %s", r.StartErr, r.ExitCode, r.TimedOut, r.CleanupErr, r.Stderr)
	}
	if p := r.Stream.Problems(); len(p) != 0 || len(r.Stream.Assertions()) != 3 {
		t.Fatalf("state: problems %v, %d assertions, want 3:\n%s", p, len(r.Stream.Assertions()), r.Stdout)
	}
	if _, err := os.Stat(filepath.Join(work, "tmp", "state")); !os.IsNotExist(err) {
		t.Errorf("the program's TMPDIR was not removed: %v", err)
	}
}
