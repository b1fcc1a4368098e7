// Package suite builds the runtime-tools validation programs, prepares the
// directory they expect to run in, runs them one by one against a runtime and
// cleans up whatever they leave behind.
package suite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ValidationPackages is the pattern matching every validation program of the
// pinned runtime-tools module (see go.mod).
const ValidationPackages = "github.com/opencontainers/runtime-tools/validation/..."

// RuntimetestPackage is the program the validation programs copy into the
// container's rootfs and run there to check the config from the inside.
const RuntimetestPackage = "github.com/opencontainers/runtime-tools/cmd/runtimetest"

// Build compiles every validation program and runtimetest into
// <workDir>/bin, running the go command in moduleDir (the directory of this
// module's go.mod, which pins runtime-tools). It returns the program names,
// sorted, without runtimetest.
func Build(ctx context.Context, moduleDir, workDir string) ([]string, error) {
	list := exec.CommandContext(ctx, "go", "list", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, ValidationPackages)
	list.Dir = moduleDir
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %v: %s", ValidationPackages, err, strings.TrimSpace(stderr.String()))
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go list %s: no programs", ValidationPackages)
	}
	binDir := filepath.Join(workDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	// CGO_ENABLED=0 makes runtimetest static, as it must be: it runs inside
	// a busybox rootfs that has no libc.
	args := append([]string{"build", "-o", binDir + "/"}, append(pkgs, RuntimetestPackage)...)
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir = moduleDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build validation programs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	names := make([]string, len(pkgs))
	for i, p := range pkgs {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names, nil
}

// Built lists the programs Build put in <workDir>/bin, sorted, without
// runtimetest (which must be there too).
func Built(workDir string) ([]string, error) {
	binDir := filepath.Join(workDir, "bin")
	ents, err := os.ReadDir(binDir)
	if err != nil {
		return nil, fmt.Errorf("prebuilt validation programs: %w", err)
	}
	var names []string
	haveRuntimetest := false
	for _, e := range ents {
		switch {
		case e.Name() == filepath.Base(RuntimetestPackage):
			haveRuntimetest = true
		case e.Type().IsRegular():
			names = append(names, e.Name())
		}
	}
	if !haveRuntimetest || len(names) == 0 {
		return nil, fmt.Errorf("%s holds no validation programs and runtimetest: build them with -build-only", binDir)
	}
	sort.Strings(names)
	return names, nil
}
