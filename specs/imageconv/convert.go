// Package imageconv turns an OCI image config into the config.json of a
// runtime bundle, as image-spec conversion.md describes, on top of the
// defaults `berth spec` writes.
package imageconv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/specs"
)

// Options are the caller's changes to what the image says.
type Options struct {
	// Entrypoint and Cmd replace the image's when non-nil (an empty,
	// non-nil slice clears it). As with `docker run --entrypoint`, a new
	// Entrypoint drops the image's Cmd unless Cmd is given too.
	Entrypoint []string
	Cmd        []string
	// Terminal allocates a terminal for the process.
	Terminal bool
	// Rootless writes the config `berth spec --rootless` starts from: a
	// user namespace mapping container root to the caller.
	Rootless bool
	// UIDMappings and GIDMappings put the container in a user namespace
	// with these maps (for a rootfs unpacked with --uid-map/--gid-map).
	UIDMappings []rspec.LinuxIDMapping
	GIDMappings []rspec.LinuxIDMapping
	// Binds maps a container path to a host directory bind-mounted there:
	// an image Volume so given gets the host dir instead of a tmpfs, and
	// other paths are added.
	Binds map[string]string
}

// Annotation keys conversion.md derives from image config fields. The
// ones image-spec has no constant for are spelled out here.
const (
	annotationOS           = "org.opencontainers.image.os"
	annotationArch         = "org.opencontainers.image.architecture"
	annotationVariant      = "org.opencontainers.image.variant"
	annotationOSVersion    = "org.opencontainers.image.os.version"
	annotationOSFeatures   = "org.opencontainers.image.os.features"
	annotationAuthor       = "org.opencontainers.image.author"
	annotationCreated      = "org.opencontainers.image.created"
	annotationStopSignal   = "org.opencontainers.image.stopSignal"
	annotationExposedPorts = "org.opencontainers.image.exposedPorts"
	// Volumes have no runtime-spec field and no standard annotation; the
	// list is kept as well as the mounts made for them.
	annotationVolumes = "org.opencontainers.image.volumes"
)

// Convert returns the runtime config for img whose layers are unpacked in
// rootfs (read for /etc/passwd and /etc/group, every path resolved inside
// it). Root.Path is "rootfs", writable.
func Convert(img *ocispec.Image, rootfs string, opts Options) (*rspec.Spec, error) {
	var spec *rspec.Spec
	if opts.Rootless {
		spec = specs.DefaultRootless()
	} else {
		spec = specs.Default()
	}
	spec.Root.Readonly = false // images expect to write to their rootfs
	spec.Linux.Seccomp = specs.DefaultSeccomp()
	if len(opts.UIDMappings) > 0 || len(opts.GIDMappings) > 0 {
		if opts.Rootless {
			return nil, errors.New("--rootless and --uid-map/--gid-map do not go together")
		}
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, rspec.LinuxNamespace{Type: rspec.UserNamespace})
		spec.Linux.UIDMappings = opts.UIDMappings
		spec.Linux.GIDMappings = opts.GIDMappings
	}
	cfg := img.Config
	p := spec.Process
	p.Terminal = opts.Terminal

	args, err := processArgs(cfg, opts)
	if err != nil {
		return nil, err
	}
	p.Args = args
	p.Cwd = "/"
	if cfg.WorkingDir != "" {
		if !path.IsAbs(cfg.WorkingDir) {
			return nil, fmt.Errorf("the image's WorkingDir %q is not an absolute path", cfg.WorkingDir)
		}
		p.Cwd = cfg.WorkingDir
	}
	if err := checkImageEnv(cfg.Env); err != nil {
		return nil, err
	}

	u, home, err := resolveUser(cfg.User, rootfs)
	if err != nil {
		return nil, err
	}
	p.User = u
	p.Env = processEnv(cfg.Env, spec.Process.Env, home, opts.Terminal)
	spec.Annotations = annotations(img)
	mounts, err := volumeMounts(spec.Mounts, cfg.Volumes, opts.Binds)
	if err != nil {
		return nil, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	// The checks above name the image's fields; this one catches what
	// they missed before a bundle that cannot start is written.
	if err := specs.Validate(spec, ""); err != nil {
		return nil, fmt.Errorf("the image config does not convert into a valid runtime config: %w", err)
	}
	return spec, nil
}

// checkImageEnv refuses Env entries a process cannot be given: each must
// be NAME=value with a name, and without a NUL byte (execve would cut it).
func checkImageEnv(env []string) error {
	for i, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("the image's Env[%d] %q is not NAME=value", i, kv)
		}
	}
	return nil
}

// volumeTmpfsOptions are umoci's for the tmpfs of a Volume.
var volumeTmpfsOptions = []string{"rw", "nosuid", "nodev", "noexec", "relatime"}

