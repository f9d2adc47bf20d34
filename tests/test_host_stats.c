/* SPDX-License-Identifier: MIT */
/* Unit tests: host_stats, the host's figures: counting under runtime_dir,
 * the view pam_isc_ctl status prints, the metrics text (parsed as
 * node_exporter would: every sample named, typed and with the counted
 * value), the metrics file (atomic, 0644, no temporary file left, a link
 * replaced and not followed, a failure logged once), the queue warnings
 * (logged once per crossing, both ways) and a stats file that is corrupt
 * or not ours. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "host_stats.h"
#include "queue.h"

#define MAX_LINES 64

struct captured {
	int n;
	int priority[MAX_LINES];
	char line[MAX_LINES][LOG_LINE_MAX];
};

struct fixture {
	char dir[400];
	char run[512], state[512], prom_dir[512], prom[600], stats[600];
	struct config cfg;
	struct captured log;
	struct log_ctx lc;
};

static void capture(void *ctx, int priority, const char *line)
{
	struct captured *c = ctx;

	if (c->n >= MAX_LINES)
		return;
	c->priority[c->n] = priority;
	snprintf(c->line[c->n], sizeof c->line[c->n], "%s", line);
	c->n++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/pam_isc_stats.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->run, sizeof f->run, "%s/run", f->dir);
	snprintf(f->state, sizeof f->state, "%s/state", f->dir);
	snprintf(f->prom_dir, sizeof f->prom_dir, "%s/textfile", f->dir);
	snprintf(f->prom, sizeof f->prom, "%s/pam_isc.prom", f->prom_dir);
	snprintf(f->stats, sizeof f->stats, "%s/stats", f->run);
	if (mkdir(f->prom_dir, 0755) < 0)
		return -1;
	f->cfg.runtime_dir = f->run;
	f->cfg.state_dir = f->state;
	f->cfg.api_url = "https://tenant.example";
	f->cfg.source_name = "Linux Hosts";
	f->cfg.queue_max_age = 604800;
	f->cfg.rate_limit.requests = 100;
	f->cfg.rate_limit.seconds = 10;
	f->cfg.queue_warn = 100;
	f->lc.sink = capture;
	f->lc.sink_ctx = &f->log;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Log lines captured so far that contain each of the given words. */
static int lines_with(const struct fixture *f, int priority, const char *a, const char *b)
{
	int n = 0;

	for (int i = 0; i < f->log.n; i++)
		if ((priority < 0 || f->log.priority[i] == priority) && strstr(f->log.line[i], a) &&
		    (!b || strstr(f->log.line[i], b)))
			n++;
	return n;
}

static void put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static long long deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
}

/* Queue an entry for user (what a queued change leaves). */
static void queue_user(struct fixture *f, const char *user)
{
	struct queue_entry e;
	char err[256];

	memset(&e, 0, sizeof e);
	snprintf(e.user, sizeof e.user, "%s", user);
	e.uid = 1001;
	snprintf(e.login, sizeof e.login, "%s", user);
	snprintf(e.source, sizeof e.source, "Linux Hosts");
	snprintf(e.key_id, sizeof e.key_id, "a2V5LTE=");
	e.ciphertext = strdup("QUJD");
	assert_non_null(e.ciphertext);
	e.time = (long long)time(NULL);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	free(e.ciphertext);
}

static void unqueue_user(struct fixture *f, const char *user)
{
	char err[256];

	assert_int_equal(queue_remove(&f->cfg, user, deadline(), err, sizeof err), 0);
}

