package security_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// container is one container of an attack: a busybox rootfs with the
// attacker and the probe, and a host directory bind-mounted at /report
// where the attacker writes its events.
type container struct {
	a      *attack
	id     string
	bundle string
	rootfs string
	report string
	spec   *specs.Spec
	// out receives the container's stdout and stderr (create, run).
	out string
}

var idUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// newContainer makes a bundle whose config is the runtime's own default
// (`spec`) made non-interactive, running args, with a writable rootfs.
func (a *attack) newContainer(args ...string) *container {
	a.t.Helper()
	slug := strings.Trim(idUnsafe.ReplaceAllString(strings.ToLower(strings.TrimPrefix(a.t.Name(), "Test")), "-"), "-")
	if len(slug) > 28 {
		slug = slug[:28]
	}
	c := &container{a: a, id: "sec-" + slug + "-" + randomHex(4)}
	c.bundle = filepath.Join(a.dir, c.id)
	c.rootfs = filepath.Join(c.bundle, "rootfs")
	c.report = filepath.Join(c.bundle, "report")
	c.out = filepath.Join(c.bundle, "out")
	must(a.t, os.MkdirAll(c.report, 0o777))
	must(a.t, os.Chmod(c.report, 0o777))
	buildRootfs(a.t, c.rootfs)
	c.spec = a.baseSpec(c.id, args)
	a.containers = append(a.containers, c)
	return c
}

// buildRootfs lays out busybox with its applets, the attacker and the
// probe (hard links to the suite's copies) and the usual directories.
func buildRootfs(t *testing.T, rootfs string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "report", "vol"} {
		must(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	for src, dst := range map[string]string{busyboxBin: "bin/busybox", attackerBin: "attacker", probeBin: "probe"} {
		if err := os.Link(src, filepath.Join(rootfs, dst)); err != nil {
			must(t, copyFile(src, filepath.Join(rootfs, dst)))
		}
	}
	for _, ap := range applets {
		if ap != "busybox" {
			must(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", ap)))
		}
	}
	must(t, os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\ntty:x:5:\nuser:x:1000:\n"), 0o644))
}

func (c *container) save() {
	b, err := json.MarshalIndent(c.spec, "", "\t")
	must(c.a.t, err)
	must(c.a.t, os.WriteFile(filepath.Join(c.bundle, "config.json"), b, 0o644))
}

// lifecycle calls with the container's stdout and stderr going to c.out.
func (c *container) withOut(o callOpts, args ...string) result {
	c.a.t.Helper()
	c.save()
	f, err := os.OpenFile(c.out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	must(c.a.t, err)
	defer f.Close()
	o.stdout = f
	return c.a.call(o, args...)
}

// create runs `create --bundle B ID` (with extra flags before the id).
func (c *container) create(o callOpts, flags ...string) result {
	c.a.t.Helper()
	return c.withOut(o, append(append([]string{"create", "--bundle", c.bundle}, flags...), c.id)...)
}

// mustCreate is create for a container the attack needs (not the attack
// itself): a refusal is a broken test.
func (c *container) mustCreate(flags ...string) {
	c.a.t.Helper()
	if r := c.create(callOpts{}, flags...); r.code != 0 || r.timedOut {
		c.a.t.Fatalf("%s", r)
	}
}

// run runs `run [--detach] --bundle B ID`.
func (c *container) run(o callOpts, detach bool) result {
	c.a.t.Helper()
	args := []string{"run", "--bundle", c.bundle}
	if detach {
		args = append(args, "--detach")
	}
	return c.withOut(o, append(args, c.id)...)
}

// mustRun starts a container the attack needs, detached.
func (c *container) mustRun() {
	c.a.t.Helper()
	if r := c.run(callOpts{}, true); r.code != 0 || r.timedOut {
		c.a.t.Fatalf("%s", r)
	}
}

func (c *container) start(o callOpts) result {
	c.a.t.Helper()
	return c.a.call(o, "start", c.id)
}

func (c *container) mustStart() {
	c.a.t.Helper()
	if r := c.start(callOpts{}); r.code != 0 || r.timedOut {
		c.a.t.Fatalf("%s", r)
	}
}

// exec runs `exec [flags] ID args...`; its output is the result's.
func (c *container) exec(o callOpts, flags []string, args ...string) result {
	c.a.t.Helper()
	return c.a.call(o, append(append(append([]string{"exec"}, flags...), c.id), args...)...)
}

// state is the runtime's view of the container (from the clean copy, so
// it works after an attack on the other).
func (c *container) state() (specs.State, bool) {
	r := c.a.call(callOpts{bin: c.a.clean}, "state", c.id)
	var st specs.State
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		return st, false
	}
	return st, true
}

// initPID is the pid of the container's init on the host.
func (c *container) initPID() int {
	c.a.t.Helper()
	st, ok := c.state()
	if !ok || st.Pid == 0 {
		c.a.t.Fatalf("no state for %s", c.id)
	}
	return st.Pid
}

// events are the attacker's events so far.
func (c *container) events() []event.Event {
	evs, _ := event.ReadFile(filepath.Join(c.report, "events"))
	return evs
}

// waitEvent waits up to d for an event of a kind and returns it.
func (c *container) waitEvent(kind string, d time.Duration) (event.Event, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, e := range c.events() {
			if e.Kind == kind {
				return e, true
			}
		}
		if time.Now().After(deadline) {
			return event.Event{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustWaitEvent is waitEvent for a step the test cannot do without.
func (c *container) mustWaitEvent(kind string, d time.Duration) event.Event {
	c.a.t.Helper()
	e, ok := c.waitEvent(kind, d)
	if !ok {
		c.a.t.Fatalf("the attacker in %s reported no %q event within %v; events: %v; container output: %q",
			c.id, kind, d, c.events(), readQuiet(c.out))
	}
	return e
}

// stopAttacker asks the attacker's loops to end (they watch for this file).
func (c *container) stopAttacker() {
	os.WriteFile(filepath.Join(c.report, "stop"), nil, 0o644)
}

// logEvents puts the attacker's events into the test log: the first
// ones, and how many of each kind there were.
func (c *container) logEvents() {
	evs := c.events()
	kinds := map[string]int{}
	for i, e := range evs {
		kinds[e.Kind]++
		if i < 25 {
			b, _ := json.Marshal(e)
			c.a.t.Logf("%s: %s", c.id, b)
		}
	}
	if len(evs) > 25 {
		c.a.t.Logf("%s: %d events in all: %v", c.id, len(evs), kinds)
	}
}

// randomHex is n random bytes in hex: unique names and secrets.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
