// Command demo is `make demo`: the main job end to end, offline. It builds
// a small image around a static program of ours, serves it from a
// distribution registry on 127.0.0.1, makes a bundle of it with
// berth-image, and runs it through berth's life cycle, timing each step.
//
// With an image reference as argument (make demo IMAGE=...), it skips the
// image build and the local registry and uses that image instead.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	godigest "github.com/opencontainers/go-digest"
	specsgo "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/conformance/imagetool/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	fmt.Println("demo finished: every step succeeded")
}

func run() error {
	top, err := os.Getwd()
	if err != nil {
		return err
	}
	bin := filepath.Join(top, "bin")
	work, err := os.MkdirTemp("", "berth-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	berth := &tool{path: filepath.Join(bin, "berth"), pre: []string{"--root", filepath.Join(work, "state")}}
	image := &tool{path: filepath.Join(bin, "berth-image"), pre: []string{"--store", filepath.Join(work, "store")}}

	ref := ""
	if len(os.Args) > 1 && os.Args[1] != "" {
		ref = os.Args[1]
	} else {
		fmt.Println("== building the demo image (a static Go program of ours)")
		layout := filepath.Join(work, "layout")
		if err := buildImage(top, layout); err != nil {
			return err
		}
		fmt.Println("== starting a distribution registry on 127.0.0.1")
		reg, err := harness.StartRegistry(filepath.Join(work, "registry"), harness.RegistryConfig{})
		if err != nil {
			return err
		}
		defer func() {
			reg.Close()
			fmt.Println("== registry stopped")
		}()
		ref = reg.Addr + "/berth/demo:latest"
		image.pre = append(image.pre, "--insecure")
		if err := image.step("push it: berth-image copy", "copy", "oci:"+layout+":latest", "docker://"+ref); err != nil {
			return err
		}
	}
	bundle := filepath.Join(work, "bundle")
	// berth-image may make the rootfs an overlay mount of its layer cache.
	defer unix.Unmount(filepath.Join(bundle, "rootfs"), unix.MNT_DETACH)
	if err := image.step("berth-image bundle "+ref, "bundle", ref, bundle); err != nil {
		return err
	}
	id := fmt.Sprintf("berth-demo-%d", os.Getpid())
	defer berth.quiet("delete", "--force", id)
	if err := berth.step("berth create", "create", "--bundle", bundle, id); err != nil {
		return err
	}
	if err := berth.step("berth state", "state", id); err != nil {
		return err
	}
	if err := berth.step("berth start (the container prints below)", "start", id); err != nil {
		return err
	}
	// The program exits by itself; wait for it, then show the state.
	for i := 0; i < 100; i++ {
		out, _ := exec.Command(berth.path, append(berth.pre, "state", id)...).Output()
		if strings.Contains(string(out), `"stopped"`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := berth.step("berth state", "state", id); err != nil {
		return err
	}
	return berth.step("berth delete", "delete", id)
}

type tool struct {
	path string
	pre  []string
}

// step runs one command with its output shown and its time printed.
func (t *tool) step(title string, args ...string) error {
	fmt.Printf("== %s\n", title)
	cmd := exec.Command(t.path, append(append([]string{}, t.pre...), args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	fmt.Printf("   (%s: %.1f ms)\n", args[0], float64(time.Since(start).Microseconds())/1000)
	if err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(t.path), strings.Join(args, " "), err)
	}
	return nil
}

func (t *tool) quiet(args ...string) {
	exec.Command(t.path, append(append([]string{}, t.pre...), args...)...).Run()
}

// buildImage writes an OCI image layout at dir, tagged latest, holding the
// hello program, an /etc/passwd with a non-root user, and a config that
// runs hello as that user.
func buildImage(top, dir string) error {
	helloBin := filepath.Join(dir, "..", "hello")
	build := exec.Command("go", "build", "-o", helloBin, "./conformance/demo/hello")
	build.Dir = top
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building hello: %v: %s", err, out)
	}
	hello, err := os.ReadFile(helloBin)
	if err != nil {
		return err
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/hello\ndemo:x:1000:1000:demo:/home/demo:/hello\n")},
		{"etc/group", 0o644, []byte("root:x:0:\ndemo:x:1000:\nstaff:x:50:demo\n")},
		{"hello", 0o755, hello},
	}
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []string{"etc/", "home/", "home/demo/", "tmp/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
	}
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime})
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	diffID := sha256.Sum256(tarBuf.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarBuf.Bytes())
	zw.Close()

	w := &layoutWriter{dir: dir}
	layer := w.blob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			User: "demo", Entrypoint: []string{"/hello"}, Cmd: []string{"from", "berth"},
			Env: []string{"PATH=/", "GREETING=hello"}, WorkingDir: "/home/demo",
			Labels: map[string]string{"org.opencontainers.image.title": "berth demo"},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []godigest.Digest{godigest.NewDigestFromBytes(godigest.SHA256, diffID[:])}},
	}
	cb, _ := json.Marshal(cfg)
	config := w.blob(ocispec.MediaTypeImageConfig, cb)
	mb, _ := json.Marshal(ocispec.Manifest{
		Versioned: specsgo.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer},
	})
	manifest := w.blob(ocispec.MediaTypeImageManifest, mb)
	manifest.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	return w.finish(manifest)
}
