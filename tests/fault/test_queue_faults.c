/* SPDX-License-Identifier: MIT */
/* test_queue_faults: the offline queue under failing system calls.
 *
 * For each operation (queue_put, queue_claim, queue_done, queue_release,
 * queue_list, from a known state) the test runs it again and again with the
 * Nth wrapped call failing (tests/fault: allocation, open, read, write,
 * fsync, rename, unlink, mkostemp, flock, ...), N = 1, 2, ... until a run
 * makes no more than N - 1 calls, i.e. completes without meeting the fault.
 * After every run, with faults off, the queue directory must be in one of
 * two states:
 *   - the operation failed (-1) and everything is as before, every entry
 *     whole and parseable;
 *   - the operation returned its result and the state is exactly the one
 *     asked for;
 * never a torn, lost or duplicated entry, never a temporary file left
 * behind, and an unrelated user's entry untouched. One exception, where
 * the operation reports an error although its rename or unlink took
 * effect: the fsync of the directory that makes it durable failed. The
 * state is then the new one, which the caller tolerates for put, done and
 * release (see each scenario); for claim it does not (change_flush counts
 * a failed claim as "still queued", but an .inflight file is dropped by the
 * next flush as an interrupted delivery).
 *
 * A second pass injects only soft faults (EINTR, short writes, short reads),
 * which the code must absorb: every run must then succeed exactly.
 *
 * Uses only queue.h: queue_put, queue_claim, queue_done, queue_release,
 * queue_list (+ queue_list_free), queue_parse, queue_entry_name,
 * queue_entry_free and the struct queue_entry fields user, login, source,
 * key_id, ciphertext, time, seq. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "queue.h"

/* Bounds the loop should the operation never stop meeting faults. */
#define MAX_RUNS 5000

struct fixture {
	char dir[400];
	char state[512];
	struct config cfg;
};

/* The entries the scenarios use: alice's older (A) and newer (B) change,
 * and bob's (C), which no operation on alice may touch. */
#define SEQ_A 100
#define SEQ_B 200
#define SEQ_C 150
static const char *ct_of(long long seq)
{
	return seq == SEQ_A ? "QUFBQQ==" : seq == SEQ_B ? "QkJCQg==" : "Q0NDQw==";
}

static void make_entry(struct queue_entry *e, const char *user, long long seq)
{
	memset(e, 0, sizeof *e);
	snprintf(e->user, sizeof e->user, "%s", user);
	snprintf(e->login, sizeof e->login, "%s@corp", user);
	snprintf(e->source, sizeof e->source, "Linux Hosts");
	snprintf(e->key_id, sizeof e->key_id, "a2V5LTE=");
	e->ciphertext = strdup(ct_of(seq));
	assert_non_null(e->ciphertext);
	e->time = 1700000000 + seq;
	e->seq = seq;
}

static long long deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/pam_isc_qfault.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->state, sizeof f->state, "%s/state", f->dir);
	f->cfg.state_dir = f->state;
	f->cfg.api_url = "https://tenant.example";
	f->cfg.source_name = "Linux Hosts";
	f->cfg.queue_max_age = 604800;
	*state = f;
	return 0;
}

static void remove_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	remove_tree(f->dir);
	free(f);
	return 0;
}

/* ---- the state of the queue directory, read without faults ---------------- */

/* Alice's entry and .inflight file: the seq of what each holds, 0 for
 * none. Bob's entry must always be C. */
struct qstate {
	long long entry, inflight;
};

static void path_of(const struct fixture *f, const char *user, const char *suffix, char *out,
		    size_t size)
{
	char name[65];

	assert_int_equal(queue_entry_name(user, name), 0);
	assert_true((size_t)snprintf(out, size, "%s/queue/%s%s", f->state, name, suffix) < size);
}

/* The seq of the entry in path, 0 when there is no file; fails the test on
 * a file that is not one of the expected entries, whole. */
