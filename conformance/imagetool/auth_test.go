package imagetool

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// credsEnv returns an environment whose only credentials are a Docker
// config.json for host (none when user is empty).
func credsEnv(t *testing.T, host, user, password string) []string {
	t.Helper()
	home, dockerDir := t.TempDir(), t.TempDir()
	if user != "" {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
		if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"HOME=" + home, "DOCKER_CONFIG=" + dockerDir, "REGISTRY_AUTH_FILE=", "XDG_RUNTIME_DIR=" + home, "XDG_CONFIG_HOME=" + home}
}

func TestPullBasicAuth(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{User: "alice", Password: "s3cret"}, "private/app")

	mustFail(t, credsEnv(t, reg.Addr, "", ""), []string{"--store", t.TempDir(), "pull", "-q", ref}, "authentication failed")
	mustFail(t, credsEnv(t, reg.Addr, "alice", "wrong"), []string{"--store", t.TempDir(), "pull", "-q", ref}, "authentication failed")

	st := t.TempDir()
	mustRun(t, credsEnv(t, reg.Addr, "alice", "s3cret"), "--store", st, "pull", "-q", ref)
	checkStore(t, st)

	// The containers auth file is read when there is no Docker config.
	authFile := filepath.Join(t.TempDir(), "auth.json")
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Addr, base64.StdEncoding.EncodeToString([]byte("alice:s3cret")))
	if err := os.WriteFile(authFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(credsEnv(t, reg.Addr, "", ""), "REGISTRY_AUTH_FILE="+authFile)
	mustRun(t, env, "--store", t.TempDir(), "pull", "-q", ref)

	// login stores the credentials where pull finds them; logout forgets.
	env = credsEnv(t, reg.Addr, "", "")
	mustFail(t, env, []string{"login", "-u", "alice", "-p", "nope", reg.Addr}, "authentication failed")
	login := exec.Command(bin, "login", "-u", "alice", "--password-stdin", reg.Addr)
	login.Env = append(os.Environ(), env...)
	login.Stdin = strings.NewReader("s3cret\n")
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("login --password-stdin: %v: %s", err, out)
	}
	mustRun(t, env, "--store", t.TempDir(), "pull", "-q", ref)
	mustRun(t, env, "logout", reg.Addr)
	mustFail(t, env, []string{"--store", t.TempDir(), "pull", "-q", ref}, "authentication failed")
}

func TestPullTokenAuth(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{Token: true, User: "bob", Password: "hunter2"})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "public/app:v1", "--dest-creds", "bob:hunter2")
	l.push(t, reg, "v1", "private/app:v1", "--dest-creds", "bob:hunter2")

	// Anonymous token: enough for public/, not for private/.
	anon := credsEnv(t, reg.Addr, "", "")
	mustRun(t, anon, "--store", t.TempDir(), "pull", "-q", reg.Addr+"/public/app:v1")
	mustFail(t, anon, []string{"--store", t.TempDir(), "pull", "-q", reg.Addr + "/private/app:v1"}, "private/app")
	mustFail(t, credsEnv(t, reg.Addr, "bob", "wrong"), []string{"--store", t.TempDir(), "pull", "-q", reg.Addr + "/private/app:v1"}, "authentication failed")

	st := t.TempDir()
	mustRun(t, credsEnv(t, reg.Addr, "bob", "hunter2"), "--store", st, "pull", "-q", reg.Addr+"/private/app:v1")
	checkStore(t, st)
}

func TestPullTLS(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{TLS: true}, "app")

	mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", ref}, "certificate")
	mustRun(t, nil, "--store", t.TempDir(), "--ca-file", reg.CAFile(), "pull", "-q", ref)
	mustRun(t, nil, "--store", t.TempDir(), "--insecure", "pull", "-q", ref)
	certDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), reg.CA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "--store", t.TempDir(), "--cert-dir", certDir, "pull", "-q", ref)
	mustFail(t, nil, []string{"--store", t.TempDir(), "--ca-file", "/nonexistent/ca.pem", "pull", "-q", ref}, "/nonexistent/ca.pem")
}

func TestPullTLSClientCertificate(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{TLS: true, ClientCerts: true}, "app")

	mustFail(t, nil, []string{"--store", t.TempDir(), "--ca-file", reg.CAFile(), "pull", "-q", ref}, ref)
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "--cert-dir", reg.ClientCertDir(), "pull", "-q", ref)
	checkStore(t, st)
}

func TestPullCredentialHelper(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{User: "dave", Password: "from-helper"}, "app")

	env := credsEnv(t, reg.Addr, "", "")
	bindir, dockerDir := t.TempDir(), t.TempDir()
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n" +
		`printf '{"ServerURL":"%s","Username":"dave","Secret":"from-helper"}' "$server"` + "\n"
	if err := os.WriteFile(filepath.Join(bindir, "docker-credential-berthtest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(fmt.Sprintf(`{"credHelpers":{%q:"berthtest"}}`, reg.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "DOCKER_CONFIG="+dockerDir, "PATH="+bindir+":"+os.Getenv("PATH"))
	st := t.TempDir()
	mustRun(t, env, "--store", st, "pull", "-q", ref)
	checkStore(t, st)
}

func TestPullRefreshesExpiredToken(t *testing.T) {
	reg, _ := servedImage(t, harness.RegistryConfig{Token: true, User: "bob", Password: "hunter2"}, "private/app")
	p := startFaultProxy(t, reg.Addr, "expire")
	before := reg.TokensIssued()
	st := t.TempDir()
	mustRun(t, credsEnv(t, p.addr(), "bob", "hunter2"), "--store", st, "pull", "-q", p.addr()+"/private/app:v1")
	checkStore(t, st)
	if p.faults.Load() == 0 {
		t.Fatal("no token was rejected")
	}
	// One token for the pull, at least one more after the rejection.
	if got := reg.TokensIssued() - before; got < 2 {
		t.Fatalf("%d tokens issued, want a refresh after the 401", got)
	}
}
