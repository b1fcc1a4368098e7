package unpack

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// shellImage is richImage with busybox in a fourth layer, so that
// containers can change their files with a shell.
func shellImage(t *testing.T) image {
	img := richImage(t, readProbe(t), "gzip")
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	img.layers = append(img.layers, layer{entries: []entry{
		dirE("bin/", 0o755), {name: "bin/busybox", typ: tar.TypeReg, data: bb, mode: 0o755}, linkE("bin/sh", "busybox"),
	}})
	return img
}

// served writes img as a layout, pushes it to the registry as repo and
// returns a temp dir for the test, the image reference and a store path.
func served(t *testing.T, img image, repo string) (base, ref, store string) {
	t.Helper()
	base = t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", img)
	return base, push(t, layout, "v1", repo, ""), filepath.Join(base, "store")
}

// changeScript changes the rootfs in every way a layer can record.
const changeScript = `set -e
echo changed > /etc/greeting
chown 1000:50 /etc/passwd
chmod 4750 /home/app/notes
rm /data/b
rm -rf /old
rm -rf /opq && mkdir /opq && echo fresh > /opq/fresh
rm -rf /swapfile && echo now-a-file > /swapfile
ln /usr/bin/suid /usr/bin/suid-link
ln -s /etc/passwd /data/newsym
mknod /data/zero c 1 5
mkfifo /data/fifo2
mkdir -p /new/deep/dir && echo x > /new/deep/dir/file && chmod 700 /new/deep
cp -p /data/a /data/.aref && printf ZZZ > /data/a && touch -r /data/.aref /data/a && rm /data/.aref
`

