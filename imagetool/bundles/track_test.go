package bundles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/imagetool/store"
)

// A reference being written when berth-image was killed (the temp file
// store.WriteFileAtomic leaves) is removed by gc's keep hook; finished
// references are written 0600.
func TestKeepRemovesTrackTempFiles(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bdir := t.TempDir()
	if err := Track(s, bdir, Info{ID: "b1"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(refDir(s), "b1.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("reference b1.json: %v %v, want a 0600 file", fi, err)
	}
	temp := filepath.Join(refDir(s), ".b2.json.tmp-12345")
	if err := os.WriteFile(temp, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keep(s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(temp); !os.IsNotExist(err) {
		t.Errorf("temp reference %s left after keep (%v)", temp, err)
	}
}
