package imagetool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// writeConf writes a registries.conf and returns its path.
func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRegistriesConf: mirrors with pull-from-mirror, location rewrites,
// blocked and insecure registries, search registries and aliases for short
// names, as podman and skopeo read them.
func TestRegistriesConf(t *testing.T) {
	primary := startRegistry(t, harness.RegistryConfig{})
	mirror := startRegistry(t, harness.RegistryConfig{})
	secure := startRegistry(t, harness.RegistryConfig{TLS: true})
	deadPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("127.0.0.1:%d", deadPort)
	l := newLayout(t)
	onMirror := l.image(t, "v1", busybox(t))
	l.push(t, mirror, "v1", "cache/team/app:v1")
	onPrimary := l.image(t, "v2", busybox(t, harness.Layer{Files: harness.GeneratedFiles("srv", 7, 1, 1000)}))
	l.push(t, primary, "v2", "team/app:v2")
	l.push(t, primary, "v2", "team/other:v2")
	l.push(t, secure, "v1", "team/app:v1")

	conf := writeConf(t, fmt.Sprintf(`
unqualified-search-registries = [%[3]q, %[1]q]
[[registry]]
prefix = "reg.example.com/team"
location = "%[1]s/team"
[[registry.mirror]]
location = "%[3]s/cache/team"
[[registry.mirror]]
location = "%[2]s/cache/team"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "digest.example.com/team"
location = "%[1]s/team"
[[registry.mirror]]
location = "%[2]s/cache/team"
pull-from-mirror = "digest-only"

[[registry]]
location = "blocked.example.com"
blocked = true

[[registry]]
location = %[4]q
insecure = true

[aliases]
"myalias" = "%[1]s/team/other"
`, primary.Addr, mirror.Addr, dead, secure.Addr))

	// A mirror (after a dead one) has the tag; the image keeps the name
	// the user gave.
	st := t.TempDir()
	r := runBin(t, nil, "--store", st, "--registries-conf", conf, "pull", "reg.example.com/team/app:v1")
	if r.err != nil {
		t.Fatalf("pull through the mirror: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stderr, "trying "+mirror.Addr) {
		t.Errorf("no note about the dead mirror: %s", r.stderr)
	}
	if got := inspectDigest(t, st, "reg.example.com/team/app:v1"); got != onMirror.Digest.String() {
		t.Fatalf("reg.example.com/team/app:v1 is %s, want the mirror's %s", got, onMirror.Digest)
	}
	// Not on the mirrors: the location rewrite reaches the primary.
	mustRun(t, nil, "--store", st, "--registries-conf", conf, "pull", "-q", "reg.example.com/team/app:v2")
	if got := inspectDigest(t, st, "reg.example.com/team/app:v2"); got != onPrimary.Digest.String() {
		t.Fatalf("app:v2 is %s, want %s", got, onPrimary.Digest)
	}
	// digest-only: a tag is not looked for on the mirror, a digest is.
	mustFail(t, nil, []string{"--store", t.TempDir(), "--registries-conf", conf, "pull", "-q", "digest.example.com/team/app:v1"}, "not found")
	mustRun(t, nil, "--store", t.TempDir(), "--registries-conf", conf, "pull", "-q", "digest.example.com/team/app@"+onMirror.Digest.String())

	mustFail(t, nil, []string{"--store", t.TempDir(), "--registries-conf", conf, "pull", "-q", "blocked.example.com/x/y:1"}, "blocked in registries.conf")
	// insecure = true: the self-signed registry without --insecure or a CA.
	mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", secure.Addr + "/team/app:v1"}, "certificate")
	mustRun(t, nil, "--store", t.TempDir(), "--registries-conf", conf, "pull", "-q", secure.Addr+"/team/app:v1")

	// Short names: search registries in order (the dead one first), and
	// aliases; the image is recorded under the name that answered.
	st2 := t.TempDir()
	mustRun(t, nil, "--store", st2, "--registries-conf", conf, "pull", "-q", "team/app:v2")
	if got := inspectDigest(t, st2, primary.Addr+"/team/app:v2"); got != onPrimary.Digest.String() {
		t.Fatalf("short name: %s", got)
	}
	env := []string{"CONTAINERS_REGISTRIES_CONF=" + conf}
	mustRun(t, env, "--store", st2, "pull", "-q", "myalias:v2")
	inspectDigest(t, st2, primary.Addr+"/team/other:v2")
	enforcing := writeConf(t, fmt.Sprintf("short-name-mode = \"enforcing\"\nunqualified-search-registries = [%q, %q]\n", dead, primary.Addr))
	mustFail(t, nil, []string{"--store", t.TempDir(), "--registries-conf", enforcing, "pull", "-q", "team/app:v2"}, "enforcing", "name the registry")

	// push: the location rewrite, and blocked.
	mustRun(t, nil, "--store", st, "--registries-conf", conf, "push", "-q", "reg.example.com/team/app:v2", "docker://reg.example.com/team/pushed:v2")
	mustRun(t, nil, "--store", t.TempDir(), "pull", "-q", primary.Addr+"/team/pushed:v2")
	mustFail(t, nil, []string{"--store", st, "--registries-conf", conf, "push", "-q", "reg.example.com/team/app:v2", "docker://blocked.example.com/a:b"}, "blocked")

	// Version 1 files are refused clearly; a missing named file too.
	v1 := writeConf(t, "[registries.search]\nregistries = [\"docker.io\"]\n")
	mustFail(t, nil, []string{"--store", t.TempDir(), "--registries-conf", v1, "pull", "-q", "app"}, "version 1")
	mustFail(t, nil, []string{"--store", t.TempDir(), "--registries-conf", "/nonexistent/r.conf", "pull", "-q", "app"}, "/nonexistent/r.conf")
}
