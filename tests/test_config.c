/* SPDX-License-Identifier: MIT */
/* Unit tests: the configuration file, the client secret, formats, skip list,
 * ignore_changes_by. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* The smallest valid file: the required keys and the inline secret. */
static const char *const base_lines[][2] = {
	{ "api_url", "https://acme.api.identitynow.com" },
	{ "client_id", "pam-isc" },
	{ "client_secret", "s3cret" },
	{ "source_name", "Linux Hosts" },
};
#define N_BASE (sizeof base_lines / sizeof base_lines[0])
#define BASE_TEXT                                      \
	"api_url = https://acme.api.identitynow.com\n" \
	"client_id = pam-isc\n"                        \
	"client_secret = s3cret\n"                     \
	"source_name = Linux Hosts\n"

static const struct config zero_config;

static int parse_len(const char *text, size_t len, struct config *cfg, struct config_error *err)
{
	return config_parse_buffer("test.conf", text, len, cfg, err);
}

static int parse(const char *text, struct config *cfg, struct config_error *err)
{
	return parse_len(text, strlen(text), cfg, err);
}

/* BASE_TEXT (lines 1 to 4) followed by extra (from line 5). */
static int parse_with(const char *extra, struct config *cfg, struct config_error *err)
{
	char text[16384];

	assert_true((size_t)snprintf(text, sizeof text, "%s%s", BASE_TEXT, extra) < sizeof text);
	return parse(text, cfg, err);
}

/* base_lines without the ones named (NULL-terminated), appended to out. */
static void append_base_without(char *out, size_t size, const char *skip1, const char *skip2)
{
	for (size_t i = 0; i < N_BASE; i++) {
		size_t len = strlen(out);
		if ((skip1 && strcmp(base_lines[i][0], skip1) == 0) ||
		    (skip2 && strcmp(base_lines[i][0], skip2) == 0))
			continue;
		snprintf(out + len, size - len, "%s = %s\n", base_lines[i][0], base_lines[i][1]);
	}
}

static void check_error_len(const char *text, size_t len, unsigned line, const char *key,
			    const char *message_part)
{
	struct config cfg;
	struct config_error err;

	if (parse_len(text, len, &cfg, &err) != -1)
		fail_msg("parsed, but expected an error: %s", text);
	if (err.line != line || strcmp(err.key, key) != 0 ||
	    (message_part && !strstr(err.message, message_part)) ||
	    strcmp(err.file, "test.conf") != 0)
		fail_msg("for:\n%s\nwant line %u key '%s' message ~'%s'\ngot line %u key '%s' "
			 "message '%s'",
			 text, line, key, message_part ? message_part : "", err.line, err.key,
			 err.message);
	/* On error cfg is left freed and zeroed. */
	assert_memory_equal(&cfg, &zero_config, sizeof cfg);
}

static void check_error(const char *text, unsigned line, const char *key, const char *message_part)
{
	check_error_len(text, strlen(text), line, key, message_part);
}

static void check_error_with(const char *extra, unsigned line, const char *key,
			     const char *message_part)
{
	char text[16384];

	assert_true((size_t)snprintf(text, sizeof text, "%s%s", BASE_TEXT, extra) < sizeof text);
	check_error(text, line, key, message_part);
}

