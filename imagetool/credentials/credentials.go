// Package credentials finds registry credentials where Docker, podman and
// skopeo keep them, and parses the --creds flag.
//
// Search order, first match wins (a file without an entry for the registry
// is skipped, so the files complement each other):
//
//  1. --creds (or --src-creds / --dest-creds of copy): for every registry
//     the command talks to on that side;
//  2. --authfile, else $REGISTRY_AUTH_FILE: when given, the only file read;
//  3. the Docker config ($DOCKER_CONFIG/config.json, ~/.docker/config.json),
//     where `berth-image login` writes by default;
//  4. the containers auth file podman and skopeo write:
//     $XDG_RUNTIME_DIR/containers/auth.json, or /run/containers/<uid>/auth.json
//     when XDG_RUNTIME_DIR is unset (root's usual case);
//  5. $XDG_CONFIG_HOME/containers/auth.json (~/.config/containers/auth.json).
//
// Every file may name credential helpers (credsStore, credHelpers), which
// docker/cli's code runs. Entries are looked up by repository first
// ("host/ns/repo", "host/ns", as podman allows) and then by host.
package credentials

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain is an authn.Keychain over the files above.
type Keychain struct {
	// Creds, when set, answer for every registry.
	Creds *authn.AuthConfig
	// AuthFile, when set, is the only file searched.
	AuthFile string
}

// Files lists the credential files searched, in order (existing or not).
func Files(authFile string) []string {
	if authFile == "" {
		authFile = os.Getenv("REGISTRY_AUTH_FILE")
	}
	if authFile != "" {
		return []string{authFile}
	}
	files := []string{DockerConfigFile()}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		files = append(files, filepath.Join(rt, "containers", "auth.json"))
	} else {
		files = append(files, filepath.Join("/run/containers", strconv.Itoa(os.Getuid()), "auth.json"))
	}
	cfgHome := os.Getenv("XDG_CONFIG_HOME")
	if cfgHome == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfgHome = filepath.Join(home, ".config")
		}
	}
	if cfgHome != "" {
		files = append(files, filepath.Join(cfgHome, "containers", "auth.json"))
	}
	return files
}

// DockerConfigFile is $DOCKER_CONFIG/config.json or ~/.docker/config.json.
func DockerConfigFile() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// Load reads a credential file; a missing file is an empty one (with its
// name set, so that it can be saved).
func Load(path string) (*configfile.ConfigFile, error) {
	cf := configfile.New(path)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	if err := cf.LoadFromReader(f); err != nil {
		// The decoder's message never holds the file's secrets.
		return nil, fmt.Errorf("credentials file %s: %v", path, err)
	}
	return cf, nil
}

// Resolve implements authn.Keychain. r is a registry or a repository.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if k.Creds != nil {
		return authn.FromConfig(*k.Creds), nil
	}
	keys := lookupKeys(r)
	for _, path := range Files(k.AuthFile) {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		cf, err := Load(path)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			ac, err := lookup(cf, key)
			if err != nil {
				return nil, fmt.Errorf("credentials for %s from %s: %w", key, path, err)
			}
			if hasSecret(ac) {
				return authn.FromConfig(toAuthn(ac)), nil
			}
		}
	}
	return authn.Anonymous, nil
}

// lookupKeys are the keys r may be stored under, most specific first:
// "host/ns/repo", "host/ns", "host". Docker Hub is "docker.io" in podman's
// files and https://index.docker.io/v1/ in Docker's (which GetAuthConfig
// maps both host spellings to).
func lookupKeys(r authn.Resource) []string {
	host := r.RegistryStr()
	hosts := []string{host}
	if host == "index.docker.io" || host == "docker.io" {
		hosts = []string{"docker.io", "index.docker.io"}
	}
	path := strings.TrimPrefix(r.String(), host)
	if !strings.HasPrefix(path, "/") {
		path = ""
	}
	var keys []string
	for p := path; p != ""; p = p[:strings.LastIndex(p, "/")] {
		for _, h := range hosts {
			keys = append(keys, h+p)
		}
	}
	return append(keys, hosts...)
}

// lookup finds key in cf. A repository key ("host/ns") must match an
// entry exactly; a host also matches entries spelled as URLs
// ("https://host/v1/") and the file's credential helpers. (docker/cli's
// own lookup would also let a "host/ns" entry answer for all of host.)
func lookup(cf *configfile.ConfigFile, key string) (types.AuthConfig, error) {
	if ac, ok := cf.AuthConfigs[key]; ok && hasSecret(ac) {
		return ac, nil
	}
	if strings.Contains(key, "/") {
		return types.AuthConfig{}, nil
	}
	if cf.CredentialsStore != "" || cf.CredentialHelpers[key] != "" || (isHub(key) && cf.CredentialHelpers["https://index.docker.io/v1/"] != "") {
		return cf.GetAuthConfig(key)
	}
	for k, ac := range cf.AuthConfigs {
		if hostOfKey(k) == key && hasSecret(ac) {
			return ac, nil
		}
	}
	if isHub(key) {
		if ac, ok := cf.AuthConfigs["https://index.docker.io/v1/"]; ok && hasSecret(ac) {
			return ac, nil
		}
	}
	return types.AuthConfig{}, nil
}

func isHub(host string) bool { return host == "docker.io" || host == "index.docker.io" }

// hostOfKey is the host an entry key names when it names a whole
// registry ("host", "https://host", "https://host/v1/"), else "".
func hostOfKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	host, path, _ := strings.Cut(k, "/")
	switch strings.Trim(path, "/") {
	case "", "v1", "v2":
		return host
	}
	return ""
}

func hasSecret(ac types.AuthConfig) bool {
	return ac.Username != "" || ac.Password != "" || ac.IdentityToken != "" || ac.RegistryToken != "" || ac.Auth != ""
}

func toAuthn(ac types.AuthConfig) authn.AuthConfig {
	return authn.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	}
}

// ParseCreds reads USER[:PASSWORD] as skopeo's --creds does. A missing
// password is asked for with prompt (nil: the password is required).
func ParseCreds(flag, s string, prompt func(what string) (string, error)) (*authn.AuthConfig, error) {
	user, pass, hasPass := strings.Cut(s, ":")
	if user == "" {
		return nil, fmt.Errorf("%s: empty user name (want USER[:PASSWORD])", flag)
	}
	if !hasPass {
		if prompt == nil {
			return nil, fmt.Errorf("%s: no password after %q and no terminal to ask for one (want USER:PASSWORD)", flag, user)
		}
		p, err := prompt("Password for " + user)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		pass = p
	}
	return &authn.AuthConfig{Username: user, Password: pass}, nil
}
