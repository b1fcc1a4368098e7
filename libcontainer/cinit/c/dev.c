// /dev, when the runtime owns it (it is not bound from elsewhere): the
// default and configured device nodes, /dev/ptmx -> pts/ptmx and the links
// into /proc/self/fd. Nodes are made relative to verified directory fds;
// in a user namespace, where mknod is refused, the host's node is bound
// over an empty file instead.
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "init.h"

// replace_at runs make(dir, name); if name exists, whatever the image had
// there (maybe a look-alike regular file) is removed and make runs again.
static int replace_at(int dir, const char *name, int (*make)(int, const char *, const struct device *),
		      const struct device *d)
{
	int r = make(dir, name, d);
	if (r >= 0 || errno != EEXIST)
		return r;
	if (unlinkat(dir, name, 0) < 0)
		return -1;
	return make(dir, name, d);
}

static int make_node(int dir, const char *name, const struct device *d)
{
	return mknodat(dir, name, d->mode, d->rdev);
}

static int make_empty(int dir, const char *name, const struct device *d)
{
	(void)d;
	return openat(dir, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0);
}

static int make_ptmx(int dir, const char *name, const struct device *d)
{
	(void)d;
	return symlinkat("pts/ptmx", dir, name);
}

static void make_device(int root, int dev, const struct device *d)
{
	const char *slash = strrchr(d->path, '/');
	const char *name = slash + 1;
	int dir = dev, own = 0;
	if (slash - d->path != 4 || strncmp(d->path, "/dev", 4) != 0) {
		char *parent = xasprintf("%.*s", (int)(slash - d->path), d->path);
		dir = mkdir_in_root(root, parent[0] ? parent : "/", NULL);
		if (dir < 0)
			fail(errno, "%s: create %s", d->label, parent);
		own = 1;
	}
	if (!name[0])
		fail(EINVAL, "%s: path must be an absolute file path", d->label);
	if (d->bind) {
		int target = replace_at(dir, name, make_empty, d);
		if (target < 0)
			fail(errno, "%s: create", d->label);
		int tree = sys_open_tree(AT_FDCWD, d->path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0 || sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			fail(errno, "%s: bind host %s", d->label, d->path);
		close(tree);
		close(target);
	} else {
		if (replace_at(dir, name, make_node, d) < 0)
			fail(errno, "%s: mknod", d->label);
		if ((d->uid || d->gid) && fchownat(dir, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
			fail(errno, "%s: chown %u:%u", d->label, d->uid, d->gid);
	}
	if (own)
		close(dir);
}

void setup_dev(int root, const struct rootfs *rf)
{
	int dev = mkdir_in_root(root, "/dev", NULL);
	if (dev < 0)
		fail(errno, "/dev");
	// Device modes must be exactly as configured.
	mode_t old = umask(0);
	for (int i = 0; i < rf->ndevices; i++)
		make_device(root, dev, &rf->devices[i]);
	if (replace_at(dev, "ptmx", make_ptmx, NULL) < 0)
		fail(errno, "/dev/ptmx: symlink");
	for (int i = 0; i < rf->nlinks; i++)
		if (symlinkat(rf->links[i].target, dev, rf->links[i].name) < 0 && errno != EEXIST)
			fail(errno, "/dev/%s: symlink", rf->links[i].name);
	umask(old);
	close(dev);
}
