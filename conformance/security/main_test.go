// Package security_test is the black-box attack suite: each test models a
// known container escape (CVE-2019-5736, CVE-2024-21626 and their
// relatives, see docs/security.md) as a container image, config and caller
// would mount it, runs it against a copy of berth as `make` builds it and
// against a copy of Debian's runc (/usr/sbin/runc, to show the test
// catches what it claims), and checks the host afterwards: the runtime
// binary's checksum, the host directories the attack aims at, cgroups and
// mounts.
//
// A test that an unfixed runtime is known to fail calls berthGap or
// runcGap: it still runs and still reports its result, listed at the end
// of the run, but an escape there does not fail the suite. When a defence
// lands, its test reports "defended" and the mark is removed.
//
// Run as root: go test ./conformance/security/...
package security_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runtimeKind is one runtime the attacks run against. Tests never run
// pristine itself: every attack gets copies of it.
type runtimeKind struct {
	name     string // "berth" or "runc": the subtest name
	pristine string
	sum      string      // sha256 of pristine
	spec     *specs.Spec // what `<runtime> spec` writes
}

var (
	repoRoot    string
	tools       string // the built helpers, hard-linked into every rootfs
	attackerBin string
	probeBin    string
	busyboxBin  string
	applets     []string
	runtimes    []*runtimeKind
)

const runcPath = "/usr/sbin/runc"

func TestMain(m *testing.M) {
	code, err := suite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance/security:", err)
		code = 1
	}
	os.Exit(code)
}

// suite prepares the tools, runs the tests, prints the attack table and
// removes what the suite made.
func suite(m *testing.M) (int, error) {
	if os.Geteuid() != 0 {
		return 1, errors.New("the attacks create containers and must run as root (sudo go test ./conformance/security/...)")
	}
	abs, err := filepath.Abs("../..")
	if err != nil {
		return 1, err
	}
	repoRoot = abs
	if tools, err = os.MkdirTemp("", "sec-tools-"); err != nil {
		return 1, err
	}
	defer os.RemoveAll(tools)
	if err := os.Chmod(tools, 0o755); err != nil {
		return 1, err
	}
	if err := setup(); err != nil {
		return 1, err
	}
	os.Remove(resultsFile)
	defer removeCgroupParents()
	defer printResults()
	return m.Run(), nil
}

// setup builds bin/berth the way the Makefile does, the attacker and the
// probe (static), and keeps pristine copies of both runtimes.
func setup() error {
	mk := exec.Command("make", "-C", repoRoot, "berth")
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("make berth: %v\n%s", err, out)
	}
	for name, pkg := range map[string]string{"attacker": "./conformance/security/attacker", "probe": "./conformance/probe"} {
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(tools, name), pkg)
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	}
	attackerBin, probeBin = filepath.Join(tools, "attacker"), filepath.Join(tools, "probe")
	if err := copyBusybox(); err != nil {
		return err
	}
	berth := filepath.Join(repoRoot, "bin/berth")
	if other := os.Getenv("SECURITY_BERTH"); other != "" {
		// Another build of berth (an older one, say), to see what the
		// attacks do to it; the suite still builds bin/berth first.
		berth = other
	}
	for _, rt := range []struct{ name, src string }{
		{"berth", berth},
		{"runc", runcPath},
	} {
		k := &runtimeKind{name: rt.name, pristine: filepath.Join(tools, "pristine-"+rt.name)}
		if err := copyFile(rt.src, k.pristine); err != nil {
			return fmt.Errorf("%s: %w (runc comes from Debian's runc package)", rt.src, err)
		}
		var err error
		if k.sum, err = fileSum(k.pristine); err != nil {
			return err
		}
		if k.spec, err = defaultSpec(k.pristine); err != nil {
			return err
		}
		runtimes = append(runtimes, k)
	}
	return nil
}

// copyBusybox puts a copy of busybox-static (the rootfs's every command)
// among the tools and lists its applets.
func copyBusybox() error {
	src, err := exec.LookPath("busybox")
	if err == nil {
		busyboxBin = filepath.Join(tools, "busybox")
		err = copyFile(src, busyboxBin)
	}
	if err != nil {
		return fmt.Errorf("busybox (apt-get install -y busybox-static): %w", err)
	}
	list, err := exec.Command(busyboxBin, "--list").Output()
	for _, f := range bytes.Fields(list) {
		applets = append(applets, string(f))
	}
	return err
}
