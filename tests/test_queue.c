/* SPDX-License-Identifier: MIT */
/* Unit tests: the offline queue and the public-key cache under state_dir:
 * the entry format (strict, complete or refused), newest-wins replacement,
 * the delivery steps (claim, release, done, drop), interrupted deliveries,
 * modes, and the key cache. */
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
#include <time.h>
#include <unistd.h>

#include "queue.h"

struct fixture {
	char dir[400];
	char state[512];
	struct config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/pam_isc_queue.XXXXXX", tmp ? tmp : "/tmp");
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

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void make_entry(struct queue_entry *e, const char *user, const char *ct, long long seq)
{
	memset(e, 0, sizeof *e);
	snprintf(e->user, sizeof e->user, "%s", user);
	e->uid = 1001;
	snprintf(e->login, sizeof e->login, "%s@corp", user);
	snprintf(e->source, sizeof e->source, "Linux Hosts");
	snprintf(e->identity, sizeof e->identity, "2c9180835d2e5168015d32f890ca1581");
	snprintf(e->account, sizeof e->account, "uid=%s,ou=people,dc=example,dc=com", user);
	snprintf(e->key_id, sizeof e->key_id, "a2V5LTE=");
	e->ciphertext = strdup(ct);
	e->time = 1700000000;
	e->seq = seq;
}

static long long deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
}

static void entry_path(const struct fixture *f, const char *user, const char *suffix, char *out,
		       size_t size)
{
	char name[65];

	assert_int_equal(queue_entry_name(user, name), 0);
	assert_true((size_t)snprintf(out, size, "%s/queue/%s%s", f->state, name, suffix) < size);
}

static void test_format_round_trip(void **state)
{
	struct queue_entry e, got;
	char *text, err[128];
	size_t len;

	(void)state;
	make_entry(&e, "alice", "QUJD+/==", 42);
	assert_int_equal(queue_format(&e, &text, &len), 0);
	assert_int_equal(queue_parse(text, len, &got, err, sizeof err), 0);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.login, "alice@corp");
	assert_string_equal(got.source, "Linux Hosts");
	assert_string_equal(got.key_id, "a2V5LTE=");
	assert_string_equal(got.ciphertext, "QUJD+/==");
	assert_string_equal(got.identity, "2c9180835d2e5168015d32f890ca1581");
	assert_string_equal(got.account, "uid=alice,ou=people,dc=example,dc=com");
	assert_true(got.uid == 1001);
	assert_true(got.time == 1700000000);
	assert_true(got.seq == 42);
	queue_entry_free(&got);

	/* Bindings not known when queued are written "-" and read back empty
	 * (uid -1); "-" itself is no identity, and uid (uid_t)-1 is none. */
	{
		struct queue_entry u;
		char *t2;
		size_t l2;
		make_entry(&u, "bob", "QQ==", 7);
		u.identity[0] = u.account[0] = '\0';
		u.uid = -1;
		assert_int_equal(queue_format(&u, &t2, &l2), 0);
		assert_non_null(strstr(t2, "\nuid=-\n"));
		assert_non_null(strstr(t2, "\nidentity=-\naccount=-\n"));
		assert_int_equal(queue_parse(t2, l2, &got, err, sizeof err), 0);
		assert_string_equal(got.identity, "");
		assert_string_equal(got.account, "");
		assert_true(got.uid == -1);
		queue_entry_free(&got);
		free(t2);
		snprintf(u.identity, sizeof u.identity, "-");
		assert_int_equal(queue_format(&u, &t2, &l2), -1);
		u.identity[0] = '\0';
		u.uid = 4294967295LL;
		assert_int_equal(queue_format(&u, &t2, &l2), -1);
		queue_entry_free(&u);
	}
	/* An entry of the first format (queued before an upgrade) reads as not
	 * bound; one with the new fields under the old magic is refused. */
	{
		static const char v1[] = "PAM_ISC_QUEUE/1\nuser=alice\nlogin=alice\nsource=S\n"
					 "key_id=k\ntime=1\nseq=1\nciphertext=QQ==\nend\n";
		static const char mixed[] = "PAM_ISC_QUEUE/1\nuser=alice\nuid=1\nlogin=alice\n"
					    "source=S\nidentity=-\naccount=-\nkey_id=k\ntime=1\n"
					    "seq=1\nciphertext=QQ==\nend\n";
		assert_int_equal(queue_parse(v1, sizeof v1 - 1, &got, err, sizeof err), 0);
		assert_true(got.uid == -1);
		assert_string_equal(got.identity, "");
		assert_string_equal(got.account, "");
		assert_string_equal(got.ciphertext, "QQ==");
		queue_entry_free(&got);
		assert_int_equal(queue_parse(mixed, sizeof mixed - 1, &got, err, sizeof err), -1);
	}

	/* Every shorter prefix (a torn write) is refused. */
	for (size_t n = 0; n < len; n++) {
		assert_int_equal(queue_parse(text, n, &got, err, sizeof err), -1);
		assert_null(got.ciphertext);
	}
	/* Trailing bytes, a wrong magic, an empty field, a control char. */
	{
		char buf[4096];
		snprintf(buf, sizeof buf, "%sX", text);
		assert_int_equal(queue_parse(buf, strlen(buf), &got, err, sizeof err), -1);
		snprintf(buf, sizeof buf, "%s", text);
		buf[0] = 'X';
		assert_int_equal(queue_parse(buf, strlen(buf), &got, err, sizeof err), -1);
	}
	assert_int_equal(queue_parse("PAM_ISC_QUEUE/2\nuser=\n", 22, &got, err, sizeof err), -1);
	free(text);
	/* Fields that could break the format are refused at write time. */
	snprintf(e.login, sizeof e.login, "bad\nline");
	assert_int_equal(queue_format(&e, &text, &len), -1);
	queue_entry_free(&e);
}

