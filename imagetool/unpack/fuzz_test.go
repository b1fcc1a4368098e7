package unpack

import (
	"archive/tar"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// FuzzApplyLayer applies an arbitrary tar stream as a layer, on top of a
// lower layer that holds symlinks pointing out of the root (relative and
// absolute), to a root next to an "outside" directory with a secret file.
// Nothing may panic, and nothing outside the root may be written: the
// root's parent holds only the root and "outside", "outside" only its
// unchanged secret, and no file in the root is a hard link to it.
func FuzzApplyLayer(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Fatal("the applier chowns and creates devices: run as root")
	}
	lower := tarOf(f, dir("etc"), symlink("up", "../outside"), symlink("abs", "/"), symlink("etc/loop", "loop"),
		symlink("dangling", "/no/such/dir"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"))
	for _, seed := range [][]ent{
		{dir("bin"), file("bin/sh", "#!"), symlink("bin/ls", "sh"), hardlink("bin/ls2", "bin/sh")},
		{file("up/secret", "pwned"), file("abs/tmp/escaped", "x"), file("dangling/x", "y")},
		{file("../outside/secret", "pwned"), file("/outside/x", "y"), file("a/../../b", "z")},
		{hardlink("h", "../outside/secret"), hardlink("h2", "up/secret"), hardlink("h3", "/etc/passwd")},
		{file("etc/.wh.passwd", ""), dir("etc"), file("etc/.wh..wh..opq", ""), file(".wh.up", "")},
		{{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666}, {name: "fifo", typ: tar.TypeFifo, mode: 0o644}},
		{{name: "x", typ: tar.TypeReg, mode: 0o4755, uid: 1000, gid: 1000, body: "s", xattrs: map[string]string{"user.a": "b", "security.capability": "\x01"}}},
		{dir("up"), file("up/y", "replaced the link")},
		{symlink("etc", "/outside"), file("etc/z", "through a replaced dir")},
	} {
		f.Add(tarOf(f, seed...))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 1024))

	base, err := os.MkdirTemp("", "fuzz-apply-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(base) })
	outside := filepath.Join(base, "outside")
	secret := filepath.Join(outside, "secret")
	if err := os.Mkdir(outside, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		f.Fatal(err)
	}
	var secretStat syscall.Stat_t
	if err := syscall.Stat(secret, &secretStat); err != nil {
		f.Fatal(err)
	}
	rootfs := filepath.Join(base, "rootfs")
	limits := Limits{MaxBytes: 4 << 20, MaxEntries: 2000, MaxNameLen: 4096}

	f.Fuzz(func(t *testing.T, layer []byte) {
		os.RemoveAll(rootfs)
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			t.Fatal(err)
		}
		layers := []Layer{blobLayer(MediaTypeTar, lower, digest.FromBytes(lower)), blobLayer(MediaTypeTar, layer, digest.FromBytes(layer))}
		_ = ApplyLayers(context.Background(), rootfs, layers, Options{}, limits)

		names, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range names {
			got = append(got, n.Name())
		}
		if !slices.Equal(got, []string{"outside", "rootfs"}) {
			t.Fatalf("the layer wrote next to the root: %q", got)
		}
		if names, _ := os.ReadDir(outside); len(names) != 1 {
			t.Fatalf("the layer wrote into the outside directory: %v", names)
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "host" {
			t.Fatalf("the secret outside the root changed: %q, %v", b, err)
		}
		if fi, err := os.Lstat(secret); err != nil || fi.Mode() != 0o600 {
			t.Fatalf("the secret's mode changed: %v, %v", fi, err)
		}
		filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) == nil && st.Dev == secretStat.Dev && st.Ino == secretStat.Ino {
				t.Fatalf("%s is a hard link to the secret outside the root", p)
			}
			return nil
		})
	})
}
