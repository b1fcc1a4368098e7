package credentials

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func write(t *testing.T, path string, entries map[string]string) {
	t.Helper()
	auths := ""
	for k, v := range entries {
		if auths != "" {
			auths += ","
		}
		auths += fmt.Sprintf("%q:{\"auth\":%q}", k, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte(`{"auths":{`+auths+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

func resolve(t *testing.T, k *Keychain, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	if a == authn.Anonymous {
		return "anonymous"
	}
	c, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return c.Username + ":" + c.Password
}

func TestSearchOrder(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("REGISTRY_AUTH_FILE", "")
	write(t, filepath.Join(dir, "docker", "config.json"), map[string]string{"a.example": "docker:1"})
	write(t, filepath.Join(dir, "run", "containers", "auth.json"), map[string]string{
		"a.example": "runtime:2", "b.example": "runtime:2", "c.example/team": "team:3", "docker.io": "hub:4"})
	write(t, filepath.Join(dir, "config", "containers", "auth.json"), map[string]string{"c.example": "config:5"})

	k := &Keychain{}
	for repo, want := range map[string]string{
		"a.example/x":           "docker:1",  // the Docker config comes first
		"b.example/x":           "runtime:2", // then $XDG_RUNTIME_DIR/containers/auth.json
		"c.example/team/app":    "team:3",    // a repository entry wins over a host entry
		"c.example/other/app":   "config:5",  // then $XDG_CONFIG_HOME/containers/auth.json
		"library/alpine":        "hub:4",     // podman's spelling of Docker Hub
		"d.example/unknown/app": "anonymous",
	} {
		if got := resolve(t, k, repo); got != want {
			t.Errorf("%s: %s, want %s", repo, got, want)
		}
	}
	// --authfile (or REGISTRY_AUTH_FILE) is the only file read.
	only := filepath.Join(dir, "only.json")
	write(t, only, map[string]string{"b.example": "only:6"})
	if got := resolve(t, &Keychain{AuthFile: only}, "a.example/x"); got != "anonymous" {
		t.Errorf("--authfile: a.example is %s, want anonymous", got)
	}
	t.Setenv("REGISTRY_AUTH_FILE", only)
	if got := resolve(t, k, "b.example/x"); got != "only:6" {
		t.Errorf("REGISTRY_AUTH_FILE: %s", got)
	}
	// --creds answers for everyone.
	if got := resolve(t, &Keychain{Creds: &authn.AuthConfig{Username: "u", Password: "p"}}, "a.example/x"); got != "u:p" {
		t.Errorf("--creds: %s", got)
	}
}

func TestRunContainersWithoutXDGRuntimeDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	files := Files("")
	want := filepath.Join("/run/containers", fmt.Sprint(os.Getuid()), "auth.json")
	if !reflect.DeepEqual(files[1], want) {
		t.Fatalf("files %v, want %s second", files, want)
	}
}

func TestParseCreds(t *testing.T) {
	if ac, err := ParseCreds("--creds", "u:p:with:colons", nil); err != nil || ac.Username != "u" || ac.Password != "p:with:colons" {
		t.Fatalf("%+v %v", ac, err)
	}
	if _, err := ParseCreds("--creds", "u", nil); err == nil {
		t.Fatal("no password and no prompt accepted")
	}
	ac, err := ParseCreds("--creds", "u", func(string) (string, error) { return "typed", nil })
	if err != nil || ac.Password != "typed" {
		t.Fatalf("%+v %v", ac, err)
	}
	if _, err := ParseCreds("--creds", ":p", nil); err == nil {
		t.Fatal("empty user accepted")
	}
}
