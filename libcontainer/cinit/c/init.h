// berth-init: the process that becomes a container's init or an exec'd
// process. The runtime (Go) resolves the whole config into a plan and hands
// it over; this program only applies it and execs the user program, so no
// Go runtime ever runs inside the container. See main.c for the two paths.
#ifndef BERTH_INIT_H
#define BERTH_INIT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// ---- The plan's wire format (libcontainer/plan/wire.go writes it) ----
//
// A plan is "BRTHPLN1" followed by records: u16 tag, u16 zero, u32 length,
// then length bytes. Integers are little-endian u32/u64, strings end in a
// NUL byte that the length includes, and a group is a record whose payload
// is itself a list of records. The tag values are checked against
// wire.go by a Go test (plan/wire_test.go), so both sides agree.

#define PLAN_MAGIC "BRTHPLN1"

enum plan_tag {
	// top level
	T_MODE = 1,		// u32: MODE_CREATE or MODE_EXEC
	T_CGROUP_JOIN = 5,	// group: G_*
	T_NS_JOIN = 10,		// group: J_*
	T_UNSHARE = 11,		// u64: CLONE_* flags to unshare in this stage
	T_USERMAP = 12,		// flag: ask the runtime for id maps after unshare
	T_TIME_OFFSET = 13,	// string "clock secs nanos" for timens_offsets
	T_FORK = 14,		// flag: fork once the namespaces are entered
	T_NEW_CGROUPNS = 15,	// flag: unshare a cgroup namespace after "go"
	T_SETSID = 16,		// flag
	T_ROOT_FD = 17,		// u32: chroot to this fd (exec, no mount namespace)
	T_LOOPBACK = 18,	// flag: bring "lo" up (new network namespace)
	T_HOSTNAME = 19,	// string
	T_DOMAINNAME = 20,	// string
	T_ROOTFS = 30,		// group: R_*
	T_HOOK = 40,		// group: H_*
	T_HOOK_STATE = 41,	// group: S_*
	T_FIFO_FD = 45,		// u32: O_PATH fd of the exec fifo (create)
	T_PROCESS = 50,		// group: P_*
};

enum { MODE_CREATE = 1, MODE_EXEC = 2 };

enum ns_join_tag {
	J_FD = 1,	// u32
	J_TYPE = 2,	// u32: CLONE_NEW* of the namespace
	J_LABEL = 3,	// string: the config entry, for errors
};

enum cgroup_join_tag {
	G_FD = 1,	// u32: a v1 cgroup's "tasks" file, open for writing
	G_LABEL = 2,	// string: controller and directory, for errors
};

enum rootfs_tag {
	R_PATH = 1,		// string: absolute host path of root.path
	R_HOSTNS = 2,		// flag: no mount namespace of its own
	R_PREP_PROP = 3,	// u64: mount(2) flags for "/" before the binds
	R_PARENT_MOUNT = 4,	// string: mount point holding the rootfs
	R_MOUNT = 5,		// group: M_*
	R_DEV = 6,		// group: D_*
	R_PIVOT = 7,		// u32: PIVOT_*
	R_SYSCTL = 8,		// group: Y_*
	R_READONLY = 9,		// string: a linux.readonlyPaths entry
	R_MASKED = 10,		// string: a linux.maskedPaths entry
	R_MASK_DATA = 11,	// string: extra tmpfs option for masking (context=)
	R_ROOT_RDONLY = 12,	// flag
	R_ROOT_PROP = 13,	// u64: mount(2) flags for "/" after the pivot
	R_RUNTIME_HOOKS = 14,	// flag: stop for prestart/createRuntime hooks
};

enum { PIVOT_ROOT = 0, PIVOT_MOVE = 1, PIVOT_CHROOT = 2 };

enum mount_tag {
	M_KIND = 1,		// u32: MK_*
	M_LABEL = 2,		// string: `mounts[3] (destination "/data")`
	M_DEST = 3,		// string: clean absolute path in the container
	M_SOURCE = 4,		// string: host path (bind) or source (filesystem)
	M_FSTYPE = 5,		// string
	M_SRC_FD = 6,		// u32: a detached tree the runtime made (idmap)
	M_RECURSIVE = 7,	// flag: rbind
	M_ATTR_SET = 8,		// u64: MOUNT_ATTR_* on the mount itself
	M_ATTR_CLR = 9,		// u64
	M_RATTR_SET = 10,	// u64: MOUNT_ATTR_* on it and every submount
	M_RATTR_CLR = 11,	// u64
	M_PROP = 12,		// u64: MS_SHARED etc. on the mount
	M_RPROP = 13,		// u64: ... recursively
	M_SBFLAG = 14,		// string: superblock flag for fsconfig ("ro", "sync")
	M_DATA = 15,		// string: "key=value" or "key" for fsconfig
	M_TMPCOPYUP = 16,	// flag
	M_KEEP_MODE = 17,	// flag: tmpfs over an existing dir takes its mode
	M_FALLBACK = 18,	// string: host path to bind if a user namespace may not mount this
	M_ROOT_LABEL = 19,	// string: SELinux label for the new filesystem's root
	M_PROC_OK = 20,		// flag: may cover a file inside procfs
	M_CG_ENTRY = 21,	// group: C_* (cgroup v1 hierarchy)
	M_CG_UNIFIED = 22,	// string: host path of the cgroup2 dir (hybrid, or v2 bind)
	M_CG_NEW = 23,		// flag: mount fresh cgroup filesystems (cgroup namespace)
	M_CG_EMPTY_OK = 24,	// flag: an empty tmpfs when there is no cgroup to show
	M_MSFLAGS = 26,		// u64: mount(2) flags of a filesystem remount
};

