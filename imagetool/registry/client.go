// Package registry talks to OCI / Docker v2 registries.
//
// go-containerregistry does the protocol parts that are easy to get wrong:
// the /v2/ ping, WWW-Authenticate challenges, basic auth, bearer tokens
// (anonymous and with credentials, refreshed on 401), credentials from
// docker/podman config files and credential helpers, and retries of
// requests on 408/429/5xx. Manifest and blob GETs are done here so that a
// blob streams straight into the store, is hashed exactly once, and an
// interrupted download resumes with a Range request.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options configures a Client.
type Options struct {
	// Insecure allows plain HTTP to any registry and skips TLS
	// verification. Without it plain HTTP is used only for loopback
	// registries (as Docker does) and TLS is always verified.
	Insecure bool
	// CAFile is a PEM bundle of CAs trusted in addition to the system's.
	CAFile string
	// CertDir holds *.crt CA files and *.cert/*.key client key pairs.
	CertDir string
	// Keychain finds credentials; nil means the docker/podman config
	// files and credential helpers (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Debugf, if set, logs every request.
	Debugf func(format string, a ...any)
}

// Client holds the HTTP transport shared by all repositories.
type Client struct {
	opts Options
	base http.RoundTripper
}

// New builds a client, loading the configured CAs and client certificates.
func New(opts Options) (*Client, error) {
	tlsConf, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	ht := http.DefaultTransport.(*http.Transport).Clone()
	ht.TLSClientConfig = tlsConf
	ht.MaxIdleConnsPerHost = 32
	// Blobs are compressed already; transparent gzip would only get in
	// the way of Range requests.
	ht.DisableCompression = true
	ht.ReadBufferSize = 256 << 10
	ht.WriteBufferSize = 64 << 10
	ht.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	ht.ResponseHeaderTimeout = 2 * time.Minute
	var rt http.RoundTripper = &guardTransport{inner: ht, insecure: opts.Insecure, debugf: opts.Debugf}
	return &Client{opts: opts, base: rt}, nil
}

// tlsConfig trusts the system CAs plus CAFile and CertDir/*.crt, and
// presents CertDir/*.cert with its *.key as client certificate.
func tlsConfig(opts Options) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.Insecure}
	addCA := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("CA file %s: no PEM certificate in it", path)
		}
		return nil
	}
	if opts.CAFile != "" {
		if err := addCA(opts.CAFile); err != nil {
			return nil, err
		}
	}
	if opts.CertDir != "" {
		ents, err := os.ReadDir(opts.CertDir)
		if err != nil {
			return nil, fmt.Errorf("--cert-dir: %w", err)
		}
		for _, e := range ents {
			p := filepath.Join(opts.CertDir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				if err := addCA(p); err != nil {
					return nil, err
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					return nil, fmt.Errorf("client certificate %s (key %s): %v", p, key, err)
				}
				conf.Certificates = append(conf.Certificates, pair)
			}
		}
	}
	return conf, nil
}

// guardTransport refuses plain HTTP to non-loopback hosts unless the user
// asked for --insecure (go-containerregistry would otherwise fall back to
// HTTP for private-network addresses silently), and logs with --debug.
type guardTransport struct {
	inner    http.RoundTripper
	insecure bool
	debugf   func(string, ...any)
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !isLoopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("refusing plain HTTP to %s (use --insecure to allow it)", req.URL.Host)
	}
	start := time.Now()
	resp, err := g.inner.RoundTrip(req)
	if g.debugf != nil {
		if err != nil {
			g.debugf("%s %s: %v", req.Method, req.URL.Redacted(), err)
		} else {
			g.debugf("%s %s %s: %d (%s)", req.Method, req.URL.Redacted(), req.Header.Get("Range"), resp.StatusCode, time.Since(start).Round(time.Millisecond))
		}
	}
	return resp, err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// retryCodes are the statuses retried with backoff.
var retryCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests,
	http.StatusInternalServerError, http.StatusBadGateway,
	http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// retryBackoff spreads 5 retries over about 3 seconds.
var retryBackoff = transport.Backoff{Duration: 100 * time.Millisecond, Factor: 2.0, Jitter: 0.2, Steps: 6}

// Repository returns a handle on ref's repository, authenticated for
// pulling (and pushing when push is set). This pings the registry and
// fetches a token if it wants one.
func (c *Client) Repository(ctx context.Context, ref reference.Reference, push bool) (*Repo, error) {
	repo := ref.Repo()
	auth, err := c.opts.Keychain.Resolve(repo.Registry)
	if err != nil {
		return nil, fmt.Errorf("%s: credentials: %w", ref.Registry, err)
	}
	scopes := []string{repo.Scope(transport.PullScope)}
	if push {
		scopes = []string{repo.Scope(transport.PushScope)}
	}
	retry := transport.NewRetry(c.base, transport.WithRetryBackoff(retryBackoff), transport.WithRetryStatusCodes(retryCodes...))
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, retry, scopes)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", ref.Registry, describeErr(err))
	}
	return &Repo{ref: ref, rt: rt, http: &http.Client{Transport: rt}}, nil
}

// Keychain is the credential source the client uses.
func (c *Client) Keychain() authn.Keychain { return c.opts.Keychain }

// Base is the unauthenticated transport (TLS settings, HTTP guard,
// logging), for go-containerregistry calls that authenticate themselves.
func (c *Client) Base() http.RoundTripper { return c.base }

// describeErr shortens go-containerregistry's errors to what a user needs:
// the registry's error codes and messages, without request dumps.
func describeErr(err error) string {
	// The ping joins the errors of its https and http attempts.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range j.Unwrap() {
			parts = append(parts, describeErr(e))
		}
		return strings.Join(parts, "; ")
	}
	// Follow only the plain wrap chain: errors.As would also look inside
	// the ping's private multi-error and drop its TLS half.
	var te *transport.Error
	for e := err; e != nil && te == nil; e = errors.Unwrap(e) {
		te, _ = e.(*transport.Error)
	}
	if te == nil {
		return err.Error()
	}
	var msgs []string
	for _, d := range te.Errors {
		msgs = append(msgs, fmt.Sprintf("%s: %s", d.Code, d.Message))
	}
	if len(msgs) == 0 {
		msgs = append(msgs, fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode)))
	}
	detail := strings.Join(msgs, "; ")
	switch te.StatusCode {
	case http.StatusUnauthorized:
		return "authentication failed (wrong or missing credentials): " + detail
	case http.StatusForbidden:
		return "access denied: " + detail
	}
	return detail
}

// CheckLogin verifies user and password against the registry at host: it
// goes through the auth handshake (fetching a token from the realm when
// the registry wants one) and GETs /v2/ with the result.
func (c *Client) CheckLogin(ctx context.Context, host, user, password string) error {
	reg, err := name.NewRegistry(host, c.nameOpts()...)
	if err != nil {
		return fmt.Errorf("registry %q: %v", host, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, c.base, nil)
	if err != nil {
		return fmt.Errorf("%s: %s", host, describeErr(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("%s: %v", host, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return fmt.Errorf("%s: %s", host, describeErr(err))
	}
	return nil
}

func (c *Client) nameOpts() []name.Option {
	if c.opts.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}
