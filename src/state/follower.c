/* SPDX-License-Identifier: MIT */
/* follower: see follower.h. */
#include "follower.h"
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "change.h"
#include "fsutil.h"
#include "isc_client.h"
#include "queue.h"
#include "proto.h"
#include "secret.h"

#define PENDING_DIR "pending"
#define LOCK_FILE "follower.lock"
#define PENDING_FILE_MAX 1024

struct pending {
	char id[PROTO_REQUEST_ID_MAX + 1];
	char user[PROTO_USER_MAX + 1];
	time_t since;
	time_t due;
	unsigned polls;
	bool seen;
	/* A poll was put off for the request budget: the final one may come
	 * after status_timeout (late rather than never). */
	bool deferred;
};

struct pending_table {
	struct pending *items;
	size_t n, cap;
};

unsigned follower_poll_delay(const struct config *cfg, unsigned n)
{
	unsigned long delay = cfg->status_interval;

	while (n-- > 0 && delay < FOLLOWER_MAX_INTERVAL)
		delay *= 2;
	return delay > FOLLOWER_MAX_INTERVAL ? FOLLOWER_MAX_INTERVAL : (unsigned)delay;
}

static int pending_dir_path(const struct config *cfg, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/" PENDING_DIR, cfg->runtime_dir);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static int prepare_dirs(const struct config *cfg, char *pending, size_t size, char *err,
			size_t errsize)
{
	if (pending_dir_path(cfg, pending, size) < 0) {
		snprintf(err, errsize, "runtime_dir path too long");
		return -1;
	}
	if (fsutil_ensure_private_dir(cfg->runtime_dir, err, errsize) < 0 ||
	    fsutil_ensure_private_dir(pending, err, errsize) < 0)
		return -1;
	return 0;
}

bool follower_has_pending(const struct config *cfg)
{
	char dir[PROTO_PATH_MAX + 32];
	struct dirent *de;
	bool any = false;
	DIR *d;

	if (pending_dir_path(cfg, dir, sizeof dir) < 0 || !(d = opendir(dir)))
		return false;
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

bool follower_has_work(const struct config *cfg)
{
	struct queue_summary sum;
	char err[256];

	return follower_has_pending(cfg) ||
	       (queue_summary(cfg, &sum, err, sizeof err) == 0 && sum.entries > 0);
}

int follower_enqueue(const struct config *cfg, const char *request_id, const char *user, time_t now,
		     char *err, size_t errsize)
{
	char dir[PATH_MAX], text[PROTO_USER_MAX + 64];
	int n;

	if (!proto_request_id_valid(request_id) || !proto_user_name_valid(user)) {
		snprintf(err, errsize, "invalid request id or user name");
		return -1;
	}
	if (prepare_dirs(cfg, dir, sizeof dir, err, errsize) < 0)
		return -1;
	n = snprintf(text, sizeof text, "user=%s\nsince=%lld\n", user, (long long)now);
	if (n < 0 || (size_t)n >= sizeof text) {
		snprintf(err, errsize, "entry too long");
		return -1;
	}
	return fsutil_write_atomic(dir, request_id, text, (size_t)n, err, errsize);
}

static int open_lock(const struct config *cfg, char *err, size_t errsize)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof path, "%s/" LOCK_FILE, cfg->runtime_dir) >= (int)sizeof path) {
		snprintf(err, errsize, "runtime_dir path too long");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

int follower_ensure_running(const struct config *cfg, const char *self_exe, const char *config_path,
			    bool debug, char *err, size_t errsize)
{
	char *argv[] = { "pam_isc_helper",         "follow", "--config", (char *)config_path,
			 debug ? "--debug" : NULL, NULL };
	int fd;

	fd = open_lock(cfg, err, errsize);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		if (errno == EWOULDBLOCK)
			return 0; /* a follower runs and will see the new entry */
		snprintf(err, errsize, "cannot lock %s/" LOCK_FILE ": %s", cfg->runtime_dir,
			 strerror(errno));
		return -1;
	}
	/* Nobody follows: release the lock for the follower we start now. */
	close(fd);

	return spawn_detached(self_exe, argv, err, errsize);
}

