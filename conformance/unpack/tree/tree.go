// Package tree describes a directory tree file by file (type, mode, owner,
// content hash, link target, device numbers, xattrs, hardlink groups) so
// that two unpacks of one image can be compared; mtimes are left out.
package tree

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Snapshot maps each path below root (relative, "." for root) to its
// description. ignore, when set, skips xattrs by name.
func Snapshot(root string, ignoreXattr func(name string) bool) (map[string]string, error) {
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			desc += fmt.Sprintf(" %d %s", len(b), hex.EncodeToString(h[:8]))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " hardlink=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode()&fs.ModeDevice != 0:
			desc += fmt.Sprintf(" dev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		x, err := xattrs(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		var keys []string
		for k, v := range x {
			if ignoreXattr == nil || !ignoreXattr(k) {
				keys = append(keys, k+"="+hex.EncodeToString([]byte(v)))
			}
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			desc += " xattrs:" + strings.Join(keys, ",")
		}
		out[rel] = desc
		return nil
	})
	return out, err
}

// Diff lists the differences between got and want, one line each, sorted.
func Diff(got, want map[string]string) []string {
	var diffs []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing (want %q)", k, v))
		} else if g != v {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", k, g, v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: extra %q", k, v))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// xattrs reads all xattrs of p (not following it) with buffers of the
// kernel's maximum sizes: overlayfs may report a smaller size to a
// size query than its listing then needs.
func xattrs(p string) (map[string]string, error) {
	buf := make([]byte, xattrMax)
	sz, err := unix.Llistxattr(p, buf)
	if err == unix.ENOTSUP || sz == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	val := make([]byte, xattrMax)
	for _, name := range bytes.Split(bytes.TrimSuffix(buf[:sz], []byte{0}), []byte{0}) {
		n, err := unix.Lgetxattr(p, string(name), val)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[string(name)] = string(val[:n])
	}
	return out, nil
}

// xattrMax is XATTR_LIST_MAX and XATTR_SIZE_MAX of linux/limits.h.
const xattrMax = 65536
