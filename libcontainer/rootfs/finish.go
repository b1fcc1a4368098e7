package rootfs

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Finish runs after Pivot, inside the new root: it writes linux.sysctl,
// applies linux.readonlyPaths and linux.maskedPaths, makes the root
// read-only if root.readonly is set and applies linux.rootfsPropagation to
// the new root.
func Finish(c *Config) error {
	if c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()

	// Sysctls first: /proc/sys is usually among the read-only paths.
	if err := writeSysctls(c.linux().Sysctl); err != nil {
		return err
	}
	for i, p := range c.linux().ReadonlyPaths {
		if err := readonlyPath(root, p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %q: %w", i, p, err)
		}
	}
	mk := &masker{root: root, label: c.linux().MountLabel}
	defer mk.close()
	for i, p := range c.linux().MaskedPaths {
		if err := mk.mask(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %q: %w", i, p, err)
		}
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		// mount_setattr changes only the read-only bit, keeping flags such
		// as nosuid that are locked in a user namespace.
		if err := setattr(root, false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	prop, err := rootPropagation(c)
	if err != nil {
		return err
	}
	if prop != 0 {
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %q: %w", c.linux().RootfsPropagation, err)
		}
	}
	return nil
}

// readonlyPath covers p with a recursively read-only bind of itself. A
// missing path is not an error (the list is generic, the image may lack it).
func readonlyPath(root *os.File, p string) error {
	f, err := openInRoot(root, p, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fd, err := unix.OpenTree(int(f.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	tree := os.NewFile(uintptr(fd), p)
	defer tree.Close()
	if err := setattr(tree, true, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return err
	}
	if err := unix.MoveMount(fd, "", int(f.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// masker hides paths: directories under one shared empty read-only tmpfs
// (mounted once, then bind-mounted), files under /dev/null.
type masker struct {
	root  *os.File
	label string   // linux.mountLabel, for the tmpfs
	empty *os.File // root of the shared tmpfs once mounted
	null  *os.File
}

func (mk *masker) close() {
	if mk.empty != nil {
		mk.empty.Close()
	}
	if mk.null != nil {
		mk.null.Close()
	}
}

func (mk *masker) mask(p string) error {
	f, err := openInRoot(mk.root, p, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	dir, err := isDir(f)
	if err != nil {
		return err
	}
	target := procFd(int(f.Fd()))
	switch {
	case dir && mk.empty == nil:
		const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		if err := unix.Mount("tmpfs", target, "tmpfs", flags, withContext("size=0,mode=0555", mk.label)); err != nil {
			return fmt.Errorf("mount empty tmpfs: %w", err)
		}
		// Look it up again to get the tmpfs itself for the next binds.
		if mk.empty, err = openInRoot(mk.root, p, unix.O_DIRECTORY); err != nil {
			return err
		}
		return nil
	case dir:
		err = unix.Mount(procFd(int(mk.empty.Fd())), target, "", unix.MS_BIND, "")
	default:
		if mk.null == nil {
			if mk.null, err = openInRoot(mk.root, "/dev/null", 0); err != nil {
				return fmt.Errorf("need /dev/null to mask files: %w", err)
			}
		}
		err = unix.Mount(procFd(int(mk.null.Fd())), target, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("bind over: %w", err)
	}
	return nil
}

// sysctlPath turns a sysctl key into a path relative to /proc/sys. As in
// sysctl(8), "." separates components and "/" stands for a dot inside one
// (net.ipv4.conf.eth0/100.forwarding). Components that would walk anywhere
// else ("", ".", "..") are refused.
func sysctlPath(key string) (string, error) {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		p = strings.ReplaceAll(p, "/", ".")
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("invalid key %q", key)
		}
		parts[i] = p
	}
	return strings.Join(parts, "/"), nil
}

func writeSysctls(sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	keys := make([]string, 0, len(sysctl))
	for k := range sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	procSys, err := unix.Open("/proc/sys", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("linux.sysctl: open /proc/sys: %w", err)
	}
	defer unix.Close(procSys)
	var st unix.Statfs_t
	if err := unix.Fstatfs(procSys, &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("linux.sysctl: /proc/sys is not procfs (is /proc mounted?)")
	}
	for _, k := range keys {
		if err := writeSysctl(procSys, k, sysctl[k]); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %w", k, err)
		}
	}
	return nil
}

func writeSysctl(procSys int, key, value string) error {
	rel, err := sysctlPath(key)
	if err != nil {
		return err
	}
	// Stay on this procfs, below /proc/sys, without symlinks: a mount or
	// link planted in the image cannot redirect the write.
	fd, err := unix.Openat2(procSys, rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return fmt.Errorf("open /proc/sys/%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), "/proc/sys/"+rel)
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("write %q to /proc/sys/%s: %w", value, rel, unwrapErrno(err))
	}
	return nil
}
