/* SPDX-License-Identifier: MIT */
/* Unit tests: account selection and the follower's poll schedule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "change.h"
#include "follower.h"

static struct isc_password_info info_with(struct isc_account *accounts, size_t n)
{
	struct isc_password_info info = { 0 };
	info.accounts = accounts;
	info.n_accounts = n;
	return info;
}

static void test_single_account_taken_whatever_its_name(void **state)
{
	struct isc_account acc[] = { { "uid=x", "something-else" } };
	struct isc_password_info info = info_with(acc, 1);
	size_t idx = 99;

	(void)state;
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_CHOSEN);
	assert_int_equal(idx, 0);
}

static void test_no_account(void **state)
{
	struct isc_password_info info = info_with(NULL, 0);
	size_t idx;

	(void)state;
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_NONE);
}

static void test_several_accounts_pick_by_name(void **state)
{
	struct isc_account acc[] = { { "uid=alice-admin", "alice-admin" },
				     { "uid=alice", "alice" },
				     { "uid=other", NULL } };
	struct isc_password_info info = info_with(acc, 3);
	size_t idx = 99;

	(void)state;
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_CHOSEN);
	assert_int_equal(idx, 1);
	assert_int_equal(change_select_account(&info, "alice-admin", &idx), ACCOUNT_CHOSEN);
	assert_int_equal(idx, 0);
}

static void test_several_accounts_none_or_two_match(void **state)
{
	struct isc_account none[] = { { "a", "alice-a" }, { "b", "alice-b" } };
	struct isc_account twice[] = { { "a", "alice" }, { "b", "alice" } };
	struct isc_account nulls[] = { { "a", NULL }, { "b", NULL } };
	struct isc_password_info info;
	size_t idx;

	(void)state;
	info = info_with(none, 2);
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_AMBIGUOUS);
	info = info_with(twice, 2);
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_AMBIGUOUS);
	info = info_with(nulls, 2);
	assert_int_equal(change_select_account(&info, "alice", &idx), ACCOUNT_AMBIGUOUS);
}

static void test_poll_schedule(void **state)
{
	struct config cfg = { .status_interval = 2 };
	unsigned total = 0, polls = 0;

	(void)state;
	assert_int_equal(follower_poll_delay(&cfg, 0), 2);
	assert_int_equal(follower_poll_delay(&cfg, 1), 4);
	assert_int_equal(follower_poll_delay(&cfg, 3), 16);
	assert_int_equal(follower_poll_delay(&cfg, 40), FOLLOWER_MAX_INTERVAL);
	/* ISC retries unreachable sources for about two hours: following a
	 * change that long must stay cheap (the benchmark's target: <= 20). */
	while (total < 7200)
		total += follower_poll_delay(&cfg, polls++);
	assert_true(polls <= 20);
	/* A change that finishes after a minute costs a handful of polls. */
	for (total = 0, polls = 0; total < 60;)
		total += follower_poll_delay(&cfg, polls++);
	assert_true(polls <= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_account_taken_whatever_its_name),
		cmocka_unit_test(test_no_account),
		cmocka_unit_test(test_several_accounts_pick_by_name),
		cmocka_unit_test(test_several_accounts_none_or_two_match),
		cmocka_unit_test(test_poll_schedule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
