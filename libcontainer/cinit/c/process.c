// The per-process steps that every container process goes through, the
// init and each exec'd process alike, in the one order that works: what
// needs the init's full privileges first (LSM labels, memory policy,
// limits, a seccomp filter that may not rely on no_new_privs), then the
// user switch, the working directory, no_new_privs, the final filter, and
// execve. There is one list, so a per-process setting cannot be applied
// by one path and forgotten by the other.
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>

#include "init.h"

extern int release_fd;

static void write_attr(const char *file, const char *value, const char *field)
{
	int fd = proc_open(file, O_WRONLY);
	if (fd < 0)
		fail(errno, "%s: open /proc/%s", field, file);
	if (write_all(fd, value, strlen(value)) < 0)
		fail(errno, "%s \"%s\"", field, value);
	close(fd);
}

// join_keyring gives the process a fresh session keyring, so the
// caller's keys are out of reach (and, with SELinux, labelled with the
// process label so the container may use it).
static void join_keyring(const struct process *pr)
{
	if (!pr->keyring)
		return;
	if (pr->keyring_label && pr->selinux)
		write_attr("thread-self/attr/keycreate", pr->selinux, "process.selinuxLabel (session keyring)");
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, pr->keyring) < 0 && errno != ENOSYS)
		fail(errno, "joining a new session keyring");
}

// apply_lsm asks the kernel to confine the program execve starts next:
// the AppArmor profile ("exec PROFILE", as aa_change_onexec writes it) and
// the SELinux label. Before no_new_privs, under which AppArmor refuses
// most changes, and before any seccomp filter.
static void apply_lsm(const struct process *pr)
{
	if (pr->apparmor) {
		char *v = xasprintf("exec %s", pr->apparmor);
		// Since Linux 5.8 AppArmor has a directory of its own.
		int fd = proc_open("thread-self/attr/apparmor/exec", O_WRONLY);
		if (fd < 0 && errno == ENOENT)
			fd = proc_open("thread-self/attr/exec", O_WRONLY);
		if (fd < 0)
			fail(errno, "process.apparmorProfile: open the attribute file");
		if (write_all(fd, v, strlen(v)) < 0)
			fail(errno, "process.apparmorProfile \"%s\"", pr->apparmor);
		close(fd);
		free(v);
	}
	if (pr->selinux)
		write_attr("thread-self/attr/exec", pr->selinux, "process.selinuxLabel");
}

static void set_limits(const struct process *pr)
{
	for (int i = 0; i < pr->nrlimits; i++) {
		const struct rlimit_op *l = &pr->rlimits[i];
		struct rlimit r = {.rlim_cur = l->soft, .rlim_max = l->hard};
		if (setrlimit((int)l->resource, &r) == 0)
			continue;
		if (errno == EPERM) {
			struct rlimit cur = {0};
			getrlimit((int)l->resource, &cur);
			fail(EPERM, "%s: hard limit %llu is above the current hard limit %llu, which needs CAP_SYS_RESOURCE",
			     l->label, (unsigned long long)l->hard, (unsigned long long)cur.rlim_max);
		}
		fail(errno, "%s soft=%llu hard=%llu", l->label, (unsigned long long)l->soft, (unsigned long long)l->hard);
	}
	if (pr->sched && syscall(SYS_sched_setattr, 0, pr->sched, 0) < 0)
		fail(errno, "process.scheduler: sched_setattr");
	if (pr->has_ioprio && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, pr->ioprio) < 0)
		fail(errno, "process.ioPriority: ioprio_set");
}

