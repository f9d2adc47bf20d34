/* SPDX-License-Identifier: MIT */
/* host_stats: see host_stats.h.
 *
 * runtime_dir/stats is text, one "key=value" a line after a first line
 * naming the format:
 *
 *   PAM_ISC_STATS/1
 *   accepted=12  failed=0  queued=3  dropped=1   (one a line)
 *   last_delivery=1764817960
 *   warn_depth=0
 *   warn_age=0
 *
 * It is read and rewritten in place under flock(LOCK_EX) by every process
 * that counts, so no count is lost between two processes; pam_isc_ctl
 * status reads it under LOCK_SH. The warn_* flags are the queue warnings
 * that are raised now: a warning is logged when its flag goes up and
 * again (cleared) when it goes down, so once per crossing however many
 * processes look at the queue meanwhile. The file lives in runtime_dir
 * (a tmpfs under /run): the counters start again at a boot, which
 * Prometheus takes as a counter reset.
 *
 * Whatever the file holds is checked before it is used: a first line of
 * another format, or a file larger than any we write, reads as all zeros;
 * a value that is not a plain decimal number, or a count beyond 2^53 (the
 * largest integer a Prometheus sample, a double, holds exactly), or a
 * last delivery more than a day ahead of the clock, reads as zero. */
#include "host_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "queue.h"

#define STATS_FILE "stats"
#define STATS_MAGIC "PAM_ISC_STATS/1"
/* What we write is far shorter; anything larger is not ours. */
#define STATS_FILE_MAX 1024
#define STATS_COUNT_MAX 9007199254740992ULL /* 2^53 */
/* How far ahead of the clock a last delivery may be (the clock was set
 * back) before it reads as corrupt. */
#define STATS_FUTURE_SLACK_S 86400
/* The metrics text is a fixed set of lines of bounded numbers. */
#define METRICS_MAX 4096

static const char *const stat_keys[HOST_STAT_N] = {
	[HOST_STAT_ACCEPTED] = "accepted",
	[HOST_STAT_FAILED] = "failed",
	[HOST_STAT_QUEUED] = "queued",
	[HOST_STAT_DROPPED] = "dropped",
};

struct stats {
	unsigned long long counts[HOST_STAT_N];
	long long last_delivery;
	bool warn_depth, warn_age;
};

/* A metrics_file that cannot be written is logged once per process: the
 * per-host service counts every change of a batch, and one line says it. */
static bool metrics_error_logged;

/* ---- the file ---------------------------------------------------------- */

static int stats_path(const struct config *cfg, char *path, size_t size, char *err, size_t errsize)
{
	int n = snprintf(path, size, "%s/" STATS_FILE, cfg->runtime_dir);

	if (n < 0 || (size_t)n >= size) {
		snprintf(err, errsize, "runtime_dir path too long");
		return -1;
	}
	return 0;
}

/* Open runtime_dir/stats: for writing (created if missing) or for
 * reading. *fd is -1 when reading and there is no file yet. */