/* Set the modification time of user's entry (when it was queued). */
static void age_entry(struct fixture *f, const char *user, long long seconds)
{
	char name[65], path[PATH_MAX];
	struct timespec ts[2];

	assert_int_equal(queue_entry_name(user, name), 0);
	snprintf(path, sizeof path, "%s/queue/%s", f->state, name);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= seconds;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void view(struct fixture *f, struct host_stats_view *v)
{
	char err[PATH_MAX + 128];

	assert_int_equal(host_stats_view(&f->cfg, v, err, sizeof err), 0);
}

/* ---- counting and the view ------------------------------------------------- */

static void test_count_and_view(void **state)
{
	struct fixture *f = *state;
	struct host_stats_view v;
	struct stat st;
	long long before = (long long)time(NULL), after;

	/* Nothing counted yet: zeros, and looking creates no stats file. */
	view(f, &v);
	for (int i = 0; i < HOST_STAT_N; i++)
		assert_true(v.counts[i] == 0);
	assert_true(v.last_delivery == 0);
	assert_true(v.queue_depth == 0);
	assert_true(v.oldest_age == -1);
	assert_int_equal(v.budget.limit, 100);
	assert_int_equal(v.budget.window_s, 10);
	assert_int_equal(lstat(f->stats, &st), -1);

	host_stats_count(&f->cfg, &f->lc, HOST_STAT_FAILED, 1);
	view(f, &v);
	assert_true(v.counts[HOST_STAT_FAILED] == 1);
	assert_true(v.last_delivery == 0); /* only an accepted change sets it */

	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 2);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 3);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_DROPPED, 1);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_N, 5); /* not a kind: ignored */
	host_stats_refresh(&f->cfg, &f->lc);
	after = (long long)time(NULL);
	view(f, &v);
	assert_true(v.counts[HOST_STAT_ACCEPTED] == 3);
	assert_true(v.counts[HOST_STAT_FAILED] == 1);
	assert_true(v.counts[HOST_STAT_QUEUED] == 3);
	assert_true(v.counts[HOST_STAT_DROPPED] == 1);
	assert_true(v.last_delivery >= before && v.last_delivery <= after);

	/* The state file is ours alone; nothing was logged (no error, no
	 * warning: the queue is empty). */
	assert_int_equal(lstat(f->stats, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(f->log.n, 0);

	/* Queue entries are seen, with the age of the oldest. */
	queue_user(f, "alice");
	queue_user(f, "bob");
	age_entry(f, "bob", 125);
	view(f, &v);
	assert_true(v.queue_depth == 2);
	assert_true(v.oldest_age >= 125 && v.oldest_age <= 130);
}

/* ---- the metrics text ------------------------------------------------------ */

struct sample {
	char name[128];
	char labels[128];
	char value[64];
};

struct parsed {
	int n_samples, n_types;
	struct sample samples[64];
	char type_name[32][128];
	char type_kind[32][16];
};

static bool metric_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

static const char *type_of(const struct parsed *p, const char *name)
{
	for (int i = 0; i < p->n_types; i++)
		if (strcmp(p->type_name[i], name) == 0)
			return p->type_kind[i];
	return NULL;
}

/* Parse the exposition format 0.0.4 strictly enough to fail on what
 * node_exporter would refuse: comment lines are HELP or TYPE of a valid
 * name (one TYPE per name, before its samples, counter or gauge), a
 * sample is NAME[{LABELS}] VALUE with a typed name, and a counter's name
 * ends in _total. */
static void parse_metrics(const char *text, struct parsed *p)
{
	const char *line = text;

	memset(p, 0, sizeof *p);
	assert_true(strlen(text) > 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = (size_t)(nl - line);
		char buf[512];

		assert_non_null(nl);
		assert_true(len > 0 && len < sizeof buf);
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (strncmp(buf, "# HELP ", 7) == 0) {
			char *sp = strchr(buf + 7, ' ');
			assert_non_null(sp);
			assert_true(metric_name_ok(buf + 7, (size_t)(sp - buf - 7)));
			assert_true(strlen(sp + 1) > 0);
			assert_null(strchr(sp + 1, '\\'));
		} else if (strncmp(buf, "# TYPE ", 7) == 0) {
			char *sp = strchr(buf + 7, ' ');
			assert_non_null(sp);
			*sp = '\0';
			assert_true(metric_name_ok(buf + 7, strlen(buf + 7)));
			assert_null(type_of(p, buf + 7));
			assert_true(strcmp(sp + 1, "counter") == 0 || strcmp(sp + 1, "gauge") == 0);
			if (strcmp(sp + 1, "counter") == 0) {
				size_t n = strlen(buf + 7);
				assert_true(n > 6 && strcmp(buf + 7 + n - 6, "_total") == 0);
			}
			assert_true(p->n_types < 32);
			assert_true(strlen(buf + 7) < sizeof p->type_name[0]);
			assert_true(strlen(sp + 1) < sizeof p->type_kind[0]);
			memcpy(p->type_name[p->n_types], buf + 7, strlen(buf + 7) + 1);
			memcpy(p->type_kind[p->n_types], sp + 1, strlen(sp + 1) + 1);
			p->n_types++;
		} else {
			struct sample *s = &p->samples[p->n_samples];
			char *brace = strchr(buf, '{'), *sp = strrchr(buf, ' '), *end;
			size_t name_len = brace ? (size_t)(brace - buf) : (size_t)(sp - buf);

			assert_int_not_equal(buf[0], '#');
			assert_non_null(sp);
			assert_true(metric_name_ok(buf, name_len));
			assert_true(p->n_samples < 64);
			snprintf(s->name, sizeof s->name, "%.*s", (int)name_len, buf);
			assert_non_null(type_of(p, s->name));
			assert_int_equal(strncmp(s->name, "pam_isc_", 8), 0);
			if (brace) {
				char *rbrace = strchr(brace, '}');
				assert_non_null(rbrace);
				assert_true(rbrace + 1 == sp);
				snprintf(s->labels, sizeof s->labels, "%.*s",
					 (int)(rbrace - brace - 1), brace + 1);
			}
			snprintf(s->value, sizeof s->value, "%s", sp + 1);
			errno = 0;
			(void)strtod(s->value, &end);
			assert_true(errno == 0 && *end == '\0' && end != s->value);
			p->n_samples++;
		}
		line = nl + 1;
	}
}

/* The value of the one sample name{labels} (labels "" for none). */
static const char *sample_value(const struct parsed *p, const char *name, const char *labels)
{
	const char *found = NULL;

	for (int i = 0; i < p->n_samples; i++) {
		if (strcmp(p->samples[i].name, name) == 0 &&
		    strcmp(p->samples[i].labels, labels) == 0) {
			assert_null(found); /* once */
			found = p->samples[i].value;
		}
	}
	if (!found)
		fail_msg("no sample %s{%s}", name, labels);
	return found;
}

static void test_metrics_text(void **state)
{
	struct host_stats_view v = { 0 };
	struct parsed p;
	char *text;

	(void)state;
	v.counts[HOST_STAT_ACCEPTED] = 41;
	v.counts[HOST_STAT_FAILED] = 2;
	v.counts[HOST_STAT_QUEUED] = 7;
	v.counts[HOST_STAT_DROPPED] = 1;
	v.last_delivery = 1764817960;
	v.queue_depth = 5;
	v.oldest_age = 754;
	v.budget.limit = 100;
	v.budget.window_s = 10;
	v.budget.used = 37;
	v.budget.requests = 9007199254740992ULL;
	v.budget.answers_429 = 3;
	text = host_stats_format_metrics(&v);
	assert_non_null(text);
	parse_metrics(text, &p);
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"accepted\""),
			    "41");
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"failed\""), "2");
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"queued\""), "7");
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"dropped\""), "1");
	assert_string_equal(type_of(&p, "pam_isc_changes_total"), "counter");
	assert_string_equal(sample_value(&p, "pam_isc_queue_entries", ""), "5");
	assert_string_equal(type_of(&p, "pam_isc_queue_entries"), "gauge");
	assert_string_equal(sample_value(&p, "pam_isc_queue_oldest_age_seconds", ""), "754");
	assert_string_equal(type_of(&p, "pam_isc_queue_oldest_age_seconds"), "gauge");
	assert_string_equal(sample_value(&p, "pam_isc_isc_429_total", ""), "3");
	assert_string_equal(type_of(&p, "pam_isc_isc_429_total"), "counter");
	assert_string_equal(sample_value(&p, "pam_isc_last_delivery_timestamp_seconds", ""),
			    "1764817960");
	assert_string_equal(type_of(&p, "pam_isc_last_delivery_timestamp_seconds"), "gauge");
	assert_string_equal(sample_value(&p, "pam_isc_api_requests_total", ""), "9007199254740992");
	assert_string_equal(type_of(&p, "pam_isc_api_requests_total"), "counter");
	assert_string_equal(sample_value(&p, "pam_isc_rate_limit_used", ""), "37");
	assert_string_equal(sample_value(&p, "pam_isc_rate_limit_requests", ""), "100");
	assert_string_equal(sample_value(&p, "pam_isc_rate_limit_window_seconds", ""), "10");
	assert_int_equal(p.n_samples, 12);
	assert_int_equal(p.n_types, 9);
	free(text);

	/* An empty queue has no oldest entry: its age is 0, never -1; no
	 * delivery yet: 0. */
	v.queue_depth = 0;
	v.oldest_age = -1;
	v.last_delivery = 0;
	text = host_stats_format_metrics(&v);
	assert_non_null(text);
	parse_metrics(text, &p);
	assert_string_equal(sample_value(&p, "pam_isc_queue_oldest_age_seconds", ""), "0");
	assert_string_equal(sample_value(&p, "pam_isc_last_delivery_timestamp_seconds", ""), "0");
	free(text);
}

