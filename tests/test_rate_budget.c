/* SPDX-License-Identifier: MIT */
/* Unit tests: rate_budget, the host's one sliding window of API requests:
 * no window ever holds more than the limit (one process, and several
 * processes at once), who may take a slot (live change, delivery, poll),
 * the 429 hold, a changed limit, and a file that is not ours or not whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "io.h"
#include "rate_budget.h"

static char dir[PATH_MAX];
static struct config cfg;

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof dir, "%s/pam_isc_rate.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	memset(&cfg, 0, sizeof cfg);
	cfg.runtime_dir = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct rate_budget *open_budget(unsigned requests, unsigned seconds)
{
	struct rate_budget *rb = NULL;
	char err[256];

	cfg.rate_limit.requests = requests;
	cfg.rate_limit.seconds = seconds;
	assert_int_equal(rate_budget_open(&cfg, &rb, err, sizeof err), 0);
	assert_non_null(rb);
	return rb;
}

static enum rate_result take(struct rate_budget *rb, enum rate_class cls, long long latest,
			     long long *at)
{
	char err[256];

	return rate_budget_take(rb, cls, latest, at, err, sizeof err);
}

/* The first `limit` slots are free now; the next one comes a window after
 * the first, and a live change may reserve it ahead. */
static void test_window(void **state)
{
	struct rate_budget *rb = open_budget(5, 2);
	long long now = io_now_ms(), at = 0, first = 0;
	char err[256];

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(take(rb, RATE_CHANGE, now + 100, &at), RATE_GRANTED);
		assert_true(at <= io_now_ms());
		if (i == 0)
			first = at;
	}
	/* The sixth: not before the first leaves the window. */
	assert_int_equal(take(rb, RATE_CHANGE, now + 100, &at), RATE_LATER);
	assert_true(at >= first + 2000);
	assert_int_equal(take(rb, RATE_DELIVERY, now + 5000, &at), RATE_LATER);
	assert_int_equal(take(rb, RATE_POLL, now + 5000, &at), RATE_LATER);
	/* Peeking reserves nothing. */
	assert_int_equal(rate_budget_peek(rb, 2, &at, err, sizeof err), RATE_GRANTED);
	assert_true(at >= first + 2000);
	/* A live change with time enough reserves the slot ahead ... */
	assert_int_equal(take(rb, RATE_CHANGE, now + 5000, &at), RATE_GRANTED);
	assert_true(at >= first + 2000 && at < first + 2000 + 1000);
	/* ... and a delivery does not overtake it. */
	assert_int_equal(take(rb, RATE_DELIVERY, now + 5000, &at), RATE_LATER);
	rate_budget_close(rb);
}

/* Polls take a slot only while at most half of the window is used. */
static void test_poll_yields(void **state)
{
	struct rate_budget *rb = open_budget(4, 60);
	long long now = io_now_ms(), at = 0;

	(void)state;
	assert_int_equal(take(rb, RATE_POLL, now, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_POLL, now, &at), RATE_GRANTED);
	/* Half used: polls wait, a delivery and a change still go. */
	assert_int_equal(take(rb, RATE_POLL, now, &at), RATE_LATER);
	assert_true(at >= now + 59000);
	assert_int_equal(take(rb, RATE_DELIVERY, now, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_CHANGE, now + 100, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_CHANGE, now + 100, &at), RATE_LATER);
	rate_budget_close(rb);
}

/* A 429 holds every process of the host until its Retry-After, and is
 * counted. */
static void test_hold(void **state)
{
	struct rate_budget *rb = open_budget(100, 10), *other;
	struct rate_budget_view v;
	long long now = io_now_ms(), at = 0;
	char err[256];

	(void)state;
	assert_int_equal(rate_budget_note_answer(rb, 200, 30000, err, sizeof err), 0);
	assert_int_equal(take(rb, RATE_CHANGE, now + 100, &at), RATE_GRANTED);
	assert_int_equal(rate_budget_hold(rb, &at, err, sizeof err), RATE_GRANTED);
	assert_int_equal(at, 0);
	assert_int_equal(rate_budget_note_answer(rb, 429, 3000, err, sizeof err), 0);
	assert_int_equal(rate_budget_hold(rb, &at, err, sizeof err), RATE_GRANTED);
	assert_true(at >= now + 2900 && at <= io_now_ms() + 3000);
	other = open_budget(100, 10); /* another process */
	assert_int_equal(take(other, RATE_CHANGE, now + 1000, &at), RATE_LATER);
	assert_true(at >= now + 2900 && at <= io_now_ms() + 3100);
	assert_int_equal(take(other, RATE_CHANGE, now + 10000, &at), RATE_GRANTED);
	assert_true(at >= now + 2900);
	/* A hold beyond the cap is cut to it. */
	assert_int_equal(rate_budget_note_answer(other, 429, 999999000LL, err, sizeof err), 0);
	assert_int_equal(rate_budget_view(&cfg, &v, err, sizeof err), 0);
	assert_int_equal(v.answers_429, 2);
	assert_int_equal(v.requests, 2);
	assert_int_equal(v.limit, 100);
	assert_int_equal(v.window_s, 10);
	assert_int_equal(v.used, 2);
	assert_true(v.not_before_s > (long long)time(NULL) + RATE_BUDGET_MAX_HOLD_S - 5);
	assert_true(v.not_before_s <= (long long)time(NULL) + RATE_BUDGET_MAX_HOLD_S + 1);
	assert_true(v.last_429_s >= (long long)time(NULL) - 5);
	rate_budget_close(other);
	rate_budget_close(rb);
}

