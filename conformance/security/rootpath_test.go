package security_test

import (
	"os"
	"path/filepath"
	"testing"
)

// A root.path that is a symlink is resolved on the host, outside every
// check of the bundle: a bundle whose rootfs links to / (or to any host
// directory) runs the container on it. runc refuses such a root.path; so
// must berth. The link here points at another host directory holding a
// rootfs (not at /: a runtime that follows it would mount over the host's
// own /proc and /dev in the container's namespace), watched for writes.
func TestRootPathSymlink(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		elsewhere := filepath.Join(a.dir, "host", "elsewhere")
		buildRootfs(a.t, elsewhere)
		a.watch(elsewhere)
		c := a.newContainer("/bin/sh", "-c", "echo written through a symlinked root.path > /escaped")
		must(a.t, os.RemoveAll(c.rootfs))
		must(a.t, os.Symlink(elsewhere, c.rootfs))
		r := c.run(callOpts{}, false)
		if r.code == 0 {
			a.escaped("the runtime ran a container whose root.path is a symlink to %s", elsewhere)
		} else {
			a.t.Logf("refused: %s", r)
		}
	})
}
