/* SPDX-License-Identifier: MIT */
/* tests/fault: see fault.h.
 *
 * The wrapped set is what the product code calls (nm -u on the objects of
 * libisc_common, libisc_net, libisc_state): allocation, the file calls of
 * the queue, key and token caches, and the socket calls of the helper
 * protocol. Calls from inside shared libraries (libc's own opendir, json-c,
 * GnuTLS, libcurl) are not wrapped: --wrap rewrites only the references of
 * the objects being linked.
 *
 * This file itself must not call a wrapped function except through its
 * __real_ name (it is linked with the same --wrap options). */
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- the real functions, and the wrappers' prototypes ------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_open(const char *path, int flags, ...);
int __real_close(int fd);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __real_unlink(const char *path);
int __real_mkostemp(char *tmpl, int flags);
int __real_fchmod(int fd, mode_t mode);
int __real_mkdir(const char *path, mode_t mode);
DIR *__real_opendir(const char *path);
int __real_flock(int fd, int op);
int __real_socket(int domain, int type, int protocol);
int __real_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
ssize_t __real_recv(int fd, void *buf, size_t n, int flags);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_open(const char *path, int flags, ...);
int __wrap_close(int fd);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_unlink(const char *path);
int __wrap_mkostemp(char *tmpl, int flags);
int __wrap_fchmod(int fd, mode_t mode);
int __wrap_mkdir(const char *path, mode_t mode);
DIR *__wrap_opendir(const char *path);
int __wrap_flock(int fd, int op);
int __wrap_socket(int domain, int type, int protocol);
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* ---- state ------------------------------------------------------------------ */

static struct {
	bool armed;
	int held;
	struct fault_plan plan;
	unsigned long long rng;
	unsigned long calls, injected;
	size_t trace_len;
	const char *trace[FAULT_TRACE_MAX];
	bool trace_failed[FAULT_TRACE_MAX];
	/* the path a rename or unlink was about (cut; "" for other calls) */
	char trace_path[FAULT_TRACE_MAX][128];
} st;

static unsigned long long next_rand(void)
{
	/* xorshift64*: small, fast, and the same sequence everywhere. */
	st.rng ^= st.rng >> 12;
	st.rng ^= st.rng << 25;
	st.rng ^= st.rng >> 27;
	return st.rng * 0x2545F4914F6CDD1DULL;
}

static unsigned long env_ulong(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 10) : 0;
}

void fault_plan_from_env(struct fault_plan *p)
{
	const char *funcs = getenv("FAULT_FUNCS");

	memset(p, 0, sizeof *p);
	p->nth = env_ulong("FAULT_NTH");
	p->rate_permille = (unsigned)env_ulong("FAULT_RATE");
	p->seed = env_ulong("FAULT_SEED");
	p->funcs = funcs && *funcs ? funcs : NULL;
	p->soft = env_ulong("FAULT_SOFT") != 0;
	p->verbose = env_ulong("FAULT_VERBOSE") != 0;
}

void fault_arm(const struct fault_plan *p)
{
	st.plan = *p;
	/* Never a zero state: xorshift would stay at zero. */
	st.rng = (p->seed ^ 0x9E3779B97F4A7C15ULL) | 1;
	st.calls = st.injected = 0;
	st.trace_len = 0;
	st.held = 0;
	st.armed = true;
}

void fault_disarm(void)
{
	st.armed = false;
}

void fault_hold(void)
{
	st.held++;
}

void fault_release(void)
{
	if (st.held > 0)
		st.held--;
}

unsigned long fault_calls(void)
{
	return st.calls;
}

unsigned long fault_injected(void)
{
	return st.injected;
}

size_t fault_trace_len(void)
{
	return st.trace_len;
}

const char *fault_trace_path(size_t i)
{
	return i < st.trace_len ? st.trace_path[i] : NULL;
}