/* ---- defaults and values -------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(parse(BASE_TEXT, &cfg, &err), 0);
	assert_string_equal(cfg.api_url, "https://acme.api.identitynow.com");
	assert_string_equal(cfg.api_version, "v3");
	assert_int_equal(cfg.api_form, CONFIG_API_PREFIX);
	assert_string_equal(cfg.client_id, "pam-isc");
	assert_null(cfg.client_secret_file);
	assert_string_equal((const char *)cfg.client_secret.data, "s3cret");
	assert_int_equal(cfg.client_secret.len, 6);
	assert_string_equal(cfg.source_name, "Linux Hosts");
	assert_string_equal(cfg.user_name_format, "%u");
	assert_string_equal(cfg.account_name_format, "%u");
	assert_null(cfg.ca_file);
	assert_int_equal(cfg.timeout, 10);
	assert_int_equal(cfg.status_timeout, 7200);
	assert_int_equal(cfg.status_interval, 2);
	assert_int_equal(cfg.min_uid, 1000);
	assert_non_null(cfg.skip_users);
	assert_string_equal(cfg.skip_users[0], "root");
	assert_null(cfg.skip_users[1]);
	assert_string_equal(cfg.runtime_dir, "/run/pam_isc");
	assert_int_equal(cfg.on_error, CONFIG_ON_ERROR_QUEUE);
	assert_int_equal(cfg.prelim_check, 1);
	assert_string_equal(cfg.state_dir, "/var/lib/pam_isc");
	assert_true(cfg.queue_max_age == 604800);
	assert_null(cfg.ignore_changes_by.items);
	assert_int_equal(cfg.ignore_changes_by.n, 0);
	assert_int_equal(cfg.rate_limit.requests, 100);
	assert_int_equal(cfg.rate_limit.seconds, 10);
	assert_int_equal(cfg.queue_warn, 100);
	assert_null(cfg.metrics_file);
	config_free(&cfg);
	assert_memory_equal(&cfg, &zero_config, sizeof cfg);
}

static void test_every_key_set(void **state)
{
	static const char text[] = "api_url = https://tenant.api.identitynow.com/\n"
				   "api_version = beta\n"
				   "client_id = 2c9180835d2e5168015d32f890ca1581\n"
				   "client_secret_file = /etc/security/pam_isc.secret\n"
				   "source_name = Corp Linux = prod\n"
				   "user_name_format = %u@corp\n"
				   "account_name_format = corp\\%u%%\n"
				   "ca_file = /etc/pam_isc/ca.pem\n"
				   "timeout = 300\n"
				   "status_timeout = 604800\n"
				   "status_interval = 3600\n"
				   "min_uid = 4294967295\n"
				   "skip_users = root, daemon ,backup\n"
				   "runtime_dir = /var/lib/pam_isc\n"
				   "on_error = fail\n"
				   "prelim_check = no\n"
				   "state_dir = /srv/pam_isc\n"
				   "queue_max_age = 3600\n";
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal(cfg.api_url, "https://tenant.api.identitynow.com");
	assert_string_equal(cfg.api_version, "beta");
	assert_int_equal(cfg.api_form, CONFIG_API_PREFIX);
	assert_string_equal(cfg.client_id, "2c9180835d2e5168015d32f890ca1581");
	assert_string_equal(cfg.client_secret_file, "/etc/security/pam_isc.secret");
	assert_null(cfg.client_secret.data);
	assert_string_equal(cfg.source_name, "Corp Linux = prod");
	assert_string_equal(cfg.user_name_format, "%u@corp");
	assert_string_equal(cfg.account_name_format, "corp\\%u%%");
	assert_string_equal(cfg.ca_file, "/etc/pam_isc/ca.pem");
	assert_int_equal(cfg.timeout, 300);
	assert_int_equal(cfg.status_timeout, 604800);
	assert_int_equal(cfg.status_interval, 3600);
	assert_true(cfg.min_uid == 4294967295UL);
	assert_string_equal(cfg.skip_users[0], "root");
	assert_string_equal(cfg.skip_users[1], "daemon");
	assert_string_equal(cfg.skip_users[2], "backup");
	assert_null(cfg.skip_users[3]);
	assert_string_equal(cfg.runtime_dir, "/var/lib/pam_isc");
	assert_int_equal(cfg.on_error, CONFIG_ON_ERROR_FAIL);
	assert_int_equal(cfg.prelim_check, 0);
	assert_string_equal(cfg.state_dir, "/srv/pam_isc");
	assert_true(cfg.queue_max_age == 3600);
	config_free(&cfg);
}

static void test_api_versions(void **state)
{
	static const struct {
		const char *name;
		enum config_api_form form;
	} versions[] = {
		{ "v3", CONFIG_API_PREFIX },    { "beta", CONFIG_API_PREFIX },
		{ "v2024", CONFIG_API_PREFIX }, { "v2025", CONFIG_API_PREFIX },
		{ "v2026", CONFIG_API_PREFIX }, { "v1", CONFIG_API_SERVICE },
	};
	struct config cfg;
	struct config_error err;
	char line[64];

	(void)state;
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		snprintf(line, sizeof line, "api_version = %s\n", versions[i].name);
		assert_int_equal(parse_with(line, &cfg, &err), 0);
		assert_string_equal(cfg.api_version, versions[i].name);
		assert_int_equal(cfg.api_form, versions[i].form);
		config_free(&cfg);
	}
}

static void expect_url(const char *value, const char *want)
{
	char text[512] = "";
	struct config cfg;
	struct config_error err;

	snprintf(text, sizeof text, "api_url = %s\n", value);
	append_base_without(text, sizeof text, "api_url", NULL);
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal(cfg.api_url, want);
	config_free(&cfg);
}

static void test_url_forms(void **state)
{
	(void)state;
	expect_url("https://127.0.0.1:8443", "https://127.0.0.1:8443");
	expect_url("https://[::1]:8443/", "https://[::1]:8443");
	expect_url("https://acme.api.identitynow.com//", "https://acme.api.identitynow.com");
	expect_url("https://gw.example.com/isc/", "https://gw.example.com/isc");
}

static void expect_uint(const char *key, const char *value, unsigned long want)
{
	char line[128];
	struct config cfg;
	struct config_error err;
	unsigned long got;

	snprintf(line, sizeof line, "%s = %s\n", key, value);
	assert_int_equal(parse_with(line, &cfg, &err), 0);
	if (strcmp(key, "timeout") == 0)
		got = cfg.timeout;
	else if (strcmp(key, "status_timeout") == 0)
		got = cfg.status_timeout;
	else if (strcmp(key, "status_interval") == 0)
		got = cfg.status_interval;
	else if (strcmp(key, "queue_max_age") == 0)
		got = cfg.queue_max_age;
	else if (strcmp(key, "helper_linger") == 0)
		got = cfg.helper_linger;
	else
		got = cfg.min_uid;
	assert_true(got == want);
	config_free(&cfg);
}

static void test_number_bounds_accepted(void **state)
{
	(void)state;
	expect_uint("timeout", "1", 1);
	expect_uint("timeout", "300", 300);
	expect_uint("timeout", "010", 10);
	expect_uint("status_timeout", "1", 1);
	expect_uint("status_timeout", "604800", 604800);
	expect_uint("status_interval", "1", 1);
	expect_uint("status_interval", "3600", 3600);
	expect_uint("min_uid", "0", 0);
	expect_uint("min_uid", "4294967295", 4294967295UL);
	expect_uint("queue_max_age", "60", 60);
	expect_uint("queue_max_age", "31536000", 31536000);
	expect_uint("helper_linger", "0", 0);
	expect_uint("helper_linger", "600", 600);
}

/* on_error, prelim_check: each word, and the stored value. */
static void expect_choice(const char *key, const char *value, unsigned want)
{
	char line[128];
	struct config cfg;
	struct config_error err;

	snprintf(line, sizeof line, "%s = %s\n", key, value);
	assert_int_equal(parse_with(line, &cfg, &err), 0);
	assert_int_equal(strcmp(key, "on_error") == 0 ? cfg.on_error : cfg.prelim_check, want);
	config_free(&cfg);
}

static void test_choices(void **state)
{
	(void)state;
	expect_choice("on_error", "fail", CONFIG_ON_ERROR_FAIL);
	expect_choice("on_error", "ignore", CONFIG_ON_ERROR_IGNORE);
	expect_choice("on_error", "queue", CONFIG_ON_ERROR_QUEUE);
	expect_choice("prelim_check", "yes", 1);
	expect_choice("prelim_check", "no", 0);
}

/* KEY = VALUE on line 3 (after a comment and a blank line), then the rest of
 * the base file; the error must name line 3 and KEY. */
static void expect_bad_value(const char *key, const char *value, const char *message_part)
{
	char text[16384];

	snprintf(text, sizeof text, "# bad value\n\n%s = %s\n", key, value);
	/* client_secret_file replaces the inline secret: both at once is its own error. */
	append_base_without(text, sizeof text, key,
			    strcmp(key, "client_secret_file") == 0 ? "client_secret" : NULL);
	check_error(text, 3, key, message_part);
}

