/* SPDX-License-Identifier: MIT */
/* change: see change.h. */
#include "change.h"
#include "host_stats.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "isc_client.h"
#include "queue.h"
#include "secret.h"

enum account_choice change_select_account(const struct isc_password_info *info,
					  const char *wanted_name, size_t *index)
{
	size_t matches = 0;

	if (info->n_accounts == 0)
		return ACCOUNT_NONE;
	if (info->n_accounts == 1) {
		*index = 0;
		return ACCOUNT_CHOSEN;
	}
	for (size_t i = 0; i < info->n_accounts; i++) {
		const char *name = info->accounts[i].account_name;
		if (name && strcmp(name, wanted_name) == 0) {
			*index = i;
			matches++;
		}
	}
	return matches == 1 ? ACCOUNT_CHOSEN : ACCOUNT_AMBIGUOUS;
}

/* Which verdict reason an ISC client error stands for. */
static enum proto_reason reason_for(const struct isc_client_error *e)
{
	switch (e->kind) {
	case ISC_CLIENT_HTTP:
		if (e->http == 429)
			return PROTO_REASON_RATE_LIMITED;
		if (e->http >= 500)
			return PROTO_REASON_UNREACHABLE;
		return PROTO_REASON_REJECTED;
	case ISC_CLIENT_TRANSPORT:
	case ISC_CLIENT_TIMEOUT:
	case ISC_CLIENT_PROTOCOL:
		return PROTO_REASON_UNREACHABLE;
	case ISC_CLIENT_BUDGET:
		return PROTO_REASON_RATE_LIMITED;
	case ISC_CLIENT_OK:
	case ISC_CLIENT_INTERNAL:
		break;
	}
	return PROTO_REASON_INTERNAL;
}

/* A change that ISC did not take for want of it (not one it refused) may
 * be queued. */
static bool may_queue(enum proto_reason r)
{
	return r == PROTO_REASON_UNREACHABLE || r == PROTO_REASON_RATE_LIMITED;
}

static void log_client_error(const struct log_ctx *lc, const char *user, const char *step,
			     const struct isc_client_error *e)
{
	char http[16];

	snprintf(http, sizeof http, "%ld", e->http);
	log_event(lc, LOG_ERR, "error", "user", user, "step", step, "kind",
		  isc_client_err_kind_name(e->kind), "http", e->http ? http : NULL, "detail",
		  e->detail[0] ? e->detail : NULL, "tracking", e->tracking[0] ? e->tracking : NULL,
		  "slpt", e->slpt[0] ? e->slpt : NULL, "text", e->text, NULL);
}

static void fail(struct proto_verdict *v, enum proto_reason reason)
{
	v->accepted = false;
	v->reason = reason;
}

/* What a failed set-password means for the change it carried. */
enum set_failure {
	SET_NOT_TAKEN, /* certainly not taken, ISC may take it later: retry or queue */
	SET_REFUSED,   /* ISC answered no (4xx other than 429): final */
	SET_UNKNOWN,   /* it went out and no usable answer came: ISC may have it */
};

/* The one place that decides whether a set-password may be sent again
 * (or queued): only when it certainly did not reach ISC (no connection,
 * TLS failed, nothing sent) or ISC said it did not act (429, 503). */
static enum set_failure set_failure_of(const struct isc_client_error *e)
{
	if (e->kind == ISC_CLIENT_HTTP) {
		if (e->http == 429 || e->http == 503)
			return SET_NOT_TAKEN;
		return e->http >= 500 ? SET_UNKNOWN : SET_REFUSED;
	}
	return e->sent ? SET_UNKNOWN : SET_NOT_TAKEN;
}

/* Did the host's request budget or ISC's rate limit stop this call (as
 * opposed to an unreachable ISC)? */
static bool stopped_by_rate(const struct isc_client_error *e)
{
	return e->kind == ISC_CLIENT_BUDGET || (e->kind == ISC_CLIENT_HTTP && e->http == 429);
}

/* When to try again after a call stopped by the rate (io_now_ms clock). */
static long long rate_retry_at(const struct isc_client_error *e)
{
	long long now = io_now_ms();

	if (e->kind == ISC_CLIENT_BUDGET && e->budget_at_ms > now)
		return e->budget_at_ms;
	return now + (e->retry_after > 0 ? e->retry_after * 1000LL : 1000);
}

