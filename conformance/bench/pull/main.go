// Command pull benchmarks `berth-image pull` against `skopeo copy
// docker://… oci:DIR` on a ~200 MB multi-layer image served by the
// distribution registry on loopback, each into a cold (empty) store, and
// prints a markdown section with the medians and the ratio.
//
//	go run ./conformance/bench/pull [-mb 200] [-layers 8] [-runs 5]
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
	serve := flag.Bool("serve", false, "only build and push the image, print its reference, and serve it until interrupted (for profiling)")
	flag.Parse()
	if err := bench(*mb, *layers, *runs, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
		os.Exit(1)
	}
}

func bench(mb, layers, runs int, serve bool) error {
	work, err := os.MkdirTemp("", "berth-bench-pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "berth-image")
	if out, err := exec.Command("go", "build", "-o", bin, "./imagetool").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./imagetool (run from the repository root): %v\n%s", err, out)
	}

	fmt.Fprintf(os.Stderr, "building a ~%d MB image with %d layers...\n", mb, layers+1)
	src := filepath.Join(work, "src")
	size, err := buildImage(src, mb, layers)
	if err != nil {
		return err
	}
	reg, err := harness.StartRegistry(filepath.Join(work, "registry"), harness.RegistryConfig{})
	if err != nil {
		return err
	}
	defer reg.Close()
	ref := reg.Addr + "/bench/image:v1"
	if out, err := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+src+":v1", "docker://"+ref).CombinedOutput(); err != nil {
		return fmt.Errorf("pushing with skopeo: %v\n%s", err, out)
	}

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
		{"skopeo copy docker:// oci:", func(dir string) *exec.Cmd {
			return exec.Command("skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":v1")
		}},
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
	mBerth, mSkopeo := med(times[0]), med(times[1])
	skopeoVersion, _ := exec.Command("skopeo", "--version").Output()
	fmt.Printf("## Pull: berth-image vs skopeo\n\n")
	fmt.Printf("Image: %.1f MB compressed in %d layers, served by the distribution registry on 127.0.0.1; "+
		"each run pulls into an empty store/directory; median of %d runs after one warm-up; %d CPUs; %s.\n\n",
		float64(size)/1e6, layers+1, runs, runtime.NumCPU(), strings.TrimSpace(string(skopeoVersion)))
	fmt.Printf("| tool | median | runs |\n|---|---|---|\n")
	for i, tool := range tools {
		var all []string
		for _, d := range times[i] {
			all = append(all, fmt.Sprintf("%.2fs", d.Seconds()))
		}
		fmt.Printf("| %s | %.2fs | %s |\n", tool.name, med(times[i]).Seconds(), strings.Join(all, " "))
	}
	// Each run pairs one pull of each tool back to back; the median of the
	// per-pair ratios is less sensitive to load from other work drifting
	// during the benchmark than the ratio of the medians.
	var ratios []time.Duration
	for i := range times[0] {
		ratios = append(ratios, time.Duration(float64(time.Second)*times[1][i].Seconds()/times[0][i].Seconds()))
	}
	fmt.Printf("\nberth-image is **%.2fx** as fast as skopeo (ratio of the medians; median of the per-run ratios: %.2fx; target: at least 1.5x).\n",
		mSkopeo.Seconds()/mBerth.Seconds(), med(ratios).Seconds())
	return nil
}

// buildImage writes a busybox layer plus layers of generated files
// totalling about mb MB compressed into an OCI layout tagged v1, and
// returns the compressed size.
func buildImage(dir string, mb, layers int) (int64, error) {
	s, err := store.Open(dir)
	if err != nil {
		return 0, err
	}
	bb, err := harness.BusyboxLayer()
	if err != nil {
		return 0, err
	}
	img := harness.Image{OS: runtime.GOOS, Arch: runtime.GOARCH, Layers: []harness.Layer{bb}}
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