static void test_bad_values(void **state)
{
	static const char *const cases[][3] = {
		{ "api_url", "http://acme.api.identitynow.com", "https://" },
		{ "api_url", "ftp://acme", "https://" },
		{ "api_url", "HTTPS://acme", "https://" },
		{ "api_url", "acme.api.identitynow.com", "https://" },
		{ "api_url", "https://", "host" },
		{ "api_url", "https:///v3", "host" },
		{ "api_url", "https://:443", "host" },
		{ "api_url", "https://user:pw@acme.api.identitynow.com", "user information" },
		{ "api_url", "https://@acme", "user information" },
		{ "api_url", "https://acme.api.identitynow.com/?x=1", "query" },
		{ "api_url", "https://acme.api.identitynow.com#top", "fragment" },
		{ "api_url", "https://acme .api.identitynow.com", "whitespace" },
		{ "api_url", "https://acme/a\tb", "whitespace" },
		{ "api_version", "v4", "one of" },
		{ "api_version", "V3", "one of" },
		{ "api_version", "v2023", "one of" },
		{ "api_version", "v3 beta", "one of" },
		{ "client_secret_file", "pam_isc.secret", "absolute" },
		{ "client_secret_file", "~/pam_isc.secret", "absolute" },
		{ "source_name", "Linux\x1b[31m Hosts", "control character" },
		{ "client_id", "id\rwith-cr", "control character" },
		{ "user_name_format", "%s", "%u" },
		{ "user_name_format", "%", "%u" },
		{ "user_name_format", "user%", "%u" },
		{ "user_name_format", "%U", "%u" },
		{ "user_name_format", "%u%d", "%u" },
		{ "account_name_format", "%n", "%u" },
		{ "account_name_format", "100%", "%u" },
		{ "ca_file", "certs/ca.pem", "absolute" },
		{ "runtime_dir", "run/pam_isc", "absolute" },
		{ "timeout", "abc", "1 to 300" },
		{ "timeout", "0", "1 to 300" },
		{ "timeout", "301", "1 to 300" },
		{ "timeout", "12x", "1 to 300" },
		{ "timeout", "-1", "1 to 300" },
		{ "timeout", "+5", "1 to 300" },
		{ "timeout", "1.5", "1 to 300" },
		{ "timeout", "0x10", "1 to 300" },
		{ "timeout", "1 0", "1 to 300" },
		{ "timeout", "99999999999999999999999999", "1 to 300" },
		{ "status_timeout", "0", "1 to 604800" },
		{ "status_timeout", "604801", "1 to 604800" },
		{ "status_interval", "0", "1 to 3600" },
		{ "status_interval", "3601", "1 to 3600" },
		{ "min_uid", "-1", "0 to 4294967295" },
		{ "min_uid", "4294967296", "0 to 4294967295" },
		{ "min_uid", "18446744073709551616", "0 to 4294967295" },
		{ "min_uid", "1e3", "0 to 4294967295" },
		{ "skip_users", "root,", "empty name" },
		{ "skip_users", ",root", "empty name" },
		{ "skip_users", "root, ,daemon", "empty name" },
		{ "skip_users", "root daemon", "commas" },
		{ "on_error", "Queue", "one of fail, ignore, queue" },
		{ "on_error", "deny", "one of fail, ignore, queue" },
		{ "on_error", "fail ignore", "one of" },
		{ "prelim_check", "true", "one of no, yes" },
		{ "prelim_check", "1", "one of no, yes" },
		{ "state_dir", "var/lib/pam_isc", "absolute" },
		{ "queue_max_age", "59", "60 to 31536000" },
		{ "helper_linger", "601", "0 to 600" },
		{ "helper_linger", "-1", "0 to 600" },
		{ "queue_max_age", "31536001", "60 to 31536000" },
		{ "queue_max_age", "1w", "60 to 31536000" },
		/* proxy and TLS pinning */
		{ "proxy", "proxy.example.com:3128", "must start with" },
		{ "proxy", "ftp://proxy", "must start with" },
		{ "proxy", "http://", "no host" },
		{ "proxy", "http://:3128", "no host" },
		{ "proxy", "http://pr oxy:3128", "blank" },
		{ "proxy", "http://user:pw@proxy:3128", "credentials" },
		{ "pinned_public_key", "YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=", "sha256//" },
		{ "pinned_public_key",
		  "sha1//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=", "sha256//" },
		{ "pinned_public_key", "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMw",
		  "Base64" },
		{ "pinned_public_key", "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=x",
		  "Base64" },
		{ "pinned_public_key",
		  "sha256//YhKJ*SzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=", "Base64" },
		{ "pinned_public_key", "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=;",
		  "sha256//" },
		{ "pinned_public_key",
		  "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=,sha256//x", "Base64" },
		/* password sync groups */
		{ "ignore_changes_by", "svc-isc,", "empty name" },
		{ "ignore_changes_by", ",svc-isc", "empty name" },
		{ "ignore_changes_by", "svc-isc, ,1234", "empty name" },
		{ "ignore_changes_by", ",", "empty name" },
		{ "ignore_changes_by", "svc-isc 1234", "commas" },
		{ "ignore_changes_by", "-1", "neither a uid nor a login name" },
		{ "ignore_changes_by", "+5", "neither a uid nor a login name" },
		{ "ignore_changes_by", "svc:isc", "neither a uid nor a login name" },
		{ "ignore_changes_by", "svc/isc", "neither a uid nor a login name" },
		{ "ignore_changes_by", "4294967295", "from 0 to 4294967294" },
		{ "ignore_changes_by", "4294967296", "from 0 to 4294967294" },
		{ "ignore_changes_by", "99999999999999999999999999", "from 0 to 4294967294" },
		{ "ignore_changes_by", "12x", "may not start with a digit" },
		{ "ignore_changes_by", "0x10", "may not start with a digit" },
		/* request budget, queue warnings, metrics */
		{ "rate_limit", "100", "REQUESTS/SECONDS" },
		{ "rate_limit", "100/", "REQUESTS/SECONDS" },
		{ "rate_limit", "/10", "REQUESTS/SECONDS" },
		{ "rate_limit", "0/10", "REQUESTS/SECONDS" },
		{ "rate_limit", "100/0", "REQUESTS/SECONDS" },
		{ "rate_limit", "10001/10", "REQUESTS/SECONDS" },
		{ "rate_limit", "100/3601", "REQUESTS/SECONDS" },
		{ "rate_limit", "100 / 10", "REQUESTS/SECONDS" },
		{ "rate_limit", "-1/10", "REQUESTS/SECONDS" },
		{ "rate_limit", "100/10s", "REQUESTS/SECONDS" },
		{ "rate_limit", "99999999999999999999/10", "REQUESTS/SECONDS" },
		{ "queue_warn", "0", "1 to 100000" },
		{ "metrics_file", "pam_isc.prom", "absolute" },
		{ "ignore_changes_by", "1e3", "may not start with a digit" },
		{ "ignore_changes_by", "svc-isc, 1.5", "may not start with a digit" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_bad_value(cases[i][0], cases[i][1], cases[i][2]);
}

/* Proxy and pins that are accepted, and the defaults (none). */
static void test_proxy_and_pin(void **state)
{
	char text[4096] = "";
	struct config cfg;
	struct config_error err;
	static const char *const proxies[] = { "http://proxy:3128", "https://proxy.example.com",
					       "socks5://127.0.0.1:1080", "socks5h://[::1]:1080",
					       "http://proxy:3128/" };

	(void)state;
	append_base_without(text, sizeof text, NULL, NULL);
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_null(cfg.proxy);
	assert_null(cfg.pinned_public_key);
	config_free(&cfg);
	for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
		snprintf(text, sizeof text, "proxy = %s\n", proxies[i]);
		append_base_without(text, sizeof text, NULL, NULL);
		assert_int_equal(parse(text, &cfg, &err), 0);
		assert_string_equal(cfg.proxy, proxies[i]);
		config_free(&cfg);
	}
	snprintf(text, sizeof text,
		 "pinned_public_key = sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=;"
		 "sha256//4+LmWZT4BG2dIvEk3xsi9XVcMjZxWmBOJxUKcEOLAT8=\n");
	append_base_without(text, sizeof text, NULL, NULL);
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_non_null(strstr(cfg.pinned_public_key, ";sha256//4+Lm"));
	config_free(&cfg);
}

static void test_empty_values(void **state)
{
	(void)state;
	/* Every key but the lists (skip_users, ignore_changes_by) needs a value. */
	for (const struct config_option *opt = config_options; opt->name; opt++) {
		if (opt->type != CONFIG_T_LIST && opt->type != CONFIG_T_LOGINS)
			expect_bad_value(opt->name, "", "empty value");
	}
	check_error_with("ca_file = \t \n", 5, "ca_file", "empty value");
}

/* ---- error classes -------------------------------------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	check_error_with("\ncolour = blue\n", 6, "colour", "unknown key");
	check_error_with("Timeout = 5\n", 5, "Timeout", "unknown key");
	/* What the file says is never copied raw into a message. */
	check_error_with("b\x1b[1mad\xc3\xa9 = 1\n", 5, "b?[1mad??", "unknown key");
}