enum { MK_BIND = 1, MK_FS = 2, MK_REMOUNT = 3, MK_CGROUP1 = 4, MK_CGROUP2 = 5, MK_FS_REMOUNT = 6 };

enum cgroup_entry_tag {
	C_CONTROLLER = 1,	// string: "cpu,cpuacct", "name=systemd"
	C_PATH = 2,		// string: host path of the container's cgroup in it
};

enum dev_tag {
	D_DEVICE = 1,		// group: V_*
	D_SYMLINK = 2,		// group: L_*
	D_OWNED = 3,		// flag: the runtime owns /dev (make ptmx, links)
};

enum device_tag {
	V_PATH = 1,	// string
	V_MODE = 2,	// u32: S_IF* | permissions
	V_RDEV = 3,	// u64
	V_UID = 4,	// u32
	V_GID = 5,	// u32
	V_LABEL = 6,	// string: `linux.devices[2] (path "/dev/fuse")`
	V_BIND = 7,	// flag: bind the host's node (user namespace)
};

enum symlink_tag { L_NAME = 1, L_TARGET = 2 };

enum sysctl_tag { Y_LABEL = 1, Y_REL = 2, Y_VALUE = 3 };

enum hook_tag {
	H_KIND = 1,	// u32: HOOK_*
	H_LABEL = 2,	// string: `hooks.createContainer[0] (/usr/bin/x)`
	H_PATH = 3,
	H_ARG = 4,	// string, repeated
	H_ENV = 5,	// string, repeated
	H_TIMEOUT = 6,	// u32 seconds; 0: none
};

enum { HOOK_CREATE_CONTAINER = 1, HOOK_START_CONTAINER = 2, HOOK_KINDS = 3 };

enum hook_state_tag {
	S_KIND = 1,	// u32: HOOK_*
	S_PREFIX = 2,	// string: state JSON up to the pid
	S_SUFFIX = 3,	// string: after it
};

enum process_tag {
	P_ARG = 1,		// string, repeated
	P_ENV = 2,		// string, repeated
	P_CWD = 3,		// string
	P_UID = 4,		// u32
	P_GID = 5,		// u32
	P_GROUP = 6,		// u32, repeated
	P_UMASK = 7,		// u32
	P_CAPS = 8,		// 5 x u64: bounding, effective, permitted, inheritable, ambient
	P_NNP = 9,		// flag
	P_RLIMIT = 10,		// group: RL_*
	P_OOM_SCORE_ADJ = 11,	// u32 (signed)
	P_SCHED = 12,		// raw struct sched_attr
	P_IOPRIO = 13,		// u32
	P_PERSONALITY = 14,	// u32
	P_MEMPOLICY = 15,	// group: MP_*
	P_AFFINITY = 16,	// raw CPU mask
	P_SECCOMP = 17,		// group: SC_*
	P_APPARMOR = 18,	// string
	P_SELINUX = 19,		// string
	P_KEYRING = 20,		// string: name of a new session keyring
	P_CONSOLE = 21,		// group: CO_*
	P_PRESERVE_FDS = 22,	// u32
	P_HOME_LOOKUP = 23,	// flag: HOME from the container's /etc/passwd
	P_LAST_CAP = 24,	// u32
	P_KEYRING_LABEL = 25,	// flag: label the keyring with P_SELINUX
};

enum rlimit_tag { RL_RESOURCE = 1, RL_SOFT = 2, RL_HARD = 3, RL_LABEL = 4 };
enum mempolicy_tag { MP_MODE = 1, MP_MASK = 2, MP_LABEL = 3 };
enum seccomp_tag { SC_PROG = 1, SC_FLAGS = 2, SC_NOTIFY = 3, SC_EARLY = 4 };
enum console_tag { CO_FD = 1, CO_ROWS = 2, CO_COLS = 3, CO_MOUNT = 4 };

// ---- The decoded plan ----

struct strlist {
	char **v;	// NULL-terminated
	int n;
};

