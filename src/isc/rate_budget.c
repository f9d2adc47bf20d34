/* SPDX-License-Identifier: MIT */
/* rate_budget: see rate_budget.h.
 *
 * The file is a fixed header and a ring of `limit` send times (io_now_ms
 * clock, 0: an unused slot), oldest first from `next`. Reservations are
 * handed out in time order, so the ring stays sorted and the slot a new
 * request may take is limited by the oldest time (plus the window) and by
 * the newest one (nobody overtakes a reservation). */
#include "rate_budget.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "io.h"

#define RATE_MAGIC "PAMISCR1"
/* How early a slot may be and still count as "free now". */
#define RATE_NOW_SLACK_MS 10
/* The least margin added to the window (see rate_budget_open). */
#define RATE_MARGIN_MIN_MS 100

struct rate_head {
	char magic[8];
	char boot[40]; /* /proc/sys/kernel/random/boot_id, NUL-padded */
	uint32_t limit, window_s;
	uint32_t next; /* ring index of the oldest slot: the next one taken */
	uint32_t pad;
	int64_t not_before;   /* io_now_ms: no request before (a 429's hold) */
	int64_t last_429;     /* epoch seconds, 0: none */
	uint64_t requests;    /* slots taken */
	uint64_t answers_429; /* 429s seen */
};

struct rate_budget {
	int fd;
	unsigned limit;
	long long window_ms;
	long long margin_ms;
	char boot[40];
	struct rate_head head;
	int64_t *ring; /* limit entries */
};

