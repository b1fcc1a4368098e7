//go:build linux && amd64 && cgo

// The child side of clonexec.Start: a clone3 with CLONE_VM|CLONE_VFORK
// whose child runs on a stack of its own, sets up its fds and execs. It
// runs with every signal blocked and calls only system call wrappers.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clonexec.h"

// struct clone_args of clone3(2), as of Linux 5.7 (CLONE_INTO_CGROUP).
struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// clonexec_clone3(args, size, fn, arg) is clone3 whose child calls fn(arg)
// on the new stack and exits with its result. It cannot be C: the child
// returns from the system call on a stack that holds no frame to return
// to. fn and arg ride in r8 and r9, which the child inherits.
long clonexec_clone3(struct clone_args_v2 *args, size_t size, int (*fn)(void *), void *arg);
__asm__(
	".text\n"
	".globl clonexec_clone3\n"
	".hidden clonexec_clone3\n"
	".type clonexec_clone3,@function\n"
	"clonexec_clone3:\n"
	"	mov %rdx, %r8\n"
	"	mov %rcx, %r9\n"
	"	mov $435, %eax\n" // __NR_clone3
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	xor %ebp, %ebp\n"
	"	mov %r9, %rdi\n"
	"	call *%r8\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" // __NR_exit_group
	"	syscall\n"
	"	hlt\n"
	"1:	ret\n"
	".size clonexec_clone3, .-clonexec_clone3\n");

// child_main puts fds[i] at i (the algorithm of Go's forkAndExecInChild:
// first move any fds[i] < i above every fd in the list, so that no dup3
// overwrites an fd still to be placed), clears close-on-exec on them and
// execs. Any failure is left in r->err for the parent.
static int child_main(void *arg)
{
	struct clonexec_req *r = arg;
	if (r->pdeathsig) {
		if (prctl(PR_SET_PDEATHSIG, r->pdeathsig, 0, 0, 0) < 0)
			goto fail;
		// The parent may have died before the prctl: then no signal
		// comes. (In a new pid namespace getppid is 0 and says nothing;
		// the init then sees the runtime's end as a hang-up.)
		pid_t pp = getppid();
		if (pp != 0 && pp != r->ppid) {
			errno = ESRCH;
			goto fail;
		}
	}
	int next = r->nfds;
	for (int i = 0; i < r->nfds; i++)
		if (r->fds[i] >= next)
			next = r->fds[i] + 1;
	for (int i = 0; i < r->nfds; i++) {
		if (r->fds[i] >= 0 && r->fds[i] < i) {
			if (dup3(r->fds[i], next, O_CLOEXEC) < 0)
				goto fail;
			r->fds[i] = next++;
		}
	}
	for (int i = 0; i < r->nfds; i++) {
		if (r->fds[i] < 0) {
			close(i);
		} else if (r->fds[i] == i) {
			if (fcntl(i, F_SETFD, 0) < 0)
				goto fail;
		} else if (dup3(r->fds[i], i, 0) < 0) {
			goto fail;
		}
	}
	execve(r->path, r->argv, r->envp);
fail:
	r->err = errno;
	return 127;
}

int clonexec_start(struct clonexec_req *r, uint64_t flags, int cgroup_fd, int *pid)
{
	// The child shares this memory until it execs: no signal handler of
	// the parent's (Go's) may run in it. Blocked here, the mask is
	// inherited and kept across execve; berth-init clears it.
	uint64_t all = ~(uint64_t)0, old = 0;
	char stack[32768] __attribute__((aligned(16)));
	struct clone_args_v2 ca;
	memset(&ca, 0, sizeof(ca));
	ca.flags = flags | CLONE_VM | CLONE_VFORK;
	if (cgroup_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgroup_fd;
	}
	ca.exit_signal = SIGCHLD;
	ca.stack = (uint64_t)(uintptr_t)stack;
	ca.stack_size = sizeof(stack);
	r->err = 0;
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(all)) < 0)
		return errno;
	long ret = clonexec_clone3(&ca, sizeof(ca), child_main, r);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(old));
	if (ret < 0)
		return (int)-ret;
	*pid = (int)ret;
	return 0;
}
