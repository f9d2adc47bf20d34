/* SPDX-License-Identifier: MIT */
/* queue: see queue.h. */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "fsutil.h"
#include "secret.h"

#define KEY_MAGIC "PAM_ISC_KEY/1"
#define INFLIGHT ".inflight"
#define SEQ_DIR "seq"
#define SEQ_MAGIC "PAM_ISC_SEQ/1"
#define USER_LOCK_DIR "locks"
#define LOCK_WAIT_MS 5000
#define UNBOUND "-"
/* A seq record is kept this long after the user's last attempt when no
 * entry is left: far longer than a change can run (timeout is at most
 * minutes, and the module ends an overrunning helper). */
#define SEQ_KEEP_S (24 * 3600)

void queue_entry_free(struct queue_entry *e)
{
	if (!e)
		return;
	free(e->ciphertext);
	memset(e, 0, sizeof *e);
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0)
		return -1;
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

int queue_entry_name(const char *user, char out[65])
{
	return sha256_hex(user, strlen(user), out);
}

static bool value_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* An identity or account binding: empty (written "-") or a value that is
 * not "-" itself. */
static bool binding_ok(const char *s)
{
	return !*s || (value_ok(s) && strcmp(s, UNBOUND) != 0);
}

int queue_format(const struct queue_entry *e, char **out, size_t *len)
{
	size_t cap;
	char *buf;
	int n;

	char uid[24];

	*out = NULL;
	*len = 0;
	if (!value_ok(e->user) || !value_ok(e->login) || !value_ok(e->source) ||
	    !value_ok(e->key_id) || !value_ok(e->ciphertext) || !binding_ok(e->identity) ||
	    !binding_ok(e->account) || e->uid < -1 || e->uid > QUEUE_UID_MAX || e->time < 0 ||
	    e->seq < 0)
		return -1;
	if (e->uid < 0)
		snprintf(uid, sizeof uid, UNBOUND);
	else
		snprintf(uid, sizeof uid, "%lld", e->uid);
	cap = strlen(e->ciphertext) + sizeof e->user + sizeof e->login + sizeof e->source +
	      sizeof e->key_id + sizeof e->identity + sizeof e->account + 256;
	buf = malloc(cap);
	if (!buf)
		return -1;
	n = snprintf(buf, cap,
		     QUEUE_MAGIC "\nuser=%s\nuid=%s\nlogin=%s\nsource=%s\nidentity=%s\n"
				 "account=%s\nkey_id=%s\ntime=%lld\nseq=%lld\nciphertext=%s\nend\n",
		     e->user, uid, e->login, e->source, e->identity[0] ? e->identity : UNBOUND,
		     e->account[0] ? e->account : UNBOUND, e->key_id, e->time, e->seq,
		     e->ciphertext);
	if (n < 0 || (size_t)n >= cap || (size_t)n > QUEUE_FILE_MAX) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* The next line of text (without '\n') as key=value, key checked. */
static int take(const char **p, const char *end, const char *key, char *out, size_t size,
		char **dyn)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t klen = strlen(key), vlen;

	if (!nl || (size_t)(nl - *p) <= klen || strncmp(*p, key, klen) != 0 || (*p)[klen] != '=')
		return -1;
	vlen = (size_t)(nl - *p) - klen - 1;
	if (vlen == 0)
		return -1;
	if (dyn) {
		*dyn = strndup(*p + klen + 1, vlen);
		if (!*dyn)
			return -1;
		out = *dyn;
	} else {
		if (vlen >= size)
			return -1;
		memcpy(out, *p + klen + 1, vlen);
		out[vlen] = '\0';
	}
	if (strlen(out) != vlen || !value_ok(out))
		return -1;
	*p = nl + 1;
	return 0;
}

static int parse_number(const char *buf, long long *out)
{
	char *e;

	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	*out = strtoll(buf, &e, 10);
	return (errno || *e) ? -1 : 0;
}

static int take_number(const char **p, const char *end, const char *key, long long *out)
{
	char buf[32];

	if (take(p, end, key, buf, sizeof buf, NULL) < 0)
		return -1;
	return parse_number(buf, out);
}

