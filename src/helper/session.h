/* SPDX-License-Identifier: MIT */
/* session: one change's conversation with the module over one socket. The
 * module sends a preliminary request (prelim_check = yes) and then the
 * update request, or only the update request; each gets one verdict line.
 * Between the two the session keeps the configuration and the lookup (one
 * change, one lookup, one TLS connection).
 *
 * The one-shot helper runs one session on its stdin/stdout; the per-host
 * service runs many, interleaved, each on an accepted connection. */
#ifndef PAM_ISC_SESSION_H
#define PAM_ISC_SESSION_H

#include <stdbool.h>
#include <sys/types.h>

#include "change.h"
#include "config.h"
#include "log.h"
#include "proto.h"

enum session_state {
	SESSION_WAIT_REQUEST, /* nothing received yet */
	SESSION_WAIT_UPDATE,  /* the preliminary phase answered: lookup kept */
	SESSION_DONE,         /* verdict of the update phase sent, or given up */
};

struct session {
	int fd;                /* requests in, verdicts out */
	int out_fd;            /* where verdicts go (fd, or stdout for a one-shot helper) */
	struct isc_pool *pool; /* TLS connections (the service's), or NULL */
	enum session_state state;
	long long wait_until; /* io_now_ms: when waiting for the next request ends */
	/* kept from the preliminary phase */
	struct proto_request first; /* without a password */
	struct proto_verdict prelim;
	struct config cfg;
	bool have_cfg;
	struct change_ctx ctx;
	/* what the update phase left to follow (request_id empty: nothing) */
	char follow_id[PROTO_REQUEST_ID_MAX + 1];
	char follow_user[PROTO_USER_MAX + 1];
	char follow_config[PROTO_PATH_MAX];
	bool follow_debug;
	/* the update phase queued the change: the follower delivers the queue */
	bool follow_queue;
};

void session_init(struct session *s, int fd, int out_fd, struct isc_pool *pool);

/* Read the next request from s->fd (waiting at most idle_ms for it) and
 * serve it: its verdict goes to s->out_fd. busy (may be NULL): when it
 * returns true for the caller of a preliminary request, that request is
 * answered "busy" without any work (the service's throttle).
 * Returns the state after it; SESSION_DONE also when the module went away
 * or sent nonsense (logged). */
enum session_state session_serve(struct session *s, struct log_ctx *lc, int idle_ms,
				 bool (*busy)(void *ctx, uid_t caller), void *busy_ctx);

/* The caller uid of the session's preliminary request (valid in
 * SESSION_WAIT_UPDATE). */
uid_t session_caller(const struct session *s);

/* Free what the session holds (the lookup, the configuration) and close
 * its fd. */
void session_end(struct session *s);

#endif
