// Package policy reads containers-policy.json(5), the trust policy skopeo
// and podman enforce, and decides whether an image may be pulled or
// copied: insecureAcceptAnything, reject, and sigstoreSigned with a public
// key (cosign-style signatures, see sigstore.go). The rule that refuses an
// image is named in the error: file, transport, scope and position.
package policy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SystemPath is the system-wide policy; a user's
// $XDG_CONFIG_HOME/containers/policy.json (~/.config/…) comes first, as
// in containers/image.
const SystemPath = "/etc/containers/policy.json"

// Policy is a parsed policy file.
type Policy struct {
	// Path is the file it came from ("" for the built-in accept-all).
	Path       string
	Default    []Requirement
	Transports map[string]map[string][]Requirement
}

// Requirement is one rule of a scope; all rules of the scope must hold.
type Requirement struct {
	Type string `json:"type"`
	// sigstoreSigned
	KeyPath        string          `json:"keyPath,omitempty"`
	KeyPaths       []string        `json:"keyPaths,omitempty"`
	KeyData        string          `json:"keyData,omitempty"`
	KeyDatas       []string        `json:"keyDatas,omitempty"`
	Fulcio         json.RawMessage `json:"fulcio,omitempty"`
	RekorPublicKey string          `json:"rekorPublicKeyPath,omitempty"`
	RekorKeyData   string          `json:"rekorPublicKeyData,omitempty"`
	SignedIdentity *Identity       `json:"signedIdentity,omitempty"`
	PKI            json.RawMessage `json:"pki,omitempty"`
	// signedBy (GPG) and signedBaseLayer, read so that a policy using
	// them gets a clear refusal rather than a parse error.
	KeyType           string          `json:"keyType,omitempty"`
	BaseLayerIdentity json.RawMessage `json:"baseLayerIdentity,omitempty"`

	keys []publicKey
	// where names the rule in errors, e.g. `transports.docker["x"][0]`.
	where string
}

// Identity is a signedIdentity: which docker-reference a signature must
// claim for the image being pulled.
type Identity struct {
	Type             string `json:"type"`
	DockerReference  string `json:"dockerReference,omitempty"`
	DockerRepository string `json:"dockerRepository,omitempty"`
}

// Locate returns the policy file to use: explicit, else the user's, else
// the system's; "" when none exists.
func Locate(explicit string) string {
	if explicit != "" {
		return explicit
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".config")
		}
	}
	for _, p := range []string{filepath.Join(cfg, "containers", "policy.json"), SystemPath} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// AcceptAnything is the policy when no file exists (skopeo refuses to
// run then; berth-image keeps working, as it did before it read policies).
func AcceptAnything() *Policy {
	return &Policy{Default: []Requirement{{Type: "insecureAcceptAnything", where: "built-in default (no policy.json)"}}}
}