/* identity= / account=: "-" is "not known when queued" (empty here). */
static int take_binding(const char **p, const char *end, const char *key, char *out, size_t size)
{
	if (take(p, end, key, out, size, NULL) < 0)
		return -1;
	if (strcmp(out, UNBOUND) == 0)
		out[0] = '\0';
	return 0;
}

/* uid=: a number up to QUEUE_UID_MAX, or "-" (-1: not known when queued). */
static int take_uid(const char **p, const char *end, long long *out)
{
	char buf[32];

	if (take(p, end, "uid", buf, sizeof buf, NULL) < 0)
		return -1;
	if (strcmp(buf, UNBOUND) == 0) {
		*out = -1;
		return 0;
	}
	return (parse_number(buf, out) < 0 || *out > QUEUE_UID_MAX) ? -1 : 0;
}

int queue_parse(const char *text, size_t len, struct queue_entry *e, char *err, size_t errsize)
{
	const char *p = text, *end = text + len;
	static const char magic[] = QUEUE_MAGIC "\n";
	static const char magic1[] = QUEUE_MAGIC_1 "\n";
	bool v1 = false;

	memset(e, 0, sizeof *e);
	e->uid = -1;
	if (memchr(text, '\0', len)) {
		snprintf(err, errsize, "not a queue entry");
		return -1;
	}
	if (len >= sizeof magic - 1 && memcmp(text, magic, sizeof magic - 1) == 0) {
		p += sizeof magic - 1;
	} else if (len >= sizeof magic1 - 1 && memcmp(text, magic1, sizeof magic1 - 1) == 0) {
		/* Queued before the bindings existed: read as not bound. */
		p += sizeof magic1 - 1;
		v1 = true;
	} else {
		snprintf(err, errsize, "not a queue entry");
		return -1;
	}
	if (take(&p, end, "user", e->user, sizeof e->user, NULL) < 0 ||
	    !proto_user_name_valid(e->user) || (!v1 && take_uid(&p, end, &e->uid) < 0) ||
	    take(&p, end, "login", e->login, sizeof e->login, NULL) < 0 ||
	    take(&p, end, "source", e->source, sizeof e->source, NULL) < 0 ||
	    (!v1 && take_binding(&p, end, "identity", e->identity, sizeof e->identity) < 0) ||
	    (!v1 && take_binding(&p, end, "account", e->account, sizeof e->account) < 0) ||
	    take(&p, end, "key_id", e->key_id, sizeof e->key_id, NULL) < 0 ||
	    take_number(&p, end, "time", &e->time) < 0 ||
	    take_number(&p, end, "seq", &e->seq) < 0 ||
	    take(&p, end, "ciphertext", NULL, 0, &e->ciphertext) < 0) {
		snprintf(err, errsize, "malformed or incomplete queue entry");
		queue_entry_free(e);
		return -1;
	}
	if ((size_t)(end - p) != 4 || memcmp(p, "end\n", 4) != 0) {
		snprintf(err, errsize, "queue entry without its end line");
		queue_entry_free(e);
		return -1;
	}
	return 0;
}

/* ---- directories, locks ------------------------------------------------- */

static int sub_path(const struct config *cfg, const char *sub, const char *name, char *out,
		    size_t size)
{
	int n = snprintf(out, size, "%s%s%s%s%s", cfg->state_dir, sub ? "/" : "", sub ? sub : "",
			 name ? "/" : "", name ? name : "");
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int queue_dirs(const struct config *cfg, char *err, size_t errsize)
{
	/* state_dir itself first, then what lies in it. */
	static const struct {
		const char *sub, *name;
	} dirs[] = { { NULL, NULL },
		     { "queue", NULL },
		     { "queue", SEQ_DIR },
		     { "queue", USER_LOCK_DIR },
		     { "keys", NULL } };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		if (sub_path(cfg, dirs[i].sub, dirs[i].name, path, sizeof path) < 0) {
			snprintf(err, errsize, "state_dir path too long");
			return -1;
		}
		if (fsutil_ensure_private_dir(path, err, errsize) < 0)
			return -1;
	}
	return 0;
}

