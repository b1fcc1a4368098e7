package suite

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// RootfsTarball is the file name the validation programs untar into every
// bundle (runtime-tools validation/util.PrepareBundle), relative to their
// working directory.
func RootfsTarball() string { return fmt.Sprintf("rootfs-%s.tar.gz", runtime.GOARCH) }

// The users and groups runtime-tools' own rootfs tarball ships; process_user
// runs as uid 10 / gid 10 with additional gid 5, which exist here.
const (
	etcPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"bin:x:1:1:bin:/bin:/bin/false\n" +
		"daemon:x:2:2:daemon:/sbin:/bin/false\n" +
		"uucp:x:10:14:uucp:/var/spool/uucp:/bin/false\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	etcGroup = "root:x:0:root\n" +
		"bin:x:1:root,bin,daemon\n" +
		"daemon:x:2:root,bin,daemon\n" +
		"tty:x:5:\n" +
		"wheel:x:10:root\n" +
		"uucp:x:14:uucp\n" +
		"nogroup:x:65534:\n"
)

// WriteRootfs writes the busybox rootfs tarball the validation programs
// expect: the layout of runtime-tools' own rootfs-amd64.tar.gz (bin/ with
// busybox and one symlink per applet, empty dev/ proc/ sys/, etc/passwd and
// etc/group), built from the host's static busybox. The file is written
// atomically.
func WriteRootfs(path, busybox string) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	// A fixed time keeps the tarball byte-identical between builds.
	mtime := time.Unix(0, 0)
	for _, dir := range []string{"./", "./bin/", "./dev/", "./etc/", "./proc/", "./sys/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime}); err != nil {
			return err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"./bin/busybox", 0o755, bb},
		{"./etc/passwd", 0o644, []byte(etcPasswd)},
		{"./etc/group", 0o644, []byte(etcGroup)},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	for _, a := range applets {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o644)
}

// busyboxApplets asks busybox for its applet names. Every applet goes into
// bin/ (as in runtime-tools' tarball), so the hooks' /bin/sh and /bin/false
// exist.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("rootfs: %s --list: %w (need a busybox with applet listing, e.g. Debian's busybox-static)", busybox, err)
	}
	seen := map[string]bool{}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") || seen[a] {
			continue
		}
		seen[a] = true
		applets = append(applets, a)
	}
	for _, need := range []string{"sh", "false", "true", "sleep", "cat"} {
		if !seen[need] {
			return nil, fmt.Errorf("rootfs: %s has no %q applet, which the validation hooks need", busybox, need)
		}
	}
	sort.Strings(applets)
	return applets, nil
}

// writeFileAtomic writes data to a temp file in path's directory, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
