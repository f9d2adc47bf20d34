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
#define LOCK_WAIT_MS 5000

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

int queue_format(const struct queue_entry *e, char **out, size_t *len)
{
	size_t cap;
	char *buf;
	int n;

	*out = NULL;
	*len = 0;
	if (!value_ok(e->user) || !value_ok(e->login) || !value_ok(e->source) ||
	    !value_ok(e->key_id) || !value_ok(e->ciphertext))
		return -1;
	cap = strlen(e->ciphertext) + sizeof e->user + sizeof e->login + sizeof e->source +
	      sizeof e->key_id + 256;
	buf = malloc(cap);
	if (!buf)
		return -1;
	n = snprintf(buf, cap,
		     QUEUE_MAGIC "\nuser=%s\nlogin=%s\nsource=%s\nkey_id=%s\ntime=%lld\nseq=%lld\n"
				 "ciphertext=%s\nend\n",
		     e->user, e->login, e->source, e->key_id, e->time, e->seq, e->ciphertext);
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

static int take_number(const char **p, const char *end, const char *key, long long *out)
{
	char buf[32], *e;

	if (take(p, end, key, buf, sizeof buf, NULL) < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	*out = strtoll(buf, &e, 10);
	return (errno || *e) ? -1 : 0;
}

int queue_parse(const char *text, size_t len, struct queue_entry *e, char *err, size_t errsize)
{
	const char *p = text, *end = text + len;
	static const char magic[] = QUEUE_MAGIC "\n";

	memset(e, 0, sizeof *e);
	if (len < sizeof magic - 1 || memcmp(text, magic, sizeof magic - 1) != 0 ||
	    memchr(text, '\0', len)) {
		snprintf(err, errsize, "not a queue entry");
		return -1;
	}
	p += sizeof magic - 1;
	if (take(&p, end, "user", e->user, sizeof e->user, NULL) < 0 ||
	    !proto_user_name_valid(e->user) ||
	    take(&p, end, "login", e->login, sizeof e->login, NULL) < 0 ||
	    take(&p, end, "source", e->source, sizeof e->source, NULL) < 0 ||
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
	char path[PATH_MAX];

	if (fsutil_ensure_private_dir(cfg->state_dir, err, errsize) < 0)
		return -1;
	if (sub_path(cfg, "queue", NULL, path, sizeof path) < 0 ||
	    fsutil_ensure_private_dir(path, err, errsize) < 0)
		return -1;
	if (sub_path(cfg, "keys", NULL, path, sizeof path) < 0 ||
	    fsutil_ensure_private_dir(path, err, errsize) < 0)
		return -1;
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* flock on queue/NAME; waits until deadline_ms (0: do not wait). */
static int lock_file(const struct config *cfg, const char *name, long long deadline_ms,
		     char *err, size_t errsize)
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
		if (mono_ms() >= deadline_ms) {
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

static int entry_paths(const struct config *cfg, const char *user, char *name, char *path,
		       char *inflight, char *qdir)
{
	if (queue_entry_name(user, name) < 0 || sub_path(cfg, "queue", name, path, PATH_MAX) < 0 ||
	    sub_path(cfg, "queue", NULL, qdir, PATH_MAX) < 0 ||
	    snprintf(inflight, PATH_MAX, "%s" INFLIGHT, path) >= PATH_MAX)
		return -1;
	return 0;
}

/* ---- entries ------------------------------------------------------------- */

int queue_put(const struct config *cfg, const struct queue_entry *e, long long deadline_ms,
	      char *err, size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];
	struct queue_entry old;
	char *text = NULL;
	size_t len = 0;
	int lock, rc;

	if (entry_paths(cfg, e->user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	if (queue_format(e, &text, &len) < 0) {
		snprintf(err, errsize, "the entry cannot be written (bad field or too large)");
		return -1;
	}
	lock = lock_file(cfg, ".lock", deadline_ms, err, errsize);
	if (lock < 0) {
		free(text);
		return -1;
	}
	/* An entry that cannot be read now (I/O error, no memory) may be the
	 * newer change: replacing it could send an older password to ISC, so
	 * the put fails. One that was read but is not an entry is replaced. */
	rc = read_entry_why(path, &old, err, errsize);
	if (rc == -1) {
		/* err says why */
	} else if (rc == 0 && old.seq > e->seq) {
		rc = 1; /* a newer change is already queued: it wins */
	} else {
		rc = fsutil_write_atomic(qdir, name, text, len, err, errsize) < 0 ? -1 : 0;
	}
	queue_entry_free(&old);
	unlock_file(lock);
	free(text);
	return rc;
}

int queue_remove(const struct config *cfg, const char *user, long long deadline_ms, char *err,
		 size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];
	int lock, rc = 1;

	if (entry_paths(cfg, user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	lock = lock_file(cfg, ".lock", deadline_ms, err, errsize);
	if (lock < 0)
		return -1;
	if (unlink(path) == 0)
		rc = sync_dir(qdir) < 0 ? -1 : 0;
	else if (errno != ENOENT)
		rc = -1;
	if (rc < 0)
		snprintf(err, errsize, "cannot remove %s: %s", path, strerror(errno));
	unlock_file(lock);
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

int queue_list(const struct config *cfg, struct queue_list *out,
	       void (*on_bad)(void *ctx, const char *file, const char *why), void *ctx,
	       char *err, size_t errsize)
{
	char qdir[PATH_MAX], path[PATH_MAX], why[256];
	struct dirent *d;
	size_t cap = 0;
	DIR *dir;

	memset(out, 0, sizeof *out);
	if (queue_dirs(cfg, err, errsize) < 0 || sub_path(cfg, "queue", NULL, qdir, sizeof qdir) < 0)
		return -1;
	dir = opendir(qdir);
	if (!dir) {
		snprintf(err, errsize, "cannot open %s: %s", qdir, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		struct queue_entry e;
		bool inflight;

		if (!is_entry_name(d->d_name, &inflight))
			continue;
		if (inflight) {
			out->inflight++;
			continue;
		}
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

void queue_list_free(struct queue_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		queue_entry_free(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof *l);
}

int queue_claim(const struct config *cfg, const struct queue_entry *e, char *err,
		size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];
	struct queue_entry cur;
	int lock, rc;

	if (entry_paths(cfg, e->user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	lock = lock_file(cfg, ".lock", mono_ms() + LOCK_WAIT_MS, err, errsize);
	if (lock < 0)
		return -1;
	rc = read_entry(path, &cur, err, errsize);
	if (rc == 0 && cur.seq != e->seq) {
		rc = 1; /* replaced by a newer change meanwhile */
	} else if (rc == 0 && rename(path, inflight) < 0) {
		snprintf(err, errsize, "cannot claim %s: %s", path, strerror(errno));
		rc = -1;
	} else if (rc == 0 && sync_dir(qdir) < 0) {
		/* The claim is not durable: after a crash the entry could be back
		 * under its name once ISC took it, and be sent twice. The caller
		 * keeps a failed claim for the next flush, which would drop an
		 * .inflight file as an interrupted delivery: put it back. */
		snprintf(err, errsize, "cannot claim %s: %s", path, strerror(errno));
		if (rename(inflight, path) == 0)
			(void)sync_dir(qdir);
		rc = -1;
	}
	queue_entry_free(&cur);
	unlock_file(lock);
	return rc;
}

int queue_done(const struct config *cfg, const char *user, char *err, size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];

	if (entry_paths(cfg, user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	if ((unlink(inflight) < 0 && errno != ENOENT) || sync_dir(qdir) < 0) {
		snprintf(err, errsize, "cannot remove %s: %s", inflight, strerror(errno));
		return -1;
	}
	return 0;
}

int queue_release(const struct config *cfg, const char *user, char *err, size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];
	struct stat st;
	int lock, rc = 0;

	if (entry_paths(cfg, user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	lock = lock_file(cfg, ".lock", mono_ms() + LOCK_WAIT_MS, err, errsize);
	if (lock < 0)
		return -1;
	/* A newer entry arrived while we delivered: it replaces ours. */
	if (lstat(path, &st) == 0)
		rc = unlink(inflight);
	else
		rc = rename(inflight, path);
	if (rc < 0 || sync_dir(qdir) < 0) {
		snprintf(err, errsize, "cannot put back %s: %s", path, strerror(errno));
		rc = -1;
	}
	unlock_file(lock);
	return rc;
}

int queue_drop(const struct config *cfg, const struct queue_entry *e, char *err,
	       size_t errsize)
{
	char name[65], path[PATH_MAX], inflight[PATH_MAX], qdir[PATH_MAX];
	struct queue_entry cur;
	int lock, rc;

	if (entry_paths(cfg, e->user, name, path, inflight, qdir) < 0) {
		snprintf(err, errsize, "state_dir path too long");
		return -1;
	}
	lock = lock_file(cfg, ".lock", mono_ms() + LOCK_WAIT_MS, err, errsize);
	if (lock < 0)
		return -1;
	rc = read_entry(path, &cur, err, errsize);
	if (rc == 0 && cur.seq != e->seq)
		rc = 1;
	else if (rc == 0 && (unlink(path) < 0 || sync_dir(qdir) < 0)) {
		snprintf(err, errsize, "cannot remove %s: %s", path, strerror(errno));
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

	if (queue_dirs(cfg, err, errsize) < 0 || sub_path(cfg, "queue", NULL, qdir, sizeof qdir) < 0)
		return -1;
	dir = opendir(qdir);
	if (!dir) {
		snprintf(err, errsize, "cannot open %s: %s", qdir, strerror(errno));
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		struct queue_entry e;
		bool inflight;

		if (is_stale_temp(qdir, d->d_name)) {
			/* A writer died between mkstemp and rename: never an entry. */
			if (snprintf(path, sizeof path, "%s/%s", qdir, d->d_name) < (int)sizeof path)
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
	if (count > 0 && sync_dir(qdir) < 0) {
		snprintf(err, errsize, "cannot sync %s: %s", qdir, strerror(errno));
		return -1;
	}
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

int queue_key_load(const struct config *cfg, char **key_id, char **public_key, char *err,
		   size_t errsize)
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

int queue_key_store(const struct config *cfg, const char *key_id, const char *public_key,
		    char *err, size_t errsize)
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