static int stats_open(const struct config *cfg, bool write, int *fd, char *err, size_t errsize)
{
	char path[PATH_MAX], why[128];
	struct stat st;
	int flags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;

	*fd = -1;
	if (stats_path(cfg, path, sizeof path, err, errsize) < 0 ||
	    fsutil_ensure_private_dir(cfg->runtime_dir, err, errsize) < 0)
		return -1;
	*fd = write ? open(path, flags | O_RDWR | O_CREAT, 0600) : open(path, flags | O_RDONLY);
	if (*fd < 0) {
		if (!write && errno == ENOENT)
			return 0;
		snprintf(err, errsize, "%s: %s", path,
			 errno == ELOOP ? "a symbolic link (refused)" : strerror(errno));
		return -1;
	}
	if (fstat(*fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file", path);
	} else if (fsutil_check_trust(&st, FSUTIL_PRIVATE, why, sizeof why) < 0) {
		snprintf(err, errsize, "%s: %s", path, why);
	} else {
		return 0;
	}
	close(*fd);
	*fd = -1;
	return -1;
}

static int stats_lock(int fd, int op, char *err, size_t errsize)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR) {
			snprintf(err, errsize, "locking %s: %s", STATS_FILE, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* A plain decimal number of at most 19 digits (no sign, no blank, no
 * leading zero but "0" itself), at most max; -1 otherwise. */
static long long parse_num(const char *v, size_t n, unsigned long long max)
{
	unsigned long long x = 0;

	if (n == 0 || n > 19 || (n > 1 && v[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (unsigned long long)(v[i] - '0');
	}
	return x <= max ? (long long)x : -1;
}

static void stats_parse(const char *text, size_t len, long long now, struct stats *s)
{
	size_t magic = strlen(STATS_MAGIC);
	const char *p = text, *end = text + len;

	memset(s, 0, sizeof *s);
	if (len < magic + 1 || memcmp(text, STATS_MAGIC "\n", magic + 1) != 0)
		return;
	p += magic + 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(line_end - p));

		if (eq) {
			size_t klen = (size_t)(eq - p), vlen = (size_t)(line_end - eq - 1);
			const char *v = eq + 1;
			long long x;

			for (int i = 0; i < HOST_STAT_N; i++) {
				if (strlen(stat_keys[i]) != klen ||
				    memcmp(p, stat_keys[i], klen) != 0)
					continue;
				x = parse_num(v, vlen, STATS_COUNT_MAX);
				s->counts[i] = x < 0 ? 0 : (unsigned long long)x;
			}
			if (klen == 13 && memcmp(p, "last_delivery", 13) == 0) {
				x = parse_num(v, vlen,
					      (unsigned long long)now + STATS_FUTURE_SLACK_S);
				s->last_delivery = x < 0 ? 0 : x;
			} else if (klen == 10 && memcmp(p, "warn_depth", 10) == 0) {
				s->warn_depth = parse_num(v, vlen, 1) == 1;
			} else if (klen == 8 && memcmp(p, "warn_age", 8) == 0) {
				s->warn_age = parse_num(v, vlen, 1) == 1;
			}
		}
		p = line_end + 1;
	}
}

/* Read the file (under the caller's lock); anything unusable reads as
 * zeros. */
static void stats_load(int fd, long long now, struct stats *s)
{
	char buf[STATS_FILE_MAX + 1];
	size_t got = 0;

	memset(s, 0, sizeof *s);
	for (;;) {
		ssize_t r = pread(fd, buf + got, sizeof buf - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return;
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > STATS_FILE_MAX)
			return; /* not a file we wrote */
	}
	stats_parse(buf, got, now, s);
}

static int stats_store(int fd, const struct stats *s, char *err, size_t errsize)
{
	char buf[STATS_FILE_MAX];
	int n = snprintf(buf, sizeof buf,
			 STATS_MAGIC "\naccepted=%llu\nfailed=%llu\nqueued=%llu\ndropped=%llu\n"
				     "last_delivery=%lld\nwarn_depth=%d\nwarn_age=%d\n",
			 s->counts[HOST_STAT_ACCEPTED], s->counts[HOST_STAT_FAILED],
			 s->counts[HOST_STAT_QUEUED], s->counts[HOST_STAT_DROPPED],
			 s->last_delivery, s->warn_depth ? 1 : 0, s->warn_age ? 1 : 0);

	if (n < 0 || (size_t)n >= sizeof buf) {
		snprintf(err, errsize, "writing %s: too long", STATS_FILE);
		return -1;
	}
	if (pwrite(fd, buf, (size_t)n, 0) != (ssize_t)n || ftruncate(fd, (off_t)n) < 0) {
		snprintf(err, errsize, "writing %s: %s", STATS_FILE, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the queue warnings --------------------------------------------------- */

static size_t queue_depth(const struct queue_summary *q)
{
	/* An entry in delivery still waits: counting it keeps a flush that
	 * fails to deliver from clearing and raising the warning again. */
	return q->entries + q->inflight;
}

static long long oldest_age(const struct queue_summary *q, long long now)
{
	if (q->oldest == 0)
		return -1;
	return now > q->oldest ? now - q->oldest : 0;
}

/* Raise or clear each warning on a crossing; the flags say what is raised
 * now, so every crossing is logged once, by whichever process saw it. */
static void check_warnings(const struct config *cfg, const struct log_ctx *lc,
			   const struct queue_summary *q, long long now, struct stats *s)
{
	char entries[24], limit[24], age[24], old_limit[24];
	size_t depth = queue_depth(q);
	long long oldest = oldest_age(q, now);
	bool over_depth = cfg->queue_warn > 0 && depth > cfg->queue_warn;
	bool over_age = oldest > HOST_STATS_OLD_ENTRY_S;

	snprintf(entries, sizeof entries, "%zu", depth);
	snprintf(limit, sizeof limit, "%u", cfg->queue_warn);
	snprintf(age, sizeof age, "%lld", oldest < 0 ? 0 : oldest);
	snprintf(old_limit, sizeof old_limit, "%d", HOST_STATS_OLD_ENTRY_S);
	if (over_depth && !s->warn_depth)
		log_event(lc, LOG_WARNING, "queue_warn", "reason", "depth", "entries", entries,
			  "limit", limit, "text",
			  "the offline queue holds more changes than queue_warn: ISC has not "
			  "taken them; see pam_isc_ctl status and pam_isc_ctl flush",
			  NULL);
	else if (!over_depth && s->warn_depth)
		log_event(lc, LOG_NOTICE, "queue_warn_cleared", "reason", "depth", "entries",
			  entries, "limit", limit, NULL);
	if (over_age && !s->warn_age)
		log_event(lc, LOG_WARNING, "queue_warn", "reason", "age", "oldest_age", age,
			  "limit", old_limit, "entries", entries, "text",
			  "the oldest queued change waits for more than an hour: ISC has not "
			  "taken it; see pam_isc_ctl status and pam_isc_ctl flush",
			  NULL);
	else if (!over_age && s->warn_age)
		log_event(lc, LOG_NOTICE, "queue_warn_cleared", "reason", "age", "oldest_age",
			  oldest < 0 ? NULL : age, "limit", old_limit, "entries", entries, NULL);
	s->warn_depth = over_depth;
	s->warn_age = over_age;
}

/* ---- the metrics file ----------------------------------------------------- */

struct text_buf {
	char *s;
	size_t len, size;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct text_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->size - b->len) {
		b->full = true;
		return;
	}
	b->len += (size_t)n;
}

static void metric_head(struct text_buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *host_stats_format_metrics(const struct host_stats_view *v)
{
	struct text_buf b = { .s = malloc(METRICS_MAX), .size = METRICS_MAX };
	/* The metrics with one sample each: name, type, help, value. */
	const struct {
		const char *name, *type, *help;
		unsigned long long value;
	} gauges[] = {
		{ "pam_isc_queue_entries", "gauge", "Changes waiting in the offline queue.",
		  v->queue_depth },
		{ "pam_isc_queue_oldest_age_seconds", "gauge",
		  "Age of the oldest change in the offline queue (0 when it is empty).",
		  v->oldest_age > 0 ? (unsigned long long)v->oldest_age : 0 },
		{ "pam_isc_isc_429_total", "counter", "Answers HTTP 429 (rate limit) from ISC.",
		  v->budget.answers_429 },
		{ "pam_isc_last_delivery_timestamp_seconds", "gauge",
		  "When ISC last accepted a change of this host, Unix time (0: never).",
		  v->last_delivery > 0 ? (unsigned long long)v->last_delivery : 0 },
		{ "pam_isc_api_requests_total", "counter",
		  "API requests to ISC taken from the host's request budget.", v->budget.requests },
		{ "pam_isc_rate_limit_used", "gauge",
		  "API requests in the current window of the request budget.", v->budget.used },
		{ "pam_isc_rate_limit_requests", "gauge",
		  "API requests allowed in a window (rate_limit; 0: no limit).", v->budget.limit },
		{ "pam_isc_rate_limit_window_seconds", "gauge",
		  "The window of rate_limit in seconds (0: no limit).", v->budget.window_s },
	};

	if (!b.s)
		return NULL;
	b.s[0] = '\0';
	metric_head(&b, "pam_isc_changes_total", "counter",
		    "Password changes by outcome: accepted by ISC (live or delivered from the "
		    "queue), failed (not queued), queued, dropped from the queue.");
	for (int i = 0; i < HOST_STAT_N; i++)
		put(&b, "pam_isc_changes_total{outcome=\"%s\"} %llu\n", stat_keys[i], v->counts[i]);
	for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++) {
		metric_head(&b, gauges[i].name, gauges[i].type, gauges[i].help);
		put(&b, "%s %llu\n", gauges[i].name, gauges[i].value);
	}
	if (b.full) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Write metrics_file: a temporary file beside it, renamed over it. Its
 * directory is the administrator's (node_exporter's textfile directory):
 * never created here. */
static int write_metrics(const char *file, const struct host_stats_view *v, char *err,
			 size_t errsize)
{
	const char *slash = strrchr(file, '/');
	char dir[PATH_MAX];
	char *text;
	int rc;

	if (!slash || slash[1] == '\0' || (size_t)(slash - file) >= sizeof dir) {
		snprintf(err, errsize, "%s: not a file path", file);
		return -1;
	}
	if (slash == file) {
		snprintf(dir, sizeof dir, "/");
	} else {
		memcpy(dir, file, (size_t)(slash - file));
		dir[slash - file] = '\0';
	}
	text = host_stats_format_metrics(v);
	if (!text) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	/* No fsync: the file is rewritten at the next change, and after a
	 * crash a stale or missing file is all node_exporter sees. */
	rc = fsutil_write_replace_mode(dir, slash + 1, text, strlen(text), false, 0644, err,
				       errsize);
	free(text);
	return rc;
}

/* ---- counting ------------------------------------------------------------- */

static void fill_view(struct host_stats_view *v, const struct stats *s,
		      const struct queue_summary *q, long long now)
{
	memcpy(v->counts, s->counts, sizeof v->counts);
	v->last_delivery = s->last_delivery;
	v->queue_depth = queue_depth(q);
	v->oldest_age = oldest_age(q, now);
}

/* Count (what < HOST_STAT_N) or only look (what == HOST_STAT_N). */
static void update(const struct config *cfg, const struct log_ctx *lc, int what, unsigned n)
{
	struct queue_summary q;
	struct stats s;
	char err[PATH_MAX + 128];
	long long now = (long long)time(NULL);
	bool have_queue;
	int fd;

	if (stats_open(cfg, true, &fd, err, sizeof err) < 0 ||
	    stats_lock(fd, LOCK_EX, err, sizeof err) < 0) {
		log_event(lc, LOG_WARNING, "stats_error", "text", err, NULL);
		if (fd >= 0)
			close(fd);
		return;
	}
	stats_load(fd, now, &s);
	if (what >= 0 && what < HOST_STAT_N) {
		/* A counter at the end of its range starts again: Prometheus
		 * takes that as a counter reset. */
		if (s.counts[what] + n > STATS_COUNT_MAX)
			s.counts[what] = 0;
		s.counts[what] += n;
		if (what == HOST_STAT_ACCEPTED && n > 0)
			s.last_delivery = now;
	}
	/* The warnings and the file are decided under the lock, so two
	 * processes never log one crossing twice nor leave older figures
	 * in metrics_file than the newest. */
	have_queue = queue_summary(cfg, &q, err, sizeof err) == 0;
	if (have_queue)
		check_warnings(cfg, lc, &q, now, &s);
	else
		log_event(lc, LOG_WARNING, "stats_error", "step", "queue", "text", err, NULL);
	if (stats_store(fd, &s, err, sizeof err) < 0)
		log_event(lc, LOG_WARNING, "stats_error", "text", err, NULL);
	if (cfg->metrics_file && have_queue) {
		struct host_stats_view v = { 0 };

		fill_view(&v, &s, &q, now);
		if (rate_budget_view(cfg, &v.budget, err, sizeof err) < 0 ||
		    write_metrics(cfg->metrics_file, &v, err, sizeof err) < 0) {
			if (!metrics_error_logged)
				log_event(lc, LOG_WARNING, "metrics_error", "file",
					  cfg->metrics_file, "text", err, NULL);
			metrics_error_logged = true;
		}
	}
	flock(fd, LOCK_UN);
	close(fd);
}

void host_stats_count(const struct config *cfg, const struct log_ctx *lc, enum host_stat what,
		      unsigned n)
{
	if ((int)what < 0 || what >= HOST_STAT_N)
		return;
	update(cfg, lc, (int)what, n);
}

void host_stats_refresh(const struct config *cfg, const struct log_ctx *lc)
{
	update(cfg, lc, HOST_STAT_N, 0);
}

int host_stats_view(const struct config *cfg, struct host_stats_view *out, char *err,
		    size_t errsize)
{
	struct queue_summary q;
	struct stats s;
	long long now = (long long)time(NULL);
	int fd;

	memset(out, 0, sizeof *out);
	memset(&s, 0, sizeof s);
	if (stats_open(cfg, false, &fd, err, errsize) < 0)
		return -1;
	if (fd >= 0) {
		if (stats_lock(fd, LOCK_SH, err, errsize) < 0) {
			close(fd);
			return -1;
		}
		stats_load(fd, now, &s);
		flock(fd, LOCK_UN);
		close(fd);
	}
	if (queue_summary(cfg, &q, err, errsize) < 0 ||
	    rate_budget_view(cfg, &out->budget, err, errsize) < 0)
		return -1;
	fill_view(out, &s, &q, now);
	return 0;
}
