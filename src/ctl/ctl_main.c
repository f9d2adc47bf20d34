/* SPDX-License-Identifier: MIT */
/* pam_isc_ctl: the administrator's view of pam_isc, on the same library as
 * the helper: check [USER], status [REQUEST_ID], flush, queue. */
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "change.h"
#include "config.h"
#include "isc_client.h"
#include "isc_json.h"
#include "log.h"
#include "follower.h"
#include "host_stats.h"
#include "proto.h"
#include "queue.h"
#include "secret.h"
#include "text.h"

enum ctl_exit {
	CTL_OK = 0,
	CTL_FAILED = 1, /* a check failed, or ISC said no */
	CTL_USAGE = 2,
	CTL_CONFIG = 3,
	CTL_BUSY = 4, /* flush: another flush is running */
};

#ifndef PAM_ISC_HELPER
#define PAM_ISC_HELPER "/usr/libexec/pam_isc/pam_isc_helper"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pam_isc_ctl [--config PATH] [--helper PATH] [--debug] COMMAND\n"
		"\n"
		"commands:\n"
		"  check [USER]         validate the configuration and the secret, fetch a token,\n"
		"                       and for USER look up identity, account and key\n"
		"  status               the host's figures, without asking ISC: request budget,\n"
		"                       429 answers, queue, last delivery, changes by outcome\n"
		"  status REQUEST_ID    ask ISC for the state of one password change\n"
		"  flush                deliver the offline queue now (for a timer: no prompts,\n"
		"                       outcome in syslog and the exit status)\n"
		"  queue                list the queued changes: user, age, uid, key id (no password)\n"
		"\n"
		"options:\n"
		"  --config PATH        configuration file (default %s)\n"
		"  --helper PATH        pam_isc_helper, which follows delivered changes\n"
		"                       (default %s)\n"
		"  --debug              more detail in the log\n"
		"\n"
		"exit status:\n"
		"  0  success (flush: nothing left in the queue)\n"
		"  1  a check failed, ISC refused, (flush) changes are still queued or\n"
		"     unreadable entries are in the queue, or (status) the state could not\n"
		"     be read\n"
		"  2  usage error\n"
		"  3  configuration or secret unusable\n"
		"  4  flush: another flush is running\n",
		CONFIG_DEFAULT_PATH, PAM_ISC_HELPER);
}

/* The tool speaks to a person: log lines go to stderr as well as syslog.
 * A log line is printable ASCII already (log.h escapes every other byte). */
static void ctl_sink(void *sink_ctx, int priority, const char *line)
{
	(void)sink_ctx;
	syslog(LOG_AUTHPRIV | priority, "%s", line);
	if (priority <= LOG_WARNING)
		fprintf(stderr, "pam_isc_ctl: %s\n", line);
}

/* Every string this tool prints that is not its own (what ISC answered,
 * what the queue and the key cache hold, library error texts) goes through
 * shown(): an escape sequence from the network must not reach root's
 * terminal (text.h). A text too long for the buffer is cut, marked "...". */
struct shown {
	char s[1024];
};

static const char *shown(struct shown *b, const char *text)
{
	/* Cut or not, b->s is a terminated, printable text. */
	(void)text_for_terminal(text, b->s, sizeof b->s);
	return b->s;
}

static void print_client_error(const char *step, const struct isc_client_error *e)
{
	struct shown b;

	printf("%-8s FAILED (%s", step, isc_client_err_kind_name(e->kind));
	if (e->http)
		printf(", http %ld", e->http);
	if (e->detail[0])
		printf(", %s", shown(&b, e->detail));
	if (e->tracking[0])
		printf(", trackingId %s", shown(&b, e->tracking));
	printf("): %s\n", shown(&b, e->text));
}

/* ignore_changes_by, as a change made now would see it: each name with the
 * uid the name service gives it, or unknown (a change would then ignore
 * that entry). Only a note: an unknown name is not a failed check, since
 * the name service may be down only for a while. */
static void print_ignore_changes_by(const struct config *cfg)
{
	const struct config_logins *logins = &cfg->ignore_changes_by;
	struct shown b;

	if (logins->n == 0)
		return;
	printf("ignore   changes from sessions of");
	for (size_t i = 0; i < logins->n; i++) {
		const struct config_login *l = &logins->items[i];
		struct passwd pw, *res = NULL;
		char buf[4096];

		printf("%s ", i ? "," : ":");
		if (!l->name) {
			printf("uid %lu", (unsigned long)l->uid);
		} else if (getpwnam_r(l->name, &pw, buf, sizeof buf, &res) == 0 && res) {
			printf("%s (uid %lu)", shown(&b, l->name), (unsigned long)pw.pw_uid);
		} else {
			printf("%s (unknown to the name service now: ignored)", shown(&b, l->name));
		}
	}
	printf("\n");
}

