package registry

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRealmRule(t *testing.T) {
	for _, c := range []struct {
		registry, realm string
		insecure, want  bool
	}{
		{"127.0.0.1:5000", "127.0.0.1", false, true},
		{"localhost:5000", "127.0.0.1", false, true},
		{"[::1]:5000", "::1", false, true},
		{"192.168.1.10:5000", "192.168.1.11", false, true},
		{"10.0.0.5", "172.16.3.4", false, true},
		{"127.0.0.1:5000", "10.1.2.3", false, true},
		{"192.168.1.10:5000", "127.0.0.1", false, false}, // a LAN registry may not point at the client's own loopback
		{"192.168.1.10:5000", "127.0.0.1", true, true},
		{"registry.example.com", "10.1.2.3", false, false},
		{"registry.example.com", "10.1.2.3", true, true},
		{"registry.example.com", "127.0.0.1", false, false},
		{"127.0.0.1:5000", "169.254.169.254", false, false}, // metadata service: never
		{"127.0.0.1:5000", "169.254.169.254", true, false},
		{"127.0.0.1:5000", "fe80::1", true, false},
		{"127.0.0.1:5000", "0.0.0.0", true, false},
		{"registry.example.com", "auth.example.com", false, true},
		{"registry.example.com", "8.8.8.8", false, true},
	} {
		if got := RealmAllowed(c.registry, c.realm, c.insecure); got != c.want {
			t.Errorf("registry %s realm %s insecure %v: allowed %v, want %v", c.registry, c.realm, c.insecure, got, c.want)
		}
	}
}

func TestPrivateRealmStandIn(t *testing.T) {
	p := newPrivateRealms()
	challenge := func(registry, realm string) string {
		req := &http.Request{URL: &url.URL{Scheme: "http", Host: registry, Path: "/v2/"}}
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="reg"`)
		p.rewrite(req, resp, false)
		return resp.Header.Get("WWW-Authenticate")
	}
	got := challenge("127.0.0.1:5000", "http://127.0.0.1:5001/token")
	if strings.Contains(got, "127.0.0.1") || !strings.Contains(got, realmAliasSuffix+":5001/token") || !strings.HasSuffix(got, `service="reg"`) {
		t.Fatalf("loopback realm of a loopback registry: %s", got)
	}
	u, _ := url.Parse(got[strings.Index(got, `"`)+1 : strings.Index(got, `",`)])
	r := p.resolve(&http.Request{URL: u, Header: http.Header{}})
	if r.URL.Host != "127.0.0.1:5001" || r.URL.Path != "/token" {
		t.Fatalf("stand-in resolves to %s", r.URL)
	}
	// Refused or unneeded rewrites leave the challenge as it was.
	for _, c := range [][2]string{
		{"registry.example.com", "http://127.0.0.1:5001/token"},
		{"127.0.0.1:5000", "http://169.254.169.254/token"},
		{"127.0.0.1:5000", "http://127.0.0.1:5000/token"},
		{"127.0.0.1:5000", "https://auth.example.com/token"},
	} {
		if got := challenge(c[0], c[1]); !strings.Contains(got, c[1]) {
			t.Errorf("registry %s realm %s rewritten: %s", c[0], c[1], got)
		}
	}
	// A stand-in name the client did not hand out is not mapped.
	u, _ = url.Parse("http://r0123456789abcdef" + realmAliasSuffix + "/token")
	if r := p.resolve(&http.Request{URL: u}); r.URL.Host != u.Host {
		t.Fatalf("unknown stand-in mapped to %s", r.URL.Host)
	}
}
