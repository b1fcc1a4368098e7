package regconf

import (
	"fmt"
	"strings"
)

// Source is one place to pull an image from.
type Source struct {
	// Ref is what to fetch: host/path plus the tag and/or digest.
	Ref string
	// Insecure: plain HTTP or unverified TLS allowed for this host.
	Insecure bool
	// Mirror is set for a mirror of the registry the name points to.
	Mirror bool
	// Name is the reference the image is recorded under: the one the user
	// meant (the primary location's name for a mirror or a rewrite).
	Name string
}

// splitRef cuts "host/path:tag@digest" into the name and the suffix
// (":tag", "@digest" or both).
func splitRef(ref string) (name, suffix string) {
	name, dgst, hasDigest := strings.Cut(ref, "@")
	if hasDigest {
		suffix = "@" + dgst
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		suffix = name[i:] + suffix
		name = name[:i]
	}
	return name, suffix
}

// IsShortName reports whether ref names no registry: its first component
// has no "." or ":" and is not "localhost", as in containers/image.
func IsShortName(ref string) bool {
	name, _ := splitRef(ref)
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

// Pull lists the sources to try, in order, for ref as the user wrote it.
// A short name goes through the aliases, else the
// unqualified-search-registries (docker.io when none are set, as Docker
// does); in short-name-mode "enforcing" a name that several search
// registries could answer is refused, since berth-image does not prompt.
// Each fully qualified candidate then goes through its [[registry]]: its
// mirrors first (those pull-from-mirror allows for a tag or a digest),
// then its location; a blocked registry is an error.
func (c *Config) Pull(ref string) ([]Source, error) {
	cands, err := c.qualify(ref)
	if err != nil {
		return nil, err
	}
	var out []Source
	var blocked []string
	for _, q := range cands {
		srcs, err := c.sources(q)
		if err != nil {
			if len(cands) == 1 {
				return nil, err
			}
			blocked = append(blocked, err.Error())
			continue
		}
		out = append(out, srcs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s", strings.Join(blocked, "; "))
	}
	return out, nil
}

// Push is where to push ref: its [[registry]] location; no mirrors.
func (c *Config) Push(ref string) (Source, error) {
	if IsShortName(ref) {
		return Source{}, fmt.Errorf("%s: pushing needs a fully qualified name (with the registry)", ref)
	}
	r := c.find(mustName(ref))
	src := Source{Ref: ref, Name: ref}
	if r == nil {
		return src, nil
	}
	if r.Blocked {
		return Source{}, c.blockedErr(ref, r)
	}
	src.Ref, src.Insecure = rewrite(ref, r.Prefix, r.Location), r.Insecure
	return src, nil
}

func mustName(ref string) string { n, _ := splitRef(ref); return n }

func (c *Config) blockedErr(ref string, r *Registry) error {
	return fmt.Errorf("%s: registry %q is blocked in registries.conf (%s)", ref, r.Prefix, strings.Join(c.Files, ", "))
}

// qualify turns a short name into fully qualified candidates.
func (c *Config) qualify(ref string) ([]string, error) {
	if !IsShortName(ref) {
		return []string{ref}, nil
	}
	name, suffix := splitRef(ref)
	if suffix == "" {
		suffix = ":latest"
	}
	if a, ok := c.Aliases[name]; ok {
		return []string{a + suffix}, nil
	}
	search := c.Search
	if !c.searchExplicit || len(search) == 0 {
		search = []string{"docker.io"}
	}
	var out []string
	for _, reg := range search {
		n := name
		if (reg == "docker.io" || reg == "index.docker.io") && !strings.Contains(n, "/") {
			n = "library/" + n
		}
		out = append(out, reg+"/"+n+suffix)
	}
	if c.ShortNameMode == "enforcing" && len(out) > 1 {
		return nil, fmt.Errorf("%s: short name with short-name-mode \"enforcing\" and %d unqualified-search-registries (%s), and no alias: name the registry (e.g. %s)",
			ref, len(out), strings.Join(search, ", "), out[0])
	}
	return out, nil
}

// sources applies the [[registry]] of the fully qualified ref q.
func (c *Config) sources(q string) ([]Source, error) {
	r := c.find(mustName(q))
	if r == nil {
		return []Source{{Ref: q, Name: q}}, nil
	}
	if r.Blocked {
		return nil, c.blockedErr(q, r)
	}
	_, suffix := splitRef(q)
	byDigest := strings.Contains(suffix, "@")
	var out []Source
	for _, m := range r.Mirrors {
		pfm := m.PullFromMirror
		if pfm == "" {
			pfm = "all"
		}
		if r.MirrorByDigestOnly && !byDigest || pfm == "digest-only" && !byDigest || pfm == "tag-only" && byDigest {
			continue
		}
		mref := rewrite(q, r.Prefix, m.Location)
		if mr := c.find(mustName(mref)); mr != nil && mr.Blocked {
			continue
		}
		out = append(out, Source{Ref: mref, Insecure: m.Insecure || c.insecure(mref), Mirror: true, Name: q})
	}
	return append(out, Source{Ref: rewrite(q, r.Prefix, r.Location), Insecure: r.Insecure, Name: q}), nil
}

func (c *Config) insecure(ref string) bool {
	r := c.find(mustName(ref))
	return r != nil && r.Insecure
}

// rewrite replaces prefix in ref by location (wildcard prefixes and empty
// locations leave ref as it is).
func rewrite(ref, prefix, location string) string {
	if location == "" || strings.HasPrefix(prefix, "*.") || location == prefix {
		return ref
	}
	return location + strings.TrimPrefix(ref, prefix)
}

// IsInsecure reports whether host (host[:port]) is a registry or mirror
// marked insecure: its [[registry]] (wildcards included) or a mirror
// location on it.
func (c *Config) IsInsecure(host string) bool {
	if r := c.find(host); r != nil && r.Insecure {
		return true
	}
	for _, r := range c.Registries {
		for _, m := range r.Mirrors {
			if h, _, _ := strings.Cut(m.Location, "/"); m.Insecure && h == host {
				return true
			}
		}
	}
	return false
}
