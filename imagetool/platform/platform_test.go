package platform

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestSelect(t *testing.T) {
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: "sha256:a", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{Digest: "sha256:b", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{Digest: "sha256:c", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Digest: "sha256:d", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{Digest: "sha256:e", Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}},
	}}
	for in, want := range map[string]string{
		"linux/amd64":    "sha256:a",
		"linux/arm/v7":   "sha256:c",
		"linux/arm":      "sha256:b",
		"linux/arm64/v8": "sha256:d", // an empty variant in the index matches
	} {
		p, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Select(idx, p)
		if err != nil || string(d.Digest) != want {
			t.Errorf("Select(%s) = %s, %v; want %s", in, d.Digest, err, want)
		}
	}
	_, err := Select(idx, ocispec.Platform{OS: "windows", Architecture: "amd64"})
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64") || strings.Contains(err.Error(), "unknown/unknown") {
		t.Fatalf("no-match error: %v", err)
	}
	for _, bad := range []string{"linux", "/amd64", "a/b/c/d"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
