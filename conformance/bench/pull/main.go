// Command pull benchmarks `berth-image pull` against `crane pull
// --format=oci` and `skopeo copy docker://… oci:DIR` on two images served
// by the distribution registry on loopback, each pulled into a cold
// (empty) store: a ~200 MB multi-layer one and a ~500 MiB single-layer
// one. It prints a markdown section with the medians and the ratios.
// crane is built from the Go module proxy, at the go-containerregistry
// version go.mod uses, into a cache directory (never committed).
//
// The large image is also pulled through a delay line that adds a round
// trip time (-latency, 20 ms) with a TCP-like window per connection
// (latencyProxy in latency.go), where berth-image's parallel range
// requests (--range-streams, 4 by default) are compared with one stream.
//
//	go run ./conformance/bench/pull [-mb 200] [-layers 8] [-big-mb 500] [-runs 7] [-latency 20ms] [-window 4194304]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/conformance/imagetool/harness"
	"github.com/berthproject/berth/imagetool/store"
)

func main() {
	mb := flag.Int("mb", 200, "approximate compressed image size in MB")
	layers := flag.Int("layers", 8, "number of layers (plus busybox)")
	runs := flag.Int("runs", 7, "timed runs of each tool")
	bigMB := flag.Int("big-mb", 500, "size in MiB of the single-layer image (0: skip it)")
	serve := flag.Bool("serve", false, "only build and push the image, print its reference (through the delay line with -latency), and serve it until interrupted (for profiling)")
	latency := flag.Duration("latency", 20*time.Millisecond, "round trip time added for the second measurement of the large image (0: skip it)")
	window := flag.Int("window", 4<<20, "bytes a connection may have in flight per round trip through the delay line")
	flag.Parse()
	lat := latencies{window: *window}
	if *serve {
		lat.rtts = []time.Duration{*latency}
	}
	crane, err := buildCrane()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull: building crane:", err)
		os.Exit(1)
	}
	if err := bench(crane, *mb, *layers, *runs, *serve, false, lat); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
	if *bigMB == 0 || *serve {
		return
	}
	lat.rtts = []time.Duration{0}
	if *latency > 0 {
		lat.rtts = append(lat.rtts, *latency)
	}
	if err := bench(crane, *bigMB*(1<<20)/1_000_000, 1, *runs, false, true, lat); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
}

// buildCrane builds crane at the go-containerregistry version of go.mod
// into $XDG_CACHE_HOME/berth-bench (~/.cache/berth-bench) once.
func buildCrane() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/google/go-containerregistry").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %v", err)
	}
	version := strings.TrimSpace(string(out))
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "berth-bench", "crane-"+version)
	bin := filepath.Join(dir, "crane")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.Command("go", "install", "github.com/google/go-containerregistry/cmd/crane@"+version)
	cmd.Dir = os.TempDir() // outside this module: go.mod stays as it is
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install crane@%s: %v\n%s", version, err, out)
	}
	return bin, nil
}

// latencies are the round trip times to measure at (0: loopback as it
// is) and the delay line's window.
type latencies struct {
	rtts   []time.Duration
	window int
}

func bench(crane string, mb, layers, runs int, serve, single bool, lat latencies) error {
	work, err := os.MkdirTemp("", "berth-bench-pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "berth-image")
	if out, err := exec.Command("go", "build", "-o", bin, "./imagetool").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./imagetool (run from the repository root): %v\n%s", err, out)
	}

	src := filepath.Join(work, "src")
	nLayers := layers + 1
	if single {
		nLayers = 1
	}
	fmt.Fprintf(os.Stderr, "building a ~%d MB image with %d layer(s)...\n", mb, nLayers)
	size, err := buildImage(src, mb, layers, single)
	if err != nil {
		return err
	}
	reg, err := harness.StartRegistry(filepath.Join(work, "registry"), harness.RegistryConfig{})
	if err != nil {
		return err
	}
	defer reg.Close()
	if out, err := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+src+":v1", "docker://"+reg.Addr+"/bench/image:v1").CombinedOutput(); err != nil {
		return fmt.Errorf("pushing with skopeo: %v\n%s", err, out)
	}
	if len(lat.rtts) == 0 {
		lat.rtts = []time.Duration{0}
	}
	for _, rtt := range lat.rtts {
		addr := reg.Addr
		if rtt > 0 {
			p, err := startDelayProxy(reg.Addr, rtt, lat.window)
			if err != nil {
				return err
			}
			defer p.Close()
			addr = p.Addr()
		}
		if err := measure(work, bin, crane, addr+"/bench/image:v1", size, nLayers, runs, serve, single, rtt, lat.window); err != nil {
			return err
		}
	}
	return nil
}

