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
	"errors"
	"fmt"
	"net/http"
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
	// InsecureHost, if set, says which registries (host[:port]) to treat
	// as if Insecure were set: those registries.conf marks insecure.
	InsecureHost func(host string) bool
	// CertDir holds *.crt CA files and *.cert/*.key client key pairs,
	// for every registry; when set, CertsDirs are not searched.
	CertDir string
	// CertsDirs hold per-registry directories DIR/<host[:port]>/ of the
	// same form (certs.d); nil means DefaultCertsDirs().
	CertsDirs []string
	// Keychain finds credentials; nil means the docker/podman config
	// files and credential helpers (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Debugf, if set, logs every request.
	Debugf func(format string, a ...any)
	// RangeStreams is how many connections download one large blob
	// (FetchBlob); 1 means one stream per blob, 0 DefaultRangeStreams
	// when the first range shows one stream to be slow (RangeFast).
	RangeStreams int
}

// Client holds the HTTP transport shared by all repositories.
type Client struct {
	opts Options
	base http.RoundTripper
}

// New builds a client, loading the configured CAs and client certificates.
func New(opts Options) (*Client, error) {
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	hosts, err := newHostTransports(opts)
	if err != nil {
		return nil, err
	}
	rt := &guardTransport{inner: hosts, opts: opts, realms: newPrivateRealms(), debugf: opts.Debugf}
	return &Client{opts: opts, base: rt}, nil
}

// insecure reports whether host (host[:port]) may be reached over plain
// HTTP or unverified TLS.
func (o Options) insecure(host string) bool {
	return o.Insecure || o.InsecureHost != nil && o.InsecureHost(host)
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
	streams, auto := c.opts.RangeStreams, c.opts.RangeStreams < 1
	if auto {
		streams = DefaultRangeStreams
	}
	return &Repo{ref: ref, rt: rt, http: &http.Client{Transport: rt}, streams: min(streams, MaxRangeStreams), autoRanges: auto}, nil
}

// Keychain is the credential source the client uses.
func (c *Client) Keychain() authn.Keychain { return c.opts.Keychain }

// Base is the unauthenticated transport (TLS settings, HTTP guard,
// logging), for go-containerregistry calls that authenticate themselves.
func (c *Client) Base() http.RoundTripper { return c.base }

// Explain returns err with go-containerregistry's error details
// shortened as describeErr does, for errors of its remote package.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(describeErr(err))
}

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
		if strings.Contains(err.Error(), "invalid realm in www-authenticate") {
			return err.Error() + " (a token realm on a private or loopback address is allowed only for a registry on such an address itself, or one marked insecure: see docs/imagetool.md)"
		}
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
