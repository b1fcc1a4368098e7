// Package engines_test proves that real container engines can use berth as a
// drop-in for runc. It drives podman (through conmon) and containerd (through
// ctr and the runc v2 shim) from Debian, black-box, with each runtime in turn:
// runc (/usr/sbin/runc) is the reference, berth (bin/berth built by `make
// berth`, or $RUNTIME) is the runtime under test. Every call an engine makes is
// logged by a wrapper script in front of the runtime, so a failure names the
// exact command line the runtime received and the error it wrote.
//
// Everything lives in a private temp dir: podman storage and config, a
// containerd daemon with its own socket, root and state. Nothing is installed
// at test time: `make deps` installs podman and containerd.
//
// Run it as root: go test ./conformance/engines/...
package engines_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const referenceRunc = "/usr/sbin/runc"

var (
	repoRoot string
	workDir  string // the temp dir holding everything the suite creates
	rootfs   string // the busybox rootfs both engines' image is made from
	runtimes []*runtimeUnderTest
)

// requiredTools are the programs the suite drives, with the Debian package
// that ships each.
var requiredTools = []struct{ name, pkg string }{
	{"podman", "podman"},
	{"conmon", "conmon (pulled in by podman)"},
	{"containerd", "containerd"},
	{"ctr", "containerd"},
	{"containerd-shim-runc-v2", "containerd"},
	{"tar", "tar"},
	{"unshare", "util-linux"},
	{"busybox", "busybox-static"},
	{referenceRunc, "runc"},
	{"dockerd", "docker.io"},
	{dockerCLI, "docker.io"},
	{"docker-init", "docker.io"},
	{"make", "make"},
	{"buildah", "buildah"},
	{"gcc", "gcc"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins (pulled in by podman)"},
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "conformance/engines: these tests run podman and containerd and must run as root (sudo go test ./conformance/engines/...)")
		return 1
	}
	if missing := missingTools(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "conformance/engines: missing programs: %s\n  install them with `make deps` (or apt-get install -y podman containerd)\n",
			strings.Join(missing, ", "))
		return 1
	}
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if workDir, err = os.MkdirTemp("", "berth-engines-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer removeWorkDir()
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance/engines:", err)
		return 1
	}
	code := m.Run()
	if err := tearDownEngines(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance/engines: cleaning up:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func missingTools() []string {
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool.name); err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", tool.name, tool.pkg))
		}
	}
	return missing
}

// setUp builds the runtime under test as `make` ships it (unless $RUNTIME
// names one), puts a logging wrapper in front of each runtime and builds
// the busybox rootfs.
func setUp() error {
	berth := os.Getenv("RUNTIME")
	if berth == "" {
		// The binary `make` ships (its tags, its static link, berth-init
		// embedded), not a differently built one.
		build := exec.Command("make", "-s", "berth")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building the runtime with make (set RUNTIME to test another binary): %v\n%s", err, out)
		}
		berth = filepath.Join(repoRoot, "bin", "berth")
	} else if !filepath.IsAbs(berth) {
		return fmt.Errorf("RUNTIME=%s: give an absolute path (the engines run it from other directories)", berth)
	}
	for _, r := range []struct{ name, bin string }{{"runc", referenceRunc}, {"berth", berth}} {
		rt, err := newRuntimeUnderTest(r.name, r.bin)
		if err != nil {
			return err
		}
		runtimes = append(runtimes, rt)
	}
	var err error
	rootfs, err = buildBusyboxRootfs(filepath.Join(workDir, "rootfs"))
	return err
}

// eachRuntime runs f as a subtest per runtime, the reference first.
func eachRuntime(t *testing.T, f func(t *testing.T, rt *runtimeUnderTest)) {
	for _, rt := range runtimes {
		t.Run(rt.name, func(t *testing.T) { f(t, rt) })
	}
}

// tearDownEngines stops what the fixtures started, reporting what it could
// not clean.
func tearDownEngines() error {
	var errs []string
	for _, stop := range []func() error{stopCRIs, stopDockers, stopContainerds, resetPodman} {
		if err := stop(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// removeWorkDir detaches any mount the engines left under the work dir (an
// engine's storage mounts, on failure paths) before removing it.
func removeWorkDir() {
	for _, m := range mountsUnder(workDir) {
		_ = unmountDetach(m)
	}
	if err := os.RemoveAll(workDir); err != nil {
		fmt.Fprintln(os.Stderr, "conformance/engines: removing", workDir+":", err)
	}
}
