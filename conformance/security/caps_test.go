package security_test

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CVE-2022-29162: a runtime that fills the inheritable set (runc before
// 1.1.2 did, from the bounding set, for exec) lets a non-root process gain
// capabilities by executing a file with inheritable file capabilities.
// Inheritable and ambient capabilities are empty unless the config lists
// them: for the container's process and for exec (with or without --cap).
func TestCapsInheritableAmbientEmpty(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
		c := a.newContainer("sleep", "30")
		c.spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		c.mustRun()
		check := func(how string, r result) {
			a.t.Helper()
			rep, ok := decodeReport(r.stdout)
			if !ok {
				a.t.Fatalf("%s: no probe report: %s", how, r)
			}
			for _, set := range []string{"inheritable", "ambient"} {
				if got := rep.Caps[set]; len(got) > 0 {
					a.escaped("%s: the process has %s capabilities %v the config does not list", how, set, got)
				}
			}
		}
		check("exec", c.exec(callOpts{}, nil, probeArgs()...))
		check("exec --cap CAP_SYS_CHROOT", c.exec(callOpts{}, []string{"--cap", "CAP_SYS_CHROOT"}, probeArgs()...))
		run := a.newContainer(probeArgs()...)
		run.spec.Process.Capabilities = c.spec.Process.Capabilities
		r := run.run(callOpts{}, false)
		r.stdout = readQuiet(run.out)
		check("run", r)
	})
}