static int cmd_check(const struct config *cfg, const char *user, const struct log_ctx *lc)
{
	struct secret secret = { 0 };
	struct config_error conf_err;
	struct isc_client *client = NULL;
	struct isc_client_error e;
	struct isc_password_info info = { 0 };
	char name[512], account[512], text[512];
	struct shown b1, b2, b3;
	size_t idx;
	enum account_choice choice;
	int ret = CTL_FAILED;

	printf("config   ok\n");
	print_ignore_changes_by(cfg);
	if (config_client_secret(cfg, &secret, &conf_err) < 0) {
		config_error_format(&conf_err, text, sizeof text);
		printf("secret   FAILED: %s\n", shown(&b1, text));
		return CTL_CONFIG;
	}
	printf("secret   ok\n");
	if (isc_client_new(cfg, &secret, io_now_ms() + (long long)cfg->timeout * 1000, lc,
			   &client) < 0) {
		printf("token    FAILED: cannot create the HTTPS client\n");
		goto out;
	}
	if (isc_client_ensure_token(client, &e) < 0) {
		print_client_error("token", &e);
		goto out;
	}
	printf("token    ok\n");
	{
		/* What the offline queue would use if ISC were unreachable now. */
		char *key_id = NULL, *key = NULL, qerr[256];
		struct queue_list l;
		int k = queue_key_load(cfg, &key_id, &key, qerr, sizeof qerr);
		if (k == 0)
			printf("keycache ok: key %s cached in %s\n", shown(&b1, key_id),
			       shown(&b2, cfg->state_dir));
		else if (k == 1)
			printf("keycache none yet (the first successful lookup caches it)\n");
		else
			printf("keycache FAILED: %s\n", shown(&b1, qerr));
		free(key_id);
		free(key);
		if (queue_list(cfg, &l, NULL, NULL, qerr, sizeof qerr) == 0) {
			printf("queue    %zu queued, %zu unreadable\n", l.n, l.bad);
			queue_list_free(&l);
		} else {
			printf("queue    FAILED: %s\n", shown(&b1, qerr));
		}
	}
	if (!user) {
		ret = CTL_OK;
		goto out;
	}
	if (!proto_user_name_valid(user) ||
	    config_expand_format(cfg->user_name_format, user, name, sizeof name) < 0 ||
	    config_expand_format(cfg->account_name_format, user, account, sizeof account) < 0) {
		printf("lookup   FAILED: invalid user name\n");
		goto out;
	}
	if (isc_client_lookup(client, name, &info, &e) < 0) {
		print_client_error("lookup", &e);
		goto out;
	}
	printf("lookup   ok: identity %s, source %s, key %s\n", shown(&b1, info.identity_id),
	       shown(&b2, info.source_id), shown(&b3, info.public_key_id));
	choice = change_select_account(&info, account, &idx);
	if (choice != ACCOUNT_CHOSEN) {
		printf("account  FAILED: %s (%zu accounts on the source)\n",
		       choice == ACCOUNT_NONE
			       ? "no account"
			       : "several accounts, none named by account_name_format",
		       info.n_accounts);
		goto out;
	}
	printf("account  ok: %s (%s)\n", shown(&b1, info.accounts[idx].account_id),
	       info.accounts[idx].account_name ? shown(&b2, info.accounts[idx].account_name) : "-");
	ret = CTL_OK;
out:
	isc_password_info_free(&info);
	isc_client_free(client);
	secret_clear(&secret);
	return ret;
}

static int cmd_status(const struct config *cfg, const char *request_id, const struct log_ctx *lc)
{
	struct secret secret = { 0 };
	struct config_error conf_err;
	struct isc_client *client = NULL;
	struct isc_client_error e;
	struct isc_status st = { 0 };
	struct shown b;
	char text[512];
	int ret = CTL_FAILED;

	if (!proto_request_id_valid(request_id)) {
		fprintf(stderr,
			"pam_isc_ctl: not a request id: use letters, digits, '-' and '_'\n");
		return CTL_USAGE;
	}
	if (config_client_secret(cfg, &secret, &conf_err) < 0) {
		config_error_format(&conf_err, text, sizeof text);
		fprintf(stderr, "pam_isc_ctl: %s\n", shown(&b, text));
		return CTL_CONFIG;
	}
	if (isc_client_new(cfg, &secret, io_now_ms() + (long long)cfg->timeout * 1000, lc,
			   &client) < 0)
		goto out;
	if (isc_client_status(client, request_id, &st, &e) < 0) {
		print_client_error("status", &e);
		goto out;
	}
	/* request_id passed proto_request_id_valid; the state is ours. */
	printf("request %s state %s\n", request_id, isc_state_name(st.state));
	for (size_t i = 0; i < st.n_errors; i++)
		printf("error   %s\n", shown(&b, st.errors[i]));
	ret = CTL_OK;
out:
	isc_status_free(&st);
	isc_client_free(client);
	secret_clear(&secret);
	return ret;
}

