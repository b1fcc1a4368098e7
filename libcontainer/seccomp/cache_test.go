package seccomp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func cacheProfile(errno uint) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
}

func TestCacheServesWhatWasCompiled(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "cache"), Max: 2}
	miss, err := c.CompileCached(cacheProfile(1))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Fatalf("after one compile the cache holds %d entries", len(entries))
	}
	// A hit is read back, not compiled: replace the entry with a program
	// of our own and see it returned.
	marked := &Compiled{Program: bytes.Repeat([]byte{7}, 16), Flags: 2, Notify: true}
	path := filepath.Join(c.Dir, entries[0].Name())
	if err := os.WriteFile(path, encodeCached(marked), 0o600); err != nil {
		t.Fatal(err)
	}
	hit, err := c.CompileCached(cacheProfile(1))
	if err != nil || !bytes.Equal(hit.Program, marked.Program) || hit.Flags != 2 || !hit.Notify {
		t.Fatalf("hit = %+v, %v; want the stored entry", hit, err)
	}
	// A corrupt entry is compiled again and rewritten.
	if err := os.WriteFile(path, []byte(cacheMagic+"short"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := c.CompileCached(cacheProfile(1))
	if err != nil || !bytes.Equal(again.Program, miss.Program) {
		t.Fatalf("after corruption: %v, program equal %v", err, err == nil && bytes.Equal(again.Program, miss.Program))
	}
	// Another profile is another entry; Max bounds them.
	for _, e := range []uint{2, 3, 4} {
		if _, err := c.CompileCached(cacheProfile(e)); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 2 {
		t.Errorf("cache holds %d entries, Max is 2", len(entries))
	}
}

func TestCacheNeverFollowsSymlinks(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	key, err := cacheKey(cacheProfile(1))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "planted")
	if err := os.WriteFile(elsewhere, encodeCached(&Compiled{Program: make([]byte, 8)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(c.Dir, key)); err != nil {
		t.Fatal(err)
	}
	got, err := c.CompileCached(cacheProfile(1))
	if err != nil || len(got.Program) == 8 {
		t.Fatalf("a symlinked entry was used: %+v %v", got, err)
	}
	if fi, err := os.Lstat(filepath.Join(c.Dir, key)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the symlink was not replaced by a regular entry: %v %v", fi, err)
	}
}

func TestCacheKeepsCompileErrors(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	bad := &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}
	if _, err := c.CompileCached(bad); err == nil {
		t.Fatal("a bad profile compiled")
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 0 {
		t.Errorf("a bad profile left cache entries: %v", entries)
	}
}

func TestDecodeCachedRefusesMalformed(t *testing.T) {
	good := encodeCached(&Compiled{Program: make([]byte, 16)})
	for name, b := range map[string][]byte{
		"empty":        nil,
		"header only":  good[:16],
		"partial insn": good[:len(good)-3],
		"bad notify":   append(append([]byte{}, good[:12]...), append([]byte{9, 0, 0, 0}, good[16:]...)...),
		"other magic":  append([]byte("BRTHBPF0"), good[8:]...),
		"too long":     append(append([]byte{}, good...), make([]byte, maxCacheFile)...),
	} {
		if _, err := decodeCached(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decodeCached(good); err != nil {
		t.Errorf("good entry: %v", err)
	}
}
