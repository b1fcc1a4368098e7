package security_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/probe/report"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rootlessUID is the unprivileged host user of the rootless attack; it
// needs no passwd entry.
const rootlessUID = 4321

// CVE-2023-25809: a rootless container without a cgroup namespace of its
// own must see /sys/fs/cgroup (and every hierarchy under it) read-only: the
// config `spec --rootless` writes, run by an unprivileged user.
func TestRootlessCgroupReadOnly(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runAsUser(rootlessUID)
		c := a.newContainer()
		must(a.t, os.Chown(c.bundle, rootlessUID, rootlessUID))
		if r := a.call(callOpts{}, "spec", "--rootless", "--bundle", c.bundle); r.code != 0 {
			// runc's spec takes --bundle; both write config.json there.
			a.t.Fatalf("%s", r)
		}
		b, err := os.ReadFile(filepath.Join(c.bundle, "config.json"))
		must(a.t, err)
		var s specs.Spec
		must(a.t, json.Unmarshal(b, &s))
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.CgroupNamespace {
				a.t.Fatalf("`spec --rootless` unshares the cgroup namespace: nothing to attack")
			}
		}
		s.Process.Terminal = false
		s.Process.Args = probeArgs()
		s.Root.Readonly = false
		c.spec = &s
		r := c.run(callOpts{}, false)
		rep, ok := c.probeReport()
		if !ok {
			a.t.Fatalf("no probe report: %s", r)
		}
		// The host's hierarchies (through the /sys rbind, or mounted) that
		// the container can reach must be read-only; a tmpfs the runtime
		// mounts over them is the container's own.
		for i, m := range rep.Mounts {
			if m.Mountpoint != "/sys/fs/cgroup" && !strings.HasPrefix(m.Mountpoint, "/sys/fs/cgroup/") {
				continue
			}
			hidden := covered(rep.Mounts[i+1:], m.Mountpoint)
			a.t.Logf("%s on %s %v (hidden: %v)", m.FSType, m.Mountpoint, m.Options, hidden)
			if !hidden && (m.FSType == "cgroup" || m.FSType == "cgroup2") && !contains(m.Options, "ro") {
				a.escaped("the host's cgroup hierarchy at %s is writable in a rootless container without a cgroup namespace (options %v)", m.Mountpoint, m.Options)
			}
		}
	})
}

// covered reports whether one of the later mounts sits on mountpoint or on
// a directory above it, hiding it.
func covered(later []report.Mount, mountpoint string) bool {
	for _, l := range later {
		if l.Mountpoint == mountpoint || l.Mountpoint == "/" || strings.HasPrefix(mountpoint, l.Mountpoint+"/") {
			return true
		}
	}
	return false
}
