package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// executor runs one command and times it from fork to reaped exit.
type executor interface {
	timed(argv []string, dir string) (result, error)
	close()
}

// result is one timed command.
type result struct {
	wall time.Duration
	// cpu is user + system time of the command and of the processes it
	// waited for (wait4's rusage): less sensitive than wall time to other
	// load on the machine.
	cpu    time.Duration
	stdout string
}

// localExec runs commands as children of this process. stdout and stderr
// are plain files, not pipes: a container started by `create` inherits
// them, and a pipe would keep the command "running" until the container
// exits.
type localExec struct {
	devnull, stdout, stderr *os.File
}

func newLocalExec() (*localExec, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	stdout, err := os.CreateTemp("", "berth-bench-stdout-")
	if err != nil {
		return nil, err
	}
	os.Remove(stdout.Name())
	stderr, err := os.CreateTemp("", "berth-bench-stderr-")
	if err != nil {
		return nil, err
	}
	os.Remove(stderr.Name())
	return &localExec{devnull: devnull, stdout: stdout, stderr: stderr}, nil
}

func (e *localExec) timed(argv []string, dir string) (result, error) {
	for _, f := range []*os.File{e.stdout, e.stderr} {
		// The children share this file's offset: rewind it too, or the
		// next output lands after a hole of NULs.
		if err := f.Truncate(0); err != nil {
			return result{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return result{}, err
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.devnull, e.stdout, e.stderr
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start), stdout: readAll(e.stdout)}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return r, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(readAll(e.stderr)))
	}
	return r, nil
}

func (e *localExec) close() {
	e.devnull.Close()
	e.stdout.Close()
	e.stderr.Close()
}

// readAll reads f from the start (the child wrote at its own offset).
func readAll(f *os.File) string {
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	return string(b)
}

// The legacy-view helper: crun 1.8 refuses a hybrid host whose cgroup2
// hierarchy has controllers (here hugetlb), even with
// --cgroup-manager=disabled or a cgroupsPath. In a mount namespace where
// /sys/fs/cgroup/unified is unmounted the host looks like pure cgroup v1,
// which crun supports. Go cannot run code between fork and exec, so a
// copy of this program lives in that namespace and runs the commands.

const helperEnv = "BERTH_BENCH_LEGACY_VIEW_HELPER"

type helperRequest struct {
	Argv []string
	Dir  string
}

type helperResponse struct {
	Nanos, CPUNanos int64
	Stdout          string
	Err             string
}

type legacyViewExec struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	enc *json.Encoder
	dec *json.Decoder
}

func newLegacyViewExec() (*legacyViewExec, error) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the legacy-view helper: %w", err)
	}
	return &legacyViewExec{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReader(out))}, nil
}

func (e *legacyViewExec) timed(argv []string, dir string) (result, error) {
	if err := e.enc.Encode(helperRequest{Argv: argv, Dir: dir}); err != nil {
		return result{}, fmt.Errorf("legacy-view helper: %w", err)
	}
	var resp helperResponse
	if err := e.dec.Decode(&resp); err != nil {
		return result{}, fmt.Errorf("legacy-view helper: %w", err)
	}
	r := result{wall: time.Duration(resp.Nanos), cpu: time.Duration(resp.CPUNanos), stdout: resp.Stdout}
	if resp.Err != "" {
		return r, errors.New(resp.Err)
	}
	return r, nil
}

func (e *legacyViewExec) close() {
	// EOF ends the helper's loop.
	e.in.Close()
	e.cmd.Wait()
}

// helperMain is the helper's side: hide the cgroup2 mount, then serve
// requests from stdin until it closes.
func helperMain() error {
	// Private from here on, so the unmount stays in this namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting /sys/fs/cgroup/unified: %w", err)
	}
	local, err := newLocalExec()
	if err != nil {
		return err
	}
	defer local.close()
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	enc := json.NewEncoder(os.Stdout)
	for {
		var req helperRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		r, err := local.timed(req.Argv, req.Dir)
		resp := helperResponse{Nanos: int64(r.wall), CPUNanos: int64(r.cpu), Stdout: r.stdout}
		if err != nil {
			resp.Err = err.Error()
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
	}
}
