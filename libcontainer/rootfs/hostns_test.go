package rootfs

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inPrivateMountNS runs f on a throwaway thread with a mount namespace of
// its own, standing in for the host's.
func inPrivateMountNS(t *testing.T, f func()) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		f()
	}()
	<-done
}

func mountinfoLines(t *testing.T, under string) []string {
	raw, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == under || strings.HasPrefix(f[4], under+"/")) {
			out = append(out, l)
		}
	}
	return out
}

// TestHostMountsBindAndDetach: the bind of the rootfs is a new, private
// mount; mounts under it go with it; DetachHostMounts unmounts only the
// mount with the recorded id, and never follows a symlink at the rootfs.
func TestHostMountsBindAndDetach(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	inPrivateMountNS(t, func() {
		before, err := MountID(rootfs)
		if err != nil {
			t.Fatal(err)
		}
		// As berth-init binds it (mount.c: bind_private_root).
		tree, err := openTree(rootfs, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := setattr(tree, true, unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
			t.Fatal(err)
		}
		if err := unix.MoveMount(int(tree.Fd()), "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			t.Fatal(err)
		}
		tree.Close()
		bind, err := MountID(rootfs)
		if err != nil {
			t.Fatal(err)
		}
		if bind == before {
			t.Fatalf("the rootfs is on mount %d before and after the bind", bind)
		}
		if err := unix.Mount("proc", filepath.Join(rootfs, "proc"), "proc", 0, ""); err != nil {
			t.Fatal(err)
		}
		lines := mountinfoLines(t, rootfs)
		if len(lines) != 2 {
			t.Fatalf("want the bind and proc under %s, got %q", rootfs, lines)
		}
		for _, l := range lines {
			if strings.Contains(l, "shared:") || strings.Contains(l, "master:") {
				t.Errorf("mount takes part in propagation: %s", l)
			}
		}

		// A symlink in place of the rootfs is not followed.
		link := filepath.Join(dir, "link")
		if err := os.Symlink(rootfs, link); err != nil {
			t.Fatal(err)
		}
		if err := DetachHostMounts(link, bind); err != nil {
			t.Errorf("DetachHostMounts(symlink) = %v, want nil (nothing to do)", err)
		}
		// Another mount id: left alone.
		if err := DetachHostMounts(rootfs, bind+1000); err != nil {
			t.Fatal(err)
		}
		if got := mountinfoLines(t, rootfs); len(got) != 2 {
			t.Fatalf("mounts changed by a symlink or a wrong id: %q", got)
		}
		if err := DetachHostMounts(rootfs, bind); err != nil {
			t.Fatal(err)
		}
		if got := mountinfoLines(t, rootfs); len(got) != 0 {
			t.Errorf("mounts left after DetachHostMounts: %q", got)
		}
		// Gone already: nothing to do, no error.
		if err := DetachHostMounts(rootfs, bind); err != nil {
			t.Errorf("second DetachHostMounts = %v", err)
		}
		if err := DetachHostMounts(filepath.Join(dir, "missing"), bind); err != nil {
			t.Errorf("DetachHostMounts(missing) = %v", err)
		}
	})
}
