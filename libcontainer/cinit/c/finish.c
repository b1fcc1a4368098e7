// The pivot into the rootfs and what follows it inside the new root:
// sysctls, read-only and masked paths, a read-only root and its
// propagation.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#include "init.h"

// pivot uses pivot_root(".", ".") so that no put_old directory is needed
// in the image: the old root ends up stacked on the new one and is
// detached from there.
static void pivot(const char *rootfs)
{
	int old = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int new = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (old < 0 || new < 0)
		fail(errno, "pivot_root: open %s", old < 0 ? "/" : rootfs);
	if (fchdir(new) < 0)
		fail(errno, "pivot_root: chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(errno, "pivot_root %s", rootfs);
	if (fchdir(old) < 0)
		fail(errno, "pivot_root: chdir to the old root");
	// rslave, not rprivate: the host must not see our unmount.
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(errno, "pivot_root: make the old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		fail(errno, "pivot_root: detach the old root");
	if (chdir("/") < 0)
		fail(errno, "pivot_root: chdir /");
	close(old);
	close(new);
}

static void chroot_here(const char *rootfs)
{
	if (chroot(".") < 0)
		fail(errno, "chroot %s", rootfs);
	if (chdir("/") < 0)
		fail(errno, "chdir /");
}

// reopen_dev_null points stdio fds that are the host's /dev/null at the
// container's, so the process holds no handle on a host filesystem.
static void reopen_dev_null(void)
{
	int null = open("/dev/null", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct stat ns;
	if (null < 0)
		return;
	if (fstat(null, &ns) < 0 || !S_ISCHR(ns.st_mode) || ns.st_rdev != makedev(1, 3)) {
		close(null);
		return;
	}
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != ns.st_rdev || st.st_dev == ns.st_dev)
			continue;
		if (dup3(null, fd, 0) < 0)
			fail(errno, "reopen fd %d on the container's /dev/null", fd);
	}
	close(null);
}

static void write_sysctl(const struct sysctl *s)
{
	// Below /proc/sys of the verified procfs, without symlinks or
	// mounts: nothing in the image can redirect the write. The kernel
	// applies it to the writer's namespaces.
	char *rel = xasprintf("sys/%s", s->rel);
	struct open_how how = {.flags = O_WRONLY | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV};
	int fd;
	do
		fd = sys_openat2(proc_fd, rel, &how);
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	if (fd < 0)
		fail(errno, "%s: open /proc/%s", s->label, rel);
	if (write_all(fd, s->value, strlen(s->value)) < 0)
		fail(errno, "%s: write \"%s\" to /proc/%s", s->label, s->value, rel);
	close(fd);
	free(rel);
}

static void readonly_path(int root, const char *path, int i)
{
	int fd = open_in_root(root, path, O_PATH);
	if (fd < 0 && errno == ENOENT)
		return; // the list is generic; the image may lack it
	if (fd < 0)
		fail(errno, "linux.readonlyPaths[%d] \"%s\"", i, path);
	int tree = sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (tree < 0)
		fail(errno, "linux.readonlyPaths[%d] \"%s\": open_tree", i, path);
	struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
	if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a) < 0)
		fail(errno, "linux.readonlyPaths[%d] \"%s\": mount_setattr", i, path);
	if (sys_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(errno, "linux.readonlyPaths[%d] \"%s\": move_mount", i, path);
	close(tree);
	close(fd);
}

// masking hides directories under one shared empty read-only tmpfs
// (mounted at the first, bound from there onto the others) and files under
// the container's /dev/null, once it is checked to be the null device: an
// image or a bind can put anything at that path.
struct masker {
	int root, empty, null;
	const char *data;
};

static int empty_tmpfs_mount(const char *data, int i, const char *path)
{
	int fsfd = sys_fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fsfd < 0 || sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "size", "0", 0) < 0 ||
	    sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": empty tmpfs", i, path);
	if (data) {
		const char *eq = strchr(data, '=');
		char key[64];
		snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - data) : (int)strlen(data), data);
		if (sys_fsconfig(fsfd, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, eq ? eq + 1 : NULL, 0) < 0)
			fail(errno, "linux.maskedPaths[%d] \"%s\": empty tmpfs option %s", i, path, data);
	}
	if (sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": empty tmpfs", i, path);
	int mnt = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": fsmount", i, path);
	close(fsfd);
	return mnt;
}

