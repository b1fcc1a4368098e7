package imagetool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// TestSync runs both forms of sync (a repository, a YAML list) into a
// registry namespace and into an OCI layout, and checks the names and
// digests against what skopeo sync makes of the same source.
func TestSync(t *testing.T) {
	src := startRegistry(t, harness.RegistryConfig{})
	dst := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	v1 := l.image(t, "v1", busybox(t))
	v2 := l.image(t, "v2", busybox(t, harness.Layer{Files: harness.GeneratedFiles("s", 90, 1, 1000)}))
	l.push(t, src, "v1", "ns/app:v1")
	l.push(t, src, "v2", "ns/app:v2")
	l.push(t, src, "v1", "other/db:1")

	// A repository: every tag, named by the last path element.
	mustRun(t, nil, "sync", "-q", "--src", "docker", "--dest", "docker", src.Addr+"/ns/app", dst.Addr+"/mirror")
	skopeo(t, "sync", "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false", src.Addr+"/ns/app", dst.Addr+"/by-skopeo")
	for _, repo := range []string{"mirror/app", "by-skopeo/app"} {
		if got := mustRun(t, nil, "list-tags", dst.Addr+"/"+repo); got != "v1\nv2\n" {
			t.Fatalf("%s after sync has tags %q", repo, got)
		}
	}
	for tag, want := range map[string]string{"v1": v1.Digest.String(), "v2": v2.Digest.String()} {
		if got := strings.TrimSpace(mustRun(t, nil, "digest", dst.Addr+"/mirror/app:"+tag)); got != want {
			t.Fatalf("synced %s has digest %s, want %s", tag, got, want)
		}
	}

	// One image into a layout, which skopeo reads.
	dir := t.TempDir()
	var res []struct{ Destination string }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "sync", "-q", "--format", "json", "--dest", "oci", src.Addr+"/ns/app:v1", dir)), &res); err != nil || len(res) != 1 {
		t.Fatalf("sync --format json: %v %+v", err, res)
	}
	skopeo(t, "inspect", "oci:"+dir+":app:v1")

	// A YAML list (skopeo sync's format), scoped names, into a layout.
	yml := filepath.Join(t.TempDir(), "images.yaml")
	os.WriteFile(yml, []byte(src.Addr+":\n  images:\n    ns/app: [v1]\n    other/db: []\n  images-by-tag-regex:\n    ns/app: ^v2$\n  tls-verify: false\n"), 0o644)
	dir2 := t.TempDir()
	mustRun(t, nil, "sync", "-q", "--src", "yaml", "--dest", "oci", "--scoped", yml, dir2)
	var names []string
	for _, e := range listJSON(t, dir2) {
		names = append(names, e["name"].(string))
	}
	want := src.Addr + "/ns/app:v1 " + src.Addr + "/other/db:1 " + src.Addr + "/ns/app:v2"
	if strings.Join(names, " ") != want {
		t.Fatalf("layout after the YAML sync holds %v, want %s", names, want)
	}
	checkStore(t, dir2)

	os.WriteFile(yml, []byte(src.Addr+":\n  images:\n    ns/app: []\n  credentials:\n    username: x\n"), 0o644)
	mustFail(t, nil, []string{"sync", "--src", "yaml", "--dest", "oci", yml, t.TempDir()}, yml, "credentials")
	mustFail(t, nil, []string{"sync", "--dest", "ftp", "x", "y"}, "--dest", "ftp")
}
