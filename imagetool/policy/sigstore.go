package policy

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Cosign-style ("simple signing") signatures as cosign and skopeo
// (--sign-by-sigstore-private-key with use-sigstore-attachments) store
// them: an image manifest tagged sha256-<hex>.sig next to the image, whose
// layers are JSON payloads naming the signed manifest digest and the
// image's reference, each with its signature in an annotation. The
// signature is checked with Go's crypto packages: ECDSA (ASN.1) or RSA
// PKCS#1 v1.5 over the payload's SHA-256, or Ed25519 over the payload, as
// sigstore's signature.LoadVerifier does.

const (
	// SignatureMediaType is the layer media type of a signature payload.
	SignatureMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds the base64 signature of the payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// payloadType is the critical.type every payload must have.
	payloadType = "cosign container image signature"
)

// SignatureTag is the tag the signatures of manifest d are stored under.
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// Signature is one payload with its signature.
type Signature struct {
	Payload   []byte
	Signature []byte
}

// payload is the part of the simple-signing payload that is checked.
type payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

type publicKey = crypto.PublicKey

// parsePublicKey reads a PEM "PUBLIC KEY" (PKIX: ECDSA, RSA, Ed25519).
func parsePublicKey(b []byte) (publicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("public key: no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %v", err)
	}
	switch k.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("public key: unsupported type %T", k)
}

func verifySignature(k publicKey, data, sig []byte) bool {
	sum := sha256.Sum256(data)
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, data, sig)
	}
	return false
}

// verifySigstore accepts the image when one of its signatures verifies
// with one of the rule's keys, names d, and claims an identity the rule's
// signedIdentity accepts for ref. The error says why the closest
// candidate failed.
func (r Requirement) verifySigstore(ctx context.Context, ref reference.Reference, d digest.Digest, sigs Signatures) error {
	list, err := sigs.Fetch(ctx, d)
	if err != nil {
		return fmt.Errorf("reading signatures: %w", err)
	}
	if len(list) == 0 {
		return fmt.Errorf("a signature is required, but the image has none (looked for %s)", sigs.Where(d))
	}
	var why error
	for _, s := range list {
		err := r.verifyOne(ref, d, s)
		if err == nil {
			return nil
		}
		// Prefer reporting a signature that verified but did not match.
		if why == nil || !errors.Is(err, errBadSignature) {
			why = err
		}
	}
	return fmt.Errorf("none of %d signature(s) is acceptable: %w", len(list), why)
}

var errBadSignature = errors.New("signature does not verify with the policy's key(s)")

func (r Requirement) verifyOne(ref reference.Reference, d digest.Digest, s Signature) error {
	ok := false
	for _, k := range r.keys {
		if verifySignature(k, s.Payload, s.Signature) {
			ok = true
			break
		}
	}
	if !ok {
		return errBadSignature
	}
	var p payload
	if err := json.Unmarshal(s.Payload, &p); err != nil {
		return fmt.Errorf("signed payload: %v", err)
	}
	if p.Critical.Type != payloadType {
		return fmt.Errorf("signed payload has type %q, want %q", p.Critical.Type, payloadType)
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return fmt.Errorf("signature is for manifest %s, not %s", p.Critical.Image.DockerManifestDigest, d)
	}
	return r.SignedIdentity.matches(ref, p.Critical.Identity.DockerReference)
}

// check validates a signedIdentity; nil means matchRepoDigestOrExact.
func (id *Identity) check() error {
	if id == nil {
		return nil
	}
	switch id.Type {
	case "matchExact", "matchRepoDigestOrExact", "matchRepository":
	case "exactReference":
		if _, err := reference.Parse(id.DockerReference, false); err != nil {
			return err
		}
	case "exactRepository":
		if _, err := reference.Parse(id.DockerRepository, false); err != nil {
			return err
		}
	case "remapIdentity":
		return errors.New("remapIdentity is not supported by berth-image")
	default:
		return fmt.Errorf("unknown type %q", id.Type)
	}
	return nil
}

// matches checks the identity a signature claims against ref.
func (id *Identity) matches(ref reference.Reference, claimed string) error {
	sig, err := reference.Parse(claimed, false)
	if err != nil {
		return fmt.Errorf("signature claims identity %q: %v", claimed, err)
	}
	typ := "matchRepoDigestOrExact"
	if id != nil {
		typ = id.Type
	}
	same := func(a, b reference.Reference) bool { return a.String() == b.String() }
	ok := false
	switch typ {
	case "matchExact":
		ok = ref.Digest == "" && same(ref, sig)
	case "matchRepoDigestOrExact":
		if ref.Digest != "" {
			ok = ref.Name() == sig.Name()
		} else {
			ok = same(ref, sig)
		}
	case "matchRepository":
		ok = ref.Name() == sig.Name()
	case "exactReference":
		want, _ := reference.Parse(id.DockerReference, false)
		ok = same(want, sig)
	case "exactRepository":
		want, _ := reference.Parse(id.DockerRepository, false)
		ok = want.Name() == sig.Name()
	}
	if !ok {
		return fmt.Errorf("signature claims identity %s, which signedIdentity %s does not accept for %s", sig, typ, ref)
	}
	return nil
}

// RegistrySignatures reads signatures from the image's repository.
type RegistrySignatures struct {
	Repo *registry.Repo
	Name string // the repository, for messages
}

func (rs RegistrySignatures) Where(d digest.Digest) string {
	return rs.Name + ":" + SignatureTag(d)
}

// Fetch reads the sha256-<hex>.sig manifest and its signature layers.
func (rs RegistrySignatures) Fetch(ctx context.Context, d digest.Digest) ([]Signature, error) {
	m, err := rs.Repo.GetManifest(ctx, SignatureTag(d))
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, nil
		}
		return nil, err
	}
	if !store.IsManifest(m.Desc.MediaType) {
		return nil, fmt.Errorf("%s: %s is not an image manifest", rs.Where(d), m.Desc.MediaType)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(m.Raw, &man); err != nil {
		return nil, fmt.Errorf("%s: %v", rs.Where(d), err)
	}
	var out []Signature
	for _, l := range man.Layers {
		b64, ok := l.Annotations[SignatureAnnotation]
		if l.MediaType != SignatureMediaType || !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue // not a signature we can read; others may be
		}
		body, err := rs.Repo.GetSmallBlob(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rs.Where(d), err)
		}
		out = append(out, Signature{Payload: body, Signature: sig})
	}
	return out, nil
}