static void load_seccomp(const struct process *pr)
{
	struct sock_fprog_prog prog = {
		.len = (unsigned short)(pr->seccomp_len / 8),
		.filter = (struct sock_filter_insn *)pr->seccomp_prog,
	};
	unsigned long flags = pr->seccomp_flags | (pr->seccomp_notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (r < 0) {
		if (errno == EACCES)
			fail(errno, "linux.seccomp: load the filter (without no_new_privs this needs CAP_SYS_ADMIN)");
		fail(errno, "linux.seccomp: load the filter");
	}
	if (pr->seccomp_notify) {
		// The runtime hands the listener to the agent at listenerPath.
		say_fd("seccomp-fd", (int)r);
		expect("seccomp-ack");
		close((int)r);
	}
}

// switch_user sets groups and ids, keeping the configured capabilities
// across the uid change.
static void switch_user(const struct process *pr)
{
	for (int c = 0; c <= pr->last_cap; c++)
		if (!(pr->caps[0] & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			fail(errno, "dropping capability %d from the bounding set", c);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(errno, "PR_SET_KEEPCAPS");
	gid_t gids[NGROUPS_MAX];
	int n = pr->ngroups < NGROUPS_MAX ? pr->ngroups : NGROUPS_MAX;
	for (int i = 0; i < n; i++)
		gids[i] = pr->groups[i];
	// In a user namespace with setgroups denied, an empty list is the
	// only possible state.
	if (setgroups((size_t)n, gids) < 0 && !(errno == EPERM && n == 0))
		fail(errno, "process.user.additionalGids");
	if (setresgid(pr->gid, pr->gid, pr->gid) < 0)
		fail(errno, "process.user.gid %u", pr->gid);
	if (setresuid(pr->uid, pr->uid, pr->uid) < 0)
		fail(errno, "process.user.uid %u", pr->uid);
	struct cap_header hdr = {.version = CAP_VERSION_3};
	struct cap_data data[2] = {
		{(uint32_t)pr->caps[1], (uint32_t)pr->caps[2], (uint32_t)pr->caps[3]},
		{(uint32_t)(pr->caps[1] >> 32), (uint32_t)(pr->caps[2] >> 32), (uint32_t)(pr->caps[3] >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail(errno, "clearing ambient capabilities");
	uint64_t ambient = pr->caps[4] & pr->caps[2] & pr->caps[3];
	for (int c = 0; c <= pr->last_cap; c++)
		if ((ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail(errno, "raising ambient capability %d", c);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail(errno, "PR_SET_KEEPCAPS");
	umask(pr->umask);
	// The credential change cleared the parent-death signal: until the
	// runtime lets go (ready), this process dies with it.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(errno, "PR_SET_PDEATHSIG");
}

// cwd_inside_root walks up from the working directory until it meets the
// process's root (inside) or a directory that is its own parent without
// being the root (outside: the cwd resolved to a host directory).
static int cwd_inside_root(void)
{
	struct stat root, st, up;
	int cur = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0 || stat("/", &root) < 0)
		return -1;
	for (int depth = 0; depth < 4096; depth++) {
		if (fstat(cur, &st) < 0)
			break;
		if (st.st_dev == root.st_dev && st.st_ino == root.st_ino) {
			close(cur);
			return 1;
		}
		int parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		if (parent < 0 || fstat(parent, &up) < 0)
			return -1;
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			close(parent);
			return 0;
		}
		cur = parent;
	}
	close(cur);
	return -1;
}

// change_dir enters process.cwd as the user, resolved inside the root
// without following magic links, so no /proc/self/fd/N (an fd the caller
// leaked, or one of this process's own, CVE-2024-21626) can put it on the
// host. When the seccomp filter already loaded refuses openat2, it falls
// back to chdir and checks the result by walking up to the root.
static void change_dir(const struct process *pr)
{
	const char *cwd = pr->cwd && pr->cwd[0] ? pr->cwd : "/";
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail(errno, "process.cwd: open /");
	int fd;
	do
		fd = sys_openat2(root, cwd, &how);
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	int e = errno;
	close(root);
	if (fd >= 0) {
		if (fchdir(fd) < 0)
			fail(errno, "process.cwd \"%s\"", cwd);
		close(fd);
		return;
	}
	if (e != ENOSYS && e != EPERM) {
		if (e == ELOOP)
			fail(e, "process.cwd \"%s\": not a directory inside the container's root", cwd);
		fail(e, "process.cwd \"%s\"", cwd);
	}
	if (chdir(cwd) < 0)
		fail(errno, "process.cwd \"%s\"", cwd);
	int inside = cwd_inside_root();
	if (inside < 0)
		fail(errno, "process.cwd \"%s\": checking it is inside the container's root", cwd);
	if (!inside)
		fail(EXDEV, "process.cwd \"%s\" is outside the container's root", cwd);
}

// check_exec is what execve will check, asked now so that create fails
// with the reason instead of start.
static int check_exec(const char *p)
{
	struct stat st;
	if (stat(p, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	return access(p, X_OK);
}

static const char *env_get(const struct strlist *env, const char *key)
{
	size_t kl = strlen(key);
	for (int i = 0; i < env->n; i++)
		if (strncmp(env->v[i], key, kl) == 0 && env->v[i][kl] == '=')
			return env->v[i] + kl + 1;
	return NULL;
}

// look_path finds args[0] as execvp would: as given when it has a slash,
// else in the PATH of process.env. It uses no heap: the rlimits are set.
static void look_path(const struct process *pr, char *out, size_t size)
{
	const char *name = pr->args.v[0];
	if (strchr(name, '/')) {
		if (check_exec(name) < 0)
			fail(errno, "process.args[0] \"%s\"", name);
		snprintf(out, size, "%s", name);
		return;
	}
	const char *path = env_get(&pr->env, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int first_err = 0;
	char first_path[PATH_MAX] = "";
	for (const char *p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int n = snprintf(out, size, "%.*s/%s", (int)len, len ? p : ".", name);
		if (n > 0 && (size_t)n < size) {
			if (check_exec(out) == 0)
				return;
			if (!first_err && errno != ENOENT) {
				first_err = errno;
				snprintf(first_path, sizeof(first_path), "%s", out);
			}
		}
		if (!end)
			break;
		p = end;
	}
	if (first_err)
		fail(first_err, "process.args[0] \"%s\": exec %s", name, first_path);
	fail(0, "process.args[0] \"%s\": executable file not found in $PATH", name);
}

// add_home sets HOME from the container's /etc/passwd when process.env
// has none, as runc does; "/" when the user has no entry.
static void add_home(struct process *pr)
{
	if (!pr->home_lookup || env_get(&pr->env, "HOME"))
		return;
	char home[PATH_MAX] = "/";
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = root < 0 ? -1 : open_in_root(root, "/etc/passwd", O_RDONLY);
	if (fd >= 0) {
		static char buf[1 << 16];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = 0;
		char uid[16];
		snprintf(uid, sizeof(uid), "%u", pr->uid);
		for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			// name:password:uid:gid:gecos:home:shell
			char *f[7] = {0};
			int nf = 0;
			for (char *q = line; nf < 7; nf++) {
				f[nf] = q;
				q = strchr(q, ':');
				if (!q) {
					nf++;
					break;
				}
				*q++ = 0;
			}
			if (nf >= 6 && strcmp(f[2], uid) == 0 && f[5][0]) {
				snprintf(home, sizeof(home), "%s", f[5]);
				break;
			}
		}
		close(fd);
	}
	if (root >= 0)
		close(root);
	char **env = xmalloc(sizeof(char *) * (size_t)(pr->env.n + 2));
	memcpy(env, pr->env.v, sizeof(char *) * (size_t)pr->env.n);
	env[pr->env.n] = xasprintf("HOME=%s", home);
	env[pr->env.n + 1] = NULL;
	pr->env.v = env;
	pr->env.n++;
}

static void set_personality(const struct process *pr)
{
	if (pr->has_personality && syscall(SYS_personality, pr->personality) < 0)
		fail(errno, "linux.personality");
}

static void set_mempolicy(const struct process *pr)
{
	if (!pr->has_mempolicy)
		return;
	unsigned long maxnode = pr->mp_mask ? pr->mp_mask_len * 8 : 0;
	if (syscall(SYS_set_mempolicy, pr->mp_mode, pr->mp_mask, maxnode) < 0)
		fail(errno, "%s: set_mempolicy", pr->mp_label);
}

static void set_affinity(const struct process *pr)
{
	if (pr->affinity && syscall(SYS_sched_setaffinity, 0, pr->affinity_len, pr->affinity) < 0)
		fail(errno, "process.execCPUAffinity: sched_setaffinity");
}

// ready tells the runtime the setup is done and hangs up. From here on the
// process outlives the runtime, so its parent-death signal goes, and the
// intermediate (if this stage forked) may exit.
static void ready(void)
{
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
		fail(errno, "clearing the parent-death signal");
	say("ready");
	sync_close();
	if (release_fd >= 0)
		close(release_fd);
}

// wait_for_start blocks until `berth start` opens the exec fifo for
// reading, runs the startContainer hooks, and tells start how they went: a
// zero byte, or the reason. fddir is /proc/self/fd of the verified procfs,
// opened before the seccomp filter (which may not allow openat2).
static void wait_for_start(struct plan *p, int fddir)
{
	char name[16];
	snprintf(name, sizeof(name), "%d", p->fifo_fd);
	int fd;
	do
		fd = openat(fddir, name, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		fail(errno, "open the exec fifo");
	close(fddir);
	close(p->fifo_fd);
	char *err = NULL;
	if (!p->process)
		err = "config.json has no process: there is nothing to start";
	else
		err = run_hooks(p, HOOK_START_CONTAINER);
	if (err) {
		write_all(fd, err, strlen(err));
		_exit(1);
	}
	char zero = 0;
	if (write_all(fd, &zero, 1) < 0)
		fail(errno, "write the exec fifo");
	// fd stays open: it is close-on-exec, so start sees it close at the
	// execve and runs the poststart hooks only then.
}

void finish_process(struct plan *p)
{
	struct process *pr = p->process;
	int fddir = -1;
	if (p->mode == MODE_CREATE) {
		fddir = proc_open("self/fd", O_PATH | O_DIRECTORY);
		if (fddir < 0)
			fail(errno, "open /proc/self/fd");
	}
	if (!pr) {
		// config.md: process is optional; such a container is created,
		// and every attempt to start it fails.
		ready();
		wait_for_start(p, fddir);
		_exit(1);
	}
	join_keyring(pr);
	set_personality(pr);
	if (pr->console_fd >= 0)
		setup_console(pr, pr->console_mount);
	add_home(pr);
	apply_lsm(pr);
	// Before any filter: profiles commonly deny set_mempolicy.
	set_mempolicy(pr);
	set_affinity(pr);
	// As root, before the user switch (which may take away the right to
	// raise a soft limit).
	set_limits(pr);
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN,
	// which the user switch may drop: load it first then (runc's order).
	if (pr->seccomp_prog && pr->seccomp_early)
		load_seccomp(pr);
	switch_user(pr);
	change_dir(pr);
	if (pr->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(errno, "process.noNewPrivileges");
	char exe[PATH_MAX];
	look_path(pr, exe, sizeof(exe));
	// From the final filter on, this process makes only the calls any
	// profile must allow a runtime: write, openat, close, execve.
	if (pr->seccomp_prog && !pr->seccomp_early)
		load_seccomp(pr);
	ready();
	if (p->mode == MODE_CREATE)
		wait_for_start(p, fddir);
	close(proc_fd);
	execve(exe, pr->args.v, pr->env.v);
	fail(errno, "exec %s", pr->args.v[0]);
}
