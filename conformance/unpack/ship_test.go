package unpack

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// TestBuildShipRun is the walk-through of docs/imagetool.md: bundle an
// image, change files with berth run, repack, change the config, insert a
// file, tag, push to a registry with token auth (its realm on another
// loopback port), pull into a fresh store elsewhere and run it; podman
// pulls the pushed image too.
func TestBuildShipRun(t *testing.T) {
	base, ref, store := served(t, shellImage(t), "unpack/ship")
	priv, err := harness.StartRegistry(filepath.Join(base, "private"), harness.RegistryConfig{Token: true, User: "bob", Password: "ship-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer priv.Close()
	creds := "--creds=bob:ship-pw"

	b := filepath.Join(base, "bundle")
	cleanupBundle(t, b)
	mustBerthImage(t, store, "bundle", "--quiet", ref, b)
	shRun(t, b, "echo built > /etc/greeting && mkdir /srv && echo hello > /srv/index.html && rm /etc/group")

	app := priv.Addr + "/team/app"
	mustBerthImage(t, store, "commit", "--image", app+":v2", "--message", "site content", b)
	mustBerthImage(t, store, "config", app+":v2", "--env", "MODE=prod", "--env", "GREETING=bye", "--workdir", "/srv",
		"--cmd", "--read /srv/index.html --read /etc/greeting --read /opt/tool/README --stat /etc/group", "--label", "org.example.stage=ship",
		"--expose", "8080", "--volume", "/var/cache/app", "--stop-signal", "SIGINT", "--user", "1000")
	readme := filepath.Join(base, "README")
	if err := os.WriteFile(readme, []byte("inserted"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustBerthImage(t, store, "insert", app+":v2", readme, "/opt/tool/README")
	mustBerthImage(t, store, "tag", app+":v2", app+":latest")
	r := berthImage(store, "push", "-q", app+":v2")
	if r.err == nil || !strings.Contains(r.stderr, "authentication failed") {
		t.Fatalf("push without credentials: %v %s", r.err, r.stderr)
	}
	mustBerthImage(t, store, "push", "-q", creds, app+":v2")
	mustBerthImage(t, store, "push", "-q", creds, app+":latest", "docker://"+app+":copy")

	// Elsewhere: a fresh store pulls and runs it.
	for _, tag := range []string{"v2", "copy"} {
		fresh := filepath.Join(base, "fresh-"+tag)
		b2 := filepath.Join(base, "run-"+tag)
		cleanupBundle(t, b2)
		mustBerthImage(t, fresh, "bundle", "--quiet", creds, app+":"+tag, b2)
		rep := runBundle(t, b2)
		for path, want := range map[string]string{"/srv/index.html": "hello\n", "/etc/greeting": "built\n", "/opt/tool/README": "inserted"} {
			if got := rep.Files[path].Content; got != want {
				t.Errorf("%s: %s = %q, want %q", tag, path, got, want)
			}
		}
		if rep.Stats["/etc/group"].Type != "" {
			t.Errorf("%s: /etc/group deleted in the bundle is back: %+v", tag, rep.Stats["/etc/group"])
		}
		if rep.Cwd != "/srv" || rep.UID != 1000 || !slices.Contains(rep.Env, "MODE=prod") || !slices.Contains(rep.Env, "GREETING=bye") || slices.Contains(rep.Env, "GREETING=hello") {
			t.Errorf("%s: cwd %q uid %d env %q", tag, rep.Cwd, rep.UID, rep.Env)
		}
		var spec struct {
			Annotations map[string]string `json:"annotations"`
		}
		cb, _ := os.ReadFile(filepath.Join(b2, "config.json"))
		json.Unmarshal(cb, &spec)
		if spec.Annotations["org.example.stage"] != "ship" || spec.Annotations["org.opencontainers.image.stopSignal"] != "SIGINT" ||
			!strings.Contains(spec.Annotations["org.opencontainers.image.exposedPorts"], "8080/tcp") {
			t.Errorf("%s: annotations %v", tag, spec.Annotations)
		}
	}

	// podman pulls what berth-image pushed (vfs storage of its own: no
	// mounts, nothing shared with the host's podman).
	proot := filepath.Join(base, "podman")
	podman := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("podman", append([]string{"--root", proot + "/root", "--runroot", proot + "/run", "--storage-driver", "vfs"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	defer func() {
		exec.Command("podman", "--root", proot+"/root", "--runroot", proot+"/run", "--storage-driver", "vfs", "system", "reset", "-f").Run()
	}()
	podman("pull", "-q", "--tls-verify=false", "--creds", "bob:ship-pw", app+":v2")
	out := podman("image", "inspect", "--format", "{{.Config.Env}} {{.Config.WorkingDir}} {{len .RootFS.Layers}}", app+":v2")
	if !strings.Contains(out, "MODE=prod") || !strings.Contains(out, "/srv 6") {
		t.Errorf("podman image inspect: %s", out)
	}
}