// volumeMounts gives each image Volume a mount, as umoci does: a fresh
// tmpfs (what the image has at that path is hidden, as with umoci; docker
// would copy it into the volume), or the host directory binds names for
// it; binds to other paths are added too. Paths the default mounts
// already cover (/proc, /dev, …) are left to them.
func volumeMounts(defaults []rspec.Mount, volumes map[string]struct{}, binds map[string]string) ([]rspec.Mount, error) {
	taken := map[string]bool{}
	for _, m := range defaults {
		taken[m.Destination] = true
	}
	var dests []string
	for v := range volumes {
		dests = append(dests, v)
	}
	for d := range binds {
		if _, dup := volumes[d]; !dup {
			dests = append(dests, d)
		}
	}
	sort.Strings(dests)
	var out []rspec.Mount
	for _, d := range dests {
		clean := path.Clean(d)
		if !path.IsAbs(clean) {
			return nil, fmt.Errorf("volume %q: not an absolute path", d)
		}
		if taken[clean] || clean == "/" {
			continue
		}
		taken[clean] = true
		host, bind := binds[d]
		if !bind {
			host, bind = binds[clean]
		}
		if bind {
			out = append(out, rspec.Mount{Destination: clean, Type: "bind", Source: host, Options: []string{"rbind", "rw"}})
		} else {
			out = append(out, rspec.Mount{Destination: clean, Type: "tmpfs", Source: "tmpfs", Options: append([]string(nil), volumeTmpfsOptions...)})
		}
	}
	return out, nil
}

func processArgs(cfg ocispec.ImageConfig, opts Options) ([]string, error) {
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if opts.Entrypoint != nil {
		entrypoint, cmd = opts.Entrypoint, nil
	}
	if opts.Cmd != nil {
		cmd = opts.Cmd
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, errors.New("the image has no Entrypoint or Cmd: give --cmd")
	}
	if args[0] == "" {
		// A runtime cannot execute "", and the error would come only at
		// start; say now which field holds it.
		field := "Cmd"
		if len(entrypoint) > 0 {
			field = "Entrypoint"
		}
		return nil, fmt.Errorf("the image's %s begins with an empty program name (%q): give --entrypoint or --cmd", field, args)
	}
	return args, nil
}

// processEnv is the image's Env plus, only for names it does not set,
// PATH (from the defaults), HOME (from /etc/passwd) and TERM (with a
// terminal).
func processEnv(imageEnv, defaults []string, home string, terminal bool) []string {
	env := append([]string{}, imageEnv...)
	has := func(name string) bool {
		for _, kv := range env {
			if strings.HasPrefix(kv, name+"=") || kv == name {
				return true
			}
		}
		return false
	}
	for _, kv := range defaults {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" && !has("PATH") {
			env = append(env, kv)
		}
		if name == "TERM" && terminal && !has("TERM") {
			env = append(env, kv)
		}
	}
	if home != "" && !has("HOME") {
		env = append(env, "HOME="+home)
	}
	return env
}

// resolveUser turns Config.User ("", name, uid, name:group, uid:gid, ...)
// into process.user, and returns the user's home directory when known.
func resolveUser(spec, rootfs string) (rspec.User, string, error) {
	passwd, err := openInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return rspec.User{}, "", err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInRoot(rootfs, "/etc/group")
	if err != nil {
		return rspec.User{}, "", err
	}
	if group != nil {
		defer group.Close()
	}
	defaults := &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
	eu, err := user.GetExecUser(spec, defaults, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		return rspec.User{}, "", fmt.Errorf("image user %q: %w (looked up in the rootfs's /etc/passwd and /etc/group)", spec, err)
	}
	u := rspec.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	// conversion.md: supplementary groups only for a user given by name
	// and without a group.
	name, grp, _ := strings.Cut(spec, ":")
	if spec != "" && !isNumeric(name) && grp == "" {
		for _, g := range eu.Sgids {
			if uint32(g) != u.GID {
				u.AdditionalGids = append(u.AdditionalGids, uint32(g))
			}
		}
	}
	return u, eu.Home, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// openInRoot opens a file of the rootfs for reading, resolving symlinks as
// if rootfs were "/"; a missing file is (nil, nil).
func openInRoot(rootfs, name string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", name, rootfs, err)
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", name, rootfs, err)
	}
	return f, nil
}

// readerOrNil keeps a nil *os.File from becoming a non-nil io.Reader.
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

// annotations derives the implicit annotations, then lets Labels override
// them (conversion.md: labels take precedence).
func annotations(img *ocispec.Image) map[string]string {
	a := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set(annotationOS, img.OS)
	set(annotationArch, img.Architecture)
	set(annotationVariant, img.Variant)
	set(annotationOSVersion, img.OSVersion)
	set(annotationOSFeatures, strings.Join(img.OSFeatures, ","))
	set(annotationAuthor, img.Author)
	if img.Created != nil {
		set(annotationCreated, img.Created.UTC().Format(time.RFC3339Nano))
	}
	set(annotationStopSignal, img.Config.StopSignal)
	set(annotationExposedPorts, sortedKeys(img.Config.ExposedPorts))
	set(annotationVolumes, sortedKeys(img.Config.Volumes))
	for k, v := range img.Config.Labels {
		a[k] = v
	}
	if len(a) == 0 {
		return nil
	}
	return a
}

func sortedKeys(m map[string]struct{}) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}
