package imagetool

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// authJSON writes a containers/Docker auth file holding user:password for
// host and returns its path.
func authJSON(t *testing.T, dir, host, user, password string) string {
	t.Helper()
	p := filepath.Join(dir, "auth.json")
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecret fails if the password shows up in any output.
func noSecret(t *testing.T, secret string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, secret) {
			t.Fatalf("the password is printed: %q", o)
		}
	}
}

func TestCredsFlagAndAuthFile(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{User: "alice", Password: "s3cret-pw"}, "private/app")
	none := credsEnv(t, reg.Addr, "", "")

	// --creds, right and wrong; --debug logs requests, never the secret.
	r := runBin(t, none, "--store", t.TempDir(), "--debug", "--creds", "alice:s3cret-pw", "pull", ref)
	if r.err != nil {
		t.Fatalf("pull --creds: %v\n%s", r.err, r.stderr)
	}
	noSecret(t, "s3cret-pw", r.stdout, r.stderr)
	if !strings.Contains(r.stderr, "debug:") {
		t.Fatalf("no debug output: %s", r.stderr)
	}
	mustFail(t, none, []string{"--store", t.TempDir(), "--creds", "alice:wrong", "pull", "-q", ref}, "authentication failed")
	// No password and no terminal: a clear usage error, not a hang.
	mustFail(t, none, []string{"--store", t.TempDir(), "--creds", "alice", "pull", "-q", ref}, "--creds", "no password")

	// --authfile is the only file read: it wins over a Docker config
	// with wrong credentials, and login/logout write to it.
	wrong := credsEnv(t, reg.Addr, "alice", "wrong")
	af := authJSON(t, t.TempDir(), reg.Addr, "alice", "s3cret-pw")
	mustRun(t, wrong, "--store", t.TempDir(), "--authfile", af, "pull", "-q", ref)
	// With --debug neither the password nor the file's base64 token (nor
	// the Authorization header) shows, on any output.
	r = runBin(t, wrong, "--store", t.TempDir(), "--debug", "--authfile", af, "pull", ref)
	if r.err != nil {
		t.Fatalf("pull --authfile --debug: %v\n%s", r.err, r.stderr)
	}
	token := base64.StdEncoding.EncodeToString([]byte("alice:s3cret-pw"))
	noSecret(t, "s3cret-pw", r.stdout, r.stderr)
	noSecret(t, token, r.stdout, r.stderr)
	if !strings.Contains(r.stderr, "debug:") {
		t.Fatalf("no debug output: %s", r.stderr)
	}
	r = runBin(t, none, "--store", t.TempDir(), "--debug", "--creds", "alice:s3cret-pw", "pull", ref)
	noSecret(t, token, r.stdout, r.stderr)
	mustFail(t, none, []string{"--store", t.TempDir(), "--authfile", filepath.Join(t.TempDir(), "none.json"), "pull", "-q", ref}, "authentication failed")

	af2 := filepath.Join(t.TempDir(), "sub", "auth.json")
	r = runBin(t, none, "--authfile", af2, "login", "-u", "alice", "-p", "s3cret-pw", reg.Addr)
	if r.err != nil {
		t.Fatalf("login --authfile: %v\n%s", r.err, r.stderr)
	}
	noSecret(t, "s3cret-pw", r.stdout, r.stderr)
	fi, err := os.Stat(af2)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("login wrote %s: %v %v, want mode 0600", af2, fi, err)
	}
	var saved struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	readJSON(t, af2, &saved)
	if got, _ := base64.StdEncoding.DecodeString(saved.Auths[reg.Addr].Auth); string(got) != "alice:s3cret-pw" {
		t.Fatalf("auth file %s holds %q for %s", af2, got, reg.Addr)
	}
	if _, err := os.Stat(filepath.Join(envValue(none, "DOCKER_CONFIG"), "config.json")); err == nil {
		t.Fatal("login --authfile also wrote the Docker config")
	}
	mustRun(t, none, "--store", t.TempDir(), "--authfile", af2, "pull", "-q", ref)
	// REGISTRY_AUTH_FILE is the same as --authfile.
	mustRun(t, append(none, "REGISTRY_AUTH_FILE="+af2), "--store", t.TempDir(), "pull", "-q", ref)
	mustRun(t, none, "--authfile", af2, "logout", reg.Addr)
	mustFail(t, none, []string{"--store", t.TempDir(), "--authfile", af2, "pull", "-q", ref}, "authentication failed")
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestCopySrcAndDestCreds(t *testing.T) {
	src := startRegistry(t, harness.RegistryConfig{User: "alice", Password: "src-pw"})
	dst := startRegistry(t, harness.RegistryConfig{Token: true, User: "bob", Password: "dst-pw"})
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t))
	l.push(t, src, "v1", "app:v1", "--dest-creds", "alice:src-pw")
	none := credsEnv(t, src.Addr, "", "")

	args := []string{"copy", "-q", "docker://" + src.Addr + "/app:v1", "docker://" + dst.Addr + "/team/app:v2"}
	mustFail(t, none, append(args, "--src-creds", "alice:src-pw"), "authentication failed")
	r := runBin(t, none, append(args, "--src-creds", "alice:src-pw", "--dest-creds", "bob:dst-pw")...)
	if r.err != nil {
		t.Fatalf("copy: %v\n%s", r.err, r.stderr)
	}
	noSecret(t, "src-pw", r.stdout, r.stderr)
	noSecret(t, "dst-pw", r.stdout, r.stderr)
	st := t.TempDir()
	mustRun(t, none, "--store", st, "--creds", "bob:dst-pw", "pull", "-q", dst.Addr+"/team/app:v2")
	if got := inspectDigest(t, st, dst.Addr+"/team/app:v2"); got != want.Digest.String() {
		t.Fatalf("copied image is %s, want %s", got, want.Digest)
	}
}

