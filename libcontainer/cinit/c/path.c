// Paths inside the container's root, resolved so that nothing the image or
// a racing process controls can lead outside it: every lookup is an
// openat2(RESOLVE_IN_ROOT) from the root's fd, directories are created with
// mkdirat relative to verified fds and reopened with O_NOFOLLOW, and every
// use of /proc goes through one procfs handle verified at start.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "init.h"

int proc_fd = -1;

// open_host_proc opens the host's /proc before anything of the container
// is visible and checks it is the root of a procfs. Procfs resolves "self"
// for whoever reads it, so this one handle serves the init in every
// namespace it enters, after the pivot too.
void open_host_proc(void)
{
	proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (proc_fd < 0)
		fail(errno, "open /proc");
	struct statfs sfs;
	struct stat st;
	if (fstatfs(proc_fd, &sfs) < 0 || fstat(proc_fd, &st) < 0)
		fail(errno, "stat /proc");
	if (sfs.f_type != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO)
		fail(EXDEV, "/proc is not the root of a procfs");
}

static int openat2_retry(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = resolve};
	for (;;) {
		int fd = sys_openat2(dirfd, path, &how);
		// EAGAIN: a rename raced the lookup.
		if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
			return fd;
	}
}

// proc_open opens rel ("self/oom_score_adj") below the verified procfs,
// without crossing a mount or following a magic link.
int proc_open(const char *rel, int flags)
{
	return openat2_retry(proc_fd, rel, (uint64_t)flags, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
}

// proc_open_fd_link reopens one of this process's fds through the
// verified procfs: /proc/self/fd/N with flags (e.g. an O_PATH fifo opened
// for writing). Only the last step follows a magic link.
int proc_open_fd_link(int fd, int flags)
{
	int dir = proc_open("self/fd", O_PATH | O_DIRECTORY);
	if (dir < 0)
		return -1;
	char name[16];
	snprintf(name, sizeof(name), "%d", fd);
	int r = openat(dir, name, flags | O_CLOEXEC);
	int saved = errno;
	close(dir);
	errno = saved;
	return r;
}

int open_in_root(int root, const char *path, int flags)
{
	return openat2_retry(root, path, (uint64_t)flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

// clean_join joins rel to the absolute base and cleans the result
// lexically; ".." at the root stays at the root, as it does in a chroot.
static char *clean_join(const char *base, const char *rel)
{
	size_t cap = strlen(base) + strlen(rel) + 3;
	char *in = xmalloc(cap), *out = xmalloc(cap);
	snprintf(in, cap, "%s/%s", rel[0] == '/' ? "" : base, rel);
	size_t o = 0;
	for (char *save = NULL, *c = strtok_r(in, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; // drop the slash too
			continue;
		}
		out[o++] = '/';
		size_t l = strlen(c);
		memcpy(out + o, c, l);
		o += l;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	free(in);
	return out;
}

// in_root_path returns the path of dirfd relative to the root whose host
// path is rootpath, from the verified procfs.
static char *in_root_path(int dirfd, const char *rootpath)
{
	char name[32], buf[4096];
	snprintf(name, sizeof(name), "self/fd/%d", dirfd);
	ssize_t n = readlinkat(proc_fd, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	size_t rl = strlen(rootpath);
	while (rl > 1 && rootpath[rl - 1] == '/')
		rl--;
	if (strcmp(rootpath, "/") == 0)
		return clean_join("/", buf);
	if (strncmp(buf, rootpath, rl) != 0 || (buf[rl] != 0 && buf[rl] != '/')) {
		errno = EXDEV;
		return NULL;
	}
	return clean_join("/", buf + rl);
}

// root_host_path returns the host path of the root fd (for in_root_path).
static char *root_host_path(int root)
{
	char name[32], buf[4096];
	snprintf(name, sizeof(name), "self/fd/%d", root);
	ssize_t n = readlinkat(proc_fd, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	char *s = xmalloc((size_t)n + 1);
	memcpy(s, buf, (size_t)n + 1);
	return s;
}

// mkdir_in_root returns an O_PATH handle of the directory path inside
// root, creating it and its missing parents (mode 0755). The common case,
// where it exists or only its last component is missing, costs one or two
// lookups. A dangling symlink on the way (an image's /var/run -> /run
// before /run exists) is followed inside the root and its target created,
// as runc does.
int mkdir_in_root(int root, const char *path, int *existed)
{
	if (existed)
		*existed = 0;
	int fd = open_in_root(root, path, O_PATH | O_DIRECTORY);
	if (fd >= 0) {
		if (existed)
			*existed = 1;
		return fd;
	}
	if (errno != ENOENT)
		return -1;
	char *want = clean_join("/", path);
	for (int links = 0; links < 40; links++) {
		// Find the deepest ancestor that resolves.
		size_t cut = strlen(want);
		int parent;
		for (;;) {
			do
				cut--;
			while (cut > 0 && want[cut] != '/');
			if (cut == 0) {
				parent = open_in_root(root, "/", O_PATH | O_DIRECTORY);
				break;
			}
			want[cut] = 0;
			parent = open_in_root(root, want, O_PATH | O_DIRECTORY);
			want[cut] = '/';
			if (parent >= 0 || errno != ENOENT)
				break;
		}
		if (parent < 0) {
			free(want);
			return -1;
		}
		// Create the rest one component at a time, each relative to the
		// verified fd of its parent and reopened without following links.
		char *rest = want + cut + 1;
		int restart = 0;
		for (char *save = NULL, *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
			struct stat st;
			if (fstatat(parent, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
				// A symlink that did not resolve: create its target.
				char target[4096];
				ssize_t n = readlinkat(parent, c, target, sizeof(target) - 1);
				char *root_path = root_host_path(root);
				char *here = root_path ? in_root_path(parent, root_path) : NULL;
				free(root_path);
				if (n < 0 || !here) {
					int e = errno;
					close(parent);
					free(want);
					errno = e;
					return -1;
				}
				target[n] = 0;
				char *linked = clean_join(here, target);
				char *tail = save ? save : "";
				char *next = xasprintf("%s/%s", linked, tail);
				free(here);
				free(linked);
				free(want);
				want = clean_join("/", next);
				free(next);
				restart = 1;
				break;
			}
			if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(parent);
				free(want);
				errno = e;
				return -1;
			}
			int child = openat(parent, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int e = errno;
			close(parent);
			if (child < 0) {
				free(want);
				errno = e;
				return -1;
			}
			parent = child;
		}
		if (!restart) {
			free(want);
			return parent;
		}
		close(parent);
	}
	free(want);
	errno = ELOOP;
	return -1;
}

// file_in_root returns a handle of the non-directory path inside root,
// creating an empty file (and its parents) if there is none. O_EXCL and
// O_NOFOLLOW turn a symlink planted at the name into an error.
int file_in_root(int root, const char *path)
{
	int fd = open_in_root(root, path, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char *dir = clean_join("/", path);
	char *slash = strrchr(dir, '/');
	char *base = xasprintf("%s", slash + 1);
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	int parent = mkdir_in_root(root, dir, NULL);
	free(dir);
	if (parent < 0) {
		free(base);
		return -1;
	}
	fd = openat(parent, base, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
	int e = errno;
	close(parent);
	free(base);
	errno = e;
	return fd;
}
