package security_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultSpec is the config.json `<runtime> spec` writes: each runtime is
// attacked from the defaults its users start from.
func defaultSpec(bin string) (*specs.Spec, error) {
	dir, err := os.MkdirTemp(tools, "spec-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s spec: %v\n%s", bin, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s spec: %w", bin, err)
	}
	return &s, nil
}

// baseSpec is a deep copy of the runtime's default config with the
// process, the cgroup under cgroupParent and the /report bind set.
func (a *attack) baseSpec(id string, args []string) *specs.Spec {
	b, err := json.Marshal(a.rt.spec)
	must(a.t, err)
	var s specs.Spec
	must(a.t, json.Unmarshal(b, &s))
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Readonly = false
	s.Hostname = "sec"
	s.Linux.CgroupsPath = "/" + cgroupParent + "/" + id
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/report", Type: "bind",
		Source: filepath.Join(a.dir, id, "report"), Options: []string{"rbind", "rw"}})
	return &s
}

// removeMount drops the mounts at destination from the config.
func (c *container) removeMount(destination string) {
	var keep []specs.Mount
	for _, m := range c.spec.Mounts {
		if m.Destination != destination {
			keep = append(keep, m)
		}
	}
	c.spec.Mounts = keep
}

// addMount appends a mount to the config.
func (c *container) addMount(m specs.Mount) { c.spec.Mounts = append(c.spec.Mounts, m) }

// joinNamespace makes the container join another's namespace of a kind.
func (c *container) joinNamespace(kind specs.LinuxNamespaceType, path string) {
	for i, ns := range c.spec.Linux.Namespaces {
		if ns.Type == kind {
			c.spec.Linux.Namespaces[i].Path = path
			return
		}
	}
	c.spec.Linux.Namespaces = append(c.spec.Linux.Namespaces, specs.LinuxNamespace{Type: kind, Path: path})
}
