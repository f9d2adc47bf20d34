/* SPDX-License-Identifier: MIT */
/* Unit tests: log line formatting, value sanitising and the debug filter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

/* The grammar every line must follow, whatever the values were:
 * key=value pairs separated by single spaces, each value either bare
 * (printable ASCII but space " \ =) or quoted with only \" \\ and \xNN
 * escapes, the quotes closed; nothing outside printable ASCII at all. */
static bool well_formed(const char *line)
{
	const char *p = line;

	if (*p == '\0')
		return true;
	for (;;) {
		if (!(*p >= 'a' && *p <= 'z') && *p != '_')
			return false;
		while ((*p >= 'a' && *p <= 'z') || *p == '_')
			p++;
		if (*p++ != '=')
			return false;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p < ' ' || *p > '~')
					return false;
				if (*p != '\\')
					continue;
				p++;
				if (*p == 'x') {
					if (!p[1] || !strchr("0123456789abcdef", p[1]) || !p[2] ||
					    !strchr("0123456789abcdef", p[2]))
						return false;
					p += 2;
				} else if (*p != '"' && *p != '\\') {
					return false;
				}
			}
			p++;
		} else {
			if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\' || *p == '=')
				return false;
			while (*p > ' ' && *p <= '~' && *p != '"' && *p != '\\' && *p != '=')
				p++;
		}
		if (*p == '\0')
			return true;
		if (*p++ != ' ')
			return false;
	}
}

/* The checker itself must catch what it is there to catch. */
static void test_well_formed_rejects_broken_lines(void **state)
{
	(void)state;
	assert_true(well_formed("event=x k=\"a \\x0a\\\"\\\\\" j=b"));
	assert_false(well_formed("event=x k=\"abc"));
	assert_false(well_formed("event=x k=\"a\\x0\""));
	assert_false(well_formed("event=x k=\"a\\x0"));
	assert_false(well_formed("event=x k=\"a\\"));
	assert_false(well_formed("event=x k=\"a\\n\""));
	assert_false(well_formed("event=x k=a\nevent=y"));
	assert_false(well_formed("event=x k=caf\xc3\xa9"));
	assert_false(well_formed("event=x k="));
	assert_false(well_formed("event=x  k=v"));
	assert_false(well_formed("event=x k=v "));
}

static void expect_line(const char *want, const char *key, const char *value)
{
	char buf[LOG_LINE_MAX];
	size_t n = log_format(buf, sizeof buf, "test", key, value, NULL);

	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(buf));
	assert_true(well_formed(buf));
}

static void test_plain_values(void **state)
{
	char buf[LOG_LINE_MAX];
	size_t n;

	(void)state;
	n = log_format(buf, sizeof buf, "accepted", "user", "alice", "request",
		       "089899f13a8f4da7824996191587bab9", "state", "IN_PROGRESS", NULL);
	assert_string_equal(buf, "event=accepted user=alice "
				 "request=089899f13a8f4da7824996191587bab9 state=IN_PROGRESS");
	assert_int_equal(n, strlen(buf));
	n = log_format(buf, sizeof buf, "start", NULL);
	assert_string_equal(buf, "event=start");
	assert_int_equal(n, 11);
	expect_line("event=test path=/v3/set-password?x:y,z", "path", "/v3/set-password?x:y,z");
}

static void test_values_needing_quotes(void **state)
{
	(void)state;
	expect_line("event=test source=\"Linux Hosts\"", "source", "Linux Hosts");
	expect_line("event=test k=\"a=b\"", "k", "a=b");
	expect_line("event=test k=\" \"", "k", " ");
	expect_line("event=test event=\"a b\"", "event", "a b");
}

static void test_quote_and_backslash_escaped(void **state)
{
	(void)state;
	expect_line("event=test k=\"say \\\"hi\\\"\"", "k", "say \"hi\"");
	expect_line("event=test k=\"a\\\\b\"", "k", "a\\b");
	expect_line("event=test k=\"\\\"\"", "k", "\"");
}

