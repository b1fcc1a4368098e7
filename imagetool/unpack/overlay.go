package unpack

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts at target an overlayfs whose lower layers are lowers
// (bottom first, as in an image) with a writable upper and work dir.
func mountOverlay(target string, lowers []string, upper, work string) error {
	// mount(2) takes all lower dirs in one option string that must fit in
	// a page; the new mount API adds them one by one without that limit.
	data := "lowerdir=" + joinLowers(lowers) + ",upperdir=" + upper + ",workdir=" + work
	if len(data) < os.Getpagesize()-1 {
		if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		}
		return nil
	}
	return mountOverlayFsconfig(target, lowers, upper, work)
}

// joinLowers lists the layers top first, escaping the characters mount
// option parsing treats specially.
func joinLowers(lowers []string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	parts := make([]string, len(lowers))
	for i, l := range lowers {
		parts[len(lowers)-1-i] = r.Replace(l)
	}
	return strings.Join(parts, ":")
}

func mountOverlayFsconfig(target string, lowers []string, upper, work string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	for i := len(lowers) - 1; i >= 0; i-- {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", lowers[i]); err != nil {
			return fmt.Errorf("overlay lowerdir+ %s (%d layers need Linux 6.8 or --mode copy): %w", lowers[i], len(lowers), err)
		}
	}
	for k, v := range map[string]string{"upperdir": upper, "workdir": work} {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("overlay %s %s: %w", k, v, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point (its parent is on
// another mount).
func isMountPoint(dir string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(dir, &st) != nil || unix.Lstat(dir+"/..", &pst) != nil {
		return false
	}
	if st.Dev != pst.Dev {
		return true
	}
	// Same device: still a mount point if statx says so (bind mounts).
	var sx unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &sx) == nil {
		return sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
	}
	return false
}
