package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/conformance/probe/report"
	"github.com/berthproject/berth/conformance/unpack/tree"
)

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n"
const group = "root:x:0:\nwheel:x:10:app\nstaff:x:50:\napp:x:1000:\naudio:x:63:app\n"

// capNetBindService is a VFS v2 security.capability value.
const capNetBindService = "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

func owned(e entry, uid, gid int) entry { e.uid, e.gid = uid, gid; return e }

// richImage has every layer rule in it; its entrypoint is the probe.
func richImage(t *testing.T, probe []byte, compression string) image {
	withXattr := fileE("data/a", "aaa", 0o644)
	withXattr.xattrs = map[string]string{"user.comment": "hello"}
	capped := fileE("usr/bin/cap", "cap", 0o755)
	capped.xattrs = map[string]string{"security.capability": capNetBindService}
	return image{
		layers: []layer{
			{entries: []entry{
				dirE("./", 0o755),
				dirE("bin/", 0o755), {name: "bin/probe", typ: tar.TypeReg, data: probe, mode: 0o755},
				dirE("etc/", 0o755), fileE("etc/passwd", passwd, 0o644), fileE("etc/group", group, 0o644), fileE("etc/greeting", "v1", 0o644),
				dirE("home/", 0o755), owned(dirE("home/app/", 0o750), 1000, 1000), owned(fileE("home/app/notes", "notes", 0o600), 1000, 1000),
				dirE("data/", 0o755), withXattr, hardE("data/hard", "data/a"), linkE("data/sym", "/etc/greeting"), linkE("data/rel", "../etc/greeting"),
				dirE("usr/", 0o755), dirE("usr/bin/", 0o755), fileE("usr/bin/suid", "suid", 0o4755), owned(fileE("usr/bin/sgid", "sgid", 0o2755), 0, 50), capped,
				dirE("tmp/", 0o1777),
				dirE("old/", 0o755), fileE("old/x", "x", 0o644), fileE("old/y", "y", 0o644),
				dirE("opq/", 0o755), fileE("opq/p", "p", 0o644), dirE("opq/sub/", 0o700), fileE("opq/sub/q", "q", 0o644),
				dirE("swap/", 0o755), fileE("swap/child", "c", 0o644), fileE("swapfile", "file", 0o644),
				dirE("dev/", 0o755), {name: "dev/null", typ: '3', major: 1, minor: 3, mode: 0o666},
				dirE("run/", 0o755), {name: "run/fifo", typ: '6', mode: 0o600},
			}},
			{compression: compression, entries: []entry{
				dirE("etc/", 0o755), fileE("etc/greeting", "v2", 0o644),
				dirE("old/", 0o755), whiteoutE("old/.wh.x"),
				dirE("opq/", 0o755), whiteoutE("opq/.wh..wh..opq"), fileE("opq/new", "new", 0o644),
				fileE("swap", "now a file", 0o640), dirE("swapfile/", 0o711), fileE("swapfile/inner", "in", 0o644),
				dirE("data/", 0o755), fileE("data/b", "bbb", 0o644), hardE("data/hard2", "data/b"),
				dirE("home/", 0o755), owned(dirE("home/app/", 0o750), 1000, 1000), owned(fileE("home/app/.profile", "export A=1", 0o644), 1000, 1000),
			}},
			{entries: []entry{
				dirE("etc/", 0o755), fileE("etc/greeting", "v3 final", 0o644),
				dirE("data/", 0o755), whiteoutE("data/.wh.sym"),
				dirE("usr/", 0o755), dirE("usr/bin/", 0o755), whiteoutE("usr/bin/.wh.sgid"),
			}},
		},
		config: ocispec.ImageConfig{
			User:       "app",
			Entrypoint: []string{"/bin/probe"},
			Cmd:        []string{"--stat", "/data/hard", "--read", "/etc/greeting"},
			Env:        []string{"PATH=/bin:/usr/bin", "GREETING=hello"},
			WorkingDir: "/home/app",
			Labels:     map[string]string{"org.example.purpose": "e2e"},
		},
	}
}

