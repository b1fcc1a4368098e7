package suite

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRootfs(t *testing.T) {
	const busybox = "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Fatalf("this test needs Debian's busybox-static at %s: %v", busybox, err)
	}
	path := filepath.Join(t.TempDir(), RootfsTarball())
	if err := WriteRootfs(path, busybox); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	entries := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
	}
	for _, dir := range []string{"./bin/", "./dev/", "./proc/", "./sys/", "./etc/"} {
		if h := entries[dir]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("missing directory %s", dir)
		}
	}
	if h := entries["./bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox missing or not executable: %+v", h)
	}
	for _, applet := range []string{"sh", "false", "sleep", "cat"} {
		h := entries["./bin/"+applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s is not a symlink to busybox: %+v", applet, h)
		}
	}
	if entries["./etc/passwd"] == nil || entries["./etc/group"] == nil {
		t.Error("missing etc/passwd or etc/group")
	}
	// Building twice gives the same bytes (no timestamps), so the work
	// directory does not churn.
	again := path + ".2"
	if err := WriteRootfs(again, busybox); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Error("rootfs tarball is not reproducible")
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:30 / /sys/fs/cgroup/pids rw shared:12 - cgroup cgroup rw,pids
99 22 0:50 / /tmp/with\040space rw - tmpfs tmpfs rw
`
	got, err := parseMountinfo(bufio.NewScanner(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{{"/", "ext4"}, {"/sys/fs/cgroup/pids", "cgroup"}, {"/tmp/with space", "tmpfs"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseMountinfo(bufio.NewScanner(strings.NewReader("garbage\n"))); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestIsUnder(t *testing.T) {
	cases := map[[2]string]bool{
		{"/w/tmp/x", "/w/tmp/x"}:                 true,
		{"/w/tmp/x/ocitest1/rootfs", "/w/tmp/x"}: true,
		{"/w/tmp/xy", "/w/tmp/x"}:                false,
		{"/w/tmp", "/w/tmp/x"}:                   false,
		{"/other", "/w/tmp/x"}:                   false,
		{"/w/tmp/x/..foo", "/w/tmp/x"}:           true,
	}
	for c, want := range cases {
		if got := isUnder(c[0], c[1]); got != want {
			t.Errorf("isUnder(%q, %q) = %v, want %v", c[0], c[1], got, want)
		}
	}
}