/* ---- the metrics file ------------------------------------------------------ */

/* Entries of dir other than keep (a temporary file left behind). */
static int others_in(const char *dir, const char *keep)
{
	char cmd[PATH_MAX + 64], line[PATH_MAX];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, keep) != 0)
			n++;
	}
	pclose(p);
	return n;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, 8191, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_metrics_file(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX], bad[PATH_MAX];
	struct parsed p;
	struct stat st;
	char *text;
	mode_t old;

	f->cfg.metrics_file = f->prom;
	old = umask(077); /* the file's mode must not depend on it */
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	queue_user(f, "carol");
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 1);
	umask(old);
	assert_int_equal(lstat(f->prom, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(others_in(f->prom_dir, "pam_isc.prom"), 0);
	text = slurp(f->prom);
	parse_metrics(text, &p);
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"accepted\""), "1");
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"queued\""), "1");
	assert_string_equal(sample_value(&p, "pam_isc_changes_total", "outcome=\"failed\""), "0");
	assert_string_equal(sample_value(&p, "pam_isc_queue_entries", ""), "1");
	assert_string_equal(sample_value(&p, "pam_isc_rate_limit_requests", ""), "100");
	assert_true(strtoll(sample_value(&p, "pam_isc_last_delivery_timestamp_seconds", ""), NULL,
			    10) > 1700000000);
	free(text);

	/* A refresh after the queue emptied rewrites it. */
	unqueue_user(f, "carol");
	host_stats_refresh(&f->cfg, &f->lc);
	text = slurp(f->prom);
	parse_metrics(text, &p);
	assert_string_equal(sample_value(&p, "pam_isc_queue_entries", ""), "0");
	free(text);

	/* A symbolic link at the name is replaced, its target untouched. */
	snprintf(target, sizeof target, "%s/target", f->dir);
	put_file(target, "untouched\n", 10, 0600);
	assert_int_equal(unlink(f->prom), 0);
	assert_int_equal(symlink(target, f->prom), 0);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_DROPPED, 1);
	assert_int_equal(lstat(f->prom, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	text = slurp(target);
	assert_string_equal(text, "untouched\n");
	free(text);
	assert_int_equal(f->log.n, 0);

	/* A directory that is not there is not created; the failure is
	 * logged once however many changes follow, and the counting goes on. */
	snprintf(bad, sizeof bad, "%s/missing/pam_isc.prom", f->dir);
	f->cfg.metrics_file = bad;
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	snprintf(target, sizeof target, "%s/missing", f->dir);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(lines_with(f, LOG_WARNING, "event=metrics_error", "missing/pam_isc.prom"),
			 1);
	assert_int_equal(f->log.n, 1);
	{
		struct host_stats_view v;
		view(f, &v);
		assert_true(v.counts[HOST_STAT_ACCEPTED] == 3);
	}
}

/* ---- the queue warnings ---------------------------------------------------- */

static void test_queue_warnings(void **state)
{
	struct fixture *f = *state;

	f->cfg.queue_warn = 2;
	queue_user(f, "user1");
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 1);
	queue_user(f, "user2");
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 1);
	assert_int_equal(f->log.n, 0); /* 2 is not more than 2 */

	/* Over: one warning, however often it is looked at. */
	queue_user(f, "user3");
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 1);
	assert_int_equal(
		lines_with(f, LOG_WARNING, "event=queue_warn reason=depth entries=3 limit=2", NULL),
		1);
	queue_user(f, "user4");
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_QUEUED, 1);
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(f->log.n, 1);

	/* Back under: cleared once. */
	unqueue_user(f, "user4");
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(f->log.n, 1); /* 3 entries: still over */
	unqueue_user(f, "user3");
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(lines_with(f, LOG_NOTICE,
				    "event=queue_warn_cleared reason=depth entries=2 limit=2",
				    NULL),
			 1);
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(f->log.n, 2);

	/* And over again: a new crossing, a new warning. */
	queue_user(f, "user3");
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(lines_with(f, LOG_WARNING, "event=queue_warn reason=depth", NULL), 2);
	assert_int_equal(f->log.n, 3);

	/* The age of the oldest entry, on its own. */
	f->cfg.queue_warn = 100;
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(lines_with(f, LOG_NOTICE, "event=queue_warn_cleared reason=depth", NULL),
			 2);
	age_entry(f, "user2", 3590);
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(f->log.n, 4); /* not yet an hour */
	age_entry(f, "user2", 7200);
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(
		lines_with(f, LOG_WARNING, "event=queue_warn reason=age oldest_age=720", NULL), 1);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(f->log.n, 5);
	unqueue_user(f, "user2");
	host_stats_refresh(&f->cfg, &f->lc);
	assert_int_equal(lines_with(f, LOG_NOTICE, "event=queue_warn_cleared reason=age", NULL), 1);
	assert_int_equal(f->log.n, 6);
	for (int i = 0; i < f->log.n; i++)
		assert_null(strstr(f->log.line[i], "stats_error"));
}

