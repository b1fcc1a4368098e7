package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthproject/berth/imagetool/credentials"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
)

// Credentials go to the Docker config ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json), through its credential helper when it names
// one, which is where pull looks first; with --authfile (or
// $REGISTRY_AUTH_FILE) to that file, in the same format, which is
// podman's auth.json format too.

func init() {
	var user, password string
	var passwordStdin bool
	register(&command{
		Name:    "login",
		Args:    "REGISTRY",
		Summary: "check credentials for a registry and save them in the Docker config",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&user, "username", "", "user `NAME`")
			fs.StringVar(&user, "u", "", "short for --username")
			fs.StringVar(&password, "password", "", "password (prefer --password-stdin)")
			fs.StringVar(&password, "p", "", "short for --password")
			fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if passwordStdin {
				if password != "" {
					return usagef("--password and --password-stdin together")
				}
				b, err := io.ReadAll(bufio.NewReader(os.Stdin))
				if err != nil {
					return fmt.Errorf("reading password from stdin: %w", err)
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			return runLogin(ctx, g, args, user, password, !passwordStdin)
		},
	})
	register(&command{
		Name:    "logout",
		Args:    "REGISTRY",
		Summary: "remove saved credentials for a registry",
		Run:     runLogout,
	})
}

// registryHost accepts "host[:port]" or an image reference and returns
// the registry host as written in credential files.
func registryHost(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	if !strings.Contains(s, "/") {
		if s == "" {
			return "", usagef("empty registry name")
		}
		return s, nil
	}
	r, err := reference.Parse(s, false)
	if err != nil {
		return "", err
	}
	return r.Registry, nil
}

// configKey is the key of host in the Docker config; Docker Hub's is
// historical.
func configKey(host string) string {
	if host == reference.DefaultRegistry || host == "index.docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

func runLogin(ctx context.Context, g *Globals, args []string, user, password string, mayPrompt bool) error {
	if err := wantArgs(args, 1, "REGISTRY"); err != nil {
		return err
	}
	host, err := registryHost(args[0])
	if err != nil {
		return err
	}
	// Left out on a terminal: asked for, as podman login does.
	if ask := g.linePrompt(); user == "" && ask != nil && mayPrompt {
		if user, err = ask("Username"); err != nil {
			return err
		}
	}
	if ask := g.passwordPrompt(); password == "" && user != "" && ask != nil && mayPrompt {
		if password, err = ask("Password"); err != nil {
			return err
		}
	}
	if user == "" || password == "" {
		return usagef("--username and a password (--password, --password-stdin, or typed at the prompt on a terminal) are required")
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	if err := client.CheckLogin(ctx, host, user, password); err != nil {
		return err
	}
	cf, err := g.credentialsFile()
	if err != nil {
		return err
	}
	key := configKey(host)
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{ServerAddress: key, Username: user, Password: password}); err != nil {
		return fmt.Errorf("saving credentials for %s: %w", host, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("saving %s: %w", cf.Filename, err)
	}
	if !g.Quiet {
		fmt.Fprintf(g.Stdout, "Login succeeded for %s (saved in %s)\n", host, cf.Filename)
	}
	return nil
}

func runLogout(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 1, "REGISTRY"); err != nil {
		return err
	}
	host, err := registryHost(args[0])
	if err != nil {
		return err
	}
	cf, err := g.credentialsFile()
	if err != nil {
		return err
	}
	key := configKey(host)
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		return fmt.Errorf("not logged in to %s (nothing in %s)", host, cf.Filename)
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return fmt.Errorf("removing credentials for %s: %w", host, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("saving %s: %w", cf.Filename, err)
	}
	if !g.Quiet {
		fmt.Fprintf(g.Stdout, "Removed credentials for %s\n", host)
	}
	return nil
}

// credentialsFile is the file login and logout change: --authfile, else
// $REGISTRY_AUTH_FILE, else the Docker config.
func (g *Globals) credentialsFile() (*configfile.ConfigFile, error) {
	path := g.AuthFile
	if path == "" {
		path = os.Getenv("REGISTRY_AUTH_FILE")
	}
	if path == "" {
		cf, err := config.Load(config.Dir())
		if err != nil {
			return nil, fmt.Errorf("docker config: %w", err)
		}
		return cf, nil
	}
	return credentials.Load(path)
}