// Load reads and checks the policy file at path. Keys are read now, so a
// bad key is an error before anything is fetched.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var raw struct {
		Default    []Requirement                       `json:"default"`
		Transports map[string]map[string][]Requirement `json:"transports"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("policy %s: %v", path, err)
	}
	if raw.Default == nil {
		return nil, fmt.Errorf("policy %s: \"default\" is missing (containers-policy.json(5) requires it)", path)
	}
	p := &Policy{Path: path, Default: raw.Default, Transports: raw.Transports}
	dir := filepath.Dir(path)
	if err := p.prepare(p.Default, "default", dir); err != nil {
		return nil, err
	}
	for tr, scopes := range p.Transports {
		for scope, reqs := range scopes {
			if err := p.prepare(reqs, fmt.Sprintf("transports.%s[%q]", tr, scope), dir); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// prepare checks each rule of reqs, names it, and loads its keys.
func (p *Policy) prepare(reqs []Requirement, where, dir string) error {
	if len(reqs) == 0 {
		return fmt.Errorf("policy %s: %s: empty list of requirements (use insecureAcceptAnything or reject)", p.Path, where)
	}
	for i := range reqs {
		r := &reqs[i]
		r.where = fmt.Sprintf("%s[%d] (%s)", where, i, r.Type)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("policy %s: %s: %s", p.Path, r.where, fmt.Sprintf(format, a...))
		}
		switch r.Type {
		case "insecureAcceptAnything", "reject":
		case "sigstoreSigned":
			if r.Fulcio != nil || r.PKI != nil || r.RekorPublicKey != "" || r.RekorKeyData != "" {
				return bad("fulcio, pki and rekor are not supported by berth-image; use keyPath or keyData")
			}
			var pems [][]byte
			for _, kp := range append([]string{r.KeyPath}, r.KeyPaths...) {
				if kp == "" {
					continue
				}
				if !filepath.IsAbs(kp) {
					kp = filepath.Join(dir, kp)
				}
				b, err := os.ReadFile(kp)
				if err != nil {
					return bad("keyPath: %v", err)
				}
				pems = append(pems, b)
			}
			for _, kd := range append([]string{r.KeyData}, r.KeyDatas...) {
				if kd == "" {
					continue
				}
				b, err := base64.StdEncoding.DecodeString(kd)
				if err != nil {
					return bad("keyData is not base64: %v", err)
				}
				pems = append(pems, b)
			}
			if len(pems) == 0 {
				return bad("needs keyPath, keyPaths, keyData or keyDatas")
			}
			for _, b := range pems {
				k, err := parsePublicKey(b)
				if err != nil {
					return bad("%v", err)
				}
				r.keys = append(r.keys, k)
			}
			if err := r.SignedIdentity.check(); err != nil {
				return bad("signedIdentity: %v", err)
			}
		case "signedBy":
			return bad("GPG signatures (signedBy) are not supported by berth-image; sigstoreSigned is")
		case "signedBaseLayer":
			return bad("signedBaseLayer is not supported by berth-image")
		default:
			return bad("unknown requirement type %q", r.Type)
		}
	}
	return nil
}

// ErrRefused is returned (wrapped) when the policy refuses an image.
var ErrRefused = errors.New("refused by the trust policy")

// Signatures gives the signatures stored for a manifest digest.
type Signatures interface {
	// Fetch returns the signatures of d; none is not an error.
	Fetch(ctx context.Context, d digest.Digest) ([]Signature, error)
	// Where says where they were looked for, for error messages.
	Where(d digest.Digest) string
}

// CheckRegistry decides whether the image ref, whose top-level manifest
// (an index's own digest for an index) is d, may be used.
func (p *Policy) CheckRegistry(ctx context.Context, ref reference.Reference, d digest.Digest, sigs Signatures) error {
	reqs := p.forRegistry(ref)
	for _, r := range reqs {
		if err := r.allows(ctx, ref, d, sigs); err != nil {
			return p.refusal(ref.String(), r, err)
		}
	}
	return nil
}

// CheckLayout decides for an image read from an OCI layout (transport
// "oci" or "oci-archive") at path: signatures are only looked up in
// registries, so a sigstoreSigned rule refuses it, as skopeo does.
func (p *Policy) CheckLayout(transport, path, name string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	reqs := p.forLayout(transport, abs, name)
	for _, r := range reqs {
		var err error
		switch r.Type {
		case "reject":
			err = errors.New("this rule rejects every image")
		case "sigstoreSigned":
			err = errors.New("a signature is required, and berth-image looks for signatures only in registries")
		}
		if err != nil {
			return p.refusal(transport+":"+abs, r, err)
		}
	}
	return nil
}

func (p *Policy) refusal(image string, r Requirement, err error) error {
	file := p.Path
	if file == "" {
		file = "built-in policy"
	}
	return fmt.Errorf("%s: %w: %s %s: %v", image, ErrRefused, file, r.where, err)
}

// allows checks one rule.
func (r Requirement) allows(ctx context.Context, ref reference.Reference, d digest.Digest, sigs Signatures) error {
	switch r.Type {
	case "insecureAcceptAnything":
		return nil
	case "reject":
		return errors.New("this rule rejects every image")
	}
	return r.verifySigstore(ctx, ref, d, sigs)
}

// forRegistry picks the most specific scope of transports.docker that
// matches ref (containers-policy.json(5): name:tag or name@digest, the
// repository, each namespace prefix, the host, *.domain wildcards), else
// the transport's "" scope, else default.
func (p *Policy) forRegistry(ref reference.Reference) []Requirement {
	scopes := p.Transports["docker"]
	var tries []string
	if ref.Digest != "" {
		tries = append(tries, ref.Name()+"@"+ref.Digest.String())
	}
	if ref.Tag != "" {
		tries = append(tries, ref.Name()+":"+ref.Tag)
	}
	for s := ref.Name(); ; {
		tries = append(tries, s)
		i := strings.LastIndex(s, "/")
		if i < 0 {
			break
		}
		s = s[:i]
	}
	// As containers/image: the port stays part of a wildcard's host.
	for h := ref.Registry; strings.Contains(h, "."); {
		_, h, _ = strings.Cut(h, ".")
		tries = append(tries, "*."+h)
	}
	tries = append(tries, "")
	return pickScope(scopes, tries, p.Default)
}

// forLayout picks path:name, path, then each parent directory, then "".
func (p *Policy) forLayout(transport, path, name string) []Requirement {
	var tries []string
	if name != "" {
		tries = append(tries, path+":"+name)
	}
	for d := path; ; d = filepath.Dir(d) {
		tries = append(tries, d)
		if d == "/" || d == "." {
			break
		}
	}
	tries = append(tries, "")
	return pickScope(p.Transports[transport], tries, p.Default)
}

func pickScope(scopes map[string][]Requirement, tries []string, def []Requirement) []Requirement {
	for _, s := range tries {
		if reqs, ok := scopes[s]; ok {
			return reqs
		}
	}
	return def
}

// Verifier returns a check for pull.Options.Verify: p applied to ref,
// with signatures read from the image's repository.
func Verifier(p *Policy, ref reference.Reference) func(context.Context, *registry.Repo, ocispec.Descriptor) error {
	return func(ctx context.Context, repo *registry.Repo, top ocispec.Descriptor) error {
		return p.CheckRegistry(ctx, ref, top.Digest, RegistrySignatures{Repo: repo, Name: ref.Name()})
	}
}