static void fail_unknown_outcome(const struct log_ctx *lc, const char *user)
{
	log_event(lc, LOG_ERR, "unknown_outcome", "user", user, "step", "set", "text",
		  "set-password was sent but no answer came: ISC may or may not have taken "
		  "the change; it is neither repeated nor queued (a repeat could put an older "
		  "password back)",
		  NULL);
}

int change_begin(struct change_ctx *ctx, const struct config *cfg, const char *user,
		 const struct log_ctx *lc, struct isc_pool *pool, long long deadline_ms,
		 struct proto_verdict *verdict)
{
	struct config_error conf_err;

	memset(ctx, 0, sizeof *ctx);
	memset(verdict, 0, sizeof *verdict);
	fail(verdict, PROTO_REASON_INTERNAL);
	ctx->cfg = cfg;
	ctx->user = user;
	ctx->lc = lc;
	if (config_expand_format(cfg->user_name_format, user, ctx->user_name,
				 sizeof ctx->user_name) < 0 ||
	    config_expand_format(cfg->account_name_format, user, ctx->account_name,
				 sizeof ctx->account_name) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "config", "text",
			  "user name too long for user_name_format/account_name_format", NULL);
		fail(verdict, PROTO_REASON_CONFIG);
		return -1;
	}
	if (config_client_secret(cfg, &ctx->client_secret, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "error", "user", user, "step", "config", "text", text, NULL);
		fail(verdict, PROTO_REASON_CONFIG);
		return -1;
	}
	if (isc_client_new(cfg, &ctx->client_secret, deadline_ms, lc, &ctx->client) < 0 ||
	    isc_client_use_pool(ctx->client, pool) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "token", "text",
			  "cannot create the HTTPS client", NULL);
		return -1;
	}
	return 0;
}

void change_end(struct change_ctx *ctx)
{
	isc_password_info_free(&ctx->info);
	isc_client_free(ctx->client);
	secret_clear(&ctx->client_secret);
	memset(ctx, 0, sizeof *ctx);
}

/* Of a change's timeout, what the lookup leaves to the set-password after
 * it, at most (ms). In one exchange one deadline covers both; after a
 * preliminary phase the update phase has a timeout of its own, but the
 * person waits for both in one pam_chauthtok. What can take a lookup long
 * is a wait for the host's budget or a 429's hold, and these stop here. */
#define SET_RESERVE_MAX_MS 1000

static long long lookup_deadline(const struct config *cfg, long long deadline_ms)
{
	long long reserve = (long long)cfg->timeout * 1000 / 10;

	if (reserve > SET_RESERVE_MAX_MS)
		reserve = SET_RESERVE_MAX_MS;
	return deadline_ms - reserve;
}

int change_lookup(struct change_ctx *ctx, long long deadline_ms, struct proto_verdict *verdict)
{
	const struct config *cfg = ctx->cfg;
	const struct log_ctx *lc = ctx->lc;
	const char *user = ctx->user;
	struct isc_client_error e;
	enum account_choice choice;
	char qerr[256];

	memset(verdict, 0, sizeof *verdict);
	fail(verdict, PROTO_REASON_INTERNAL);
	isc_password_info_free(&ctx->info);
	ctx->looked_up = false;
	isc_client_set_deadline(ctx->client, lookup_deadline(cfg, deadline_ms));
	/* A change is two API calls (lookup, set-password). When the host's
	 * budget cannot serve both before the deadline, none is spent: the
	 * change is treated as if ISC were unreachable (queued, with
	 * on_error = queue) and the person is not kept waiting. */
	if (isc_client_budget_check(ctx->client, 2, &e) < 0) {
		ctx->rate_limited = true;
		log_event(lc, LOG_WARNING, "rate_limited", "user", user, "text",
			  "the host's request budget (rate_limit) cannot serve this change "
			  "within timeout; nothing was sent to ISC",
			  NULL);
		fail(verdict, PROTO_REASON_RATE_LIMITED);
		return -1;
	}
	/* Separately from the lookup, so that a credentials problem is logged
	 * as one (step=token) and not as a failed lookup. */
	if (isc_client_ensure_token(ctx->client, &e) < 0) {
		ctx->rate_limited = stopped_by_rate(&e);
		log_client_error(lc, user, "token", &e);
		fail(verdict, reason_for(&e));
		return -1;
	}
	if (isc_client_lookup(ctx->client, ctx->user_name, &ctx->info, &e) < 0) {
		ctx->rate_limited = stopped_by_rate(&e);
		log_client_error(lc, user, "lookup", &e);
		fail(verdict, reason_for(&e));
		return -1;
	}
	/* The key the offline queue will need when ISC is next unreachable. */
	if (queue_key_store(cfg, ctx->info.public_key_id, ctx->info.public_key, qerr, sizeof qerr) <
	    0)
		log_event(lc, LOG_WARNING, "key_cache", "user", user, "text", qerr, NULL);
	choice = change_select_account(&ctx->info, ctx->account_name, &ctx->idx);
	if (choice != ACCOUNT_CHOSEN) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "account", "source",
			  cfg->source_name, "identity", ctx->info.identity_id, "text",
			  choice == ACCOUNT_NONE
				  ? "the identity has no account on the source"
				  : "several accounts on the source and none named by "
				    "account_name_format",
			  "wanted", ctx->account_name, NULL);
		fail(verdict, PROTO_REASON_ACCOUNT);
		return -1;
	}
	log_event(lc, LOG_DEBUG, "lookup", "user", user, "identity", ctx->info.identity_id,
		  "account", ctx->info.accounts[ctx->idx].account_id, "key_id",
		  ctx->info.public_key_id, NULL);
	ctx->looked_up = true;
	memset(verdict, 0, sizeof *verdict);
	verdict->accepted = true;
	snprintf(verdict->state, sizeof verdict->state, "CHECKED");
	return 0;
}

