package regconf

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func load(t *testing.T, body string) *Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.conf")
	os.WriteFile(p, []byte(body), 0o644)
	t.Setenv("HOME", t.TempDir())
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func refs(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Ref)
	}
	return out
}

func TestPrefixesAndMirrors(t *testing.T) {
	c := load(t, `
[[registry]]
prefix = "example.com"
location = "base.internal"
[[registry]]
prefix = "example.com/team"
location = "team.internal/t"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.internal/t"
[[registry]]
prefix = "*.wild.example"
insecure = true
`)
	for ref, want := range map[string][]string{
		"example.com/app:1":             {"base.internal/app:1"},
		"example.com/teamx/app:1":       {"base.internal/teamx/app:1"}, // a prefix matches whole components
		"example.com/team/app:1":        {"team.internal/t/app:1"},     // the longest prefix; no mirror for a tag
		"example.com/team/app@sha256:a": {"mirror.internal/t/app@sha256:a", "team.internal/t/app@sha256:a"},
		"other.com/app":                 {"other.com/app"},
	} {
		srcs, err := c.Pull(ref)
		if err != nil || !reflect.DeepEqual(refs(srcs), want) {
			t.Errorf("%s: %v %v, want %v", ref, refs(srcs), err, want)
		}
		for _, s := range srcs {
			if s.Name != ref {
				t.Errorf("%s: recorded as %s", ref, s.Name)
			}
		}
	}
	if !c.IsInsecure("r.wild.example") || c.IsInsecure("wild.example.org") || c.IsInsecure("example.com") {
		t.Error("wildcard insecure")
	}
}

func TestShortNames(t *testing.T) {
	c := load(t, "")
	if srcs, _ := c.Pull("alpine"); refs(srcs)[0] != "docker.io/library/alpine:latest" {
		t.Errorf("no search registries: %v", refs(srcs))
	}
	c = load(t, `unqualified-search-registries = ["quay.io", "docker.io"]
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"`)
	if srcs, _ := c.Pull("app:1"); !reflect.DeepEqual(refs(srcs), []string{"quay.io/app:1", "docker.io/library/app:1"}) {
		t.Errorf("search: %v", refs(srcs))
	}
	if srcs, _ := c.Pull("fedora:40"); !reflect.DeepEqual(refs(srcs), []string{"registry.fedoraproject.org/fedora:40"}) {
		t.Errorf("alias: %v", refs(srcs))
	}
	for _, q := range []string{"localhost/app", "host.example/app", "host:5000/app"} {
		if IsShortName(q) {
			t.Errorf("%s taken for a short name", q)
		}
	}
}
