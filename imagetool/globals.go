package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berthproject/berth/imagetool/credentials"
	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/policy"
	"github.com/berthproject/berth/imagetool/progress"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/regconf"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/google/go-containerregistry/pkg/authn"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Globals are the flags every command accepts, plus the output streams.
type Globals struct {
	StoreDir    string // --store
	Insecure    bool   // --insecure: allow plain HTTP and unverified TLS
	CAFile      string // --ca-file: extra CA bundle for registries
	CertDir     string // --cert-dir: *.crt CAs, *.cert/*.key client certs
	PlatformStr string // --platform os/arch[/variant]
	Quiet       bool   // --quiet: no progress output
	Format      string // --format text|json
	Debug       bool   // --debug: log registry traffic to stderr
	PolicyFile  string // --policy: containers-policy.json to enforce
	NoPolicy    bool   // --insecure-policy: accept any image
	RegConfFile string // --registries-conf: containers-registries.conf to read
	Creds       string // --creds USER[:PASSWORD] for every registry
	AuthFile    string // --authfile: the only credentials file read
	Streams     int    // --range-streams: connections for one large blob (0: automatic)

	// Platform is PlatformStr parsed (the host when not given).
	Platform ocispec.Platform

	Stdout, Stderr io.Writer

	// asked holds credentials parsed (and passwords asked for) per flag
	// value, so that one command asks once.
	asked map[string]*authn.AuthConfig
	// regConf is registries.conf, once read.
	regConf *regconf.Config
}

// RegistriesConf reads containers-registries.conf (once).
func (g *Globals) RegistriesConf() (*regconf.Config, error) {
	if g.regConf == nil {
		c, err := regconf.Load(g.RegConfFile)
		if err != nil {
			return nil, err
		}
		g.regConf = c
	}
	return g.regConf, nil
}

// defaults sets the flag defaults; define then uses the current values as
// defaults, so defining the flags again on a command's flag set keeps what
// was parsed before the command name.
func (g *Globals) defaults() {
	g.StoreDir = store.DefaultRoot()
	g.Format = "text"
}

func (g *Globals) define(fs *flag.FlagSet) {
	fs.StringVar(&g.StoreDir, "store", g.StoreDir, "image store `DIR`")
	fs.BoolVar(&g.Insecure, "insecure", g.Insecure, "allow plain HTTP and unverified TLS to registries")
	fs.StringVar(&g.CAFile, "ca-file", g.CAFile, "PEM `FILE` of extra CAs to trust for registries")
	fs.StringVar(&g.CertDir, "cert-dir", g.CertDir, "`DIR` with *.crt CAs and *.cert/*.key client certificates")
	fs.StringVar(&g.PlatformStr, "platform", g.PlatformStr, "`os/arch[/variant]` to select from an index (default: the host)")
	fs.BoolVar(&g.Quiet, "quiet", g.Quiet, "print no progress")
	fs.BoolVar(&g.Quiet, "q", g.Quiet, "short for --quiet")
	fs.StringVar(&g.Format, "format", g.Format, "output `FORMAT`: text or json")
	fs.BoolVar(&g.Debug, "debug", g.Debug, "log registry requests to stderr")
	fs.StringVar(&g.PolicyFile, "policy", g.PolicyFile, "trust policy `FILE` (containers-policy.json; default: ~/.config/containers/policy.json, then "+policy.SystemPath+")")
	fs.BoolVar(&g.NoPolicy, "insecure-policy", g.NoPolicy, "accept any image, ignoring the trust policy")
	fs.StringVar(&g.RegConfFile, "registries-conf", g.RegConfFile, "containers-registries.conf `FILE` (default: $CONTAINERS_REGISTRIES_CONF, ~/.config/containers/registries.conf, "+regconf.SystemFile+"; drop-ins from registries.conf.d)")
	fs.StringVar(&g.Creds, "creds", g.Creds, "`USER[:PASSWORD]` for the registry (asks for the password on a terminal when left out)")
	fs.IntVar(&g.Streams, "range-streams", g.Streams, "download a blob of 32 MiB or more over `N` connections in 8 MiB Range requests, when the registry answers them (1: one stream per blob; default: 4 when the first range shows one stream to be slow)")
	fs.StringVar(&g.AuthFile, "authfile", g.AuthFile, "read (and for login, write) credentials in `FILE` only (default: $REGISTRY_AUTH_FILE, else the Docker config and the containers auth.json files)")
}

