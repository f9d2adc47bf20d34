/* SPDX-License-Identifier: MIT */
/* Unit tests: the helper's files under runtime_dir (token cache, pending
 * list): modes, atomic replacement, refusal of foreign or loose files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "follower.h"
#include "fsutil.h"
#include "token_cache.h"

struct fixture {
	char dir[PATH_MAX];
	struct config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/pam_isc_state.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	f->cfg.runtime_dir = f->dir;
	f->cfg.api_url = "https://tenant.example";
	f->cfg.client_id = "client-1";
	f->cfg.status_interval = 2;
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

static void test_token_round_trip(void **state)
{
	struct fixture *f = *state;
	struct secret tok = { 0 };
	char err[256], path[PATH_MAX + 8];
	struct stat st;

	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), 1);
	assert_int_equal(token_cache_store(&f->cfg, 1000, "tok-abc", 749, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/token", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), 0);
	assert_string_equal((char *)tok.data, "tok-abc");
	secret_clear(&tok);
	/* Stale TOKEN_CACHE_MARGIN seconds before ISC's expiry. */
	assert_int_equal(
		token_cache_load(&f->cfg, 1000 + 749 - TOKEN_CACHE_MARGIN, &tok, err, sizeof err),
		1);
	assert_int_equal(token_cache_load(&f->cfg, 1000 + 749 - TOKEN_CACHE_MARGIN - 1, &tok, err,
					  sizeof err),
			 0);
	secret_clear(&tok);
	token_cache_clear(&f->cfg);
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), 1);
}

static void test_token_not_sent_to_other_tenant(void **state)
{
	struct fixture *f = *state;
	struct secret tok = { 0 };
	char err[256];

	assert_int_equal(token_cache_store(&f->cfg, 1000, "tok-abc", 749, err, sizeof err), 0);
	f->cfg.api_url = "https://other.example";
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), 1);
	f->cfg.api_url = "https://tenant.example";
	f->cfg.client_id = "client-2";
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), 1);
}

static void test_short_lived_token_margin(void **state)
{
	struct fixture *f = *state;
	struct secret tok = { 0 };
	char err[256];

	/* A 10 s token is used for its first half only. */
	assert_int_equal(token_cache_store(&f->cfg, 1000, "t", 10, err, sizeof err), 0);
	assert_int_equal(token_cache_load(&f->cfg, 1004, &tok, err, sizeof err), 0);
	secret_clear(&tok);
	assert_int_equal(token_cache_load(&f->cfg, 1005, &tok, err, sizeof err), 1);
}

static void test_loose_files_refused(void **state)
{
	struct fixture *f = *state;
	struct secret tok = { 0 };
	char err[256] = "", path[PATH_MAX + 16], target[PATH_MAX + 16];

	assert_int_equal(token_cache_store(&f->cfg, 1000, "tok", 749, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/token", f->dir);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), -1);
	assert_non_null(strstr(err, "0600"));
	/* A symlink planted in place of the cache is not followed. */
	snprintf(target, sizeof target, "%s/elsewhere", f->dir);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(chmod(target, 0600), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(token_cache_load(&f->cfg, 1000, &tok, err, sizeof err), -1);
	/* A runtime_dir open to others is refused, not repaired. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(fsutil_ensure_private_dir(f->dir, err, sizeof err), -1);
	assert_int_equal(token_cache_store(&f->cfg, 1000, "tok", 749, err, sizeof err), -1);
	assert_int_equal(chmod(f->dir, 0700), 0);
}

static void test_enqueue(void **state)
{
	struct fixture *f = *state;
	char err[256], path[PATH_MAX + 64], *text = NULL;
	size_t len;
	struct stat st;

	assert_int_equal(
		follower_enqueue(&f->cfg, "089899f13a8f4da7", "alice", 1234, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/pending", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof path, "%s/pending/089899f13a8f4da7", f->dir);
	assert_int_equal(fsutil_read_private(path, 1024, &text, &len, err, sizeof err), 0);
	assert_string_equal(text, "user=alice\nsince=1234\n");
	free(text);
	/* Names that could escape the directory never become file names. */
	assert_int_equal(follower_enqueue(&f->cfg, "../token", "alice", 1, err, sizeof err), -1);
	assert_int_equal(follower_enqueue(&f->cfg, "abc", "a/b", 1, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_not_sent_to_other_tenant, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_lived_token_margin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
