package security_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CVE-2021-30465, CVE-2024-45310: mount destinations are paths in the
// rootfs, which the image (or a volume shared with another container)
// controls. Resolved on the host, a symlink on the way takes the mount, and
// the directories created for it, out of the rootfs: onto host paths. A
// runtime must resolve them inside the rootfs, and create and mount on
// what it resolved, so that no swap between the check and the use can
// send it elsewhere.

// linkOut makes the image's path a symlink to a host directory: absolute,
// or relative with enough ../ to climb out of any rootfs.
func (c *container) linkOut(path, host string, relative bool) {
	target := host
	if relative {
		target = strings.Repeat("../", 12) + strings.TrimPrefix(host, "/")
	}
	p := filepath.Join(c.rootfs, path)
	must(c.a.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(c.a.t, os.Symlink(target, p))
}

// TestMountDestinationSymlink: the image has symlinks to a host directory,
// absolute and relative (../ up past the rootfs), on the way to two tmpfs
// mount points and to /dev/pts (from a /dev volume). They must resolve
// inside the rootfs: the host directory stays as it was.
func TestMountDestinationSymlink(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		h := a.hostDir("target")
		c := a.newContainer(probeArgs()...)
		c.linkOut("/mnt/abs", h, false)
		c.linkOut("/mnt/rel", h, true)
		c.devFromVolume(map[string]string{"pts": a.hostDir("pts-target")})
		for _, dst := range []string{"/mnt/abs/x", "/mnt/rel/y"} {
			c.addMount(specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}})
		}
		r := c.run(callOpts{}, false)
		rep, ok := c.probeReport()
		if !ok {
			a.t.Logf("refused: %s", r)
			return
		}
		for _, m := range rep.Mounts {
			if strings.HasPrefix(m.Mountpoint, "/mnt") || strings.HasPrefix(m.Mountpoint, "/dev/pts") || strings.HasPrefix(m.Mountpoint, filepath.Dir(h)) {
				a.t.Logf("inside: %s on %s", m.FSType, m.Mountpoint)
			}
		}
	})
}
