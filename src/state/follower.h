/* SPDX-License-Identifier: MIT */
/* follower: the one background process per host that follows accepted
 * changes until ISC reports them FINISHED or FAILED, and logs the outcome.
 *
 * Pending changes are files runtime_dir/pending/<requestId> ("user=...",
 * "since=<epoch>"). The follower holds an exclusive flock on
 * runtime_dir/follower.lock for as long as it runs. A helper that adds an
 * entry then tries that lock: if it gets it, no follower runs, so it starts
 * one; if not, the running follower will see the entry, because a follower
 * that finds nothing to do first releases the lock and then looks once more
 * before it exits (and takes the lock back if something arrived). */
#ifndef PAM_ISC_FOLLOWER_H
#define PAM_ISC_FOLLOWER_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* Longest wait between two polls of one change, seconds. */
#define FOLLOWER_MAX_INTERVAL 900
/* Most changes followed at once; more are refused (and logged). */
#define FOLLOWER_MAX_PENDING 10000

/* Record that request_id (of user) is to be followed. */
int follower_enqueue(const struct config *cfg, const char *request_id, const char *user, time_t now,
		     char *err, size_t errsize);

/* True when changes wait in runtime_dir/pending to be followed. */
bool follower_has_pending(const struct config *cfg);
/* ... or in the offline queue to be delivered (the follower does both). */
bool follower_has_work(const struct config *cfg);

/* Start a follower (detached: own session, stdio on /dev/null, clean
 * environment) unless one is running. self_exe is the helper binary
 * (re-executed as "pam_isc_helper follow --config PATH [--debug]"). */
int follower_ensure_running(const struct config *cfg, const char *self_exe, const char *config_path,
			    bool debug, char *err, size_t errsize);

/* The follower's loop; returns when nothing is pending (0) or on a fatal
 * error (-1, logged). Returns 0 at once when another follower runs.
 * Returns FOLLOWER_RELOAD when the file at config_path changed since cfg was
 * read from it (an administrator edited it): the caller reads it again and
 * runs the loop anew; the pending entries are files, nothing is lost. */
#define FOLLOWER_RELOAD 1
int follower_run(const struct config *cfg, const char *config_path, const struct log_ctx *lc);

/* Seconds between poll n and poll n+1 (n = 0: before the first poll). */
unsigned follower_poll_delay(const struct config *cfg, unsigned n);

#endif