static long long read_seq(const char *path, const char *user, const char *ctx)
{
	char buf[QUEUE_FILE_MAX + 1], err[128];
	struct queue_entry e;
	long long seq;
	size_t len;
	FILE *fp = fopen(path, "r");

	if (!fp) {
		if (errno != ENOENT)
			fail_msg("%s: cannot open %s: %s", ctx, path, strerror(errno));
		return 0;
	}
	len = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	if (queue_parse(buf, len, &e, err, sizeof err) != 0)
		fail_msg("%s: %s is torn or corrupt (%s)", ctx, path, err);
	if (strcmp(e.user, user) != 0 || strcmp(e.ciphertext, ct_of(e.seq)) != 0 ||
	    e.time != 1700000000 + e.seq)
		fail_msg("%s: %s holds a mixed-up entry (user %s, seq %lld)", ctx, path, e.user,
			 e.seq);
	seq = e.seq;
	queue_entry_free(&e);
	return seq;
}

/* Reads the state; checks what must hold in every state: bob's entry whole,
 * no temporary file, and queue_list agreeing with the files. */
static struct qstate read_state(const struct fixture *f, const char *ctx)
{
	char path[PATH_MAX + 80], qdir[PATH_MAX], err[256];
	struct qstate s;
	struct queue_list l;
	struct dirent *d;
	DIR *dir;

	path_of(f, "alice", "", path, sizeof path);
	s.entry = read_seq(path, "alice", ctx);
	path_of(f, "alice", ".inflight", path, sizeof path);
	s.inflight = read_seq(path, "alice", ctx);
	path_of(f, "bob", "", path, sizeof path);
	if (read_seq(path, "bob", ctx) != SEQ_C)
		fail_msg("%s: bob's entry is gone", ctx);

	snprintf(qdir, sizeof qdir, "%s/queue", f->state);
	dir = opendir(qdir);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.' || strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0 || strcmp(d->d_name, ".lock") == 0 ||
		    strcmp(d->d_name, ".flush") == 0)
			continue;
		fail_msg("%s: a temporary file was left behind: %s", ctx, d->d_name);
	}
	closedir(dir);

	if (queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err) != 0)
		fail_msg("%s: queue_list: %s", ctx, err);
	if (l.bad != 0 || l.n != 1 + (s.entry != 0) || l.inflight != (size_t)(s.inflight != 0))
		fail_msg("%s: queue_list sees %zu entries, %zu bad, %zu inflight", ctx, l.n, l.bad,
			 l.inflight);
	queue_list_free(&l);
	return s;
}

/* ---- scenarios --------------------------------------------------------------- */

struct scenario {
	const char *name;
	struct qstate before, after; /* alice's files before and after success */
	int (*op)(struct fixture *f, char *err, size_t errsize);
	int result; /* what op returns when it succeeds */
	/* May op report -1 although its rename/unlink took effect (the
	 * directory's fsync failed)? See the header comment. */
	bool error_after_commit_ok;
};

static struct queue_entry entry_a, entry_b;

static int op_put_a(struct fixture *f, char *err, size_t errsize)
{
	return queue_put(&f->cfg, &entry_a, deadline(), err, errsize);
}

static int op_put_b(struct fixture *f, char *err, size_t errsize)
{
	return queue_put(&f->cfg, &entry_b, deadline(), err, errsize);
}

static int op_claim_a(struct fixture *f, char *err, size_t errsize)
{
	return queue_claim(&f->cfg, &entry_a, err, errsize);
}

static int op_done(struct fixture *f, char *err, size_t errsize)
{
	return queue_done(&f->cfg, "alice", err, errsize);
}

static int op_release(struct fixture *f, char *err, size_t errsize)
{
	return queue_release(&f->cfg, "alice", err, errsize);
}

/* queue_list may count an entry it could not read as bad (and leave it be:
 * a flush logs it and keeps it), but what it returns must be whole. */