/* flock on queue/NAME; waits until deadline_ms (0: do not wait). */
static int lock_file(const struct config *cfg, const char *name, long long deadline_ms, char *err,
		     size_t errsize)
{
	char path[PATH_MAX];
	int fd;

	if (queue_dirs(cfg, err, errsize) < 0)
		return -1;
	if (sub_path(cfg, "queue", name, path, sizeof path) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errsize, "cannot lock %s: %s", path, strerror(errno));
			break;
		}
		if (io_now_ms() >= deadline_ms) {
			snprintf(err, errsize, "%s is locked", path);
			close(fd);
			return -2;
		}
		usleep(10000);
	}
	close(fd);
	return -1;
}

static void unlock_file(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

int queue_flush_lock(const struct config *cfg, char *err, size_t errsize)
{
	return lock_file(cfg, ".flush", 0, err, errsize);
}

/* Read and parse queue/NAME. 0, 1 missing, -1 unreadable (an I/O error,
 * no memory, not a private regular file, too large), -2 read but not an
 * entry (torn or corrupt). */
static int read_entry_why(const char *path, struct queue_entry *e, char *err, size_t errsize)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fsutil_read_private(path, QUEUE_FILE_MAX, &text, &len, err, errsize);

	memset(e, 0, sizeof *e);
	if (rc != 0)
		return rc;
	errno = 0;
	rc = queue_parse(text, len, e, err, errsize);
	/* queue_parse fails with ENOMEM only when it could not copy a field. */
	if (rc < 0)
		rc = errno == ENOMEM ? -1 : -2;
	secret_free_buf(text, QUEUE_FILE_MAX + 1);
	return rc;
}

/* The same: 0, 1 missing, -1 unreadable or corrupt. */
static int read_entry(const char *path, struct queue_entry *e, char *err, size_t errsize)
{
	int rc = read_entry_why(path, e, err, errsize);

	return rc < -1 ? -1 : rc;
}

/* Every file of one user under state_dir/queue. */
struct user_paths {
	char name[65];
	char lock_name[sizeof USER_LOCK_DIR + 65]; /* under queue/ */
	char qdir[PATH_MAX], entry[PATH_MAX], inflight[PATH_MAX];
	char seq_dir[PATH_MAX], seq[PATH_MAX];
};

static int user_paths(const struct config *cfg, const char *user, struct user_paths *p, char *err,
		      size_t errsize)
{
	if (queue_entry_name(user, p->name) < 0 ||
	    sub_path(cfg, "queue", NULL, p->qdir, sizeof p->qdir) < 0 ||
	    sub_path(cfg, "queue", p->name, p->entry, sizeof p->entry) < 0 ||
	    snprintf(p->inflight, sizeof p->inflight, "%s" INFLIGHT, p->entry) >=
		    (int)sizeof p->inflight ||
	    snprintf(p->seq_dir, sizeof p->seq_dir, "%s/" SEQ_DIR, p->qdir) >=
		    (int)sizeof p->seq_dir ||
	    snprintf(p->seq, sizeof p->seq, "%s/%s", p->seq_dir, p->name) >= (int)sizeof p->seq) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	/* 256 lock files, by the first byte of the name: bounded however many
	 * users change passwords; two users that share one only wait for each
	 * other while a flush delivers one of them. */
	snprintf(p->lock_name, sizeof p->lock_name, USER_LOCK_DIR "/%.2s", p->name);
	return 0;
}

/* ---- the per-user sequence record ---------------------------------------- */

static long long realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The seq of the user's newest recorded attempt (0: none). 0 or -1 (the
 * file cannot be read). A record that does not parse counts as none: it
 * is written without fsync (below), so a crash may leave it torn, and
 * after a crash no change of before it is still running. */
static int seq_load(const struct user_paths *p, long long *seq, char *err, size_t errsize)
{
	static const char magic[] = SEQ_MAGIC "\n";
	char *text = NULL;
	const char *q, *end;
	size_t len = 0;
	enum fsutil_read_result rc = fsutil_read_private(p->seq, 256, &text, &len, err, errsize);

	*seq = 0;
	if (rc == FSUTIL_READ_MISSING)
		return 0;
	if (rc == FSUTIL_READ_ERROR)
		return -1;
	q = text + sizeof magic - 1;
	end = text + len;
	if (!(len >= sizeof magic - 1 && memcmp(text, magic, sizeof magic - 1) == 0 &&
	      take_number(&q, end, "seq", seq) == 0 && end - q == 4 && memcmp(q, "end\n", 4) == 0))
		*seq = 0;
	secret_free_buf(text, len);
	return 0;
}