/* A new limit starts the window afresh and keeps the counters; no limit
 * grants at once (but still honours a hold). */
static void test_limit_changed(void **state)
{
	struct rate_budget *rb = open_budget(2, 60);
	struct rate_budget_view v;
	long long at = 0;
	char err[256];

	(void)state;
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_LATER);
	rate_budget_close(rb);
	rb = open_budget(3, 60);
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_GRANTED);
	rate_budget_close(rb);
	rb = open_budget(0, 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(take(rb, RATE_POLL, io_now_ms() + 100, &at), RATE_GRANTED);
	assert_int_equal(rate_budget_note_answer(rb, 429, 2000, err, sizeof err), 0);
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 500, &at), RATE_LATER);
	assert_int_equal(rate_budget_view(&cfg, &v, err, sizeof err), 0);
	assert_int_equal(v.requests, 55);
	assert_int_equal(v.answers_429, 1);
	rate_budget_close(rb);
}

/* Garbage or a torn file starts afresh; a file we do not trust (a symlink,
 * group-readable) is refused. */
static void test_bad_files(void **state)
{
	struct rate_budget *rb;
	char path[PATH_MAX + 16], err[256], junk[300];
	long long at = 0;
	int fd;

	(void)state;
	snprintf(path, sizeof path, "%s/rate", dir);
	memset(junk, 0x7f, sizeof junk);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	rb = open_budget(3, 60);
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_GRANTED);
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_LATER);
	rate_budget_close(rb);
	/* Torn: the header alone. */
	assert_int_equal(truncate(path, 64), 0);
	rb = open_budget(3, 60);
	assert_int_equal(take(rb, RATE_CHANGE, io_now_ms() + 100, &at), RATE_GRANTED);
	rate_budget_close(rb);

	assert_int_equal(chmod(path, 0640), 0);
	cfg.rate_limit.requests = 3;
	cfg.rate_limit.seconds = 60;
	assert_int_equal(rate_budget_open(&cfg, &rb, err, sizeof err), -1);
	assert_null(rb);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(rate_budget_open(&cfg, &rb, err, sizeof err), -1);
	assert_int_equal(unlink(path), 0);
}

/* Several processes take slots at once for a while: the send times they
 * were given never put more than the limit into any window. */
#define PROCS 4
#define PER_PROC 12
static void test_processes(void **state)
{
	const unsigned limit = 10, seconds = 1;
	long long times[PROCS * PER_PROC];
	int fds[PROCS][2];
	pid_t pids[PROCS];
	size_t n = 0;

	(void)state;
	cfg.rate_limit.requests = limit;
	cfg.rate_limit.seconds = seconds;
	for (int p = 0; p < PROCS; p++) {
		assert_int_equal(pipe(fds[p]), 0);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct rate_budget *rb;
			char err[256];

			close(fds[p][0]);
			if (rate_budget_open(&cfg, &rb, err, sizeof err) < 0)
				_exit(1);
			for (int i = 0; i < PER_PROC; i++) {
				long long at = 0, now = io_now_ms();
				enum rate_class cls = i % 2 ? RATE_CHANGE : RATE_DELIVERY;

				while (rate_budget_take(rb, cls, now + 60000, &at, err,
							sizeof err) == RATE_LATER) {
					struct timespec ts = { 0, 5 * 1000000 };
					nanosleep(&ts, NULL);
				}
				if (write(fds[p][1], &at, sizeof at) != (ssize_t)sizeof at)
					_exit(1);
			}
			rate_budget_close(rb);
			_exit(0);
		}
		close(fds[p][1]);
	}
	for (int p = 0; p < PROCS; p++) {
		int status;
		long long at;

		while (read(fds[p][0], &at, sizeof at) == (ssize_t)sizeof at)
			times[n++] = at;
		close(fds[p][0]);
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(n, PROCS * PER_PROC);
	/* Every window [t, t + seconds) that starts at a send time. */
	for (size_t i = 0; i < n; i++) {
		unsigned in = 0;
		for (size_t j = 0; j < n; j++)
			in += times[j] >= times[i] &&
			      times[j] < times[i] + (long long)seconds * 1000;
		assert_true(in <= limit);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_yields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
