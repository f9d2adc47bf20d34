/* SPDX-License-Identifier: MIT */
/* Unit tests: the audit login uid, parsed strictly and read bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loginuid.h"

static void expect_parse(const char *text, uint32_t want)
{
	uint32_t got = 7;

	if (loginuid_parse(text, strlen(text), &got) != 0)
		fail_msg("\"%s\" was refused", text);
	assert_true(got == want);
}

static void expect_refused_len(const char *text, size_t len)
{
	uint32_t got = 7;

	errno = 0;
	if (loginuid_parse(text, len, &got) != -1)
		fail_msg("\"%.*s\" was taken", (int)len, text);
	assert_int_equal(errno, EINVAL);
	assert_true(got == 7); /* untouched */
}

static void expect_refused(const char *text)
{
	expect_refused_len(text, strlen(text));
}

static void test_parse(void **state)
{
	(void)state;
	expect_parse("0", 0);
	expect_parse("1000", 1000);
	expect_parse("4294967294", 4294967294U);
	expect_parse("4294967295", LOGINUID_UNSET);
	/* Only what the kernel writes: "%u". */
	expect_refused("");
	expect_refused("4294967296");
	expect_refused("99999999999");
	expect_refused("01000");
	expect_refused("00");
	expect_refused("-1");
	expect_refused("+1000");
	expect_refused(" 1000");
	expect_refused("1000 ");
	expect_refused("1000\n");
	expect_refused("0x3e8");
	expect_refused("1e3");
	expect_refused("10a0");
	expect_refused_len("10\0", 3);
	/* len bounds the text: "1000" read as its first two bytes. */
	expect_parse("10", 10);
	{
		uint32_t got = 0;
		assert_int_equal(loginuid_parse("1000", 2, &got), 0);
		assert_true(got == 10);
	}
	assert_int_equal(loginuid_parse(NULL, 0, NULL), -1);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_read(void **state)
{
	char dir[] = "/tmp/test_loginuid.XXXXXX", path[64], link[64];
	uint32_t got = 7;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/loginuid", dir);
	snprintf(link, sizeof link, "%s/link", dir);

	write_file(path, "1001", 4);
	assert_int_equal(loginuid_read(path, &got), 0);
	assert_true(got == 1001);
	write_file(path, "4294967295", 10);
	assert_int_equal(loginuid_read(path, &got), 0);
	assert_true(got == LOGINUID_UNSET);

	/* Longer than a login uid can be: refused without reading on. */
	got = 7;
	write_file(path, "12345678901234567890", 20);
	errno = 0;
	assert_int_equal(loginuid_read(path, &got), -1);
	assert_int_equal(errno, EFBIG);
	write_file(path, "10000000000", 11);
	assert_int_equal(loginuid_read(path, &got), -1);
	assert_int_equal(errno, EFBIG);
	write_file(path, "1001\n", 5);
	assert_int_equal(loginuid_read(path, &got), -1);
	assert_int_equal(errno, EINVAL);
	write_file(path, "", 0);
	assert_int_equal(loginuid_read(path, &got), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(got == 7);

	/* A symbolic link as the last component is not followed. */
	write_file(path, "1001", 4);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(loginuid_read(link, &got), -1);
	assert_int_equal(errno, ELOOP);
	/* No file: a kernel without audit support. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(loginuid_read(path, &got), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(got == 7);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rmdir(dir), 0);

	/* This process's own, when the kernel has one: whatever it is, it
	 * parses. */
	if (access(LOGINUID_SELF_PATH, R_OK) == 0)
		assert_int_equal(loginuid_read(LOGINUID_SELF_PATH, &got), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
