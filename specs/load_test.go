package specs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

func writeConfig(t *testing.T, bundle, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(bundle, ConfigFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBundleErrors(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"empty file", "  \n", "config.json: file is empty"},
		{"syntax error position", "{\n  \"ociVersion\": \"1.0.0\",\n  }\n",
			"config.json:3:3: invalid character '}' looking for beginning of object key string"},
		{"truncated", "{\"ociVersion\": \"1.0.0\"", "config.json:1:22: unexpected end of JSON input"},
		{"trailing data", "{}\n{}", "config.json:2:1: invalid character '{' after top-level value"},
		{"uid as string", `{"process": {"user": {"uid": "0"}}}`,
			"config.json: process.user.uid: cannot unmarshal string into uint32"},
		{"negative uid", `{"process": {"user": {"uid": -1}}}`,
			"config.json: process.user.uid: cannot unmarshal number -1 into uint32"},
		{"array index", `{"process": {"rlimits": [{"type": "RLIMIT_NOFILE"}, {"type": "RLIMIT_CORE", "soft": "1"}]}}`,
			"config.json: process.rlimits[1].soft: cannot unmarshal string into uint64"},
		{"capability number", `{"process": {"capabilities": {"bounding": ["CAP_KILL", 7]}}}`,
			"config.json: process.capabilities.bounding[1]: cannot unmarshal number into string"},
		{"sysctl key", `{"linux": {"sysctl": {"net.ipv4.ip_forward": 1}}}`,
			`config.json: linux.sysctl["net.ipv4.ip_forward"]: cannot unmarshal number into string`},
		{"namespace type is an enum string", `{"linux": {"namespaces": [{"type": "pid"}, {"type": 3}]}}`,
			"config.json: linux.namespaces[1].type: cannot unmarshal number into string"},
		{"object expected", `{"process": ["sh"]}`,
			"config.json: process: cannot unmarshal array into object"},
		{"top level array", `[]`, "config.json: cannot unmarshal array into object"},
		{"keys as written", `{"Process": {"User": {"UID": true}}}`,
			"config.json: Process.User.UID: cannot unmarshal bool into uint32"},
		{"after other values", `{"ociVersion": "1.0.0", "hostname": "x", "mounts": [{"destination": "/a"}, {"destination": "/b", "options": "ro"}]}`,
			"config.json: mounts[1].options: cannot unmarshal string into array"},
		{"validation after decoding", `{"ociVersion": "1.0.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": []}}`,
			"config.json: process.args: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := newBundle(t)
			writeConfig(t, bundle, tt.config)
			spec, err := LoadBundle(bundle)
			if err == nil {
				t.Fatalf("LoadBundle accepted %s", tt.config)
			}
			if spec != nil {
				t.Errorf("LoadBundle returned a spec with an error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got  %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestLoadBundleMissing(t *testing.T) {
	_, err := LoadBundle(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config.json: open ") {
		t.Fatalf("got %v, want a config.json not-exist error", err)
	}
}

func TestLoadBundleDefault(t *testing.T) {
	bundle := newBundle(t)
	data, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	// Unknown fields must be ignored (config.md, "Extensibility").
	text := strings.Replace(string(data), `{`, `{"org.example.future":{"x":[1,2]},`, 1)
	writeConfig(t, bundle, text)
	spec, err := LoadBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Process.Args[0] != "sh" || spec.Root.Path != "rootfs" {
		t.Fatalf("loaded %+v", spec)
	}
}

func TestLoadProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "process.json")
	if err := os.WriteFile(path, []byte(`{"cwd": "/", "args": ["sh"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadProcess(path)
	want := "process.json: rlimits[0]: soft limit 10 is above hard limit 5"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte(`{"cwd": "/", "args": ["sh"], "user": {"uid": "root"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadProcess(path)
	want = "process.json: user.uid: cannot unmarshal string into uint32"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte(`{"cwd": "/tmp", "args": ["ls", "-l"], "env": ["A=1"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProcess(path)
	if err != nil || p.Args[1] != "-l" {
		t.Fatalf("got %+v, %v", p, err)
	}
}

func TestLineColumn(t *testing.T) {
	data := []byte("ab\ncd\n")
	for _, tt := range []struct {
		off       int64
		line, col int
	}{{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {5, 2, 3}, {6, 3, 1}, {100, 3, 1}} {
		if l, c := lineColumn(data, tt.off); l != tt.line || c != tt.col {
			t.Errorf("lineColumn(%d) = %d:%d, want %d:%d", tt.off, l, c, tt.line, tt.col)
		}
	}
}

// BenchmarkLoadBundle measures the whole start-path cost: read, decode,
// validate.
func BenchmarkLoadBundle(b *testing.B) {
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := WriteSpec(filepath.Join(dir, ConfigFile), Default()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := LoadBundle(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadBundleChecksReportedTogether: a runtime's checks run even when
// Validate found problems, and every FieldError comes back in one
// ConfigErrors, one line each; other errors follow them.
func TestLoadBundleChecksReportedTogether(t *testing.T) {
	bundle := newBundle(t)
	writeConfig(t, bundle, `{"ociVersion": "1.0.0", "root": {"path": "rootfs"},
		"process": {"cwd": "/", "args": ["sh"], "rlimits": [{"type": "RLIMIT_BOGUS"}]}, "hostname": "h"}`)
	check := func(path string) Check {
		return func(*rspec.Spec) error {
			return errors.Join(&FieldError{File: ConfigFile, Path: path, Msg: "bad"}, ConfigErrors{{File: ConfigFile, Path: path + "2", Msg: "worse"}})
		}
	}
	_, _, err := LoadBundleJSON(bundle, check("linux.seccomp.defaultAction"), check("linux.resources.cpu.shares"))
	want := strings.Join([]string{
		`config.json: process.rlimits[0].type: unknown rlimit "RLIMIT_BOGUS"`,
		`config.json: hostname: setting a hostname needs a "uts" namespace in linux.namespaces`,
		`config.json: linux.seccomp.defaultAction: bad`,
		`config.json: linux.seccomp.defaultAction2: worse`,
		`config.json: linux.resources.cpu.shares: bad`,
		`config.json: linux.resources.cpu.shares2: worse`,
	}, "\n")
	var list ConfigErrors
	if !errors.As(err, &list) || err.Error() != want {
		t.Fatalf("got  %v (%T)\nwant %s", err, err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "process.rlimits[0].type" {
		t.Fatalf("errors.As found %v, want the first FieldError", fe)
	}
	hostErr := errors.New("reading /sys/fs/cgroup: permission denied")
	_, _, err = LoadBundleJSON(bundle, func(*rspec.Spec) error { return hostErr })
	if !errors.Is(err, hostErr) || !strings.HasPrefix(err.Error(), `config.json: process.rlimits[0].type`) {
		t.Fatalf("with a host error: %v", err)
	}
	// A valid config passes its checks' nil.
	writeConfig(t, bundle, `{"ociVersion": "1.0.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"]}}`)
	if _, _, err := LoadBundleJSON(bundle, func(*rspec.Spec) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestFieldErrorWithoutFile(t *testing.T) {
	e := &FieldError{Path: "linux.resources.cpu.shares", Msg: "1 is outside 2..262144"}
	if got := e.Error(); got != "linux.resources.cpu.shares: 1 is outside 2..262144" {
		t.Fatalf("%q", got)
	}
	if got := (ConfigErrors{e}).InFile(ConfigFile).Error(); got != "config.json: linux.resources.cpu.shares: 1 is outside 2..262144" {
		t.Fatalf("%q", got)
	}
	if (ConfigErrors{}).Err() != nil {
		t.Fatal("an empty ConfigErrors is an error")
	}
}
