// Decoding the plan the runtime wrote (format in init.h). Every malformed
// input is an error, never a guess: the runtime and this program are built
// together, so a mismatch means a bug or a plan that is not ours.
#include <stdlib.h>
#include <string.h>

#include "init.h"

struct reader {
	const uint8_t *p, *end;
};

struct field {
	unsigned tag;
	const uint8_t *data;
	uint32_t len;
};

static int next_field(struct reader *r, struct field *f)
{
	if (r->p == r->end)
		return 0;
	if (r->end - r->p < 8)
		fail(EINVAL, "plan: truncated record header");
	f->tag = (unsigned)r->p[0] | (unsigned)r->p[1] << 8;
	f->len = (uint32_t)r->p[4] | (uint32_t)r->p[5] << 8 | (uint32_t)r->p[6] << 16 | (uint32_t)r->p[7] << 24;
	r->p += 8;
	if ((size_t)(r->end - r->p) < f->len)
		fail(EINVAL, "plan: record %u of %u bytes overruns the plan", f->tag, f->len);
	f->data = r->p;
	r->p += f->len;
	return 1;
}

static struct reader group(const struct field *f)
{
	return (struct reader){f->data, f->data + f->len};
}

static uint64_t get_u64(const struct field *f)
{
	if (f->len != 8)
		fail(EINVAL, "plan: record %u: want 8 bytes, have %u", f->tag, f->len);
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | f->data[i];
	return v;
}

static unsigned get_u32(const struct field *f)
{
	if (f->len != 4)
		fail(EINVAL, "plan: record %u: want 4 bytes, have %u", f->tag, f->len);
	return (unsigned)f->data[0] | (unsigned)f->data[1] << 8 | (unsigned)f->data[2] << 16 | (unsigned)f->data[3] << 24;
}

static int get_fd(const struct field *f)
{
	unsigned v = get_u32(f);
	if (v > 1 << 20)
		fail(EINVAL, "plan: record %u: fd %u out of range", f->tag, v);
	return (int)v;
}

static const char *get_str(const struct field *f)
{
	if (f->len == 0 || f->data[f->len - 1] != 0 || memchr(f->data, 0, f->len - 1))
		fail(EINVAL, "plan: record %u: not a NUL-terminated string", f->tag);
	return (const char *)f->data;
}

// grow makes room for one more element in the array *v of *n elements.
static void *grow(void *v, int n, size_t size)
{
	void *nv = realloc(v, (size_t)(n + 1) * size);
	if (!nv)
		fail(ENOMEM, "plan: allocating");
	memset((char *)nv + (size_t)n * size, 0, size);
	return nv;
}

#define APPEND(arr, count) (arr = grow(arr, count, sizeof(*(arr))), &(arr)[(count)++])

static void add_str(struct strlist *l, const struct field *f)
{
	l->v = grow(l->v, l->n + 1, sizeof(char *)); // keeps a NULL after the last
	l->v[l->n++] = (char *)get_str(f);
	l->v[l->n] = NULL;
}

static void unknown(const char *where, const struct field *f)
{
	fail(EINVAL, "plan: unknown record %u in %s", f->tag, where);
}

static void decode_join(struct reader r, struct ns_join *j)
{
	struct field f;
	j->fd = -1;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case J_FD: j->fd = get_fd(&f); break;
		case J_TYPE: j->type = get_u32(&f); break;
		case J_LABEL: j->label = get_str(&f); break;
		default: unknown("a namespace", &f);
		}
	}
	if (j->fd < 0 || !j->label)
		fail(EINVAL, "plan: incomplete namespace entry");
}

static void decode_cg_entry(struct reader r, struct cg_entry *c)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case C_CONTROLLER: c->controller = get_str(&f); break;
		case C_PATH: c->path = get_str(&f); break;
		default: unknown("a cgroup entry", &f);
		}
	}
	if (!c->controller || !c->path)
		fail(EINVAL, "plan: incomplete cgroup entry");
}

