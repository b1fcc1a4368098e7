// The container's mounts, in the order of the config, before the pivot.
// Every mount is built detached (open_tree or fsopen/fsmount), given its
// attributes while nobody can see it, and attached with move_mount onto a
// mount point resolved inside the root: no mount(2) call ever takes a path
// the container controls.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#include "init.h"

static void setattr(int fd, int recursive, uint64_t set, uint64_t clr, uint64_t prop, const char *label)
{
	if (!set && !clr && !prop)
		return;
	struct mount_attr a = {.attr_set = set, .attr_clr = clr, .propagation = prop};
	unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
	if (sys_mount_setattr(fd, "", flags, &a) < 0)
		fail(errno, "%s: mount_setattr(set=%#llx clr=%#llx propagation=%#llx recursive=%d)", label,
		     (unsigned long long)set, (unsigned long long)clr, (unsigned long long)prop, recursive);
}

static void set_propagation(int fd, const struct mount_op *m)
{
	setattr(fd, 0, 0, 0, m->prop, m->label);
	setattr(fd, 1, 0, 0, m->rprop, m->label);
}

static void attach(int tree, int target, const char *label)
{
	if (sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(errno, "%s: move_mount", label);
}

// check_proc_target refuses mount points that resolved into a procfs,
// except bind mounts over the few files lxcfs-like tools provide; covering
// anything else there could disable a security interface (CVE-2019-16884).
static void check_proc_target(int target, const struct mount_op *m)
{
	struct statfs st;
	if (fstatfs(target, &st) < 0)
		fail(errno, "%s: statfs mount point", m->label);
	if (st.f_type == PROC_SUPER_MAGIC && !m->proc_ok)
		fail(0, "%s: mount point is inside procfs; only bind mounts over "
			"/proc/{cpuinfo,diskstats,meminfo,stat,swaps,uptime,loadavg,slabinfo,net/dev} are allowed",
		     m->label);
}

static int clone_tree(const char *path, int recursive, const struct mount_op *m)
{
	int t = sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (t < 0)
		fail(errno, "%s: mount source \"%s\"", m->label, path);
	return t;
}

static void bind_mount(int root, const struct mount_op *m)
{
	int tree = m->src_fd;
	if (tree < 0) {
		tree = clone_tree(m->source, m->recursive, m);
		// Per-mount options first, then recursive ones, like runc:
		// "rro" wins over "rw" on submounts.
		setattr(tree, 0, m->attr_set, m->attr_clr, 0, m->label);
		setattr(tree, 1, m->rattr_set, m->rattr_clr, 0, m->label);
	}
	int dir = fd_is_dir(tree);
	if (dir < 0)
		fail(errno, "%s: mount source \"%s\"", m->label, m->source ? m->source : "");
	int target = dir ? mkdir_in_root(root, m->dest, NULL) : file_in_root(root, m->dest);
	if (target < 0)
		fail(errno, "%s: create mount point", m->label);
	check_proc_target(target, m);
	attach(tree, target, m->label);
	set_propagation(tree, m);
	close(target);
	close(tree);
}

static void remount_bind(int root, const struct mount_op *m)
{
	int mnt = open_in_root(root, m->dest, O_PATH);
	if (mnt < 0)
		fail(errno, "%s: open mount point", m->label);
	setattr(mnt, 0, m->attr_set, m->attr_clr, 0, m->label);
	setattr(mnt, 1, m->rattr_set, m->rattr_clr, 0, m->label);
	set_propagation(mnt, m);
	close(mnt);
}

// fs_error reads the kernel's own explanation of a failed fsconfig from
// the context's log (e.g. "tmpfs: Unknown parameter 'x'").
static const char *fs_error(int fsfd, char *buf, size_t size)
{
	ssize_t n = read(fsfd, buf, size - 1);
	if (n <= 2)
		return "";
	buf[n] = 0;
	if (buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return buf + 2; // skip the "e " prefix
}

static int fs_config_option(int fsfd, const char *opt)
{
	const char *eq = strchr(opt, '=');
	if (!eq)
		return sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
	char key[256];
	size_t kl = (size_t)(eq - opt);
	if (kl >= sizeof(key)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(key, opt, kl);
	key[kl] = 0;
	return sys_fsconfig(fsfd, FSCONFIG_SET_STRING, key, eq + 1, 0);
}

// new_fs builds a detached mount of a new filesystem instance. It returns
// -1 with errno set (and the kernel's message in why) when the kernel
// refuses the filesystem itself, so callers can fall back.
static int new_fs(const char *type, const char *source, const struct strlist *sbflags, const struct strlist *data,
		  const char *extra, unsigned attrs, char *why, size_t whylen)
{
	why[0] = 0;
	int fsfd = sys_fsopen(type, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -1;
	int ok = 1;
	if (source && source[0] && sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
		ok = 0;
	for (int i = 0; ok && sbflags && i < sbflags->n; i++)
		if (sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, sbflags->v[i], NULL, 0) < 0)
			ok = 0;
	for (int i = 0; ok && data && i < data->n; i++)
		if (fs_config_option(fsfd, data->v[i]) < 0)
			ok = 0;
	if (ok && extra && fs_config_option(fsfd, extra) < 0)
		ok = 0;
	if (ok && sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		ok = 0;
	int mnt = -1;
	if (ok)
		mnt = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	int e = errno;
	if (mnt < 0) {
		char buf[512];
		snprintf(why, whylen, "%s", fs_error(fsfd, buf, sizeof(buf)));
	}
	close(fsfd);
	errno = e;
	return mnt;
}

static void join_opts(const struct mount_op *m, const char *extra, char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < m->sbflags.n + m->data.n + (extra ? 1 : 0); i++) {
		const char *s = i < m->sbflags.n ? m->sbflags.v[i] : i - m->sbflags.n < m->data.n ? m->data.v[i - m->sbflags.n] : extra;
		int n = snprintf(out + o, size - o, "%s%s", o ? "," : "", s);
		if (n < 0 || (size_t)n >= size - o)
			return;
		o += (size_t)n;
	}
}

static void copy_tree(int src, int dst, const char *label);

static void label_root(int mnt, const struct mount_op *m)
{
	if (!m->root_label)
		return;
	int fd = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsetxattr(fd, "security.selinux", m->root_label, strlen(m->root_label), 0) < 0)
		fail(errno, "%s: setting SELinux label \"%s\"", m->label, m->root_label);
	close(fd);
}

static void fs_mount(int root, const struct mount_op *m)
{
	int existed;
	int target = mkdir_in_root(root, m->dest, &existed);
	if (target < 0)
		fail(errno, "%s: create mount point", m->label);
	check_proc_target(target, m);
	char mode[32], *extra = NULL;
	if (m->keep_mode && existed) {
		// Keep the mode of the directory it covers (/tmp's 1777, say).
		struct stat st;
		if (fstat(target, &st) < 0)
			fail(errno, "%s: stat mount point", m->label);
		snprintf(mode, sizeof(mode), "mode=%o", st.st_mode & 07777);
		extra = mode;
	}
	// Read-only is applied after tmpcopyup has filled the filesystem.
	unsigned attrs = (unsigned)m->attr_set;
	if (m->tmpcopyup)
		attrs &= ~MOUNT_ATTR_RDONLY;
	char why[512];
	int mnt = new_fs(m->fstype, m->source, &m->sbflags, &m->data, extra, attrs, why, sizeof(why));
	if (mnt < 0 && errno == EPERM && m->fallback) {
		// A user namespace may not mount sysfs without owning the
		// network namespace (mqueue: the IPC one): bind the host's, as
		// runc does.
		int e = errno;
		int tree = sys_open_tree(AT_FDCWD, m->fallback, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (tree < 0)
			fail(errno, "%s: mount %s: %s; bind of host %s instead", m->label, m->fstype, strerror(e), m->fallback);
		setattr(tree, 0, m->attr_set, m->attr_clr, 0, m->label);
		setattr(tree, 1, m->rattr_set, m->rattr_clr, 0, m->label);
		attach(tree, target, m->label);
		set_propagation(tree, m);
		close(tree);
		close(target);
		return;
	}
	if (mnt < 0) {
		char opts[1024];
		join_opts(m, extra, opts, sizeof(opts));
		fail(errno, "%s: mount %s (source \"%s\", options \"%s\")%s%s", m->label, m->fstype,
		     m->source ? m->source : "", opts, why[0] ? ": " : "", why);
	}
	if (m->tmpcopyup) {
		int src = openat(target, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (src < 0)
			fail(errno, "%s: tmpcopyup: open %s", m->label, m->dest);
		copy_tree(src, mnt, m->label);
		close(src);
		if (m->attr_set & MOUNT_ATTR_RDONLY)
			setattr(mnt, 0, MOUNT_ATTR_RDONLY, 0, 0, m->label);
	}
	setattr(mnt, 1, m->rattr_set, m->rattr_clr, 0, m->label);
	attach(mnt, target, m->label);
	set_propagation(mnt, m);
	label_root(mnt, m);
	close(mnt);
	close(target);
}

// legacy_remount is "remount" on a filesystem mount: mount(2) changes the
// mount already at the destination. The path is the host's /proc (the
// pivot has not happened), naming the resolved fd.
static void legacy_remount(int root, const struct mount_op *m, uint64_t msflags, const char *data)
{
	int target = open_in_root(root, m->dest, O_PATH);
	if (target < 0)
		fail(errno, "%s: open mount point", m->label);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", target);
	if (mount(m->source ? m->source : "", path, m->fstype, (unsigned long)msflags, data) < 0)
		fail(errno, "%s: remount %s", m->label, m->fstype);
	close(target);
}

static int mkdir_at(int dir, const char *name, const char *label)
{
	if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
		fail(errno, "%s: mkdir %s", label, name);
	int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail(errno, "%s: open %s", label, name);
	return fd;
}

static void bind_path_onto(const char *src, int target, const struct mount_op *m, const char *what)
{
	int tree = sys_open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		fail(errno, "%s: %s: bind %s", m->label, what, src);
	// A clone of the host's (on systemd hosts shared) cgroup mount would
	// be its peer; the config's propagation, if any, is applied after.
	setattr(tree, 0, m->attr_set, m->attr_clr, MS_PRIVATE, m->label);
	attach(tree, target, m->label);
	close(tree);
}

static int empty_tmpfs(unsigned attrs, const struct mount_op *m, const char *mode)
{
	struct strlist data = {.v = (char *[]){(char *)mode, NULL}, .n = 1};
	char why[512];
	int mnt = new_fs("tmpfs", "tmpfs", NULL, &data, NULL, attrs, why, sizeof(why));
	if (mnt < 0)
		fail(errno, "%s: mount a tmpfs for cgroups%s%s", m->label, why[0] ? ": " : "", why);
	return mnt;
}

// cgroup_v2 mounts cgroup2 when the container has its own cgroup
// namespace (the kernel then shows only the container's subtree). Without
// one a fresh mount would show the whole host, so the container's own
// directory is bound instead, as it is when the kernel refuses the mount
// (EPERM/EBUSY in a user namespace without a cgroup namespace).
static void cgroup_v2(int root, const struct mount_op *m)
{
	int target = mkdir_in_root(root, m->dest, NULL);
	if (target < 0)
		fail(errno, "%s: create mount point", m->label);
	check_proc_target(target, m);
	if (m->cg_new) {
		char why[512];
		int mnt = new_fs("cgroup2", "cgroup2", &m->sbflags, &m->data, NULL, (unsigned)m->attr_set, why, sizeof(why));
		if (mnt >= 0) {
			attach(mnt, target, m->label);
			set_propagation(mnt, m);
			close(mnt);
			close(target);
			return;
		}
		int refused = errno == EPERM || errno == EBUSY;
		if (!m->cg_unified && refused && m->cg_empty_ok) {
			// A rootless container without a cgroup of its own has
			// none to show: an empty directory.
			mnt = empty_tmpfs((unsigned)(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
						     (m->attr_set & MOUNT_ATTR_RDONLY)),
					  m, "mode=755");
			attach(mnt, target, m->label);
			close(mnt);
			close(target);
			return;
		}
		if (!m->cg_unified || !refused)
			fail(errno, "%s: mount cgroup2%s%s", m->label, why[0] ? ": " : "", why);
	}
	if (!m->cg_unified)
		fail(ENOENT, "%s: no cgroup2 directory to bind", m->label);
	bind_path_onto(m->cg_unified, target, m, "cgroup2");
	int tree = open_in_root(root, m->dest, O_PATH | O_DIRECTORY);
	if (tree >= 0) {
		set_propagation(tree, m);
		close(tree);
	}
	close(target);
}

// cgroup_v1 shows the container a v1 /sys/fs/cgroup: a tmpfs with one
// directory per hierarchy, each the container's own cgroup (mounted fresh
// in a cgroup namespace, bound from the host otherwise), and on a hybrid
// host the cgroup2 directory as "unified".
static void cgroup_v1(int root, const struct mount_op *m)
{
	int target = mkdir_in_root(root, m->dest, NULL);
	if (target < 0)
		fail(errno, "%s: create mount point", m->label);
	check_proc_target(target, m);
	const unsigned tmpfs_attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	int tmpfs = empty_tmpfs(tmpfs_attrs, m, "mode=755");
	for (int i = 0; i < m->ncg; i++) {
		const char *ctrl = m->cg[i].controller;
		const char *name = strncmp(ctrl, "name=", 5) == 0 ? ctrl + 5 : ctrl;
		if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
			fail(EINVAL, "%s: cgroup mount %d: bad controller \"%s\"", m->label, i, ctrl);
		int dir = mkdir_at(tmpfs, name, m->label);
		if (m->cg_new) {
			// The controllers of a hierarchy are its mount options.
			char *opts = xasprintf("%s", ctrl);
			struct strlist data = {0};
			char *v[64];
			int n = 0;
			for (char *save = NULL, *o = strtok_r(opts, ",", &save); o && n < 63; o = strtok_r(NULL, ",", &save))
				v[n++] = o;
			v[n] = NULL;
			data.v = v;
			data.n = n;
			char why[512];
			int mnt = new_fs("cgroup", "cgroup", &m->sbflags, &data, NULL, (unsigned)m->attr_set | tmpfs_attrs, why,
					 sizeof(why));
			if (mnt < 0)
				fail(errno, "%s: cgroup %s%s%s", m->label, ctrl, why[0] ? ": " : "", why);
			attach(mnt, dir, m->label);
			close(mnt);
			free(opts);
		} else {
			bind_path_onto(m->cg[i].path, dir, m, ctrl);
		}
		close(dir);
		// Co-mounted controllers are also reachable by each name.
		if (strchr(name, ',')) {
			char *names = xasprintf("%s", name);
			for (char *save = NULL, *p = strtok_r(names, ",", &save); p; p = strtok_r(NULL, ",", &save))
				if (symlinkat(name, tmpfs, p) < 0 && errno != EEXIST)
					fail(errno, "%s: symlink %s -> %s", m->label, p, name);
			free(names);
		}
	}
	if (m->cg_unified) {
		int dir = mkdir_at(tmpfs, "unified", m->label);
		bind_path_onto(m->cg_unified, dir, m, "cgroup unified");
		close(dir);
	}
	if (m->attr_set & MOUNT_ATTR_RDONLY)
		setattr(tmpfs, 0, MOUNT_ATTR_RDONLY, 0, 0, m->label);
	attach(tmpfs, target, m->label);
	set_propagation(tmpfs, m);
	close(tmpfs);
	close(target);
}

// ---- tmpcopyup ----

// copy_file copies a regular file's bytes; the destination is new.
static void copy_file(int sdir, int ddir, const char *name, mode_t perm, const char *label)
{
	int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		fail(errno, "%s: tmpcopyup: open %s", label, name);
	int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm | 0600);
	if (out < 0)
		fail(errno, "%s: tmpcopyup: create %s", label, name);
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(errno, "%s: tmpcopyup: read %s", label, name);
		if (n == 0)
			break;
		if (write_all(out, buf, (size_t)n) < 0)
			fail(errno, "%s: tmpcopyup: write %s", label, name);
	}
	close(in);
	close(out);
}

// copy_tree copies the content of directory src into directory dst,
// keeping type, mode, owner and device numbers. Symlinks are copied,
// never followed.
static void copy_tree(int src, int dst, const char *label)
{
	int sdup = dup(src);
	DIR *d = sdup < 0 ? NULL : fdopendir(sdup);
	if (!d)
		fail(errno, "%s: tmpcopyup: read directory", label);
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			fail(errno, "%s: tmpcopyup: stat %s", label, name);
		mode_t perm = st.st_mode & 07777;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, name, perm | 0700) < 0)
				fail(errno, "%s: tmpcopyup: mkdir %s", label, name);
			int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int t = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || t < 0)
				fail(errno, "%s: tmpcopyup: open %s", label, name);
			copy_tree(s, t, label);
			close(s);
			close(t);
		} else if (S_ISREG(st.st_mode)) {
			copy_file(src, dst, name, perm, label);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
			if (n < 0)
				fail(errno, "%s: tmpcopyup: readlink %s", label, name);
			target[n] = 0;
			if (symlinkat(target, dst, name) < 0)
				fail(errno, "%s: tmpcopyup: symlink %s", label, name);
		} else if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0) {
			fail(errno, "%s: tmpcopyup: mknod %s", label, name);
		}
		if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			fail(errno, "%s: tmpcopyup: chown %s", label, name);
		// chown clears setuid and setgid: the mode goes last.
		if (!S_ISLNK(st.st_mode) && fchmodat(dst, name, perm, 0) < 0)
			fail(errno, "%s: tmpcopyup: chmod %s", label, name);
	}
	if (errno)
		fail(errno, "%s: tmpcopyup: read directory", label);
	closedir(d);
}

