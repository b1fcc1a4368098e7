package imagetool

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// signer is a key pair the test generates; it signs images as cosign
// does, with sigstore's Go libraries (payload and signer), and stores the
// signature in the registry as cosign's sha256-<hex>.sig manifest. (Debian
// builds skopeo and podman with sigstore disabled, so neither can sign or
// check these.)
type signer struct {
	sv  signature.SignerVerifier
	pub string // PEM public key file, for policies
}

func newSigner(t *testing.T) signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	s := signer{sv: sv, pub: filepath.Join(t.TempDir(), "key.pub")}
	if err := os.WriteFile(s.pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// sign stores a signature of manifest d in repo of r, claiming identity.
func (s signer) sign(t *testing.T, r *harness.Registry, repo string, d digest.Digest, identity string) {
	t.Helper()
	img, err := name.NewDigest(r.Addr + "/" + repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	pl, err := payload.Cosign{Image: img, ClaimedIdentity: identity}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		t.Fatal(err)
	}
	putSignature(t, r, repo, d, pl, base64.StdEncoding.EncodeToString(sig))
}

// putSignature uploads payload as the one layer of the .sig manifest of d.
func putSignature(t *testing.T, r *harness.Registry, repo string, d digest.Digest, pl []byte, sig string) {
	t.Helper()
	plDigest, err := r.UploadBlob(repo, pl)
	if err != nil {
		t.Fatal(err)
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[%q]}}`, plDigest))
	cfgDigest, err := r.UploadBlob(repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: plDigest, Size: int64(len(pl)),
			Annotations: map[string]string{"dev.cosignproject.cosign/signature": sig}}},
	}
	b, _ := json.Marshal(m)
	if err := r.PutManifest(repo, sigTag(d), ocispec.MediaTypeImageManifest, b); err != nil {
		t.Fatal(err)
	}
}

// writePolicy writes a containers-policy.json and returns its path.
func writePolicy(t *testing.T, transports map[string]map[string][]map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"default": []map[string]any{{"type": "insecureAcceptAnything"}}, "transports": transports})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignaturePolicy signs images with keys the test makes and checks
// that berth-image enforces containers-policy.json on pull, copy and
// bundle: signed images pass; unsigned, re-tagged, wrongly keyed, wrongly
// named and tampered ones are refused with the rule named, before anything
// is stored.
func TestSignaturePolicy(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	good, other := newSigner(t), newSigner(t)
	l := newLayout(t)
	app := l.image(t, "app", busybox(t))
	evil := l.image(t, "evil", busybox(t, harness.Layer{Files: []harness.File{{Path: "etc/evil", Data: []byte("x"), Mode: 0o644}}}))
	for _, repo := range []string{"signed/app", "signed/unsigned", "signed/otherkey", "signed/exact", "blocked/app"} {
		l.push(t, reg, "app", repo+":v1")
	}
	good.sign(t, reg, "signed/app", app.Digest, reg.Addr+"/signed/app:v1")
	good.sign(t, reg, "signed/exact", app.Digest, reg.Addr+"/signed/exact:v2") // signed for another tag
	other.sign(t, reg, "signed/otherkey", app.Digest, reg.Addr+"/signed/otherkey:v1")

	rule := []map[string]any{{"type": "sigstoreSigned", "keyPath": good.pub}} // signedIdentity: matchRepoDigestOrExact
	pol := writePolicy(t, map[string]map[string][]map[string]any{
		"docker": {reg.Addr + "/signed": rule, reg.Addr + "/blocked": {{"type": "reject"}}},
		"oci":    {"": {{"type": "reject"}}},
	})
	ruleName := fmt.Sprintf(`transports.docker["%s/signed"][0] (sigstoreSigned)`, reg.Addr)
	refused := func(ref string, why ...string) {
		t.Helper()
		st := t.TempDir()
		mustFail(t, nil, []string{"--store", st, "--policy", pol, "pull", "-q", ref}, append([]string{"refused by the trust policy", pol}, why...)...)
		if blobs, _ := os.ReadDir(filepath.Join(st, "blobs", "sha256")); len(blobs) != 0 || len(listJSON(t, st)) != 0 {
			t.Fatalf("refused pull of %s stored %d blobs", ref, len(blobs))
		}
	}

	// Signed: accepted by tag and by digest; the signature is not stored.
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "--policy", pol, "pull", "-q", reg.Addr+"/signed/app:v1")
	mustRun(t, nil, "--store", st, "--policy", pol, "pull", "-q", reg.Addr+"/signed/exact@"+app.Digest.String())
	if n := len(listJSON(t, st)); n != 2 {
		t.Fatalf("%d images after two signed pulls", n)
	}
	refused(reg.Addr+"/signed/exact:v1", "claims identity "+reg.Addr+"/signed/exact:v2", "matchRepoDigestOrExact")

	refused(reg.Addr+"/signed/unsigned:v1", ruleName, "has none", sigTag(app.Digest))
	refused(reg.Addr+"/signed/otherkey:v1", ruleName, "does not verify")
	refused(reg.Addr+"/blocked/app:v1", "rejects every image")

	// The tag moved to other content after signing: no signature for it.
	l.push(t, reg, "evil", "signed/app:v1")
	refused(reg.Addr+"/signed/app:v1", "has none", sigTag(evil.Digest))
	// A valid signature copied to the new content names the old digest.
	sigMan, err := reg.Get("/v2/signed/app/manifests/" + sigTag(app.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PutManifest("signed/app", sigTag(evil.Digest), ocispec.MediaTypeImageManifest, sigMan); err != nil {
		t.Fatal(err)
	}
	refused(reg.Addr+"/signed/app:v1", "signature is for manifest "+app.Digest.String())
	// A payload changed to name the new content no longer verifies.
	var m ocispec.Manifest
	json.Unmarshal(sigMan, &m)
	payload, err := reg.Get("/v2/signed/app/blobs/" + m.Layers[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	payload = []byte(strings.ReplaceAll(string(payload), app.Digest.String(), evil.Digest.String()))
	d, err := reg.UploadBlob("signed/app", payload)
	if err != nil {
		t.Fatal(err)
	}
	m.Layers[0].Digest, m.Layers[0].Size = d, int64(len(payload))
	tampered, _ := json.Marshal(m)
	if err := reg.PutManifest("signed/app", sigTag(evil.Digest), ocispec.MediaTypeImageManifest, tampered); err != nil {
		t.Fatal(err)
	}
	refused(reg.Addr+"/signed/app:v1", ruleName, "does not verify")

	// copy and bundle enforce the same policy; an oci: source meets its
	// transport's rule.
	out := t.TempDir()
	mustFail(t, nil, []string{"--policy", pol, "copy", "-q", "docker://" + reg.Addr + "/signed/unsigned:v1", "oci:" + out + ":x"}, ruleName)
	mustFail(t, nil, []string{"--policy", pol, "copy", "-q", "oci:" + l.dir + ":app", "oci:" + out + ":x"}, `transports.oci[""][0] (reject)`)
	bundle := filepath.Join(t.TempDir(), "b")
	mustFail(t, nil, []string{"--store", t.TempDir(), "--policy", pol, "bundle", "-q", reg.Addr + "/signed/unsigned:v1", bundle}, ruleName)
	if _, err := os.Stat(bundle); err == nil {
		t.Fatal("refused bundle left a directory")
	}
	// --insecure-policy accepts anything, as in skopeo.
	mustRun(t, nil, "--store", t.TempDir(), "--policy", pol, "--insecure-policy", "pull", "-q", reg.Addr+"/signed/unsigned:v1")

	// Bad policies fail before anything is fetched, naming the rule.
	for _, c := range []struct {
		rules []map[string]any
		want  string
	}{
		{[]map[string]any{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": good.pub}}, "signedBy"},
		{[]map[string]any{{"type": "sigstoreSigned"}}, "needs keyPath"},
		{[]map[string]any{{"type": "sigstoreSigned", "keyPath": "/nonexistent.pub"}}, "/nonexistent.pub"},
		{[]map[string]any{{"type": "acceptSometimes"}}, `unknown requirement type "acceptSometimes"`},
	} {
		bad := writePolicy(t, map[string]map[string][]map[string]any{"docker": {"x.example": c.rules}})
		mustFail(t, nil, []string{"--store", t.TempDir(), "--policy", bad, "pull", reg.Addr + "/signed/app:v1"}, bad, `transports.docker["x.example"][0]`, c.want)
	}
}

func sigTag(d digest.Digest) string { return "sha256-" + d.Encoded() + ".sig" }