static struct pending *table_find(struct pending_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->items[i].id, id) == 0)
			return &t->items[i];
	return NULL;
}

static void table_remove(struct pending_table *t, size_t i)
{
	t->items[i] = t->items[--t->n];
}

/* Parse "user=...\nsince=...\n". */
static int parse_entry(const char *text, struct pending *p)
{
	const char *u = strstr(text, "user="), *s = strstr(text, "since=");
	size_t ulen;
	char *end;
	long long since;

	if (u != text || !s)
		return -1;
	u += 5;
	ulen = strcspn(u, "\n");
	if (ulen == 0 || ulen > PROTO_USER_MAX)
		return -1;
	memcpy(p->user, u, ulen);
	p->user[ulen] = '\0';
	if (!proto_user_name_valid(p->user))
		return -1;
	errno = 0;
	since = strtoll(s + 6, &end, 10);
	if (errno != 0 || end == s + 6 || since <= 0)
		return -1;
	p->since = (time_t)since;
	return 0;
}

/* Bring the table in line with the directory: add new entries, forget
 * vanished ones. Returns the number of entries, or -1. */
static long scan_pending(const struct config *cfg, const char *dir, struct pending_table *t,
			 const struct log_ctx *lc)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		log_event(lc, LOG_ERR, "follower_error", "dir", dir, "text", strerror(errno), NULL);
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		t->items[i].seen = false;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX], *text = NULL, err[256];
		size_t len = 0;
		struct pending *p, fresh = { 0 };

		if (de->d_name[0] == '.' || !proto_request_id_valid(de->d_name))
			continue;
		p = table_find(t, de->d_name);
		if (p) {
			p->seen = true;
			continue;
		}
		if (t->n >= FOLLOWER_MAX_PENDING)
			continue; /* the rest wait for room */
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (fsutil_read_private(path, PENDING_FILE_MAX, &text, &len, err, sizeof err) !=
			    0 ||
		    parse_entry(text, &fresh) < 0) {
			log_event(lc, LOG_ERR, "follower_error", "request", de->d_name, "text",
				  "unreadable pending entry; dropped", NULL);
			unlink(path);
			free(text);
			continue;
		}
		free(text);
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct pending *items = realloc(t->items, cap * sizeof *items);
			if (!items)
				break;
			t->items = items;
			t->cap = cap;
		}
		/* proto_request_id_valid() bounded the name's length already. */
		size_t id_len = strnlen(de->d_name, sizeof fresh.id - 1);
		memcpy(fresh.id, de->d_name, id_len);
		fresh.id[id_len] = '\0';
		fresh.due = fresh.since + (time_t)follower_poll_delay(cfg, 0);
		if (fresh.due > fresh.since + (time_t)cfg->status_timeout)
			fresh.due = fresh.since + (time_t)cfg->status_timeout;
		fresh.seen = true;
		t->items[t->n++] = fresh;
	}
	closedir(d);
	for (size_t i = t->n; i-- > 0;)
		if (!t->items[i].seen)
			table_remove(t, i);
	return (long)t->n;
}

static void drop_entry(const char *dir, struct pending_table *t, size_t i)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", dir, t->items[i].id);
	unlink(path);
	table_remove(t, i);
}

