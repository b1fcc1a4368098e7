// Entering the namespaces the runtime could not give this process by
// clone: joining by path (setns), unsharing a user namespace whose maps the
// runtime writes, time namespace offsets, and the fork that puts the rest
// of the work inside pid and time namespaces entered or created here.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "init.h"

// release_fd is the final process's end of the pipe its intermediate
// parent waits on (see fork_final); -1 when this stage did not fork.
int release_fd = -1;

// become_root acts as the namespace's root after entering a user
// namespace. The credential change clears the parent-death signal, so it
// is set again.
static void become_root(const char *why)
{
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		fail(errno, "become root in the %s user namespace", why);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(errno, "PR_SET_PDEATHSIG");
}

static void write_time_offset(const char *offset)
{
	int fd = proc_open("self/timens_offsets", O_WRONLY);
	if (fd < 0)
		fail(errno, "linux.timeOffsets: open /proc/self/timens_offsets");
	if (write_all(fd, offset, strlen(offset)) < 0)
		fail(errno, "linux.timeOffsets: write %s", offset);
	close(fd);
}

// fork_final forks the process that goes on; this one reports its pid and
// stays until the final process has finished its setup (or died), so that
// the runtime's death kills both: it dies of its parent-death signal, the
// final process of its own, which stays armed while this one lives.
//
// The final process speaks on the same socket, so it waits (on "told")
// until "pid N" is sent: otherwise an exec's quick "ready" can arrive
// before it.
static void fork_final(void)
{
	int pipefd[2], told[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0 || pipe2(told, O_CLOEXEC) < 0)
		fail(errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		fail(errno, "fork into the container's pid namespace");
	char b;
	if (pid == 0) {
		close(pipefd[0]);
		close(told[1]);
		release_fd = pipefd[1];
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			fail(errno, "PR_SET_PDEATHSIG");
		// One byte once "pid N" is out, or EOF when the parent died
		// (this process then dies of its parent-death signal).
		while (read(told[0], &b, 1) < 0 && errno == EINTR)
			;
		close(told[0]);
		return;
	}
	close(pipefd[1]);
	close(told[0]);
	char msg[32];
	snprintf(msg, sizeof(msg), "pid %d", (int)pid);
	say(msg);
	sync_close();
	while (write(told[1], "t", 1) < 0 && errno == EINTR)
		;
	close(told[1]);
	while (read(pipefd[0], &b, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

// new_user_ns finishes an unshared user namespace: the runtime writes its
// maps, this process becomes its root and writes the time offsets. An
// unprivileged runtime may write the maps only of a process it owns, which
// a non-dumpable one is not, nor may this process open its own
// timens_offsets once it is the new namespace's root: only this process is
// in the new namespace yet, so it is dumpable for just these steps.
static void new_user_ns(struct plan *p)
{
	int unprivileged = getuid() != 0;
	if (unprivileged)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (p->usermap) {
		say("usermap");
		expect("ok");
	}
	become_root("new");
	if (unprivileged) // the credential change reset it
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	for (int i = 0; i < p->time_offsets.n; i++)
		write_time_offset(p->time_offsets.v[i]);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void enter_namespaces(struct plan *p)
{
	for (int i = 0; i < p->njoins; i++) {
		struct ns_join *j = &p->joins[i];
		if (setns(j->fd, 0) < 0)
			fail(errno, "setns %s", j->label);
		close(j->fd);
		if (j->type == CLONE_NEWUSER)
			become_root("joined");
	}
	if (p->unshare && unshare((int)p->unshare) < 0)
		fail(errno, "unshare namespaces (flags %#llx)", (unsigned long long)p->unshare);
	if (p->unshare & CLONE_NEWUSER)
		new_user_ns(p);
	else
		for (int i = 0; i < p->time_offsets.n; i++)
			write_time_offset(p->time_offsets.v[i]);
}

// enter_pid_namespace forks, when the plan says so, after the runtime has
// placed this process in its cgroups ("go"): the final process inherits
// them whole, even the v1 memory cgroup the runtime moves it into after
// the clone.
void enter_pid_namespace(struct plan *p)
{
	if (p->fork)
		fork_final();
}
