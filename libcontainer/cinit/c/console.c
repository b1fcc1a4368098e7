// The container's terminal: a pty made from the container's devpts, its
// master sent to the caller's console socket (SCM_RIGHTS, as runc does),
// its slave the process's stdio and controlling terminal and, for the
// init, bind-mounted over /dev/console. The ptmx and console paths are
// checked so a link the image planted cannot redirect either.
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "init.h"

static int open_ptmx(int root)
{
	int fd = open_in_root(root, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		struct statfs sfs;
		if (fstatfs(fd, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC)
			fail(EXDEV, "process.terminal: /dev/pts/ptmx is not on a devpts filesystem");
		return fd;
	}
	fd = open_in_root(root, "/dev/ptmx", O_RDWR | O_NOCTTY);
	if (fd < 0)
		fail(errno, "process.terminal: open /dev/ptmx");
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2))
		fail(EXDEV, "process.terminal: /dev/ptmx is not the pty multiplexer (5:2)");
	return fd;
}

static void mount_as_console(int root, int slave)
{
	int dev = open_in_root(root, "/dev", O_PATH | O_DIRECTORY);
	if (dev < 0)
		fail(errno, "process.terminal: open /dev");
	int target = openat(dev, "console", O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (target < 0)
		fail(errno, "process.terminal: create /dev/console");
	int tree = sys_open_tree(slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0 || sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(errno, "process.terminal: bind-mount the terminal on /dev/console");
	close(tree);
	close(target);
	close(dev);
}

static void send_master(int sock, int master)
{
	const char name[] = "/dev/ptmx";
	struct iovec iov = {.iov_base = (void *)name, .iov_len = sizeof(name) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail(errno, "sending the terminal to the console socket");
}

void setup_console(struct process *pr, int mount_console)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail(errno, "open /");
	int master = open_ptmx(root);
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		fail(errno, "process.terminal: unlockpt");
	// TIOCGPTPEER opens the slave through the master: no lookup in the
	// container's /dev/pts that could be raced.
	int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		fail(errno, "process.terminal: open the pty's slave");
	if (pr->rows || pr->cols) {
		struct winsize ws = {.ws_row = (unsigned short)pr->rows, .ws_col = (unsigned short)pr->cols};
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
			fail(errno, "process.consoleSize");
	}
	if (mount_console)
		mount_as_console(root, slave);
	// The user process must be able to reopen its own terminal.
	if (pr->uid != 0 && fchown(slave, pr->uid, (gid_t)-1) < 0)
		fail(errno, "chown the terminal to uid %u", pr->uid);
	send_master(pr->console_fd, master);
	close(master);
	close(pr->console_fd);
	pr->console_fd = -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup3(slave, fd, 0) < 0)
			fail(errno, "the terminal as fd %d", fd);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		fail(errno, "making the terminal the controlling one");
	close(slave);
	close(root);
}
