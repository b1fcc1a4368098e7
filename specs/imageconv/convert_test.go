package imageconv

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/specs"
)

const passwd = `root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
`

const group = `root:x:0:
wheel:x:10:alice
staff:x:50:
alice:x:1000:
audio:x:63:bob,alice
`

// bundleWithEtc makes bundle/rootfs whose /etc is a symlink with an
// absolute target, so the lookups must resolve it inside the rootfs.
func bundleWithEtc(t *testing.T) (bundle, rootfs string) {
	bundle = t.TempDir()
	rootfs = filepath.Join(bundle, "rootfs")
	real := filepath.Join(rootfs, "usr/etc")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/etc", filepath.Join(rootfs, "etc")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(real, "passwd"), []byte(passwd), 0o644)
	os.WriteFile(filepath.Join(real, "group"), []byte(group), 0o644)
	return bundle, rootfs
}

func image(cfg ocispec.ImageConfig) *ocispec.Image {
	return &ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Config: cfg}
}

func TestUserResolution(t *testing.T) {
	_, rootfs := bundleWithEtc(t)
	cases := []struct {
		user string
		want rspec.User
		home string
	}{
		{"", rspec.User{UID: 0, GID: 0}, "/root"},
		{"alice", rspec.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 63}}, "/home/alice"},
		{"1000", rspec.User{UID: 1000, GID: 1000}, "/home/alice"},
		{"alice:staff", rspec.User{UID: 1000, GID: 50}, "/home/alice"},
		{"bob:10", rspec.User{UID: 1001, GID: 10}, "/home/bob"},
		{"1234:5678", rspec.User{UID: 1234, GID: 5678}, "/"},
		{"4321", rspec.User{UID: 4321, GID: 0}, "/"},
	}
	for _, c := range cases {
		spec, err := Convert(image(ocispec.ImageConfig{User: c.user, Cmd: []string{"x"}}), rootfs, Options{})
		if err != nil {
			t.Fatalf("user %q: %v", c.user, err)
		}
		if !reflect.DeepEqual(spec.Process.User, c.want) {
			t.Errorf("user %q -> %+v, want %+v", c.user, spec.Process.User, c.want)
		}
		if !contains(spec.Process.Env, "HOME="+c.home) {
			t.Errorf("user %q: env %q lacks HOME=%s", c.user, spec.Process.Env, c.home)
		}
	}
	for _, bad := range []string{"mallory", "alice:nogroup", "1000:nogroup"} {
		_, err := Convert(image(ocispec.ImageConfig{User: bad, Cmd: []string{"x"}}), rootfs, Options{})
		if err == nil || !strings.Contains(err.Error(), `image user "`+bad+`"`) {
			t.Errorf("user %q: want an error naming it, got %v", bad, err)
		}
	}
}

func TestUserWithoutEtc(t *testing.T) {
	rootfs := t.TempDir()
	spec, err := Convert(image(ocispec.ImageConfig{User: "10:20", Cmd: []string{"x"}}), rootfs, Options{})
	if err != nil || spec.Process.User.UID != 10 || spec.Process.User.GID != 20 {
		t.Fatalf("numeric user without /etc/passwd: %+v, %v", spec, err)
	}
	if _, err := Convert(image(ocispec.ImageConfig{User: "alice", Cmd: []string{"x"}}), rootfs, Options{}); err == nil {
		t.Fatal("named user without /etc/passwd accepted")
	}
}

