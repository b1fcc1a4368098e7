package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/platform"
	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Commands that ask a registry and store nothing: digest, list-tags,
// catalog, delete (inspect docker://REF is in cmd_inspect.go).

func init() {
	register(&command{
		Name:    "digest",
		Args:    "[docker://]REF",
		Summary: "print the digest of an image in its registry (with --platform: of that platform's manifest in an index)",
		Run:     runDigest,
	})
	register(&command{
		Name:    "list-tags",
		Args:    "[docker://]REPOSITORY",
		Summary: "list the tags of a repository in its registry",
		Run:     runListTags,
	})
	register(&command{
		Name:    "catalog",
		Args:    "REGISTRY",
		Summary: "list the repositories of a registry (where it allows /v2/_catalog)",
		Run:     runCatalog,
	})
	register(&command{
		Name:    "delete",
		Args:    "docker://REF",
		Summary: "delete an image manifest from its registry (every tag pointing to that digest goes with it)",
		Run:     runDelete,
	})
}

func runDigest(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 1, "REF"); err != nil {
		return err
	}
	ref, _, top, err := g.remoteManifest(ctx, args[0])
	if err != nil {
		return err
	}
	desc := top.Desc
	// Like crane digest: the index's own digest unless a platform is named.
	if store.IsIndex(desc.MediaType) && g.PlatformStr != "" {
		var idx ocispec.Index
		if err := json.Unmarshal(top.Raw, &idx); err != nil {
			return fmt.Errorf("%s: index %s: %v", ref, desc.Digest, err)
		}
		child, err := platform.Select(idx, g.Platform)
		if err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		desc = child
	}
	if g.JSON() {
		return g.PrintJSON(map[string]any{"name": ref.String(), "digest": desc.Digest, "mediaType": desc.MediaType, "size": desc.Size})
	}
	fmt.Fprintln(g.Stdout, desc.Digest)
	return nil
}

// parseRepository parses a repository name, refusing a tag or digest.
func parseRepository(g *Globals, s string) (reference.Reference, error) {
	bare := strings.TrimPrefix(s, "docker://")
	if strings.Contains(bare, "@") || strings.Contains(bare[strings.LastIndex(bare, "/")+1:], ":") {
		return reference.Reference{}, usagef("%q: want a repository without tag or digest", s)
	}
	return g.ParseRef(bare)
}

func runListTags(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 1, "REPOSITORY"); err != nil {
		return err
	}
	ref, err := parseRepository(g, args[0])
	if err != nil {
		return err
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	tags, err := client.Tags(ctx, ref)
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(map[string]any{"repository": ref.Name(), "tags": nonNil(tags)})
	}
	for _, t := range tags {
		fmt.Fprintln(g.Stdout, t)
	}
	return nil
}

func runCatalog(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 1, "REGISTRY"); err != nil {
		return err
	}
	host, err := registryHost(strings.TrimPrefix(args[0], "docker://"))
	if err != nil {
		return err
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	repos, err := client.Catalog(ctx, host)
	if err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(map[string]any{"registry": host, "repositories": nonNil(repos)})
	}
	for _, r := range repos {
		fmt.Fprintln(g.Stdout, r)
	}
	return nil
}

func runDelete(ctx context.Context, g *Globals, args []string) error {
	if err := wantArgs(args, 1, "docker://REF"); err != nil {
		return err
	}
	// The prefix is required, as skopeo does: delete is about the registry,
	// never the store (that is rm).
	if !strings.HasPrefix(args[0], "docker://") {
		return usagef("%q: delete takes docker://REF (to remove an image from the store, use rm)", args[0])
	}
	ref, err := g.ParseRef(args[0])
	if err != nil {
		return err
	}
	client, err := g.Registry()
	if err != nil {
		return err
	}
	d := ref.Digest
	if d == "" {
		_, _, m, err := g.remoteManifest(ctx, args[0])
		if err != nil {
			return err
		}
		d = m.Desc.Digest
	}
	if err := client.DeleteManifest(ctx, ref, d); err != nil {
		return err
	}
	if g.JSON() {
		return g.PrintJSON(map[string]any{"name": ref.String(), "deleted": d})
	}
	if !g.Quiet {
		fmt.Fprintf(g.Stdout, "deleted %s@%s\n", ref.Name(), d)
	}
	return nil
}

// nonNil makes an empty list print as [] rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
