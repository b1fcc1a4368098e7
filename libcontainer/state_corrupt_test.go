package libcontainer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// corruptStates are state files berth must refuse, each with the reason
// it gives; the fuzz target starts from them too.
func corruptStates(t testing.TB, id string) []struct{ name, body, reason string } {
	valid, err := json.Marshal(sampleState(id))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := json.Marshal(sampleState("other"))
	without := func(key string) string {
		var m map[string]json.RawMessage
		json.Unmarshal(valid, &m)
		delete(m, key)
		b, _ := json.Marshal(m)
		return string(b)
	}
	return []struct{ name, body, reason string }{
		{"empty", "", "it is empty"},
		{"blank", " \n\t", "it is empty"},
		{"truncated", string(valid[:len(valid)/2]), "not the JSON of a container state: "},
		{"not-an-object", `[1,2]`, "not the JSON of a container state: "},
		{"null", `null`, "it has no id"},
		{"wrong-type", `{"id":"` + id + `","init_pid":"x","config":{}}`, "not the JSON of a container state: "},
		{"other-container", string(other), `it is the state of container "other"`},
		{"no-id", without("id"), "it has no id"},
		{"no-pid", without("init_pid"), "it has no init_pid"},
		{"no-config", without("config"), "it has no config"},
		{"null-config", `{"id":"` + id + `","init_pid":0,"config":null}`, "it has no config"},
		{"config-not-object", `{"id":"` + id + `","init_pid":0,"config":"x"}`, "its config is not a JSON object"},
		{"negative-pid", `{"id":"` + id + `","init_pid":-5,"config":{}}`, "init_pid -5 is negative"},
		{"trailing-garbage", string(valid) + "}", "not the JSON of a container state: "},
	}
}

func TestLoadStateCorrupt(t *testing.T) {
	root := t.TempDir()
	const id = "bad"
	dir := stateDir(root, id)
	os.Mkdir(dir, 0o711)
	path := filepath.Join(dir, stateFile)
	for _, tc := range corruptStates(t, id) {
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadState(root, id)
		want := `container "bad": state file ` + path + " is corrupt: " + tc.reason
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: loadState = %v, want %q...", tc.name, err, want)
		}
	}

	// A symlink in place of state.json is not followed, even to a valid state.
	good := filepath.Join(t.TempDir(), "good.json")
	b, _ := json.Marshal(sampleState(id))
	os.WriteFile(good, b, 0o600)
	os.Remove(path)
	os.Symlink(good, path)
	if _, err := loadState(root, id); err == nil || !strings.HasSuffix(err.Error(), "is corrupt: it is a symlink") {
		t.Errorf("symlinked state.json: %v", err)
	}
	// Nor a fifo opened (which would block) nor a directory read.
	os.Remove(path)
	unix.Mkfifo(path, 0o600)
	if _, err := loadState(root, id); err == nil || !strings.Contains(err.Error(), "is corrupt: it is not a regular file") {
		t.Errorf("fifo state.json: %v", err)
	}
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if _, err := loadState(root, id); err == nil || !strings.Contains(err.Error(), "is corrupt: it is not a regular file") {
		t.Errorf("directory state.json: %v", err)
	}
	// A symlinked state dir is not followed either.
	real := stateDir(root, "real")
	os.Mkdir(real, 0o711)
	os.WriteFile(filepath.Join(real, stateFile), b, 0o600)
	os.Symlink(real, stateDir(root, "link"))
	if _, err := loadState(root, "link"); err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symlinked state dir: %v", err)
	}

	// A state without an init pid yet (a create under way) is not corrupt.
	os.Remove(path)
	creating := sampleState(id)
	creating.InitPid, creating.InitStart = 0, 0
	if err := saveState(dir, creating); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(root, id); err != nil {
		t.Errorf("a creating state: %v", err)
	}
}

// ForceDelete removes every kind of corrupt state dir, and only it.
func TestForceDeleteCorrupt(t *testing.T) {
	root := t.TempDir()
	const id = "bad"
	dir := stateDir(root, id)
	for _, tc := range corruptStates(t, id) {
		os.Mkdir(dir, 0o711)
		os.WriteFile(filepath.Join(dir, stateFile), []byte(tc.body), 0o600)
		if err := ForceDelete(root, id); err != nil {
			t.Errorf("%s: ForceDelete: %v", tc.name, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the state dir is still there (%v)", tc.name, err)
		}
	}
	// A symlink as the state dir is removed, not its target.
	target := t.TempDir()
	os.WriteFile(filepath.Join(target, "keep"), nil, 0o600)
	os.Symlink(target, dir)
	if err := ForceDelete(root, id); err != nil {
		t.Errorf("symlinked dir: ForceDelete: %v", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("symlinked dir: still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(target, "keep")); err != nil {
		t.Errorf("symlinked dir: its target was touched: %v", err)
	}
	if err := ForceDelete(root, "missing"); err != nil {
		t.Errorf("ForceDelete of a missing container: %v", err)
	}
}

// FuzzLoadState: whatever state.json holds, loading it and decoding its
// config never panics; it either loads a state of this id or reports the
// file corrupt.
func FuzzLoadState(f *testing.F) {
	const id = "fuzz"
	valid, _ := json.Marshal(sampleState(id))
	f.Add(valid)
	for _, tc := range corruptStates(f, id) {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"id":"fuzz","init_pid":0,"config":{"linux":null,"process":{"args":[1]}}}`))
	f.Add([]byte(`{"id":"fuzz","init_pid":1,"init_start":1,"config":{},"cgroup_paths":{"":"/"},"host_mounts":{"before":1}}`))
	f.Add([]byte(`{"id":"fuzz","init_pid":99999999999999999999,"config":{}}`))
	f.Add([]byte(`{"id":"fuzz","id":"other","init_pid":0,"config":{}}`))
	f.Add([]byte("{\"id\":\"fu\xffzz\",\"init_pid\":0,\"config\":{}}"))
	root := f.TempDir()
	dir := stateDir(root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, stateFile)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := loadState(root, id)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), `container "fuzz": state file `+path+" is corrupt: ") {
				t.Fatalf("loadState: %v, want a corrupt state error", err)
			}
			return
		}
		if st.ID != id || st.InitPid < 0 || len(st.Config) == 0 {
			t.Fatalf("loaded a state that should have been refused: %+v", st)
		}
		c := newContainer(root, st)
		c.Config()
		c.specState("created")
		if _, _, err := stateAroundPid(c.specState("creating")); err != nil {
			t.Fatalf("stateAroundPid: %v", err)
		}
	})
}
