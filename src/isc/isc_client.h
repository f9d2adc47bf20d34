/* SPDX-License-Identifier: MIT */
/* isc_client: the HTTPS side of pam_isc, on libcurl (GnuTLS build).
 *
 * One client is one libcurl easy handle: every call made through it (token,
 * lookup, set-password, status) reuses one TLS connection. Every call is
 * bounded by the client's deadline (CLOCK_MONOTONIC): connect, TLS and
 * transfer together never outlast it. The token comes from the token cache
 * or a client_credentials grant; a 401 on an API call drops it, fetches a new
 * one and retries that call once.
 *
 * Trust and transport are fixed here and nowhere else: https only, no
 * redirects, peer and host verification on, TLS 1.2 or later, proxy only if configured (the
 * helper's environment is clean anyway), response bodies capped at 1 MiB. */
#ifndef PAM_ISC_ISC_CLIENT_H
#define PAM_ISC_ISC_CLIENT_H

#include <stddef.h>

#include "config.h"
#include "io.h"
#include "isc_json.h"
#include "log.h"
#include "rate_budget.h"
#include "secret.h"

enum isc_client_err_kind {
	ISC_CLIENT_OK = 0,
	ISC_CLIENT_TRANSPORT, /* connect, DNS, TLS, reset */
	ISC_CLIENT_TIMEOUT,   /* the deadline passed */
	ISC_CLIENT_HTTP,      /* an HTTP error status (see http) */
	ISC_CLIENT_PROTOCOL,  /* a 2xx answer we could not use */
	ISC_CLIENT_INTERNAL,  /* out of memory, library failure */
	ISC_CLIENT_BUDGET,    /* the host's request budget had no slot in time: not sent */
};

/* Everything worth logging about a failed call. */
struct isc_client_error {
	enum isc_client_err_kind kind;
	long http;              /* HTTP status, 0 if none */
	char detail[96];        /* ISC detailCode */
	char tracking[96];      /* ISC trackingId */
	char slpt[96];          /* SLPT-Request-ID response header */
	char text[256];         /* first message text, or our own reason */
	long retry_after;       /* seconds from Retry-After, -1 if none */
	int sent;               /* 1: the request left (ISC may have acted on it) */
	long long budget_at_ms; /* ISC_CLIENT_BUDGET: when to ask again (io_now_ms clock) */
};

/* Retries (isc_client.c, request loop): a 401 fetches a new token once; a
 * 429 waits Retry-After when that fits in the time left; 5xx and transport
 * errors are retried with jittered exponential backoff, at most
 * ISC_CLIENT_MAX_ATTEMPTS tries, while time is left; other 4xx never.
 * set-password is not idempotent: it is retried only when it certainly did
 * not reach ISC (no connection, TLS failed, 429, 503), and libcurl's own
 * resend of a request whose reused connection closed without an answer is
 * stopped before it leaves (err->sent, outcome unknown). */
#define ISC_CLIENT_MAX_ATTEMPTS 4
#define ISC_CLIENT_BACKOFF_MS 250

struct isc_client;

/* Once per process, before any thread: curl_global_init. */
int isc_client_global_init(void);
void isc_client_global_cleanup(void);

/* cfg and lc must outlive the client; client_secret is copied (and wiped on
 * free). deadline_ms is on io_now_ms()'s clock. */
int isc_client_new(const struct config *cfg, const struct secret *client_secret,
		   long long deadline_ms, const struct log_ctx *lc, struct isc_client **out);
void isc_client_free(struct isc_client *c);
/* A connection pool: clients attached to it leave their TLS connection
 * (and DNS answers, TLS session) there when freed, and the next client of
 * the same process takes it up again. libcurl reuses a pooled connection
 * only for the same host, port, proxy and TLS settings (CA file, pin,
 * verification), so a changed configuration opens a new one. One thread
 * only: the per-host service (service.c) awaits one ISC answer at a time. */
struct isc_pool;
int isc_pool_new(struct isc_pool **out);
void isc_pool_free(struct isc_pool *pool);
/* Attach c to pool (NULL: none) before its first call. */
int isc_client_use_pool(struct isc_client *c, struct isc_pool *pool);

/* Move the deadline (the follower reuses nothing, but tests and the tool may). */
void isc_client_set_deadline(struct isc_client *c, long long deadline_ms);

/* Every API call first takes a slot of the host's request budget
 * (rate_budget.h) for the client's class (default RATE_CHANGE: the next
 * slot, waited for up to the deadline); a call that gets none fails with
 * ISC_CLIENT_BUDGET before anything is sent. A 429 holds the whole host
 * back until its Retry-After. */
void isc_client_set_rate_class(struct isc_client *c, enum rate_class cls);
/* Can the budget serve n more API calls before the deadline? 0, or -1 with
 * err (ISC_CLIENT_BUDGET) without reserving or sending anything. */
int isc_client_budget_check(struct isc_client *c, unsigned n, struct isc_client_error *err);

/* Make sure a token is at hand (cache or fetch). */
int isc_client_ensure_token(struct isc_client *c, struct isc_client_error *err);

int isc_client_lookup(struct isc_client *c, const char *user_name, struct isc_password_info *out,
		      struct isc_client_error *err);

int isc_client_set_password(struct isc_client *c, const struct isc_password_info *info,
			    const struct isc_account *account, const char *encrypted_b64,
			    struct isc_set_result *out, struct isc_client_error *err);

int isc_client_status(struct isc_client *c, const char *request_id, struct isc_status *out,
		      struct isc_client_error *err);

/* Short name of an error kind for log lines ("transport", "timeout", ...). */
const char *isc_client_err_kind_name(enum isc_client_err_kind k);

#endif