static void test_line_without_equals(void **state)
{
	(void)state;
	check_error_with("timeout 10\n", 5, "", "key = value");
	check_error("\n\n\napi_url\n", 4, "", "key = value");
}

static void test_empty_key(void **state)
{
	(void)state;
	check_error_with(" = 10\n", 5, "", "empty key");
	check_error_with("=\n", 5, "", "empty key");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	check_error_with("\n\nclient_id = other\n", 7, "client_id", "set twice, first at line 2");
	check_error_with("timeout = 5\n# again\ntimeout = 5\n", 7, "timeout",
			 "set twice, first at line 5");
}

static void test_nul_byte(void **state)
{
	static const char text[] = BASE_TEXT "timeout = 1\0"
					     "0\n";

	(void)state;
	check_error_len(text, sizeof text - 1, 5, "", "NUL");
	check_error_len("\0", 1, 1, "", "NUL");
}

static void test_long_lines(void **state)
{
	char text[16384];
	struct config cfg;
	struct config_error err;
	size_t len;

	(void)state;
	/* A 4096-byte comment line is fine, with LF or CRLF. */
	snprintf(text, sizeof text, "%s#", BASE_TEXT);
	len = strlen(text);
	memset(text + len, 'x', 4095);
	strcpy(text + len + 4095, "\r\n");
	assert_int_equal(parse(text, &cfg, &err), 0);
	config_free(&cfg);
	/* One byte more is not, whatever the line holds. */
	strcpy(text + len + 4095, "x\n");
	check_error(text, 5, "", "longer than 4096");
	strcpy(text + len + 4095, "x");
	check_error(text, 5, "", "longer than 4096");
}

static void test_missing_required_keys(void **state)
{
	static const char *const required[] = { "api_url", "client_id", "source_name" };

	(void)state;
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		char text[1024] = "";
		append_base_without(text, sizeof text, required[i], NULL);
		check_error(text, 0, required[i], "missing");
	}
	check_error("", 0, "api_url", "missing");
	check_error("# nothing here\n", 0, "api_url", "missing");
}

static void test_secret_rules(void **state)
{
	char text[1024] = "";
	struct config cfg;
	struct config_error err;

	(void)state;
	/* Both: the error names the one set last. */
	check_error_with("client_secret_file = /etc/security/pam_isc.secret\n", 5,
			 "client_secret_file", "both");
	strcpy(text, "client_secret_file = /etc/security/pam_isc.secret\n");
	append_base_without(text, sizeof text, NULL, NULL);
	check_error(text, 4, "client_secret", "both");

	/* Neither. */
	text[0] = '\0';
	append_base_without(text, sizeof text, "client_secret", NULL);
	check_error(text, 0, "client_secret_file", "required");

	/* '#' inside a value is part of it: there are no end-of-line comments. */
	text[0] = '\0';
	append_base_without(text, sizeof text, "client_secret", NULL);
	strcat(text, "client_secret = a#b = c  \n");
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal((const char *)cfg.client_secret.data, "a#b = c");
	assert_int_equal(cfg.client_secret.len, 7);
	config_free(&cfg);
}

/* ---- syntax --------------------------------------------------------------- */

static void test_crlf(void **state)
{
	static const char text[] = "api_url = https://acme.api.identitynow.com/\r\n"
				   "client_id = pam-isc\r\n"
				   "\r\n"
				   "# comment\r\n"
				   "client_secret = s3cret\r\n"
				   "source_name = Linux Hosts\r\n"
				   "skip_users = root, backup\r\n"
				   "timeout = 20\r\n";
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal(cfg.api_url, "https://acme.api.identitynow.com");
	assert_string_equal(cfg.client_id, "pam-isc");
	assert_string_equal((const char *)cfg.client_secret.data, "s3cret");
	assert_string_equal(cfg.source_name, "Linux Hosts");
	assert_string_equal(cfg.skip_users[1], "backup");
	assert_int_equal(cfg.timeout, 20);
	config_free(&cfg);

	check_error_with("\r\ntimeout = 20x\r\n", 6, "timeout", "1 to 300");
}