func readProbe(t *testing.T) []byte {
	b, err := os.ReadFile(probeBin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var containerSeq atomic.Int64

// runBundle runs the bundle with berth and returns the probe's report.
func runBundle(t *testing.T, bundle string) report.Report {
	t.Helper()
	state := t.TempDir()
	id := fmt.Sprintf("berth-unpack-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, "--root", state, "run", "--bundle", bundle, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		exec.Command(berthBin, "--root", state, "delete", "--force", id).Run()
		t.Fatalf("%s run: %v\nstdout: %s\nstderr: %s", berthBin, err, &stdout, &stderr)
	}
	out := stdout.String()
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("probe output is not a report: %v\n%s", err, out)
	}
	return r
}

func snapshot(t *testing.T, rootfs string) map[string]string {
	t.Helper()
	snap, err := tree.Snapshot(rootfs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if diffs := tree.Diff(got, want); len(diffs) > 0 {
		t.Fatalf("%s:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// umociRootfs unpacks layout:tag with umoci and returns its rootfs.
func umociRootfs(t *testing.T, layout, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "umoci")
	mustRun(t, "umoci", "unpack", "--image", layout+":"+tag, dir)
	return filepath.Join(dir, "rootfs")
}

func TestRichImageMatchesUmociAndRuns(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	// umoci 0.4.7 cannot read zstd layers, so its reference unpack uses a
	// gzip twin of the image; berth-image gets the zstd one.
	writeLayout(t, layout, "gzip", richImage(t, readProbe(t), "gzip"))
	zstdLayout := filepath.Join(base, "zstd-layout")
	writeLayout(t, zstdLayout, "zstd", richImage(t, readProbe(t), "zstd"))
	ref := push(t, zstdLayout, "zstd", "unpack/rich", "")
	want := snapshot(t, umociRootfs(t, layout, "gzip"))

	store := filepath.Join(base, "store")
	bundles := map[string]string{}
	for _, mode := range []string{"auto", "copy"} {
		b := filepath.Join(base, "bundle-"+mode)
		cleanupBundle(t, b)
		bundles[mode] = b
		var out string
		wantOut := "3 layers (3 extracted while downloading, 0 after, 0 from the cache), rootfs by overlay"
		if mode == "auto" {
			out = mustBerthImage(t, store, "bundle", ref, b)
		} else {
			out = mustBerthImage(t, store, "unpack", "--mode", "copy", ref, b)
			wantOut = "3 layers (0 extracted while downloading, 0 after, 3 from the cache), rootfs by copy"
		}
		if !strings.Contains(out, wantOut) {
			t.Errorf("%s: output %q lacks %q", mode, out, wantOut)
		}
		sameTree(t, "berth-image "+mode+" rootfs vs umoci unpack", snapshot(t, filepath.Join(b, "rootfs")), want)
	}

	for mode, b := range bundles {
		r := runBundle(t, b)
		if want := []string{"/bin/probe", "--stat", "/data/hard", "--read", "/etc/greeting"}; !reflect.DeepEqual(r.Args, want) {
			t.Errorf("%s: args %q, want %q", mode, r.Args, want)
		}
		for _, kv := range []string{"PATH=/bin:/usr/bin", "GREETING=hello", "HOME=/home/app"} {
			if !slices.Contains(r.Env, kv) {
				t.Errorf("%s: env %q lacks %s", mode, r.Env, kv)
			}
		}
		if r.Cwd != "/home/app" || r.UID != 1000 || r.GID != 1000 || !slices.Contains(r.Groups, 10) || !slices.Contains(r.Groups, 63) {
			t.Errorf("%s: cwd %q uid %d gid %d groups %v, want /home/app 1000 1000 [10 63]", mode, r.Cwd, r.UID, r.GID, r.Groups)
		}
		if got := r.Files["/etc/greeting"]; got.Content != "v3 final" {
			t.Errorf("%s: /etc/greeting = %+v", mode, got)
		}
		if st := r.Stats["/data/hard"]; st.Type != "file" || st.Size != 3 {
			t.Errorf("%s: /data/hard = %+v", mode, st)
		}
	}

	// config.json follows conversion.md.
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	b, err := os.ReadFile(filepath.Join(bundles["auto"], "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &spec)
	if spec.Annotations["org.example.purpose"] != "e2e" || spec.Annotations["org.opencontainers.image.author"] != "berth unpack e2e" {
		t.Errorf("annotations %v", spec.Annotations)
	}
}

func TestDockerSchema2Image(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	img := image{
		layers: []layer{
			{entries: []entry{dirE("bin/", 0o755), {name: "bin/probe", typ: tar.TypeReg, data: readProbe(t), mode: 0o755}, dirE("etc/", 0o755), fileE("etc/greeting", "docker", 0o644)}},
			{entries: []entry{dirE("etc/", 0o755), whiteoutE("etc/.wh.greeting"), fileE("etc/other", "o", 0o600)}},
		},
		config: ocispec.ImageConfig{User: "1234:5678", Entrypoint: []string{"/bin/probe", "--stat", "/etc/greeting", "--stat", "/etc/other"}},
	}
	writeLayout(t, layout, "v1", img)
	ref := push(t, layout, "v1", "unpack/docker", "v2s2")
	store := filepath.Join(base, "store")
	b := filepath.Join(base, "bundle")
	cleanupBundle(t, b)
	mustBerthImage(t, store, "bundle", "--quiet", ref, b)
	sameTree(t, "berth-image rootfs of the Docker image vs umoci unpack of its OCI twin", snapshot(t, filepath.Join(b, "rootfs")), snapshot(t, umociRootfs(t, layout, "v1")))
	r := runBundle(t, b)
	if r.UID != 1234 || r.GID != 5678 || len(r.Groups) != 0 {
		t.Errorf("uid %d gid %d groups %v, want 1234 5678 []", r.UID, r.GID, r.Groups)
	}
	if r.Stats["/etc/greeting"].Type != "" || r.Stats["/etc/other"].Mode != 0o600 {
		t.Errorf("stats %+v", r.Stats)
	}
	if r.Cwd != "/" || len(r.Args) != 5 {
		t.Errorf("cwd %q args %q", r.Cwd, r.Args)
	}

	// --entrypoint and --cmd replace the image's; --terminal asks for one.
	b2 := filepath.Join(base, "bundle2")
	cleanupBundle(t, b2)
	mustBerthImage(t, store, "unpack", "--quiet", "--entrypoint", `["/bin/probe", "--read"]`, "--cmd", "/etc/other", "--terminal", ref, b2)
	var spec struct {
		Process struct {
			Terminal bool     `json:"terminal"`
			Args     []string `json:"args"`
			Env      []string `json:"env"`
		} `json:"process"`
	}
	cb, err := os.ReadFile(filepath.Join(b2, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(cb, &spec)
	if want := []string{"/bin/probe", "--read", "/etc/other"}; !reflect.DeepEqual(spec.Process.Args, want) || !spec.Process.Terminal || !slices.Contains(spec.Process.Env, "TERM=xterm") {
		t.Errorf("overridden process: %+v", spec.Process)
	}
	r2 := berthImage(store, "unpack", "--entrypoint", `["unterminated`, ref, filepath.Join(base, "bundle3"))
	if r2.err == nil || !strings.Contains(r2.stderr, "is not a JSON array of strings") {
		t.Errorf("bad --entrypoint: %v %s", r2.err, r2.stderr)
	}
}

func TestUIDMappedBundleRunsInAUserNamespace(t *testing.T) {
	base := t.TempDir()
	// The container's root (host uid 200000) must be able to reach the
	// rootfs; berth-image gives it the bundle dir, the test its parent.
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", richImage(t, readProbe(t), "gzip"))
	ref := push(t, layout, "v1", "unpack/mapped", "")
	store := filepath.Join(base, "store")
	b := filepath.Join(base, "bundle")
	mustBerthImage(t, store, "bundle", "--quiet", "--uid-map", "0:200000:65536", "--gid-map", "0:200000:65536", ref, b)
	var st = mustStat(t, filepath.Join(b, "rootfs/home/app/notes"))
	if st.Uid != 201000 || st.Gid != 201000 {
		t.Fatalf("home/app/notes owned by %d:%d on the host, want 201000:201000", st.Uid, st.Gid)
	}
	r := runBundle(t, b)
	if r.UID != 1000 || r.Files["/etc/greeting"].Content != "v3 final" {
		t.Fatalf("inside: uid %d, greeting %+v", r.UID, r.Files["/etc/greeting"])
	}
	if st := r.Stats["/data/hard"]; st.UID != 0 || st.GID != 0 {
		t.Fatalf("inside, /data/hard is owned by %d:%d, want 0:0", st.UID, st.GID)
	}
}

func TestRootlessUnpackAsAnUnprivilegedUser(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	writeLayout(t, layout, "v1", richImage(t, readProbe(t), "gzip"))
	ref := push(t, layout, "v1", "unpack/rootless", "")
	// A directory the unprivileged user owns, reachable through the
	// 0700 test temp dir's parent chain only by root: make our own.
	home, err := os.MkdirTemp("", "berth-unpack-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(home, "bundle")
	r := run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", imageBin,
		"--store", filepath.Join(home, "store"), "--insecure", "bundle", ref, b)
	if r.err != nil {
		t.Fatalf("rootless bundle: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "skipped device node dev/null") {
		t.Errorf("no note about the skipped device: %s", r.stderr)
	}
	st := mustStat(t, filepath.Join(b, "rootfs/home/app/notes"))
	if st.Uid != 65534 {
		t.Errorf("notes owned by %d, want the unpacking user 65534", st.Uid)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(b, "rootfs/home/app/notes"), "user.rootlesscontainers", buf)
	// Resource{uid: 1000, gid: 1000} as protobuf.
	if err != nil || fmt.Sprintf("%x", buf[:n]) != "08e80710e807" {
		t.Errorf("user.rootlesscontainers of notes: %x %v", buf[:n], err)
	}
	var spec struct {
		Linux struct {
			UIDMappings []struct{ HostID uint32 } `json:"uidMappings"`
		} `json:"linux"`
	}
	cb, _ := os.ReadFile(filepath.Join(b, "config.json"))
	json.Unmarshal(cb, &spec)
	if len(spec.Linux.UIDMappings) != 1 || spec.Linux.UIDMappings[0].HostID != 65534 {
		t.Errorf("rootless config uidMappings %+v", spec.Linux.UIDMappings)
	}
}

func mustStat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}
