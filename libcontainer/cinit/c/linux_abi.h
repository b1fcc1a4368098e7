// Kernel ABI that musl's headers do not carry: structures and constants of
// the new mount API, openat2, seccomp, capabilities and keyrings, written
// from the kernel's UAPI headers. System call numbers 424 and above are the
// same on every architecture.
#ifndef BERTH_LINUX_ABI_H
#define BERTH_LINUX_ABI_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

// openat2(2)
struct open_how {
	uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10

// open_tree(2), move_mount(2), fsopen(2), fsconfig(2), fsmount(2), mount_setattr(2)
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC 02000000
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#define FSOPEN_CLOEXEC 1
#define FSMOUNT_CLOEXEC 1
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define MOUNT_ATTR__ATIME 0x70
#define MOUNT_ATTR_NOATIME 0x10
#define MOUNT_ATTR_IDMAP 0x100000
struct mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static inline int sys_openat2(int dirfd, const char *path, struct open_how *how)
{
	return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}
static inline int sys_open_tree(int dirfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dirfd, path, flags);
}
static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags)
{
	return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}
static inline int sys_fsopen(const char *fs, unsigned flags)
{
	return (int)syscall(SYS_fsopen, fs, flags);
}
static inline int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}
static inline int sys_fsmount(int fd, unsigned flags, unsigned attrs)
{
	return (int)syscall(SYS_fsmount, fd, flags, attrs);
}
static inline int sys_mount_setattr(int dirfd, const char *path, unsigned flags, struct mount_attr *attr)
{
	return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr));
}
#define CLOSE_RANGE_CLOEXEC (1U << 2)
static inline int sys_close_range(unsigned first, unsigned last, unsigned flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}
static inline int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

// seccomp(2)
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
struct sock_filter_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct sock_fprog_prog {
	unsigned short len;
	struct sock_filter_insn *filter;
};

// capget(2)/capset(2)
#define CAP_VERSION_3 0x20080522
struct cap_header {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};

// keyctl(2)
#define KEYCTL_JOIN_SESSION_KEYRING 1

// statfs magics
#define PROC_SUPER_MAGIC 0x9fa0
#define DEVPTS_SUPER_MAGIC 0x1cd1
#define PROC_ROOT_INO 1

// ioprio_set(2)
#define IOPRIO_WHO_PROCESS 1

#endif