static void test_put_newest_wins(void **state)
{
	struct fixture *f = *state;
	struct queue_entry older, newer;
	struct queue_list l;
	char err[256], path[PATH_MAX + 80];
	struct stat st;

	make_entry(&older, "alice", "T0xE", 100);
	make_entry(&newer, "alice", "TkVX", 200);
	assert_int_equal(queue_put(&f->cfg, &newer, deadline(), err, sizeof err), 0);
	/* An older change arriving late does not replace the newer one. */
	assert_int_equal(queue_put(&f->cfg, &older, deadline(), err, sizeof err), 1);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].ciphertext, "TkVX");
	queue_list_free(&l);

	/* Modes: 0700 directories, 0600 entry. */
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	entry_path(f, "alice", "", path, sizeof path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Remove: then nothing. */
	assert_int_equal(queue_remove(&f->cfg, "alice", deadline(), err, sizeof err), 0);
	assert_int_equal(queue_remove(&f->cfg, "alice", deadline(), err, sizeof err), 1);
	queue_entry_free(&older);
	queue_entry_free(&newer);
}

static void test_delivery_steps(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e, e2;
	struct queue_list l;
	char err[256], path[PATH_MAX + 80], inflight[PATH_MAX + 80];

	entry_path(f, "bob", "", path, sizeof path);
	entry_path(f, "bob", ".inflight", inflight, sizeof inflight);
	make_entry(&e, "bob", "QQ==", 1);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);

	/* claim -> release: back in the queue. */
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(inflight, F_OK), 0);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.inflight, 1);
	queue_list_free(&l);
	assert_int_equal(queue_release(&f->cfg, "bob", err, sizeof err), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(access(inflight, F_OK), -1);

	/* claim, a newer change arrives, release: the newer one stays. */
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 0);
	make_entry(&e2, "bob", "Qg==", 2);
	assert_int_equal(queue_put(&f->cfg, &e2, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_release(&f->cfg, "bob", err, sizeof err), 0);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].ciphertext, "Qg==");
	queue_list_free(&l);

	/* A claim for an entry that was replaced fails (1); drop likewise. */
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 1);
	assert_int_equal(queue_drop(&f->cfg, &e, err, sizeof err), 1);

	/* claim -> done: gone for good. */
	assert_int_equal(queue_claim(&f->cfg, &e2, err, sizeof err), 0);
	assert_int_equal(queue_done(&f->cfg, "bob", err, sizeof err), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(inflight, F_OK), -1);
	queue_entry_free(&e);
	queue_entry_free(&e2);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A slow older change: its attempt began (seq taken) before a newer change
 * reached ISC (queue_remove records that newer attempt). Its late
 * queue_put must be refused, also when the newer change left no entry. */
static void test_late_put_after_newer_attempt(void **state)
{
	struct fixture *f = *state;
	struct queue_entry slow, queued;
	struct queue_list l;
	char err[256], path[PATH_MAX + 80];

	make_entry(&slow, "carol", "U0xPVw==", now_ns());
	/* nothing queued: the newer change still records its attempt */
	assert_int_equal(queue_remove(&f->cfg, "carol", deadline(), err, sizeof err), 1);
	assert_int_equal(queue_put(&f->cfg, &slow, deadline(), err, sizeof err), 1);
	entry_path(f, "carol", "", path, sizeof path);
	assert_int_equal(access(path, F_OK), -1);

	/* an older entry removed by a newer attempt is not brought back by a
	 * change that began before that attempt either */
	make_entry(&queued, "dave", "T0xE", now_ns());
	queue_entry_free(&slow);
	make_entry(&slow, "dave", "U0xPVw==", now_ns());
	assert_int_equal(queue_put(&f->cfg, &queued, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_remove(&f->cfg, "dave", deadline(), err, sizeof err), 0);
	assert_int_equal(queue_put(&f->cfg, &slow, deadline(), err, sizeof err), 1);
	assert_int_equal(queue_put(&f->cfg, &queued, deadline(), err, sizeof err), 1);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 0);
	queue_list_free(&l);
	queue_entry_free(&slow);
	queue_entry_free(&queued);
}

