package libcontainer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "abc-123", "A_b.c+d", "...a", ".hidden", "x" + strings.Repeat("y", 200), "0"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want ok", id, err)
		}
	}
	if err := ValidateID(""); err == nil || err.Error() != "container id cannot be empty" {
		t.Errorf("ValidateID(\"\") = %v", err)
	}
	for _, id := range []string{".", "..", "a/b", "/a", "a b", "a\x00b", "é", "a:b", "a,b", "a\n", strings.Repeat("a", 1025)} {
		err := ValidateID(id)
		if err == nil {
			t.Errorf("ValidateID(%q) accepted it", id)
			continue
		}
		if !strings.Contains(err.Error(), "invalid container id") {
			t.Errorf("ValidateID(%q) = %v, want an \"invalid container id\" error", id, err)
		}
	}
}

// TestValidIDMatchesRuncPattern checks the hand-written id rule against
// runc's regular expression, every byte alone and in some mixes.
func TestValidIDMatchesRuncPattern(t *testing.T) {
	re := regexp.MustCompile(`^[\w+\-.]+$`)
	ids := []string{"", "a", "a-b", "a.b_c+d", "a/b", "a b", "é", "x\x00", strings.Repeat("z", 300)}
	for c := 0; c < 256; c++ {
		ids = append(ids, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, id := range ids {
		if got, want := validID(id), re.MatchString(id); got != want {
			t.Errorf("validID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}

func sampleState(id string) *State {
	oom := 100
	return &State{
		ID: id, Bundle: "/bundle/" + id, Rootfs: "/bundle/" + id + "/rootfs",
		InitPid: 1234, InitStart: 987654321,
		Created:     time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Owner:       "root",
		Annotations: map[string]string{"k": "v"},
		Config:      configJSON(&specs.Spec{Version: "1.2.0", Process: &specs.Process{Args: []string{"sh"}, OOMScoreAdj: &oom}, Linux: &specs.Linux{CgroupsPath: "/x"}}),
		Version:     "1.2.0",
		CgroupsPath: "/x",
		CgroupPaths: map[string]string{"memory": "/sys/fs/cgroup/memory/x"},
		Systemd:     true, Rootless: true, NoNewKeyring: true,
	}
}

func configJSON(s *specs.Spec) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// dirNames lists dir, to check that no temp file was left in it.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveLoadRoundTrip(t *testing.T) {
	root := t.TempDir()
	want := sampleState("round-trip")
	dir := stateDir(root, want.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(root, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %+v\nwant   %+v", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state.json mode %v, want 0600", st.Mode().Perm())
	}
	// An update replaces the file and leaves no temp file behind.
	want.NoNewKeyring = false
	want.InitPid = 99
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err := loadState(root, want.ID); err != nil || got.InitPid != 99 || got.NoNewKeyring {
		t.Fatalf("after update loaded %+v, %v", got, err)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{stateFile}) {
		t.Fatalf("state dir holds %q, want only %s", names, stateFile)
	}
}

// A failed write leaves the old state whole and no temp file.
func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := writeFileAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Renaming over a non-empty directory fails after the temp file was
	// written: the temp file must be cleaned up.
	sub := filepath.Join(dir, "sub")
	os.MkdirAll(filepath.Join(sub, "x"), 0o755)
	if err := writeFileAtomic(sub, []byte("new"), 0o600); err == nil {
		t.Fatal("writeFileAtomic over a non-empty directory succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("old file now holds %q", b)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"f.json", "sub"}) {
		t.Fatalf("dir holds %q after a failed write, want no temp file", names)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("writeFileAtomic into a missing directory succeeded")
	}
}

// A reader never sees a partly written state while saves go on.
func TestSaveStateReadersSeeWholeFiles(t *testing.T) {
	root := t.TempDir()
	st := sampleState("concurrent")
	st.Annotations = map[string]string{"big": strings.Repeat("z", 256<<10)}
	dir := stateDir(root, st.ID)
	os.Mkdir(dir, 0o711)
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for i := 0; i < 50; i++ {
			st.InitPid = i
			if err := saveState(dir, st); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for reading := true; reading; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			reading = false
		default:
			if _, err := loadState(root, st.ID); err != nil {
				t.Fatalf("a reader saw a broken state: %v", err)
			}
		}
	}
}

func TestLoadStateErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := loadState(root, "../etc"); err == nil || !strings.Contains(err.Error(), "invalid container id") {
		t.Errorf("loadState(../etc) = %v, want an invalid id error", err)
	}
	_, err := loadState(root, "missing")
	if !errors.Is(err, ErrNotExist) || err.Error() != `container "missing": container does not exist` {
		t.Errorf("loadState(missing) = %v, want ErrNotExist naming the id", err)
	}
	// A dir without state.json (create still running) is not there either.
	os.Mkdir(filepath.Join(root, "creating"), 0o711)
	if _, err := loadState(root, "creating"); !errors.Is(err, ErrNotExist) {
		t.Errorf("loadState(creating) = %v, want ErrNotExist", err)
	}
	os.Mkdir(filepath.Join(root, "corrupt"), 0o711)
	path := filepath.Join(root, "corrupt", stateFile)
	os.WriteFile(path, []byte(`{"id": "corrupt", "init_pid": "x"`), 0o600)
	_, err = loadState(root, "corrupt")
	if err == nil || !strings.HasPrefix(err.Error(), `container "corrupt": state file `+path+" is corrupt: ") || !errors.Is(err, ErrCorrupt) {
		t.Errorf("loadState(corrupt) = %v, want an error naming the file", err)
	}
	if errors.Is(err, ErrNotExist) {
		t.Errorf("a corrupt state is reported as missing: %v", err)
	}
}

func TestLockDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		unlock2, err := lockDir(dir, unix.LOCK_EX)
		if err != nil {
			t.Error(err)
		} else {
			unlock2()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second lockDir succeeded while the first was held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the second lockDir did not get the lock after unlock")
	}
	if _, err := lockDir(filepath.Join(dir, "missing"), unix.LOCK_EX); err == nil {
		t.Fatal("lockDir of a missing dir succeeded")
	}
}

func TestRemoveStateDir(t *testing.T) {
	root := t.TempDir()
	for name, files := range map[string][]string{
		"state only":        {stateFile},
		"empty":             nil,
		"fifo and tmp left": {stateFile, fifoName, ".state.json.tmp123"},
	} {
		dir := filepath.Join(root, strings.ReplaceAll(name, " ", "-"))
		if err := os.Mkdir(dir, 0o711); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := removeStateDir(dir); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: dir still there (%v)", name, err)
		}
		if err := removeStateDir(dir); err != nil {
			t.Fatalf("%s: removing it again: %v", name, err)
		}
	}
}

// saveState's temp file is the only file besides state.json, and is gone
// once the state is saved; the mode is the one asked for, whatever the umask.
func TestWriteFileAtomicLeavesOneFile(t *testing.T) {
	dir := t.TempDir()
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	p := filepath.Join(dir, "f.json")
	for i := 0; i < 3; i++ {
		if err := writeFileAtomic(p, []byte(`{"n":1}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "f.json" {
		t.Fatalf("dir holds %v", ents)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", fi.Mode())
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("write below a missing dir: %v", err)
	}
}