/* Replace the record: a temporary file renamed over it (a reader sees the
 * old or the new one), without fsync. It only has to hold against changes
 * running at the same time, which a crash ends; what must survive a crash
 * (an entry, its removal) is synced where it happens. This keeps a change
 * to one rename instead of two fsyncs. */
static int seq_store(const struct user_paths *p, long long seq, char *err, size_t errsize)
{
	char text[64];
	int n = snprintf(text, sizeof text, SEQ_MAGIC "\nseq=%lld\nend\n", seq);

	/* Not durable on purpose: the record orders changes that run at the
	 * same time, which a crash ends; the removal of an older entry, which
	 * must survive one, is synced (remove_file). An fsync here would cost
	 * every change a few ms. */
	return fsutil_write_replace(p->seq_dir, p->name, text, (size_t)n, false, err, errsize);
}

/* The seq of an attempt that comes after rec: strictly increasing even if
 * the clock steps back. */
static long long next_seq(long long rec)
{
	long long now = realtime_ns();

	return now > rec ? now : rec + 1;
}

static int remove_file(const char *path, const char *qdir, char *err, size_t errsize)
{
	if (unlink(path) < 0 || fsutil_sync_dir(qdir) < 0) {
		snprintf(err, errsize, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- entries ------------------------------------------------------------- */

int queue_user_lock(const struct config *cfg, const char *user, long long deadline_ms, char *err,
		    size_t errsize)
{
	struct user_paths p;

	if (user_paths(cfg, user, &p, err, errsize) < 0)
		return -1;
	return lock_file(cfg, p.lock_name, deadline_ms, err, errsize);
}

void queue_user_unlock(int fd)
{
	unlock_file(fd);
}

enum queue_result queue_attempt(const struct config *cfg, const char *user, long long deadline_ms,
				long long *seq, char *err, size_t errsize)
{
	struct user_paths p;
	long long rec = 0, next;
	char why[256];
	int ulock, lock, rc;

	if (user_paths(cfg, user, &p, err, errsize) < 0)
		return -1;
	/* A flush delivering this user's entry holds the user lock across all
	 * its resends: wait for it, so that none of them follows this change. */
	ulock = lock_file(cfg, p.lock_name, deadline_ms, err, errsize);
	if (ulock < 0)
		return ulock;
	lock = lock_file(cfg, ".lock", deadline_ms, err, errsize);
	if (lock < 0) {
		unlock_file(ulock);
		return lock;
	}
	/* A record that cannot be read is rewritten: this attempt is newer
	 * than anything queued before it in any case. */
	if (seq_load(&p, &rec, why, sizeof why) < 0)
		rec = 0;
	next = next_seq(rec);
	rc = seq_store(&p, next, err, errsize);
	/* The older entry goes even when the record could not be written (a
	 * full disk): the flush then has nothing older to send. */
	if (access(p.entry, F_OK) < 0 && errno == ENOENT) {
		if (rc == 0)
			rc = 1;
	} else if (remove_file(p.entry, p.qdir, rc == 0 ? err : why,
			       rc == 0 ? errsize : sizeof why) < 0) {
		rc = -1;
	}
	unlock_file(lock);
	unlock_file(ulock);
	if (rc >= 0 && seq)
		*seq = next;
	return rc;
}

enum queue_result queue_remove(const struct config *cfg, const char *user, long long deadline_ms,
			       char *err, size_t errsize)
{
	return queue_attempt(cfg, user, deadline_ms, NULL, err, errsize);
}

enum queue_result queue_put(const struct config *cfg, const struct queue_entry *e,
			    long long deadline_ms, char *err, size_t errsize)
{
	struct queue_entry entry = *e, old;
	struct user_paths p;
	char *text = NULL;
	size_t len = 0;
	long long rec = 0;
	int lock, rc;

	if (user_paths(cfg, e->user, &p, err, errsize) < 0)
		return -1;
	lock = lock_file(cfg, ".lock", deadline_ms, err, errsize);
	if (lock < 0)
		return -1;
	memset(&old, 0, sizeof old);
	rc = seq_load(&p, &rec, err, errsize);
	if (rc == 0 && entry.seq <= 0)
		entry.seq = next_seq(rec);
	if (rc < 0) {
		/* no record to compare with: nothing is stored */
	} else if (entry.seq < rec) {
		rc = 1; /* a newer change's attempt began after this one's */
	} else if ((rc = read_entry_why(p.entry, &old, err, errsize)) == -1) {
		/* An entry that cannot be read now (I/O error, no memory) may be
		 * the newer change: replacing it could send an older password to
		 * ISC, so the put fails (err says why). One that was read but is
		 * not an entry is replaced. */
	} else if (rc == 0 && old.seq > entry.seq) {
		rc = 1; /* a newer change is already queued: it wins */
	} else if ((rc = 0, queue_format(&entry, &text, &len) < 0)) {
		snprintf(err, errsize, "the entry cannot be written (bad field or too large)");
		rc = -1;
	} else if (fsutil_write_atomic(p.qdir, p.name, text, len, err, errsize) < 0 ||
		   (entry.seq > rec && seq_store(&p, entry.seq, err, errsize) < 0)) {
		rc = -1;
	}
	queue_entry_free(&old);
	unlock_file(lock);
	free(text);
	return rc;
}

static bool is_entry_name(const char *n, bool *inflight)
{
	size_t len = strlen(n);

	if (len != 64 && len != 64 + strlen(INFLIGHT))
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	*inflight = len != 64;
	return len == 64 || strcmp(n + 64, INFLIGHT) == 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The next entry of the queue directory (none: NULL); .inflight files are
 * counted in *inflight and passed over, other names ignored. */
static struct dirent *next_entry(DIR *dir, size_t *inflight)
{
	struct dirent *d;
	bool is_inflight;

	while ((d = readdir(dir)) != NULL) {
		if (!is_entry_name(d->d_name, &is_inflight))
			continue;
		if (!is_inflight)
			return d;
		(*inflight)++;
	}
	return NULL;
}

/* The queue directory (made if missing) for reading: its path in qdir
 * (NULL: not wanted). */
static DIR *open_queue_dir(const struct config *cfg, char *qdir, size_t size, char *err,
			   size_t errsize)
{
	char own[PATH_MAX];
	DIR *dir;

	if (!qdir) {
		qdir = own;
		size = sizeof own;
	}
	if (queue_dirs(cfg, err, errsize) < 0 || sub_path(cfg, "queue", NULL, qdir, size) < 0)
		return NULL;
	dir = opendir(qdir);
	if (!dir)
		snprintf(err, errsize, "cannot open %s: %s", qdir, strerror(errno));
	return dir;
}

int queue_list(const struct config *cfg, struct queue_list *out,
	       void (*on_bad)(void *ctx, const char *file, const char *why), void *ctx, char *err,
	       size_t errsize)
{
	char qdir[PATH_MAX], path[PATH_MAX], why[256];
	struct dirent *d;
	size_t cap = 0;
	DIR *dir;

	memset(out, 0, sizeof *out);
	dir = open_queue_dir(cfg, qdir, sizeof qdir, err, errsize);
	if (!dir)
		return -1;
	while ((d = next_entry(dir, &out->inflight)) != NULL) {
		struct queue_entry e;

		if (out->n >= QUEUE_MAX_ENTRIES)
			break;
		if (snprintf(path, sizeof path, "%s/%s", qdir, d->d_name) >= (int)sizeof path)
			continue;
		if (read_entry(path, &e, why, sizeof why) != 0) {
			out->bad++;
			if (on_bad)
				on_bad(ctx, path, why);
			continue;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct queue_entry *grown = realloc(out->items, ncap * sizeof *grown);
			if (!grown) {
				queue_entry_free(&e);
				closedir(dir);
				queue_list_free(out);
				snprintf(err, errsize, "out of memory");
				return -1;
			}
			out->items = grown;
			cap = ncap;
		}
		out->items[out->n++] = e;
	}
	closedir(dir);
	if (out->n > 1)
		qsort(out->items, out->n, sizeof *out->items, by_seq);
	return 0;
}

int queue_summary(const struct config *cfg, struct queue_summary *out, char *err, size_t errsize)
{
	DIR *dir = open_queue_dir(cfg, NULL, 0, err, errsize);
	struct dirent *d;
	struct stat st;

	memset(out, 0, sizeof *out);
	if (!dir)
		return -1;
	while ((d = next_entry(dir, &out->inflight)) != NULL) {
		out->entries++;
		/* An entry is written once (a newer change replaces the file):
		 * its modification time is when it was queued. */
		if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (out->oldest == 0 || (long long)st.st_mtim.tv_sec < out->oldest))
			out->oldest = (long long)st.st_mtim.tv_sec;
	}
	closedir(dir);
	return 0;
}

void queue_list_free(struct queue_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		queue_entry_free(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof *l);
}

/* Claim (rename to .inflight) or drop (remove) the user's entry if it is
 * still the one with e->seq and no newer attempt was recorded since. An
 * entry that a newer attempt superseded (its removal was cut short) goes. */
static int take_entry(const struct config *cfg, const struct queue_entry *e, bool claim, char *err,
		      size_t errsize)
{
	struct user_paths p;
	struct queue_entry cur;
	long long rec = 0;
	int lock, rc;

	if (user_paths(cfg, e->user, &p, err, errsize) < 0)
		return -1;
	lock = lock_file(cfg, ".lock", io_now_ms() + LOCK_WAIT_MS, err, errsize);
	if (lock < 0)
		return -1;
	rc = read_entry(p.entry, &cur, err, errsize);
	if (rc == 0 && seq_load(&p, &rec, err, errsize) < 0)
		rc = -1;
	if (rc == 0 && rec > cur.seq) {
		rc = remove_file(p.entry, p.qdir, err, errsize) < 0 ? -1 : 1;
	} else if (rc == 0 && cur.seq != e->seq) {
		rc = 1; /* replaced by a newer change meanwhile */
	} else if (rc == 0 && claim) {
		if (rename(p.entry, p.inflight) < 0) {
			snprintf(err, errsize, "cannot claim %s: %s", p.entry, strerror(errno));
			rc = -1;
		} else if (fsutil_sync_dir(p.qdir) < 0) {
			/* The claim is not durable: after a crash the entry could be
			 * back under its name once ISC took it, and be sent twice.
			 * The caller keeps a failed claim for the next flush, which
			 * would drop an .inflight file as an interrupted delivery:
			 * put it back. */
			snprintf(err, errsize, "cannot claim %s: %s", p.entry, strerror(errno));
			if (rename(p.inflight, p.entry) == 0)
				(void)fsutil_sync_dir(p.qdir);
			rc = -1;
		}
	} else if (rc == 0) {
		rc = remove_file(p.entry, p.qdir, err, errsize);
	}
	queue_entry_free(&cur);
	unlock_file(lock);
	return rc;
}

enum queue_result queue_claim(const struct config *cfg, const struct queue_entry *e, char *err,
			      size_t errsize)
{
	return take_entry(cfg, e, true, err, errsize);
}

enum queue_result queue_drop(const struct config *cfg, const struct queue_entry *e, char *err,
			     size_t errsize)
{
	return take_entry(cfg, e, false, err, errsize);
}

int queue_done(const struct config *cfg, const char *user, char *err, size_t errsize)
{
	struct user_paths p;

	if (user_paths(cfg, user, &p, err, errsize) < 0)
		return -1;
	if ((unlink(p.inflight) < 0 && errno != ENOENT) || fsutil_sync_dir(p.qdir) < 0) {
		snprintf(err, errsize, "cannot remove %s: %s", p.inflight, strerror(errno));
		return -1;
	}
	return 0;
}

int queue_release(const struct config *cfg, const char *user, char *err, size_t errsize)
{
	struct user_paths p;
	struct queue_entry cur;
	long long rec = 0;
	struct stat st;
	int lock, rc = 0, got;

	if (user_paths(cfg, user, &p, err, errsize) < 0)
		return -1;
	lock = lock_file(cfg, ".lock", io_now_ms() + LOCK_WAIT_MS, err, errsize);
	if (lock < 0)
		return -1;
	got = read_entry(p.inflight, &cur, err, errsize);
	if (seq_load(&p, &rec, err, errsize) < 0) {
		/* Cannot tell whether a newer change came: the .inflight stays,
		 * and the next flush drops it as interrupted (never resent). */
		rc = -1;
	} else if (lstat(p.entry, &st) == 0 || (got == 0 && rec > cur.seq)) {
		/* A newer change came while we delivered: it replaces ours. */
		rc = remove_file(p.inflight, p.qdir, err, errsize);
	} else if (rename(p.inflight, p.entry) < 0 || fsutil_sync_dir(p.qdir) < 0) {
		snprintf(err, errsize, "cannot put back %s: %s", p.entry, strerror(errno));
		rc = -1;
	}
	queue_entry_free(&cur);
	unlock_file(lock);
	return rc;
}

/* ".<64 hex>.XXXXXX", the temporary file of fsutil_write_atomic, older
 * than ten minutes (a live writer renames it within its timeout). */
static bool is_stale_temp(const char *qdir, const char *n)
{
	char path[PATH_MAX];
	struct stat st;
	bool inflight;
	char base[65];

	if (n[0] != '.' || strlen(n) != 1 + 64 + 7 || n[65] != '.')
		return false;
	memcpy(base, n + 1, 64);
	base[64] = '\0';
	if (!is_entry_name(base, &inflight))
		return false;
	if (snprintf(path, sizeof path, "%s/%s", qdir, n) >= (int)sizeof path ||
	    lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return time(NULL) - st.st_mtime > 600;
}

int queue_drop_inflight(const struct config *cfg,
			void (*cb)(void *ctx, const struct queue_entry *e, const char *file),
			void *ctx, char *err, size_t errsize)
{
	char qdir[PATH_MAX], path[PATH_MAX], why[256];
	struct dirent *d;
	int count = 0;
	DIR *dir;

	dir = open_queue_dir(cfg, qdir, sizeof qdir, err, errsize);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		struct queue_entry e;
		bool inflight;

		if (is_stale_temp(qdir, d->d_name)) {
			/* A writer died between mkstemp and rename: never an entry. */
			if (snprintf(path, sizeof path, "%s/%s", qdir, d->d_name) <
			    (int)sizeof path)
				unlink(path);
			continue;
		}
		if (!is_entry_name(d->d_name, &inflight) || !inflight)
			continue;
		if (snprintf(path, sizeof path, "%s/%s", qdir, d->d_name) >= (int)sizeof path)
			continue;
		if (read_entry(path, &e, why, sizeof why) != 0)
			memset(&e, 0, sizeof e);
		if (cb)
			cb(ctx, &e, path);
		queue_entry_free(&e);
		if (unlink(path) == 0)
			count++;
	}
	closedir(dir);
	if (count > 0 && fsutil_sync_dir(qdir) < 0) {
		snprintf(err, errsize, "cannot sync %s: %s", qdir, strerror(errno));
		return -1;
	}
	return count;
}

int queue_gc_seq(const struct config *cfg, char *err, size_t errsize)
{
	char qdir[PATH_MAX], sdir[PATH_MAX], path[PATH_MAX], why[256];
	struct dirent *d;
	int count = 0;
	DIR *dir;

	if (queue_dirs(cfg, err, errsize) < 0 ||
	    sub_path(cfg, "queue", NULL, qdir, sizeof qdir) < 0 ||
	    sub_path(cfg, "queue", SEQ_DIR, sdir, sizeof sdir) < 0)
		return -1;
	dir = opendir(sdir);
	if (!dir) {
		snprintf(err, errsize, "cannot open %s: %s", sdir, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		struct stat st;
		bool inflight;
		bool stale_temp = d->d_name[0] == '.' && strlen(d->d_name) == 1 + 64 + 7;
		int lock;

		if (!stale_temp && (!is_entry_name(d->d_name, &inflight) || inflight))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", sdir, d->d_name) >= (int)sizeof path)
			continue;
		/* Under the queue lock: queue_attempt and queue_put write the
		 * record under it. */
		lock = lock_file(cfg, ".lock", io_now_ms() + LOCK_WAIT_MS, why, sizeof why);
		if (lock < 0)
			break;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    time(NULL) - st.st_mtime > (stale_temp ? 600 : SEQ_KEEP_S)) {
			char entry[PATH_MAX], infl[PATH_MAX];
			bool has_entry = !stale_temp &&
					 (snprintf(entry, sizeof entry, "%s/%s", qdir, d->d_name) >=
						  (int)sizeof entry ||
					  snprintf(infl, sizeof infl, "%s/%s" INFLIGHT, qdir,
						   d->d_name) >= (int)sizeof infl ||
					  access(entry, F_OK) == 0 || access(infl, F_OK) == 0);
			if (!has_entry && unlink(path) == 0)
				count++;
		}
		unlock_file(lock);
	}
	closedir(dir);
	return count;
}

/* ---- the public-key cache ----------------------------------------------- */

/* One cached key per source_name. Not per api_url as well: a key cached
 * from another tenant would only make queued entries that delivery drops,
 * since delivery checks the key id against a fresh lookup. */
static int key_file(const struct config *cfg, char *name, char *dir, char *path)
{
	if (sha256_hex(cfg->source_name, strlen(cfg->source_name), name) < 0 ||
	    sub_path(cfg, "keys", NULL, dir, PATH_MAX) < 0 ||
	    sub_path(cfg, "keys", name, path, PATH_MAX) < 0)
		return -1;
	return 0;
}

enum queue_result queue_key_load(const struct config *cfg, char **key_id, char **public_key,
				 char *err, size_t errsize)
{
	char name[65], dir[PATH_MAX], path[PATH_MAX];
	static const char magic[] = KEY_MAGIC "\n";
	char *text = NULL;
	size_t len = 0;
	const char *p, *end;
	int rc;

	*key_id = NULL;
	*public_key = NULL;
	if (key_file(cfg, name, dir, path) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	rc = fsutil_read_private(path, QUEUE_FILE_MAX, &text, &len, err, errsize);
	if (rc != 0)
		return rc;
	p = text;
	end = text + len;
	rc = -1;
	if (len >= sizeof magic - 1 && memcmp(text, magic, sizeof magic - 1) == 0) {
		p += sizeof magic - 1;
		if (take(&p, end, "key_id", NULL, 0, key_id) == 0 &&
		    take(&p, end, "public_key", NULL, 0, public_key) == 0 && end - p == 4 &&
		    memcmp(p, "end\n", 4) == 0)
			rc = 0;
	}
	if (rc < 0) {
		snprintf(err, errsize, "%s is not a valid key cache file", path);
		free(*key_id);
		free(*public_key);
		*key_id = *public_key = NULL;
	}
	secret_free_buf(text, QUEUE_FILE_MAX + 1);
	return rc;
}

int queue_key_store(const struct config *cfg, const char *key_id, const char *public_key, char *err,
		    size_t errsize)
{
	char name[65], dir[PATH_MAX], path[PATH_MAX], why[128];
	char *old_id = NULL, *old_key = NULL, *text;
	size_t cap;
	int n, rc;

	if (!value_ok(key_id) || !value_ok(public_key)) {
		snprintf(err, errsize, "bad key id or key");
		return -1;
	}
	if (queue_dirs(cfg, err, errsize) < 0)
		return -1;
	if (key_file(cfg, name, dir, path) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	if (queue_key_load(cfg, &old_id, &old_key, why, sizeof why) == 0 &&
	    strcmp(old_id, key_id) == 0 && strcmp(old_key, public_key) == 0) {
		free(old_id);
		free(old_key);
		return 0; /* unchanged: no write, no fsync */
	}
	free(old_id);
	free(old_key);
	cap = strlen(key_id) + strlen(public_key) + 64;
	text = malloc(cap);
	if (!text) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	n = snprintf(text, cap, KEY_MAGIC "\nkey_id=%s\npublic_key=%s\nend\n", key_id, public_key);
	if (n < 0 || (size_t)n >= cap || (size_t)n > QUEUE_FILE_MAX) {
		free(text);
		snprintf(err, errsize, "key too large to cache");
		return -1;
	}
	rc = fsutil_write_atomic(dir, name, text, (size_t)n, err, errsize);
	free(text);
	return rc;
}