/* A flush claimed an entry; a newer change's attempt comes meanwhile: the
 * claimed (older) entry must not go back into the queue, and a second
 * claim of it must fail. */
static void test_release_after_newer_attempt(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	char err[256], path[PATH_MAX + 80], inflight[PATH_MAX + 80];

	entry_path(f, "erin", "", path, sizeof path);
	entry_path(f, "erin", ".inflight", inflight, sizeof inflight);
	make_entry(&e, "erin", "T0xE", now_ns());
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 0);
	queue_remove(&f->cfg, "erin", deadline(), err, sizeof err);
	assert_int_equal(queue_release(&f->cfg, "erin", err, sizeof err), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(inflight, F_OK), -1);
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 1);
	queue_entry_free(&e);
}

/* A flush delivering the user's entry holds the user's lock: a newer
 * change's attempt waits for it, and when it cannot have it in time,
 * nothing is recorded and the entry stays. */
static void test_attempt_waits_for_delivery(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	char err[256], path[PATH_MAX + 80];
	long long seq = 0;
	int lk;

	entry_path(f, "fred", "", path, sizeof path);
	make_entry(&e, "fred", "T0xE", now_ns());
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	lk = queue_user_lock(&f->cfg, "fred", deadline(), err, sizeof err);
	assert_true(lk >= 0);
	assert_int_equal(queue_attempt(&f->cfg, "fred", deadline() - 1900, &seq, err, sizeof err),
			 -2);
	assert_int_equal(access(path, F_OK), 0);
	queue_user_unlock(lk);
	assert_int_equal(queue_attempt(&f->cfg, "fred", deadline(), &seq, err, sizeof err), 0);
	assert_true(seq > e.seq);
	assert_int_equal(access(path, F_OK), -1);
	queue_entry_free(&e);
}

/* The sequence record is written without fsync: one torn by a crash
 * counts as none (no change of before the crash still runs), and the next
 * attempt writes it again. */
static void test_torn_seq_record(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	char err[256], name[65], path[PATH_MAX + 80];
	long long seq = 0;
	FILE *fp;

	make_entry(&e, "gina", "T0xE", now_ns());
	assert_int_equal(queue_remove(&f->cfg, "gina", deadline(), err, sizeof err), 1);
	assert_int_equal(queue_entry_name("gina", name), 0);
	snprintf(path, sizeof path, "%s/queue/seq/%s", f->state, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("PAM_ISC_SEQ/1\nseq=12", fp);
	fclose(fp);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_attempt(&f->cfg, "gina", deadline(), &seq, err, sizeof err), 0);
	assert_true(seq > e.seq);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 1);
	queue_entry_free(&e);
}

/* Seq records of users without an entry go a day after the last attempt;
 * one whose user still has an entry stays. */
static void test_gc_seq(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	char err[256], name[65], path[PATH_MAX + 80], path2[PATH_MAX + 80];
	struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };

	assert_int_equal(queue_remove(&f->cfg, "hank", deadline(), err, sizeof err), 1);
	make_entry(&e, "ida", "T0xE", 0);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_entry_name("hank", name), 0);
	snprintf(path, sizeof path, "%s/queue/seq/%s", f->state, name);
	assert_int_equal(queue_entry_name("ida", name), 0);
	snprintf(path2, sizeof path2, "%s/queue/seq/%s", f->state, name);
	assert_int_equal(queue_gc_seq(&f->cfg, err, sizeof err), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, path2, old, 0), 0);
	assert_int_equal(queue_gc_seq(&f->cfg, err, sizeof err), 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(path2, F_OK), 0);
	queue_entry_free(&e);
}

static int n_inflight_seen;
static void count_inflight(void *ctx, const struct queue_entry *e, const char *file)
{
	(void)ctx;
	(void)file;
	assert_string_equal(e->user, "carol");
	n_inflight_seen++;
}

static void count_bad(void *ctx, const char *file, const char *why)
{
	(void)file;
	(void)why;
	(*(int *)ctx)++;
}

