package reference

import "testing"

// FuzzParse parses image references as a user or a config file might
// give them. Nothing may panic; a parsed reference has a registry and a
// repository, and its String form parses back to the same reference.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"alpine", "alpine:3.20", "library/alpine", "docker.io/library/alpine:latest",
		"127.0.0.1:5000/test/image:v1", "localhost/foo", "quay.io/a/b/c:tag",
		"ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"name:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"[::1]:5000/repo", "UPPER/case", "a..b", ":tag", "@sha256:", "x:" + string(make([]byte, 200)),
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, insecure bool) {
		r, err := Parse(s, insecure)
		if err != nil {
			return
		}
		if r.Registry == "" || r.Repository == "" {
			t.Fatalf("Parse(%q) = %+v: no registry or repository", s, r)
		}
		again, err := Parse(r.String(), insecure)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, r.String(), err)
		}
		if again.String() != r.String() || again.Name() != r.Name() {
			t.Fatalf("Parse(%q) = %q, parsed again %q", s, r.String(), again.String())
		}
		_ = r.StoreName()
		_ = r.Identifier()
		_ = Normalize(s)
	})
}