static void test_control_and_high_bytes_escaped(void **state)
{
	(void)state;
	/* A newline must never start a forged second line. */
	expect_line("event=test user=\"alice\\x0aevent=accepted user=root\"", "user",
		    "alice\nevent=accepted user=root");
	expect_line("event=test k=\"\\x1b[31mred\"", "k", "\x1b[31mred");
	expect_line("event=test k=\"a\\x09b\\x0d\"", "k", "a\tb\r");
	expect_line("event=test k=\"\\x7f\"", "k", "\x7f");
	expect_line("event=test k=\"caf\\xc3\\xa9\"", "k", "caf\xc3\xa9");
	/* U+202E RIGHT-TO-LEFT OVERRIDE */
	expect_line("event=test k=\"\\xe2\\x80\\xaeabc\"", "k",
		    "\xe2\x80\xae"
		    "abc");
	expect_line("event=test k=\"\\xff\\x80\\x01\"", "k", "\xff\x80\x01");
}

static void test_empty_value(void **state)
{
	(void)state;
	expect_line("event=test k=\"\"", "k", "");
}

static void test_null_value_skipped(void **state)
{
	char buf[LOG_LINE_MAX];

	(void)state;
	log_format(buf, sizeof buf, "x", "a", NULL, "b", "2", "c", NULL, NULL);
	assert_string_equal(buf, "event=x b=2");
}

static void test_long_values_cut(void **state)
{
	char value[LOG_VALUE_MAX + 100], want[LOG_LINE_MAX], buf[LOG_LINE_MAX];

	(void)state;
	/* Exactly LOG_VALUE_MAX: written whole. */
	memset(value, 'a', LOG_VALUE_MAX);
	value[LOG_VALUE_MAX] = '\0';
	snprintf(want, sizeof want, "event=test k=%s", value);
	expect_line(want, "k", value);

	/* One more: cut to LOG_VALUE_MAX and marked. */
	value[LOG_VALUE_MAX] = 'a';
	value[LOG_VALUE_MAX + 1] = '\0';
	snprintf(want, sizeof want, "event=test k=%.*s...", LOG_VALUE_MAX, value);
	expect_line(want, "k", value);

	/* Quoted: the marker goes inside the quotes. */
	memset(value, ' ', sizeof value - 1);
	value[sizeof value - 1] = '\0';
	log_format(buf, sizeof buf, "test", "k", value, NULL);
	assert_int_equal(strlen(buf), strlen("event=test k=\"") + LOG_VALUE_MAX + 4);
	assert_string_equal(buf + strlen(buf) - 4, "...\"");
	assert_true(well_formed(buf));

	/* The cut counts input bytes: 200 newlines are 800 escaped bytes. */
	memset(value, '\n', sizeof value - 1);
	log_format(buf, sizeof buf, "test", "k", value, NULL);
	assert_int_equal(strlen(buf), strlen("event=test k=\"") + 4 * LOG_VALUE_MAX + 4);
	assert_true(well_formed(buf));
}

static const char *nasty_value(void)
{
	return "\x01\"\\\xe2\x80\xae x=y\n\x1b\x7f"
	       "abc \x80\x80\x80\x80 \"\"\\\\ zz";
}

static void test_small_buffer_never_cuts_an_escape(void **state)
{
	char buf[256];

	(void)state;
	for (size_t size = 1; size <= 200; size++) {
		size_t n;

		memset(buf, 'Z', sizeof buf);
		n = log_format(buf, size, "overflow", "user", "alice", "text", nasty_value(),
			       "more", "a b", "last", "end", NULL);
		assert_true(n < size);
		assert_int_equal(strlen(buf), n);
		assert_true(well_formed(buf));
		for (size_t i = size; i < sizeof buf; i++)
			assert_int_equal(buf[i], 'Z');
	}
}

