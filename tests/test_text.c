/* SPDX-License-Identifier: MIT */
/* Unit tests: text_has_control, the one check for control characters in
 * text from outside, and the rule each reader applies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
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

/* ---- text from the network on a terminal ---- */

static void expect(const char *in, const char *want)
{
	char out[256];

	assert_int_equal(text_for_terminal(in, out, sizeof out), 0);
	assert_string_equal(out, want);
}

/* No byte a terminal acts on: no C0 control, no DEL, no C1 control as a
 * raw byte or as UTF-8. */
static void assert_inert(const char *shown)
{
	const unsigned char *s = (const unsigned char *)shown;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] < 0x20 || s[i] == 0x7F)
			fail_msg("control byte 0x%02x at %zu", s[i], i);
		if (s[i] == 0xC2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
			fail_msg("C1 control U+%04X at %zu", s[i + 1], i);
		if (s[i] >= 0x80 && text_utf8_len(s + i, strlen(shown) - i) == 0)
			fail_msg("not UTF-8 at %zu", i);
		if (s[i] >= 0x80)
			i += text_utf8_len(s + i, strlen(shown) - i) - 1;
	}
}

static void test_printable_kept(void **state)
{
	(void)state;
	expect("", "");
	expect(NULL, "");
	expect("uid=alice,ou=people,dc=example,dc=com", "uid=alice,ou=people,dc=example,dc=com");
	expect("CN=Smith\\, John", "CN=Smith\\, John");
	/* Latin, CJK, emoji: printable UTF-8 stays as it is. */
	expect("Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
	       "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	/* U+00A0, the first character after the C1 block. */
	expect("a\xc2\xa0"
	       "b",
	       "a\xc2\xa0"
	       "b");
}

static void test_escape_sequences(void **state)
{
	(void)state;
	/* Retitle the terminal; clear the screen. */
	expect("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07");
	expect("\x1b[2J", "\\x1b[2J");
	expect("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
	/* Line breaks would forge a line of output; tab, CR, NUL's
	 * neighbours and DEL are shown too. */
	expect("ok\nstatus FINISHED", "ok\\x0astatus FINISHED");
	expect("a\tb\rc\x01\x1f\x7f", "a\\x09b\\x0dc\\x01\\x1f\\x7f");
}

static void test_c1_and_bidi(void **state)
{
	(void)state;
	/* C1 as UTF-8: CSI, NEL, the first and the last. */
	expect("\xc2\x9b"
	       "2J",
	       "\\u009b2J");
	expect("a\xc2\x85"
	       "b",
	       "a\\u0085b");
	expect("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
	/* Reordering and line-breaking characters. */
	expect("abc\xe2\x80\xae"
	       "cba",
	       "abc\\u202ecba");
	expect("\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069");
	expect("\xe2\x80\xa8\xe2\x80\x8f\xd8\x9c", "\\u2028\\u200f\\u061c");
}

static void test_not_utf8(void **state)
{
	(void)state;
	/* A raw C1 byte is CSI to an 8-bit terminal. */
	expect("\x9b"
	       "2J",
	       "\\x9b2J");
	expect("\xff\xfe", "\\xff\\xfe");
	expect("\xc0\xaf", "\\xc0\\xaf");                   /* overlong '/' */
	expect("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* surrogate */
	expect("\xe2\x82", "\\xe2\\x82");                   /* cut short */
	expect("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
}

/* Every one- and two-byte text comes out inert. */
static void test_every_short_text(void **state)
{
	char in[3] = "", out[32];

	(void)state;
	for (unsigned int a = 1; a < 256; a++) {
		for (unsigned int b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			assert_int_equal(text_for_terminal(in, out, sizeof out), 0);
			assert_inert(out);
		}
	}
}

static void test_cut(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(text_for_terminal("abcdef", out, 6), 1);
	assert_string_equal(out, "ab...");
	assert_int_equal(text_for_terminal("abcde", out, 6), 0);
	assert_string_equal(out, "abcde");
	/* An escape is never split. */
	assert_int_equal(text_for_terminal("\x1b\x1b\x1b", out, 8), 1);
	assert_string_equal(out, "\\x1b...");
	assert_int_equal(text_for_terminal("\x1b\x1b", out, 7), 1);
	assert_string_equal(out, "...");
	/* Nor a character. */
	assert_int_equal(text_for_terminal("\xe6\x97\xa5\xe6\x9c\xac", out, 5), 1);
	assert_string_equal(out, "...");
	assert_int_equal(text_for_terminal("\xe6\x97\xa5", out, 4), 0);
	assert_string_equal(out, "\xe6\x97\xa5");
	/* Too small for the mark: as much of it as fits. */
	assert_int_equal(text_for_terminal("abcdef", out, 3), 1);
	assert_string_equal(out, "..");
	assert_int_equal(text_for_terminal("abcdef", out, 1), 1);
	assert_string_equal(out, "");
	assert_int_equal(text_for_terminal("abc", NULL, 8), -1);
	assert_int_equal(text_for_terminal("abc", out, 0), -1);
}

static void test_utf8_len(void **state)
{
	(void)state;
	assert_int_equal(text_utf8_len((const unsigned char *)"a", 1), 1);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xc3\xab", 2), 2);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xc3\xab", 1), 0);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xe6\x97\xa5", 3), 3);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(text_utf8_len((const unsigned char *)"\x80", 1), 0);
	assert_int_equal(text_utf8_len((const unsigned char *)"", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_every_control_byte),
		cmocka_unit_test(test_readers),
		cmocka_unit_test(test_printable_kept),
		cmocka_unit_test(test_escape_sequences),
		cmocka_unit_test(test_c1_and_bidi),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_every_short_text),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_utf8_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
