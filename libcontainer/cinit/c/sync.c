// The one channel between this program and the runtime: a SOCK_SEQPACKET
// socket, so every write is one message. Messages are short text: this
// side says "usermap", "pid N", "mounted", "seccomp-fd" (with the listener
// fd), "ready" or "error ERRNO TEXT"; the runtime answers "ok", "go",
// "hooks-done" or "seccomp-ack". After "ready" the socket is closed and
// errors go to stderr.
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "init.h"

static int sync_fd = -1;

void sync_init(int fd) { sync_fd = fd; }

void sync_close(void)
{
	if (sync_fd >= 0)
		close(sync_fd);
	sync_fd = -1;
}

static int send_msg(const char *msg, size_t len, int fd)
{
	// A plain write when there is no fd: it is the call every seccomp
	// profile must allow a runtime after the filter is loaded.
	while (fd < 0) {
		if (write(sync_fd, msg, len) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sync_fd, &mh, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

void fail(int err, const char *fmt, ...)
{
	char text[3072], msg[3200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	int n = snprintf(msg, sizeof(msg), "error %d %s", err, text);
	if (n < 0 || n >= (int)sizeof(msg))
		n = sizeof(msg) - 1;
	if (sync_fd < 0 || send_msg(msg, (size_t)n, -1) < 0) {
		// The runtime is gone: stderr is all that is left.
		if (err)
			dprintf(2, "berth init: %s: %s\n", text, strerror(err));
		else
			dprintf(2, "berth init: %s\n", text);
	}
	_exit(1);
}

void say(const char *msg)
{
	if (send_msg(msg, strlen(msg), -1) < 0)
		_exit(1); // the runtime hung up; it reports why
}

void say_fd(const char *msg, int fd)
{
	if (send_msg(msg, strlen(msg), fd) < 0)
		_exit(1);
}

void expect(const char *want)
{
	char buf[64];
	ssize_t n;
	do {
		n = recv(sync_fd, buf, sizeof(buf) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(1); // the runtime failed first and says why
	buf[n] = 0;
	if (strcmp(buf, want) != 0)
		fail(EPROTO, "sync: the runtime said %.40s, expected %s", buf, want);
}