static void test_interrupted_and_corrupt(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	struct queue_list l;
	char err[256], path[PATH_MAX + 80];
	int bad = 0;
	FILE *fp;

	make_entry(&e, "carol", "Qw==", 5);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_claim(&f->cfg, &e, err, sizeof err), 0);
	/* The process dies here. The next flush drops it, never resends. */
	assert_int_equal(queue_drop_inflight(&f->cfg, count_inflight, NULL, err, sizeof err), 1);
	assert_int_equal(n_inflight_seen, 1);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n + l.inflight, 0);
	queue_list_free(&l);

	/* A corrupt entry is counted, never returned. */
	entry_path(f, "dave", "", path, sizeof path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("PAM_ISC_QUEUE/2\nuser=dave\nlogin=da", fp);
	fclose(fp);
	chmod(path, 0600);
	assert_int_equal(queue_list(&f->cfg, &l, count_bad, &bad, err, sizeof err), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.bad, 1);
	assert_int_equal(bad, 1);
	queue_list_free(&l);
	queue_entry_free(&e);
}

/* A writer killed between its temporary file and the rename (kill -9 while
 * queueing): the half-written temporary file is never taken for an entry,
 * the earlier entry of that user stays as it was, and once the temporary
 * file is old enough to be certainly dead, a flush removes it. */
static void test_killed_writer(void **state)
{
	struct fixture *f = *state;
	struct queue_entry e;
	struct queue_list l;
	char err[256], name[65], tmp[PATH_MAX + 96];
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	FILE *fp;

	make_entry(&e, "erin", "RWFybGllcg==", 7);
	assert_int_equal(queue_put(&f->cfg, &e, deadline(), err, sizeof err), 0);
	assert_int_equal(queue_entry_name("erin", name), 0);
	assert_true((size_t)snprintf(tmp, sizeof tmp, "%s/queue/.%s.Ab12Cd", f->state, name) <
		    sizeof tmp);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs("PAM_ISC_QUEUE/2\nuser=erin\nlogin=erin\nsource=Linux Hosts\nkey_id=k2\ntime=9", fp);
	fclose(fp);
	chmod(tmp, 0600);

	/* A fresh one may belong to a writer still at work: left alone. */
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.bad, 0);
	assert_string_equal(l.items[0].user, "erin");
	assert_string_equal(l.items[0].ciphertext, "RWFybGllcg==");
	queue_list_free(&l);
	assert_int_equal(access(tmp, F_OK), 0);

	/* An old one is a dead writer's: the start of a flush removes it, and
	 * it is still never an entry. */
	assert_int_equal(utimensat(AT_FDCWD, tmp, old, 0), 0);
	assert_int_equal(queue_drop_inflight(&f->cfg, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(queue_list(&f->cfg, &l, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.bad, 0);
	assert_string_equal(l.items[0].ciphertext, "RWFybGllcg==");
	queue_list_free(&l);
	assert_int_equal(access(tmp, F_OK), -1);
	queue_entry_free(&e);
}

static void test_flush_lock(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int a, b;

	a = queue_flush_lock(&f->cfg, err, sizeof err);
	assert_true(a >= 0);
	b = queue_flush_lock(&f->cfg, err, sizeof err);
	assert_int_equal(b, -2);
	close(a);
	b = queue_flush_lock(&f->cfg, err, sizeof err);
	assert_true(b >= 0);
	close(b);
}

static void test_key_cache(void **state)
{
	struct fixture *f = *state;
	char *id = NULL, *key = NULL, err[256];

	assert_int_equal(queue_key_load(&f->cfg, &id, &key, err, sizeof err), 1);
	assert_int_equal(queue_key_store(&f->cfg, "id-1", "MIIBIjAN", err, sizeof err), 0);
	assert_int_equal(queue_key_load(&f->cfg, &id, &key, err, sizeof err), 0);
	assert_string_equal(id, "id-1");
	assert_string_equal(key, "MIIBIjAN");
	free(id);
	free(key);
	assert_int_equal(queue_key_store(&f->cfg, "id-2", "MIIBIjAO", err, sizeof err), 0);
	assert_int_equal(queue_key_load(&f->cfg, &id, &key, err, sizeof err), 0);
	assert_string_equal(id, "id-2");
	free(id);
	free(key);
	/* Another source has its own (no) key. */
	f->cfg.source_name = "Other Source";
	assert_int_equal(queue_key_load(&f->cfg, &id, &key, err, sizeof err), 1);
	assert_int_equal(queue_key_store(&f->cfg, "bad\nid", "K", err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test_setup_teardown(test_put_newest_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_put_after_newer_attempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_after_newer_attempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempt_waits_for_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_seq_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_cache, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
