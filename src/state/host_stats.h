/* SPDX-License-Identifier: MIT */
/* host_stats: what the administrator sees of the host's traffic to ISC.
 *
 * Counters of the host's changes (accepted by ISC, failed, queued, dropped
 * from the queue) and the time of the last delivery, kept in
 * runtime_dir/stats (0600, ours) and updated under flock by every process
 * that makes or delivers a change. Together with the queue (queue_summary)
 * and the request budget (rate_budget_view) they make the figures of
 * `pam_isc_ctl status`, of the metrics_file (node_exporter's textfile
 * format, written atomically) and of the queue warnings (event=queue_warn,
 * when the queue holds more than queue_warn entries or its oldest entry is
 * older than an hour; once per crossing). */
#ifndef PAM_ISC_HOST_STATS_H
#define PAM_ISC_HOST_STATS_H

#include "config.h"
#include "log.h"
#include "rate_budget.h"

enum host_stat {
	HOST_STAT_ACCEPTED, /* ISC accepted a change (live, or delivered from the queue) */
	HOST_STAT_FAILED,   /* a live change ISC refused or could not take, not queued */
	HOST_STAT_QUEUED,   /* a change was queued */
	HOST_STAT_DROPPED,  /* a queued change was dropped (expired, refused, superseded...) */
	HOST_STAT_N,
};

/* The oldest queue entry older than this is warned about. */
#define HOST_STATS_OLD_ENTRY_S 3600

/* Count n events of kind what (an accepted one also sets the time of the
 * last delivery); then check the queue warnings and rewrite metrics_file.
 * Failures are logged through lc, never returned: the change goes on
 * (event=stats_error when runtime_dir/stats cannot be used, then nothing
 * is counted; event=metrics_error, once per process, when metrics_file
 * cannot be written). Holds the stats file's lock for a few file
 * operations: call it after the verdict has gone out, not while a person
 * waits. */
void host_stats_count(const struct config *cfg, const struct log_ctx *lc, enum host_stat what,
		      unsigned n);

/* Check the queue warnings and rewrite metrics_file without counting
 * anything (after a flush). */
void host_stats_refresh(const struct config *cfg, const struct log_ctx *lc);

struct host_stats_view {
	unsigned long long counts[HOST_STAT_N];
	long long last_delivery; /* epoch seconds, 0: none */
	size_t queue_depth;      /* entries, those in delivery (.inflight) included */
	long long oldest_age;    /* seconds, -1: no entry (none, or only in delivery) */
	struct rate_budget_view budget;
};
/* Everything at once (for pam_isc_ctl status), reading only: a missing
 * stats file reads as zeros, one that is not ours (owner, mode, a
 * symbolic link) is an error. 0, or -1 with err. */
int host_stats_view(const struct config *cfg, struct host_stats_view *out, char *err,
		    size_t errsize);

/* The view in node_exporter's textfile format (Prometheus text format
 * 0.0.4; malloc'd, NUL-terminated; NULL when out of memory). */
char *host_stats_format_metrics(const struct host_stats_view *v);

#endif
