// The namespace bootstrap stage of berth's init and exec processes.
//
// setns(2) into a user or mount namespace is refused to a multi-threaded
// process, and the Go runtime starts threads before main. So when a process
// must join namespaces by path (or enter a pid or time namespace, which only
// children do), this constructor does it while the process is still
// single-threaded, then lets the Go runtime start.
//
// The parent describes the plan in _BERTH_NSENTER, a ';'-separated list:
//   join:FD        setns(FD, 0); the parent orders a user namespace first
//   unshare:FLAGS  unshare(FLAGS) (decimal); with CLONE_NEWUSER the parent
//                  is asked to write the id maps ("usermap" / "ok")
//   timens:CLOCK:SEC:NSEC  an offset written after unshare(CLONE_NEWTIME)
//   root           setresuid/setresgid to 0 (after joining a user namespace)
//   fork           fork; the intermediate reports "pid N" and exits, so the
//                  child is inside the pid and time namespaces
// _BERTH_NSSYNC is the fd of the stream to the parent. Errors are reported
// as "error <text>" and the process exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int sync_fd = -1;

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(sync_fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

static void die(const char *what, const char *arg)
{
	say("error nsenter: %s %s: %s", what, arg, strerror(errno));
	_exit(1);
}

// wait_ok blocks until the parent answers "ok" on the sync stream.
static void wait_ok(void)
{
	char buf[8] = {0};
	ssize_t n;
	do {
		n = read(sync_fd, buf, 3);
	} while (n < 0 && errno == EINTR);
	if (n != 3 || memcmp(buf, "ok\n", 3) != 0) {
		errno = EPROTO;
		die("waiting for parent", "");
	}
}

static void do_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork", "");
	if (pid == 0)
		return;
	say("pid %d", pid);
	_exit(0);
}

static void step(char *s)
{
	char *arg = strchr(s, ':');
	if (arg)
		*arg++ = '\0';
	if (strcmp(s, "join") == 0 && arg) {
		int fd = atoi(arg);
		if (setns(fd, 0) < 0)
			die("setns", arg);
		close(fd);
	} else if (strcmp(s, "unshare") == 0 && arg) {
		int flags = (int)strtol(arg, NULL, 10);
		if (unshare(flags) < 0)
			die("unshare", arg);
		if (flags & CLONE_NEWUSER) {
			say("usermap");
			wait_ok();
			if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
				die("become root in user namespace", "");
		}
	} else if (strcmp(s, "timens") == 0 && arg) {
		// arg is "CLOCK:SEC:NSEC"; the kernel takes "clock sec nsec".
		for (char *p = arg; *p; p++)
			if (*p == ':')
				*p = ' ';
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("open", "/proc/self/timens_offsets");
		if (write(fd, arg, strlen(arg)) < 0)
			die("write timens_offsets", arg);
		close(fd);
	} else if (strcmp(s, "root") == 0) {
		// After joining a user namespace: act as its root, so files
		// created from now on belong to an id mapped in it.
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			die("become root in the joined user namespace", "");
	} else if (strcmp(s, "fork") == 0) {
		do_fork();
	} else {
		errno = EINVAL;
		die("unknown step", s);
	}
}

__attribute__((constructor)) static void berth_nsenter(void)
{
	const char *plan = getenv("_BERTH_NSENTER");
	const char *sfd = getenv("_BERTH_NSSYNC");
	if (!plan || !sfd)
		return;
	sync_fd = atoi(sfd);
	char *copy = strdup(plan);
	if (!copy)
		die("strdup", "");
	for (char *save = NULL, *s = strtok_r(copy, ";", &save); s; s = strtok_r(NULL, ";", &save))
		step(s);
	free(copy);
	unsetenv("_BERTH_NSENTER");
	unsetenv("_BERTH_NSSYNC");
}