static void test_comments_and_whitespace(void **state)
{
	static const char text[] = "# pam_isc\n"
				   "   # indented comment = with an equals sign\n"
				   "\t#\n"
				   "#api_url = https://commented.out\n"
				   "   \t  \n"
				   "\t api_url\t=\thttps://acme.api.identitynow.com \t\n"
				   "client_id=pam-isc\n"
				   "client_secret   =   s3cret\n"
				   "source_name =  Linux   Hosts  \n"
				   "\n"
				   "timeout = 30"; /* no newline at the end */
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_string_equal(cfg.api_url, "https://acme.api.identitynow.com");
	assert_string_equal(cfg.client_id, "pam-isc");
	assert_string_equal((const char *)cfg.client_secret.data, "s3cret");
	assert_string_equal(cfg.source_name, "Linux   Hosts");
	assert_int_equal(cfg.timeout, 30);
	config_free(&cfg);
}

static void test_skip_users(void **state)
{
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(parse(BASE_TEXT, &cfg, &err), 0);
	assert_true(config_user_skipped(&cfg, "root"));
	assert_false(config_user_skipped(&cfg, "roo"));
	assert_false(config_user_skipped(&cfg, "root2"));
	assert_false(config_user_skipped(&cfg, "Root"));
	assert_false(config_user_skipped(&cfg, "alice"));
	config_free(&cfg);

	assert_int_equal(parse_with("skip_users = alice ,\tbob,carol\n", &cfg, &err), 0);
	assert_true(config_user_skipped(&cfg, "alice"));
	assert_true(config_user_skipped(&cfg, "bob"));
	assert_true(config_user_skipped(&cfg, "carol"));
	assert_false(config_user_skipped(&cfg, "root"));
	assert_false(config_user_skipped(&cfg, "alic"));
	assert_false(config_user_skipped(&cfg, ""));
	config_free(&cfg);

	/* An empty list skips no one. */
	assert_int_equal(parse_with("skip_users =\n", &cfg, &err), 0);
	assert_non_null(cfg.skip_users);
	assert_null(cfg.skip_users[0]);
	assert_false(config_user_skipped(&cfg, "root"));
	config_free(&cfg);
	assert_int_equal(parse_with("skip_users = \t\n", &cfg, &err), 0);
	assert_null(cfg.skip_users[0]);
	config_free(&cfg);

	/* A zeroed config skips no one either. */
	assert_false(config_user_skipped(&zero_config, "root"));
}

/* ignore_changes_by: names and uids, blanks around the commas, the empty
 * list; and what an entry matches. */
static void expect_logins(const char *value, size_t n, const char *const *names,
			  const unsigned long *uids)
{
	char line[512];
	struct config cfg;
	struct config_error err;

	snprintf(line, sizeof line, "ignore_changes_by = %s\n", value);
	if (parse_with(line, &cfg, &err) != 0)
		fail_msg("ignore_changes_by = %s: %s", value, err.message);
	assert_int_equal(cfg.ignore_changes_by.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct config_login *l = &cfg.ignore_changes_by.items[i];
		if (names[i]) {
			assert_non_null(l->name);
			assert_string_equal(l->name, names[i]);
		} else {
			assert_null(l->name);
			assert_true((unsigned long)l->uid == uids[i]);
		}
	}
	if (n == 0)
		assert_null(cfg.ignore_changes_by.items);
	config_free(&cfg);
	assert_memory_equal(&cfg, &zero_config, sizeof cfg);
}

/* rate_limit: REQUESTS/SECONDS within bounds, or 0 for no limit. */
static void test_rate_limit(void **state)
{
	static const struct {
		const char *value;
		unsigned requests, seconds;
	} good[] = { { "100/10", 100, 10 },
		     { "10/2", 10, 2 },
		     { "1/1", 1, 1 },
		     { "10000/3600", 10000, 3600 },
		     { "0", 0, 0 } };
	struct config cfg;
	struct config_error err;
	char text[4096];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(text, sizeof text, "rate_limit = %s\n", good[i].value);
		append_base_without(text, sizeof text, NULL, NULL);
		assert_int_equal(parse(text, &cfg, &err), 0);
		assert_int_equal(cfg.rate_limit.requests, good[i].requests);
		assert_int_equal(cfg.rate_limit.seconds, good[i].seconds);
		config_free(&cfg);
	}
}

static void test_ignore_changes_by(void **state)
{
	static const char *const names1[] = { "svc-isc" };
	static const unsigned long uids1[] = { 0 };
	static const char *const names2[] = { NULL };
	static const unsigned long uids2[] = { 1234 };
	static const char *const names3[] = {
		"svc-isc", NULL, "svc_sailpoint$", NULL, "svc@corp.example.com", NULL
	};
	static const unsigned long uids3[] = { 0, 1234, 0, 0, 0, 4294967294UL };
	struct config cfg;
	struct config_error err;
	struct config_login by_uid = { .name = NULL, .uid = 1234 };
	struct config_login root = { .name = (char *)"root" };
	struct config_login ghost = { .name = (char *)"pam-isc-test-no-such-user" };

	(void)state;
	expect_logins("svc-isc", 1, names1, uids1);
	expect_logins("1234", 1, names2, uids2);
	/* Blanks (spaces and tabs) around the commas; leading zeros as in min_uid. */
	expect_logins(" svc-isc ,1234,\tsvc_sailpoint$ , 0 ,svc@corp.example.com, 4294967294", 6,
		      names3, uids3);
	expect_logins("01234", 1, names2, uids2);
	/* An empty list, or only blanks: no change is ignored. */
	expect_logins("", 0, NULL, NULL);
	expect_logins(" \t ", 0, NULL, NULL);
	/* Set twice is an error like for every key. */
	check_error_with("ignore_changes_by = a\nignore_changes_by = b\n", 6, "ignore_changes_by",
			 "set twice, first at line 5");
	/* A name of 256 bytes is taken, one of 257 is not. */
	{
		char line[300] = "ignore_changes_by = ";
		size_t len = strlen(line);
		memset(line + len, 'a', 256);
		strcpy(line + len + 256, "\n");
		assert_int_equal(parse_with(line, &cfg, &err), 0);
		assert_int_equal(strlen(cfg.ignore_changes_by.items[0].name), 256);
		config_free(&cfg);
		strcpy(line + len + 256, "a\n");
		check_error_with(line, 5, "ignore_changes_by", "at most 256 bytes");
	}

	/* Matching: a uid as it is; a name through the name service, now. */
	assert_int_equal(config_login_match(&by_uid, 1234), CONFIG_LOGIN_MATCH);
	assert_int_equal(config_login_match(&by_uid, 1235), CONFIG_LOGIN_OTHER);
	assert_int_equal(config_login_match(&by_uid, 0), CONFIG_LOGIN_OTHER);
	assert_int_equal(config_login_match(&root, 0), CONFIG_LOGIN_MATCH);
	assert_int_equal(config_login_match(&root, 1234), CONFIG_LOGIN_OTHER);
	assert_int_equal(config_login_match(&ghost, 0), CONFIG_LOGIN_UNKNOWN);
	assert_int_equal(config_login_match(&ghost, 1234), CONFIG_LOGIN_UNKNOWN);
}

