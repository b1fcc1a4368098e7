package imagetool

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDocsEquivalents runs every berth-image command of the table of
// skopeo/crane/umoci equivalents in docs/imagetool.md, as written and in
// order, in an empty directory, against a registry standing in for
// localhost:5000.
func TestDocsEquivalents(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "imagetool.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "<!-- equivalents -->")
	table, _, ok2 := strings.Cut(table, "<!-- /equivalents -->")
	if !ok || !ok2 {
		t.Fatal("docs/imagetool.md has no equivalents table")
	}
	cell := regexp.MustCompile("\\| `(berth-image [^`]+)` \\|\\s*$")
	var cmds []string
	for _, row := range strings.Split(table, "\n") {
		if m := cell.FindStringSubmatch(row); m != nil {
			cmds = append(cmds, m[1])
		} else if strings.HasPrefix(row, "| ") && !strings.HasPrefix(row, "| tool") {
			t.Errorf("row without a berth-image command in its last column: %s", row)
		}
	}
	if len(cmds) < 25 {
		t.Fatalf("the table has %d berth-image commands", len(cmds))
	}

	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	var ms []ocispec.Descriptor
	for i, arch := range []string{"amd64", "arm64"} {
		img := busybox(t, harness.Layer{Files: harness.GeneratedFiles("d", int64(70+i), 1, 1000)})
		img.Arch = arch
		ms = append(ms, l.image(t, "", img))
	}
	l.index(t, "multi", ms...)
	l.push(t, reg, "v1", "app:v1")
	l.push(t, reg, "multi", "multi:1", "--all")
	_, port, _ := strings.Cut(reg.Addr, ":")

	dir := t.TempDir()
	t.Cleanup(func() {
		for _, b := range []string{"bundle", "bundle2"} {
			exec.Command("umount", "-l", filepath.Join(dir, b, "rootfs")).Run()
		}
	})
	for _, c := range cmds {
		line := strings.ReplaceAll(c, "localhost:5000", "localhost:"+port)
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		if len(out) == 0 {
			t.Errorf("%s printed nothing", c)
		}
	}
}
