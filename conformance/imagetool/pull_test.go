package imagetool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func TestPullPlainRegistry(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t, harness.Layer{Files: harness.GeneratedFiles("srv", 2, 2, 50_000)}))
	l.push(t, reg, "v1", "ns/app:v1")

	st := t.TempDir()
	ref := reg.Addr + "/ns/app:v1"
	out := mustRun(t, nil, "--store", st, "pull", "--quiet", ref)
	if !strings.Contains(out, want.Digest.String()) {
		t.Fatalf("pull printed %q, want the manifest digest %s", out, want.Digest)
	}
	checkStore(t, st)

	list := listJSON(t, st)
	if len(list) != 1 || list[0]["name"] != ref || list[0]["digest"] != want.Digest.String() {
		t.Fatalf("list = %v, want one image %s %s", list, ref, want.Digest)
	}
	if list[0]["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("list created = %v", list[0]["created"])
	}

	var info struct {
		Manifest struct{ Layers []struct{ Digest string } }
		Config   struct{ Architecture string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "inspect", ref)), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Manifest.Layers) != 3 || info.Config.Architecture != "amd64" {
		t.Fatalf("inspect: %+v", info)
	}
	raw := mustRun(t, nil, "--store", st, "inspect", "--raw", ref)
	if !strings.Contains(raw, `"layers"`) {
		t.Fatalf("inspect --raw printed %q", raw)
	}

	// A second pull fetches nothing: every blob is already there.
	var res struct{ FetchedBytes, ReusedBytes int64 }
	if err := json.Unmarshal([]byte(mustRun(t, nil, "--store", st, "--format", "json", "--quiet", "pull", ref)), &res); err != nil {
		t.Fatal(err)
	}
	if res.FetchedBytes != 0 || res.ReusedBytes == 0 {
		t.Fatalf("re-pull fetched %d bytes, reused %d; want 0 fetched", res.FetchedBytes, res.ReusedBytes)
	}

	// By digest, and by tag plus digest.
	mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/ns/app@"+want.Digest.String())
	mustRun(t, nil, "--store", st, "pull", "-q", ref+"@"+want.Digest.String())
	if n := len(listJSON(t, st)); n != 2 {
		t.Fatalf("after pulls by digest list has %d images, want 2 (tag and digest names)", n)
	}
}

func TestPullProgressOutput(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	want := l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "app:v1")
	ref := reg.Addr + "/app:v1"

	// Not a terminal: one line per blob on stderr, the result on stdout.
	st := t.TempDir()
	r := runBin(t, nil, "--store", st, "pull", ref)
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "layer ") && !strings.HasPrefix(lines[0], "config ") {
		t.Fatalf("progress lines:\n%s", r.stderr)
	}
	if r.stdout != ref+" "+want.Digest.String()+"\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = runBin(t, nil, "--store", st, "pull", ref)
	if strings.Count(r.stderr, "already present") != 3 {
		t.Fatalf("re-pull progress:\n%s", r.stderr)
	}

	// JSON: events on stderr, one result object on stdout.
	r = runBin(t, nil, "--store", t.TempDir(), "--format", "json", "pull", ref)
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	events := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var ev struct{ Event, Digest, Status string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("progress line %q: %v", line, err)
		}
		// Every event is whole, the first one too.
		var keys map[string]any
		json.Unmarshal([]byte(line), &keys)
		for _, k := range []string{"event", "digest", "what", "total", "done"} {
			if _, ok := keys[k]; !ok {
				t.Fatalf("progress event %s lacks %q", line, k)
			}
		}
		if keys["total"].(float64) <= 0 {
			t.Fatalf("progress event without its total: %s", line)
		}
		events[ev.Event]++
		if ev.Event == "finish" && ev.Status != "done" {
			t.Fatalf("finish event %+v", ev)
		}
	}
	if events["start"] != 3 || events["finish"] != 3 {
		t.Fatalf("events %v", events)
	}
	var res struct {
		Name     string
		Manifest struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Name != ref || res.Manifest.Digest != want.Digest.String() {
		t.Fatalf("json result %q: %v", r.stdout, err)
	}
}

