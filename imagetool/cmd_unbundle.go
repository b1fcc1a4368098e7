package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/imagetool/bundles"
	"github.com/berthproject/berth/imagetool/store"
)

func init() {
	for _, name := range []string{"unbundle", "rm-bundle"} {
		summary := "unmount and remove a bundle made by bundle or unpack, and forget it in the store"
		if name == "rm-bundle" {
			summary = "the same as unbundle"
		}
		register(&command{
			Name:    name,
			Args:    "BUNDLE...",
			Summary: summary,
			Run: func(ctx context.Context, g *Globals, args []string) error {
				if len(args) == 0 {
					return usagef("expected at least one BUNDLE")
				}
				for _, b := range args {
					if err := unbundle(g, b); err != nil {
						return err
					}
				}
				return nil
			},
		})
	}
}

func unbundle(g *Globals, dir string) error {
	// The record may be gone already: rm -rf of a mounted bundle removes
	// everything but the rootfs mount (emptied through the overlay).
	info, _, infoErr := bundles.Read(dir)
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Lstat(dir); err != nil {
		return err
	}
	if infoErr != nil && !isMount(rootfs) {
		return infoErr
	}
	if isMount(rootfs) {
		upper, _ := filepath.Abs(filepath.Join(dir, bundles.OverlayUpper))
		if pids := bundles.OverlayUsers(upper); len(pids) > 0 {
			return fmt.Errorf("%s: its overlay is still mounted in another mount namespace (process %d, a container?): delete the container first", dir, pids[0])
		}
		for isMount(rootfs) {
			if err := unix.Unmount(rootfs, 0); err != nil {
				return fmt.Errorf("unmounting %s: %w", rootfs, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	// A bundle without its record is forgotten by the next gc.
	if infoErr == nil {
		if s, err := store.Open(info.Store); err == nil {
			if err := bundles.Untrack(s, info.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if !g.Quiet {
		fmt.Fprintf(g.Stdout, "removed bundle %s\n", dir)
	}
	return nil
}

// isMount reports whether dir is a mount point.
func isMount(dir string) bool {
	var sx unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &sx) != nil {
		return false
	}
	return sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}