static int op_list(struct fixture *f, char *err, size_t errsize)
{
	struct queue_list l;
	int rc = queue_list(&f->cfg, &l, NULL, NULL, err, errsize);

	if (rc != 0)
		return rc;
	fault_disarm(); /* the checks below are the test's, and may fail */
	if (l.n + l.bad != 2)
		fail_msg("queue_list returned %zu entries and %zu bad of 2", l.n, l.bad);
	for (size_t i = 0; i < l.n; i++) {
		const struct queue_entry *e = &l.items[i];
		bool alice = strcmp(e->user, "alice") == 0;

		if (!(alice && e->seq == SEQ_A) && !(!alice && e->seq == SEQ_C))
			fail_msg("queue_list returned user %s seq %lld", e->user, e->seq);
		if (strcmp(e->ciphertext, ct_of(e->seq)) != 0 || strcmp(e->source, "Linux Hosts") != 0)
			fail_msg("queue_list returned a mixed-up entry for %s", e->user);
		if (i > 0 && strcmp(e->user, l.items[0].user) == 0)
			fail_msg("queue_list returned %s twice", e->user);
	}
	queue_list_free(&l);
	return 0;
}

static const struct scenario scenarios[] = {
	{ "put into an empty queue", { 0, 0 }, { SEQ_A, 0 }, op_put_a, 0, true },
	{ "put a newer entry over an older", { SEQ_A, 0 }, { SEQ_B, 0 }, op_put_b, 0, true },
	{ "put an older entry under a newer", { SEQ_B, 0 }, { SEQ_B, 0 }, op_put_a, 1, false },
	{ "claim", { SEQ_A, 0 }, { 0, SEQ_A }, op_claim_a, 0, false },
	{ "done", { 0, SEQ_A }, { 0, 0 }, op_done, 0, true },
	{ "release", { 0, SEQ_A }, { SEQ_A, 0 }, op_release, 0, true },
	{ "release under a newer entry", { SEQ_B, SEQ_A }, { SEQ_B, 0 }, op_release, 0, true },
	{ "list", { SEQ_A, 0 }, { SEQ_A, 0 }, op_list, 0, false },
};

/* A fresh state directory holding sc->before (and bob's entry), made with
 * the queue's own functions, faults off. */
static void prepare(struct fixture *f, const struct qstate *before)
{
	char err[256];
	struct queue_entry c;

	remove_tree(f->state);
	make_entry(&c, "bob", SEQ_C);
	assert_int_equal(queue_put(&f->cfg, &c, deadline(), err, sizeof err), 0);
	queue_entry_free(&c);
	if (before->inflight) {
		struct queue_entry *e = before->inflight == SEQ_A ? &entry_a : &entry_b;
		assert_int_equal(queue_put(&f->cfg, e, deadline(), err, sizeof err), 0);
		assert_int_equal(queue_claim(&f->cfg, e, err, sizeof err), 0);
	}
	if (before->entry) {
		struct queue_entry *e = before->entry == SEQ_A ? &entry_a : &entry_b;
		assert_int_equal(queue_put(&f->cfg, e, deadline(), err, sizeof err), 0);
	}
}

static bool same(struct qstate a, struct qstate b)
{
	return a.entry == b.entry && a.inflight == b.inflight;
}

/* Whether a rename or unlink succeeded before the failed call: the
 * operation's change is then on disk. */
static bool committed_before_fault(void)
{
	bool seen = false;

	for (size_t i = 0; i < fault_trace_len(); i++) {
		bool failed;
		const char *name = fault_trace_name(i, &failed);

		if (failed)
			return seen;
		if (strcmp(name, "rename") == 0 || strcmp(name, "unlink") == 0)
			seen = true;
	}
	return false;
}

/* The order that makes a change durable, seen in the calls of a run that
 * succeeded: what was written is fsynced before it is renamed into place
 * (else a crash can leave a renamed but empty or torn file), and a rename
 * or unlink is followed by an fsync (of the directory) before the
 * operation returns. Whose descriptor is not tracked: a coarse check, but
 * one that a write-rename-fsync order fails. The one exception is the
 * per-user sequence record (queue/seq/): it only orders changes that run
 * at the same time, which a crash ends, so it is renamed into place
 * without an fsync (a record torn by a crash counts as none). */
