/* SPDX-License-Identifier: MIT */
/* rate_budget: the host's one budget of requests to ISC's API.
 *
 * ISC allows a number of requests per access token in any window of time
 * (100 in 10 s) and answers more with 429 and Retry-After. The host shares
 * one token, so every process that talks to ISC (the per-host service,
 * one-shot helpers, the follower, pam_isc_ctl) takes its requests from one
 * budget: the file runtime_dir/rate (0600, ours), read and written under
 * flock for each step.
 *
 * The budget is a sliding window, as ISC's is: the file keeps the send
 * times of the last `rate_limit.requests` requests, and a request may go
 * out at the earliest `rate_limit.seconds` after the oldest of them. (A
 * token bucket that starts full and refills at requests/seconds would let
 * twice the limit out in one window, which ISC answers with 429.) A slot is
 * reserved before the request goes out, possibly for a moment in the
 * future that the caller then waits for, so that processes asking at the
 * same time are served in turn, and none sends past the limit. A 429
 * pushes a host-wide "not before" time (from its Retry-After) that every
 * reservation honours.
 *
 * Who goes first: a live change (a person is waiting) reserves the next
 * slot, up to its deadline; the delivery of the queue takes a slot only
 * when it is free now, so it never stands in front of a live change; a
 * status poll only while at most half of the window is used, so it yields
 * to both under pressure and catches up later.
 *
 * Times are on io_now_ms()'s clock (CLOCK_MONOTONIC), the same in every
 * process of the host; the file records the boot it was written in and is
 * started afresh in another. */
#ifndef PAM_ISC_RATE_BUDGET_H
#define PAM_ISC_RATE_BUDGET_H

#include <stddef.h>

#include "config.h"

#define RATE_BUDGET_FILE "rate"
/* The longest Retry-After honoured, seconds (a longer one is cut to it). */
#define RATE_BUDGET_MAX_HOLD_S 3600

enum rate_class {
	RATE_CHANGE,   /* a live change: the next slot, waiting up to its deadline */
	RATE_DELIVERY, /* the queue's delivery: only a slot that is free now */
	RATE_POLL,     /* a status poll: only while at most half the window is used */
};

enum rate_result {
	RATE_GRANTED = 0, /* *at_ms: when the request may go out (now or later) */
	RATE_LATER = 1,   /* not for this class, or not by latest_ms; *at_ms: ask again then */
	RATE_ERROR = -1,  /* err says why */
};

struct rate_budget;

/* The host's budget for cfg (rate_limit 0: one that grants everything at
 * once and keeps no file). Creates runtime_dir and the file if missing. */
int rate_budget_open(const struct config *cfg, struct rate_budget **out, char *err, size_t errsize);
void rate_budget_close(struct rate_budget *rb);

/* Reserve the slot of one request of class cls, to go out no later than
 * latest_ms; see the header comment. */
enum rate_result rate_budget_take(struct rate_budget *rb, enum rate_class cls, long long latest_ms,
				  long long *at_ms, char *err, size_t errsize);

/* When n more requests could have gone out (the time of the n-th next
 * slot), reserving nothing. */
enum rate_result rate_budget_peek(struct rate_budget *rb, unsigned n, long long *at_ms, char *err,
				  size_t errsize);

/* ISC answered a request with http: a 429 is counted and holds every
 * process back for hold_ms from now (its Retry-After; below a second, or
 * none given: one second). */
int rate_budget_note_answer(struct rate_budget *rb, long http, long long hold_ms, char *err,
			    size_t errsize);

/* The end of a 429's hold (io_now_ms clock), 0 when none holds now. For
 * the token requests, which take no slot but wait out a hold all the
 * same. */
enum rate_result rate_budget_hold(struct rate_budget *rb, long long *until_ms, char *err,
				  size_t errsize);

/* The budget as pam_isc_ctl status shows it. */
struct rate_budget_view {
	unsigned limit, window_s;    /* rate_limit; limit 0: none */
	unsigned used;               /* slots taken in the window that ends now */
	long long not_before_s;      /* epoch seconds of the 429 hold, 0: none */
	unsigned long long requests; /* slots taken since the file was started */
	unsigned long long answers_429;
	long long last_429_s; /* epoch seconds, 0: none */
};
/* Read the budget without taking anything; a missing file reads as fresh. */
int rate_budget_view(const struct config *cfg, struct rate_budget_view *out, char *err,
		     size_t errsize);

#endif
