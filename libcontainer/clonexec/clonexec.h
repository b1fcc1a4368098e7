#include <stdint.h>
#include <sys/types.h>

struct clonexec_req {
	const char *path;
	char *const *argv;
	char *const *envp;
	int *fds; // fds[i] becomes the child's fd i
	int nfds;
	int pdeathsig;
	pid_t ppid;
	int err; // set by the child when it fails before exec
};

int clonexec_start(struct clonexec_req *r, uint64_t flags, int cgroup_fd, int *pid);