struct ns_join {
	int fd;
	unsigned type;
	const char *label;
};

struct cgroup_join {
	int fd;
	const char *label;
};

struct cg_entry {
	const char *controller, *path;
};

struct mount_op {
	unsigned kind;
	const char *label, *dest, *source, *fstype;
	int src_fd;	// -1 when none
	int recursive, tmpcopyup, keep_mode, proc_ok;
	uint64_t attr_set, attr_clr, rattr_set, rattr_clr, prop, rprop, msflags;
	struct strlist sbflags, data;
	const char *fallback, *root_label;
	struct cg_entry *cg;
	int ncg;
	const char *cg_unified;
	int cg_new, cg_empty_ok;
};

struct device {
	const char *path, *label;
	unsigned mode, uid, gid;
	uint64_t rdev;
	int bind;
};

struct dev_symlink {
	const char *name, *target;
};

struct sysctl {
	const char *label, *rel, *value;
};

struct rootfs {
	const char *path;
	int hostns, root_rdonly, runtime_hooks, dev_owned;
	uint64_t prep_prop, root_prop;
	const char *parent_mount;
	struct mount_op *mounts;
	int nmounts;
	struct device *devices;
	int ndevices;
	struct dev_symlink *links;
	int nlinks;
	unsigned pivot;
	struct sysctl *sysctls;
	int nsysctls;
	struct strlist readonly, masked;
	const char *mask_data;
};

struct hook {
	unsigned kind, timeout;
	const char *label, *path;
	struct strlist args, env;
};

struct rlimit_op {
	unsigned resource;
	uint64_t soft, hard;
	const char *label;
};

struct process {
	struct strlist args, env;
	const char *cwd;
	unsigned uid, gid, umask;
	unsigned *groups;
	int ngroups;
	uint64_t caps[5];	// bounding, effective, permitted, inheritable, ambient
	int last_cap;
	int nnp;
	struct rlimit_op *rlimits;
	int nrlimits;
	int has_oom, oom_score_adj;
	const void *sched;
	size_t sched_len;
	int has_ioprio;
	unsigned ioprio;
	int has_personality;
	unsigned personality;
	int has_mempolicy;
	unsigned mp_mode;
	const void *mp_mask;
	size_t mp_mask_len;
	const char *mp_label;
	const void *affinity;
	size_t affinity_len;
	const void *seccomp_prog;
	size_t seccomp_len;
	unsigned seccomp_flags;
	int seccomp_notify, seccomp_early;
	const char *apparmor, *selinux, *keyring;
	int keyring_label;
	int console_fd;	// -1: no terminal
	unsigned rows, cols;
	int console_mount;
	unsigned preserve_fds;
	int home_lookup;
};

struct plan {
	unsigned mode;
	struct cgroup_join *cgroup_joins;
	int ncgroup_joins;
	struct ns_join *joins;
	int njoins;
	uint64_t unshare;
	int usermap, fork, new_cgroupns, setsid, loopback;
	struct strlist time_offsets;
	int root_fd;	// -1 when none
	const char *hostname, *domainname;
	struct rootfs *rootfs;	// NULL for exec
	struct hook *hooks;
	int nhooks;
	const char *state_prefix[HOOK_KINDS], *state_suffix[HOOK_KINDS];
	int fifo_fd;	// -1 when none
	struct process *process;	// NULL when the config has none
};

int plan_decode(const void *buf, size_t len, struct plan *p);

// ---- Talking to the runtime (sync.c) ----

void sync_init(int fd);
// fail reports "error <errno> <message>" to the runtime and exits 1. The
// runtime appends the errno's text, so messages read like Go's.
__attribute__((noreturn, format(printf, 2, 3))) void fail(int err, const char *fmt, ...);
void say(const char *msg);
void say_fd(const char *msg, int fd);
void expect(const char *want);
void sync_close(void);

// ---- Safe paths inside the rootfs (path.c) ----

int open_in_root(int root, const char *path, int flags);
int mkdir_in_root(int root, const char *path, int *existed);
int file_in_root(int root, const char *path);
int proc_open(const char *rel, int flags);
int proc_open_fd_link(int fd, int flags);
extern int proc_fd;
void open_host_proc(void);

// ---- Stages ----

void enter_namespaces(struct plan *p);
void enter_pid_namespace(struct plan *p);
void prepare_rootfs(struct plan *p);
void pivot_and_finish(struct plan *p);
char *run_hooks(struct plan *p, unsigned kind);
void setup_console(struct process *pr, int mount_console);
__attribute__((noreturn)) void finish_process(struct plan *p);

// ---- Small helpers (util.c) ----

void *xmalloc(size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int write_all(int fd, const void *buf, size_t len);
int fd_is_dir(int fd);

// ---- System calls musl has no wrappers for ----

#include "linux_abi.h"

#endif
