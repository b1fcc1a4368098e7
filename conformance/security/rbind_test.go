package security_test

import (
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A rootless-style config binds the host's /sys with "rbind,ro" and has
// no /sys/fs/cgroup entry. Applied to the top mount only, "ro" leaves the
// cgroup hierarchies (submounts of /sys) writable, and the container
// creates cgroups on the host; it must be recursive on an rbind.
func TestSysRbindReadOnly(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		name := "sec-escaped-" + randomHex(4)
		a.runcGap("runc 1.1.5 applies ro to the top mount of an rbind only (runc 1.2 makes it recursive)")
		c := a.newContainer()
		c.spec.Process.Args = []string{"/attacker", "mkdir-cgroups", "-log", "/report/events", "-name", name,
			"-cgroup", strings.TrimPrefix(c.spec.Linux.CgroupsPath, "/")}
		c.removeMount("/sys/fs/cgroup")
		c.removeMount("/sys")
		c.addMount(specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
			Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}})
		r := c.run(callOpts{}, false)
		if _, ok := c.waitEvent("done", 0); !ok {
			a.t.Logf("the attacker did not run: %s", r)
		}
		c.logEvents()
		var made []string
		for _, e := range c.events() {
			if e.Kind == "mkdir" && e.OK() {
				made = append(made, e.Path)
			}
		}
		if len(made) > 0 {
			a.escaped("created %d cgroups on the host through the container's read-only /sys: %v", len(made), made)
		}
		// The attacker removes what it made; make sure, from the host.
		var left []string
		for _, parent := range []string{c.spec.Linux.CgroupsPath, filepath.Dir(c.spec.Linux.CgroupsPath)} {
			m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent, name))
			left = append(left, m...)
		}
		if len(left) > 0 {
			a.escaped("directories left on the host by the container: %v", left)
			removeCgroups(left)
		}
	})
}
