package security_test

import (
	"fmt"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container init that waits for `start` after the user switch, and is
// dumpable meanwhile, is open to every process of its pid namespace (an
// exec'd one, or another container's that joined it): its environment and
// memory (the config, with its secrets), its fds (host paths such as the
// exec fifo's), ptrace, and /proc/1/fd/N of a host directory its caller
// leaked, through which files are created on the host. The init must stay
// non-dumpable until it execs the user program, and close the caller's fds.

// victimInit creates (does not start) a container with a secret in its
// environment, its caller leaking a watched host directory.
func (a *attack) victimInit() (victim *container, secret string) {
	a.t.Helper()
	secret = "s3cret-" + randomHex(16)
	victim = a.newContainer("sleep", "30")
	victim.spec.Process.Env = append(victim.spec.Process.Env, "API_TOKEN="+secret)
	if r := victim.create(callOpts{leak: a.leakDir(a.hostDir("leaked"), leaked)}); r.code != 0 {
		a.t.Fatalf("%s", r)
	}
	return victim, secret
}

// runcDumpable: runc 1.1.5 closes the caller's fds (no host write), but its
// init is dumpable while it waits on the exec fifo.
const runcDumpable = "runc 1.1.5's init is dumpable while it waits on the exec fifo: environ, memory (with the secret), fds and ptrace are open to the container"

func inspectArgs(secret string) []string {
	return []string{"/attacker", "inspect-init", "-log", "/report/events", "-pid", "1",
		"-secret", secret, "-name", "escaped-through-init-fd"}
}

// judgeInspection turns the inspector's events (in c's report) into the
// verdict; files it created on the host are found by checkHost.
func (c *container) judgeInspection() {
	a := c.a
	a.t.Helper()
	c.mustWaitEvent("done", 10*time.Second)
	c.logEvents()
	// Worst first: the table shows the first escape of each attack.
	evs := c.events()
	for _, kind := range []string{"create", "mem", "ptrace", "fds", "environ"} {
		for _, e := range evs {
			if e.Kind != kind {
				continue
			}
			switch {
			case kind == "create" && e.OK():
				a.escaped("created a file on the host (%s) %s of the waiting init", e.Path, e.Detail)
			case kind == "mem" && e.OK():
				a.escaped("read the waiting init's memory through /proc/1/mem (%s, the config's secret %s)", e.Detail, foundWord(e.Found))
			case kind == "ptrace" && e.OK():
				a.escaped("ptrace-attached the waiting init (%s)", e.Detail)
			case kind == "fds" && e.Found:
				a.escaped("read the waiting init's fds: %s", short(e.Detail, 300))
			case kind == "environ" && e.OK():
				a.escaped("read the waiting init's /proc/1/environ (%s, the secret %s)", e.Detail, foundWord(e.Found))
			}
		}
	}
}

func foundWord(found bool) string {
	if found {
		return "found"
	}
	return "not found"
}

// TestDumpableInitFromExec: a process `exec`'d into the created container
// inspects its init.
func TestDumpableInitFromExec(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runcGap(runcDumpable)
		victim, secret := a.victimInit()
		r := victim.exec(callOpts{}, []string{"--detach"}, inspectArgs(secret)...)
		if r.code != 0 {
			a.t.Fatalf("%s", r)
		}
		victim.judgeInspection()
	})
}

// TestDumpableInitFromSibling: a second container joins the created one's
// pid namespace and inspects its init.
func TestDumpableInitFromSibling(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runcGap(runcDumpable)
		victim, secret := a.victimInit()
		c := a.newContainer(inspectArgs(secret)...)
		c.joinNamespace(specs.PIDNamespace, fmt.Sprintf("/proc/%d/ns/pid", victim.initPID()))
		c.mustRun()
		c.judgeInspection()
	})
}