const char *fault_trace_name(size_t i, bool *failed)
{
	if (i >= st.trace_len)
		return NULL;
	if (failed)
		*failed = st.trace_failed[i];
	return st.trace[i];
}

static bool selected(const char *name)
{
	const char *p = st.plan.funcs;
	size_t n = strlen(name);

	if (!p)
		return true;
	while (*p) {
		size_t len = strcspn(p, ",");
		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Faults a function can have: hard ones (the call fails) and, for calls that
 * correct code retries, soft ones. nsoft of them at the end of errs are soft;
 * EINTR stands for "interrupted", 0 for "a short transfer" (read/write). */
struct kinds {
	const int *errs;
	size_t n, nsoft;
};
#define KINDS(nsoft_, ...)                                                               \
	((struct kinds){ (const int[]){ __VA_ARGS__ },                                  \
			 sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int), (nsoft_) })

/* Decide whether this call of `name` fails. Returns true with *err set to
 * the errno to fail with (0: a short transfer). */
static bool inject(const char *name, struct kinds k, int *err)
{
	size_t first, count, slot;
	bool fail = false;

	if (!st.armed || st.held || !selected(name))
		return false;
	if (st.plan.soft && k.nsoft == 0)
		return false;
	st.calls++;
	if (st.plan.nth && st.calls == st.plan.nth)
		fail = true;
	if (st.plan.rate_permille && next_rand() % 1000 < st.plan.rate_permille)
		fail = true;
	slot = st.trace_len < FAULT_TRACE_MAX ? st.trace_len++ : FAULT_TRACE_MAX;
	if (slot < FAULT_TRACE_MAX) {
		st.trace[slot] = name;
		st.trace_failed[slot] = fail;
		st.trace_path[slot][0] = '\0';
	}
	if (!fail)
		return false;
	/* Soft plans pick among the soft faults, others among all: at random
	 * with a rate, else the one numbered seed (modulo their count), so that
	 * an Nth-call run is the same every time. */
	first = st.plan.soft ? k.n - k.nsoft : 0;
	count = st.plan.soft ? k.nsoft : k.n;
	*err = k.errs[first + (st.plan.rate_permille ? next_rand() % count
						       : (size_t)(st.plan.seed % count))];
	st.injected++;
	if (st.plan.verbose)
		fprintf(stderr, "fault: call %lu: %s fails (%s)\n", st.calls, name,
			*err ? strerror(*err) : "short transfer");
	return true;
}

/* ---- allocation -------------------------------------------------------------- */

#define ALLOC_KINDS KINDS(0, ENOMEM)

void *__wrap_malloc(size_t n)
{
	int e;

	if (inject("malloc", ALLOC_KINDS, &e)) {
		errno = e;
		return NULL;
	}
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	int e;

	if (inject("calloc", ALLOC_KINDS, &e)) {
		errno = e;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	int e;

	if (inject("realloc", ALLOC_KINDS, &e)) {
		errno = e;
		return NULL; /* p stays allocated, as with a real failure */
	}
	return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	int e;

	if (inject("strdup", ALLOC_KINDS, &e)) {
		errno = e;
		return NULL;
	}
	return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	int e;

	if (inject("strndup", ALLOC_KINDS, &e)) {
		errno = e;
		return NULL;
	}
	return __real_strndup(s, n);
}

/* ---- files ------------------------------------------------------------------- */

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int e;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (inject("open", KINDS(0, EIO, EMFILE, ENOSPC, EACCES), &e)) {
		errno = e;
		return -1;
	}
	return __real_open(path, flags, mode);
}

int __wrap_close(int fd)
{
	int e;

	if (inject("close", KINDS(0, EIO), &e)) {
		/* Linux closes the descriptor even when close reports an error. */
		__real_close(fd);
		errno = e;
		return -1;
	}
	return __real_close(fd);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	int e;

	if (inject("read", KINDS(2, EIO, EINTR, 0), &e)) {
		if (e == 0 && n > 1)
			return __real_read(fd, buf, 1);
		errno = e ? e : EINTR;
		return -1;
	}
	return __real_read(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	int e;

	if (inject("write", KINDS(2, ENOSPC, EIO, EINTR, 0), &e)) {
		if (e == 0 && n > 1)
			return __real_write(fd, buf, n / 2);
		errno = e ? e : EINTR;
		return -1;
	}
	return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd)
{
	int e;

	if (inject("fsync", KINDS(0, EIO, ENOSPC), &e)) {
		errno = e;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
	int e;

	bool fail = inject("rename", KINDS(0, EIO, ENOSPC), &e);

	if (st.trace_len > 0 && st.trace_len <= FAULT_TRACE_MAX && st.armed && !st.held)
		snprintf(st.trace_path[st.trace_len - 1], sizeof st.trace_path[0], "%s", to);
	if (fail) {
		errno = e;
		return -1;
	}
	return __real_rename(from, to);
}

int __wrap_unlink(const char *path)
{
	int e;

	if (inject("unlink", KINDS(0, EIO), &e)) {
		errno = e;
		return -1;
	}
	return __real_unlink(path);
}

int __wrap_mkostemp(char *tmpl, int flags)
{
	int e;

	if (inject("mkostemp", KINDS(0, ENOSPC, EMFILE, EIO), &e)) {
		errno = e;
		return -1;
	}
	return __real_mkostemp(tmpl, flags);
}

int __wrap_fchmod(int fd, mode_t mode)
{
	int e;

	if (inject("fchmod", KINDS(0, EIO), &e)) {
		errno = e;
		return -1;
	}
	return __real_fchmod(fd, mode);
}

int __wrap_mkdir(const char *path, mode_t mode)
{
	int e;

	if (inject("mkdir", KINDS(0, ENOSPC, EIO), &e)) {
		errno = e;
		return -1;
	}
	return __real_mkdir(path, mode);
}

DIR *__wrap_opendir(const char *path)
{
	int e;

	if (inject("opendir", KINDS(0, EMFILE, ENOMEM, EIO), &e)) {
		errno = e;
		return NULL;
	}
	return __real_opendir(path);
}

int __wrap_flock(int fd, int op)
{
	int e;

	if (inject("flock", KINDS(1, ENOLCK, EINTR), &e)) {
		errno = e;
		return -1;
	}
	return __real_flock(fd, op);
}

/* ---- sockets ---------------------------------------------------------------- */

int __wrap_socket(int domain, int type, int protocol)
{
	int e;

	if (inject("socket", KINDS(0, EMFILE, ENOBUFS), &e)) {
		errno = e;
		return -1;
	}
	return __real_socket(domain, type, protocol);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int e;

	if (inject("connect", KINDS(0, ECONNREFUSED, EAGAIN), &e)) {
		errno = e;
		return -1;
	}
	return __real_connect(fd, addr, len);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	int e;

	if (inject("send", KINDS(2, EPIPE, ENOBUFS, EINTR, 0), &e)) {
		if (e == 0 && n > 1)
			return __real_send(fd, buf, n / 2, flags);
		errno = e ? e : EINTR;
		return -1;
	}
	return __real_send(fd, buf, n, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	int e;

	/* No short recv: with MSG_PEEK a short answer is a different answer. */
	if (inject("recv", KINDS(1, ECONNRESET, EINTR), &e)) {
		errno = e;
		return -1;
	}
	return __real_recv(fd, buf, n, flags);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int e;

	if (inject("poll", KINDS(1, ENOMEM, EINTR), &e)) {
		errno = e;
		return -1;
	}
	return __real_poll(fds, n, timeout);
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int e;

	if (inject("accept4", KINDS(1, EMFILE, EINTR), &e)) {
		errno = e;
		return -1;
	}
	return __real_accept4(fd, addr, len, flags);
}
