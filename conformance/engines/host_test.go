package engines_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testUID and testGID are the non-root user in the test image's /etc/passwd.
const (
	testUID = "1234"
	testGID = "1234"
)

// buildBusyboxRootfs lays out busybox-static with its applet links and the
// account files the engines' --user handling reads.
func buildBusyboxRootfs(dir string) (string, error) {
	src, err := exec.LookPath("busybox")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(src, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %v", err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky); err != nil {
		return "", err
	}
	bin, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), bin, 0o755); err != nil {
		return "", err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return "", err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nberth:x:" + testUID + ":" + testGID + ":berth:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nberth:x:" + testGID + ":\nnobody:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// command is the result of running one engine command.
type command struct {
	line   string
	stdout string
	stderr string
	exit   int
}

func (c command) String() string {
	return fmt.Sprintf("$ %s\n  exit %d\n  stdout: %q\n  stderr: %q", c.line, c.exit, c.stdout, c.stderr)
}

// runCommand runs cmd to completion (killing it after timeout) and returns
// its output and exit status; a failure to start it at all is fatal.
func runCommand(t *testing.T, cmd *exec.Cmd, timeout time.Duration) command {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not finish within %s\n  stdout: %q\n  stderr: %q", cmd, timeout, stdout.String(), stderr.String())
	}
	res := command{line: strings.Join(cmd.Args, " "), stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		exitErr, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", cmd, err)
		}
		res.exit = exitErr.ExitCode()
	}
	return res
}

// leftoverPlaces says where a runtime keeps what it makes for a container.
type leftoverPlaces struct {
	stateRoots []string // directories where <root>/<id> is the state dir
}

// assertCleanFlow checks the end of a flow that worked: every runtime call
// for id succeeded and nothing of it is left.
func assertCleanFlow(t *testing.T, rt *runtimeUnderTest, id string, where leftoverPlaces) {
	t.Helper()
	rt.wantCallsSucceeded(t, id)
	assertNothingLeft(t, rt, id, where)
}

// assertNothingLeft waits briefly (engines clean up asynchronously) and then
// fails t if anything of container id remains: a state dir, a cgroup, a
// mount or a process mentioning it.
func assertNothingLeft(t *testing.T, rt *runtimeUnderTest, id string, where leftoverPlaces) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = leftovers(id, where)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("container %s left behind:\n  %s%s", id, strings.Join(left, "\n  "), rt.callReport(t, id))
	}
}

func leftovers(id string, where leftoverPlaces) []string {
	var left []string
	for _, root := range where.stateRoots {
		if _, err := os.Lstat(filepath.Join(root, id)); err == nil {
			left = append(left, "state dir "+filepath.Join(root, id))
		}
	}
	for _, dir := range cgroupsNamed(id) {
		left = append(left, "cgroup "+dir)
	}
	for _, l := range strings.Split(readMountinfo(), "\n") {
		if strings.Contains(l, id) {
			left = append(left, "mount "+l)
		}
	}
	for _, p := range processesMentioning(id) {
		left = append(left, "process "+p)
	}
	return left
}

// cgroupsNamed finds cgroup directories, in every hierarchy, whose name
// contains id.
func cgroupsNamed(id string) []string {
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(d.Name(), id) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

func readMountinfo() string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return string(b)
}

// mountsUnder lists mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	var ms []string
	for _, l := range strings.Split(readMountinfo(), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			ms = append(ms, f[4])
		}
	}
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

func unmountDetach(path string) error {
	return unix.Unmount(path, unix.MNT_DETACH)
}

// processesMentioning lists processes whose command line contains s (a
// container's init, conmon, a shim, a runtime call still running).
func processesMentioning(s string) []string {
	var out []string
	self := fmt.Sprint(os.Getpid())
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range pids {
		if filepath.Base(p) == self {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte(s)) {
			continue
		}
		out = append(out, filepath.Base(p)+" ("+strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))+")")
	}
	return out
}

// removeCgroupTree removes a cgroup directory (relative to each hierarchy)
// and its children, in every hierarchy, deepest first. Engines leave their
// parent cgroups behind by design.
func removeCgroupTree(rel string) error {
	var errs []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		top := filepath.Join(h, rel)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing cgroup %s: %s", rel, strings.Join(errs, "; "))
	}
	return nil
}

// wantOutput fails t unless the command exited with code and printed want
// on stdout.
func wantOutput(t *testing.T, rt *runtimeUnderTest, id string, res command, code int, want string) {
	t.Helper()
	if res.exit != code || res.stdout != want {
		t.Errorf("want exit %d and stdout %q, got:\n%s%s", code, want, res, rt.callReport(t, id))
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