/* ---- the option table ----------------------------------------------------- */

/* A valid value for every key. A key added to config_options[] without a
 * line here (and a description) fails test_option_table. */
static const char *const sample_values[][2] = {
	{ "api_url", "https://acme.api.identitynow.com" },
	{ "api_version", "v2025" },
	{ "client_id", "pam-isc" },
	{ "client_secret_file", "/etc/security/pam_isc.secret" },
	{ "client_secret", "s3cret" },
	{ "source_name", "Linux Hosts" },
	{ "user_name_format", "%u" },
	{ "account_name_format", "%u" },
	{ "ca_file", "/etc/ssl/certs/ca-certificates.crt" },
	{ "timeout", "15" },
	{ "status_timeout", "3600" },
	{ "status_interval", "5" },
	{ "min_uid", "500" },
	{ "skip_users", "root, backup" },
	{ "runtime_dir", "/run/pam_isc" },
	{ "helper_linger", "10" },
	/* failure policy and offline queue */
	{ "on_error", "ignore" },
	{ "prelim_check", "no" },
	{ "state_dir", "/var/lib/pam_isc" },
	{ "queue_max_age", "86400" },
	/* proxy and TLS pinning */
	{ "proxy", "http://proxy.example.com:3128" },
	{ "pinned_public_key", "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=" },
	/* password sync groups */
	{ "ignore_changes_by", "svc-isc, 1234" },
	/* request budget, queue warnings, metrics */
	{ "rate_limit", "50/10" },
	{ "queue_warn", "500" },
	{ "metrics_file", "/var/lib/prometheus/node-exporter/pam_isc.prom" },
};

static const char *sample_value(const char *key)
{
	for (size_t i = 0; i < sizeof sample_values / sizeof sample_values[0]; i++)
		if (strcmp(sample_values[i][0], key) == 0)
			return sample_values[i][1];
	return NULL;
}

/* Every key set at once, leaving out one of the two secret keys. */
static void parse_all_keys_but(const char *left_out)
{
	char text[16384] = "";
	struct config cfg;
	struct config_error err;
	char msg[512];

	for (const struct config_option *opt = config_options; opt->name; opt++) {
		size_t len = strlen(text);
		if (strcmp(opt->name, left_out) != 0)
			snprintf(text + len, sizeof text - len, "%s = %s\n", opt->name,
				 sample_value(opt->name));
	}
	if (parse(text, &cfg, &err) != 0) {
		config_error_format(&err, msg, sizeof msg);
		fail_msg("%s", msg);
	}
	config_free(&cfg);
}

static void test_option_table(void **state)
{
	size_t n = 0;

	(void)state;
	for (const struct config_option *opt = config_options; opt->name; opt++, n++) {
		size_t dlen = opt->description ? strlen(opt->description) : 0;

		if (!sample_value(opt->name))
			fail_msg("no sample value for key %s in the test", opt->name);
		if (dlen < 20)
			fail_msg("key %s has no real description", opt->name);
		assert_int_equal(opt->description[dlen - 1], '.');
		for (const struct config_option *o2 = opt + 1; o2->name; o2++)
			assert_string_not_equal(opt->name, o2->name);
		if (opt->type == CONFIG_T_UINT)
			assert_true(opt->min <= opt->max);
		/* A choice has its word list, and its default is one of the words. */
		if (opt->type == CONFIG_T_CHOICE) {
			bool found = false;
			assert_non_null(opt->choices);
			for (size_t i = 0; opt->choices[i]; i++)
				found = found || (opt->default_value &&
						  strcmp(opt->choices[i], opt->default_value) == 0);
			assert_true(found);
		}
		/* The required keys are required, the rest has a default or is optional. */
		if (opt->required)
			assert_null(opt->default_value);
	}
	assert_int_equal(n, sizeof sample_values / sizeof sample_values[0]);
	parse_all_keys_but("client_secret");
	parse_all_keys_but("client_secret_file");
}

/* ---- formats -------------------------------------------------------------- */

