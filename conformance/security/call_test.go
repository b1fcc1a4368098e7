package security_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// result is one runtime call.
type result struct {
	args     []string
	code     int
	stdout   string
	stderr   string
	timedOut bool
}

func (r result) String() string {
	s := "runtime " + strings.Join(r.args, " ") + ": "
	if r.timedOut {
		s += "timed out"
	} else {
		s += "exit " + strconv.Itoa(r.code)
	}
	return s + "; stderr: " + strings.TrimSpace(r.stderr) + "; stdout: " + strings.TrimSpace(r.stdout)
}

// callOpts are the less common inputs of a runtime call.
type callOpts struct {
	bin     string        // default: the attacked copy
	timeout time.Duration // default: callTimeout
	leak    []*os.File    // fds the caller leaks, as 3, 4, ...
	// stdout, when set, is the call's stdout (and so the container's);
	// stderr always comes back in the result.
	stdout *os.File
}

// call runs the runtime with the attack's --root. Output goes to files, not
// pipes: a container inheriting them cannot make the call hang. On timeout
// the call's process group is killed and the result says so.
func (a *attack) call(o callOpts, args ...string) result {
	a.t.Helper()
	if o.bin == "" {
		o.bin = a.bin
	}
	if o.timeout == 0 {
		o.timeout = callTimeout
	}
	args = append([]string{"--root", a.root}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if a.user != 0 {
		// An unprivileged caller: no groups, an environment of its own.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.user, Gid: a.user, Groups: []uint32{}}
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + a.dir, "XDG_RUNTIME_DIR=" + a.root}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Dir = a.dir
	cmd.ExtraFiles = o.leak
	out := o.stdout
	if out == nil {
		f, err := os.CreateTemp(a.dir, "out-")
		must(a.t, err)
		defer os.Remove(f.Name())
		defer f.Close()
		out = f
	}
	errf, err := os.CreateTemp(a.dir, "err-")
	must(a.t, err)
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	runErr := cmd.Run()
	r := result{args: args, stdout: readQuiet(out.Name()), stderr: readQuiet(errf.Name()), timedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		r.code = ee.ExitCode()
	default:
		// The binary cannot be run at all: an attack overwrote it.
		r.code = -1
		r.stderr += runErr.Error()
	}
	return r
}

func readQuiet(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
