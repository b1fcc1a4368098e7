// Command bundle benchmarks `berth-image bundle` against `skopeo copy` +
// `umoci unpack` on a ~200 MB (uncompressed) Debian-like multi-layer image
// made from this host's own Debian files, served by the distribution
// registry on loopback, and prints a markdown section with the medians and
// ratios:
//
//   - cold: an empty store, pull and unpack;
//   - warm: a second bundle of the same image (store and layer cache kept;
//     skopeo's OCI dir is kept too, umoci has no cache).
//
// Run as root from the repository root:
//
//	go run ./conformance/bench/bundle [-mb 200] [-runs 5]
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
)

func main() {
	mb := flag.Int("mb", 200, "approximate uncompressed image size in MB")
	runs := flag.Int("runs", 5, "timed runs of each case (after one warm-up)")
	serve := flag.Bool("serve", false, "only build and push the image, print its reference and layout dir, and serve it until interrupted (for profiling)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/bundle: run as root (umoci and berth-image unpack with real owners)")
		os.Exit(1)
	}
	if err := bench(*mb, *runs, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "bench/bundle:", err)
		os.Exit(1)
	}
}

// timedCase is one thing measured; prepare runs untimed before each run.
type timedCase struct {
	name    string
	prepare func(run int) error
	steps   func(run int) [][]string
}