static void check_durable_order(const char *ctx)
{
	bool unsynced_write = false, unsynced_commit = false;

	for (size_t i = 0; i < fault_trace_len(); i++) {
		bool failed;
		const char *name = fault_trace_name(i, &failed);

		if (failed)
			continue;
		if (strcmp(name, "write") == 0) {
			unsynced_write = true;
		} else if (strcmp(name, "fsync") == 0) {
			unsynced_write = unsynced_commit = false;
		} else if (strcmp(name, "rename") == 0 || strcmp(name, "unlink") == 0) {
			if (strcmp(name, "rename") == 0 && strstr(fault_trace_path(i), "/queue/seq/")) {
				unsynced_write = false;
				continue;
			}
			if (unsynced_write && strcmp(name, "rename") == 0)
				fail_msg("%s: a file was renamed into place before its fsync", ctx);
			unsynced_commit = true;
		}
	}
	if (unsynced_commit)
		fail_msg("%s: returned without an fsync after its last rename or unlink", ctx);
}

static const char *failed_call(void)
{
	for (size_t i = 0; i < fault_trace_len(); i++) {
		bool failed;
		const char *name = fault_trace_name(i, &failed);
		if (failed)
			return name;
	}
	return "none";
}

/* The loop over N for one scenario; soft: only soft faults. */
static void run_scenario(struct fixture *f, const struct scenario *sc, bool soft,
			 unsigned long long kind)
{
	unsigned long errors = 0, survived = 0, after_commit = 0, n;

	for (n = 1; n <= MAX_RUNS; n++) {
		struct fault_plan p = { .nth = n, .seed = kind, .soft = soft };
		char err[256] = "", ctx[512];
		struct qstate s;
		int rc;

		prepare(f, &sc->before);
		s = read_state(f, "before");
		assert_true(same(s, sc->before));

		fault_arm(&p);
		rc = sc->op(f, err, sizeof err);
		fault_disarm();

		snprintf(ctx, sizeof ctx, "%s, call %lu (%s) failing%s: rc %d (%s)", sc->name, n,
			 failed_call(), soft ? " softly" : "", rc, err);
		s = read_state(f, ctx);
		if (fault_injected() == 0) {
			/* The run completed before its Nth call: the last one. */
			if (rc != sc->result || !same(s, sc->after))
				fail_msg("%s: without a fault: rc %d, entry %lld, inflight %lld", ctx, rc,
					 s.entry, s.inflight);
			check_durable_order(ctx);
			break;
		}
		if (rc == sc->result && same(s, sc->after)) {
			check_durable_order(ctx);
			survived++; /* retried, or a call whose failure does not matter */
		} else if (rc == -1 && !soft && same(s, sc->before)) {
			errors++;
		} else if (rc == -1 && !soft && same(s, sc->after) && sc->error_after_commit_ok &&
			   committed_before_fault()) {
			after_commit++;
		} else {
			fail_msg("%s: the state is entry %lld, inflight %lld (before: %lld, %lld; "
				 "asked: %lld, %lld)",
				 ctx, s.entry, s.inflight, sc->before.entry, sc->before.inflight,
				 sc->after.entry, sc->after.inflight);
		}
	}
	assert_true(n <= MAX_RUNS);
	/* Every operation makes wrapped calls: a run without any means the
	 * wrappers are not linked in, and the test would prove nothing. (Some
	 * make no call that has a soft fault: done.) */
	if (!soft)
		assert_true(n > 1);
	print_message("%-34s %s%llu: %3lu faults: %3lu failed cleanly, %3lu absorbed, %lu failed "
		      "after the commit\n",
		      sc->name, soft ? "soft " : "hard ", kind, n - 1, errors, survived,
		      after_commit);
	if (soft)
		assert_int_equal(errors + after_commit, 0);
}

static void test_hard_faults(void **state)
{
	/* Two kinds of hard fault: the first and the second errno of each
	 * function (e.g. read EIO / EINTR, write ENOSPC / EIO). */
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		for (unsigned long long kind = 0; kind < 2; kind++)
			run_scenario(*state, &scenarios[i], false, kind);
}

static void test_soft_faults(void **state)
{
	/* EINTR, and short transfers where the call has them. */
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		for (unsigned long long kind = 0; kind < 2; kind++)
			run_scenario(*state, &scenarios[i], true, kind);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hard_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soft_faults, setup, teardown),
	};
	int rc;

	make_entry(&entry_a, "alice", SEQ_A);
	make_entry(&entry_b, "alice", SEQ_B);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	queue_entry_free(&entry_a);
	queue_entry_free(&entry_b);
	return rc;
}