static void test_small_buffer_marks_cut_value(void **state)
{
	char buf[32];

	(void)state;
	log_format(buf, sizeof buf, "x", "text", "\x01\x01\x01\x01\x01\x01\x01\x01", NULL);
	/* "event=x text=\"" is 14 bytes; 31 usable: 3 escapes, "...", quote. */
	assert_string_equal(buf, "event=x text=\"\\x01\\x01\\x01...\"");
	log_format(buf, sizeof buf, "x", "text", "abcdefghijklmnopqrstuvwxyz", NULL);
	assert_string_equal(buf, "event=x text=abcdefghijklmno...");
	/* A pair with no room for even key=... is left out entirely. */
	log_format(buf, sizeof buf, "x", "user", "alice", "text", "abcdef", NULL);
	assert_string_equal(buf, "event=x user=alice text=abcdef");
	log_format(buf, 24, "x", "user", "alice", "text", "abcdef", NULL);
	assert_string_equal(buf, "event=x user=alice");
	assert_true(well_formed(buf));
}

static void test_zero_size_buffer(void **state)
{
	char buf[4] = "abc";

	(void)state;
	assert_int_equal(log_format(buf, 0, "x", "k", "v", NULL), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(log_format(buf, 1, "x", "k", "v", NULL), 0);
	assert_string_equal(buf, "");
}

struct capture {
	int calls;
	int priority;
	char line[LOG_LINE_MAX];
};

static void capture_sink(void *sink_ctx, int priority, const char *line)
{
	struct capture *c = sink_ctx;

	c->calls++;
	c->priority = priority;
	snprintf(c->line, sizeof c->line, "%s", line);
}

static void test_debug_lines_dropped_unless_debug(void **state)
{
	struct capture cap = { 0 };
	struct log_ctx lc = { .sink = capture_sink, .sink_ctx = &cap, .debug = false };

	(void)state;
	log_event(&lc, LOG_DEBUG, "http", "status", "200", NULL);
	assert_int_equal(cap.calls, 0);
	log_event(&lc, LOG_INFO, "info", NULL);
	log_event(&lc, LOG_ERR, "error", "user", "bob", NULL);
	assert_int_equal(cap.calls, 2);
	assert_int_equal(cap.priority, LOG_ERR);
	assert_string_equal(cap.line, "event=error user=bob");

	lc.debug = true;
	log_event(&lc, LOG_DEBUG, "http", "status", "200", NULL);
	assert_int_equal(cap.calls, 3);
	assert_int_equal(cap.priority, LOG_DEBUG);
	assert_string_equal(cap.line, "event=http status=200");
}

static void test_log_event_line_bounded(void **state)
{
	struct capture cap = { 0 };
	struct log_ctx lc = { .sink = capture_sink, .sink_ctx = &cap, .debug = false };
	char value[LOG_VALUE_MAX + 1];

	(void)state;
	memset(value, '\n', LOG_VALUE_MAX);
	value[LOG_VALUE_MAX] = '\0';
	/* 4 x 800 escaped bytes: far more than a line holds. */
	log_event(&lc, LOG_WARNING, "big", "a", value, "b", value, "c", value, "d", value, NULL);
	assert_int_equal(cap.calls, 1);
	assert_true(strlen(cap.line) < LOG_LINE_MAX);
	assert_true(well_formed(cap.line));
	assert_non_null(strstr(cap.line, "...\""));
}

static void test_no_sink_is_harmless(void **state)
{
	struct log_ctx lc = { .sink = NULL, .sink_ctx = NULL, .debug = true };

	(void)state;
	log_event(&lc, LOG_ERR, "x", "k", "v", NULL);
	log_event(NULL, LOG_ERR, "x", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed_rejects_broken_lines),
		cmocka_unit_test(test_plain_values),
		cmocka_unit_test(test_values_needing_quotes),
		cmocka_unit_test(test_quote_and_backslash_escaped),
		cmocka_unit_test(test_control_and_high_bytes_escaped),
		cmocka_unit_test(test_empty_value),
		cmocka_unit_test(test_null_value_skipped),
		cmocka_unit_test(test_long_values_cut),
		cmocka_unit_test(test_small_buffer_never_cuts_an_escape),
		cmocka_unit_test(test_small_buffer_marks_cut_value),
		cmocka_unit_test(test_zero_size_buffer),
		cmocka_unit_test(test_debug_lines_dropped_unless_debug),
		cmocka_unit_test(test_log_event_line_bounded),
		cmocka_unit_test(test_no_sink_is_harmless),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