func bench(mb, runs int, serve bool) error {
	work, err := os.MkdirTemp("", "berth-bench-bundle-")
	if err != nil {
		return err
	}
	defer func() {
		unmountUnder(work)
		unmountFS(filepath.Join(work, "run"))
		unmountFS(filepath.Join(work, "warm"))
		os.RemoveAll(work)
	}()
	bin := filepath.Join(work, "berth-image")
	if out, err := exec.Command("go", "build", "-o", bin, "./imagetool").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./imagetool (run from the repository root): %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "building a ~%d MB image from this host's files...\n", mb)
	layout := filepath.Join(work, "layout")
	info, err := buildImage(layout, int64(mb)<<20)
	if err != nil {
		return err
	}
	reg, err := harness.StartRegistry(filepath.Join(work, "registry"), harness.RegistryConfig{})
	if err != nil {
		return err
	}
	defer reg.Close()
	ref := reg.Addr + "/bench/debian:v1"
	if out, err := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+ref).CombinedOutput(); err != nil {
		return fmt.Errorf("pushing with skopeo: %v\n%s", err, out)
	}

	if serve {
		fmt.Println(ref, layout)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}

	// Every timed run writes into a fresh ext4 filesystem, and the warm
	// store and OCI dir live on one of their own: ext4 skips inodes
	// deleted in the last 30 s when it allocates new ones, so trees
	// removed by an earlier run (or by anyone else on the same
	// filesystem) would make the next run pay for scanning past them.
	runFS := filepath.Join(work, "run")
	dir := func(kind string, run int) string { return filepath.Join(runFS, kind) }
	warmFS := filepath.Join(work, "warm")
	if err := mountFreshFS(warmFS); err != nil {
		return err
	}
	defer unmountFS(warmFS)
	berth := func(args ...string) []string {
		return append([]string{bin, "--insecure", "--quiet"}, args...)
	}
	warmStore := filepath.Join(warmFS, "store")
	warmOCI := filepath.Join(warmFS, "oci")
	cases := []timedCase{
		{name: "berth-image bundle, cold", steps: func(run int) [][]string {
			return [][]string{berth("--store", dir("store", run), "bundle", ref, dir("bundle", run))}
		}},
		{name: "skopeo copy + umoci unpack, cold", steps: func(run int) [][]string {
			return [][]string{
				{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + dir("oci", run) + ":v1"},
				{"umoci", "unpack", "--image", dir("oci", run) + ":v1", dir("umoci", run)},
			}
		}},
		{name: "berth-image bundle, warm", prepare: once(func() error {
			return runSteps([][]string{berth("--store", warmStore, "pull", ref)})
		}), steps: func(run int) [][]string {
			return [][]string{berth("--store", warmStore, "bundle", ref, dir("bundle", run))}
		}},
		{name: "berth-image bundle --mode copy, warm", prepare: once(func() error {
			return runSteps([][]string{berth("--store", warmStore, "pull", ref)})
		}), steps: func(run int) [][]string {
			return [][]string{berth("--store", warmStore, "bundle", "--mode", "copy", ref, dir("bundle", run))}
		}},
		{name: "berth-image repack, overlay bundle", prepare: func(run int) error {
			return changedBundle(warmFS, "repack-overlay", berth("--store", warmStore, "bundle", "--force", ref, filepath.Join(warmFS, "repack-overlay")))
		}, steps: func(run int) [][]string {
			return [][]string{berth("--store", warmStore, "repack", "--image", fmt.Sprintf("bench/repacked:o%d", run), filepath.Join(warmFS, "repack-overlay"))}
		}},
		{name: "berth-image repack, copied bundle", prepare: func(run int) error {
			return changedBundle(warmFS, "repack-copy", berth("--store", warmStore, "bundle", "--force", "--mode", "copy", ref, filepath.Join(warmFS, "repack-copy")))
		}, steps: func(run int) [][]string {
			return [][]string{berth("--store", warmStore, "repack", "--image", fmt.Sprintf("bench/repacked:c%d", run), filepath.Join(warmFS, "repack-copy"))}
		}},
		{name: "umoci repack", prepare: func(run int) error {
			if err := runSteps([][]string{{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + warmOCI + ":v1"}}); err != nil {
				return err
			}
			os.RemoveAll(filepath.Join(warmFS, "repack-umoci"))
			return changedBundle(warmFS, "repack-umoci", []string{"umoci", "unpack", "--image", warmOCI + ":v1", filepath.Join(warmFS, "repack-umoci")})
		}, steps: func(run int) [][]string {
			return [][]string{{"umoci", "repack", "--image", fmt.Sprintf("%s:r%d", warmOCI, run), filepath.Join(warmFS, "repack-umoci")}}
		}},
		{name: "skopeo copy + umoci unpack, warm", prepare: once(func() error {
			return runSteps([][]string{{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + warmOCI + ":v1"}})
		}), steps: func(run int) [][]string {
			return [][]string{
				{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + warmOCI + ":v1"},
				{"umoci", "unpack", "--image", warmOCI + ":v1", dir("umoci", run)},
			}
		}},
	}
	times := make([][]time.Duration, len(cases))
	for run := -1; run < runs; run++ {
		for i, c := range cases {
			if c.prepare != nil {
				if err := c.prepare(run); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
			}
			if err := mountFreshFS(runFS); err != nil {
				return err
			}
			syscall.Sync()
			start := time.Now()
			err := runSteps(c.steps(run + 1))
			d := time.Since(start)
			unmountFS(runFS)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			time.Sleep(200 * time.Millisecond)
			if run >= 0 {
				times[i] = append(times[i], d)
			}
			fmt.Fprintf(os.Stderr, "  %s: %.2fs\n", c.name, d.Seconds())
		}
	}

	med := make([]time.Duration, len(cases))
	for i := range cases {
		med[i] = median(times[i])
	}
	umociVersion, _ := exec.Command("umoci", "--version").Output()
	skopeoVersion, _ := exec.Command("skopeo", "--version").Output()
	fmt.Printf("## Bundle: berth-image vs skopeo + umoci\n\n")
	fmt.Printf("Image: %s. Served by the distribution registry on 127.0.0.1; "+
		"median of %d runs after one warm-up; %d CPUs; %s; %s. "+
		"Each run writes to a freshly made ext4 filesystem (loop device). Cold: empty store / OCI dir. Warm: a second bundle of the same image "+
		"(berth-image keeps its store and layer cache; skopeo finds its blobs present, umoci unpacks again).\n\n",
		info, runs, runtime.NumCPU(), strings.TrimSpace(string(skopeoVersion)), strings.TrimSpace(string(umociVersion)))
	fmt.Printf("| case | median | runs |\n|---|---|---|\n")
	for i, c := range cases {
		var all []string
		for _, d := range times[i] {
			all = append(all, fmt.Sprintf("%.2fs", d.Seconds()))
		}
		fmt.Printf("| %s | %.2fs | %s |\n", c.name, med[i].Seconds(), strings.Join(all, " "))
	}
	fmt.Printf("\nCold: berth-image is **%.2fx** as fast as skopeo + umoci (target: at least 2x).\n", med[1].Seconds()/med[0].Seconds())
	fmt.Printf("Cold bundle: berth-image takes **%.2fx** the time of skopeo + umoci (target: at most 0.35x).\n", med[0].Seconds()/med[1].Seconds())
	fmt.Printf("Warm: berth-image takes **%.2fs** (target: under 0.5 s; %.1fx as fast as skopeo + umoci); with --mode copy %.2fs.\n",
		med[2].Seconds(), med[7].Seconds()/med[2].Seconds(), med[3].Seconds())
	fmt.Printf("Repack of the same change (%s): berth-image %.2fs from an overlay bundle, %.2fs from a copied one; umoci repack %.2fs (**%.2fx** and %.2fx umoci's time).\n",
		changeDesc, med[4].Seconds(), med[5].Seconds(), med[6].Seconds(), med[4].Seconds()/med[6].Seconds(), med[5].Seconds()/med[6].Seconds())
	return nil
}

