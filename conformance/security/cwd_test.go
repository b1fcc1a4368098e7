package security_test

import (
	"os"
	"strings"
	"testing"
	"time"
)

// CVE-2024-21626: the runtime's caller (a shim, a shell, a script) leaks an
// open directory fd; process.cwd or exec --cwd is /proc/self/fd/N. A
// runtime that lets the fd reach the container's process, and does not
// check where chdir took it, starts that process with its working
// directory on the host, from where it writes files (and could walk up to
// the host's /). The runtime must refuse to start it, or start it with its
// cwd inside the container.

// cwdFD is the fd number the attack names as cwd; the caller leaks the
// host directory as every fd from 3 to 3+leaked-1.
const (
	cwdFD  = 10
	leaked = 14
)

const cwdPath = "/proc/self/fd/10"

// judgeCwd turns the attacker's report into the verdict; the host
// directory and its parent are checked by checkHost.
func (c *container) judgeCwd(started bool, r result) {
	a := c.a
	a.t.Helper()
	if !started {
		a.t.Logf("refused: %s", r)
		return
	}
	_, ok := c.waitEvent("done", 5*time.Second)
	c.logEvents()
	if !ok {
		a.t.Logf("the process never reported (%s)", r)
		return
	}
	for _, ev := range c.events() {
		if ev.Kind == "cwd" && (strings.HasPrefix(ev.Path, "(unreachable)") || !ev.OK()) {
			a.escaped("the container process started with its working directory outside the container: %q", ev.Path)
		}
	}
}

func escapeCwdArgs(name string) []string {
	return []string{"/attacker", "escape-cwd", "-log", "/report/events", "-name", name}
}

// cwdAttack is a container whose process is the attacker with its cwd
// /proc/self/fd/N, and the fds that leak a watched host directory.
func (a *attack) cwdAttack(name string) (*container, []*os.File) {
	a.t.Helper()
	leak := a.leakDir(a.hostDir("leaked"), leaked)
	c := a.newContainer(escapeCwdArgs(name)...)
	c.spec.Process.Cwd = cwdPath
	return c, leak
}

// TestCwdOnHostRun: `run` with process.cwd /proc/self/fd/N.
func TestCwdOnHostRun(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		c, leak := a.cwdAttack("escaped-run")
		r := c.run(callOpts{leak: leak}, false)
		c.judgeCwd(len(c.events()) > 0, r)
	})
}

// TestCwdOnHostCreate: `create` (then `start`) with process.cwd
// /proc/self/fd/N; the caller of both leaks the directory.
func TestCwdOnHostCreate(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		c, leak := a.cwdAttack("escaped-create")
		r := c.create(callOpts{leak: leak})
		started := false
		if r.code == 0 {
			r = c.start(callOpts{leak: leak})
			_, started = c.waitEvent("cwd", 3*time.Second)
		}
		c.judgeCwd(started, r)
	})
}

// TestCwdOnHostExec: `exec --cwd /proc/self/fd/N` into a running container.
func TestCwdOnHostExec(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		leak := a.leakDir(a.hostDir("leaked"), leaked)
		c := a.newContainer("sleep", "30")
		c.mustRun()
		r := c.exec(callOpts{leak: leak}, []string{"--cwd", cwdPath}, escapeCwdArgs("escaped-exec")...)
		c.judgeCwd(len(c.events()) > 0, r)
	})
}
