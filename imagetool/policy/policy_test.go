package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/imagetool/reference"
)

// TestScopeOrder checks that the most specific docker scope wins, as
// containers-policy.json(5) orders them.
func TestScopeOrder(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.json")
	os.WriteFile(pol, []byte(`{"default":[{"type":"reject"}],"transports":{"docker":{
		"reg.example.com/ns/app:v1":[{"type":"insecureAcceptAnything"}],
		"reg.example.com/ns/app":[{"type":"reject"}],
		"reg.example.com/ns":[{"type":"insecureAcceptAnything"}],
		"reg.example.com":[{"type":"reject"}],
		"*.example.com":[{"type":"insecureAcceptAnything"}],
		"docker.io/library":[{"type":"insecureAcceptAnything"}]}}}`), 0o644)
	p, err := Load(pol)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"reg.example.com/ns/app:v1":   `["reg.example.com/ns/app:v1"]`,
		"reg.example.com/ns/app:v2":   `["reg.example.com/ns/app"]`,
		"reg.example.com/ns/other/x":  `["reg.example.com/ns"]`,
		"reg.example.com/top":         `["reg.example.com"]`,
		"mirror.example.com/a/b":      `["*.example.com"]`,
		"alpine":                      `["docker.io/library"]`,
		"quay.io/x/y":                 "default[0]",
		"reg.example.com:5000/ns/app": "default[0]",
	} {
		r, err := reference.Parse(ref, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.forRegistry(r)[0].where; !strings.Contains(got, want) {
			t.Errorf("%s: rule %s, want scope %s", ref, got, want)
		}
	}
}