func TestPullProgressBarsOnTerminal(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t))
	l.push(t, reg, "v1", "app:v1")

	s, out := stderrOnPTY(t, 0, "--store", t.TempDir(), "pull", reg.Addr+"/app:v1")
	if !strings.Contains(s, "\x1b[") || strings.Count(s, "["+strings.Repeat("=", 30)+"]") < 3 {
		t.Fatalf("terminal output has no finished progress bars: %q", s)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("progress leaked to stdout: %q", out.String())
	}
}

// TestProgressBarsWithMoreLayersThanRows bundles an image of 24 layers on a
// six-row terminal: each finished layer's line is printed once, the live
// area never reaches past the top of the screen (cursor moves up at most
// rows-1 lines), and the unpack phase of bundle gets its line.
func TestProgressBarsWithMoreLayersThanRows(t *testing.T) {
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	var layers []harness.Layer
	for i := 0; i < 24; i++ {
		// Random content: each layer is over the proxy's 10 kB "slow" mark.
		layers = append(layers, harness.Layer{Files: harness.GeneratedFiles(fmt.Sprintf("l%d", i), int64(100+i), 1, 24_000)})
	}
	want := l.image(t, "v1", harness.Image{Layers: layers})
	l.push(t, reg, "v1", "many:v1")
	p := startFaultProxy(t, reg.Addr, "slow")

	const rows = 6
	bundle := filepath.Join(t.TempDir(), "b")
	s, out := stderrOnPTY(t, rows, "--store", t.TempDir(), "bundle", "--mode", "copy", p.addr()+"/many:v1", bundle)
	for _, m := range regexp.MustCompile(`\x1b\[(\d+)A`).FindAllStringSubmatch(s, -1) {
		if n, _ := strconv.Atoi(m[1]); n > rows-1 {
			t.Fatalf("the cursor moved up %d lines on a %d-row terminal", n, rows)
		}
	}
	var m ocispec.Manifest
	readJSON(t, filepath.Join(l.dir, "blobs", "sha256", want.Digest.Encoded()), &m)
	for _, b := range append(m.Layers, m.Config) {
		// "layer 1234abcd… [=====] 16.3 KiB in 98ms (…)"; a bar in
		// progress says "done / total" instead.
		final := regexp.MustCompile(b.Digest.Encoded()[:12] + ` \[=+\] [^/\r\n]* in `)
		if n := len(final.FindAllString(s, -1)); n != 1 {
			t.Errorf("blob %s: %d finished lines, want 1", b.Digest, n)
		}
	}
	if !strings.Contains(s, "more in progress") {
		t.Errorf("no line counting the transfers not shown:\n%q", s)
	}
	if !strings.Contains(s, "unpack "+bundle+" [") || !strings.Contains(s, "24 layers in ") {
		t.Errorf("no line for the unpack phase:\n%q", s)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Fatalf("progress leaked to stdout: %q", out.String())
	}
}

// stderrOnPTY runs berth-image with stderr on a new pseudo-terminal (of
// rows rows, when not 0) and returns what the terminal got and stdout.
func stderrOnPTY(t *testing.T, rows uint16, args ...string) (tty string, stdout *bytes.Buffer) {
	t.Helper()
	master, slave := openPTY(t)
	if rows > 0 {
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: 120}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = slave
	var out, got bytes.Buffer
	cmd.Stdout = &out
	copied := make(chan struct{})
	go func() { io.Copy(&got, master); close(copied) }()
	err := cmd.Run()
	slave.Close()
	<-copied
	if err != nil {
		t.Fatalf("%v\n%s", err, got.String())
	}
	return got.String(), &out
}

// openPTY returns the master and slave of a new pseudo-terminal.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}
