/* SPDX-License-Identifier: MIT */
/* change: one password change, start to verdict: secret, token, lookup,
 * account choice, encryption, set-password. What the helper runs for the
 * module, and what pam_isc_ctl builds on. */
#ifndef PAM_ISC_CHANGE_H
#define PAM_ISC_CHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "isc_client.h"
#include "isc_json.h"
#include "log.h"
#include "proto.h"
#include "secret.h"

/* Pick the account the password is for: the only one, else the one whose
 * accountName equals wanted_name (*index set with ACCOUNT_CHOSEN). */
enum account_choice {
	ACCOUNT_CHOSEN = 0,
	ACCOUNT_NONE,      /* the identity has no account on the source */
	ACCOUNT_AMBIGUOUS, /* several, and none (or more than one) is wanted_name */
};
enum account_choice change_select_account(const struct isc_password_info *info,
					  const char *wanted_name, size_t *index);

/* Run one change for Linux user `user` with password pw[0..pw_len), bounded
 * by deadline_ms (io_now_ms clock). Logs every event (accepted,
 * final when ISC answered a final state, every error) through lc and fills
 * the verdict for the module. Returns 0 when the verdict is filled (accepted
 * or not), -1 only if even that failed. */
int change_run(const struct config *cfg, const char *user, const unsigned char *pw, size_t pw_len,
	       long long deadline_ms, const struct log_ctx *lc, struct isc_pool *pool,
	       struct proto_verdict *verdict);

/* The same change in steps, so that the lookup of the preliminary phase
 * serves the update phase (one change, one lookup, one TLS connection):
 *   change_begin   formats, client secret, HTTPS client (no network)
 *   change_lookup  token, query-password-info, account choice; caches the
 *                  source's public key in state_dir
 *   change_set     encrypt, set-password (needs a lookup); an unreachable
 *                  ISC under on_error = queue queues the change
 *   change_queue   queue the change with the cached key (no network)
 * change_set, change_queue and change_run begin the update phase with
 * queue_attempt (queue.h): the change supersedes the user's queued entry
 * and every older change still to be queued, whatever its outcome, and
 * waits for a flush that is delivering an older entry of the user.
 * Each fills *verdict when it fails (and returns -1). */
struct change_ctx {
	const struct config *cfg;
	const char *user;
	const struct log_ctx *lc;
	char user_name[512], account_name[512];
	struct secret client_secret;
	struct isc_client *client;
	struct isc_password_info info;
	size_t idx;
	bool looked_up;
	/* The seq of this change's attempt (queue_attempt), taken when the
	 * update phase begins; 0 before. */
	long long seq;
	bool attempt_failed; /* a flush held the user's lock past the deadline */
	bool attempt_logged; /* state_dir failed; logged once, the change goes on */
	bool rate_limited;   /* the budget or a 429 stopped it (for the queued line) */
};
/* pool: where the HTTPS client takes its connection from and leaves it
 * (the per-host service's), or NULL. */
int change_begin(struct change_ctx *ctx, const struct config *cfg, const char *user,
		 const struct log_ctx *lc, struct isc_pool *pool, long long deadline_ms,
		 struct proto_verdict *verdict);
int change_lookup(struct change_ctx *ctx, long long deadline_ms, struct proto_verdict *verdict);
int change_set(struct change_ctx *ctx, const unsigned char *pw, size_t pw_len,
	       long long deadline_ms, struct proto_verdict *verdict);
int change_queue(struct change_ctx *ctx, const unsigned char *pw, size_t pw_len,
		 long long deadline_ms, struct proto_verdict *verdict);
void change_end(struct change_ctx *ctx);

/* Deliver the offline queue (pam_isc_ctl flush, the follower). Each entry
 * gets a fresh lookup (bounded by timeout), the key id must be the one the
 * entry was encrypted for, then its ciphertext is sent. Its requests take
 * only free slots of the host's budget (RATE_DELIVERY), waiting up to
 * timeout for one. Stops at the first sign that ISC is unreachable, or
 * that the budget or a 429 says wait (the rest stays queued; the result
 * says which, and until when). followed(): called for every
 * accepted change with a request id to follow (may be NULL). */
struct change_flush_result {
	unsigned delivered, remaining, dropped, bad;
	bool busy;             /* another flush runs */
	bool unreachable;      /* stopped: ISC did not answer */
	bool rate_limited;     /* stopped: the budget or a 429 said wait */
	long long retry_at_ms; /* rate_limited: when to go on (io_now_ms clock) */
};
int change_flush(const struct config *cfg, const struct log_ctx *lc,
		 void (*followed)(void *ctx, const char *request_id, const char *user),
		 void *follow_ctx, struct change_flush_result *res);

#endif
