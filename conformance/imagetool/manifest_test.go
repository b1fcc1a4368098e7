package imagetool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPullIndexSelectsPlatform(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	var ms = []struct{ os, arch, variant string }{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v7"}}
	descs := make(map[string]string)
	var all []ocispec.Descriptor
	for i, p := range ms {
		img := busybox(t, harness.Layer{Files: harness.GeneratedFiles("plat", int64(10+i), 1, 1000)})
		img.OS, img.Arch, img.Variant = p.os, p.arch, p.variant
		d := l.image(t, "", img)
		descs[p.arch] = d.Digest.String()
		all = append(all, d)
	}
	l.index(t, "multi", all...)
	l.push(t, reg, "multi", "multi:1", "--all")

	st := t.TempDir()
	ref := reg.Addr + "/multi:1"
	mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "pull", "-q", ref)
	mustRun(t, nil, "--store", st, "pull", "-q", "--platform", "linux/arm/v7", reg.Addr+"/multi:1")
	var info struct {
		Digest string
		Config struct{ Architecture, Variant string }
	}
	// Both are kept; --platform picks one.
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "--platform", "linux/arm/v7", "inspect", ref)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Digest != descs["arm"] || info.Config.Architecture != "arm" || info.Config.Variant != "v7" {
		t.Fatalf("inspect --platform linux/arm/v7: %+v, want digest %s", info, descs["arm"])
	}
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "--platform", "linux/arm64", "inspect", ref)), &info)
	if info.Digest != descs["arm64"] {
		t.Fatalf("inspect --platform linux/arm64: %+v, want digest %s", info, descs["arm64"])
	}
	checkStore(t, st)

	e := mustFail(t, nil, []string{"--store", t.TempDir(), "--platform", "windows/amd64", "pull", "-q", ref},
		"windows/amd64", "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	if !strings.Contains(e, ref) {
		t.Fatalf("error %q does not name the reference", e)
	}
	mustFail(t, nil, []string{"--platform", "linux", "list"}, "--platform")
}

func TestPullDockerSchema2AndZstd(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "docker", busybox(t))
	l.push(t, reg, "docker", "docker:v2s2", "--format", "v2s2")
	l.image(t, "zstd", busybox(t, harness.Layer{Files: harness.GeneratedFiles("z", 3, 2, 20_000), Compression: "zstd"}))
	l.push(t, reg, "zstd", "zstd:1")

	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/docker:v2s2")
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/zstd:1")
	var d struct {
		MediaType string
		Manifest  struct{ Layers []struct{ MediaType string } }
	}
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", reg.Addr+"/docker:v2s2")), &d)
	if d.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Fatalf("docker image stored as %q", d.MediaType)
	}
	json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", reg.Addr+"/zstd:1")), &d)
	if last := d.Manifest.Layers[len(d.Manifest.Layers)-1].MediaType; last != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Fatalf("zstd layer stored as %q", last)
	}
	checkStore(t, st)

	// The store is a valid OCI layout other tools read (skopeo reads only
	// OCI media types from a layout, so not the Docker image).
	out := filepath.Join(t.TempDir(), "copy")
	skopeo(t, "copy", "--quiet", "oci:"+st+":"+reg.Addr+"/zstd:1", "oci:"+out+":x")
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Fatal(err)
	}
}

func TestPullBadInput(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "app:v1")
	st := t.TempDir()

	mustFail(t, nil, []string{"--store", st, "pull", "-q", reg.Addr + "/app:nope"}, reg.Addr+"/app:nope", "not found")
	mustFail(t, nil, []string{"--store", st, "pull", "-q", reg.Addr + "/nothing:v1"}, "nothing", "not found")
	mustFail(t, nil, []string{"--store", st, "pull", "-q", "Bad Ref"}, "Bad Ref")
	mustFail(t, nil, []string{"--store", st, "pull", "-q", reg.Addr + "/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"}, "not found")
	mustFail(t, nil, []string{"--store", st, "inspect", "missing:tag"}, "missing:tag", "not in store")
	mustFail(t, nil, []string{"--store", st, "rm", "missing:tag"}, "missing:tag", "not in store")
	mustFail(t, nil, []string{"--format", "yaml", "list"}, "yaml")
	if r := runBin(t, nil, "frobnicate"); r.err == nil || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v %q", r.err, r.stderr)
	}
	if list := listJSON(t, st); len(list) != 0 {
		t.Fatalf("failed pulls left images: %v", list)
	}
	checkStore(t, st)
}

func TestDefaultStoreForNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to run berth-image as another user")
	}
	// The binary's directory must be reachable by the other user.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(data), 0o755)
	cmd := exec.Command(bin, "list")
	cmd.Env = []string{"XDG_DATA_HOME=" + data, "HOME=" + data, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("list as nobody: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "berth", "images", "index.json")); err != nil {
		t.Fatalf("no store under $XDG_DATA_HOME/berth/images: %v", err)
	}
}
