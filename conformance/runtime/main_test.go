// Package runtime_test is the black-box conformance suite for an OCI runtime
// with runc's command line. It drives the binary named by $RUNTIME (default: a
// fresh build of ./runtime from this repository) as an orchestrator would,
// and checks each config.json field's effect from inside the container with
// the probe program (conformance/probe).
//
// Run it as root: go test ./conformance/runtime/...
// Against Debian's runc:  RUNTIME=/usr/sbin/runc go test ./conformance/runtime/...
package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	runtimeBin string // the runtime under test
	probeBin   string // the static probe, hard-linked into every rootfs
	busyboxBin string // a copy of busybox-static next to probeBin
	applets    []string
	repoRoot   string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "conformance/runtime: these tests create containers and must run as root (sudo go test ./conformance/runtime/...)")
		return 1
	}
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tools, err := os.MkdirTemp("", "cf-tools-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tools)
	if err := buildTools(tools); err != nil {
		fmt.Fprintln(os.Stderr, "conformance/runtime:", err)
		return 1
	}
	code := m.Run()
	printRuncGaps()
	removeCgroupParents()
	return code
}

// buildTools builds the probe (static) and, unless $RUNTIME names one, the
// runtime; and places busybox where rootfs hard links can reach it.
func buildTools(dir string) error {
	probeBin = filepath.Join(dir, "probe")
	if p := os.Getenv("PROBE"); p != "" {
		// A prebuilt static probe (make vmtest's guest has no Go).
		if err := copyFile(p, probeBin, 0o755); err != nil {
			return fmt.Errorf("PROBE=%s: %v", p, err)
		}
	} else {
		build := exec.Command("go", "build", "-o", probeBin, "./conformance/probe")
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building the probe: %v\n%s", err, out)
		}
	}
	runtimeBin = os.Getenv("RUNTIME")
	if runtimeBin == "" {
		// The binary `make` ships (its tags, its static link, berth-init
		// embedded), not a differently built one.
		build := exec.Command("make", "-s", "berth")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building the runtime with make (set RUNTIME to test another binary): %v\n%s", err, out)
		}
		runtimeBin = filepath.Join(repoRoot, "bin", "berth")
	}
	src, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is needed for test rootfs: apt-get install -y busybox-static")
	}
	out, err := exec.Command(src, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %v", err)
	}
	applets = strings.Fields(string(out))
	busyboxBin = filepath.Join(dir, "busybox")
	return copyFile(src, busyboxBin, 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// runcGaps records the tests that Debian's runc 1.1.5 is known to fail
// because it predates a runtime-spec feature. They still run (and fail)
// against runc; berth must pass them.
var runcGaps sync.Map // test name -> "reason (failed|passed)"

// runcGap marks t as one runc 1.1.5 is known to fail and why.
func runcGap(t *testing.T, why string) {
	t.Helper()
	t.Logf("runc 1.1.5 is known to fail this: %s", why)
	t.Cleanup(func() {
		result := "passed"
		if t.Failed() {
			result = "failed"
		}
		runcGaps.Store(t.Name(), fmt.Sprintf("%s [%s]", why, result))
	})
}

func printRuncGaps() {
	var lines []string
	runcGaps.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("  %s: %s", k, v))
		return true
	})
	if len(lines) == 0 {
		return
	}
	sort.Strings(lines)
	fmt.Printf("Tests runc 1.1.5 is known to fail (features it predates), with this run's result using %s:\n%s\n",
		runtimeBin, strings.Join(lines, "\n"))
}

// isRunc says whether the suite drives runc (RUNTIME=.../runc), for the
// few checks of berth's own files that have no runc counterpart.
func isRunc() bool { return filepath.Base(runtimeBin) == "runc" }