static void decode_mount(struct reader r, struct mount_op *m)
{
	struct field f;
	m->src_fd = -1;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case M_KIND: m->kind = get_u32(&f); break;
		case M_LABEL: m->label = get_str(&f); break;
		case M_DEST: m->dest = get_str(&f); break;
		case M_SOURCE: m->source = get_str(&f); break;
		case M_FSTYPE: m->fstype = get_str(&f); break;
		case M_SRC_FD: m->src_fd = get_fd(&f); break;
		case M_RECURSIVE: m->recursive = 1; break;
		case M_ATTR_SET: m->attr_set = get_u64(&f); break;
		case M_ATTR_CLR: m->attr_clr = get_u64(&f); break;
		case M_RATTR_SET: m->rattr_set = get_u64(&f); break;
		case M_RATTR_CLR: m->rattr_clr = get_u64(&f); break;
		case M_PROP: m->prop = get_u64(&f); break;
		case M_RPROP: m->rprop = get_u64(&f); break;
		case M_SBFLAG: add_str(&m->sbflags, &f); break;
		case M_DATA: add_str(&m->data, &f); break;
		case M_TMPCOPYUP: m->tmpcopyup = 1; break;
		case M_KEEP_MODE: m->keep_mode = 1; break;
		case M_FALLBACK: m->fallback = get_str(&f); break;
		case M_ROOT_LABEL: m->root_label = get_str(&f); break;
		case M_PROC_OK: m->proc_ok = 1; break;
		case M_CG_ENTRY: decode_cg_entry(group(&f), APPEND(m->cg, m->ncg)); break;
		case M_CG_UNIFIED: m->cg_unified = get_str(&f); break;
		case M_CG_NEW: m->cg_new = 1; break;
		case M_CG_EMPTY_OK: m->cg_empty_ok = 1; break;
		case M_MSFLAGS: m->msflags = get_u64(&f); break;
		default: unknown("a mount", &f);
		}
	}
	if (!m->kind || !m->label || !m->dest || m->dest[0] != '/')
		fail(EINVAL, "plan: incomplete mount");
}

static void decode_device(struct reader r, struct device *d)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case V_PATH: d->path = get_str(&f); break;
		case V_MODE: d->mode = get_u32(&f); break;
		case V_RDEV: d->rdev = get_u64(&f); break;
		case V_UID: d->uid = get_u32(&f); break;
		case V_GID: d->gid = get_u32(&f); break;
		case V_LABEL: d->label = get_str(&f); break;
		case V_BIND: d->bind = 1; break;
		default: unknown("a device", &f);
		}
	}
	if (!d->path || d->path[0] != '/' || !d->label)
		fail(EINVAL, "plan: incomplete device");
}

static void decode_link(struct reader r, struct dev_symlink *l)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case L_NAME: l->name = get_str(&f); break;
		case L_TARGET: l->target = get_str(&f); break;
		default: unknown("a /dev symlink", &f);
		}
	}
	if (!l->name || !l->target)
		fail(EINVAL, "plan: incomplete /dev symlink");
}

static void decode_dev(struct reader r, struct rootfs *rf)
{
	struct field f;
	rf->dev_owned = 0;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case D_DEVICE: decode_device(group(&f), APPEND(rf->devices, rf->ndevices)); break;
		case D_SYMLINK: decode_link(group(&f), APPEND(rf->links, rf->nlinks)); break;
		case D_OWNED: rf->dev_owned = 1; break;
		default: unknown("/dev", &f);
		}
	}
}

static void decode_sysctl(struct reader r, struct sysctl *s)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case Y_LABEL: s->label = get_str(&f); break;
		case Y_REL: s->rel = get_str(&f); break;
		case Y_VALUE: s->value = get_str(&f); break;
		default: unknown("a sysctl", &f);
		}
	}
	if (!s->label || !s->rel || !s->value)
		fail(EINVAL, "plan: incomplete sysctl");
}

static struct rootfs *decode_rootfs(struct reader r)
{
	struct rootfs *rf = xmalloc(sizeof(*rf));
	memset(rf, 0, sizeof(*rf));
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case R_PATH: rf->path = get_str(&f); break;
		case R_HOSTNS: rf->hostns = 1; break;
		case R_PREP_PROP: rf->prep_prop = get_u64(&f); break;
		case R_PARENT_MOUNT: rf->parent_mount = get_str(&f); break;
		case R_MOUNT: decode_mount(group(&f), APPEND(rf->mounts, rf->nmounts)); break;
		case R_DEV: decode_dev(group(&f), rf); break;
		case R_PIVOT: rf->pivot = get_u32(&f); break;
		case R_SYSCTL: decode_sysctl(group(&f), APPEND(rf->sysctls, rf->nsysctls)); break;
		case R_READONLY: add_str(&rf->readonly, &f); break;
		case R_MASKED: add_str(&rf->masked, &f); break;
		case R_MASK_DATA: rf->mask_data = get_str(&f); break;
		case R_ROOT_RDONLY: rf->root_rdonly = 1; break;
		case R_ROOT_PROP: rf->root_prop = get_u64(&f); break;
		case R_RUNTIME_HOOKS: rf->runtime_hooks = 1; break;
		default: unknown("the rootfs", &f);
		}
	}
	if (!rf->path || rf->path[0] != '/')
		fail(EINVAL, "plan: the rootfs has no absolute path");
	return rf;
}

