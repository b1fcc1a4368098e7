// Package regconf reads containers-registries.conf(5), version 2, as
// podman and skopeo do, and says where to pull an image from: short-name
// aliases and unqualified-search-registries for names without a
// registry, location rewrites, mirrors (pull-from-mirror), blocked and
// insecure registries.
package regconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// SystemFile and SystemDir are the system-wide places.
const (
	SystemFile = "/etc/containers/registries.conf"
	SystemDir  = "/etc/containers/registries.conf.d"
)

// Registry is a [[registry]] table.
type Registry struct {
	Prefix             string   `toml:"prefix"`
	Location           string   `toml:"location"`
	Insecure           bool     `toml:"insecure"`
	Blocked            bool     `toml:"blocked"`
	MirrorByDigestOnly bool     `toml:"mirror-by-digest-only"`
	Mirrors            []Mirror `toml:"mirror"`
}

// Mirror is a [[registry.mirror]] table.
type Mirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure"`
	PullFromMirror string `toml:"pull-from-mirror"` // all (default), digest-only, tag-only
}

type file struct {
	UnqualifiedSearch *[]string         `toml:"unqualified-search-registries"`
	ShortNameMode     string            `toml:"short-name-mode"`
	Registries        []Registry        `toml:"registry"`
	Aliases           map[string]string `toml:"aliases"`
}

// Config is the merged configuration.
type Config struct {
	// Files are the files read, in order.
	Files          []string
	Search         []string
	ShortNameMode  string
	Registries     []Registry
	Aliases        map[string]string
	searchExplicit bool
}

// Paths returns the main file and the drop-in directories read, given
// --registries-conf (or ""), as containers/image chooses them.
func Paths(explicit string) (string, []string) {
	home, _ := os.UserHomeDir()
	userFile := filepath.Join(home, ".config", "containers", "registries.conf")
	userDir := filepath.Join(home, ".config", "containers", "registries.conf.d")
	if explicit == "" {
		explicit = os.Getenv("CONTAINERS_REGISTRIES_CONF")
	}
	if explicit != "" {
		return explicit, []string{SystemDir, userDir}
	}
	if _, err := os.Stat(userFile); err == nil {
		return userFile, []string{userDir}
	}
	return SystemFile, []string{SystemDir, userDir}
}

// Load reads the main file (which must exist when named explicitly) and
// the *.conf files of the drop-in directories in name order; a later
// file's [[registry]] replaces an earlier one of the same prefix, its
// aliases are added, and its unqualified-search-registries and
// short-name-mode replace earlier ones when it sets them.
func Load(explicit string) (*Config, error) {
	main, dirs := Paths(explicit)
	c := &Config{Aliases: map[string]string{}}
	if err := c.read(main, explicit != "" || os.Getenv("CONTAINERS_REGISTRIES_CONF") != ""); err != nil {
		return nil, err
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		var names []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if err := c.read(filepath.Join(d, n), true); err != nil {
				return nil, err
			}
		}
	}
	for i := range c.Registries {
		if err := c.Registries[i].check(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) read(path string, mustExist bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registries.conf: %w", err)
	}
	var f file
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return fmt.Errorf("registries.conf %s: %v", path, err)
	}
	if md.IsDefined("registries", "search") || md.IsDefined("registries", "insecure") || md.IsDefined("registries", "block") {
		return fmt.Errorf("registries.conf %s: the version 1 format ([registries.search] and the like) is not supported; write [[registry]] tables (version 2)", path)
	}
	c.Files = append(c.Files, path)
	if f.UnqualifiedSearch != nil {
		c.Search, c.searchExplicit = *f.UnqualifiedSearch, true
	}
	if f.ShortNameMode != "" {
		switch f.ShortNameMode {
		case "enforcing", "permissive", "disabled":
		default:
			return fmt.Errorf("registries.conf %s: short-name-mode %q: want enforcing, permissive or disabled", path, f.ShortNameMode)
		}
		c.ShortNameMode = f.ShortNameMode
	}
	for k, v := range f.Aliases {
		c.Aliases[k] = v
	}
	for _, r := range f.Registries {
		if r.Prefix == "" {
			r.Prefix = r.Location
		}
		kept := c.Registries[:0]
		for _, old := range c.Registries {
			if old.Prefix != r.Prefix {
				kept = append(kept, old)
			}
		}
		c.Registries = append(kept, r)
	}
	return nil
}

func (r Registry) check() error {
	if r.Prefix == "" {
		return fmt.Errorf("registries.conf: a [[registry]] has neither prefix nor location")
	}
	if strings.HasPrefix(r.Prefix, "*.") && r.Location != "" {
		return fmt.Errorf("registries.conf: [[registry]] prefix %q: a wildcard prefix cannot have a location", r.Prefix)
	}
	for _, m := range r.Mirrors {
		switch m.PullFromMirror {
		case "", "all", "digest-only", "tag-only":
		default:
			return fmt.Errorf("registries.conf: [[registry]] %q: mirror %q: pull-from-mirror %q: want all, digest-only or tag-only", r.Prefix, m.Location, m.PullFromMirror)
		}
		if m.Location == "" {
			return fmt.Errorf("registries.conf: [[registry]] %q: a mirror without location", r.Prefix)
		}
	}
	return nil
}

// find returns the [[registry]] whose prefix matches name (host/path, no
// tag or digest) best: the longest, wildcards ("*.example.com") only
// for hosts below them.
func (c *Config) find(name string) *Registry {
	var best *Registry
	bestLen := -1
	host, _, _ := strings.Cut(name, "/")
	for i := range c.Registries {
		r := &c.Registries[i]
		p := r.Prefix
		n := 0
		if strings.HasPrefix(p, "*.") {
			if !strings.HasSuffix(host, p[1:]) {
				continue
			}
			n = len(p)
		} else if name == p || strings.HasPrefix(name, p+"/") {
			n = len(p)
		} else {
			continue
		}
		if n > bestLen {
			best, bestLen = r, n
		}
	}
	return best
}