/* Encrypt pw for key; fills *out (Base64) or the verdict. */
static int encrypt_for(const struct log_ctx *lc, const char *user, const char *key,
		       const unsigned char *pw, size_t pw_len, char **out,
		       struct proto_verdict *verdict)
{
	char cerr[256];
	size_t max_len = 0;
	int rc;

	*out = NULL;
	rc = crypto_max_password_len(key, &max_len, cerr, sizeof cerr);
	if (rc == CRYPTO_OK && pw_len > max_len) {
		char lens[48];
		snprintf(lens, sizeof lens, "%zu>%zu", pw_len, max_len);
		log_event(lc, LOG_ERR, "error", "user", user, "step", "encrypt", "text",
			  "password longer than ISC's key can carry", "bytes", lens, NULL);
		fail(verdict, PROTO_REASON_TOO_LONG);
		return -1;
	}
	if (rc == CRYPTO_OK)
		rc = crypto_encrypt_password(key, pw, pw_len, out, cerr, sizeof cerr);
	if (rc != CRYPTO_OK) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "encrypt", "text", cerr,
			  NULL);
		fail(verdict, rc == CRYPTO_TOO_LONG  ? PROTO_REASON_TOO_LONG
			      : rc == CRYPTO_BAD_KEY ? PROTO_REASON_REJECTED
						     : PROTO_REASON_INTERNAL);
		return -1;
	}
	return 0;
}

/* The update phase of a change begins (whatever comes of it): it
 * supersedes the user's queued entry and any older change still to be
 * queued, and waits for a flush delivering an older entry of the user. 0,
 * or -1 with the verdict filled when nothing may be sent: a flush still
 * delivers an older entry of the user at the deadline. A state_dir that
 * fails otherwise (a full disk, say) is logged and the change goes on:
 * the older entry was removed if it could be, and a flush could not work
 * there either. */
static int begin_attempt(struct change_ctx *ctx, long long deadline_ms,
			 struct proto_verdict *verdict)
{
	char qerr[256];
	int rc;

	if (ctx->seq > 0 || ctx->attempt_logged)
		return 0;
	if (ctx->attempt_failed) {
		fail(verdict, PROTO_REASON_UNREACHABLE);
		return -1;
	}
	rc = queue_attempt(ctx->cfg, ctx->user, deadline_ms, &ctx->seq, qerr, sizeof qerr);
	if (rc == QUEUE_LOCKED) {
		log_event(ctx->lc, LOG_ERR, "error", "user", ctx->user, "step", "queue", "reason",
			  "delivery_running", "text", qerr, NULL);
		fail(verdict, PROTO_REASON_UNREACHABLE);
		ctx->seq = 0;
		ctx->attempt_failed = true;
		return -1;
	}
	if (rc < 0) {
		log_event(ctx->lc, LOG_ERR, "error", "user", ctx->user, "step", "queue", "reason",
			  "state_dir", "text", qerr, NULL);
		ctx->seq = 0;
		ctx->attempt_logged = true;
		return 0;
	}
	if (rc == 0)
		log_event(ctx->lc, LOG_NOTICE, "queue_superseded", "user", ctx->user, "text",
			  "an older queued change was removed: a newer change is being made", NULL);
	return 0;
}

