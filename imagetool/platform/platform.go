// Package platform parses "os/arch[/variant]" and picks the matching
// manifest out of an image index.
package platform

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Host is the platform this binary runs on.
func Host() ocispec.Platform {
	p := ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// Parse parses "os/arch[/variant]"; an empty string means the host.
func Parse(s string) (ocispec.Platform, error) {
	if s == "" {
		return Host(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// String formats p as os/arch[/variant].
func String(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Matches reports whether have (from an index) satisfies want. An empty
// variant on either side matches any variant, except that arm64's default
// variant v8 also matches an empty one.
func Matches(want ocispec.Platform, have *ocispec.Platform) bool {
	if have == nil || have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || have.Variant == "" || want.Variant == have.Variant
}

// Select returns the first manifest of idx that matches want, preferring
// an exact variant match. When none matches, the error lists what the
// index offers.
func Select(idx ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	found := -1
	for i, m := range idx.Manifests {
		if !Matches(want, m.Platform) {
			continue
		}
		if m.Platform.Variant == want.Variant {
			return m, nil
		}
		if found < 0 {
			found = i
		}
	}
	if found >= 0 {
		return idx.Manifests[found], nil
	}
	var offered []string
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == "unknown" {
			continue // attestation manifests, not images
		}
		offered = append(offered, String(m.Platform))
	}
	sort.Strings(offered)
	return ocispec.Descriptor{}, fmt.Errorf("no image for platform %s; the index offers: %s", String(&want), strings.Join(offered, ", "))
}