func TestArgsEnvCwd(t *testing.T) {
	_, rootfs := bundleWithEtc(t)
	cfg := ocispec.ImageConfig{
		Entrypoint: []string{"/bin/app", "--flag"},
		Cmd:        []string{"serve"},
		Env:        []string{"PATH=/app/bin", "HOME=/data", "A=b"},
		WorkingDir: "/work",
	}
	check := func(opts Options, want []string) {
		t.Helper()
		spec, err := Convert(image(cfg), rootfs, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(spec.Process.Args, want) {
			t.Errorf("args %q, want %q", spec.Process.Args, want)
		}
	}
	check(Options{}, []string{"/bin/app", "--flag", "serve"})
	check(Options{Cmd: []string{"debug", "-v"}}, []string{"/bin/app", "--flag", "debug", "-v"})
	check(Options{Entrypoint: []string{"/bin/sh"}}, []string{"/bin/sh"})
	check(Options{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"})
	check(Options{Entrypoint: []string{}, Cmd: []string{"/bin/true"}}, []string{"/bin/true"})

	spec, err := Convert(image(cfg), rootfs, Options{Terminal: true})
	if err != nil {
		t.Fatal(err)
	}
	// The image's PATH and HOME win; TERM is added for a terminal only.
	if want := []string{"PATH=/app/bin", "HOME=/data", "A=b", "TERM=xterm"}; !reflect.DeepEqual(spec.Process.Env, want) {
		t.Errorf("env %q, want %q", spec.Process.Env, want)
	}
	if spec.Process.Cwd != "/work" || !spec.Process.Terminal || spec.Root.Readonly || spec.Root.Path != "rootfs" {
		t.Errorf("cwd %q terminal %v root %+v", spec.Process.Cwd, spec.Process.Terminal, spec.Root)
	}

	spec, err = Convert(image(ocispec.ImageConfig{Cmd: []string{"x"}}), rootfs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}; !reflect.DeepEqual(spec.Process.Env, want) || spec.Process.Cwd != "/" || spec.Process.Terminal {
		t.Errorf("defaults: env %q cwd %q terminal %v", spec.Process.Env, spec.Process.Cwd, spec.Process.Terminal)
	}
	if _, err := Convert(image(ocispec.ImageConfig{}), rootfs, Options{}); err == nil || !strings.Contains(err.Error(), "no Entrypoint or Cmd") {
		t.Errorf("no args: %v", err)
	}
	for _, cfg := range []ocispec.ImageConfig{{Cmd: []string{"", "x"}}, {Entrypoint: []string{""}, Cmd: []string{"sh"}}} {
		if _, err := Convert(image(cfg), rootfs, Options{}); err == nil || !strings.Contains(err.Error(), "empty program name") {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	for _, cfg := range []ocispec.ImageConfig{{Cmd: []string{"x"}, Env: []string{""}}, {Cmd: []string{"x"}, Env: []string{"=v"}},
		{Cmd: []string{"x"}, Env: []string{"A=\x00"}}, {Cmd: []string{"x"}, WorkingDir: "rel"}} {
		if _, err := Convert(image(cfg), rootfs, Options{}); err == nil || !strings.Contains(err.Error(), "the image's") {
			t.Errorf("%+v: %v, want an error naming the image's field", cfg, err)
		}
	}
	if spec, err := Convert(image(ocispec.ImageConfig{Entrypoint: []string{""}}), rootfs, Options{Entrypoint: []string{"sh"}}); err != nil || spec.Process.Args[0] != "sh" {
		t.Errorf("--entrypoint over an empty one: %v", err)
	}
}

func TestAnnotations(t *testing.T) {
	_, rootfs := bundleWithEtc(t)
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	img := &ocispec.Image{
		Created:  &created,
		Author:   "someone",
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Config: ocispec.ImageConfig{
			Cmd:          []string{"x"},
			StopSignal:   "SIGQUIT",
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
			Volumes:      map[string]struct{}{"/data": {}, "/cache": {}},
			Labels:       map[string]string{"maintainer": "m", "org.opencontainers.image.author": "label wins"},
		},
	}
	spec, err := Convert(img, rootfs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"org.opencontainers.image.os":           "linux",
		"org.opencontainers.image.architecture": "arm64",
		"org.opencontainers.image.variant":      "v8",
		"org.opencontainers.image.author":       "label wins",
		"org.opencontainers.image.created":      "2024-05-06T07:08:09Z",
		"org.opencontainers.image.stopSignal":   "SIGQUIT",
		"org.opencontainers.image.exposedPorts": "53/udp,80/tcp",
		"org.opencontainers.image.volumes":      "/cache,/data",
		"maintainer":                            "m",
	}
	if !reflect.DeepEqual(spec.Annotations, want) {
		t.Errorf("annotations\n got %v\nwant %v", spec.Annotations, want)
	}
}

func TestDefaultsRootlessAndMappingsValidate(t *testing.T) {
	bundle, rootfs := bundleWithEtc(t)
	spec, err := Convert(image(ocispec.ImageConfig{Cmd: []string{"x"}}), rootfs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	def := specs.Default()
	if !reflect.DeepEqual(spec.Linux.Namespaces, def.Linux.Namespaces) || !reflect.DeepEqual(spec.Mounts, def.Mounts) ||
		!reflect.DeepEqual(spec.Linux.MaskedPaths, def.Linux.MaskedPaths) || !reflect.DeepEqual(spec.Process.Capabilities, def.Process.Capabilities) {
		t.Error("Linux defaults differ from specs.Default()")
	}
	if err := specs.Validate(spec, bundle); err != nil {
		t.Errorf("default conversion does not validate: %v", err)
	}

	spec, err = Convert(image(ocispec.ImageConfig{Cmd: []string{"x"}}), rootfs, Options{Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec.Linux.Seccomp, specs.DefaultSeccomp()) {
		t.Error("converted config lacks the default seccomp profile")
	}
	want := specs.DefaultRootless().Linux
	want.Seccomp = specs.DefaultSeccomp()
	if !reflect.DeepEqual(spec.Linux, want) {
		t.Error("rootless Linux section differs from specs.DefaultRootless() plus the default seccomp profile")
	}
	if err := specs.Validate(spec, bundle); err != nil {
		t.Errorf("rootless conversion does not validate: %v", err)
	}

	m := []rspec.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec, err = Convert(image(ocispec.ImageConfig{Cmd: []string{"x"}}), rootfs, Options{UIDMappings: m, GIDMappings: m})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec.Linux.UIDMappings, m) || spec.Linux.Namespaces[len(spec.Linux.Namespaces)-1].Type != rspec.UserNamespace {
		t.Errorf("mappings: %+v %+v", spec.Linux.UIDMappings, spec.Linux.Namespaces)
	}
	if err := specs.Validate(spec, bundle); err != nil {
		t.Errorf("mapped conversion does not validate: %v", err)
	}
	if _, err := Convert(image(ocispec.ImageConfig{Cmd: []string{"x"}}), rootfs, Options{Rootless: true, UIDMappings: m}); err == nil {
		t.Error("--rootless with --uid-map accepted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestVolumesBecomeMounts(t *testing.T) {
	_, rootfs := bundleWithEtc(t)
	img := &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"},
		Volumes: map[string]struct{}{"/var/lib/data": {}, "/cache/": {}, "/proc": {}, "rel": {}}}}
	if _, err := Convert(img, rootfs, Options{}); err == nil || !strings.Contains(err.Error(), `"rel"`) {
		t.Fatalf("relative volume: err = %v", err)
	}
	delete(img.Config.Volumes, "rel")
	spec, err := Convert(img, rootfs, Options{Binds: map[string]string{"/var/lib/data": "/srv/data", "/extra": "/srv/extra"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rspec.Mount{}
	for _, m := range spec.Mounts {
		if _, dup := got[m.Destination]; dup {
			t.Fatalf("two mounts at %s", m.Destination)
		}
		got[m.Destination] = m
	}
	if m := got["/cache"]; m.Type != "tmpfs" || strings.Join(m.Options, ",") != "rw,nosuid,nodev,noexec,relatime" {
		t.Errorf("volume /cache: %+v, want umoci's tmpfs", m)
	}
	if m := got["/var/lib/data"]; m.Type != "bind" || m.Source != "/srv/data" {
		t.Errorf("bound volume: %+v", m)
	}
	if m := got["/extra"]; m.Type != "bind" || m.Source != "/srv/extra" {
		t.Errorf("bind outside the image's volumes: %+v", m)
	}
	if got["/proc"].Type != "proc" {
		t.Errorf("a volume replaced the /proc mount: %+v", got["/proc"])
	}
}