/* The local uid of user now, -1 when the name service does not say. */
static long long local_uid(const char *user)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res)
		return -1;
	return (long long)res->pw_uid;
}

int change_queue(struct change_ctx *ctx, const unsigned char *pw, size_t pw_len,
		 long long deadline_ms, struct proto_verdict *verdict)
{
	const struct log_ctx *lc = ctx->lc;
	struct queue_entry entry = { 0 };
	char *key_id = NULL, *key = NULL, qerr[256];
	const char *use_id, *use_key;
	struct proto_verdict ignored = { 0 };
	int rc;

	/* Queued without an attempt on record only when the user's lock was
	 * busy or state_dir failed: then queue_put takes a new seq itself,
	 * newer than anything on record. */
	begin_attempt(ctx, deadline_ms, &ignored);
	memset(verdict, 0, sizeof *verdict);
	fail(verdict, PROTO_REASON_UNREACHABLE);
	if (ctx->looked_up) {
		use_id = ctx->info.public_key_id;
		use_key = ctx->info.public_key;
	} else {
		rc = queue_key_load(ctx->cfg, &key_id, &key, qerr, sizeof qerr);
		if (rc != QUEUE_OK) {
			/* Nothing can be queued safely without ISC's key. */
			log_event(lc, LOG_ERR, "not_queued", "user", ctx->user, "reason",
				  rc == QUEUE_NOT_DONE ? "no_cached_key" : "key_cache", "text",
				  rc == QUEUE_NOT_DONE
					  ? "no public key of the source is cached yet (no "
					    "successful lookup so far); the change is not "
					    "queued and ISC will not get it"
					  : qerr,
				  NULL);
			return -1;
		}
		use_id = key_id;
		use_key = key;
	}
	if (encrypt_for(lc, ctx->user, use_key, pw, pw_len, &entry.ciphertext, verdict) < 0) {
		/* Too long or a bad key: ISC could not take it either. */
		goto out;
	}
	snprintf(entry.user, sizeof entry.user, "%s", ctx->user);
	snprintf(entry.login, sizeof entry.login, "%s", ctx->user_name);
	snprintf(entry.source, sizeof entry.source, "%s", ctx->cfg->source_name);
	snprintf(entry.key_id, sizeof entry.key_id, "%s", use_id);
	if (ctx->looked_up) {
		snprintf(entry.identity, sizeof entry.identity, "%s", ctx->info.identity_id);
		snprintf(entry.account, sizeof entry.account, "%s",
			 ctx->info.accounts[ctx->idx].account_id);
	}
	entry.uid = local_uid(ctx->user);
	entry.time = (long long)time(NULL);
	entry.seq = ctx->seq;
	rc = queue_put(ctx->cfg, &entry, deadline_ms, qerr, sizeof qerr);
	if (rc < 0) {
		log_event(lc, LOG_ERR, "not_queued", "user", ctx->user, "reason", "queue_write",
			  "text", qerr, NULL);
		fail(verdict, PROTO_REASON_UNREACHABLE);
		goto out;
	}
	memset(verdict, 0, sizeof *verdict);
	fail(verdict, ctx->rate_limited ? PROTO_REASON_RATE_LIMITED : PROTO_REASON_UNREACHABLE);
	verdict->queued = true;
	log_event(lc, LOG_WARNING, "queued", "user", ctx->user, "key_id", use_id, "source",
		  ctx->cfg->source_name, "text",
		  rc == QUEUE_NOT_DONE
			  ? "a newer change of this user came meanwhile; it wins and this one is "
			    "not kept"
		  : ctx->rate_limited
			  ? "the host's request budget is spent; the change is kept and delivered "
			    "as the budget allows"
			  : "ISC unreachable; the change is kept for pam_isc_ctl flush",
		  NULL);
out:
	secret_free_str(entry.ciphertext);
	entry.ciphertext = NULL;
	free(key_id);
	free(key);
	return verdict->queued ? 0 : -1;
}

