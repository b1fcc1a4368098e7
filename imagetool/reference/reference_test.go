package reference

import "testing"

func TestParse(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ in, str, store string }{
		{"alpine", "docker.io/library/alpine:latest", "docker.io/library/alpine:latest"},
		{"docker.io/alpine:3", "docker.io/library/alpine:3", "docker.io/library/alpine:3"},
		{"index.docker.io/foo/bar", "docker.io/foo/bar:latest", "docker.io/foo/bar:latest"},
		{"localhost:5000/ns/name:v1", "localhost:5000/ns/name:v1", "localhost:5000/ns/name:v1"},
		{"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"},
		{"127.0.0.1:5000/x@" + d, "127.0.0.1:5000/x@" + d, "127.0.0.1:5000/x@" + d},
		{"quay.io/a/b:t@" + d, "quay.io/a/b:t@" + d, "quay.io/a/b:t"},
	} {
		r, err := Parse(c.in, false)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if r.String() != c.str || r.StoreName() != c.store {
			t.Errorf("Parse(%q) = %q / store %q, want %q / %q", c.in, r.String(), r.StoreName(), c.str, c.store)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a@sha256:zz", "a:b:c"} {
		if _, err := Parse(bad, false); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", bad)
		}
	}
}