static int null_source(struct masker *mk, int i, const char *path)
{
	if (mk->null >= 0)
		return mk->null;
	mk->null = open_in_root(mk->root, "/dev/null", O_PATH);
	struct stat st;
	if (mk->null < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": need /dev/null to mask files", i, path);
	if (fstat(mk->null, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		fail(EINVAL, "linux.maskedPaths[%d] \"%s\": /dev/null in the container is not the null device (1:3)", i, path);
	return mk->null;
}

static void mask_path(struct masker *mk, const char *path, int i)
{
	int fd = open_in_root(mk->root, path, O_PATH);
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\"", i, path);
	int tree;
	if (fd_is_dir(fd) > 0 && mk->empty < 0) {
		tree = empty_tmpfs_mount(mk->data, i, path);
		if (sys_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			fail(errno, "linux.maskedPaths[%d] \"%s\": mount empty tmpfs", i, path);
		close(tree);
		// The tmpfs itself, for the binds onto the next directories.
		mk->empty = open_in_root(mk->root, path, O_PATH | O_DIRECTORY);
		if (mk->empty < 0)
			fail(errno, "linux.maskedPaths[%d] \"%s\"", i, path);
		close(fd);
		return;
	}
	int src = fd_is_dir(fd) > 0 ? mk->empty : null_source(mk, i, path);
	tree = sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": open_tree", i, path);
	if (sys_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(errno, "linux.maskedPaths[%d] \"%s\": bind over", i, path);
	close(tree);
	close(fd);
}

void pivot_and_finish(struct plan *p)
{
	struct rootfs *rf = p->rootfs;
	switch (rf->pivot) {
	case PIVOT_ROOT:
		pivot(rf->path);
		break;
	case PIVOT_MOVE:
		// For roots on ramfs, where pivot_root is impossible; weaker:
		// the host's mounts stay under the chroot.
		if (chdir(rf->path) < 0)
			fail(errno, "chdir %s", rf->path);
		if (mount(rf->path, "/", NULL, MS_MOVE, NULL) < 0)
			fail(errno, "move %s to /", rf->path);
		chroot_here(rf->path);
		break;
	case PIVOT_CHROOT:
		// No mount namespace of its own: neither pivot_root nor a move
		// may change the root of every process on the host.
		if (chdir(rf->path) < 0)
			fail(errno, "chdir %s", rf->path);
		chroot_here(rf->path);
		break;
	default:
		fail(EINVAL, "plan: unknown pivot %u", rf->pivot);
	}
	reopen_dev_null();
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail(errno, "open the new root");
	// Sysctls first: /proc/sys is usually among the read-only paths.
	for (int i = 0; i < rf->nsysctls; i++)
		write_sysctl(&rf->sysctls[i]);
	for (int i = 0; i < rf->readonly.n; i++)
		readonly_path(root, rf->readonly.v[i], i);
	struct masker mk = {.root = root, .empty = -1, .null = -1, .data = rf->mask_data};
	for (int i = 0; i < rf->masked.n; i++)
		mask_path(&mk, rf->masked.v[i], i);
	if (mk.empty >= 0)
		close(mk.empty);
	if (mk.null >= 0)
		close(mk.null);
	if (rf->root_rdonly) {
		// Only the read-only bit: flags such as nosuid that are locked in
		// a user namespace stay as they are.
		struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
		if (sys_mount_setattr(root, "", AT_EMPTY_PATH, &a) < 0)
			fail(errno, "root.readonly");
	}
	if (rf->root_prop && mount("", "/", NULL, (unsigned long)rf->root_prop, NULL) < 0)
		fail(errno, "linux.rootfsPropagation");
	close(root);
}
