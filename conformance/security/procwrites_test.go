package security_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CVE-2019-16884, CVE-2025-52881: a runtime that writes to /proc by path
// after the container's mounts are in place writes wherever the container's
// /proc leads: an image whose /proc is a symlink into a volume, or a mount
// over a /proc file, redirects process.oomScoreAdj, the exec fifo's start
// byte (/proc/self/fd/N) or a sysctl to files of the attacker's choosing, on
// the host. Every /proc write must go through a handle verified as procfs,
// on the file it means to write.

const oomScore = 123

// checkOOM starts the created container (bounded: a runtime whose start
// byte went astray waits for it) and checks that its process runs with the
// configured oom_score_adj.
func (c *container) checkOOM() {
	a := c.a
	a.t.Helper()
	if r := c.start(callOpts{timeout: 3 * time.Second}); r.code != 0 || r.timedOut {
		a.t.Logf("start: %s", r)
	}
	st, ok := c.state()
	if !ok || st.Pid == 0 {
		a.t.Logf("no running process to check (state %+v)", st)
		return
	}
	got := oomOf(st.Pid)
	a.t.Logf("the container's process runs with oom_score_adj %d", got)
	if got != oomScore {
		a.escaped("process.oomScoreAdj %d was not applied: the container's process has oom_score_adj %d", oomScore, got)
	}
}

// TestProcSymlinkIntoVolume: the image's /proc is a symlink to
// /vol/fakeproc and a volume is mounted at /vol after /proc: the /proc the
// runtime writes through after pivot_root is the volume's fake one, with a
// self/oom_score_adj and self/fd/N files.
func TestProcSymlinkIntoVolume(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		vol := a.hostDir("volume")
		self := filepath.Join(vol, "fakeproc", "self")
		must(a.t, os.MkdirAll(filepath.Join(self, "fd"), 0o755))
		must(a.t, os.WriteFile(filepath.Join(self, "oom_score_adj"), []byte("0\n"), 0o644))
		for fd := 0; fd < 64; fd++ {
			must(a.t, os.WriteFile(filepath.Join(self, "fd", strconv.Itoa(fd)), nil, 0o644))
		}
		a.rewatch()
		c := a.newContainer("sleep", "30")
		must(a.t, os.Remove(filepath.Join(c.rootfs, "proc")))
		must(a.t, os.Symlink("/vol/fakeproc", filepath.Join(c.rootfs, "proc")))
		c.addMount(specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}})
		c.spec.Process.OOMScoreAdj = ptr(oomScore)
		// Masking goes through /proc/self/fd/N too: with these paths
		// a runtime with the flaw fails earlier, mounting on the decoys.
		c.spec.Linux.MaskedPaths, c.spec.Linux.ReadonlyPaths = nil, nil
		if r := c.create(callOpts{}); r.code != 0 {
			a.t.Logf("refused: %s", r)
			return
		}
		if b := readQuiet(filepath.Join(self, "oom_score_adj")); b != "0\n" {
			a.escaped("process.oomScoreAdj went to the volume's fake self/oom_score_adj on the host (now %q)", b)
		}
		c.checkOOM()
		fds, _ := filepath.Glob(filepath.Join(self, "fd", "*"))
		for _, f := range fds {
			if b := readQuiet(f); b != "" {
				a.escaped("the init's start byte went to the volume's fake self/fd/%s on the host (%q)", filepath.Base(f), b)
			}
		}
	})
}

// TestProcBindOverOOMScoreAdj: the config binds a volume's file over
// /proc/self/oom_score_adj (resolved, at mount time, to the init's pid).
func TestProcBindOverOOMScoreAdj(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		decoy := a.decoy("oom_score_adj", "0\n")
		c := a.newContainer("sleep", "30")
		c.addMount(specs.Mount{Destination: "/proc/self/oom_score_adj", Type: "bind", Source: decoy, Options: []string{"bind"}})
		c.spec.Process.OOMScoreAdj = ptr(oomScore)
		if r := c.create(callOpts{}); r.code != 0 {
			a.t.Logf("refused: %s", r)
			return
		}
		c.checkOOM()
	})
}

// TestProcBindOverSysctl: the config binds a volume's file over
// /proc/sys/kernel/domainname and sets that sysctl: the value must reach
// the UTS namespace, not the file.
func TestProcBindOverSysctl(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		decoy := a.decoy("domainname", "(none)\n")
		c := a.newContainer(probeArgs()...)
		c.addMount(specs.Mount{Destination: "/proc/sys/kernel/domainname", Type: "bind", Source: decoy, Options: []string{"bind"}})
		c.spec.Linux.Sysctl = map[string]string{"kernel.domainname": "sysctl.example"}
		r := c.run(callOpts{}, false)
		rep, ok := c.probeReport()
		if !ok {
			a.t.Logf("refused: %s", r)
			return
		}
		if rep.Domainname != "sysctl.example" {
			a.escaped("linux.sysctl kernel.domainname did not reach the container (domainname %q)", rep.Domainname)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// decoy is a watched host file for a config to mount over a /proc file.
func (a *attack) decoy(name, content string) string {
	a.t.Helper()
	p := filepath.Join(a.hostDir("volume"), name)
	must(a.t, os.WriteFile(p, []byte(content), 0o644))
	a.rewatch()
	return p
}
