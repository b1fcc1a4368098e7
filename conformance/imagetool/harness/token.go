package harness

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

const tokenIssuer = "berth-test-token-issuer"

// TokenServer is a minimal Docker token realm: it checks basic
// credentials, grants what was asked to a known user and pull of
// "public/…" repositories to anyone, and signs JWTs that the registry
// verifies with the x5c chain against RootBundle.
type TokenServer struct {
	URL        string
	RootBundle string
	// Issued counts tokens handed out.
	Issued atomic.Int64

	srv       *http.Server
	service   string
	user, pwd string
	certDER   []byte
	key       *ecdsa.PrivateKey
}

// StartTokenServer serves the realm on a loopback port.
func StartTokenServer(dir, service, user, password string) (*TokenServer, error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	_, der, key, err := ca.issue("berth-test-token-signer", false)
	if err != nil {
		return nil, err
	}
	ts := &TokenServer{service: service, user: user, pwd: password, certDER: der, key: key,
		RootBundle: filepath.Join(dir, "token-ca.crt")}
	if err := os.WriteFile(ts.RootBundle, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// A loopback IP literal on a port of its own: the setup
	// go-containerregistry refuses (SSRF protection) and berth-image
	// allows for a registry on loopback (imagetool/registry/realm.go).
	ts.URL = fmt.Sprintf("http://127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
	ts.srv = &http.Server{Handler: http.HandlerFunc(ts.serve)}
	go ts.srv.Serve(l)
	return ts, nil
}

// Close stops the server.
func (ts *TokenServer) Close() { ts.srv.Close() }

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	user, pwd, hasAuth := r.BasicAuth()
	if hasAuth && (user != ts.user || pwd != ts.pwd) {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"wrong user name or password"}]}`, http.StatusUnauthorized)
		return
	}
	var grants []access
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 {
			continue
		}
		actions := strings.Split(parts[2], ",")
		if !hasAuth {
			if !strings.HasPrefix(parts[1], "public/") {
				continue
			}
			actions = []string{"pull"}
		}
		grants = append(grants, access{Type: parts[0], Name: parts[1], Actions: actions})
	}
	tok, err := ts.sign(user, grants)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ts.Issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// sign makes an ES256 JWT with the signing certificate in x5c.
func (ts *TokenServer) sign(subject string, grants []access) (string, error) {
	now := time.Now()
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}}
	jti := make([]byte, 8)
	rand.Read(jti)
	claims := map[string]any{
		"iss": tokenIssuer, "sub": subject, "aud": ts.service,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprintf("%x", jti), "access": grants,
	}
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := enc(header)
	if err != nil {
		return "", err
	}
	c, err := enc(claims)
	if err != nil {
		return "", err
	}
	input := h + "." + c
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
