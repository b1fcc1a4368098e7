package registry

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Token realms on private addresses.
//
// go-containerregistry (since its SSRF fix, #2258) refuses a bearer realm
// whose host is a private, loopback or link-local IP literal unless it is
// the registry's own host:port, so that a malicious registry cannot make
// the client fetch from the cloud metadata service or a service on the
// client's own network. A registry of one's own on 127.0.0.1:5000 or
// 192.168.1.10 with its token server on another port or host is then
// unusable. The rule here:
//
//   - a realm on a loopback address is allowed when the registry itself is
//     on loopback (127.0.0.0/8, ::1, localhost) or marked insecure;
//   - a realm on a private address (10/8, 172.16/12, 192.168/16, fc00::/7)
//     is allowed when the registry is on a loopback or private address or
//     marked insecure;
//   - a realm on a link-local (169.254/16, fe80::/10, the metadata
//     services), unspecified or multicast address is never allowed, and
//     public registries keep go-containerregistry's protection unchanged.
//
// "Marked insecure" is --insecure or `insecure = true` in registries.conf.
// The realm is let through by giving go-containerregistry a stand-in
// host name (random, under .invalid, so it can never resolve) that this
// transport maps back to the real address; only names handed out here
// are mapped, so a registry cannot use the mechanism to reach anything
// the rule refuses.

// RealmAllowed applies the rule above: may a registry at registryHost
// (host[:port]) send clients to a token realm at realmHost?
func RealmAllowed(registryHost, realmHost string, insecure bool) bool {
	realm, ok := ipLiteral(realmHost)
	if !ok {
		return true // a DNS name: go-containerregistry allows it too
	}
	if realm.IsLinkLocalUnicast() || realm.IsLinkLocalMulticast() || realm.IsUnspecified() || realm.IsMulticast() {
		return false
	}
	if !realm.IsLoopback() && !realm.IsPrivate() {
		return true
	}
	if insecure {
		return true
	}
	h := hostOnly(registryHost)
	reg, isIP := ipLiteral(h)
	regLoopback := h == "localhost" || isIP && reg.IsLoopback()
	if realm.IsLoopback() {
		return regLoopback
	}
	return regLoopback || isIP && reg.IsPrivate()
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func ipLiteral(host string) (netip.Addr, bool) {
	host, _, _ = strings.Cut(host, "%")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// privateRealms hands out and resolves the stand-in realm host names.
type privateRealms struct {
	mu      sync.Mutex
	aliases map[string]string // stand-in host → real host (IP literal)
	byReal  map[string]string // real host → stand-in host
}

func newPrivateRealms() *privateRealms {
	return &privateRealms{aliases: map[string]string{}, byReal: map[string]string{}}
}

const realmAliasSuffix = ".private-realm.berth.invalid"

// realmParam finds the realm of a challenge: realm="URL".
var realmParam = regexp.MustCompile(`(?i)(realm\s*=\s*")([^"]*)(")`)

// rewrite replaces, in the bearer challenges of resp to req, a realm the
// rule allows but go-containerregistry would refuse by its stand-in.
func (p *privateRealms) rewrite(req *http.Request, resp *http.Response, insecure bool) {
	vals := resp.Header.Values("WWW-Authenticate")
	if len(vals) == 0 {
		return
	}
	registry := req.URL.Host
	changed := false
	for i, v := range vals {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "bearer") {
			continue
		}
		vals[i] = realmParam.ReplaceAllStringFunc(v, func(m string) string {
			sub := realmParam.FindStringSubmatch(m)
			u, err := url.Parse(sub[2])
			if err != nil || u.Host == registry {
				return m
			}
			ip, isIP := ipLiteral(u.Hostname())
			if !isIP || !(ip.IsLoopback() || ip.IsPrivate()) || !RealmAllowed(registry, u.Hostname(), insecure) {
				return m // public, or refused: go-containerregistry decides
			}
			u.Host = p.alias(u.Hostname(), u.Port())
			changed = true
			return sub[1] + u.String() + sub[3]
		})
	}
	if changed {
		resp.Header.Del("WWW-Authenticate")
		for _, v := range vals {
			resp.Header.Add("WWW-Authenticate", v)
		}
	}
}

// alias returns the stand-in for host, with port appended if given.
func (p *privateRealms) alias(host, port string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.byReal[host]
	if !ok {
		b := make([]byte, 8)
		rand.Read(b)
		a = "r" + hex.EncodeToString(b) + realmAliasSuffix
		p.aliases[a], p.byReal[host] = host, a
	}
	if port != "" {
		return net.JoinHostPort(a, port)
	}
	return a
}

// resolve returns req aimed at the real host when it goes to a stand-in.
func (p *privateRealms) resolve(req *http.Request) *http.Request {
	h := req.URL.Hostname()
	if !strings.HasSuffix(h, realmAliasSuffix) {
		return req
	}
	p.mu.Lock()
	real, ok := p.aliases[h]
	p.mu.Unlock()
	if !ok {
		return req // not ours: it fails to resolve, as it should
	}
	r := req.Clone(req.Context())
	if port := req.URL.Port(); port != "" {
		r.URL.Host = net.JoinHostPort(real, port)
	} else {
		r.URL.Host = real
		if strings.Contains(real, ":") {
			r.URL.Host = "[" + real + "]"
		}
	}
	r.Host = ""
	return r
}
