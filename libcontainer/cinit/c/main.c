// berth-init, the first program that runs in a container's namespaces.
//
// The runtime starts it from a sealed in-memory copy (never from a file on
// the host that a container could overwrite through /proc/<pid>/exe) as
//
//	berth-init SYNC_FD PLAN_FD NFDS
//
// with the plan (what to do, fully resolved and checked by the runtime) in
// PLAN_FD and the conversation with the runtime on SYNC_FD. Its fds below
// NFDS are the ones the runtime passed (stdio, preserved fds, its own);
// anything above was leaked by whoever ran the runtime and is closed
// before any path is touched. The process stays non-dumpable until it
// execs the user program, so nothing in the container can read its memory,
// its fds or ptrace it while it holds host resources.
//
// Two straight paths, with their sync points (runtime <-> init) numbered:
//
//   create                              exec
//   0. join the v1 memory and freezer   0. likewise
//      cgroups (self, via "tasks")
//   1. namespaces: join, unshare        1. namespaces: join all
//      ("usermap" <-> "ok")                (chroot to the init's root)
//   2. "go": the runtime has placed      2. "go": likewise
//      us in the cgroup, moved netdevs
//      then fork into the pid/time         then fork into the pid
//      namespaces ("pid N")                namespace ("pid N")
//   3. cgroup namespace, setsid          3. setsid (terminal)
//   4. mounts, /dev
//   5. "mounted" <-> "hooks-done"
//      (prestart, createRuntime)
//   6. createContainer hooks, pivot,
//      sysctls, masked/read-only paths
//   7. hostname, loopback up
//   8. per-process steps (process.c)    4. per-process steps (process.c)
//      ("seccomp-fd" <-> "seccomp-ack")    ("seccomp-fd" <-> "seccomp-ack")
//   9. "ready"                           5. "ready"
//  10. exec fifo (berth start),          6. execve
//      startContainer hooks, execve
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "init.h"

// As a container's init, this process is pid 1 of a new pid namespace,
// which the kernel lets no signal without a handler reach but SIGKILL. A
// created container that is sent SIGTERM (berth kill) must still end, as
// runc's does: the signals that end a process by default end this one.
// Handlers, unlike ignored signals, are reset at execve, so the user
// program starts with the defaults. SIGPIPE gets a handler that does
// nothing: a runtime that hung up shows as EPIPE.
static void end_on_signal(int sig) { _exit(128 + sig); }
static void no_op(int sig) { (void)sig; }

static void catch_signals(void)
{
	static const int ending[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGXCPU, SIGXFSZ};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = end_on_signal;
	for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++)
		sigaction(ending[i], &sa, NULL);
	sa.sa_handler = no_op;
	sigaction(SIGPIPE, &sa, NULL);
}

static int parse_fd(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end != 0 || v < 0 || v > 1 << 20)
		return -1;
	return (int)v;
}

static void read_plan(int fd, struct plan *p)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail(errno, "plan: stat");
	if (st.st_size <= 0 || st.st_size > 64 << 20)
		fail(EINVAL, "plan: size %lld", (long long)st.st_size);
	void *buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED)
		fail(errno, "plan: mmap");
	close(fd);
	plan_decode(buf, (size_t)st.st_size, p);
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail(errno, "bringing up lo: socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail(errno, "bringing up lo: SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail(errno, "bringing up lo: SIOCSIFFLAGS");
	close(s);
}

static void set_names(const struct plan *p)
{
	if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
		fail(errno, "hostname \"%s\"", p->hostname);
	if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
		fail(errno, "domainname \"%s\"", p->domainname);
}

// enter_root makes the fd the process's root: exec into a container that
// has no mount namespace of its own (a joined one would have brought it).
static void enter_root(int fd)
{
	if (fchdir(fd) < 0)
		fail(errno, "entering the container's root");
	if (chroot(".") < 0)
		fail(errno, "chroot to the container's root");
	close(fd);
	if (chdir("/") < 0)
		fail(errno, "chdir /");
}

static void create_path(struct plan *p)
{
	prepare_rootfs(p);
	if (p->rootfs->runtime_hooks) {
		say("mounted");
		expect("hooks-done");
	}
	char *err = run_hooks(p, HOOK_CREATE_CONTAINER);
	if (err)
		fail(0, "%s", err);
	pivot_and_finish(p);
	set_names(p);
	if (p->loopback)
		loopback_up();
	finish_process(p);
}

// join_cgroups moves this process into the cgroups the runtime could not
// have it born in (the v1 memory and freezer hierarchies): a thread that
// moves itself, by writing "0" to "tasks", skips the RCU grace period that
// moving a process by pid costs (5-20 ms). It is still single-threaded,
// and nothing of the container's runs before "go", which waits for this.
static void join_cgroups(const struct plan *p)
{
	for (int i = 0; i < p->ncgroup_joins; i++) {
		const struct cgroup_join *j = &p->cgroup_joins[i];
		if (write_all(j->fd, "0", 1) < 0)
			fail(errno, "joining the %s", j->label);
		close(j->fd);
	}
}

// early_oom_score_adj sets process.oomScoreAdj before anything of the
// container can see this process: an unprivileged runtime may write its
// own oom_score_adj only while it is dumpable (the file is then its own),
// and it is inherited by the process that execs the program.
static void early_oom_score_adj(const struct plan *p)
{
	if (!p->process || !p->process->has_oom)
		return;
	char v[16];
	snprintf(v, sizeof(v), "%d", p->process->oom_score_adj);
	int unprivileged = getuid() != 0;
	if (unprivileged)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	int fd = proc_open("self/oom_score_adj", O_WRONLY);
	if (fd < 0 || write_all(fd, v, strlen(v)) < 0)
		fail(errno, "process.oomScoreAdj %s", v);
	close(fd);
	if (unprivileged)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
	// First: nothing in the container may read or trace this process.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	int sync_fd = argc == 4 ? parse_fd(argv[1]) : -1;
	int plan_fd = argc == 4 ? parse_fd(argv[2]) : -1;
	int nfds = argc == 4 ? parse_fd(argv[3]) : -1;
	struct stat st;
	if (sync_fd < 3 || plan_fd < 3 || nfds <= sync_fd || nfds <= plan_fd || fstat(sync_fd, &st) < 0 ||
	    !S_ISSOCK(st.st_mode)) {
		dprintf(2, "berth-init: this program is started by berth, not by hand\n");
		return 2;
	}
	catch_signals();
	// The runtime starts this program with every signal blocked (its
	// clone shares the runtime's memory until the exec: no handler of the
	// runtime's may run in it); the user program starts with none blocked.
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	// The last fd the runtime passed is this program's own image.
	close(nfds - 1);
	if (sys_close_range((unsigned)nfds, ~0U, 0) < 0) {
		dprintf(2, "berth-init: close_range: %s\n", strerror(errno));
		return 2;
	}
	sync_init(sync_fd);
	prctl(PR_SET_NAME, "berth-init", 0, 0, 0);
	open_host_proc();
	struct plan p;
	read_plan(plan_fd, &p);
	join_cgroups(&p);
	early_oom_score_adj(&p);

	enter_namespaces(&p);
	expect("go");
	enter_pid_namespace(&p);
	if (p.new_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		fail(errno, "unshare the cgroup namespace");
	// The init leads its own session, so a terminal can become its
	// controlling one and signals to the session reach the container.
	if (p.setsid && setsid() < 0)
		fail(errno, "setsid");
	if (p.root_fd >= 0)
		enter_root(p.root_fd);
	if (p.mode == MODE_CREATE)
		create_path(&p);
	finish_process(&p);
	return 1;
}