int change_set(struct change_ctx *ctx, const unsigned char *pw, size_t pw_len,
	       long long deadline_ms, struct proto_verdict *verdict)
{
	const struct config *cfg = ctx->cfg;
	const struct log_ctx *lc = ctx->lc;
	const char *user = ctx->user;
	const struct isc_account *account = &ctx->info.accounts[ctx->idx];
	struct isc_client_error e;
	struct isc_set_result set = { 0 };
	char *encrypted = NULL;
	int ret = -1;

	memset(verdict, 0, sizeof *verdict);
	fail(verdict, PROTO_REASON_INTERNAL);
	if (!ctx->looked_up)
		return -1;
	if (begin_attempt(ctx, deadline_ms, verdict) < 0) {
		if (may_queue(verdict->reason) && cfg->on_error == CONFIG_ON_ERROR_QUEUE)
			change_queue(ctx, pw, pw_len, deadline_ms, verdict);
		goto out;
	}
	isc_client_set_deadline(ctx->client, deadline_ms);
	if (encrypt_for(lc, user, ctx->info.public_key, pw, pw_len, &encrypted, verdict) < 0)
		goto out;

	if (isc_client_set_password(ctx->client, &ctx->info, account, encrypted, &set, &e) < 0) {
		enum set_failure how = set_failure_of(&e);
		log_client_error(lc, user, "set", &e);
		fail(verdict, reason_for(&e));
		ctx->rate_limited = stopped_by_rate(&e);
		if (how == SET_UNKNOWN)
			fail_unknown_outcome(lc, user);
		else if (how == SET_NOT_TAKEN && cfg->on_error == CONFIG_ON_ERROR_QUEUE)
			change_queue(ctx, pw, pw_len, deadline_ms, verdict);
		goto out;
	}

	snprintf(verdict->state, sizeof verdict->state, "%s", isc_state_name(set.state));
	if (set.request_id && proto_request_id_valid(set.request_id))
		snprintf(verdict->request_id, sizeof verdict->request_id, "%s", set.request_id);
	else if (set.request_id)
		log_event(lc, LOG_WARNING, "bad_request_id", "user", user, "text",
			  "ISC sent a request id pam_isc cannot follow", NULL);

	if (set.state == ISC_STATE_FAILED) {
		log_event(lc, LOG_ERR, "final", "user", user, "request",
			  verdict->request_id[0] ? verdict->request_id : "-", "state", "FAILED",
			  "source", cfg->source_name, "account", account->account_id, NULL);
		fail(verdict, PROTO_REASON_FAILED);
		goto out;
	}
	verdict->accepted = true;
	verdict->reason = PROTO_REASON_NONE;
	log_event(lc, LOG_NOTICE, set.state == ISC_STATE_FINISHED ? "final" : "accepted", "user",
		  user, "request", verdict->request_id[0] ? verdict->request_id : "-", "state",
		  verdict->state, "source", cfg->source_name, "account", account->account_id, NULL);
	ret = 0;
out:
	secret_free_str(encrypted);
	isc_set_result_free(&set);
	return ret;
}

int change_run(const struct config *cfg, const char *user, const unsigned char *pw, size_t pw_len,
	       long long deadline_ms, const struct log_ctx *lc, struct isc_pool *pool,
	       struct proto_verdict *verdict)
{
	struct change_ctx ctx;

	/* Without a preliminary phase the whole run is the update phase: the
	 * attempt is on record before the lookup, whatever comes of it. */
	if (change_begin(&ctx, cfg, user, lc, pool, deadline_ms, verdict) == 0) {
		if (begin_attempt(&ctx, deadline_ms, verdict) == 0 &&
		    change_lookup(&ctx, deadline_ms, verdict) == 0)
			change_set(&ctx, pw, pw_len, deadline_ms, verdict);
		else if (may_queue(verdict->reason) && cfg->on_error == CONFIG_ON_ERROR_QUEUE)
			change_queue(&ctx, pw, pw_len, deadline_ms, verdict);
	}
	change_end(&ctx);
	return 0;
}

/* ---- delivering the offline queue ----------------------------------------- */

struct flush_state {
	const struct config *cfg;
	const struct log_ctx *lc;
	struct change_flush_result *res;
};