// shRun runs sh -c script as root in bundle with berth.
func shRun(t *testing.T, bundle, script string) {
	t.Helper()
	cfgPath := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	json.Unmarshal(b, &spec)
	orig := b
	proc := spec["process"].(map[string]any)
	proc["args"] = []string{"/bin/sh", "-c", script}
	proc["user"] = map[string]any{"uid": 0, "gid": 0}
	proc["cwd"] = "/"
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_MKNOD", "CAP_SETFCAP"}
	proc["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
	nb, _ := json.Marshal(spec)
	if err := os.WriteFile(cfgPath, nb, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(cfgPath, orig, 0o644)
	id := fmt.Sprintf("berth-repack-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	state := t.TempDir()
	out, err := exec.CommandContext(ctx, berthBin, "--root", state, "run", "--bundle", bundle, id).CombinedOutput()
	if err != nil {
		exec.Command(berthBin, "--root", state, "delete", "--force", id).Run()
		t.Fatalf("berth run sh -c: %v\n%s", err, out)
	}
}

func TestRepackRoundTrip(t *testing.T) {
	base, ref, store := served(t, shellImage(t), "unpack/repack")
	for _, mode := range []string{"overlay", "copy"} {
		t.Run(mode, func(t *testing.T) {
			b := filepath.Join(base, "bundle-"+mode)
			cleanupBundle(t, b)
			mustBerthImage(t, store, "bundle", "--quiet", "--mode", mode, ref, b)
			shRun(t, b, changeScript)
			rootfs := filepath.Join(b, "rootfs")
			// Changes the shell cannot make: a file capability, a removed xattr.
			if err := unix.Setxattr(filepath.Join(rootfs, "usr/bin/suid"), "security.capability", []byte(capNetBindService), 0); err != nil {
				t.Fatal(err)
			}
			if err := unix.Removexattr(filepath.Join(rootfs, "data/a"), "user.comment"); err != nil {
				t.Fatal(err)
			}
			want := snapshot(t, rootfs)
			newRef := "localhost/repacked:" + mode
			out := mustBerthImage(t, store, "repack", "--image", newRef, "--author", "tester", "--message", "round trip", b)
			t.Logf("repack: %s", out)
			if !strings.Contains(out, map[string]string{"overlay": "overlay upper directory", "copy": "compared with the image's layers"}[mode]) {
				t.Errorf("repack output %q does not say how it found the changes", out)
			}
			for _, how := range []string{"copy", "overlay"} {
				u := filepath.Join(base, "unpacked-"+mode+"-"+how)
				cleanupBundle(t, u)
				mustBerthImage(t, store, "unpack", "--quiet", "--mode", how, newRef, u)
				sameTree(t, "unpack --mode "+how+" of the repacked image vs the changed bundle", snapshot(t, filepath.Join(u, "rootfs")), want)
			}
			// umoci reads the new image the same way.
			oci := filepath.Join(base, "oci-"+mode)
			mustBerthImage(t, store, "copy", "-q", "oci:"+store+":"+newRef, "oci:"+oci+":new")
			sameTree(t, "umoci unpack of the repacked image vs the changed bundle", snapshot(t, umociRootfs(t, oci, "new")), want)

			// The new image: one layer more, history with author and message.
			var info struct {
				Manifest struct{ Layers []any } `json:"manifest"`
				Config   struct {
					Author  string `json:"author"`
					History []struct {
						Author, Comment string
						CreatedBy       string `json:"created_by"`
					} `json:"history"`
					RootFS struct {
						DiffIDs []string `json:"diff_ids"`
					} `json:"rootfs"`
				} `json:"config"`
			}
			if err := json.Unmarshal([]byte(mustBerthImage(t, store, "inspect", "--format", "json", newRef)), &info); err != nil {
				t.Fatal(err)
			}
			h := info.Config.History
			if len(info.Manifest.Layers) != 5 || len(info.Config.RootFS.DiffIDs) != 5 || info.Config.Author != "tester" ||
				len(h) == 0 || h[len(h)-1].Comment != "round trip" || h[len(h)-1].Author != "tester" || h[len(h)-1].CreatedBy != "berth-image repack" {
				t.Errorf("repacked image: %+v", info)
			}
		})
	}
}

// TestRepackUnchangedAndCompression: a bundle nobody changed repacks to
// an empty layer for a copied bundle; --compress zstd and none work.
func TestRepackCompression(t *testing.T) {
	base, ref, store := served(t, shellImage(t), "unpack/compress")
	b := filepath.Join(base, "bundle")
	cleanupBundle(t, b)
	mustBerthImage(t, store, "bundle", "--quiet", "--mode", "copy", ref, b)
	out := mustBerthImage(t, store, "repack", "--image", "localhost/same:v1", b)
	if !strings.Contains(out, " 0 entries") {
		t.Errorf("unchanged copied bundle: %q, want an empty layer", out)
	}
	shRun(t, b, "echo zstd > /etc/greeting")
	for _, c := range []string{"zstd", "none"} {
		mustBerthImage(t, store, "repack", "--compress", c, "--image", "localhost/c:"+c, b)
		var m struct {
			Manifest struct{ Layers []struct{ MediaType string } } `json:"manifest"`
		}
		json.Unmarshal([]byte(mustBerthImage(t, store, "inspect", "--format", "json", "localhost/c:"+c)), &m)
		if l := m.Manifest.Layers; len(l) != 5 || !strings.HasSuffix(l[4].MediaType, map[string]string{"zstd": "tar+zstd", "none": "v1.tar"}[c]) {
			t.Errorf("--compress %s: layers %+v", c, l)
		}
		u := filepath.Join(base, "u-"+c)
		cleanupBundle(t, u)
		mustBerthImage(t, store, "unpack", "--quiet", "localhost/c:"+c, u)
		sameTree(t, c, snapshot(t, filepath.Join(u, "rootfs")), snapshot(t, filepath.Join(b, "rootfs")))
	}
	r := berthImage(store, "repack", "--compress", "lz4", "--image", "x", b)
	if r.err == nil || !strings.Contains(r.stderr, "lz4") {
		t.Errorf("--compress lz4: %v %s", r.err, r.stderr)
	}
}

// TestBundleOutlivesRmAndGC: gc keeps what a live overlay bundle reads,
// a copied bundle needs nothing, and once the overlay bundle is removed
// with unbundle, gc frees the image.
func TestBundleOutlivesRmAndGC(t *testing.T) {
	base, ref, store := served(t, richImage(t, readProbe(t), "gzip"), "unpack/gc")
	ov, cp := filepath.Join(base, "overlay"), filepath.Join(base, "copy")
	cleanupBundle(t, ov)
	out := mustBerthImage(t, store, "bundle", ref, ov)
	if !strings.Contains(out, "berth-image unbundle") {
		t.Errorf("bundle output %q does not say how to remove an overlay bundle", out)
	}
	mustBerthImage(t, store, "unpack", "--quiet", "--mode", "copy", ref, cp)
	mustBerthImage(t, store, "rm", ref)
	gc := mustBerthImage(t, store, "gc")
	if strings.Contains(gc, "layer cache") || strings.Contains(gc, "blob") {
		t.Fatalf("gc freed what the overlay bundle uses:\n%s", gc)
	}
	for _, b := range []string{ov, cp} {
		if r := runBundle(t, b); r.Files["/etc/greeting"].Content != "v3 final" {
			t.Fatalf("%s after rm + gc: greeting %+v", b, r.Files["/etc/greeting"])
		}
	}
	// rm -rf of the overlay bundle fails on the mount, as its output says.
	if err := os.RemoveAll(ov); err == nil {
		t.Fatal("rm -rf of a mounted overlay bundle succeeded")
	}
	// unbundle removes what is left; then gc frees the image, which the
	// copied bundle does not need.
	mustBerthImage(t, store, "unbundle", ov)
	if _, err := os.Stat(ov); !os.IsNotExist(err) {
		t.Fatalf("%s still there after unbundle: %v", ov, err)
	}
	gc = mustBerthImage(t, store, "gc")
	if strings.Count(gc, "layer cache") != 3 || !strings.Contains(gc, "blob") {
		t.Fatalf("gc after unbundle:\n%s", gc)
	}
	if r := runBundle(t, cp); r.Files["/etc/greeting"].Content != "v3 final" {
		t.Fatalf("copied bundle after gc: greeting %+v", r.Files["/etc/greeting"])
	}
	r := berthImage(store, "repack", "--image", "localhost/x:v1", cp)
	if r.err == nil || !strings.Contains(r.stderr, "no longer in the store") || !strings.Contains(r.stderr, "pull it again") {
		t.Fatalf("repack of a bundle whose image is gone: %v %s", r.err, r.stderr)
	}
}
