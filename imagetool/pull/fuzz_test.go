package pull

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/imagetool/registry"
	"github.com/berthproject/berth/imagetool/store"
	"github.com/berthproject/berth/specs"
	"github.com/berthproject/berth/specs/imageconv"
)

// fuzzMediaTypes are what a registry may claim a fetched document is.
var fuzzMediaTypes = []string{
	ocispec.MediaTypeImageManifest, store.MediaTypeDockerManifest,
	ocispec.MediaTypeImageIndex, store.MediaTypeDockerManifestList, ocispec.MediaTypeImageConfig,
}

// FuzzManifest parses what a registry serves as a manifest, an index or
// an image config the way a pull does: the manifest checks, the Docker to
// OCI rewrite, the index entries, and the conversion of an image config
// into a runtime config (with a rootfs holding /etc/passwd and
// /etc/group). Nothing may panic; an OCI rewrite must itself pass the
// manifest checks; a converted config must validate.
func FuzzManifest(f *testing.F) {
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("layer"), Size: 3}
	config := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("config"), Size: 2}
	seeds := []any{
		ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}},
		ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest,
			Digest: digest.FromString("m"), Size: 400, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}}},
		ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Config: ocispec.ImageConfig{
			User: "app:app", Env: []string{"PATH=/bin", "A=1"}, Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"},
			WorkingDir: "/srv", Volumes: map[string]struct{}{"/data": {}}, StopSignal: "SIGTERM"}},
		ocispec.Image{Config: ocispec.ImageConfig{User: "1000:1000", Volumes: map[string]struct{}{"../../etc": {}, "/proc/x": {}}}},
	}
	for i, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
	}
	docker := `{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "` + config.Digest.String() + `"},
		"layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": -1, "digest": "sha256:xyz"}]}`
	f.Add([]byte(docker), uint8(1))
	f.Add([]byte(`{"schemaVersion": 2, "config": {"size": 99999999999}}`), uint8(0))

	rootfs, err := os.MkdirTemp("", "fuzz-rootfs-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(rootfs) })
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\napp:x:1000:\n"), 0o644)

	f.Fuzz(func(t *testing.T, raw []byte, kind uint8) {
		mt := fuzzMediaTypes[int(kind)%len(fuzzMediaTypes)]
		mf := registry.Manifest{Raw: raw, Desc: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}}
		switch {
		case store.IsIndex(mt):
			if idx, err := parseIndex(mf); err == nil {
				for _, child := range idx.Manifests {
					_ = child.Digest.Validate()
				}
			}
		case store.IsManifest(mt):
			var m ocispec.Manifest
			if json.Unmarshal(raw, &m) != nil || checkManifest(m) != nil {
				return
			}
			out, err := toOCI(mf)
			if err != nil {
				t.Fatalf("a manifest that passed the checks cannot be rewritten: %v", err)
			}
			var o ocispec.Manifest
			if err := json.Unmarshal(out.Raw, &o); err != nil {
				t.Fatalf("rewritten manifest: %v", err)
			}
			if mt == store.MediaTypeDockerManifest {
				if err := checkManifest(o); err != nil {
					t.Fatalf("rewritten manifest fails the checks: %v\n%s", err, out.Raw)
				}
				if out.Desc.Digest != digest.FromBytes(out.Raw) || out.Desc.Size != int64(len(out.Raw)) {
					t.Fatalf("rewritten manifest's descriptor %+v does not match its bytes", out.Desc)
				}
			}
		default:
			var img ocispec.Image
			if json.Unmarshal(raw, &img) != nil {
				return
			}
			spec, err := imageconv.Convert(&img, rootfs, imageconv.Options{})
			if err != nil {
				return
			}
			if err := specs.Validate(spec, ""); err != nil {
				t.Fatalf("image config converted into an invalid runtime config: %v", err)
			}
		}
	})
}
