/* SPDX-License-Identifier: MIT */
/* Unit tests: the arguments on the pam_isc.so line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "module_args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			return false;
	return true;
}

static void test_defaults(void **state)
{
	struct module_args args;
	char err[256] = "junk";

	(void)state;
	assert_int_equal(module_args_parse(0, NULL, &args, err, sizeof err), 0);
	assert_string_equal(args.config_path, CONFIG_DEFAULT_PATH);
	assert_string_equal(args.helper_path, PAM_ISC_HELPER);
	assert_false(args.debug);
	assert_false(args.use_authtok);
	assert_string_equal(err, "");
}

static void test_each_argument(void **state)
{
	const char *argv[] = { "config=/srv/pam_isc.conf", "helper=/opt/pam_isc/helper", "debug",
			       "use_authtok" };
	struct module_args args;
	char err[256];

	(void)state;
	assert_int_equal(module_args_parse(1, argv, &args, err, sizeof err), 0);
	assert_string_equal(args.config_path, "/srv/pam_isc.conf");
	assert_string_equal(args.helper_path, PAM_ISC_HELPER);
	assert_false(args.debug);

	assert_int_equal(module_args_parse(1, argv + 1, &args, err, sizeof err), 0);
	assert_string_equal(args.config_path, CONFIG_DEFAULT_PATH);
	assert_string_equal(args.helper_path, "/opt/pam_isc/helper");

	assert_int_equal(module_args_parse(1, argv + 2, &args, err, sizeof err), 0);
	assert_true(args.debug);
	assert_false(args.use_authtok);

	assert_int_equal(module_args_parse(1, argv + 3, &args, err, sizeof err), 0);
	assert_false(args.debug);
	assert_true(args.use_authtok);

	assert_int_equal(module_args_parse(ARGC(argv), argv, &args, err, sizeof err), 0);
	assert_string_equal(args.config_path, "/srv/pam_isc.conf");
	assert_string_equal(args.helper_path, "/opt/pam_isc/helper");
	assert_true(args.debug);
	assert_true(args.use_authtok);
}

static void test_later_argument_wins(void **state)
{
	const char *argv[] = { "config=/a.conf", "config=/b.conf" };
	struct module_args args;
	char err[256];

	(void)state;
	assert_int_equal(module_args_parse(ARGC(argv), argv, &args, err, sizeof err), 0);
	assert_string_equal(args.config_path, "/b.conf");
}

static void expect_error(const char *arg, const char *want)
{
	const char *argv[] = { "debug", arg };
	struct module_args args;
	char err[256];

	assert_int_equal(module_args_parse(ARGC(argv), argv, &args, err, sizeof err), -1);
	assert_string_equal(err, want);
}

static void test_unknown_argument(void **state)
{
	(void)state;
	expect_error("use_first_pass", "unknown module argument 'use_first_pass'");
	expect_error("debug=1", "unknown module argument 'debug=1'");
	expect_error("config", "unknown module argument 'config'");
	expect_error("Debug", "unknown module argument 'Debug'");
	expect_error("", "unknown module argument ''");
}

static void test_relative_paths_refused(void **state)
{
	(void)state;
	expect_error("config=etc/pam_isc.conf",
		     "path must be absolute in module argument 'config=etc/pam_isc.conf'");
	expect_error("helper=./pam_isc_helper",
		     "path must be absolute in module argument 'helper=./pam_isc_helper'");
}

static void test_empty_values_refused(void **state)
{
	(void)state;
	expect_error("config=", "empty value in module argument 'config='");
	expect_error("helper=", "empty value in module argument 'helper='");
}

static void test_control_characters_give_clean_message(void **state)
{
	const char *argv[] = { "\x1b[2J\r\nevent=forged\xe2\x80\xae" };
	const char *path_argv[] = { "config=/etc/x\n.conf" };
	char long_arg[600];
	struct module_args args;
	char err[256];

	(void)state;
	assert_int_equal(module_args_parse(1, argv, &args, err, sizeof err), -1);
	/* Split so that "??'" is not read as a C11 trigraph. */
	assert_string_equal(err, "unknown module argument '?[2J??event=forged???"
				 "'");

	assert_int_equal(module_args_parse(1, path_argv, &args, err, sizeof err), -1);
	assert_string_equal(err, "control character in module argument 'config=/etc/x?.conf'");

	/* Long arguments are cut, and the message still fits. */
	memset(long_arg, 'x', sizeof long_arg - 1);
	long_arg[sizeof long_arg - 1] = '\0';
	argv[0] = long_arg;
	assert_int_equal(module_args_parse(1, argv, &args, err, sizeof err), -1);
	assert_true(strlen(err) < 120);
	assert_non_null(strstr(err, "xxx...'"));
	assert_true(printable_ascii(err));

	/* A small error buffer still gets a terminated message. */
	assert_int_equal(module_args_parse(1, argv, &args, err, 10), -1);
	assert_string_equal(err, "unknown m");
}

static void test_argument_descriptions(void **state)
{
	const char *want[] = { "config=", "helper=", "debug", "use_authtok" };
	size_t n = 0;

	(void)state;
	for (const struct module_arg_desc *d = module_arg_descs; d->name; d++, n++) {
		assert_true(n < ARGC(want));
		assert_string_equal(d->name, want[n]);
		assert_non_null(d->description);
		assert_true(strlen(d->description) > 20);
		assert_true(printable_ascii(d->description));
	}
	assert_int_equal(n, ARGC(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_each_argument),
		cmocka_unit_test(test_later_argument_wins),
		cmocka_unit_test(test_unknown_argument),
		cmocka_unit_test(test_relative_paths_refused),
		cmocka_unit_test(test_empty_values_refused),
		cmocka_unit_test(test_control_characters_give_clean_message),
		cmocka_unit_test(test_argument_descriptions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
