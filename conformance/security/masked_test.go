package security_test

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// devFromVolume replaces the container's /dev tmpfs by a bind of a host
// directory (a volume) holding the given symlinks (name -> target) and,
// unless one of them is null, the null device.
func (c *container) devFromVolume(links map[string]string) string {
	dev := filepath.Join(c.bundle, "volume-dev")
	must(c.a.t, os.MkdirAll(dev, 0o755))
	for name, target := range links {
		must(c.a.t, os.Symlink(target, filepath.Join(dev, name)))
	}
	if _, ok := links["null"]; !ok {
		must(c.a.t, unix.Mknod(filepath.Join(dev, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	}
	c.removeMount("/dev")
	c.spec.Mounts = append([]specs.Mount{{Destination: "/dev", Type: "bind", Source: dev, Options: []string{"rbind", "rw"}}}, c.spec.Mounts...)
	return dev
}

// CVE-2025-31133: maskedPaths hide files by bind-mounting the container's
// /dev/null over them. When /dev comes from a volume (or the image) whose
// null is a symlink to the very file to hide, a runtime that follows it
// bind-mounts that file over itself: the masked file shows its content
// (and with a link to a writable procfs file, becomes writable). /dev/null
// must be checked to be the 1:3 character device before it is used, or
// files masked from a source of the runtime's own.
func TestMaskedPathDevNullSymlink(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runcGap("runc 1.1.5 bind-mounts the container's /dev/null over masked files without checking it (CVE-2025-31133, fixed in 1.2.8)")
		c := a.newContainer(probeArgs("--read", "/proc/timer_list", "--stat", "/proc/timer_list", "--stat", "/dev/null")...)
		c.devFromVolume(map[string]string{"null": "/proc/timer_list"})
		if !contains(c.spec.Linux.MaskedPaths, "/proc/timer_list") {
			a.t.Fatalf("the default config masks no /proc/timer_list: %v", c.spec.Linux.MaskedPaths)
		}
		r := c.run(callOpts{}, false)
		rep, ok := c.probeReport()
		if !ok {
			a.t.Logf("refused: %s", r)
			return
		}
		a.t.Logf("/proc/timer_list: %+v; /dev/null: %+v", rep.Stats["/proc/timer_list"], rep.Stats["/dev/null"])
		if got := rep.Files["/proc/timer_list"]; got.Content != "" {
			a.escaped("the masked /proc/timer_list shows its content (%d bytes: %.40q...)", len(got.Content), got.Content)
		}
	})
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
