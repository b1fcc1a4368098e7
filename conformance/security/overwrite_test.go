package security_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: a process in the container gets hold of the runtime's
// binary through /proc/PID/exe of a process that runs it inside the
// container, and writes it once the runtime has exited. The attacker
// (watch-exe) holds every such executable and retries opening it for
// writing while it gets ETXTBSY; it only writes to the copy under test.

// watchArgs runs the attacker watching for the attacked copy: every
// process of the pid namespace, or only pid.
func (a *attack) watchArgs(pid int) []string {
	a.t.Helper()
	var st unix.Stat_t
	must(a.t, unix.Stat(a.bin, &st))
	return []string{"/attacker", "watch-exe", "-log", "/report/events", "-stop", "/report/stop",
		"-dev", strconv.FormatUint(st.Dev, 10), "-ino", strconv.FormatUint(st.Ino, 10),
		"-pid", strconv.Itoa(pid), "-for", "40s"}
}

// watched counts the executables the watcher holds and those it has tried
// to write (each held one gets one write event).
func watched(evs []event.Event) (held, tried int) {
	for _, e := range evs {
		switch e.Kind {
		case "held":
			held++
		case "write":
			tried++
		}
	}
	return held, tried
}

// caught reports whether the watcher holds anything yet.
func caught(c *container) bool {
	held, _ := watched(c.events())
	return held > 0
}

// tryUntilCaught repeats a runtime call that shows the runtime's binary to
// the watcher in c, at most n times, until the watcher holds it (or the
// binary no longer runs: it was overwritten).
func (c *container) tryUntilCaught(n int, call func() result) {
	c.a.t.Helper()
	for i := 0; i < n && !caught(c); i++ {
		r := call()
		if r.code != 0 {
			c.a.t.Logf("attempt %d: %s", i+1, r)
		}
		if r.code == -1 {
			return
		}
	}
}

// startWatcher runs a container whose process watches for the runtime's
// binary (in pid namespace pidns when set) and waits until it watches.
func (a *attack) startWatcher(pid int, pidns string) *container {
	a.t.Helper()
	w := a.newContainer(a.watchArgs(pid)...)
	if pidns != "" {
		w.joinNamespace(specs.PIDNamespace, pidns)
	}
	w.mustRun()
	w.mustWaitEvent("ready", 5*time.Second)
	return w
}

// finishWatch waits (bounded) for the watcher's write attempts on what it
// holds, stops it, and turns what it did into the verdict.
func (c *container) finishWatch() {
	a := c.a
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if held, tried := watched(c.events()); tried >= held {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.stopAttacker()
	c.mustWaitEvent("done", 5*time.Second)
	c.logEvents()
	var saw bool
	ran := map[int]string{}
	for _, e := range c.events() {
		switch {
		case e.Kind == "held" || e.Kind == "denied":
			saw = true
			ran[e.PID] = e.Cmdline
		case e.Kind == "write" && e.Target && e.OK():
			a.escaped("a container process wrote the runtime binary through /proc/%d/exe, held while %q ran it (%s)",
				e.PID, ran[e.PID], e.Detail)
		case e.Kind == "write" && e.OK() && strings.Contains(e.Detail, "memfd"):
			// Private to that process, but a copy that is not sealed
			// is not the defence it claims to be.
			a.escaped("the runtime's memfd copy, held through /proc/%d/exe while %q ran it, was writable (%s)",
				e.PID, ran[e.PID], e.Detail)
		}
	}
	if !saw {
		a.t.Logf("the watcher never saw a process run anything but itself and busybox: the runtime did not show its binary in the container this time")
	}
}

// TestOverwriteExecShebang: the image's /script is "#!/proc/self/exe", so
// the runtime's exec process, exec'ing it, runs its own binary again as
// the script's interpreter inside the container.
func TestOverwriteExecShebang(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		c := a.startWatcher(0, "")
		must(a.t, os.WriteFile(filepath.Join(c.rootfs, "script"), []byte("#!/proc/self/exe\n"), 0o755))
		c.tryUntilCaught(8, func() result {
			return c.exec(callOpts{timeout: 10 * time.Second}, nil, "/script")
		})
		c.finishWatch()
	})
}

// TestOverwriteEntrypointSymlink: the entrypoint is a symlink to
// /proc/self/exe, so the runtime's init re-executes its own binary as the
// container's process; a container sharing its pid namespace watches.
func TestOverwriteEntrypointSymlink(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		w := a.startWatcher(0, "")
		pidns := fmt.Sprintf("/proc/%d/ns/pid", w.initPID())
		w.tryUntilCaught(5, func() result {
			c := a.newContainer("/entry")
			must(a.t, os.Symlink("/proc/self/exe", filepath.Join(c.rootfs, "entry")))
			c.joinNamespace(specs.PIDNamespace, pidns)
			return c.run(callOpts{timeout: 10 * time.Second}, false)
		})
		w.finishWatch()
	})
}

// TestOverwriteCreatedInit: a second container joins the pid namespace of
// one that waits in "created" and opens /proc/1/exe of its init; once the
// first is started, nothing runs the binary any more.
func TestOverwriteCreatedInit(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		victim := a.newContainer("sleep", "30")
		victim.mustCreate()
		w := a.startWatcher(1, fmt.Sprintf("/proc/%d/ns/pid", victim.initPID()))
		// Give the watcher its chance at the waiting init.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if caught(w) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		victim.mustStart()
		w.finishWatch()
	})
}

// TestOverwriteRacedExec: plain `exec` calls, raced by a process of the
// container that watches for the runtime's own process joining it.
func TestOverwriteRacedExec(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		c := a.startWatcher(0, "")
		c.tryUntilCaught(30, func() result {
			return c.exec(callOpts{timeout: 10 * time.Second}, nil, "/bin/true")
		})
		c.finishWatch()
	})
}