// measure times the tools pulling ref.
func measure(work, bin, crane, ref string, size int64, nLayers, runs int, serve, single bool, rtt time.Duration, window int) error {
	if serve {
		fmt.Println(ref)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}

	tools := []struct {
		name string
		cmd  func(dir string) *exec.Cmd
	}{
		{"berth-image pull", func(dir string) *exec.Cmd {
			return exec.Command(bin, "--store", dir, "pull", "--quiet", ref)
		}},
		{"crane pull --format=oci", func(dir string) *exec.Cmd {
			return exec.Command(crane, "pull", "--insecure", "--format=oci", ref, dir)
		}},
		{"skopeo copy docker:// oci:", func(dir string) *exec.Cmd {
			return exec.Command("skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":v1")
		}},
	}
	if single {
		tools = append(tools, struct {
			name string
			cmd  func(dir string) *exec.Cmd
		}{"berth-image pull --range-streams 1", func(dir string) *exec.Cmd {
			return exec.Command(bin, "--store", dir, "--range-streams", "1", "pull", "--quiet", ref)
		}})
	}
	times := make([][]time.Duration, len(tools))
	// Warm-up run of each (registry caches, page cache), not timed.
	for run := -1; run < runs; run++ {
		for i, tool := range tools {
			// Alternate the order so neither tool always runs first.
			if run%2 == 1 {
				i = len(tools) - 1 - i
				tool = tools[i]
			}
			dir := filepath.Join(work, fmt.Sprintf("dest-%d-%d", i, run+1))
			cmd := tool.cmd(dir)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", tool.name, err, out)
			}
			// Let the deletion and its writeback settle so that it does not
			// slow down the next measured run.
			os.RemoveAll(dir)
			syscall.Sync()
			time.Sleep(200 * time.Millisecond)
			if run >= 0 {
				times[i] = append(times[i], d)
			}
		}
	}

	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
		return s[len(s)/2]
	}
	skopeoVersion, _ := exec.Command("skopeo", "--version").Output()
	title, where := "multi-layer image", "served by the distribution registry on 127.0.0.1"
	if single {
		title = "one large layer"
	}
	if rtt > 0 {
		title += fmt.Sprintf(", %v round trip", rtt)
		where = fmt.Sprintf("served by the distribution registry on 127.0.0.1 through a delay line adding %v to the round trip, at most %d KiB in flight per connection and round trip (conformance/bench/pull/latency.go)", rtt, window>>10)
	}
	fmt.Printf("## Pull, %s: berth-image vs crane vs skopeo\n\n", title)
	fmt.Printf("Image: %.1f MB compressed in %d layer(s), %s; "+
		"each run pulls into an empty store/directory (berth-image fsyncs every blob before recording it; crane and skopeo do not sync); median of %d runs after one warm-up, the tools alternating; %d CPUs; crane %s (built from the module proxy at go.mod's version); %s.\n\n",
		float64(size)/1e6, nLayers, where, runs, runtime.NumCPU(), filepath.Base(filepath.Dir(crane)), strings.TrimSpace(string(skopeoVersion)))
	fmt.Printf("| tool | median | runs |\n|---|---|---|\n")
	for i, tool := range tools {
		var all []string
		for _, d := range times[i] {
			all = append(all, fmt.Sprintf("%.2fs", d.Seconds()))
		}
		fmt.Printf("| %s | %.2fs | %s |\n", tool.name, med(times[i]).Seconds(), strings.Join(all, " "))
	}
	// Each run pulls once with each tool back to back; the median of the
	// per-run ratios is less sensitive to load from other work drifting
	// during the benchmark than the ratio of the medians.
	ratio := func(a, b int) (float64, float64) {
		var rs []time.Duration
		for i := range times[a] {
			rs = append(rs, time.Duration(float64(time.Second)*times[a][i].Seconds()/times[b][i].Seconds()))
		}
		return med(times[a]).Seconds() / med(times[b]).Seconds(), med(rs).Seconds()
	}
	c, cr := ratio(0, 1)
	sk, skr := ratio(0, 2)
	fmt.Printf("\nberth-image takes **%.2fx** crane's time (ratio of the medians; median of the per-run ratios %.2fx; target: at most 1.00x) and %.2fx skopeo's (per-run %.2fx).\n", c, cr, sk, skr)
	if single {
		c1, c1r := ratio(3, 1)
		p, pr := ratio(0, 3)
		fmt.Printf("With one stream per blob (--range-streams 1) it takes %.2fx crane's time (per-run %.2fx); the default (4 streams of 8 MiB ranges when the first range comes slower than 250 MiB/s) takes %.2fx the time of one stream (per-run %.2fx).\n", c1, c1r, p, pr)
	}
	return nil
}

// buildImage writes a busybox layer (none when single) plus layers of generated files
// totalling about mb MB compressed into an OCI layout tagged v1, and
// returns the compressed size.
func buildImage(dir string, mb, layers int, single bool) (int64, error) {
	s, err := store.Open(dir)
	if err != nil {
		return 0, err
	}
	bb, err := harness.BusyboxLayer()
	if err != nil {
		return 0, err
	}
	img := harness.Image{OS: runtime.GOOS, Arch: runtime.GOARCH, Layers: []harness.Layer{bb}}
	if single {
		img.Layers = nil // generated files only, in one layer
	}
	// Generated files compress to about 5/8 of their size.
	perLayer := mb * 1_000_000 * 8 / 5 / layers
	const fileSize = 1 << 20
	for i := 0; i < layers; i++ {
		img.Layers = append(img.Layers, harness.Layer{Files: harness.GeneratedFiles(fmt.Sprintf("data/%d", i), int64(100+i), perLayer/fileSize, fileSize)})
	}
	desc, err := harness.BuildImage(s, img)
	if err != nil {
		return 0, err
	}
	if err := s.Tag("v1", desc); err != nil {
		return 0, err
	}
	m, err := s.Manifest(desc)
	if err != nil {
		return 0, err
	}
	size := m.Config.Size + desc.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size, nil
}