static void flush_on_bad(void *vctx, const char *file, const char *why)
{
	struct flush_state *st = vctx;

	log_event(st->lc, LOG_ERR, "queue_bad", "file", file, "text", why, NULL);
}

static void flush_on_inflight(void *vctx, const struct queue_entry *e, const char *file)
{
	struct flush_state *st = vctx;

	st->res->dropped++;
	host_stats_count(st->cfg, st->lc, HOST_STAT_DROPPED, 1);
	log_event(st->lc, LOG_ERR, "queue_dropped", "user", e->user[0] ? e->user : NULL, "reason",
		  "interrupted", "file", file, "text",
		  "an earlier delivery of this change was interrupted; ISC may already have it, "
		  "so it is not sent again: if the password did not arrive, the person must "
		  "change the password again",
		  NULL);
}

/* The budget or a 429 stopped a delivery: the entry and the rest stay
 * queued until the time the result names. */
static void flush_pause(const struct log_ctx *lc, const char *user,
			const struct isc_client_error *e, struct change_flush_result *res)
{
	char wait[24];

	res->remaining++;
	res->rate_limited = true;
	res->retry_at_ms = rate_retry_at(e);
	snprintf(wait, sizeof wait, "%lld", res->retry_at_ms - io_now_ms());
	log_event(lc, LOG_INFO, "flush_paused", "user", user, "reason",
		  e->kind == ISC_CLIENT_BUDGET ? "rate_limit" : "http_429", "wait_ms", wait,
		  "tracking", e->tracking[0] ? e->tracking : NULL, NULL);
}

static void flush_drop(const struct config *cfg, const struct log_ctx *lc,
		       const struct queue_entry *e, const char *reason, const char *text,
		       struct change_flush_result *res)
{
	char qerr[256];
	enum queue_result rc = queue_drop(cfg, e, qerr, sizeof qerr);

	if (rc == QUEUE_NOT_DONE) {
		res->remaining++; /* a newer change replaced it: that one is next */
		return;
	}
	if (rc < 0) {
		res->remaining++;
		log_event(lc, LOG_ERR, "error", "user", e->user, "step", "queue", "text", qerr,
			  NULL);
		return;
	}
	res->dropped++;
	host_stats_count(cfg, lc, HOST_STAT_DROPPED, 1);
	log_event(lc, LOG_ERR, "queue_dropped", "user", e->user, "reason", reason, "key_id",
		  e->key_id, "text", text, NULL);
}

/* Why a queued entry may not be sent after all, as ISC answers now. */
struct flush_drop_reason {
	const char *reason, *text;
};

/* The fresh lookup of a queued entry's user: NULL when the entry may be
 * sent (*idx: the account), else why it is dropped. Its ciphertext was
 * made for one identity, account and key: if ISC answers another one now,
 * the password would reach someone or something else, or not decrypt. */
static const struct flush_drop_reason *stale_after_lookup(const struct config *cfg,
							  const struct queue_entry *e,
							  const struct isc_password_info *info,
							  size_t *idx)
{
	static const struct flush_drop_reason no_account = {
		"account", "the identity has no single matching account on the source"
	};
	static const struct flush_drop_reason identity_changed = {
		"identity_changed", "ISC now answers another identity for this login than the one "
				    "the change was queued for; it is not sent"
	};
	static const struct flush_drop_reason account_changed = {
		"account_changed", "ISC now answers another account for this login than the one "
				   "the change was queued for; it is not sent"
	};
	/* The ciphertext is for a key ISC no longer has. */
	static const struct flush_drop_reason key_rotated = {
		"key_rotated", "ISC's public key changed since the change was queued, so the "
			       "queued password cannot be delivered: the person must change the "
			       "password again"
	};
	char account_name[512];

	if (config_expand_format(cfg->account_name_format, e->user, account_name,
				 sizeof account_name) < 0 ||
	    change_select_account(info, account_name, idx) != ACCOUNT_CHOSEN)
		return &no_account;
	if (e->identity[0] && strcmp(info->identity_id, e->identity) != 0)
		return &identity_changed;
	if (e->account[0] && strcmp(info->accounts[*idx].account_id, e->account) != 0)
		return &account_changed;
	if (strcmp(info->public_key_id, e->key_id) != 0)
		return &key_rotated;
	return NULL;
}

