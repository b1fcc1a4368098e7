package imagetool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSeveralPlatformsInStore pulls two platforms of one name: both stay,
// --platform picks between them in inspect, unpack and rm, and skopeo
// still reads the store as a layout.
func TestSeveralPlatformsInStore(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	var ms []ocispec.Descriptor
	for i, arch := range []string{"amd64", "arm64"} {
		img := busybox(t, harness.Layer{Files: harness.GeneratedFiles("p", int64(80+i), 1, 1000)})
		img.Arch = arch
		ms = append(ms, l.image(t, "", img))
	}
	l.index(t, "multi", ms...)
	l.push(t, reg, "multi", "multi:1", "--all")
	ref := reg.Addr + "/multi:1"

	st := t.TempDir()
	mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "pull", "-q", ref)
	mustRun(t, nil, "--store", st, "pull", "-q", ref) // the host's: amd64
	mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "pull", "-q", ref)
	got := map[string]string{}
	for _, e := range listJSON(t, st) {
		if e["name"] != ref {
			t.Fatalf("list: %v", e)
		}
		got[e["platform"].(string)] = e["digest"].(string)
	}
	if len(got) != 2 || got["linux/amd64"] != ms[0].Digest.String() || got["linux/arm64"] != ms[1].Digest.String() {
		t.Fatalf("after pulling arm64, amd64, arm64 the store has %v", got)
	}
	if out := mustRun(t, nil, "--store", st, "list"); !strings.Contains(out, "linux/arm64") || !strings.Contains(out, "PLATFORM") {
		t.Fatalf("list:\n%s", out)
	}

	if d := inspectDigest(t, st, ref); d != ms[0].Digest.String() {
		t.Fatalf("inspect (host platform) gave %s, want amd64's %s", d, ms[0].Digest)
	}
	var info struct{ Digest string }
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "inspect", ref)), &info)
	if info.Digest != ms[1].Digest.String() {
		t.Fatalf("inspect --platform linux/arm64 gave %s, want %s", info.Digest, ms[1].Digest)
	}
	mustFail(t, nil, []string{"--store", st, "--platform", "linux/s390x", "inspect", ref}, "linux/s390x", "linux/amd64, linux/arm64", "--platform")

	bundle := filepath.Join(t.TempDir(), "b")
	mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "unpack", "-q", "--mode", "copy", ref, bundle)
	var spec struct{ Annotations map[string]string }
	readJSON(t, filepath.Join(bundle, "config.json"), &spec)
	if a := spec.Annotations["org.opencontainers.image.architecture"]; a != "arm64" {
		t.Fatalf("unpack --platform linux/arm64 made a bundle of %q", a)
	}

	// skopeo reads the layout (it takes the first entry of a name).
	skopeo(t, "inspect", "oci:"+st+":"+ref)

	mustFail(t, nil, []string{"--store", st, "--platform", "linux/s390x", "rm", ref}, "linux/s390x", "stored: linux/amd64, linux/arm64")
	mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "rm", ref)
	if l := listJSON(t, st); len(l) != 1 || l[0]["platform"] != "linux/amd64" {
		t.Fatalf("after rm --platform linux/arm64: %v", l)
	}
	mustRun(t, nil, "--store", st, "rm", ref)
	if l := listJSON(t, st); len(l) != 0 {
		t.Fatalf("after rm: %v", l)
	}
}

// TestStoreAsLayoutForOtherTools checks what skopeo and umoci make of the
// store: Docker schema2 entries are invisible to skopeo and refused by
// umoci unless pulled with --oci, and a layout made by skopeo used as
// --store gets a note before berth-image adds its files.
func TestStoreAsLayoutForOtherTools(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "docker:v2s2", "--format", "v2s2")
	ref := reg.Addr + "/docker:v2s2"

	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", ref)
	if err := exec.Command("skopeo", "inspect", "oci:"+st+":"+ref).Run(); err == nil {
		t.Error("skopeo now reads Docker schema2 entries of a layout: docs/imagetool.md says it does not")
	}
	if out, err := exec.Command("umoci", "unpack", "--image", st+":"+ref, filepath.Join(t.TempDir(), "b")).CombinedOutput(); err == nil || !strings.Contains(string(out), "docker.distribution.manifest.v2") {
		t.Errorf("umoci unpack of a Docker schema2 entry: %v %s; docs/imagetool.md says it refuses it", err, out)
	}
	var docker, oci struct {
		Digest, MediaType string
		Manifest          ocispec.Manifest
	}
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", ref)), &docker)

	st2 := t.TempDir()
	mustRun(t, nil, "--store", st2, "pull", "-q", "--oci", ref)
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st2, "inspect", ref)), &oci)
	if oci.MediaType != ocispec.MediaTypeImageManifest || oci.Digest == docker.Digest || oci.Manifest.Config.Digest != docker.Manifest.Config.Digest ||
		oci.Manifest.Layers[0].Digest != docker.Manifest.Layers[0].Digest || oci.Manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("pull --oci stored %+v\nfrom %+v", oci, docker)
	}
	checkStore(t, st2)
	skopeo(t, "inspect", "oci:"+st2+":"+ref)
	b := filepath.Join(t.TempDir(), "b")
	if out, err := exec.Command("umoci", "unpack", "--image", st2+":"+ref, b).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack of the --oci image: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs", "bin", "busybox")); err != nil {
		t.Fatal(err)
	}

	// A layout skopeo made, used as the store: a note the first time.
	foreign := t.TempDir()
	skopeo(t, "copy", "--quiet", "oci:"+l.dir+":v1", "oci:"+foreign+":mine")
	r := runBin(t, nil, "--store", foreign, "list")
	if r.err != nil || !strings.Contains(r.stderr, "note: "+foreign+" is an OCI layout berth-image had not used") || !strings.Contains(r.stdout, "mine") {
		t.Fatalf("first use of a foreign layout: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if r := runBin(t, nil, "--store", foreign, "pull", "-q", ref); r.err != nil || strings.Contains(r.stderr, "note:") {
		t.Fatalf("second use: %v %s", r.err, r.stderr)
	}
	skopeo(t, "inspect", "oci:"+foreign+":mine")
}