/* ---- a stats file that is corrupt or not ours ------------------------------ */

/* Write text as the stats file, then read the view. */
static void view_of(struct fixture *f, const char *text, size_t len, struct host_stats_view *v)
{
	char err[256];

	assert_int_equal(mkdir(f->run, 0700) == 0 || errno == EEXIST, 1);
	put_file(f->stats, text, len, 0600);
	assert_int_equal(host_stats_view(&f->cfg, v, err, sizeof err), 0);
}

static void assert_zeros(const struct host_stats_view *v)
{
	for (int i = 0; i < HOST_STAT_N; i++)
		assert_true(v->counts[i] == 0);
	assert_true(v->last_delivery == 0);
}

static void test_corrupt(void **state)
{
	struct fixture *f = *state;
	struct host_stats_view v;
	char big[2048], err[PATH_MAX + 128];
	static const char good[] = "PAM_ISC_STATS/1\naccepted=5\nfailed=4\nqueued=3\ndropped=2\n"
				   "last_delivery=1700000000\nwarn_depth=0\nwarn_age=0\n";
	static const char junk[] = "\x00\xff\n=\n\x01PAM_ISC_STATS/1\naccepted=5\n";

	/* The good file first: the parser reads it. */
	view_of(f, good, sizeof good - 1, &v);
	assert_true(v.counts[HOST_STAT_ACCEPTED] == 5 && v.counts[HOST_STAT_FAILED] == 4 &&
		    v.counts[HOST_STAT_QUEUED] == 3 && v.counts[HOST_STAT_DROPPED] == 2);
	assert_true(v.last_delivery == 1700000000);

	/* Another format, binary junk, a torn first line: all zeros. */
	view_of(f, good + 16, sizeof good - 17, &v);
	assert_zeros(&v);
	view_of(f, junk, sizeof junk - 1, &v);
	assert_zeros(&v);
	view_of(f, "PAM_ISC_STATS", 13, &v);
	assert_zeros(&v);
	view_of(f, "", 0, &v);
	assert_zeros(&v);
	/* Larger than any file we write. */
	memset(big, '\n', sizeof big);
	memcpy(big, good, sizeof good - 1);
	view_of(f, big, sizeof big, &v);
	assert_zeros(&v);

	/* Values that are not plain numbers, or beyond belief: zero each. */
	{
		static const char bad[] = "PAM_ISC_STATS/1\naccepted=99999999999999999999\n"
					  "failed=-5\nqueued=0012\ndropped=9007199254740993\n"
					  "last_delivery=99999999999\n";
		view_of(f, bad, sizeof bad - 1, &v);
		assert_zeros(&v);
	}
	{
		static const char mixed[] = "PAM_ISC_STATS/1\naccepted= 7\nfailed=7x\nqueued=8\n"
					    "dropped=\nbogus=1\nlast_delivery=1700000000\n";
		view_of(f, mixed, sizeof mixed - 1, &v);
		assert_true(v.counts[HOST_STAT_ACCEPTED] == 0 && v.counts[HOST_STAT_FAILED] == 0 &&
			    v.counts[HOST_STAT_QUEUED] == 8 && v.counts[HOST_STAT_DROPPED] == 0);
		assert_true(v.last_delivery == 1700000000);
	}

	/* Counting over junk starts from zero and writes a good file. */
	view_of(f, junk, sizeof junk - 1, &v);
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_FAILED, 1);
	view(f, &v);
	assert_true(v.counts[HOST_STAT_FAILED] == 1 && v.counts[HOST_STAT_ACCEPTED] == 0);
	/* A counter at the end of its range starts again (a counter reset). */
	{
		static const char top[] = "PAM_ISC_STATS/1\naccepted=9007199254740992\n";
		view_of(f, top, sizeof top - 1, &v);
		assert_true(v.counts[HOST_STAT_ACCEPTED] == 9007199254740992ULL);
		host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
		view(f, &v);
		assert_true(v.counts[HOST_STAT_ACCEPTED] == 1);
	}
	assert_int_equal(f->log.n, 0);

	/* Not ours to trust: open to others, or a symbolic link. The view
	 * fails naming the file, a count logs it and changes nothing. */
	view_of(f, good, sizeof good - 1, &v);
	assert_int_equal(chmod(f->stats, 0644), 0);
	assert_int_equal(host_stats_view(&f->cfg, &v, err, sizeof err), -1);
	assert_non_null(strstr(err, "/stats"));
	host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
	assert_int_equal(lines_with(f, LOG_WARNING, "event=stats_error", "/stats"), 1);
	assert_int_equal(chmod(f->stats, 0600), 0);
	view(f, &v);
	assert_true(v.counts[HOST_STAT_ACCEPTED] == 5);

	{
		char real[PATH_MAX];
		snprintf(real, sizeof real, "%s/elsewhere", f->dir);
		assert_int_equal(rename(f->stats, real), 0);
		assert_int_equal(symlink(real, f->stats), 0);
		assert_int_equal(host_stats_view(&f->cfg, &v, err, sizeof err), -1);
		assert_non_null(strstr(err, "symbolic link"));
		host_stats_count(&f->cfg, &f->lc, HOST_STAT_ACCEPTED, 1);
		assert_int_equal(lines_with(f, LOG_WARNING, "event=stats_error", "symbolic link"),
				 1);
		unlink(f->stats);
		assert_int_equal(rename(real, f->stats), 0);
		view(f, &v);
		assert_true(v.counts[HOST_STAT_ACCEPTED] == 5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_count_and_view, setup, teardown),
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test_setup_teardown(test_metrics_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
