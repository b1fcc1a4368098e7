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

// TestVerifyAndRepair tampers with stored blobs (same size, one byte
// changed) and checks that verify finds them, a plain pull does not fix
// them, and pull --repair does.
func TestVerifyAndRepair(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "app:v1")
	ref := reg.Addr + "/app:v1"
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", ref)
	if out := mustRun(t, nil, "--store", st, "verify"); strings.Count(out, " ok\n") != 4 {
		t.Fatalf("verify of a sound store:\n%s", out)
	}

	var m ocispec.Manifest
	readJSON(t, filepath.Join(st, "blobs", "sha256", want.Digest.Encoded()), &m)
	layer := m.Layers[1].Digest
	flip := func(hex string) {
		p := filepath.Join(st, "blobs", "sha256", hex)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x55
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip(layer.Encoded())
	r := runBin(t, nil, "--store", st, "verify", ref)
	if r.err == nil || !strings.Contains(r.stdout, "layer    "+layer.String()) || !strings.Contains(r.stderr, "pull --repair") {
		t.Fatalf("verify of a tampered layer: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	// A tampered manifest hides its blobs: one failure, naming it.
	flip(want.Digest.Encoded())
	r = runBin(t, nil, "--store", st, "verify", ref)
	if !strings.Contains(r.stderr, "1 blob(s)") || !strings.Contains(r.stdout, "manifest "+want.Digest.String()) {
		t.Fatalf("verify did not name the tampered manifest:\n%s%s", r.stdout, r.stderr)
	}
	var reports []struct {
		Name  string
		Blobs []struct{ Digest, Role, Error string }
	}
	if err := json.Unmarshal([]byte(runBin(t, nil, "--store", st, "--format", "json", "verify").stdout), &reports); err != nil || len(reports) != 1 || reports[0].Blobs[0].Error == "" {
		t.Fatalf("verify --format json: %v %+v", err, reports)
	}

	// A plain pull trusts what is there.
	if r := runBin(t, nil, "--store", st, "pull", ref); !strings.Contains(r.stderr, "already present") {
		t.Fatalf("plain re-pull: %s", r.stderr)
	}
	var res struct{ FetchedBytes int64 }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "-q", "--format", "json", "pull", "--repair", ref)), &res); err != nil {
		t.Fatal(err)
	}
	if res.FetchedBytes != m.Layers[1].Size {
		t.Fatalf("pull --repair fetched %d bytes, want the tampered layer's %d", res.FetchedBytes, m.Layers[1].Size)
	}
	if out := mustRun(t, nil, "--store", st, "verify", ref); strings.Contains(out, "FAILED") {
		t.Fatalf("verify after repair:\n%s", out)
	}
	checkStore(t, st)
}