// TestRootRunContainersAuthFile checks /run/containers/<uid>/auth.json,
// where podman and skopeo keep a user's credentials when XDG_RUNTIME_DIR
// is unset (as for root). It runs as uid 65534 so as not to touch root's
// real file.
func TestRunContainersAuthFile(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{User: "carol", Password: "run-pw"}, "app")

	dir := "/run/containers/65534"
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists already; this test would overwrite someone's credentials", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	authJSON(t, dir, reg.Addr, "carol", "run-pw")
	if err := os.Chown(filepath.Join(dir, "auth.json"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, 65534, 65534)
	home := t.TempDir()
	os.Chmod(filepath.Dir(home), 0o755)
	os.Chmod(home, 0o777)
	// The binary's directory must be reachable by the other user.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--store", home+"/store", "pull", "-q", ref)
	cmd.Env = []string{"HOME=" + home, "DOCKER_CONFIG=" + home + "/docker", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pull as uid 65534 with %s/auth.json: %v\n%s", dir, err, out)
	}
}

// TestLoginPromptsOnTerminal types the user name and password at login's
// prompts on a pseudo-terminal, as a person does.
func TestLoginPromptsOnTerminal(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{Token: true, User: "dave", Password: "typed-pw"})
	env := credsEnv(t, reg.Addr, "", "")
	master, slave := openPTY(t)
	cmd := exec.Command(bin, "login", reg.Addr)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stderr = slave, slave
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	screen := &syncBuffer{}
	go io.Copy(screen, master)
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(screen.String(), s) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no %q on the terminal: %q", s, screen.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("Username: ")
	master.Write([]byte("dave\n"))
	waitFor("Password: ")
	master.Write([]byte("typed-pw\n"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login: %v\nterminal: %q\nstdout: %s", err, screen.String(), &out)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("login did not finish: %q", screen.String())
	}
	noSecret(t, "typed-pw", screen.String(), out.String())
	if !strings.Contains(out.String(), "Login succeeded") {
		t.Fatalf("login output %q", out.String())
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	readJSON(t, filepath.Join(envValue(env, "DOCKER_CONFIG"), "config.json"), &cfg)
	if got, _ := base64.StdEncoding.DecodeString(cfg.Auths[reg.Addr].Auth); string(got) != "dave:typed-pw" {
		t.Fatalf("saved credentials %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCertsDirectories puts the registry's CA and a client certificate
// where podman and Docker look for them, per registry host.
func TestCertsDirectories(t *testing.T) {
	reg, ref := servedImage(t, harness.RegistryConfig{TLS: true, ClientCerts: true}, "app")

	mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", ref}, "certificate")
	for _, root := range []string{"/etc/containers/certs.d", "/etc/docker/certs.d"} {
		dir := filepath.Join(root, reg.Addr)
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("%s exists already", dir)
		}
		made := mkdirAllTracked(t, dir)
		for _, f := range []string{"ca.crt", "client.cert", "client.key"} {
			b, err := os.ReadFile(filepath.Join(reg.ClientCertDir(), f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		st := t.TempDir()
		mustRun(t, nil, "--store", st, "pull", "-q", ref)
		checkStore(t, st)
		// Without the client key pair the registry refuses the handshake.
		os.Remove(filepath.Join(dir, "client.cert"))
		os.Remove(filepath.Join(dir, "client.key"))
		mustFail(t, nil, []string{"--store", t.TempDir(), "pull", "-q", ref}, reg.Addr)
		for i := len(made) - 1; i >= 0; i-- {
			os.RemoveAll(made[i])
		}
	}
}

// mkdirAllTracked makes dir and its missing parents, returning those it
// made (outermost first) and removing them when the test ends.
func mkdirAllTracked(t *testing.T, dir string) []string {
	t.Helper()
	var missing []string
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append([]string{d}, missing...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := len(missing) - 1; i >= 0; i-- {
			os.RemoveAll(missing[i])
		}
	})
	return missing
}

// TestTokenRealmOnAnotherLoopbackPort: the registry on 127.0.0.1 sends
// clients to a token server on another 127.0.0.1 port, which
// go-containerregistry alone refuses. Pull, login and push all go through it.
func TestTokenRealmOnAnotherLoopbackPort(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{Token: true, User: "erin", Password: "realm-pw"})
	if realm := reg.TokenRealm(); !strings.HasPrefix(realm, "http://127.0.0.1:") || strings.Contains(realm, reg.Addr) {
		t.Fatalf("token realm %s is not on another loopback port", realm)
	}
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t))
	none := credsEnv(t, reg.Addr, "", "")
	layoutRef := "oci:" + l.dir + ":v1"
	mustFail(t, none, []string{"copy", "-q", layoutRef, "docker://" + reg.Addr + "/private/app:v1"}, "private/app")
	mustRun(t, none, "--creds", "erin:realm-pw", "copy", "-q", layoutRef, "docker://"+reg.Addr+"/private/app:v1")
	mustRun(t, none, "--creds", "erin:realm-pw", "copy", "-q", layoutRef, "docker://"+reg.Addr+"/public/app:v1")
	before := reg.TokensIssued()
	mustRun(t, none, "--store", t.TempDir(), "pull", "-q", reg.Addr+"/public/app:v1")
	st := t.TempDir()
	mustRun(t, none, "--store", st, "--creds", "erin:realm-pw", "pull", "-q", reg.Addr+"/private/app:v1")
	if got := inspectDigest(t, st, reg.Addr+"/private/app:v1"); got != want.Digest.String() {
		t.Fatalf("pulled %s, want %s", got, want.Digest)
	}
	if reg.TokensIssued()-before < 2 {
		t.Fatalf("the realm issued %d tokens for two pulls", reg.TokensIssued()-before)
	}
	mustRun(t, none, "login", "-u", "erin", "-p", "realm-pw", reg.Addr)
	mustFail(t, none, []string{"login", "-u", "erin", "-p", "nope", reg.Addr}, "authentication failed")
	// Also when the registry is named localhost.
	local := strings.Replace(reg.Addr, "127.0.0.1", "localhost", 1)
	mustRun(t, none, "--store", t.TempDir(), "pull", "-q", local+"/public/app:v1")
}
