package imagetool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// inspectDigest returns the digest a store records for ref.
func inspectDigest(t *testing.T, storeDir, ref string) string {
	t.Helper()
	var info struct{ Digest string }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", storeDir, "inspect", ref)), &info); err != nil {
		t.Fatal(err)
	}
	return info.Digest
}

func TestCopyBetweenTransports(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	single := l.image(t, "v1", busybox(t))
	var ms []ocispec.Descriptor
	for i, arch := range []string{"amd64", "arm64"} {
		img := busybox(t, harness.Layer{Files: harness.GeneratedFiles("m", int64(30+i), 1, 5000)})
		img.Arch = arch
		ms = append(ms, l.image(t, "", img))
	}
	multi := l.index(t, "multi", ms...)

	// oci: -> docker:// keeps the manifest digest.
	mustRun(t, nil, "copy", "-q", "oci:"+l.dir+":v1", "docker://"+reg.Addr+"/copy/a:v1")
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/copy/a:v1")
	if got := inspectDigest(t, st, reg.Addr+"/copy/a:v1"); got != single.Digest.String() {
		t.Fatalf("pushed image has digest %s, want %s", got, single.Digest)
	}

	// A whole index, there and back.
	mustRun(t, nil, "copy", "-q", "--all", "oci:"+l.dir+":multi", "docker://"+reg.Addr+"/copy/multi:1")
	back := t.TempDir()
	mustRun(t, nil, "copy", "-q", "--all", "docker://"+reg.Addr+"/copy/multi:1", "oci:"+back+":m")
	if got := inspectDigest(t, back, "m"); got != multi.Digest.String() {
		t.Fatalf("index came back as %s, want %s", got, multi.Digest)
	}
	checkStore(t, back)
	// Without --all, the platform's image only.
	one := t.TempDir()
	mustRun(t, nil, "--platform", "linux/arm64", "copy", "-q", "docker://"+reg.Addr+"/copy/multi:1", "oci:"+one+":m")
	if got := inspectDigest(t, one, "m"); got != ms[1].Digest.String() {
		t.Fatalf("platform copy gave %s, want the arm64 manifest %s", got, ms[1].Digest)
	}

	// docker:// -> oci-archive: -> oci:, and skopeo reads our archive.
	archive := filepath.Join(t.TempDir(), "img.tar")
	mustRun(t, nil, "copy", "-q", "docker://"+reg.Addr+"/copy/a:v1", "oci-archive:"+archive+":img")
	skopeo(t, "inspect", "oci-archive:"+archive+":img")
	fromArchive := t.TempDir()
	mustRun(t, nil, "copy", "-q", "oci-archive:"+archive+":img", "oci:"+fromArchive)
	checkStore(t, fromArchive)
	if got := inspectDigest(t, fromArchive, "img"); got != single.Digest.String() {
		t.Fatalf("archive round trip gave %s, want %s", got, single.Digest)
	}

	// docker:// -> docker://.
	mustRun(t, nil, "copy", "-q", "docker://"+reg.Addr+"/copy/a:v1", "docker://"+reg.Addr+"/copy/b:v2")
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/copy/b:v2")
	if got := inspectDigest(t, st, reg.Addr+"/copy/b:v2"); got != single.Digest.String() {
		t.Fatalf("registry-to-registry copy gave %s", got)
	}

	// Pushing to a registry that wants credentials.
	authReg := startRegistry(t, harness.RegistryConfig{User: "carol", Password: "pw"})
	mustFail(t, credsEnv(t, authReg.Addr, "", ""), []string{"copy", "-q", "oci:" + l.dir + ":v1", "docker://" + authReg.Addr + "/x:1"}, "x")
	mustRun(t, credsEnv(t, authReg.Addr, "carol", "pw"), "copy", "-q", "oci:"+l.dir+":v1", "docker://"+authReg.Addr+"/x:1")

	// Bad locations.
	mustFail(t, nil, []string{"copy", "oci:" + t.TempDir() + ":nope", "oci:" + t.TempDir()}, "not an OCI image layout")
	mustFail(t, nil, []string{"copy", "ftp://x", "oci:/tmp/x"}, "ftp://x")
	mustFail(t, nil, []string{"copy", "oci:" + l.dir + ":missing", "oci:" + t.TempDir()}, "missing", "not in store")
}

func TestRmAndGC(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	a := l.image(t, "a", busybox(t, harness.Layer{Files: harness.GeneratedFiles("a", 41, 1, 50_000)}))
	l.image(t, "b", busybox(t, harness.Layer{Files: harness.GeneratedFiles("b", 42, 1, 50_000)}))
	l.push(t, reg, "a", "a:1")
	l.push(t, reg, "b", "b:1")
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/a:1")
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/b:1")

	var ma, mb ocispec.Manifest
	readJSON(t, filepath.Join(l.dir, "blobs", "sha256", a.Digest.Encoded()), &ma)
	var bInfo struct {
		Manifest ocispec.Manifest
		Config   ocispec.Image
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", reg.Addr+"/b:1")), &bInfo); err != nil {
		t.Fatal(err)
	}
	mb = bInfo.Manifest
	// Layer caches as the unpacker keeps them: one for a layer of a only,
	// one under a diff_id of b, one for a layer nobody has.
	cache := func(d string) string {
		alg, hex, _ := strings.Cut(d, ":")
		p := filepath.Join(st, "cache", "layers", alg, hex)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o644)
		return p
	}
	onlyA := cache(ma.Layers[len(ma.Layers)-1].Digest.String())
	ofB := cache(bInfo.Config.RootFS.DiffIDs[1].String())
	stray := cache("sha256:" + strings.Repeat("ab", 32))

	if out := mustRun(t, nil, "--store", st, "gc"); !strings.Contains(out, "freed 1 item(s)") || !strings.Contains(out, stray[len(stray)-64:]) {
		t.Fatalf("gc with both images present: %s", out)
	}
	mustRun(t, nil, "--store", st, "rm", reg.Addr+"/a:1")
	if n := len(listJSON(t, st)); n != 1 {
		t.Fatalf("after rm, %d images listed", n)
	}
	out := mustRun(t, nil, "--store", st, "gc")
	for _, gone := range []string{a.Digest.String(), ma.Config.Digest.String(), ma.Layers[len(ma.Layers)-1].Digest.String()} {
		if !strings.Contains(out, gone) {
			t.Errorf("gc did not free %s:\n%s", gone, out)
		}
	}
	if strings.Contains(out, ma.Layers[0].Digest.String()) || ma.Layers[0].Digest != mb.Layers[0].Digest {
		t.Errorf("gc freed the busybox layer b still uses:\n%s", out)
	}
	if _, err := os.Stat(onlyA); err == nil {
		t.Error("gc kept the layer cache of the removed image")
	}
	if _, err := os.Stat(ofB); err != nil {
		t.Error("gc removed the layer cache of the remaining image")
	}
	checkStore(t, st)
	inspectDigest(t, st, reg.Addr+"/b:1")
	if out := mustRun(t, nil, "--store", st, "gc"); !strings.Contains(out, "freed 0 item(s)") {
		t.Fatalf("second gc freed more: %s", out)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