static void test_expand_format(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(config_expand_format("%u", "alice", out, sizeof out), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(config_expand_format("corp\\%u@x", "alice", out, sizeof out), 0);
	assert_string_equal(out, "corp\\alice@x");
	assert_int_equal(config_expand_format("%u-%u", "bo", out, sizeof out), 0);
	assert_string_equal(out, "bo-bo");
	assert_int_equal(config_expand_format("%%u", "alice", out, sizeof out), 0);
	assert_string_equal(out, "%u");
	assert_int_equal(config_expand_format("100%%", "alice", out, sizeof out), 0);
	assert_string_equal(out, "100%");
	assert_int_equal(config_expand_format("fixed", "alice", out, sizeof out), 0);
	assert_string_equal(out, "fixed");
	assert_int_equal(config_expand_format("", "alice", out, sizeof out), 0);
	assert_string_equal(out, "");

	/* Invalid formats leave an empty output. */
	assert_int_equal(config_expand_format("%s", "alice", out, sizeof out), -1);
	assert_string_equal(out, "");
	assert_int_equal(config_expand_format("ab%", "alice", out, sizeof out), -1);
	assert_string_equal(out, "");
	assert_int_equal(config_expand_format("x%u%d", "alice", out, sizeof out), -1);
	assert_string_equal(out, "");

	/* Size: "alice" needs 6 bytes. */
	assert_int_equal(config_expand_format("%u", "alice", out, 6), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(config_expand_format("%u", "alice", out, 5), -1);
	assert_string_equal(out, "");
	assert_int_equal(config_expand_format("%%", "alice", out, 1), -1);
	assert_int_equal(config_expand_format("%%", "alice", out, 2), 0);
	assert_string_equal(out, "%");
	assert_int_equal(config_expand_format("%u", "alice", out, 0), -1);
}

static void test_error_format(void **state)
{
	struct config_error err = { .file = "/etc/security/pam_isc.conf",
				    .line = 7,
				    .key = "timeout",
				    .message = "must be a whole number from 1 to 300" };
	char buf[512], small[16];

	(void)state;
	config_error_format(&err, buf, sizeof buf);
	assert_string_equal(buf, "/etc/security/pam_isc.conf:7: key timeout: must be a whole "
				 "number from 1 to 300");
	err.line = 0;
	config_error_format(&err, buf, sizeof buf);
	assert_string_equal(buf, "/etc/security/pam_isc.conf: key timeout: must be a whole number "
				 "from 1 to 300");
	err.key[0] = '\0';
	config_error_format(&err, buf, sizeof buf);
	assert_string_equal(buf,
			    "/etc/security/pam_isc.conf: must be a whole number from 1 to 300");
	err.file[0] = '\0';
	err.line = 3;
	config_error_format(&err, buf, sizeof buf);
	assert_string_equal(buf, "line 3: must be a whole number from 1 to 300");
	err.line = 0;
	assert_int_equal(config_error_format(&err, buf, sizeof buf), strlen(err.message));
	assert_string_equal(buf, err.message);

	assert_int_equal(config_error_format(&err, small, sizeof small), sizeof small - 1);
	assert_string_equal(small, "must be a whole");
}

/* ---- files ---------------------------------------------------------------- */

struct tmp {
	char dir[64];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof *t);

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/test_config.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	DIR *d = opendir(t->dir);
	struct dirent *de;
	char path[PATH_MAX];

	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", t->dir, de->d_name);
		if (unlink(path) < 0)
			rmdir(path);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

static const char *tmp_path(const struct tmp *t, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", t->dir, name);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	/* Files that may hold a secret must not be readable by others. */
	assert_int_equal(chmod(path, 0600), 0);
}

static void expect_load_error(const char *path, const char *message_part)
{
	struct config cfg;
	struct config_error err;

	assert_int_equal(config_load(path, &cfg, &err), -1);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, 0);
	assert_string_equal(err.key, "");
	if (!strstr(err.message, message_part))
		fail_msg("message '%s' lacks '%s'", err.message, message_part);
	assert_memory_equal(&cfg, &zero_config, sizeof cfg);
	config_free(&cfg);
}

static void test_load(void **state)
{
	const struct tmp *t = *state;
	char good[PATH_MAX], path[PATH_MAX];
	struct config cfg;
	struct config_error err;

	tmp_path(t, "good.conf", good, sizeof good);
	write_file(good, BASE_TEXT, strlen(BASE_TEXT));
	assert_int_equal(config_load(good, &cfg, &err), 0);
	assert_string_equal(cfg.source_name, "Linux Hosts");
	config_free(&cfg);

	/* Parse errors name the file too. */
	tmp_path(t, "bad.conf", path, sizeof path);
	write_file(path, BASE_TEXT "timeout = 0\n", strlen(BASE_TEXT) + 12);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, 5);
	assert_string_equal(err.key, "timeout");

	expect_load_error(tmp_path(t, "missing.conf", path, sizeof path), strerror(ENOENT));

	tmp_path(t, "dir.conf", path, sizeof path);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_load_error(path, "not a regular file");

	/* A FIFO must not hang passwd. */
	tmp_path(t, "fifo.conf", path, sizeof path);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_load_error(path, "not a regular file");

	tmp_path(t, "link.conf", path, sizeof path);
	assert_int_equal(symlink(good, path), 0);
	expect_load_error(path, "symbolic link");
}

static void test_load_size_limit(void **state)
{
	const struct tmp *t = *state;
	const size_t limit = 64 * 1024;
	char *text = malloc(limit + 2), path[PATH_MAX];
	size_t len = strlen(BASE_TEXT);
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_non_null(text);
	/* The base file, then comment lines up to exactly 64 KiB. */
	memcpy(text, BASE_TEXT, len);
	while (len < limit) {
		size_t n = limit - len < 100 ? limit - len : 100;
		memset(text + len, '#', n);
		text[len + n - 1] = '\n';
		len += n;
	}
	tmp_path(t, "limit.conf", path, sizeof path);
	write_file(path, text, limit);
	assert_int_equal(config_load(path, &cfg, &err), 0);
	config_free(&cfg);

	text[limit] = '\n';
	tmp_path(t, "large.conf", path, sizeof path);
	write_file(path, text, limit + 1);
	expect_load_error(path, "larger than 65536 bytes");
	free(text);
}

/* cfg with client_secret_file = path. */
static void parse_with_secret_file(const char *path, struct config *cfg)
{
	char text[PATH_MAX + 1024] = "";
	struct config_error err;

	snprintf(text, sizeof text, "client_secret_file = %s\n", path);
	append_base_without(text, sizeof text, "client_secret", NULL);
	assert_int_equal(parse(text, cfg, &err), 0);
}

static void expect_secret_file(const struct tmp *t, const char *name, const void *content,
			       size_t len, const char *want)
{
	char path[PATH_MAX];
	struct config cfg;
	struct config_error err;
	struct secret secret = { 0 };

	tmp_path(t, name, path, sizeof path);
	write_file(path, content, len);
	parse_with_secret_file(path, &cfg);
	assert_int_equal(config_client_secret(&cfg, &secret, &err), 0);
	assert_string_equal((const char *)secret.data, want);
	assert_int_equal(secret.len, strlen(want));
	secret_clear(&secret);
	config_free(&cfg);
}

static void expect_secret_error(const char *path, const char *message_part)
{
	struct config cfg;
	struct config_error err;
	struct secret secret = { 0 };

	parse_with_secret_file(path, &cfg);
	assert_int_equal(config_client_secret(&cfg, &secret, &err), -1);
	assert_null(secret.data);
	assert_string_equal(err.file, path);
	assert_string_equal(err.key, "client_secret_file");
	if (!strstr(err.message, message_part))
		fail_msg("message '%s' lacks '%s'", err.message, message_part);
	config_free(&cfg);
}

static void test_client_secret(void **state)
{
	const struct tmp *t = *state;
	char big[4097];
	struct config cfg;
	struct config_error err;
	struct secret secret = { 0 };

	/* Inline. */
	assert_int_equal(parse(BASE_TEXT, &cfg, &err), 0);
	assert_int_equal(config_client_secret(&cfg, &secret, &err), 0);
	assert_string_equal((const char *)secret.data, "s3cret");
	assert_int_equal(secret.len, 6);
	assert_true(secret.data != cfg.client_secret.data); /* a copy */
	secret_clear(&secret);
	config_free(&cfg);

	/* From a file: the first line, without its line ending. */
	expect_secret_file(t, "s_lf", "abc\n", 4, "abc");
	expect_secret_file(t, "s_crlf", "abc\r\n", 5, "abc");
	expect_secret_file(t, "s_bare", "abc", 3, "abc");
	expect_secret_file(t, "s_lines", "first \r\nsecond\n", 15, "first ");
	/* The largest allowed file: 4 KiB on one line. */
	memset(big, 'k', 4096);
	big[4096] = '\0';
	expect_secret_file(t, "s_4k", big, 4096, big);
}

