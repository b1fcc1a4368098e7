package security_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

import ()

// sameSnapshot reports whether two snapshots of a directory match.
func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMountDestinationRace: a container swaps, as fast as it can, a
// directory of a volume it shares with the next containers and a symlink
// to a host directory; each next container mounts a tmpfs below that
// directory, which the runtime must create. Nothing may be created, or
// mounted, in the host directory.
func TestMountDestinationRace(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runcGap("runc 1.1.5 creates mount points with a MkdirAll that a racing symlink sends out of the rootfs (CVE-2024-45310, fixed in 1.1.14)")
		h := a.hostDir("target")
		before := snapshot(h)
		vol := filepath.Join(a.dir, "shared-volume")
		must(a.t, os.MkdirAll(filepath.Join(vol, "dir"), 0o777))
		must(a.t, os.Symlink(h, filepath.Join(vol, "link")))
		volume := specs.Mount{Destination: "/vol", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}}
		racer := a.newContainer("/attacker", "swap", "-log", "/report/events", "-a", "/vol/dir", "-b", "/vol/link",
			"-for", "60s", "-stop", "/report/stop")
		racer.addMount(volume)
		racer.mustRun()
		racer.mustWaitEvent("ready", 5*time.Second)
		var refused int
		const attempts = 12
		for i := 0; i < attempts; i++ {
			v := a.newContainer("true")
			v.addMount(volume)
			// A fresh path each time: every create has to make directories.
			v.addMount(specs.Mount{Destination: fmt.Sprintf("/vol/dir/sub%d/mnt", i), Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}})
			if r := v.create(callOpts{timeout: 10 * time.Second}); r.code != 0 {
				if refused++; refused <= 3 {
					a.t.Logf("create while raced: %s", r)
				}
			}
			a.call(callOpts{bin: a.clean}, "delete", "--force", v.id)
			if !sameSnapshot(before, snapshot(h)) {
				a.t.Logf("the host directory changed after %d containers", i+1)
				break
			}
		}
		racer.stopAttacker()
		racer.mustWaitEvent("done", 5*time.Second)
		racer.logEvents()
		a.t.Logf("%d of the containers failed to create while raced", refused)
	})
}
