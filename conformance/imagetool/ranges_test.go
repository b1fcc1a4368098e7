package imagetool

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

// rangeSetup pushes an image whose last layer is one 64 MiB file of
// random bytes, uncompressed (a blob of 8 ranges and a bit), and returns
// the registry and the file's content.
func rangeSetup(t *testing.T) (*harness.Registry, []byte) {
	t.Helper()
	data := make([]byte, 64<<20)
	rand.New(rand.NewSource(64)).Read(data)
	reg := startRegistry(t, harness.RegistryConfig{})
	l := newLayout(t)
	l.image(t, "v1", busybox(t, harness.Layer{Compression: "none", Files: []harness.File{{Path: "data/random", Data: data, Mode: 0o644}}}))
	l.push(t, reg, "v1", "big:v1")
	return reg, data
}

// checkUnpacked unpacks ref from the store st and compares data/random
// with want.
func checkUnpacked(t *testing.T, st, ref string, want []byte) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "b")
	mustRun(t, nil, "--store", st, "unpack", "-q", "--mode", "copy", ref, bundle)
	got, err := os.ReadFile(filepath.Join(bundle, "rootfs", "data", "random"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("unpacked data/random: %d bytes, sha256 %x; want %d bytes, sha256 %x", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

// TestPullParallelRanges pulls a 64 MiB layer from the distribution
// registry in 8 MiB ranges over several connections: the blob verifies
// (its digest is computed over the whole of it, in order) and unpacks.
func TestPullParallelRanges(t *testing.T) {
	reg, data := rangeSetup(t)
	p := startFaultProxy(t, reg.Addr, "")
	st := t.TempDir()
	// --range-streams given: ranges even where one stream would be fast.
	mustRun(t, nil, "--store", st, "--range-streams", "4", "pull", "-q", p.addr()+"/big:v1")
	checkStore(t, st)
	bounded := regexp.MustCompile(`^bytes=\d+-\d+$`)
	n := 0
	for _, r := range p.ranges {
		if bounded.MatchString(r) {
			n++
		}
	}
	if n < 9 {
		t.Fatalf("%d range requests of the form bytes=A-B (%v), want one per 8 MiB of the 64 MiB layer", n, p.ranges)
	}
	if m := p.maxInflight.Load(); m < 2 {
		t.Fatalf("at most %d range request(s) at once: the ranges were not fetched in parallel", m)
	}
	t.Logf("%d ranges, up to %d at once", n, p.maxInflight.Load())
	checkUnpacked(t, st, p.addr()+"/big:v1", data)

	// Straight from the registry, by default and with one stream: the
	// same blobs.
	for _, streams := range []string{"0", "4", "1"} {
		st2 := t.TempDir()
		mustRun(t, nil, "--store", st2, "--range-streams", streams, "pull", "-q", reg.Addr+"/big:v1")
		checkStore(t, st2)
		if out := mustRun(t, nil, "--store", st2, "verify"); strings.Contains(out, "FAILED") {
			t.Fatal(out)
		}
	}
	mustFail(t, nil, []string{"--store", st, "--range-streams", "17", "pull", "-q", reg.Addr + "/big:v1"}, "--range-streams 17", "want 1 to 16")
}

// TestPullRangesFallBack: a registry (here a proxy) that ignores Range
// answers the first range request with the whole blob, which is then
// taken as one stream.
func TestPullRangesFallBack(t *testing.T) {
	reg, data := rangeSetup(t)
	p := startFaultProxy(t, reg.Addr, "ignorerange")
	st := t.TempDir()
	mustRun(t, nil, "--store", st, "pull", "-q", p.addr()+"/big:v1")
	checkStore(t, st)
	if len(p.ranges) != 1 {
		t.Fatalf("range requests %v: want only the first (the probe)", p.ranges)
	}
	checkUnpacked(t, st, p.addr()+"/big:v1", data)
}

// TestPullBadRange: a range that arrives corrupted fails the pull with
// the blob's digest named; one that always arrives truncated fails it
// after the retries; neither leaves a blob, a temp file or an image.
func TestPullBadRange(t *testing.T) {
	reg, _ := rangeSetup(t)
	for _, c := range []struct{ mode, want string }{
		{"corruptrange", "digest mismatch"},
		{"truncaterange", "truncated"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			p := startFaultProxy(t, reg.Addr, c.mode)
			st := t.TempDir()
			line := mustFail(t, nil, []string{"--store", st, "--range-streams", "4", "pull", "-q", p.addr() + "/big:v1"}, p.addr()+"/big:v1", "blob sha256:", c.want)
			if p.faults.Load() == 0 {
				t.Fatal("the proxy changed no range")
			}
			if c.mode == "truncaterange" && !strings.Contains(line, "range bytes=") {
				t.Fatalf("error %q does not name the range", line)
			}
			checkStore(t, st) // every blob there hashes to its name; no temp file
			if len(listJSON(t, st)) != 0 {
				t.Fatal("an image with a bad range was recorded")
			}
			// The same store completes from the registry itself.
			mustRun(t, nil, "--store", st, "pull", "-q", reg.Addr+"/big:v1")
			checkStore(t, st)
		})
	}
}