/* An epoch time as pam_isc_ctl prints it: UTC, ISO 8601. */
static const char *utc_time(long long t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "@%lld", t);
	return out;
}

/* A duration for a person: 45s, 12m, 3h05m, 2d04h. */
static const char *duration(long long s, char *out, size_t size)
{
	if (s < 60)
		snprintf(out, size, "%llds", s < 0 ? 0 : s);
	else if (s < 3600)
		snprintf(out, size, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	return out;
}

/* status without a request id: what this host knows, from runtime_dir and
 * state_dir only (no request to ISC, nothing taken from the budget). */
static int cmd_host_status(const struct config *cfg)
{
	struct host_stats_view v;
	const struct rate_budget_view *rb = &v.budget;
	char err[PATH_MAX + 256], t[40], d[40];
	struct shown b;

	if (host_stats_view(cfg, &v, err, sizeof err) < 0) {
		fprintf(stderr, "pam_isc_ctl: cannot read the host's state: %s\n", shown(&b, err));
		return CTL_FAILED;
	}
	if (rb->limit)
		printf("rate_limit: %u/%us (used %u in the current window)\n", rb->limit,
		       rb->window_s, rb->used);
	else
		printf("rate_limit: none\n");
	if (rb->not_before_s)
		printf("rate_hold: until %s (a 429's Retry-After)\n",
		       utc_time(rb->not_before_s, t, sizeof t));
	else
		printf("rate_hold: none\n");
	printf("api_requests: %llu\n", rb->requests);
	if (rb->last_429_s)
		printf("answers_429: %llu (last %s)\n", rb->answers_429,
		       utc_time(rb->last_429_s, t, sizeof t));
	else
		printf("answers_429: %llu\n", rb->answers_429);
	if (v.queue_depth == 0)
		printf("queue: empty\n");
	else if (v.oldest_age >= 0)
		printf("queue: %zu %s, oldest %s ago\n", v.queue_depth,
		       v.queue_depth == 1 ? "entry" : "entries",
		       duration(v.oldest_age, d, sizeof d));
	else
		printf("queue: %zu %s\n", v.queue_depth, v.queue_depth == 1 ? "entry" : "entries");
	if (v.last_delivery > 0)
		printf("last_delivery: %s\n", utc_time(v.last_delivery, t, sizeof t));
	else
		printf("last_delivery: never\n");
	printf("changes: accepted %llu, failed %llu, queued %llu, dropped %llu\n",
	       v.counts[HOST_STAT_ACCEPTED], v.counts[HOST_STAT_FAILED], v.counts[HOST_STAT_QUEUED],
	       v.counts[HOST_STAT_DROPPED]);
	return CTL_OK;
}

struct follow_ctx {
	const struct config *cfg;
	const char *helper;
	const char *config_path;
	bool debug;
	const struct log_ctx *lc;
};

/* A delivered change is followed like one made through passwd. */
static void follow_delivered(void *vctx, const char *request_id, const char *user)
{
	struct follow_ctx *f = vctx;
	char err[256];

	if (follower_enqueue(f->cfg, request_id, user, time(NULL), err, sizeof err) < 0 ||
	    follower_ensure_running(f->cfg, f->helper, f->config_path, f->debug, err, sizeof err) <
		    0)
		log_event(f->lc, LOG_ERR, "error", "user", user, "request", request_id, "step",
			  "follow", "text", err, NULL);
}

static int cmd_flush(const struct config *cfg, struct follow_ctx *f, const struct log_ctx *lc)
{
	struct change_flush_result r;
	char counts[4][16];
	char err[256];
	int rc = change_flush(cfg, lc, follow_delivered, f, &r);

	/* The queue warnings and metrics_file follow what the flush left
	 * (also when it delivered nothing: an entry may have grown old). */
	host_stats_refresh(cfg, lc);

	/* Changes accepted through a one-shot helper of an ordinary user's
	 * passwd wait here for a follower started from the host's context:
	 * this timer's. */
	if (follower_has_work(cfg) &&
	    follower_ensure_running(cfg, f->helper, f->config_path, f->debug, err, sizeof err) < 0)
		log_event(lc, LOG_ERR, "error", "step", "follow", "text", err, NULL);
	if (r.busy) {
		fprintf(stderr, "pam_isc_ctl: another flush is running\n");
		return CTL_BUSY;
	}
	snprintf(counts[0], sizeof counts[0], "%u", r.delivered);
	snprintf(counts[1], sizeof counts[1], "%u", r.dropped);
	snprintf(counts[2], sizeof counts[2], "%u", r.remaining);
	snprintf(counts[3], sizeof counts[3], "%u", r.bad);
	log_event(lc, (r.remaining || r.bad || rc < 0) ? LOG_WARNING : LOG_INFO, "flush",
		  "delivered", counts[0], "dropped", counts[1], "remaining", counts[2], "bad",
		  counts[3], NULL);
	printf("delivered %u, dropped %u, still queued %u, unreadable %u\n", r.delivered, r.dropped,
	       r.remaining, r.bad);
	return (rc < 0 || r.remaining || r.bad) ? CTL_FAILED : CTL_OK;
}

static void print_bad(void *ctx, const char *file, const char *why)
{
	struct shown b1, b2;

	(void)ctx;
	printf("unreadable %s: %s\n", shown(&b1, file), shown(&b2, why));
}

static int cmd_queue(const struct config *cfg)
{
	struct queue_list l;
	char err[256];
	long long now = (long long)time(NULL);
	struct shown b1, b2;
	int rc;

	if (queue_list(cfg, &l, print_bad, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "pam_isc_ctl: %s\n", shown(&b1, err));
		return CTL_FAILED;
	}
	printf("%-24s %10s  %-20s %-10s %s\n", "USER", "AGE(s)", "QUEUED(UTC)", "UID", "KEY ID");
	for (size_t i = 0; i < l.n; i++) {
		char when[32] = "-", uid[24] = "-";
		time_t t = (time_t)l.items[i].time;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (l.items[i].uid >= 0)
			snprintf(uid, sizeof uid, "%lld", l.items[i].uid);
		printf("%-24s %10lld  %-20s %-10s %s\n", shown(&b1, l.items[i].user),
		       now - l.items[i].time, when, uid, shown(&b2, l.items[i].key_id));
	}
	printf("%zu queued", l.n);
	if (l.inflight)
		printf(", %zu interrupted deliveries (dropped by the next flush)", l.inflight);
	if (l.bad)
		printf(", %zu unreadable", l.bad);
	printf("\n");
	rc = l.bad ? CTL_FAILED : CTL_OK;
	queue_list_free(&l);
	return rc;
}

int main(int argc, char **argv)
{
	struct log_ctx lc = { .sink = ctl_sink, .sink_ctx = NULL, .debug = false };
	const char *config_path = CONFIG_DEFAULT_PATH;
	const char *helper = PAM_ISC_HELPER;
	struct config cfg = { 0 };
	struct config_error conf_err;
	char text[512];
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--helper") == 0 && i + 1 < argc) {
			helper = argv[++i];
		} else if (strcmp(argv[i], "--debug") == 0) {
			lc.debug = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return CTL_OK;
		} else {
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	openlog("pam_isc_ctl", LOG_PID, LOG_AUTHPRIV);
	if (config_load(config_path, &cfg, &conf_err) < 0) {
		struct shown b;

		config_error_format(&conf_err, text, sizeof text);
		fprintf(stderr, "pam_isc_ctl: %s\n", shown(&b, text));
		return CTL_CONFIG;
	}
	if (isc_client_global_init() < 0) {
		config_free(&cfg);
		return CTL_FAILED;
	}
	if (strcmp(argv[i], "check") == 0 && argc - i <= 2)
		rc = cmd_check(&cfg, i + 1 < argc ? argv[i + 1] : NULL, &lc);
	else if (strcmp(argv[i], "status") == 0 && argc - i == 1)
		rc = cmd_host_status(&cfg);
	else if (strcmp(argv[i], "status") == 0 && argc - i == 2)
		rc = cmd_status(&cfg, argv[i + 1], &lc);
	else if (strcmp(argv[i], "flush") == 0 && argc - i == 1) {
		struct follow_ctx f = { .cfg = &cfg,
					.helper = helper,
					.config_path = config_path,
					.debug = lc.debug,
					.lc = &lc };
		rc = cmd_flush(&cfg, &f, &lc);
	} else if (strcmp(argv[i], "queue") == 0 && argc - i == 1)
		rc = cmd_queue(&cfg);
	else {
		usage(stderr);
		rc = CTL_USAGE;
	}
	isc_client_global_cleanup();
	config_free(&cfg);
	closelog();
	return rc;
}