// ---- the root itself ----

// bind_private_root binds the rootfs onto itself as one private tree, for a
// container without a mount namespace: everything it mounts hangs below
// this bind in the host's mount table, propagates nowhere, and delete
// removes it with one lazy unmount. The host's "/" is never touched.
static void bind_private_root(const char *rootfs)
{
	int tree = sys_open_tree(AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		fail(errno, "root.path: bind \"%s\" onto itself", rootfs);
	struct mount_attr a = {.propagation = MS_PRIVATE};
	if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a) < 0)
		fail(errno, "root.path: make the bind of \"%s\" private", rootfs);
	if (sys_move_mount(tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail(errno, "root.path: bind \"%s\" onto itself: move_mount", rootfs);
	close(tree);
	// Attached under a shared parent (systemd makes "/" shared) the bind
	// became shared again: private once more, so nothing mounted below
	// it later propagates.
	if (mount("", rootfs, NULL, MS_PRIVATE | MS_REC, NULL) < 0)
		fail(errno, "root.path: make the bind of \"%s\" private", rootfs);
}

// prepare_root stops the container's mounts from propagating to the host
// (rslave unless the config asks otherwise, as runc does) and makes the
// rootfs a mount point of its own, which pivot_root requires.
static void prepare_root(const struct rootfs *rf)
{
	if (rf->hostns) {
		bind_private_root(rf->path);
		return;
	}
	if (mount("", "/", NULL, (unsigned long)rf->prep_prop, NULL) < 0)
		fail(errno, "linux.rootfsPropagation: set the propagation of / (%#llx)", (unsigned long long)rf->prep_prop);
	if ((rf->prep_prop & MS_SHARED) && rf->parent_mount) {
		// pivot_root refuses a new root whose parent mount is shared,
		// and our bind of the rootfs must not propagate to the host.
		if (mount("", rf->parent_mount, NULL, MS_PRIVATE, NULL) < 0)
			fail(errno, "root.path: make parent mount \"%s\" private", rf->parent_mount);
	}
	if (mount(rf->path, rf->path, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(errno, "root.path: bind \"%s\" onto itself", rf->path);
}

void setup_dev(int root, const struct rootfs *rf);

void prepare_rootfs(struct plan *p)
{
	struct rootfs *rf = p->rootfs;
	prepare_root(rf);
	int root = open(rf->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail(errno, "root.path \"%s\"", rf->path);
	for (int i = 0; i < rf->nmounts; i++) {
		const struct mount_op *m = &rf->mounts[i];
		switch (m->kind) {
		case MK_BIND: bind_mount(root, m); break;
		case MK_FS: fs_mount(root, m); break;
		case MK_REMOUNT: remount_bind(root, m); break;
		case MK_CGROUP1: cgroup_v1(root, m); break;
		case MK_CGROUP2: cgroup_v2(root, m); break;
		case MK_FS_REMOUNT: {
			char data[2048];
			size_t o = 0;
			data[0] = 0;
			for (int j = 0; j < m->data.n; j++) {
				int n = snprintf(data + o, sizeof(data) - o, "%s%s", o ? "," : "", m->data.v[j]);
				if (n < 0 || (size_t)n >= sizeof(data) - o)
					fail(E2BIG, "%s: options too long", m->label);
				o += (size_t)n;
			}
			legacy_remount(root, m, m->msflags, data);
			break;
		}
		default: fail(EINVAL, "%s: plan: unknown mount kind %u", m->label, m->kind);
		}
	}
	if (rf->dev_owned)
		setup_dev(root, rf);
	close(root);
}