// finish validates the parsed flags.
func (g *Globals) finish() error {
	if g.Format != "text" && g.Format != "json" {
		return fmt.Errorf("--format %q: want text or json", g.Format)
	}
	p, err := platform.Parse(g.PlatformStr)
	if err != nil {
		return fmt.Errorf("--platform: %v", err)
	}
	g.Platform = p
	if g.StoreDir == "" {
		return fmt.Errorf("--store: empty directory name")
	}
	if g.Streams < 0 || g.Streams > registry.MaxRangeStreams {
		return fmt.Errorf("--range-streams %d: want 1 to %d (0: automatic)", g.Streams, registry.MaxRangeStreams)
	}
	return nil
}

// JSON reports whether machine-readable output was asked for.
func (g *Globals) JSON() bool { return g.Format == "json" }

// OpenStore opens (creating if needed) the image store, saying so when
// that adds berth-image's files to another tool's layout.
func (g *Globals) OpenStore() (*store.Store, error) {
	s, err := store.Open(g.StoreDir)
	if err == nil && s.Adopted && !g.Quiet {
		fmt.Fprintf(g.Stderr, "note: %s is an OCI layout berth-image had not used: it now also holds berth-image's lock, index.lock and tmp/ (and locks/, cache/ as needed) next to oci-layout, index.json and blobs/; OCI tools ignore them, and berth-image gc removes blobs no index.json entry references\n", s.Root())
	}
	return s, err
}

// PrintJSON writes v as indented JSON to stdout.
func (g *Globals) PrintJSON(v any) error {
	enc := json.NewEncoder(g.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// processStart dates debug lines.
var processStart = time.Now()

// Debugf logs to stderr when --debug is set, with the time since start.
func (g *Globals) Debugf(format string, a ...any) {
	if g.Debug {
		fmt.Fprintf(g.Stderr, "debug: +%s "+format+"\n", append([]any{time.Since(processStart).Round(time.Millisecond)}, a...)...)
	}
}

// Registry returns a registry client configured by the global flags.
func (g *Globals) Registry() (*registry.Client, error) {
	return g.RegistryWithCreds("--creds", g.Creds)
}

// RegistryWithCreds is Registry with credentials given as the flag named
// (--creds, --src-creds, --dest-creds) says; "" means the credential files.
func (g *Globals) RegistryWithCreds(flag, creds string) (*registry.Client, error) {
	kc := &credentials.Keychain{AuthFile: g.AuthFile}
	if creds != "" {
		if g.asked == nil {
			g.asked = map[string]*authn.AuthConfig{}
		}
		if g.asked[creds] == nil {
			ac, err := credentials.ParseCreds(flag, creds, g.passwordPrompt())
			if err != nil {
				return nil, usagef("%v", err)
			}
			g.asked[creds] = ac
		}
		kc.Creds = g.asked[creds]
	}
	rc, err := g.RegistriesConf()
	if err != nil {
		return nil, err
	}
	opts := registry.Options{Insecure: g.Insecure, InsecureHost: rc.IsInsecure, CAFile: g.CAFile, CertDir: g.CertDir, Keychain: kc, RangeStreams: g.Streams}
	if g.Debug {
		opts.Debugf = g.Debugf
	}
	return registry.New(opts)
}

// ParseRef parses an image reference, honouring --insecure. A docker://
// prefix (skopeo's transport name, as copy takes it) is accepted.
func (g *Globals) ParseRef(s string) (reference.Reference, error) {
	return reference.Parse(strings.TrimPrefix(s, "docker://"), g.Insecure)
}

// Policy loads the trust policy the flags name.
func (g *Globals) Policy() (*policy.Policy, error) {
	path := policy.Locate(g.PolicyFile)
	if g.NoPolicy || path == "" {
		return policy.AcceptAnything(), nil
	}
	return policy.Load(path)
}

// verifier is the pull.Options.Verify that enforces the trust policy for
// ref, loading it first (a bad policy fails before anything is fetched).
func (g *Globals) verifier(ref reference.Reference) (func(context.Context, *registry.Repo, ocispec.Descriptor) error, error) {
	p, err := g.Policy()
	if err != nil {
		return nil, err
	}
	return policy.Verifier(p, ref), nil
}

// Progress returns the progress reporter the flags ask for (on stderr, so
// that stdout stays parseable).
func (g *Globals) Progress() progress.Reporter {
	return progress.New(g.Stderr, g.Quiet, g.Format)
}