static void decode_hook(struct reader r, struct hook *h)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case H_KIND: h->kind = get_u32(&f); break;
		case H_LABEL: h->label = get_str(&f); break;
		case H_PATH: h->path = get_str(&f); break;
		case H_ARG: add_str(&h->args, &f); break;
		case H_ENV: add_str(&h->env, &f); break;
		case H_TIMEOUT: h->timeout = get_u32(&f); break;
		default: unknown("a hook", &f);
		}
	}
	if (!h->kind || h->kind >= HOOK_KINDS || !h->label || !h->path)
		fail(EINVAL, "plan: incomplete hook");
}

static void decode_hook_state(struct reader r, struct plan *p)
{
	struct field f;
	unsigned kind = 0;
	const char *prefix = NULL, *suffix = NULL;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case S_KIND: kind = get_u32(&f); break;
		case S_PREFIX: prefix = get_str(&f); break;
		case S_SUFFIX: suffix = get_str(&f); break;
		default: unknown("a hook state", &f);
		}
	}
	if (!kind || kind >= HOOK_KINDS || !prefix || !suffix)
		fail(EINVAL, "plan: incomplete hook state");
	p->state_prefix[kind] = prefix;
	p->state_suffix[kind] = suffix;
}

static void decode_rlimit(struct reader r, struct rlimit_op *l)
{
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case RL_RESOURCE: l->resource = get_u32(&f); break;
		case RL_SOFT: l->soft = get_u64(&f); break;
		case RL_HARD: l->hard = get_u64(&f); break;
		case RL_LABEL: l->label = get_str(&f); break;
		default: unknown("an rlimit", &f);
		}
	}
	if (!l->label)
		fail(EINVAL, "plan: incomplete rlimit");
}

static void decode_process(struct reader r, struct process *pr)
{
	struct field f, g;
	struct reader sub;
	pr->console_fd = -1;
	pr->umask = 022;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case P_ARG: add_str(&pr->args, &f); break;
		case P_ENV: add_str(&pr->env, &f); break;
		case P_CWD: pr->cwd = get_str(&f); break;
		case P_UID: pr->uid = get_u32(&f); break;
		case P_GID: pr->gid = get_u32(&f); break;
		case P_GROUP: *APPEND(pr->groups, pr->ngroups) = get_u32(&f); break;
		case P_UMASK: pr->umask = get_u32(&f); break;
		case P_CAPS:
			if (f.len != 40)
				fail(EINVAL, "plan: capabilities: want 40 bytes");
			for (int i = 0; i < 5; i++) {
				struct field w = {f.tag, f.data + 8 * i, 8};
				pr->caps[i] = get_u64(&w);
			}
			break;
		case P_LAST_CAP: pr->last_cap = (int)get_u32(&f); break;
		case P_NNP: pr->nnp = 1; break;
		case P_RLIMIT: decode_rlimit(group(&f), APPEND(pr->rlimits, pr->nrlimits)); break;
		case P_OOM_SCORE_ADJ: pr->has_oom = 1; pr->oom_score_adj = (int)get_u32(&f); break;
		case P_SCHED: pr->sched = f.data; pr->sched_len = f.len; break;
		case P_IOPRIO: pr->has_ioprio = 1; pr->ioprio = get_u32(&f); break;
		case P_PERSONALITY: pr->has_personality = 1; pr->personality = get_u32(&f); break;
		case P_MEMPOLICY:
			pr->has_mempolicy = 1;
			sub = group(&f);
			while (next_field(&sub, &g)) {
				switch (g.tag) {
				case MP_MODE: pr->mp_mode = get_u32(&g); break;
				case MP_MASK: pr->mp_mask = g.data; pr->mp_mask_len = g.len; break;
				case MP_LABEL: pr->mp_label = get_str(&g); break;
				default: unknown("the memory policy", &g);
				}
			}
			if (!pr->mp_label)
				fail(EINVAL, "plan: incomplete memory policy");
			break;
		case P_AFFINITY: pr->affinity = f.data; pr->affinity_len = f.len; break;
		case P_SECCOMP:
			sub = group(&f);
			while (next_field(&sub, &g)) {
				switch (g.tag) {
				case SC_PROG: pr->seccomp_prog = g.data; pr->seccomp_len = g.len; break;
				case SC_FLAGS: pr->seccomp_flags = get_u32(&g); break;
				case SC_NOTIFY: pr->seccomp_notify = 1; break;
				case SC_EARLY: pr->seccomp_early = 1; break;
				default: unknown("the seccomp filter", &g);
				}
			}
			if (!pr->seccomp_prog || pr->seccomp_len % 8 || pr->seccomp_len / 8 > 0xffff)
				fail(EINVAL, "plan: malformed seccomp program");
			break;
		case P_APPARMOR: pr->apparmor = get_str(&f); break;
		case P_SELINUX: pr->selinux = get_str(&f); break;
		case P_KEYRING: pr->keyring = get_str(&f); break;
		case P_KEYRING_LABEL: pr->keyring_label = 1; break;
		case P_CONSOLE:
			sub = group(&f);
			while (next_field(&sub, &g)) {
				switch (g.tag) {
				case CO_FD: pr->console_fd = get_fd(&g); break;
				case CO_ROWS: pr->rows = get_u32(&g); break;
				case CO_COLS: pr->cols = get_u32(&g); break;
				case CO_MOUNT: pr->console_mount = 1; break;
				default: unknown("the console", &g);
				}
			}
			break;
		case P_PRESERVE_FDS: pr->preserve_fds = get_u32(&f); break;
		case P_HOME_LOOKUP: pr->home_lookup = 1; break;
		default: unknown("the process", &f);
		}
	}
	if (pr->args.n == 0)
		fail(EINVAL, "plan: the process has no args");
	if (!pr->env.v) {
		pr->env.v = xmalloc(sizeof(char *));
		pr->env.v[0] = NULL;
	}
}

