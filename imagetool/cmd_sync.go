package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berthproject/berth/imagetool/pull"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/transfer"
)

// sync copies many images, in skopeo sync's two forms: every tag of a
// repository (or one image), or the images a YAML file lists, into a
// registry namespace or an OCI layout.

func init() {
	var o syncOptions
	register(&command{
		Name:    "sync",
		Args:    "SOURCE DESTINATION",
		Summary: "copy every tag of a repository, or the images a YAML file lists, to a registry namespace or an OCI layout (skopeo sync)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.src, "src", "docker", "`KIND` of SOURCE: docker (a repository: all its tags, or one image) or yaml (a file in skopeo sync's format)")
			fs.StringVar(&o.dest, "dest", "docker", "`KIND` of DESTINATION: docker (host[:port][/namespace]) or oci (a layout directory holding every image)")
			fs.BoolVar(&o.scoped, "scoped", false, "name images at the destination by their whole source path (host/ns/repo) rather than the last part (repo)")
			fs.BoolVar(&o.all, "all", false, "copy every image of an index, not just the --platform one")
			fs.IntVar(&o.jobs, "jobs", pull.DefaultJobs, "transfer at most `N` blobs at once")
		},
		Run: func(ctx context.Context, g *Globals, args []string) error {
			if err := wantArgs(args, 2, "SOURCE and DESTINATION"); err != nil {
				return err
			}
			return runSync(ctx, g, o, args[0], args[1])
		},
	})
}

type syncOptions struct {
	src, dest   string
	scoped, all bool
	jobs        int
}

func runSync(ctx context.Context, g *Globals, o syncOptions, source, dest string) error {
	if o.dest != "docker" && o.dest != "oci" {
		return usagef("--dest %q: want docker or oci", o.dest)
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	var images []reference.Reference
	switch o.src {
	case "docker":
		images, err = syncRepository(ctx, g, client, source)
	case "yaml":
		images, err = syncYAML(ctx, g, client, source)
	default:
		return usagef("--src %q: want docker or yaml", o.src)
	}
	if err != nil {
		return err
	}
	pol, err := g.Policy()
	if err != nil {
		return err
	}
	rep := g.Progress()
	defer rep.Close()
	results := []transfer.Result{}
	for _, ref := range images {
		dst, err := syncDestination(o, ref, dest)
		if err != nil {
			return err
		}
		res, err := transfer.Copy(ctx, transfer.Location{Transport: "docker", Ref: ref.String()}, dst, transfer.Options{
			Client: client, Policy: pol, Insecure: g.Insecure, Platform: g.Platform, All: o.all, Jobs: o.jobs, Progress: rep,
		})
		if err != nil {
			return fmt.Errorf("after %d of %d images: %w", len(results), len(images), err)
		}
		results = append(results, res)
		if !g.JSON() {
			fmt.Fprintf(g.Stdout, "synced %s to %s (%s)\n", res.Source, res.Destination, res.Descriptor.Digest)
		}
	}
	if g.JSON() {
		return g.PrintJSON(results)
	}
	return nil
}

// syncRepository lists what --src docker names: the image when SOURCE
// has a tag or digest, else every tag of the repository.
func syncRepository(ctx context.Context, g *Globals, client *registry.Client, source string) ([]reference.Reference, error) {
	bare := strings.TrimPrefix(source, "docker://")
	ref, err := g.ParseRef(bare)
	if err != nil {
		return nil, err
	}
	if strings.Contains(bare, "@") || strings.Contains(bare[strings.LastIndex(bare, "/")+1:], ":") {
		return []reference.Reference{ref}, nil
	}
	tags, err := client.Tags(ctx, ref)
	if err != nil {
		return nil, err
	}
	return withTags(g, ref, tags)
}

func withTags(g *Globals, repo reference.Reference, tags []string) ([]reference.Reference, error) {
	var out []reference.Reference
	for _, t := range tags {
		r, err := g.ParseRef(repo.Name() + ":" + t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// syncFile is skopeo sync's YAML: per registry, images with their tags
// (none: every tag; a digest is accepted as a tag) and images whose tags
// match a regular expression.
type syncFile map[string]registryEntry

type registryEntry struct {
	Images           map[string][]string `yaml:"images"`
	ImagesByTagRegex map[string]string   `yaml:"images-by-tag-regex"`
	TLSVerify        *bool               `yaml:"tls-verify"`
}

func syncYAML(ctx context.Context, g *Globals, client *registry.Client, file string) ([]reference.Reference, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var f syncFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // credentials, cert-dir, …: not read here, so refused
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v (berth-image reads images, images-by-tag-regex and tls-verify; credentials come from the usual files and flags)", file, err)
	}
	var out []reference.Reference
	hosts := make([]string, 0, len(f))
	for h := range f {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, host := range hosts {
		reg := f[host]
		if reg.TLSVerify != nil && !*reg.TLSVerify && !g.Insecure && !strings.HasPrefix(host, "localhost") && !strings.HasPrefix(host, "127.") {
			return nil, fmt.Errorf("%s: %s: tls-verify: false needs --insecure", file, host)
		}
		for _, name := range sortedMapKeys(reg.Images) {
			repo, err := g.ParseRef(host + "/" + name)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", file, name, err)
			}
			tags := reg.Images[name]
			if len(tags) == 0 {
				if tags, err = client.Tags(ctx, repo); err != nil {
					return nil, err
				}
			}
			for _, t := range tags {
				sep := ":"
				if strings.Contains(t, ":") {
					sep = "@" // a digest
				}
				r, err := g.ParseRef(repo.Name() + sep + t)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %v", file, name, err)
				}
				out = append(out, r)
			}
		}
		for _, name := range sortedMapKeys(reg.ImagesByTagRegex) {
			re, err := regexp.Compile(reg.ImagesByTagRegex[name])
			if err != nil {
				return nil, fmt.Errorf("%s: %s: images-by-tag-regex: %v", file, name, err)
			}
			repo, err := g.ParseRef(host + "/" + name)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", file, name, err)
			}
			all, err := client.Tags(ctx, repo)
			if err != nil {
				return nil, err
			}
			var tags []string
			for _, t := range all {
				if re.MatchString(t) {
					tags = append(tags, t)
				}
			}
			more, err := withTags(g, repo, tags)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
	}
	return out, nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// syncDestination names ref at the destination: the repository's last
// path element (or, --scoped, host and path) with the tag or digest,
// under the namespace (docker) or in the layout (oci).
func syncDestination(o syncOptions, ref reference.Reference, dest string) (transfer.Location, error) {
	name := path.Base(ref.Repository)
	if o.scoped {
		name = ref.Registry + "/" + ref.Repository
	}
	if ref.Tag != "" {
		name += ":" + ref.Tag
	} else {
		name += "@" + ref.Digest.String()
	}
	if o.dest == "oci" {
		return transfer.Location{Transport: "oci", Path: dest, Ref: name}, nil
	}
	if ref.Tag == "" {
		return transfer.Location{}, fmt.Errorf("%s: pushing to a registry needs a tag", ref)
	}
	return transfer.Location{Transport: "docker", Ref: strings.TrimSuffix(strings.TrimPrefix(dest, "docker://"), "/") + "/" + name}, nil
}
