package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/berthproject/berth/imagetool/reference"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Remote commands that need no blob path of our own (tag lists, the
// catalog, deletes) go through go-containerregistry's remote package,
// which also follows the registries' pagination links.

func (c *Client) remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(c.base), remote.WithAuthFromKeychain(c.opts.Keychain)}
}

// Tags lists the tags of ref's repository, every page of them.
func (c *Client) Tags(ctx context.Context, ref reference.Reference) ([]string, error) {
	tags, err := remote.List(ref.Repo(), c.remoteOpts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("%s: listing tags: %s", ref.Name(), describeErr(err))
	}
	return tags, nil
}

// Catalog lists the repositories of the registry at host (host[:port]),
// every page of them. Registries may refuse it (Docker Hub does).
func (c *Client) Catalog(ctx context.Context, host string) ([]string, error) {
	reg, err := name.NewRegistry(host, c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %v", host, err)
	}
	repos, err := remote.Catalog(ctx, reg, c.remoteOpts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("%s: catalog: %s", host, describeErr(err))
	}
	return repos, nil
}

// DeleteManifest deletes the manifest d from ref's repository. The
// distribution registry answers 405 (UNSUPPORTED) unless its config has
// storage.delete.enabled.
func (c *Client) DeleteManifest(ctx context.Context, ref reference.Reference, d digest.Digest) error {
	err := remote.Delete(ref.Repo().Digest(d.String()), c.remoteOpts(ctx)...)
	if err != nil {
		msg := describeErr(err)
		if strings.Contains(msg, "UNSUPPORTED") || strings.Contains(msg, "405") {
			msg += " (the registry does not allow deleting; the distribution registry needs storage.delete.enabled: true)"
		}
		return fmt.Errorf("%s@%s: delete: %s", ref.Name(), d, msg)
	}
	return nil
}

// GetSmallBlob fetches a config-sized blob (at most store.MaxManifestSize)
// into memory and checks its digest.
func (r *Repo) GetSmallBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > store.MaxManifestSize {
		return nil, fmt.Errorf("blob %s: %d bytes is over the %d byte limit", desc.Digest, desc.Size, store.MaxManifestSize)
	}
	sink := &memSink{limit: store.MaxManifestSize}
	if err := r.FetchBlob(ctx, desc, sink, nil); err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(sink.b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: digest mismatch: content hashes to %s", desc.Digest, got)
	}
	return sink.b, nil
}

// memSink is a BlobSink in memory.
type memSink struct {
	b     []byte
	limit int
}

func (m *memSink) Write(p []byte) (int, error) {
	if len(m.b)+len(p) > m.limit {
		return 0, fmt.Errorf("more than %d bytes", m.limit)
	}
	m.b = append(m.b, p...)
	return len(p), nil
}
func (m *memSink) Written() int64 { return int64(len(m.b)) }
func (m *memSink) Reset() error   { m.b = m.b[:0]; return nil }