int change_flush(const struct config *cfg, const struct log_ctx *lc,
		 void (*followed)(void *ctx, const char *request_id, const char *user),
		 void *follow_ctx, struct change_flush_result *res)
{
	struct flush_state st = { .cfg = cfg, .lc = lc, .res = res };
	struct queue_list list = { 0 };
	struct config_error conf_err;
	struct secret secret = { 0 };
	struct isc_client *client = NULL;
	char qerr[256];
	bool stop = false;
	int lock, ret = -1;

	memset(res, 0, sizeof *res);
	lock = queue_flush_lock(cfg, qerr, sizeof qerr);
	if (lock == QUEUE_LOCKED) {
		res->busy = true;
		log_event(lc, LOG_NOTICE, "flush_busy", "text", "another flush is running", NULL);
		return -1;
	}
	if (lock < 0) {
		log_event(lc, LOG_ERR, "error", "step", "queue", "text", qerr, NULL);
		return -1;
	}
	if (queue_drop_inflight(cfg, flush_on_inflight, &st, qerr, sizeof qerr) < 0)
		log_event(lc, LOG_ERR, "error", "step", "queue", "text", qerr, NULL);
	if (queue_gc_seq(cfg, qerr, sizeof qerr) < 0)
		log_event(lc, LOG_ERR, "error", "step", "queue", "text", qerr, NULL);
	if (queue_list(cfg, &list, flush_on_bad, &st, qerr, sizeof qerr) < 0) {
		log_event(lc, LOG_ERR, "error", "step", "queue", "text", qerr, NULL);
		goto out;
	}
	res->bad = (unsigned)list.bad;
	if (list.n == 0) {
		ret = 0;
		goto out;
	}
	if (config_client_secret(cfg, &secret, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "error", "step", "config", "text", text, NULL);
		res->remaining = (unsigned)list.n;
		goto out;
	}
	if (isc_client_new(cfg, &secret, io_now_ms() + (long long)cfg->timeout * 1000, lc,
			   &client) < 0) {
		res->remaining = (unsigned)list.n;
		goto out;
	}
	/* A delivery never stands in front of a live change (rate_budget.h). */
	isc_client_set_rate_class(client, RATE_DELIVERY);

	for (size_t i = 0; i < list.n; i++) {
		const struct queue_entry *e = &list.items[i];
		struct isc_password_info info = { 0 };
		struct isc_set_result set = { 0 };
		struct isc_client_error err;
		const struct flush_drop_reason *drop;
		char age[24];
		const char *why = NULL;
		size_t idx = 0;
		long long now = (long long)time(NULL), uid_now;
		int ulock;

		if (stop) {
			res->remaining++;
			continue;
		}
		snprintf(age, sizeof age, "%lld", now - e->time);
		if (now - e->time > (long long)cfg->queue_max_age) {
			flush_drop(cfg, lc, e, "expired",
				   "queued longer than queue_max_age; the person must change the "
				   "password again",
				   res);
			continue;
		}
		if (!config_user_in_scope(cfg, e->user, &why) && strcmp(why, "unknown_user") == 0) {
			/* The name service may be down (LDAP, sssd) as well as the
			 * user gone: never drop a password for that, keep it. */
			log_event(lc, LOG_WARNING, "queue_kept", "user", e->user, "reason", why,
				  "text",
				  "the name service does not know the user now; kept for "
				  "a later flush",
				  NULL);
			res->remaining++;
			continue;
		}
		if (why) {
			flush_drop(cfg, lc, e, why,
				   "the user is now out of scope (below min_uid or in "
				   "skip_users); the queued change is not sent",
				   res);
			continue;
		}
		uid_now = local_uid(e->user);
		if (e->uid >= 0 && uid_now >= 0 && uid_now != e->uid) {
			flush_drop(cfg, lc, e, "uid_changed",
				   "the login now belongs to another local uid than the one the "
				   "change was queued for; it is not sent",
				   res);
			continue;
		}
		if (strcmp(e->source, cfg->source_name) != 0) {
			flush_drop(cfg, lc, e, "source_changed",
				   "queued for another source_name; the person must change the "
				   "password again",
				   res);
			continue;
		}
		isc_client_set_deadline(client, io_now_ms() + (long long)cfg->timeout * 1000);
		if (isc_client_lookup(client, e->login, &info, &err) < 0) {
			if (stopped_by_rate(&err)) {
				/* The budget or ISC says wait: the rest waits too. */
				flush_pause(lc, e->user, &err, res);
				stop = true;
			} else if (reason_for(&err) == PROTO_REASON_UNREACHABLE ||
				   reason_for(&err) == PROTO_REASON_INTERNAL) {
				log_client_error(lc, e->user, "lookup", &err);
				res->remaining++;
				res->unreachable = true;
				stop = true; /* ISC is unreachable: the rest waits too */
			} else {
				log_client_error(lc, e->user, "lookup", &err);
				flush_drop(cfg, lc, e, "refused",
					   "ISC refused the lookup; the person must change the "
					   "password again",
					   res);
			}
			continue;
		}
		if (queue_key_store(cfg, info.public_key_id, info.public_key, qerr, sizeof qerr) <
		    0)
			log_event(lc, LOG_WARNING, "key_cache", "user", e->user, "text", qerr,
				  NULL);
		drop = stale_after_lookup(cfg, e, &info, &idx);
		if (drop) {
			flush_drop(cfg, lc, e, drop->reason, drop->text, res);
			isc_password_info_free(&info);
			continue;
		}
		/* The user's lock, held until done or release, covers every
		 * resend isc_client makes of this set-password (after a 429):
		 * a newer change of the user waits for it in queue_attempt, so
		 * no resend of this older entry can follow that change. */
		ulock = queue_user_lock(cfg, e->user, io_now_ms() + 5000, qerr, sizeof qerr);
		if (ulock < 0 || queue_claim(cfg, e, qerr, sizeof qerr) != 0) {
			queue_user_unlock(ulock);
			res->remaining++; /* replaced meanwhile (or unreadable): next flush */
			isc_password_info_free(&info);
			continue;
		}
		if (isc_client_set_password(client, &info, &info.accounts[idx], e->ciphertext, &set,
					    &err) < 0) {
			enum set_failure how = set_failure_of(&err);
			if (how == SET_NOT_TAKEN) {
				if (queue_release(cfg, e->user, qerr, sizeof qerr) < 0)
					log_event(lc, LOG_ERR, "error", "user", e->user, "step",
						  "queue", "text", qerr, NULL);
				if (stopped_by_rate(&err)) {
					flush_pause(lc, e->user, &err, res);
				} else {
					log_client_error(lc, e->user, "set", &err);
					res->remaining++;
					res->unreachable = true;
				}
				stop = true;
			} else {
				log_client_error(lc, e->user, "set", &err);
				queue_done(cfg, e->user, qerr, sizeof qerr);
				res->dropped++;
				host_stats_count(cfg, lc, HOST_STAT_DROPPED, 1);
				if (how == SET_UNKNOWN)
					fail_unknown_outcome(lc, e->user);
				log_event(
					lc, LOG_ERR, "queue_dropped", "user", e->user, "reason",
					how == SET_REFUSED ? "refused" : "outcome_unknown",
					"key_id", e->key_id, "text",
					how == SET_REFUSED
						? "ISC refused the queued change; the person must "
						  "change the password again"
						: "no answer to set-password; not sent again",
					NULL);
			}
			queue_user_unlock(ulock);
			isc_password_info_free(&info);
			continue;
		}
		/* Accepted: the entry goes before anything else can fail. */
		if (queue_done(cfg, e->user, qerr, sizeof qerr) < 0)
			log_event(lc, LOG_ERR, "error", "user", e->user, "step", "queue", "text",
				  qerr, NULL);
		queue_user_unlock(ulock);
		res->delivered++;
		host_stats_count(cfg, lc, HOST_STAT_ACCEPTED, 1);
		{
			const char *rid = set.request_id && proto_request_id_valid(set.request_id)
						  ? set.request_id
						  : NULL;
			log_event(lc, set.state == ISC_STATE_FAILED ? LOG_ERR : LOG_NOTICE,
				  "queue_delivered", "user", e->user, "request", rid ? rid : "-",
				  "state", isc_state_name(set.state), "age", age, "source",
				  cfg->source_name, "account", info.accounts[idx].account_id, NULL);
			if (followed && rid && set.state == ISC_STATE_IN_PROGRESS)
				followed(follow_ctx, rid, e->user);
		}
		isc_set_result_free(&set);
		isc_password_info_free(&info);
	}
	ret = 0;
out:
	isc_client_free(client);
	secret_clear(&secret);
	queue_list_free(&list);
	close(lock);
	return ret;
}
