package features

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/berthproject/berth/specs"
)

// runcFeatures is what `runc features` (runc 1.1.5 here) reports.
func runcFeatures(t *testing.T) *features.Features {
	t.Helper()
	out, err := exec.Command("/usr/sbin/runc", "features").Output()
	if err != nil {
		t.Fatalf("runc features: %v", err)
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestStaticAgainstRunc(t *testing.T) {
	ours, runc := Static(), runcFeatures(t)
	if !slices.Equal(ours.Hooks, runc.Hooks) {
		t.Errorf("hooks %v, runc %v", ours.Hooks, runc.Hooks)
	}
	if !slices.Equal(ours.Linux.Capabilities, runc.Linux.Capabilities) {
		t.Errorf("capabilities %v, runc %v", ours.Linux.Capabilities, runc.Linux.Capabilities)
	}
	// runc 1.1 has no time namespace support.
	if want := append(runc.Linux.Namespaces, "time"); !sameSet(ours.Linux.Namespaces, want) {
		t.Errorf("namespaces %v, want %v", ours.Linux.Namespaces, want)
	}
	// runc also lists "acl"/"noacl", which it maps to MS_POSIXACL; berth
	// passes them to the filesystem as data instead. runc 1.1 predates
	// idmapped mounts.
	want := slices.DeleteFunc(slices.Clone(runc.MountOptions), func(o string) bool { return o == "acl" || o == "noacl" })
	want = append(want, "idmap", "ridmap")
	if !sameSet(ours.MountOptions, want) {
		t.Errorf("mountOptions %v, want %v", ours.MountOptions, want)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func TestStaticShape(t *testing.T) {
	f := Static()
	if f.OCIVersionMin != "1.0.0" || f.OCIVersionMax != "1.3.0" {
		t.Errorf("versions %q..%q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if f.Linux.Seccomp != nil {
		t.Error("Seccomp must be left for the runtime to fill in")
	}
	// Every hook name is a field of the spec's hooks object.
	hookType := reflect.TypeOf(rspec.Hooks{})
	var fields []string
	for i := range hookType.NumField() {
		name, _, _ := strings.Cut(hookType.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	if !sameSet(f.Hooks, fields) {
		t.Errorf("hooks %v, spec fields %v", f.Hooks, fields)
	}
	if !slices.IsSorted(f.MountOptions) || len(slices.Compact(slices.Clone(f.MountOptions))) != len(f.MountOptions) {
		t.Errorf("mountOptions not sorted and unique: %v", f.MountOptions)
	}
	for _, ns := range f.Linux.Namespaces {
		if _, ok := specs.NamespaceCloneFlag(rspec.LinuxNamespaceType(ns)); !ok {
			t.Errorf("namespace %q has no clone flag", ns)
		}
	}
	// Fresh values: changing one result does not change the next.
	*f.Linux.Cgroup.V1 = false
	f.MountOptions[0] = "x"
	f.Linux.Capabilities[0] = "x"
	if g := Static(); !*g.Linux.Cgroup.V1 || g.MountOptions[0] != "async" || g.Linux.Capabilities[0] != "CAP_CHOWN" {
		t.Error("Static shares state between calls")
	}
	data, err := json.Marshal(Static())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ociVersionMax":"1.3.0"`, `"apparmor":{"enabled":true}`, `"idmap":{"enabled":true}`, `"rdma":true`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s:\n%s", want, data)
		}
	}
}

// TestDisabledFeaturesAreRefused ties the "not enabled" features to
// specs.Validate: a config using them must be an error, not ignored.
func TestDisabledFeaturesAreRefused(t *testing.T) {
	f := Static()
	cases := []struct {
		enabled *bool
		modify  func(s *rspec.Spec)
		path    string
	}{
		{f.Linux.IntelRdt.Enabled, func(s *rspec.Spec) { s.Linux.IntelRdt = &rspec.LinuxIntelRdt{} }, "linux.intelRdt"},
	}
	for _, c := range cases {
		if *c.enabled {
			t.Errorf("%s: feature reported enabled; update this test", c.path)
			continue
		}
		s := specs.Default()
		c.modify(s)
		err := specs.Validate(s, "")
		if err == nil || !strings.Contains(err.Error(), "config.json: "+c.path+": ") {
			t.Errorf("%s: Validate gave %v", c.path, err)
		}
	}
}
