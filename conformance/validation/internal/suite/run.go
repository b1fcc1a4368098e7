package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berthproject/berth/conformance/validation/internal/tap"
)

// Env is where and against what the validation programs run.
type Env struct {
	// WorkDir holds bin/ (from Build), runtimetest and the rootfs tarball
	// (from Prepare); the programs run with it as working directory because
	// they find both by relative path.
	WorkDir string
	// Runtime is the absolute path of the runtime under test (runc CLI).
	Runtime string
	// Timeout bounds each program.
	Timeout time.Duration
}

// Prepare puts runtimetest and the rootfs tarball into the work directory.
func (e Env) Prepare(busybox string) error {
	data, err := os.ReadFile(filepath.Join(e.WorkDir, "bin", "runtimetest"))
	if err != nil {
		return fmt.Errorf("runtimetest: %w (build first)", err)
	}
	if err := writeFileAtomic(filepath.Join(e.WorkDir, "runtimetest"), data, 0o755); err != nil {
		return err
	}
	return WriteRootfs(filepath.Join(e.WorkDir, RootfsTarball()), busybox)
}

// Run is the outcome of one validation program.
type Run struct {
	Program  string
	Stream   *tap.Stream
	ExitCode int
	TimedOut bool
	// StartErr is set when the program could not be run at all.
	StartErr error
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
	// Leftovers lists what the program left behind and Cleanup removed
	// (containers, mounts, cgroups); CleanupErr is what it could not remove.
	Leftovers  []string
	CleanupErr error
}

// RunProgram runs one validation program with the runtime under test and
// cleans up after it. Each program gets its own TMPDIR (where it creates its
// bundles) so everything it leaves behind can be found and removed.
func (e Env) RunProgram(ctx context.Context, program string) *Run {
	r := &Run{Program: program}
	tmp := filepath.Join(e.WorkDir, "tmp", program)
	r.Stream = &tap.Stream{}
	if err := e.reset(tmp); err != nil {
		r.StartErr = fmt.Errorf("cannot prepare %s: %w", tmp, err)
		return r
	}

	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.WorkDir, "bin", program))
	cmd.Dir = e.WorkDir
	cmd.Env = append(os.Environ(), "RUNTIME="+e.Runtime, "TMPDIR="+tmp)
	// Own process group, so a timeout kills the program and every runtime
	// process it started, not just the program.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	start := time.Now()
	err := cmd.Run()
	r.Duration = time.Since(start)
	r.Stdout, r.Stderr = stdout.Bytes(), stderr.Bytes()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		r.TimedOut = true
	case errors.As(err, &exitErr):
		r.ExitCode = exitErr.ExitCode()
	case err != nil:
		r.StartErr = err
	}
	// An in-memory buffer cannot fail to read.
	r.Stream, _ = tap.Parse(bytes.NewReader(r.Stdout))

	r.Leftovers, r.CleanupErr = e.cleanup(tmp)
	return r
}

// reset removes what an earlier (interrupted) run left in tmp and recreates it.
func (e Env) reset(tmp string) error {
	if _, err := os.Lstat(tmp); err == nil {
		if _, err := e.cleanup(tmp); err != nil {
			return err
		}
	}
	return os.MkdirAll(tmp, 0o755)
}
