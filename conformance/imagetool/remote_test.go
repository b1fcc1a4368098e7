package imagetool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// skopeoOut runs skopeo and returns its stdout.
func skopeoOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("skopeo", args...).Output()
	if err != nil {
		t.Fatalf("skopeo %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestRemoteCommands drives inspect docker://, digest, list-tags, catalog
// and delete against the distribution registry, and compares what they
// say with skopeo's answers about the same images.
func TestRemoteCommands(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	v1 := l.image(t, "v1", busybox(t))
	l.image(t, "v2", busybox(t, harness.Layer{Files: harness.GeneratedFiles("v2", 7, 1, 1000)}))
	var ms []ocispec.Descriptor
	for i, arch := range []string{"amd64", "arm64"} {
		img := busybox(t, harness.Layer{Files: harness.GeneratedFiles("m", int64(60+i), 1, 1000)})
		img.Arch = arch
		ms = append(ms, l.image(t, "", img))
	}
	multi := l.index(t, "multi", ms...)
	l.push(t, reg, "v1", "ns/app:v1")
	l.push(t, reg, "v2", "ns/app:v2")
	l.push(t, reg, "multi", "multi:1", "--all")
	app, multiRef := "docker://"+reg.Addr+"/ns/app", "docker://"+reg.Addr+"/multi:1"

	// inspect docker:// stores nothing.
	st := filepath.Join(t.TempDir(), "store")
	var info struct {
		Name, Digest, MediaType, ManifestDigest, Platform string
		Platforms                                         []string
		Manifest                                          ocispec.Manifest
		Config                                            ocispec.Image
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", app+":v1")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Digest != v1.Digest.String() || len(info.Manifest.Layers) != 2 || info.Platform != "linux/amd64" || info.Name != reg.Addr+"/ns/app:v1" {
		t.Fatalf("inspect docker://: %+v", info)
	}
	if _, err := os.Stat(st); err == nil {
		t.Fatal("inspect docker:// created the store")
	}
	var sk struct{ Digest, Architecture string }
	if err := json.Unmarshal([]byte(skopeoOut(t, "inspect", "--tls-verify=false", app+":v1")), &sk); err != nil {
		t.Fatal(err)
	}
	if sk.Digest != info.Digest {
		t.Fatalf("skopeo inspect says %s, berth-image %s", sk.Digest, info.Digest)
	}
	raw := mustRun(t, nil, "inspect", "--raw", app+":v1")
	if digest.FromString(raw) != v1.Digest || raw != skopeoOut(t, "inspect", "--raw", "--tls-verify=false", app+":v1") {
		t.Fatalf("inspect --raw printed other bytes than the manifest: %q", raw)
	}
	if cfg := mustRun(t, nil, "inspect", "--config", app+":v1"); digest.FromString(cfg) != info.Manifest.Config.Digest {
		t.Fatalf("inspect --config printed other bytes than the config: %q", cfg)
	}

	// An index: its platforms, the host's (amd64) manifest, or --platform's.
	info.Platforms = nil
	json.Unmarshal([]byte(mustRun(t, nil, "inspect", multiRef)), &info)
	if info.Digest != multi.Digest.String() || strings.Join(info.Platforms, ",") != "linux/amd64,linux/arm64" || info.ManifestDigest != ms[0].Digest.String() {
		t.Fatalf("inspect of an index: %+v", info)
	}
	json.Unmarshal([]byte(mustRun(t, nil, "--platform", "linux/arm64", "inspect", multiRef)), &info)
	if info.ManifestDigest != ms[1].Digest.String() || info.Config.Architecture != "arm64" {
		t.Fatalf("inspect --platform linux/arm64: %+v", info)
	}
	mustFail(t, nil, []string{"--platform", "linux/s390x", "inspect", multiRef}, "linux/s390x", "linux/amd64, linux/arm64")
	// An index without the host's platform still shows what it offers.
	l.index(t, "armonly", ms[1])
	l.push(t, reg, "armonly", "armonly:1", "--all")
	info.Platforms, info.ManifestDigest = nil, ""
	json.Unmarshal([]byte(mustRun(t, nil, "inspect", "docker://"+reg.Addr+"/armonly:1")), &info)
	if strings.Join(info.Platforms, ",") != "linux/arm64" || info.ManifestDigest != "" {
		t.Fatalf("inspect of an index without the host platform: %+v", info)
	}

	// digest: the index's own unless --platform names one; skopeo agrees.
	if got := strings.TrimSpace(mustRun(t, nil, "digest", multiRef)); got != multi.Digest.String() {
		t.Fatalf("digest of an index = %s, want %s", got, multi.Digest)
	}
	if got := strings.TrimSpace(skopeoOut(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", multiRef)); got != multi.Digest.String() {
		t.Fatalf("skopeo says the index digest is %s", got)
	}
	if got := strings.TrimSpace(mustRun(t, nil, "digest", "--platform", "linux/arm64", multiRef)); got != ms[1].Digest.String() {
		t.Fatalf("digest --platform linux/arm64 = %s, want %s", got, ms[1].Digest)
	}
	var dj struct{ Digest string }
	json.Unmarshal([]byte(mustRun(t, nil, "digest", "--format", "json", reg.Addr+"/ns/app:v1")), &dj)
	if dj.Digest != v1.Digest.String() {
		t.Fatalf("digest --format json: %+v", dj)
	}

	// list-tags and catalog, as text and JSON, against skopeo list-tags.
	if got := mustRun(t, nil, "list-tags", app); got != "v1\nv2\n" {
		t.Fatalf("list-tags printed %q", got)
	}
	var tags struct {
		Repository string
		Tags       []string
	}
	json.Unmarshal([]byte(mustRun(t, nil, "list-tags", "--format", "json", app)), &tags)
	var skTags struct{ Tags []string }
	json.Unmarshal([]byte(skopeoOut(t, "list-tags", "--tls-verify=false", app)), &skTags)
	if tags.Repository != reg.Addr+"/ns/app" || strings.Join(tags.Tags, ",") != strings.Join(skTags.Tags, ",") {
		t.Fatalf("list-tags --format json: %+v, skopeo: %v", tags, skTags.Tags)
	}
	mustFail(t, nil, []string{"list-tags", app + ":v1"}, "without tag")
	if got := mustRun(t, nil, "catalog", reg.Addr); got != "armonly\nmulti\nns/app\n" {
		t.Fatalf("catalog printed %q", got)
	}
	var cat struct{ Repositories []string }
	json.Unmarshal([]byte(mustRun(t, nil, "catalog", "--format", "json", reg.Addr)), &cat)
	if strings.Join(cat.Repositories, ",") != "armonly,multi,ns/app" {
		t.Fatalf("catalog --format json: %+v", cat)
	}

	// delete by tag (resolved to its digest) and by digest.
	if r := runBin(t, nil, "delete", reg.Addr+"/ns/app:v2"); r.err == nil || !strings.Contains(r.stderr, "docker://") {
		t.Fatalf("delete without docker:// was not refused: %v %s", r.err, r.stderr)
	}
	mustRun(t, nil, "delete", app+":v2")
	mustFail(t, nil, []string{"inspect", app + ":v2"}, "not found")
	if got := mustRun(t, nil, "list-tags", app); got != "v1\n" {
		t.Fatalf("after delete, list-tags printed %q", got)
	}
	var del struct{ Deleted string }
	json.Unmarshal([]byte(mustRun(t, nil, "delete", "--format", "json", "docker://"+reg.Addr+"/multi@"+multi.Digest.String())), &del)
	if del.Deleted != multi.Digest.String() {
		t.Fatalf("delete --format json: %+v", del)
	}
	mustFail(t, nil, []string{"digest", multiRef}, "not found")

	// A registry that does not allow deletes says so.
	ro := startRegistry(t, harness.RegistryConfig{NoDelete: true})
	l.push(t, ro, "v1", "app:v1")
	mustFail(t, nil, []string{"delete", "docker://" + ro.Addr + "/app:v1"}, "does not allow deleting")

	// pull takes docker://REF as copy does.
	mustRun(t, nil, "--store", st, "pull", "-q", app+":v1")
	if l := listJSON(t, st); len(l) != 1 || l[0]["name"] != reg.Addr+"/ns/app:v1" {
		t.Fatalf("pull docker://: list %v", l)
	}
}