static void test_client_secret_errors(void **state)
{
	const struct tmp *t = *state;
	char path[PATH_MAX], good[PATH_MAX], big[4097];

	tmp_path(t, "s_empty", path, sizeof path);
	write_file(path, "", 0);
	expect_secret_error(path, "empty");

	tmp_path(t, "s_newline", path, sizeof path);
	write_file(path, "\r\nsecret\n", 9);
	expect_secret_error(path, "empty");

	tmp_path(t, "s_nul", path, sizeof path);
	write_file(path, "ab\0c\n", 5);
	expect_secret_error(path, "NUL");

	expect_secret_error(tmp_path(t, "s_missing", path, sizeof path), strerror(ENOENT));

	memset(big, 'k', sizeof big);
	tmp_path(t, "s_big", path, sizeof path);
	write_file(path, big, sizeof big);
	expect_secret_error(path, "larger than 4096 bytes");

	tmp_path(t, "s_good", good, sizeof good);
	write_file(good, "abc\n", 4);
	tmp_path(t, "s_link", path, sizeof path);
	assert_int_equal(symlink(good, path), 0);
	expect_secret_error(path, "symbolic link");

	tmp_path(t, "s_dir", path, sizeof path);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_secret_error(path, "not a regular file");
}

/* ---- the shipped example -------------------------------------------------- */

/* Owner and mode of the config file and the secret file: each
 * refusal names the file and says why. */
static void test_file_owner_mode(void **state)
{
	const struct tmp *t = *state;
	static const char file_text[] = "api_url = https://acme.api.identitynow.com\n"
					"client_id = pam-isc\n"
					"client_secret_file = /nonexistent\n"
					"source_name = Linux Hosts\n";
	char path[PATH_MAX], secret[PATH_MAX];
	struct config cfg;
	struct config_error err;

	/* A config with client_secret_file may be world-readable. */
	tmp_path(t, "pub.conf", path, sizeof path);
	write_file(path, file_text, strlen(file_text));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(path, &cfg, &err), 0);
	config_free(&cfg);
	/* ...but never writable by group or others. */
	assert_int_equal(chmod(path, 0664), 0);
	expect_load_error(path, "writable by group or others (mode 0664)");
	assert_int_equal(chmod(path, 0646), 0);
	expect_load_error(path, "writable by group or others (mode 0646)");

	/* An inline client_secret makes the config a secret file. */
	tmp_path(t, "inline.conf", path, sizeof path);
	write_file(path, BASE_TEXT, strlen(BASE_TEXT));
	assert_int_equal(config_load(path, &cfg, &err), 0);
	config_free(&cfg);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	assert_string_equal(err.file, path);
	assert_string_equal(err.key, "client_secret");
	assert_non_null(strstr(err.message, "readable by group or others (mode 0640)"));
	assert_memory_equal(&cfg, &zero_config, sizeof cfg);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	assert_string_equal(err.key, "client_secret");

	/* The secret file: no group or other access at all. */
	tmp_path(t, "secret", secret, sizeof secret);
	write_file(secret, "abc\n", 4);
	assert_int_equal(chmod(secret, 0640), 0);
	expect_secret_error(secret, "readable by group or others (mode 0640)");
	assert_int_equal(chmod(secret, 0604), 0);
	expect_secret_error(secret, "readable by group or others (mode 0604)");
	assert_int_equal(chmod(secret, 0620), 0);
	expect_secret_error(secret, "writable by group or others");
	assert_int_equal(chmod(secret, 0400), 0);
	{
		struct config c2;
		struct secret out = { 0 };
		parse_with_secret_file(secret, &c2);
		assert_int_equal(config_client_secret(&c2, &out, &err), 0);
		assert_memory_equal(out.data, "abc", 3);
		secret_clear(&out);
		config_free(&c2);
	}

	/* Owned by someone else: refused (only root can hand files away). */
	if (geteuid() == 0) {
		assert_int_equal(chmod(secret, 0600), 0);
		assert_int_equal(chown(secret, 1001, 1001), 0);
		expect_secret_error(secret, "owned by uid 1001; it must be owned by root");
		tmp_path(t, "pub.conf", path, sizeof path);
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(chown(path, 1001, 0), 0);
		expect_load_error(path, "owned by uid 1001; it must be owned by root");
	} else {
		print_message("not root: the owner checks are not exercised\n");
	}
}

static void test_example_config(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[PATH_MAX], msg[512], *text;
	struct config cfg;
	struct config_error err;
	FILE *f;
	long size;

	(void)state;
	snprintf(path, sizeof path, "%s/conf/pam_isc.conf", top && *top ? top : ".");
	if (config_load(path, &cfg, &err) != 0) {
		config_error_format(&err, msg, sizeof msg);
		fail_msg("%s", msg);
	}
	assert_string_equal(cfg.api_url, "https://acme.api.identitynow.com");
	assert_string_equal(cfg.client_secret_file, "/etc/security/pam_isc.secret");
	assert_null(cfg.client_secret.data);
	config_free(&cfg);

	/* Every key is shown in the example, set or commented out. */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	text = calloc(1, (size_t)size + 2);
	assert_non_null(text);
	text[0] = '\n';
	assert_int_equal(fread(text + 1, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	for (const struct config_option *opt = config_options; opt->name; opt++) {
		char set[80], commented[80];
		snprintf(set, sizeof set, "\n%s = ", opt->name);
		snprintf(commented, sizeof commented, "\n#%s = ", opt->name);
		if (!strstr(text, set) && !strstr(text, commented))
			fail_msg("key %s is not in %s", opt->name, path);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key_set),
		cmocka_unit_test(test_api_versions),
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_number_bounds_accepted),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_line_without_equals),
		cmocka_unit_test(test_empty_key),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_missing_required_keys),
		cmocka_unit_test(test_secret_rules),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_comments_and_whitespace),
		cmocka_unit_test(test_skip_users),
		cmocka_unit_test(test_ignore_changes_by),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_expand_format),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test_setup_teardown(test_load, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_size_limit, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_client_secret, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_client_secret_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_file_owner_mode, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_proxy_and_pin),
		cmocka_unit_test(test_example_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