static void read_boot_id(char out[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	memset(out, 0, 40);
	if (!f)
		return;
	if (!fgets(out, 40, f))
		memset(out, 0, 40);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	memset(out + strlen(out), 0, 40 - strlen(out));
}

int rate_budget_open(const struct config *cfg, struct rate_budget **out, char *err, size_t errsize)
{
	struct rate_budget *rb;
	char path[PATH_MAX];
	struct stat st;

	*out = NULL;
	if (snprintf(path, sizeof path, "%s/" RATE_BUDGET_FILE, cfg->runtime_dir) >=
	    (int)sizeof path) {
		snprintf(err, errsize, "runtime_dir path too long");
		return -1;
	}
	if (fsutil_ensure_private_dir(cfg->runtime_dir, err, errsize) < 0)
		return -1;
	rb = calloc(1, sizeof *rb);
	if (!rb || (cfg->rate_limit.requests &&
		    !(rb->ring = calloc(cfg->rate_limit.requests, sizeof *rb->ring)))) {
		free(rb);
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	rb->limit = cfg->rate_limit.requests;
	rb->window_ms = (long long)cfg->rate_limit.seconds * 1000;
	/* ISC counts a request when it arrives, we when it may leave: the
	 * first of a window may take a TLS handshake longer to arrive than a
	 * later one on a kept connection. A margin keeps the two windows
	 * apart. */
	rb->margin_ms =
		rb->window_ms / 50 > RATE_MARGIN_MIN_MS ? rb->window_ms / 50 : RATE_MARGIN_MIN_MS;
	read_boot_id(rb->boot);
	rb->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (rb->fd < 0 || fstat(rb->fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		rate_budget_close(rb);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || fsutil_check_trust(&st, FSUTIL_PRIVATE, err, errsize) < 0) {
		if (!S_ISREG(st.st_mode))
			snprintf(err, errsize, "%s: not a regular file", path);
		rate_budget_close(rb);
		return -1;
	}
	*out = rb;
	return 0;
}

void rate_budget_close(struct rate_budget *rb)
{
	if (!rb)
		return;
	if (rb->fd >= 0)
		close(rb->fd);
	free(rb->ring);
	free(rb);
}

static size_t ring_bytes(unsigned limit)
{
	return (size_t)limit * sizeof(int64_t);
}

/* Read the file (the lock is held). A file of another boot, another
 * format or torn starts afresh; one of another limit keeps its counters
 * and its hold, and starts the window afresh. */
static void load(struct rate_budget *rb, long long now)
{
	struct rate_head h;
	ssize_t n = pread(rb->fd, &h, sizeof h, 0);
	bool same = n == (ssize_t)sizeof h && memcmp(h.magic, RATE_MAGIC, 8) == 0 &&
		    memcmp(h.boot, rb->boot, sizeof h.boot) == 0;
	long long hold_max = now + (long long)RATE_BUDGET_MAX_HOLD_S * 1000;

	if (rb->limit)
		memset(rb->ring, 0, ring_bytes(rb->limit));
	if (!same) {
		memset(&rb->head, 0, sizeof rb->head);
		memcpy(rb->head.magic, RATE_MAGIC, 8);
		memcpy(rb->head.boot, rb->boot, sizeof rb->head.boot);
	} else {
		rb->head = h;
		if (rb->head.not_before > hold_max)
			rb->head.not_before = hold_max;
	}
	if (same && h.limit == rb->limit && h.window_s == rb->window_ms / 1000 &&
	    h.next < (rb->limit ? rb->limit : 1) &&
	    (rb->limit == 0 || pread(rb->fd, rb->ring, ring_bytes(rb->limit), sizeof h) ==
				       (ssize_t)ring_bytes(rb->limit))) {
		/* Nothing reserved further ahead than a hold and a window. */
		for (unsigned i = 0; i < rb->limit; i++)
			if (rb->ring[i] > hold_max + rb->window_ms)
				rb->ring[i] = hold_max + rb->window_ms;
		return;
	}
	if (rb->limit)
		memset(rb->ring, 0, ring_bytes(rb->limit));
	rb->head.limit = rb->limit;
	rb->head.window_s = (uint32_t)(rb->window_ms / 1000);
	rb->head.next = 0;
}

static int store(struct rate_budget *rb, char *err, size_t errsize)
{
	size_t len = sizeof rb->head + ring_bytes(rb->limit);

	if (pwrite(rb->fd, &rb->head, sizeof rb->head, 0) != (ssize_t)sizeof rb->head ||
	    (rb->limit && pwrite(rb->fd, rb->ring, ring_bytes(rb->limit), sizeof rb->head) !=
				  (ssize_t)ring_bytes(rb->limit)) ||
	    ftruncate(rb->fd, (off_t)len) < 0) {
		snprintf(err, errsize, "writing the request budget: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int lock(struct rate_budget *rb, char *err, size_t errsize)
{
	while (flock(rb->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			snprintf(err, errsize, "locking the request budget: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void unlock(struct rate_budget *rb)
{
	flock(rb->fd, LOCK_UN);
}

static int64_t ring_at(const struct rate_budget *rb, unsigned k)
{
	return rb->ring[(rb->head.next + k) % rb->limit];
}

/* The time of the k-th next slot (k from 1 to limit). */
static long long slot_time(const struct rate_budget *rb, long long now, unsigned k)
{
	long long t = now > rb->head.not_before ? now : rb->head.not_before;

	if (rb->limit == 0)
		return t;
	if (k > rb->limit)
		k = rb->limit;
	/* Never before a slot already handed out (the newest one). */
	if (ring_at(rb, rb->limit - 1) > t)
		t = ring_at(rb, rb->limit - 1);
	for (unsigned i = 0; i < k; i++) {
		int64_t old = ring_at(rb, i);
		if (old && old + rb->window_ms + rb->margin_ms > t)
			t = old + rb->window_ms + rb->margin_ms;
	}
	return t;
}

/* Slots taken in the window that ends at now (reservations ahead included). */
static unsigned used_in_window(const struct rate_budget *rb, long long now)
{
	unsigned used = 0;

	for (unsigned i = 0; i < rb->limit; i++)
		if (rb->ring[i] && rb->ring[i] > now - rb->window_ms)
			used++;
	return used;
}

enum rate_result rate_budget_take(struct rate_budget *rb, enum rate_class cls, long long latest_ms,
				  long long *at_ms, char *err, size_t errsize)
{
	long long now = io_now_ms(), t;
	enum rate_result rc = RATE_GRANTED;

	if (lock(rb, err, errsize) < 0)
		return RATE_ERROR;
	load(rb, now);
	t = slot_time(rb, now, 1);
	switch (cls) {
	case RATE_CHANGE:
		if (t > latest_ms)
			rc = RATE_LATER;
		break;
	case RATE_DELIVERY:
		if (t > now + RATE_NOW_SLACK_MS)
			rc = RATE_LATER;
		break;
	case RATE_POLL: {
		unsigned half = rb->limit ? (rb->limit + 1) / 2 : 0;
		unsigned used = rb->limit ? used_in_window(rb, now) : 0;

		if (t > now + RATE_NOW_SLACK_MS) {
			rc = RATE_LATER;
		} else if (rb->limit && used >= half) {
			/* When enough of the window's slots have left it. */
			int64_t leaves =
				ring_at(rb, rb->limit - half) + rb->window_ms + rb->margin_ms;
			rc = RATE_LATER;
			if (leaves > t)
				t = leaves;
		}
		break;
	}
	}
	if (rc == RATE_GRANTED) {
		if (rb->limit) {
			rb->ring[rb->head.next] = t;
			rb->head.next = (rb->head.next + 1) % rb->limit;
		}
		rb->head.requests++;
		if (store(rb, err, errsize) < 0)
			rc = RATE_ERROR;
	}
	unlock(rb);
	*at_ms = t;
	return rc;
}

/* The budget as it stands now, read under the lock into rb: what a
 * question that spends nothing answers from. */
static int snapshot(struct rate_budget *rb, long long now, char *err, size_t errsize)
{
	if (lock(rb, err, errsize) < 0)
		return -1;
	load(rb, now);
	unlock(rb);
	return 0;
}

enum rate_result rate_budget_peek(struct rate_budget *rb, unsigned n, long long *at_ms, char *err,
				  size_t errsize)
{
	long long now = io_now_ms();

	if (snapshot(rb, now, err, errsize) < 0)
		return RATE_ERROR;
	*at_ms = slot_time(rb, now, n ? n : 1);
	return RATE_GRANTED;
}

int rate_budget_note_answer(struct rate_budget *rb, long http, long long hold_ms, char *err,
			    size_t errsize)
{
	long long now = io_now_ms(), hold;
	int rc;

	if (http != 429)
		return 0;
	if (hold_ms < 1000)
		hold_ms = 1000;
	if (hold_ms > (long long)RATE_BUDGET_MAX_HOLD_S * 1000)
		hold_ms = (long long)RATE_BUDGET_MAX_HOLD_S * 1000;
	hold = now + hold_ms;
	if (lock(rb, err, errsize) < 0)
		return -1;
	load(rb, now);
	rb->head.answers_429++;
	rb->head.last_429 = (int64_t)time(NULL);
	if (hold > rb->head.not_before)
		rb->head.not_before = hold;
	rc = store(rb, err, errsize);
	unlock(rb);
	return rc;
}

enum rate_result rate_budget_hold(struct rate_budget *rb, long long *until_ms, char *err,
				  size_t errsize)
{
	long long now = io_now_ms();

	if (snapshot(rb, now, err, errsize) < 0)
		return RATE_ERROR;
	*until_ms = rb->head.not_before > now ? rb->head.not_before : 0;
	return RATE_GRANTED;
}

int rate_budget_view(const struct config *cfg, struct rate_budget_view *out, char *err,
		     size_t errsize)
{
	struct rate_budget *rb;
	long long now = io_now_ms();

	memset(out, 0, sizeof *out);
	out->limit = cfg->rate_limit.requests;
	out->window_s = cfg->rate_limit.seconds;
	if (rate_budget_open(cfg, &rb, err, errsize) < 0)
		return -1;
	if (lock(rb, err, errsize) < 0) {
		rate_budget_close(rb);
		return -1;
	}
	load(rb, now);
	unlock(rb);
	out->used = rb->limit ? used_in_window(rb, now) : 0;
	if (rb->head.not_before > now)
		out->not_before_s =
			(long long)time(NULL) + (rb->head.not_before - now + 999) / 1000;
	out->requests = rb->head.requests;
	out->answers_429 = rb->head.answers_429;
	out->last_429_s = rb->head.last_429;
	rate_budget_close(rb);
	return 0;
}