static void log_final(const struct log_ctx *lc, const struct pending *p,
		      const struct isc_status *st)
{
	char errors[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < st->n_errors && used + 1 < sizeof errors; i++) {
		int n = snprintf(errors + used, sizeof errors - used, "%s%s", i ? "; " : "",
				 st->errors[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (st->state == ISC_STATE_FAILED)
		log_event(lc, LOG_ERR, "final", "user", p->user, "request", p->id, "state",
			  "FAILED", "error", errors[0] ? errors : "(no reason given)", NULL);
	else
		log_event(lc, LOG_NOTICE, "final", "user", p->user, "request", p->id, "state",
			  isc_state_name(st->state), NULL);
}

/* A poll delay spread by up to a quarter more, so that the changes of a
 * burst (and the followers of many hosts) do not poll in lockstep. */
static unsigned spread(unsigned delay)
{
	unsigned r = (unsigned)rand();

	return delay + r % (delay / 4 + 1);
}

/* How late a poll may run (the loop wakes once a second) and still count
 * as the one due at the status_timeout deadline. */
#define FOLLOWER_LATE_S 2

/* The next poll after poll number p->polls: delay seconds from now, but
 * never past the status_timeout deadline, so that the last poll happens at
 * the deadline rather than up to FOLLOWER_MAX_INTERVAL before it (a change
 * ISC finishes just before the deadline is then still seen). false when
 * the deadline has passed: nothing is left to poll. */
static bool schedule_next(const struct config *cfg, struct pending *p, time_t now, unsigned delay)
{
	time_t deadline = p->since + (time_t)cfg->status_timeout;

	if (now >= deadline)
		return false;
	p->due = now + (time_t)delay;
	if (p->due > deadline)
		p->due = deadline;
	return true;
}

static void log_timed_out(const struct log_ctx *lc, const struct pending *p, time_t now)
{
	char waited[24];

	snprintf(waited, sizeof waited, "%lld", (long long)(now - p->since));
	log_event(lc, LOG_WARNING, "final", "user", p->user, "request", p->id, "state", "UNKNOWN",
		  "text", "still in progress when status_timeout ran out", "waited", waited, NULL);
}

/* Poll one entry. Returns true when it is done (and removed). A 429 that
 * outlasted the client's own wait sets *hold_until: no poll before then. */
static bool poll_entry(const struct config *cfg, struct isc_client *client, const char *dir,
		       struct pending_table *t, size_t i, const struct log_ctx *lc,
		       time_t *hold_until)
{
	struct pending *p = &t->items[i];
	struct isc_client_error e;
	struct isc_status st;
	time_t now = time(NULL);
	unsigned delay;
	int rc;

	if (!p->deferred && now - p->since > (time_t)cfg->status_timeout + FOLLOWER_LATE_S) {
		log_timed_out(lc, p, now);
		drop_entry(dir, t, i);
		return true;
	}
	isc_client_set_deadline(client, io_now_ms() + (long long)cfg->timeout * 1000);
	rc = isc_client_status(client, p->id, &st, &e);
	if (rc < 0 && e.kind == ISC_CLIENT_BUDGET) {
		/* Deliveries and live changes come first: this poll waits for
		 * the budget, and is not counted as one. */
		long long wait_s = (e.budget_at_ms - io_now_ms() + 999) / 1000;
		p->due = now + (time_t)(wait_s < 1 ? 1 : wait_s);
		p->deferred = true;
		return false;
	}
	if (rc == 0) {
		if (st.state != ISC_STATE_IN_PROGRESS) {
			log_final(lc, p, &st);
			isc_status_free(&st);
			drop_entry(dir, t, i);
			return true;
		}
		isc_status_free(&st);
		p->polls++;
		if (!schedule_next(cfg, p, now, spread(follower_poll_delay(cfg, p->polls)))) {
			log_timed_out(lc, p, now);
			drop_entry(dir, t, i);
			return true;
		}
		return false;
	}
	if (e.kind == ISC_CLIENT_HTTP && e.http == 404) {
		log_event(lc, LOG_ERR, "final", "user", p->user, "request", p->id, "state",
			  "UNKNOWN", "http", "404", "tracking", e.tracking[0] ? e.tracking : NULL,
			  "text", "ISC does not know this request", NULL);
		drop_entry(dir, t, i);
		return true;
	}
	/* Anything else may pass: keep following, a little later. */
	log_event(lc, LOG_WARNING, "status_error", "user", p->user, "request", p->id, "kind",
		  isc_client_err_kind_name(e.kind), "tracking", e.tracking[0] ? e.tracking : NULL,
		  "text", e.text, NULL);
	p->polls++;
	delay = spread(follower_poll_delay(cfg, p->polls));
	if (e.retry_after > (long)delay)
		delay = (unsigned)e.retry_after;
	if (e.kind == ISC_CLIENT_HTTP && e.http == 429 && e.retry_after > 0)
		*hold_until = now + (time_t)e.retry_after; /* rate limit: everyone waits */
	if (!schedule_next(cfg, p, now, delay)) {
		log_timed_out(lc, p, now);
		drop_entry(dir, t, i);
		return true;
	}
	return false;
}

/* ---- delivering the queue ------------------------------------------------ */

/* The first wait after a delivery pass that got nowhere, and the longest;
 * past it the flush timer (pam_isc_ctl flush) is the safety net. */
#define DRAIN_BACKOFF_S 30
#define DRAIN_BACKOFF_MAX_S 300

struct drain_state {
	long long at_ms; /* next pass not before (io_now_ms clock) */
	unsigned backoff_s;
	bool stuck;           /* the last pass got nowhere (ISC unreachable...) */
	size_t stuck_entries; /* queue entries when it got stuck */
};

static size_t queue_entries(const struct config *cfg, const struct log_ctx *lc)
{
	struct queue_summary sum;
	char err[256];

	if (queue_summary(cfg, &sum, err, sizeof err) < 0) {
		log_event(lc, LOG_ERR, "follower_error", "step", "queue", "text", err, NULL);
		return 0;
	}
	return sum.entries;
}

struct drain_ctx {
	const struct config *cfg;
	const struct log_ctx *lc;
};

static void drain_followed(void *vctx, const char *request_id, const char *user)
{
	const struct drain_ctx *dc = vctx;
	char err[256];

	/* The next scan of pending/ picks it up. */
	if (follower_enqueue(dc->cfg, request_id, user, time(NULL), err, sizeof err) < 0)
		log_event(dc->lc, LOG_ERR, "error", "user", user, "request", request_id, "step",
			  "follow", "text", err, NULL);
}

/* One delivery pass over the queue, paced by the host's budget (deliveries
 * before status polls: the polls wait while it runs). Sets when the next
 * pass may run. */
static void drain_pass(const struct config *cfg, const struct log_ctx *lc, struct drain_state *d)
{
	struct drain_ctx dc = { .cfg = cfg, .lc = lc };
	struct change_flush_result res;
	long long now;

	change_flush(cfg, lc, drain_followed, &dc, &res);
	now = io_now_ms();
	if (res.busy) {
		d->at_ms = now + 5000; /* pam_isc_ctl flush is delivering */
		return;
	}
	if (res.rate_limited) {
		d->at_ms = res.retry_at_ms > now ? res.retry_at_ms : now + 1000;
		d->stuck = false;
		d->backoff_s = 0;
		return;
	}
	if (res.delivered + res.dropped > 0 && res.remaining > 0 && !res.unreachable) {
		d->at_ms = now; /* more to do at once */
		d->stuck = false;
		d->backoff_s = 0;
		return;
	}
	if (res.remaining == 0) {
		d->stuck = false;
		d->backoff_s = 0;
		d->at_ms = now;
		return;
	}
	/* ISC unreachable, or only entries that must wait (their user unknown
	 * to the name service now): wait longer each time. */
	d->backoff_s = d->backoff_s ? d->backoff_s * 2 : DRAIN_BACKOFF_S;
	if (d->backoff_s > DRAIN_BACKOFF_MAX_S)
		d->backoff_s = DRAIN_BACKOFF_MAX_S;
	d->at_ms = now + (long long)d->backoff_s * 1000;
	d->stuck = true;
	d->stuck_entries = res.remaining; /* what is still queued after it */
}

/* Is there queue work this follower should stay for? Not when the last
 * pass got nowhere and nothing was queued since (the flush timer and the
 * next change's follower take it from there; a follower that stays for its
 * polls tries again after the backoff). */
static bool drain_wanted(const struct drain_state *d, size_t entries)
{
	return entries > 0 && (!d->stuck || entries > d->stuck_entries);
}

/* Is a pass due now? After its wait, or at once when new entries came
 * while it was stuck. */
static bool drain_due(const struct drain_state *d, size_t entries, long long now)
{
	if (entries == 0)
		return false;
	return now >= d->at_ms || (d->stuck && entries > d->stuck_entries);
}

/* What identifies one version of the configuration file. */
static bool config_stat(const char *path, struct stat *st)
{
	return stat(path, st) == 0;
}

static bool config_changed(const char *path, const struct stat *then)
{
	struct stat now;

	if (!config_stat(path, &now))
		return true;
	return now.st_ino != then->st_ino || now.st_dev != then->st_dev ||
	       now.st_size != then->st_size || now.st_mtim.tv_sec != then->st_mtim.tv_sec ||
	       now.st_mtim.tv_nsec != then->st_mtim.tv_nsec ||
	       now.st_ctim.tv_sec != then->st_ctim.tv_sec ||
	       now.st_ctim.tv_nsec != then->st_ctim.tv_nsec;
}

int follower_run(const struct config *cfg, const char *config_path, const struct log_ctx *lc)
{
	struct stat config_st;
	char dir[PATH_MAX], err[256];
	struct pending_table table = { 0 };
	struct secret client_secret = { 0 };
	struct config_error conf_err;
	struct isc_client *client = NULL;
	int lock_fd, ret = -1;
	time_t hold_until = 0;
	struct drain_state drain = { 0 };

	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	if (prepare_dirs(cfg, dir, sizeof dir, err, sizeof err) < 0) {
		log_event(lc, LOG_ERR, "follower_error", "text", err, NULL);
		return -1;
	}
	lock_fd = open_lock(cfg, err, sizeof err);
	if (lock_fd < 0) {
		log_event(lc, LOG_ERR, "follower_error", "text", err, NULL);
		return -1;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		close(lock_fd);
		return 0; /* another follower has it */
	}
	/* The caller read cfg from this file just before; a change after that is
	 * seen on the first turn of the loop. */
	if (!config_stat(config_path, &config_st)) {
		log_event(lc, LOG_ERR, "follower_error", "file", config_path, "text",
			  strerror(errno), NULL);
		goto out;
	}
	if (config_client_secret(cfg, &client_secret, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "follower_error", "text", text, NULL);
		goto out;
	}
	if (isc_client_new(cfg, &client_secret, io_now_ms(), lc, &client) < 0) {
		log_event(lc, LOG_ERR, "follower_error", "text", "cannot create the HTTPS client",
			  NULL);
		goto out;
	}
	/* Status polls give way to deliveries and live changes (rate_budget.h). */
	isc_client_set_rate_class(client, RATE_POLL);

	for (;;) {
		time_t now, next;
		size_t entries;
		long n;

		if (config_changed(config_path, &config_st)) {
			log_event(lc, LOG_INFO, "follower_reload", "file", config_path, NULL);
			ret = FOLLOWER_RELOAD;
			goto done;
		}
		entries = queue_entries(cfg, lc);
		if (drain_due(&drain, entries, io_now_ms())) {
			drain_pass(cfg, lc, &drain);
			entries = queue_entries(cfg, lc);
		}
		n = scan_pending(cfg, dir, &table, lc);
		if (n < 0)
			goto out;
		if (n == 0 && !drain_wanted(&drain, entries)) {
			/* See follower.h: unlock, look again, only then leave. */
			flock(lock_fd, LOCK_UN);
			n = scan_pending(cfg, dir, &table, lc);
			entries = queue_entries(cfg, lc);
			if ((n <= 0 && !drain_wanted(&drain, entries)) ||
			    flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
				break;
			continue;
		}
		now = time(NULL);
		for (size_t i = table.n; i-- > 0;) {
			if (now < hold_until) {
				/* ISC asked us (429 Retry-After) to wait: the other
				 * due polls wait too. */
				if (table.items[i].due < hold_until)
					table.items[i].due = hold_until;
				continue;
			}
			if (table.items[i].due <= now)
				poll_entry(cfg, client, dir, &table, i, lc, &hold_until);
		}
		/* Wake at the next due poll, and at least every second to
		 * pick up new entries. */
		next = now + 1;
		for (size_t i = 0; i < table.n; i++)
			if (table.items[i].due < next)
				next = table.items[i].due;
		if (next > time(NULL))
			sleep(1);
	}
	ret = 0;
	goto done;
out:
	ret = -1;
done:
	isc_client_free(client);
	secret_clear(&client_secret);
	free(table.items);
	close(lock_fd);
	return ret;
}
