package specs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

const runcPath = "/usr/sbin/runc"

// runcSpec runs `runc spec [args]` in a fresh directory and returns the
// config it wrote, decoded generically so that every field is compared.
func runcSpec(t *testing.T, args ...string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(runcPath, append([]string{"spec"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec %v: %v\n%s", args, err, out)
	}
	return readGeneric(t, filepath.Join(dir, ConfigFile))
}

func readGeneric(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func toGeneric(t *testing.T, spec *rspec.Spec) map[string]any {
	t.Helper()
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// applyDocumentedDifferences turns runc 1.1's `runc spec` output into what
// Default's comment says berth writes instead; nothing else may differ.
func applyDocumentedDifferences(m map[string]any) {
	m["ociVersion"] = "1.3.0"
	m["hostname"] = "berth"
	delete(m["process"].(map[string]any)["capabilities"].(map[string]any), "ambient")
	linux := m["linux"].(map[string]any)
	linux["maskedPaths"] = append(linux["maskedPaths"].([]any), "/sys/devices/virtual/tpm")
}

func TestDefaultMatchesRunc(t *testing.T) {
	want := runcSpec(t)
	if v := want["ociVersion"]; v != "1.0.2-dev" {
		t.Fatalf("runc wrote ociVersion %v; the documented differences are for runc 1.1 (1.0.2-dev)", v)
	}
	applyDocumentedDifferences(want)
	if got := toGeneric(t, Default()); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() differs from runc spec beyond the documented differences:\ngot  %v\nwant %v", got, want)
	}
}

func TestDefaultRootlessMatchesRunc(t *testing.T) {
	want := runcSpec(t, "--rootless")
	applyDocumentedDifferences(want)
	if got := toGeneric(t, DefaultRootless()); !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultRootless() differs from runc spec --rootless:\ngot  %v\nwant %v", got, want)
	}
}

func TestMakeRootlessUsesIDs(t *testing.T) {
	spec := Default()
	makeRootless(spec, 1000, 1001)
	if got := spec.Linux.UIDMappings; len(got) != 1 || got[0] != (rspec.LinuxIDMapping{ContainerID: 0, HostID: 1000, Size: 1}) {
		t.Errorf("uidMappings = %+v", got)
	}
	if got := spec.Linux.GIDMappings; len(got) != 1 || got[0] != (rspec.LinuxIDMapping{ContainerID: 0, HostID: 1001, Size: 1}) {
		t.Errorf("gidMappings = %+v", got)
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == rspec.NetworkNamespace {
			t.Errorf("rootless spec keeps a network namespace")
		}
	}
	if err := Validate(spec, ""); err != nil {
		t.Errorf("rootless spec does not validate: %v", err)
	}
	// Default must not share slices with the rootless copy.
	if d := Default(); len(d.Mounts[2].Options) != 6 {
		t.Errorf("Default's devpts options were changed: %v", d.Mounts[2].Options)
	}
}

func TestDefaultRoundTrip(t *testing.T) {
	dir := newBundle(t)
	path := filepath.Join(dir, ConfigFile)
	if err := WriteSpec(path, Default()); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, Default()) {
		t.Fatalf("round trip changed the spec:\ngot  %+v\nwant %+v", loaded, Default())
	}
	if loaded.Version != rspec.Version || rspec.Version != MaxVersion {
		t.Fatalf("ociVersion %q; runtime-spec module is %q, MaxVersion %q", loaded.Version, rspec.Version, MaxVersion)
	}
}

func TestWriteSpec(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	if err := WriteSpec(path, Default()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	if want := fs.FileMode(0o666 &^ umask); fi.Mode().Perm() != want {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "{\n\t\"ociVersion\": \"1.3.0\",\n") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("unexpected layout:\n%s", data)
	}

	// A second write is refused with runc's message and changes nothing.
	err = WriteSpec(path, DefaultRootless())
	if err == nil || err.Error() != "File "+path+" exists. Remove it first" {
		t.Fatalf("second write: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Fatal("refused write changed the file")
	}
	assertOnlyEntries(t, dir, ConfigFile)
}

func TestWriteSpecRefusesDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	path := filepath.Join(dir, ConfigFile)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := WriteSpec(path, Default()); err == nil || !strings.Contains(err.Error(), "exists. Remove it first") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteSpec wrote through the symlink: %v", err)
	}
	assertOnlyEntries(t, dir, ConfigFile)
}

func TestWriteSpecBadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", ConfigFile)
	err := WriteSpec(path, Default())
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
}

func assertOnlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("directory holds %v, want %v (temporary files left behind?)", got, names)
	}
}