static void decode_cgroup_join(struct reader r, struct cgroup_join *j)
{
	struct field f;
	j->fd = -1;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case G_FD: j->fd = get_fd(&f); break;
		case G_LABEL: j->label = get_str(&f); break;
		default: unknown("a cgroup to join", &f);
		}
	}
	if (j->fd < 0 || !j->label)
		fail(EINVAL, "plan: incomplete cgroup entry");
}

int plan_decode(const void *buf, size_t len, struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->root_fd = -1;
	p->fifo_fd = -1;
	if (len < 8 || memcmp(buf, PLAN_MAGIC, 8) != 0)
		fail(EINVAL, "plan: bad magic (not a plan of this berth)");
	struct reader r = {(const uint8_t *)buf + 8, (const uint8_t *)buf + len};
	struct field f;
	while (next_field(&r, &f)) {
		switch (f.tag) {
		case T_MODE: p->mode = get_u32(&f); break;
		case T_CGROUP_JOIN: decode_cgroup_join(group(&f), APPEND(p->cgroup_joins, p->ncgroup_joins)); break;
		case T_NS_JOIN: decode_join(group(&f), APPEND(p->joins, p->njoins)); break;
		case T_UNSHARE: p->unshare = get_u64(&f); break;
		case T_USERMAP: p->usermap = 1; break;
		case T_TIME_OFFSET: add_str(&p->time_offsets, &f); break;
		case T_FORK: p->fork = 1; break;
		case T_NEW_CGROUPNS: p->new_cgroupns = 1; break;
		case T_SETSID: p->setsid = 1; break;
		case T_ROOT_FD: p->root_fd = get_fd(&f); break;
		case T_LOOPBACK: p->loopback = 1; break;
		case T_HOSTNAME: p->hostname = get_str(&f); break;
		case T_DOMAINNAME: p->domainname = get_str(&f); break;
		case T_ROOTFS: p->rootfs = decode_rootfs(group(&f)); break;
		case T_HOOK: decode_hook(group(&f), APPEND(p->hooks, p->nhooks)); break;
		case T_HOOK_STATE: decode_hook_state(group(&f), p); break;
		case T_FIFO_FD: p->fifo_fd = get_fd(&f); break;
		case T_PROCESS:
			p->process = xmalloc(sizeof(*p->process));
			memset(p->process, 0, sizeof(*p->process));
			decode_process(group(&f), p->process);
			break;
		default: unknown("the plan", &f);
		}
	}
	if (p->mode != MODE_CREATE && p->mode != MODE_EXEC)
		fail(EINVAL, "plan: no mode");
	if (p->mode == MODE_CREATE && (!p->rootfs || p->fifo_fd < 0))
		fail(EINVAL, "plan: a create plan needs a rootfs and the exec fifo");
	if (p->mode == MODE_EXEC && !p->process)
		fail(EINVAL, "plan: an exec plan needs a process");
	return 0;
}
