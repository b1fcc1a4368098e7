// Package harness starts the CNCF distribution registry on loopback in the
// configurations the berth-image suites need (plain, htpasswd, TLS, bearer
// token) and builds test images; the e2e tests and the pull benchmark
// share it.
package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBinary is the distribution registry (Debian docker-registry).
const RegistryBinary = "/usr/bin/docker-registry"

// RegistryConfig selects how the registry is set up.
type RegistryConfig struct {
	// TLS serves HTTPS with a certificate from a fresh test CA.
	TLS bool
	// ClientCerts (with TLS) requires client certificates signed by the
	// CA; ClientCertDir then holds ca.crt, client.cert and client.key.
	ClientCerts bool
	// User and Password, when set, require htpasswd basic auth (or, with
	// Token, are what the token server accepts).
	User, Password string
	// Token puts a bearer-token realm of our own in front: anonymous
	// clients get pull access to "public/" repositories only.
	Token bool
	// NoDelete leaves manifest deletes disabled (the registry's default).
	NoDelete bool
}

// Registry is a running registry.
type Registry struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// CA signed the server certificate (TLS only).
	CA  *CA
	Dir string

	cmd   *exec.Cmd
	token *TokenServer
}

// StartRegistry writes a config under dir and starts the registry.
func StartRegistry(dir string, cfg RegistryConfig) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir}
	var conf strings.Builder
	fmt.Fprintf(&conf, "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&conf, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: %v\n", filepath.Join(dir, "data"), !cfg.NoDelete)
	fmt.Fprintf(&conf, "http:\n  addr: %s\n  secret: berth-test-secret\n", r.Addr)
	if cfg.TLS {
		if r.CA, err = NewCA(); err != nil {
			return nil, err
		}
		certPEM, keyPEM, err := r.CA.Issue("127.0.0.1", false)
		if err != nil {
			return nil, err
		}
		if err := writeFiles(dir, map[string][]byte{"server.crt": certPEM, "server.key": keyPEM, "ca.crt": r.CA.CertPEM}); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "  tls:\n    certificate: %s\n    key: %s\n", filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
		if cfg.ClientCerts {
			if err := r.writeClientCerts(); err != nil {
				return nil, err
			}
			fmt.Fprintf(&conf, "    clientcas:\n      - %s\n", filepath.Join(dir, "ca.crt"))
		}
	}
	switch {
	case cfg.Token:
		ts, err := StartTokenServer(dir, "berth-test-registry", cfg.User, cfg.Password)
		if err != nil {
			return nil, err
		}
		r.token = ts
		fmt.Fprintf(&conf, "auth:\n  token:\n    realm: %s/token\n    service: berth-test-registry\n    issuer: %s\n    rootcertbundle: %s\n",
			ts.URL, tokenIssuer, ts.RootBundle)
	case cfg.User != "":
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		if err := writeFiles(dir, map[string][]byte{"htpasswd": []byte(cfg.User + ":" + string(hash) + "\n")}); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	r.cmd = exec.Command(RegistryBinary, "serve", confPath)
	// Do not outlive a test or benchmark that dies without cleaning up.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", RegistryBinary, err)
	}
	if err := r.waitReady(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
		r.Close()
		return nil, fmt.Errorf("%w; registry log:\n%s", err, log)
	}
	return r, nil
}

// waitReady waits until the registry accepts connections.
func (r *Registry) waitReady() error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(30 * time.Millisecond)
	}
	return fmt.Errorf("registry on %s did not come up", r.Addr)
}

// CAFile is the path of the CA certificate (TLS only).
func (r *Registry) CAFile() string { return filepath.Join(r.Dir, "ca.crt") }

// Close stops the registry and its token server.
func (r *Registry) Close() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
	if r.token != nil {
		r.token.Close()
	}
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ClientCertDir is a --cert-dir with the CA and a client key pair.
func (r *Registry) ClientCertDir() string { return filepath.Join(r.Dir, "client-certs") }

func (r *Registry) writeClientCerts() error {
	certPEM, keyPEM, err := r.CA.Issue("berth-test-client", true)
	if err != nil {
		return err
	}
	d := r.ClientCertDir()
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	return writeFiles(d, map[string][]byte{"ca.crt": r.CA.CertPEM, "client.cert": certPEM, "client.key": keyPEM})
}

// TokensIssued is how many tokens the realm handed out (Token only).
func (r *Registry) TokensIssued() int64 {
	if r.token == nil {
		return 0
	}
	return r.token.Issued.Load()
}

// TokenRealm is the URL of the token realm (Token only).
func (r *Registry) TokenRealm() string {
	if r.token == nil {
		return ""
	}
	return r.token.URL + "/token"
}
