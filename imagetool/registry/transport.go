package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultCertsDirs are the per-host certificate directories searched for
// DIR/<host[:port]>/ as podman, skopeo and Docker do: the user's own first
// when not root, then the containers one, then Docker's.
func DefaultCertsDirs() []string {
	var dirs []string
	if os.Geteuid() != 0 {
		if home, err := os.UserHomeDir(); err == nil {
			dirs = append(dirs, filepath.Join(home, ".config", "containers", "certs.d"))
		}
	}
	return append(dirs, "/etc/containers/certs.d", "/etc/docker/certs.d")
}

// hostTransports gives every registry host its own http.Transport, since
// TLS settings differ per host: certs.d directories and registries.conf
// insecure entries.
type hostTransports struct {
	opts     Options
	basePool *x509.CertPool    // system CAs + --ca-file + --cert-dir
	baseCert []tls.Certificate // --cert-dir client key pairs

	mu     sync.Mutex
	byHost map[string]*http.Transport
}

func newHostTransports(opts Options) (*hostTransports, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	h := &hostTransports{opts: opts, basePool: pool, byHost: map[string]*http.Transport{}}
	if opts.CAFile != "" {
		if err := addCA(pool, opts.CAFile); err != nil {
			return nil, err
		}
	}
	if opts.CertDir != "" {
		certs, err := loadCertDir(pool, opts.CertDir)
		if err != nil {
			return nil, fmt.Errorf("--cert-dir: %w", err)
		}
		h.baseCert = certs
	}
	return h, nil
}

func (h *hostTransports) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := h.transport(req.URL.Host)
	if err != nil {
		return nil, err
	}
	return t.RoundTrip(req)
}

// transport returns host's transport, made on first use.
func (h *hostTransports) transport(host string) (*http.Transport, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.byHost[host]; t != nil {
		return t, nil
	}
	conf := &tls.Config{RootCAs: h.basePool, Certificates: h.baseCert, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: h.opts.insecure(host)}
	if h.opts.CertDir == "" {
		// --cert-dir replaces the certs.d lookup, as in skopeo.
		if dir := h.certsDir(host); dir != "" {
			pool := h.basePool.Clone()
			certs, err := loadCertDir(pool, dir)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", host, err)
			}
			conf.RootCAs, conf.Certificates = pool, certs
		}
	}
	ht := http.DefaultTransport.(*http.Transport).Clone()
	ht.TLSClientConfig = conf
	ht.MaxIdleConnsPerHost = 32
	// Blobs are compressed already; transparent gzip would only get in
	// the way of Range requests.
	ht.DisableCompression = true
	ht.ReadBufferSize = 256 << 10
	ht.WriteBufferSize = 64 << 10
	ht.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	ht.ResponseHeaderTimeout = 2 * time.Minute
	h.byHost[host] = ht
	return ht, nil
}

// certsDir is the first DIR/<host> of the certs.d directories that
// exists (a missing port is not filled in: "host" and "host:443" are two
// directories, as in containers/image).
func (h *hostTransports) certsDir(host string) string {
	dirs := h.opts.CertsDirs
	if dirs == nil {
		dirs = DefaultCertsDirs()
	}
	for _, d := range dirs {
		p := filepath.Join(d, host)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
	}
	return ""
}

func addCA(pool *x509.CertPool, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return nil
}

// loadCertDir adds dir's *.crt to pool and returns its *.cert + *.key
// client key pairs (podman's and Docker's layout).
func loadCertDir(pool *x509.CertPool, dir string) ([]tls.Certificate, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var certs []tls.Certificate
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			if err := addCA(pool, p); err != nil {
				return nil, err
			}
		case strings.HasSuffix(e.Name(), ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s (key %s): %v", p, key, err)
			}
			certs = append(certs, pair)
		case strings.HasSuffix(e.Name(), ".key"):
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("client key %s has no %s.cert beside it", p, strings.TrimSuffix(e.Name(), ".key"))
			}
		}
	}
	return certs, nil
}

// guardTransport refuses plain HTTP to non-loopback hosts unless the user
// marked them insecure (go-containerregistry would otherwise fall back to
// HTTP for private-network addresses silently), lets token realms on
// private addresses through where the rule in realm.go allows them, and
// logs with --debug.
type guardTransport struct {
	inner  http.RoundTripper
	opts   Options
	realms *privateRealms
	debugf func(string, ...any)
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.realms != nil {
		req = g.realms.resolve(req)
	}
	if req.URL.Scheme == "http" && !g.opts.insecure(req.URL.Host) && !isLoopback(req.URL.Hostname()) {
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
	if err == nil && g.realms != nil {
		g.realms.rewrite(req, resp, g.opts.insecure(req.URL.Host))
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