// changeDesc says what changedBundle changes.
const changeDesc = "200 new 16 KiB files, 50 files appended to, /usr/share/man (or another /usr/share directory) deleted"

// changedBundle makes a bundle with mk (removing a previous one of the
// same name first: unbundle for berth-image's) and changes its rootfs
// from the host, the same way for every tool.
func changedBundle(fs, name string, mk []string) error {
	b := filepath.Join(fs, name)
	if _, err := os.Stat(b); err == nil && strings.Contains(mk[0], "berth-image") {
		if err := runSteps([][]string{{mk[0], "--quiet", "unbundle", b}}); err != nil {
			return err
		}
	}
	if err := runSteps([][]string{mk}); err != nil {
		return err
	}
	rootfs := filepath.Join(b, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "srv", "bench"), 0o755); err != nil {
		return err
	}
	data := make([]byte, 16<<10)
	for i := 0; i < 200; i++ {
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		if err := os.WriteFile(filepath.Join(rootfs, "srv", "bench", fmt.Sprintf("f%03d", i)), data, 0o644); err != nil {
			return err
		}
	}
	n := 0
	filepath.WalkDir(filepath.Join(rootfs, "usr"), func(p string, d os.DirEntry, err error) error {
		if err != nil || n >= 50 || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.Write([]byte("changed\n"))
			f.Close()
			n++
		}
		return nil
	})
	for _, d := range []string{"usr/share/man", "usr/share/locale", "usr/share/info", "usr/share/zoneinfo"} {
		if _, err := os.Lstat(filepath.Join(rootfs, d)); err == nil {
			return os.RemoveAll(filepath.Join(rootfs, d))
		}
	}
	return nil
}

func once(f func() error) func(int) error {
	done := false
	return func(int) error {
		if done {
			return nil
		}
		done = true
		return f()
	}
}

func runSteps(steps [][]string) error {
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

// mountFreshFS mounts a new, empty 4 GB ext4 filesystem (a sparse file on
// a loop device) at dir.
func mountFreshFS(dir string) error {
	img := dir + ".img"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(4 << 30)
	f.Close()
	if err != nil {
		return err
	}
	return runSteps([][]string{{"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, dir}})
}

// unmountFS unmounts what mountFreshFS mounted (and bundle overlays on
// it) and removes its file.
func unmountFS(dir string) {
	unmountUnder(dir)
	syscall.Unmount(dir, 0)
	os.Remove(dir + ".img")
}

// unmountUnder unmounts the overlay rootfs of berth-image bundles under
// dir (lazily: nothing uses them any more).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}
