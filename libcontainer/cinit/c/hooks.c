// createContainer and startContainer hooks, which the spec runs in the
// container's namespaces: each gets the state JSON on stdin, and one that
// fails or runs past its timeout fails the operation. The other hooks run
// in the runtime (libcontainer/hooks).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "init.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// run_one returns NULL on success, else why it failed.
static char *run_one(const struct hook *h, const char *state)
{
	int in[2], out[2], ex[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0)
		return xasprintf("%s: pipe: %s", h->label, strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		return xasprintf("%s: fork: %s", h->label, strerror(errno));
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		// Nothing but stdio reaches the hook (preserved fds are the
		// user program's); the exec error pipe closes at execve.
		sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		signal(SIGPIPE, SIG_DFL);
		// Args[0] is the hook's own argv[0], which may differ from path.
		char *argv0[] = {(char *)h->path, NULL};
		char *envp0[] = {NULL};
		execve(h->path, h->args.n ? h->args.v : argv0, h->env.n ? h->env.v : envp0);
		int e = errno;
		write_all(ex[1], &e, sizeof(e));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(ex[1]);
	int e = 0;
	if (read(ex[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		close(in[1]);
		close(out[0]);
		close(ex[0]);
		return xasprintf("%s: exec: %s", h->label, strerror(e));
	}
	close(ex[0]);
	// A hook that does not read its stdin: EPIPE (SIGPIPE has a no-op
	// handler, main.c).
	write_all(in[1], state, strlen(state));
	close(in[1]);

	char output[4096];
	size_t got = 0;
	long long deadline = h->timeout ? now_ms() + (long long)h->timeout * 1000 : -1;
	long long drain_until = -1; // once it exited: a short wait for the pipe
	int status = 0, exited = 0, open_out = 1;
	for (;;) {
		if (!exited) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid) {
				exited = 1;
				drain_until = now_ms() + 100;
			}
		}
		if (exited && (!open_out || now_ms() >= drain_until))
			break;
		if (!exited && deadline >= 0 && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(out[0]);
			return xasprintf("%s: timed out after %us", h->label, h->timeout);
		}
		if (!open_out) {
			poll(NULL, 0, 10);
			continue;
		}
		struct pollfd pfd = {.fd = out[0], .events = POLLIN};
		if (poll(&pfd, 1, 10) > 0) {
			char buf[1024];
			ssize_t n = read(out[0], buf, sizeof(buf));
			if (n <= 0) {
				open_out = 0;
			} else if (got < sizeof(output) - 1) {
				size_t take = (size_t)n < sizeof(output) - 1 - got ? (size_t)n : sizeof(output) - 1 - got;
				memcpy(output + got, buf, take);
				got += take;
			}
		}
	}
	close(out[0]);
	output[got] = 0;
	// The first line of what it printed says why, as for the runtime's hooks.
	char *nl = strchr(output, '\n');
	if (nl)
		*nl = 0;
	char *msg = output;
	while (*msg == ' ' || *msg == '\t')
		msg++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	char what[64];
	if (WIFEXITED(status))
		snprintf(what, sizeof(what), "exit status %d", WEXITSTATUS(status));
	else
		snprintf(what, sizeof(what), "signal: %s", strsignal(WTERMSIG(status)));
	return msg[0] ? xasprintf("%s: %s: %s", h->label, what, msg) : xasprintf("%s: %s", h->label, what);
}

// run_hooks runs the hooks of kind in order; NULL, or why the first
// failing one failed.
char *run_hooks(struct plan *p, unsigned kind)
{
	char *state = NULL;
	for (int i = 0; i < p->nhooks; i++) {
		if (p->hooks[i].kind != kind)
			continue;
		if (!state) {
			// The spec's state, with the pid as the container sees it.
			const char *pre = p->state_prefix[kind], *suf = p->state_suffix[kind];
			if (!pre || !suf)
				fail(EINVAL, "plan: no hook state");
			state = xasprintf("%s%d%s", pre, (int)getpid(), suf);
		}
		char *err = run_one(&p->hooks[i], state);
		if (err) {
			free(state);
			return err;
		}
	}
	free(state);
	return NULL;
}
