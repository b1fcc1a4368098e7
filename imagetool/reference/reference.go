// Package reference parses image references the way people write them
// ("alpine", "host:port/ns/name:tag", "name@sha256:…", "name:tag@sha256:…")
// and gives each one a single canonical spelling, which is the name the
// store records for an image.
package reference

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
)

// DefaultRegistry is the registry of references without a host part.
const DefaultRegistry = "docker.io"

// Reference is a parsed image reference.
type Reference struct {
	// Registry is the host[:port], with Docker Hub spelled "docker.io".
	Registry string
	// Repository is the path inside the registry, e.g. "library/alpine".
	Repository string
	// Tag is the tag; "latest" when neither tag nor digest was given.
	Tag string
	// Digest is the pinned manifest digest, if any.
	Digest digest.Digest

	repo name.Repository
}

// Parse parses s. insecure marks the registry as reachable over plain
// HTTP or unverified TLS, which is needed by the registry client only.
func Parse(s string, insecure bool) (Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	if s == "" {
		return Reference{}, fmt.Errorf("empty image reference")
	}
	base, dgst, hasDigest := strings.Cut(s, "@")
	var r Reference
	if hasDigest {
		d, err := digest.Parse(dgst)
		if err != nil {
			return Reference{}, fmt.Errorf("image reference %q: bad digest %q: %v", s, dgst, err)
		}
		r.Digest = d
	}
	// name.NewTag defaults the tag to "latest"; only keep a tag the user
	// wrote when a digest is present.
	t, err := name.NewTag(base, opts...)
	if err != nil {
		return Reference{}, fmt.Errorf("image reference %q: %v", s, err)
	}
	r.repo = t.Repository
	r.Registry = t.RegistryStr()
	if r.Registry == name.DefaultRegistry {
		r.Registry = DefaultRegistry
	}
	r.Repository = t.RepositoryStr()
	if !hasDigest || explicitTag(base) {
		r.Tag = t.TagStr()
	}
	return r, nil
}

// explicitTag reports whether a reference without digest names a tag: a
// colon after the last slash (a colon before it is a port).
func explicitTag(s string) bool {
	return strings.Contains(s[strings.LastIndex(s, "/")+1:], ":")
}

// Name is the repository with its registry, e.g. docker.io/library/alpine.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// String is the canonical spelling: name:tag, name@digest or
// name:tag@digest.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// StoreName is the name an image pulled by r is recorded under: the tag
// when there is one (so that re-pulling a tag replaces it), else the digest.
func (r Reference) StoreName() string {
	if r.Tag != "" {
		return r.Name() + ":" + r.Tag
	}
	return r.Name() + "@" + r.Digest.String()
}

// Identifier is what to ask the registry for: the digest when pinned,
// else the tag.
func (r Reference) Identifier() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// Repo returns the go-containerregistry repository, for the registry client.
func (r Reference) Repo() name.Repository { return r.repo }

// Normalize returns the canonical store name of s, or s unchanged if it is
// not a valid reference (so that store lookups can fall back to it).
func Normalize(s string) string {
	r, err := Parse(s, false)
	if err != nil {
		return s
	}
	return r.StoreName()
}
