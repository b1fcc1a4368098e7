package registry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuardRefusesPlainHTTPUnlessLoopbackOrInsecure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	g := &guardTransport{inner: http.DefaultTransport}
	for _, u := range []string{"http://10.1.2.3:5000/v2/", "http://registry.example:80/v2/"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("GET %s: err = %v, want refusal naming --insecure", u, err)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL, nil) // 127.0.0.1
	resp, err := g.RoundTrip(req)
	if err != nil {
		t.Fatalf("loopback plain HTTP refused: %v", err)
	}
	resp.Body.Close()
	g.opts.Insecure = true
	req, _ = http.NewRequest("GET", "http://10.1.2.3:5000/v2/", nil)
	req.URL.Host = strings.TrimPrefix(srv.URL, "http://") // reachable, but the check runs on the URL first
	if _, err := g.RoundTrip(req); err != nil {
		t.Fatalf("--insecure: %v", err)
	}
}
