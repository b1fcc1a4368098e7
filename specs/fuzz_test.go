package specs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadBundle loads arbitrary bytes as a bundle's config.json and as an
// exec's process.json. Nothing may panic; every error names its file on
// each line; validation errors are FieldErrors with a message; a config
// that loads still loads after being written out again (what berth keeps
// in its state is what it validated).
func FuzzLoadBundle(f *testing.F) {
	for _, spec := range []any{Default(), DefaultRootless(), Default().Process} {
		b, err := json.MarshalIndent(spec, "", "\t")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	withSeccomp := Default()
	withSeccomp.Linux.Seccomp = DefaultSeccomp()
	withSeccomp.Hostname = "fuzz"
	b, _ := json.Marshal(withSeccomp)
	f.Add(b)
	for _, s := range []string{
		"", "{}", "[]", "null", `{"ociVersion": "1.0.2-dev"}`,
		"{\n  \"ociVersion\": \"1.0.0\",\n  }\n",
		`{"process": {"user": {"uid": -1}}}`,
		`{"process": {"rlimits": [{"type": "RLIMIT_NOFILE"}, {"type": "RLIMIT_CORE", "soft": "1"}]}}`,
		`{"linux": {"sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}, "namespaces": [{"type": "ipc"}, {"type": "network", "path": "rel"}]}}`,
		`{"ociVersion": "1.0.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"], "env": ["=x", "A"]},
		  "linux": {"uidMappings": [{"containerID": 0, "hostID": 4294967295, "size": 2}], "timeOffsets": {"x": {"secs": 1}}}}`,
		`{"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-99999999"}}}`,
	} {
		f.Add([]byte(s))
	}
	// Not f.TempDir: with it, the fuzzing workers stall (Go 1.26).
	bundle, err := os.MkdirTemp("", "fuzz-bundle-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(bundle) })
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	config := filepath.Join(bundle, ConfigFile)
	process := filepath.Join(bundle, "process.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(config, data, 0o644); err != nil {
			t.Fatal(err)
		}
		spec, raw, err := LoadBundleJSON(bundle)
		if err != nil {
			checkFuzzError(t, err, ConfigFile)
		} else {
			if spec == nil || string(raw) != string(data) {
				t.Fatalf("LoadBundleJSON accepted the config but returned %v, %q", spec, raw)
			}
			again, err := json.Marshal(spec)
			if err != nil {
				t.Fatalf("marshalling an accepted config: %v", err)
			}
			if err := os.WriteFile(config, again, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadBundle(bundle); err != nil {
				t.Fatalf("config accepted, then refused once written out again: %v\n%s", err, again)
			}
		}
		if err := os.WriteFile(process, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if p, err := LoadProcess(process); err != nil {
			checkFuzzError(t, err, "process.json")
		} else if p == nil || len(p.Args) == 0 {
			t.Fatalf("LoadProcess accepted a process without args: %+v", p)
		}
	})
}

func checkFuzzError(t *testing.T, err error, file string) {
	t.Helper()
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, file+":") {
			t.Fatalf("error line %q does not name %s (error: %v)", line, file, err)
		}
	}
	var list ConfigErrors
	if errors.As(err, &list) {
		for _, fe := range list {
			if fe.File != file || fe.Msg == "" {
				t.Fatalf("FieldError %+v: no file or message", fe)
			}
		}
	}
}
