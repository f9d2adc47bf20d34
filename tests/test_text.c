/* Unit tests: text_has_control, the one check for control characters in
 * text from outside, and the rule each reader applies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "module_args.h"
#include "proto.h"
#include "text.h"

static void test_plain_text(void **state)
{
	(void)state;
	assert_false(text_has_control("", 0));
	assert_false(text_has_control("alice", 0));
	assert_false(text_has_control("Linux Hosts = \"x\" ~!", 0));
	/* Bytes from 0x80 up are not control characters here (UTF-8). */
	assert_false(text_has_control("J\xc3\xb6rg \xe2\x82\xac", 0));
	assert_false(text_has_control("\x80\x9f\xff", 0));
}

static void test_every_control_byte(void **state)
{
	char s[4];

	(void)state;
	for (int c = 1; c < 0x20; c++) {
		snprintf(s, sizeof s, "a%cb", c);
		assert_true(text_has_control(s, 0));
		/* A tab only where the caller allows it. */
		assert_int_equal(text_has_control(s, TEXT_ALLOW_TAB), c != '\t');
	}
	assert_true(text_has_control("a\x7f", 0));
	assert_true(text_has_control("a\x7f", TEXT_ALLOW_TAB));
	assert_true(text_has_control("\n", TEXT_ALLOW_TAB));
	assert_true(text_has_control("end\r", 0));
	assert_false(text_has_control("\t", TEXT_ALLOW_TAB));
}

/* The readers keep their rules: a tab is a blank in a configuration value,
 * and refused in a module argument, a user name and a protocol line. */
static void test_readers(void **state)
{
	static const char good[] = "api_url = https://t.example.com\n"
				   "client_id = id\n"
				   "client_secret = s\n"
				   "source_name = a\tb\n";
	static const char bad[] = "api_url = https://t.example.com\n"
				  "client_id = id\n"
				  "client_secret = s\n"
				  "source_name = a\x01"
				  "b\n";
	struct config cfg;
	struct config_error err;
	struct module_args args;
	const char *argv_tab[] = { "helper=/usr/lib/a\tb" };
	char msg[256];

	(void)state;
	assert_int_equal(config_parse_buffer("t.conf", good, strlen(good), &cfg, &err), 0);
	assert_string_equal(cfg.source_name, "a\tb");
	config_free(&cfg);
	assert_int_equal(config_parse_buffer("t.conf", bad, strlen(bad), &cfg, &err), -1);
	assert_non_null(strstr(err.message, "control character"));

	assert_int_equal(module_args_parse(1, argv_tab, &args, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "control character"));

	assert_false(proto_user_name_valid("al\tice"));
	assert_false(proto_user_name_valid("alice\x7f"));
	assert_true(proto_user_name_valid("al ice"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_every_control_byte),
		cmocka_unit_test(test_readers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
