package unpack

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVolumesBecomeMounts makes a bundle of an image with two Volumes
// (from docker://REF, as copy takes it), one bound to a host directory,
// and checks from inside the container that the other is a fresh tmpfs
// (umoci's choice) and the bound one is the host directory.
func TestVolumesBecomeMounts(t *testing.T) {
	base := t.TempDir()
	layout := filepath.Join(base, "layout")
	img := small(readProbe(t))
	img.config.Cmd = []string{"/bin/probe", "--read", "/data/marker", "--write", "/cache/x", "--read", "/cache/old"}
	img.config.Volumes = map[string]struct{}{"/data": {}, "/cache": {}}
	img.layers[0].entries = append(img.layers[0].entries, dirE("cache/", 0o755), fileE("cache/old", "from the image", 0o644))
	writeLayout(t, layout, "v1", img)
	ref := push(t, layout, "v1", "unpack/volumes", "")

	host := filepath.Join(base, "hostdata")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(host, "marker"), []byte("on the host"), 0o644)
	b := filepath.Join(base, "bundle")
	cleanupBundle(t, b)
	mustBerthImage(t, filepath.Join(base, "store"), "bundle", "--volume", host+":/data", "docker://"+ref, b)
	r := runBundle(t, b)

	if got := r.Files["/data/marker"]; got.Content != "on the host" {
		t.Errorf("/data/marker in the container: %+v, want the host file", got)
	}
	if r.Writes["/cache/x"].Error != "" {
		t.Errorf("writing to the tmpfs volume: %+v", r.Writes["/cache/x"])
	}
	if got := r.Files["/cache/old"]; got.Error == "" {
		t.Errorf("/cache/old from the image is visible under the volume's tmpfs: %+v (umoci hides it)", got)
	}
	var fstype string
	for _, m := range r.Mounts {
		if m.Mountpoint == "/cache" {
			fstype = m.FSType
		}
	}
	if fstype != "tmpfs" {
		t.Errorf("/cache is mounted as %q, want tmpfs", fstype)
	}
	if _, err := os.Stat(filepath.Join(host, "x")); err == nil {
		t.Error("the tmpfs write reached the host")
	}
	failsCleanly(t, berthImage(filepath.Join(base, "store"), "unpack", "--volume", "/nonexistent-dir:/data", ref, filepath.Join(base, "b2")), filepath.Join(base, "b2"), "/nonexistent-dir")
}
