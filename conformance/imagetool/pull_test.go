package imagetool

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

func TestPullPlainRegistry(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t, harness.Layer{Files: harness.GeneratedFiles("srv", 2, 2, 50_000)}))
	l.push(t, reg, "v1", "ns/app:v1")

	st := t.TempDir()
	ref := reg.Addr + "/ns/app:v1"
	out := mustRun(t, nil, "--store", st, "pull", "--quiet", ref)
	if !strings.Contains(out, want.Digest.String()) {
		t.Fatalf("pull printed %q, want the manifest digest %s", out, want.Digest)
	}
	checkStore(t, st)

	list := listJSON(t, st)
	if len(list) != 1 || list[0]["name"] != ref || list[0]["digest"] != want.Digest.String() {
		t.Fatalf("list = %v, want one image %s %s", list, ref, want.Digest)
	}
	if list[0]["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("list created = %v", list[0]["created"])
	}

	var info struct {
		Manifest struct{ Layers []struct{ Digest string } }
		Config   struct{ Architecture string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", ref)), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Manifest.Layers) != 3 || info.Config.Architecture != "amd64" {
		t.Fatalf("inspect: %+v", info)
	}
	raw := mustRun(t, nil, "--store", st, "inspect", "--raw", ref)
	if !strings.Contains(raw, `"layers"`) {
		t.Fatalf("inspect --raw printed %q", raw)
	}

	// A second pull fetches nothing: every blob is already there.
	var res struct{ FetchedBytes, ReusedBytes int64 }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "--format", "json", "--quiet", "pull", ref)), &res); err != nil {
		t.Fatal(err)
	}
	if res.FetchedBytes != 0 || res.ReusedBytes == 0 {
		t.Fatalf("re-pull fetched %d bytes, reused %d; want 0 fetched", res.FetchedBytes, res.ReusedBytes)
	}

	// By digest, and by tag plus digest.
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/ns/app@"+want.Digest.String())
	mustRun(t, nil, "--store", st, "pull", "-q", ref+"@"+want.Digest.String())
	if n := len(listJSON(t, st)); n != 2 {
		t.Fatalf("after pulls by digest list has %d images, want 2 (tag and digest names)", n)
	}
}
