/* SPDX-License-Identifier: MIT */
/* Unit tests: ISC request bodies and response parsing.
 *
 * Every body is handed to the parsers in a malloc'd buffer of exactly its
 * length (no NUL after it), so valgrind and ASan catch any read past len.
 * Values in failing bodies carry the marker "s3cr3t" to check that error
 * reasons never echo body content. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isc_json.h"
#include "secret.h"

#define MARKER "s3cr3t"

/* A literal with its length, embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

enum parser { P_TOKEN, P_INFO, P_SET, P_STATUS };

static const char *const parser_names[] = { "token", "password_info", "set_result", "status" };

/* Exactly-sized copy of body, not NUL-terminated. */
static char *exact_copy(const char *body, size_t len)
{
	char *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, body, len);
	return copy;
}

/* Run one parser; on failure also check the output was left zeroed. */
static int run_parser(enum parser which, const char *body, size_t len, char *err, size_t errsize)
{
	char *copy = exact_copy(body, len);
	int rc = -2;

	switch (which) {
	case P_TOKEN: {
		struct isc_token t;
		memset(&t, 0xa5, sizeof t);
		rc = isc_json_parse_token(copy, len, &t, err, errsize);
		if (rc < 0) {
			assert_null(t.access_token);
			assert_int_equal(t.expires_in, 0);
		}
		isc_token_free(&t);
		break;
	}
	case P_INFO: {
		struct isc_password_info p;
		memset(&p, 0xa5, sizeof p);
		rc = isc_json_parse_password_info(copy, len, &p, err, errsize);
		if (rc < 0) {
			assert_null(p.identity_id);
			assert_null(p.accounts);
			assert_int_equal(p.n_accounts, 0);
		}
		isc_password_info_free(&p);
		break;
	}
	case P_SET: {
		struct isc_set_result r;
		memset(&r, 0xa5, sizeof r);
		rc = isc_json_parse_set_result(copy, len, &r, err, errsize);
		if (rc < 0)
			assert_null(r.request_id);
		isc_set_result_free(&r);
		break;
	}
	case P_STATUS: {
		struct isc_status s;
		memset(&s, 0xa5, sizeof s);
		rc = isc_json_parse_status(copy, len, &s, err, errsize);
		if (rc < 0) {
			assert_null(s.request_id);
			assert_null(s.errors);
			assert_int_equal(s.n_errors, 0);
		}
		isc_status_free(&s);
		break;
	}
	}
	free(copy);
	return rc;
}

/* The parser must refuse body, with a reason containing want (if given)
 * and never the marker. */
static void expect_fail_len(enum parser which, const char *body, size_t len, const char *want)
{
	char err[128];

	memset(err, 'X', sizeof err);
	if (run_parser(which, body, len, err, sizeof err) != -1)
		fail_msg("%s parser accepted a bad body (case: %s)", parser_names[which],
			 want ? want : "-");
	assert_non_null(memchr(err, '\0', sizeof err));
	assert_true(err[0] != '\0');
	assert_null(strstr(err, MARKER));
	if (want && !strstr(err, want))
		fail_msg("%s parser: reason \"%s\" lacks \"%s\"", parser_names[which], err, want);
}

static void expect_fail(enum parser which, const char *body, const char *want)
{
	expect_fail_len(which, body, strlen(body), want);
}

static void expect_ok(enum parser which, const char *body)
{
	char err[128] = "";

	if (run_parser(which, body, strlen(body), err, sizeof err) != 0)
		fail_msg("%s parser refused a good body: %s", parser_names[which], err);
}

/* ---- Token ---------------------------------------------------------------- */

static const char token_example[] =
	"{\"access_token\": \"eyJhbGciOiJSUzI1NiJ9.e30.c2ln\", \"token_type\": \"bearer\", "
	"\"expires_in\": 749, \"scope\": \"sp:scopes:all\", \"tenant_id\": \"t-1\", "
	"\"pod\": \"stg01-useast1\", \"org\": \"acme\", \"jti\": \"abc\"}";

static void test_token_example(void **state)
{
	struct isc_token t = { 0 };
	char err[128];
	const char tok[] = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";

	(void)state;
	assert_int_equal(isc_json_parse_token(LIT(token_example), &t, err, sizeof err), 0);
	assert_non_null(t.access_token);
	assert_int_equal(strlen(t.access_token), sizeof tok - 1);
	assert_memory_equal(t.access_token, tok, sizeof tok - 1);
	assert_int_equal(t.expires_in, 749);
	isc_token_free(&t);
	assert_null(t.access_token);
	isc_token_free(&t);
}

static void test_token_variants_ok(void **state)
{
	(void)state;
	/* token_type is optional and compared case-insensitively. */
	expect_ok(P_TOKEN, "{\"access_token\":\"a\",\"expires_in\":1}");
	expect_ok(P_TOKEN,
		  "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":43200}");
	expect_ok(P_TOKEN, "{\"access_token\":\"a\",\"token_type\":\"BEARER\",\"expires_in\":750}");
	/* Unknown fields of any shape are ignored. */
	expect_ok(P_TOKEN,
		  "{\"access_token\":\"a\",\"expires_in\":5,\"x\":[1,{\"y\":null},2.5,true]}");
}

static void test_token_bad(void **state)
{
	(void)state;
	expect_fail(P_TOKEN, "{\"expires_in\":749}", "access_token: missing");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\"}", "expires_in: missing");
	expect_fail(P_TOKEN, "{\"access_token\":42,\"expires_in\":749}",
		    "access_token: expected string");
	expect_fail(P_TOKEN, "{\"access_token\":null,\"expires_in\":749}", "access_token");
	expect_fail(P_TOKEN, "{\"access_token\":{},\"expires_in\":749}", "access_token");
	expect_fail(P_TOKEN, "{\"access_token\":[\"" MARKER "\"],\"expires_in\":749}",
		    "access_token");
	expect_fail(P_TOKEN, "{\"access_token\":\"\",\"expires_in\":749}", "access_token: empty");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\\u0000x\",\"expires_in\":749}",
		    "access_token: contains a NUL");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":\"749\"}",
		    "expires_in: expected integer");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":749.0}",
		    "expires_in: expected integer");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":7.49e2}",
		    "expires_in");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":true}", "expires_in");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":null}", "expires_in");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":[749]}",
		    "expires_in");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":0}",
		    "expires_in: out of range");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":-5}", "out of range");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":400000000}",
		    "out of range");
	expect_fail(P_TOKEN, "{\"access_token\":\"" MARKER "\",\"expires_in\":9223372036854775808}",
		    "out of range");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"expires_in\":99999999999999999999999}",
		    "out of range");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"expires_in\":-99999999999999999999999}",
		    "out of range");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"token_type\":\"mac\",\"expires_in\":749}",
		    "token_type: not bearer");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"token_type\":\"bearer\\u0000x\","
		    "\"expires_in\":749}",
		    "token_type: not bearer");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"token_type\":1,\"expires_in\":749}",
		    "token_type: expected string");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"" MARKER "\",\"token_type\":null,\"expires_in\":749}",
		    "token_type");
}

/* ---- query-password-info -------------------------------------------------- */

static const char info_example[] =
	"{\n"
	"  \"identityId\": \"2c918085744fec4301746f9a5bce4605\",\n"
	"  \"sourceId\": \"2c918083746f642c01746f990884012a\",\n"
	"  \"publicKeyId\": \"N2M1OTJiMGEtMDJlZS00ZWU3LTkyYTEtNjA5YmI5NWE3ZWVh\",\n"
	"  \"publicKey\": \"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA...IDAQAB\",\n"
	"  \"accounts\": [{\"accountId\": \"CN=Abby Smith,OU=Austin,DC=acme,DC=com\", "
	"\"accountName\": \"Abby.Smith\"}],\n"
	"  \"policies\": [\"passwordRepeatedChar is 3\", \"passwordMinAlpha is 1\", "
	"\"passwordMinLength is 5\"]\n"
	"}\n";

static void test_info_example(void **state)
{
	struct isc_password_info p = { 0 };
	char err[128];

	(void)state;
	assert_int_equal(isc_json_parse_password_info(LIT(info_example), &p, err, sizeof err), 0);
	assert_string_equal(p.identity_id, "2c918085744fec4301746f9a5bce4605");
	assert_string_equal(p.source_id, "2c918083746f642c01746f990884012a");
	assert_string_equal(p.public_key_id, "N2M1OTJiMGEtMDJlZS00ZWU3LTkyYTEtNjA5YmI5NWE3ZWVh");
	assert_string_equal(p.public_key, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA...IDAQAB");
	assert_int_equal(p.n_accounts, 1);
	assert_string_equal(p.accounts[0].account_id, "CN=Abby Smith,OU=Austin,DC=acme,DC=com");
	assert_string_equal(p.accounts[0].account_name, "Abby.Smith");
	isc_password_info_free(&p);
	assert_null(p.accounts);
	isc_password_info_free(&p);
}

#define INFO_HEAD                                                                             \
	"{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\",\"publicKey\":\"p\"," \
	"\"accounts\":"

static void test_info_accounts_variants(void **state)
{
	struct isc_password_info p = { 0 };
	char err[128];
	const char body[] = INFO_HEAD
		"[{\"accountId\":\"a1\",\"accountName\":null},"
		"{\"accountId\":\"a2\"},"
		"{\"accountId\":\"a3\",\"accountName\":\"\"},"
		"{\"accountId\":\"uid=\\\"x\\\"\\\\\\/\\u00e9\",\"accountName\":\"n4\"}]}";

	(void)state;
	assert_int_equal(isc_json_parse_password_info(LIT(body), &p, err, sizeof err), 0);
	assert_int_equal(p.n_accounts, 4);
	assert_string_equal(p.accounts[0].account_id, "a1");
	assert_null(p.accounts[0].account_name);
	assert_string_equal(p.accounts[1].account_id, "a2");
	assert_null(p.accounts[1].account_name);
	assert_string_equal(p.accounts[2].account_name, "");
	assert_string_equal(p.accounts[3].account_id, "uid=\"x\"\\/\xc3\xa9");
	assert_string_equal(p.accounts[3].account_name, "n4");
	isc_password_info_free(&p);

	/* An identity with no account on the source is a valid answer. */
	assert_int_equal(isc_json_parse_password_info(LIT(INFO_HEAD "[]}"), &p, err, sizeof err),
			 0);
	assert_int_equal(p.n_accounts, 0);
	assert_null(p.accounts);
	assert_string_equal(p.identity_id, "i");
	isc_password_info_free(&p);
}

static void test_info_bad(void **state)
{
	(void)state;
	/* Each required field missing. */
	expect_fail(
		P_INFO,
		"{\"sourceId\":\"s\",\"publicKeyId\":\"k\",\"publicKey\":\"p\",\"accounts\":[]}",
		"identityId: missing");
	expect_fail(
		P_INFO,
		"{\"identityId\":\"i\",\"publicKeyId\":\"k\",\"publicKey\":\"p\",\"accounts\":[]}",
		"sourceId: missing");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKey\":\"p\",\"accounts\":[]}",
		    "publicKeyId: missing");
	expect_fail(
		P_INFO,
		"{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\",\"accounts\":[]}",
		"publicKey: missing");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\","
		    "\"publicKey\":\"p\"}",
		    "accounts: missing");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountName\":\"" MARKER "\"}]}",
		    "accounts[0].accountId: missing");

	/* Wrong types. */
	expect_fail(
		P_INFO,
		"{\"identityId\":7,\"sourceId\":\"s\",\"publicKeyId\":\"k\",\"publicKey\":\"p\","
		"\"accounts\":[]}",
		"identityId: expected string");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":[\"" MARKER "\"],\"publicKeyId\":\"k\","
		    "\"publicKey\":\"p\",\"accounts\":[]}",
		    "sourceId: expected string");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":null,"
		    "\"publicKey\":\"p\",\"accounts\":[]}",
		    "publicKeyId: expected string");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\","
		    "\"publicKey\":true,\"accounts\":[]}",
		    "publicKey: expected string");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\","
		    "\"publicKey\":{\"k\":\"" MARKER "\"},\"accounts\":[]}",
		    "publicKey: expected string");
	expect_fail(P_INFO,
		    "{\"identityId\":\"\",\"sourceId\":\"s\",\"publicKeyId\":\"k\","
		    "\"publicKey\":\"p\",\"accounts\":[]}",
		    "identityId: empty");
	expect_fail(P_INFO,
		    "{\"identityId\":\"i\",\"sourceId\":\"s\",\"publicKeyId\":\"k\","
		    "\"publicKey\":\"\",\"accounts\":[]}",
		    "publicKey: empty");
	expect_fail(P_INFO, INFO_HEAD "{\"accountId\":\"" MARKER "\"}}",
		    "accounts: expected array");
	expect_fail(P_INFO, INFO_HEAD "\"" MARKER "\"}", "accounts: expected array");
	expect_fail(P_INFO, INFO_HEAD "null}", "accounts: expected array");
	expect_fail(P_INFO, INFO_HEAD "[\"" MARKER "\"]}", "accounts[0]: expected object");
	expect_fail(P_INFO, INFO_HEAD "[null]}", "accounts[0]: expected object");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountId\":\"a\"},{\"accountId\":5}]}",
		    "field accounts[1].accountId: expected string");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountId\":\"a\"},{\"accountId\":null}]}",
		    "accounts[1].accountId: expected string");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountId\":\"\"}]}", "accounts[0].accountId: empty");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountId\":\"a\",\"accountName\":5}]}",
		    "accounts[0].accountName: expected string or null");
	expect_fail(P_INFO, INFO_HEAD "[{\"accountId\":\"a\",\"accountName\":[\"" MARKER "\"]}]}",
		    "accounts[0].accountName");
}

/* accounts: [ {"accountId":"a"} x n ] */
static char *info_with_accounts(size_t n, size_t *len)
{
	const char head[] = INFO_HEAD "[";
	const char item[] = "{\"accountId\":\"a\"},";
	size_t cap = sizeof head + n * (sizeof item - 1) + 4;
	char *body = malloc(cap);
	size_t pos;

	assert_non_null(body);
	memcpy(body, head, sizeof head - 1);
	pos = sizeof head - 1;
	for (size_t i = 0; i < n; i++) {
		memcpy(body + pos, item, sizeof item - 1);
		pos += sizeof item - 1;
	}
	if (n)
		pos--; /* last comma */
	memcpy(body + pos, "]}", 2);
	*len = pos + 2;
	return body;
}

static void test_info_too_many_accounts(void **state)
{
	size_t len;
	char *body;
	char err[128];

	(void)state;
	body = info_with_accounts(1000, &len);
	assert_int_equal(run_parser(P_INFO, body, len, err, sizeof err), 0);
	free(body);
	body = info_with_accounts(1001, &len);
	expect_fail_len(P_INFO, body, len, "accounts: too many entries");
	free(body);
}

/* ---- set-password --------------------------------------------------------- */

static void test_set_example(void **state)
{
	struct isc_set_result r = { 0 };
	char err[128];
	const char body[] = "{\"requestId\": \"089899f13a8f4da7824996191587bab9\", "
			    "\"state\": \"IN_PROGRESS\"}";

	(void)state;
	assert_int_equal(isc_json_parse_set_result(LIT(body), &r, err, sizeof err), 0);
	assert_string_equal(r.request_id, "089899f13a8f4da7824996191587bab9");
	assert_int_equal(r.state, ISC_STATE_IN_PROGRESS);
	isc_set_result_free(&r);
	isc_set_result_free(&r);
}

static void test_set_null_request_id(void **state)
{
	struct isc_set_result r = { 0 };
	char err[128];

	(void)state;
	assert_int_equal(
		isc_json_parse_set_result(LIT("{\"requestId\":null,\"state\":\"FINISHED\"}"), &r,
					  err, sizeof err),
		0);
	assert_null(r.request_id);
	assert_int_equal(r.state, ISC_STATE_FINISHED);
	isc_set_result_free(&r);

	assert_int_equal(
		isc_json_parse_set_result(LIT("{\"state\":\"FAILED\"}"), &r, err, sizeof err), 0);
	assert_null(r.request_id);
	assert_int_equal(r.state, ISC_STATE_FAILED);
	isc_set_result_free(&r);
}

static void test_set_bad(void **state)
{
	(void)state;
	expect_fail(P_SET, "{\"requestId\":\"" MARKER "\"}", "state: missing");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":\"" MARKER "\"}",
		    "state: unknown value");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":\"in_progress\"}",
		    "state: unknown value");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":\"FINISHED \"}", "state: unknown value");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":\"\"}", "state: unknown value");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":\"FAILED\\u0000\"}",
		    "state: unknown value");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":1}", "state: expected string");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":null}", "state: expected string");
	expect_fail(P_SET, "{\"requestId\":\"r\",\"state\":[\"FAILED\"]}",
		    "state: expected string");
	expect_fail(P_SET, "{\"requestId\":12,\"state\":\"FAILED\"}",
		    "requestId: expected string or null");
	expect_fail(P_SET, "{\"requestId\":{\"id\":\"" MARKER "\"},\"state\":\"FAILED\"}",
		    "requestId: expected string or null");
}

/* ---- password-change-status ----------------------------------------------- */

static void test_status_example(void **state)
{
	struct isc_status s = { 0 };
	char err[128];
	const char body[] =
		"{\"requestId\": \"089899f13a8f4da7824996191587bab9\", \"state\": \"FAILED\",\n"
		" \"errors\": [\"The password change payload is invalid\"],\n"
		" \"sourceIds\": [\"2c918083746f642c01746f990884012a\"]}";

	(void)state;
	assert_int_equal(isc_json_parse_status(LIT(body), &s, err, sizeof err), 0);
	assert_string_equal(s.request_id, "089899f13a8f4da7824996191587bab9");
	assert_int_equal(s.state, ISC_STATE_FAILED);
	assert_int_equal(s.n_errors, 1);
	assert_string_equal(s.errors[0], "The password change payload is invalid");
	isc_status_free(&s);
	isc_status_free(&s);
}

static void test_status_errors_variants(void **state)
{
	struct isc_status s = { 0 };
	char err[128];

	(void)state;
	assert_int_equal(
		isc_json_parse_status(LIT("{\"requestId\":\"r\",\"state\":\"IN_PROGRESS\"}"), &s,
				      err, sizeof err),
		0);
	assert_int_equal(s.state, ISC_STATE_IN_PROGRESS);
	assert_int_equal(s.n_errors, 0);
	assert_null(s.errors);
	isc_status_free(&s);

	assert_int_equal(
		isc_json_parse_status(
			LIT("{\"requestId\":\"r\",\"state\":\"FINISHED\",\"errors\":null}"), &s,
			err, sizeof err),
		0);
	assert_int_equal(s.state, ISC_STATE_FINISHED);
	assert_int_equal(s.n_errors, 0);
	isc_status_free(&s);

	assert_int_equal(
		isc_json_parse_status(LIT("{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[],"
					  "\"sourceIds\":{\"odd\":true}}"),
				      &s, err, sizeof err),
		0);
	assert_int_equal(s.n_errors, 0);
	isc_status_free(&s);

	assert_int_equal(
		isc_json_parse_status(
			LIT("{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[\"a\",\"\","
			    "\"line\\nbreak\"]}"),
			&s, err, sizeof err),
		0);
	assert_int_equal(s.n_errors, 3);
	assert_string_equal(s.errors[0], "a");
	assert_string_equal(s.errors[1], "");
	assert_string_equal(s.errors[2], "line\nbreak");
	isc_status_free(&s);
}

static void test_status_bad(void **state)
{
	(void)state;
	expect_fail(P_STATUS, "{\"state\":\"FAILED\"}", "requestId: missing");
	expect_fail(P_STATUS, "{\"requestId\":\"" MARKER "\"}", "state: missing");
	expect_fail(P_STATUS, "{\"requestId\":null,\"state\":\"FAILED\"}",
		    "requestId: expected string");
	expect_fail(P_STATUS, "{\"requestId\":5,\"state\":\"FAILED\"}",
		    "requestId: expected string");
	expect_fail(P_STATUS, "{\"requestId\":\"\",\"state\":\"FAILED\"}", "requestId: empty");
	/* The beta examples' misspellings are not the field. */
	expect_fail(P_STATUS, "{\"reqId\":\"r\",\"state\":\"FAILED\"}", "requestId: missing");
	expect_fail(P_STATUS, "{\"requestId\":\"r\",\"state\":\"" MARKER "\"}",
		    "state: unknown value");
	expect_fail(P_STATUS,
		    "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":\"" MARKER "\"}",
		    "errors: expected array");
	expect_fail(P_STATUS, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":{\"e\":\"x\"}}",
		    "errors: expected array");
	expect_fail(P_STATUS, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[\"a\",1]}",
		    "errors[1]: expected string");
	expect_fail(P_STATUS, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[null]}",
		    "errors[0]: expected string");
	expect_fail(P_STATUS, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[[\"x\"]]}",
		    "errors[0]: expected string");
}

static void test_status_too_many_errors(void **state)
{
	const char head[] = "{\"requestId\":\"r\",\"state\":\"FAILED\",\"errors\":[";
	size_t n = 1001, cap = sizeof head + n * 4 + 4, pos;
	char *body = malloc(cap);

	(void)state;
	assert_non_null(body);
	memcpy(body, head, sizeof head - 1);
	pos = sizeof head - 1;
	for (size_t i = 0; i < n; i++) {
		memcpy(body + pos, "\"e\",", 4);
		pos += 4;
	}
	memcpy(body + pos - 1, "]}", 2);
	expect_fail_len(P_STATUS, body, pos + 1, "errors: too many entries");
	free(body);
}

/* ---- Malformed bodies, for every parser ------------------------------------ */

static void each_parser_fails_len(const char *body, size_t len, const char *want)
{
	for (int p = P_TOKEN; p <= P_STATUS; p++)
		expect_fail_len((enum parser)p, body, len, want);
}

static void each_parser_fails(const char *body, const char *want)
{
	each_parser_fails_len(body, strlen(body), want);
}

static void test_malformed(void **state)
{
	(void)state;
	each_parser_fails("", "empty body");
	each_parser_fails("not json " MARKER, "not JSON");
	each_parser_fails("<html><body>" MARKER "</body></html>", "not JSON");
	each_parser_fails("[{\"requestId\":\"r\",\"state\":\"FAILED\"}]",
			  "top level is a JSON array");
	each_parser_fails("\"" MARKER "\"", "top level is a JSON string");
	each_parser_fails("42", NULL);
	each_parser_fails("null", NULL);
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\"", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\"} x", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\"}{}", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",}", "not JSON");
	/* Non-standard JSON that json-c's strict mode still lets through. */
	each_parser_fails("{'requestId':\"r\",\"state\":\"FAILED\"}", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":Infinity}", "not JSON");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":NaN}", "not JSON");
	each_parser_fails("{\"requestId\":\"r\tx\",\"state\":\"FAILED\"}", "control character");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\" /* c */}", "not JSON");
	each_parser_fails("\xef\xbb\xbf{\"requestId\":\"r\",\"state\":\"FAILED\"}", "not JSON");
}

static void test_embedded_nul(void **state)
{
	(void)state;
	/* A valid object, a NUL, then more: json-c alone would stop at the NUL. */
	each_parser_fails_len(LIT("{\"requestId\":\"r\",\"state\":\"FAILED\"}\0{\"x\":1}"), "NUL");
	each_parser_fails_len(LIT("{\"requestId\":\"r\0\",\"state\":\"FAILED\"}"), "NUL");
	each_parser_fails_len(LIT("\0"), "NUL");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	/* Stray byte, overlong NUL, UTF-16 surrogate, beyond U+10FFFF,
	 * truncated sequence, Latin-1. */
	each_parser_fails("{\"requestId\":\"r\xff\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails("{\"requestId\":\"r\xc0\x80\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails("{\"requestId\":\"r\xed\xa0\x80\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails("{\"requestId\":\"r\xf4\x90\x80\x80\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails("{\"requestId\":\"r\xe2\x82\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails("{\"requestId\":\"Jos\xe9\",\"state\":\"FAILED\"}", "UTF-8");
	each_parser_fails_len(LIT("{\"requestId\":\"r\",\"state\":\"FAILED\"}\xe2\x82"), "UTF-8");
	/* Well-formed multi-byte UTF-8 is fine. */
	expect_ok(P_SET,
		  "{\"requestId\":\"r\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"state\":\"FAILED\"}");
}

static void test_deep_nesting(void **state)
{
	const size_t depth = 1000;
	const char head[] = "{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":";
	size_t len = sizeof head - 1 + 2 * depth + 1;
	char *body = malloc(len);

	(void)state;
	assert_non_null(body);
	memcpy(body, head, sizeof head - 1);
	memset(body + sizeof head - 1, '[', depth);
	memset(body + sizeof head - 1 + depth, ']', depth);
	body[len - 1] = '}';
	each_parser_fails_len(body, len, "nesting too deep");
	free(body);

	/* Shallow nesting in an ignored field is fine. */
	expect_ok(P_SET, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":[[[[[{\"y\":[1]}]]]]]}");
}

/* A key twice in one object, however spelled, is refused: two JSON readers
 * could take different values from it. */
static void test_duplicate_keys(void **state)
{
	(void)state;
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",\"state\":\"FINISHED\"}",
			  "a key appears twice");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",\"st\\u0061te\":\"FINISHED\"}",
			  "a key appears twice");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":{\"a\":1,\"a\":2}}",
			  "a key appears twice");
	each_parser_fails(
		"{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":[{\"\\n\":1,\"\\u000a\":2}]}",
		"a key appears twice");
	each_parser_fails("{\"requestId\":\"r\",\"state\":\"FAILED\","
			  "\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
			  "a key appears twice");
	/* The same key in different objects, or as a value, is fine. */
	expect_ok(P_SET, "{\"requestId\":\"state\",\"state\":\"FAILED\",\"x\":{\"state\":1},"
			 "\"y\":[{\"a\":1},{\"a\":2}],\"z\":{\"a\":{\"a\":{\"a\":1}}}}");
	expect_ok(P_SET, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"a\":1,\"A\":2,\"a \":3}");
}

/* Numbers too large for any field are refused, not wrapped. */
static void test_huge_numbers(void **state)
{
	(void)state;
	expect_fail(P_TOKEN, "{\"access_token\":\"a\",\"expires_in\":1e400}", "expires_in");
	expect_fail(P_TOKEN,
		    "{\"access_token\":\"a\",\"expires_in\":"
		    "123456789012345678901234567890123456789012345678901234567890}",
		    "expires_in");
	expect_fail(P_TOKEN, "{\"access_token\":\"a\",\"expires_in\":-0}", "expires_in");
	/* A huge number in an ignored field does not matter. */
	expect_ok(P_SET, "{\"requestId\":\"r\",\"state\":\"FAILED\",\"x\":1e400}");
}

static void test_body_too_large(void **state)
{
	/* Valid JSON padded with whitespace past the limit. */
	const char obj[] = "{\"requestId\":\"r\",\"state\":\"FAILED\"}";
	size_t len = ISC_JSON_MAX_BODY + 1;
	char *body = malloc(len);
	char err[128];

	(void)state;
	assert_non_null(body);
	memset(body, ' ', len);
	memcpy(body, obj, sizeof obj - 1);
	each_parser_fails_len(body, len, "too large");
	/* At exactly the limit it is accepted. */
	assert_int_equal(run_parser(P_SET, body, len - 1, err, sizeof err), 0);
	free(body);
}

static void test_null_body_and_small_err(void **state)
{
	struct isc_set_result r = { 0 };
	char err[8];

	(void)state;
	assert_int_equal(isc_json_parse_set_result(NULL, 0, &r, err, sizeof err), -1);
	assert_int_equal(strlen(err), 7); /* truncated, terminated */
	/* A NULL err is allowed. */
	assert_int_equal(isc_json_parse_set_result(LIT("[]"), &r, NULL, 0), -1);
	assert_null(r.request_id);
}

/* ---- Builders -------------------------------------------------------------- */

/* Parse built JSON back with plain json-c and check it is one line. */
static struct json_object *reparse(const char *json)
{
	struct json_object *obj;

	assert_non_null(json);
	assert_null(strchr(json, '\n'));
	obj = json_tokener_parse(json);
	assert_non_null(obj);
	assert_true(json_object_is_type(obj, json_type_object));
	return obj;
}

static void assert_field(struct json_object *obj, const char *key, const char *want)
{
	struct json_object *value;

	assert_true(json_object_object_get_ex(obj, key, &value));
	assert_true(json_object_is_type(value, json_type_string));
	assert_string_equal(json_object_get_string(value), want);
}

static void test_build_lookup(void **state)
{
	const char user[] = "Abby \"The\" O\\Brien/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\t\n\x01";
	const char source[] = "My-AD / Austin";
	char *json = isc_json_build_lookup(user, source);
	struct json_object *obj;

	(void)state;
	obj = reparse(json);
	assert_field(obj, "userName", user);
	assert_field(obj, "sourceName", source);
	assert_int_equal(json_object_object_length(obj), 2);
	json_object_put(obj);
	/* Escaped as JSON requires, '/' left alone, UTF-8 passed through. */
	assert_non_null(strstr(json, "\\\"The\\\""));
	assert_non_null(strstr(json, "O\\\\Brien/"));
	assert_non_null(strstr(json, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	assert_non_null(strstr(json, "\\t\\n\\u0001"));
	assert_non_null(strstr(json, "My-AD / Austin"));
	free(json);

	json = isc_json_build_lookup("Abby.Smith", "My-AD");
	assert_string_equal(json, "{\"userName\":\"Abby.Smith\",\"sourceName\":\"My-AD\"}");
	free(json);
}

static void test_build_set_password(void **state)
{
	const char *cipher = "q+/Zz09AbC/+==";
	char *json = isc_json_build_set_password("2c918085744fec4301746f9a5bce4605", cipher,
						 "N2M1OTJiMGEtMDJlZS00ZWU3LTkyYTEtNjA5YmI5NWE3ZWVh",
						 "CN=Abby Smith,OU=Austin,DC=acme,DC=com",
						 "2c918083746f642c01746f990884012a");
	struct json_object *obj;

	(void)state;
	obj = reparse(json);
	assert_field(obj, "identityId", "2c918085744fec4301746f9a5bce4605");
	assert_field(obj, "encryptedPassword", cipher);
	assert_field(obj, "publicKeyId", "N2M1OTJiMGEtMDJlZS00ZWU3LTkyYTEtNjA5YmI5NWE3ZWVh");
	assert_field(obj, "accountId", "CN=Abby Smith,OU=Austin,DC=acme,DC=com");
	assert_field(obj, "sourceId", "2c918083746f642c01746f990884012a");
	assert_int_equal(json_object_object_length(obj), 5);
	json_object_put(obj);
	/* Base64 must reach ISC byte for byte: no "\/". */
	assert_non_null(strstr(json, "\"encryptedPassword\":\"q+/Zz09AbC/+==\""));
	secret_free_str(json);

	json = isc_json_build_set_password("i", cipher, "k", "uid=\"a\\b\",ou=\xc3\xa9", "s");
	obj = reparse(json);
	assert_field(obj, "accountId", "uid=\"a\\b\",ou=\xc3\xa9");
	json_object_put(obj);
	secret_free_str(json);
}

static void test_build_refuses_bad_input(void **state)
{
	(void)state;
	assert_null(isc_json_build_lookup(NULL, "s"));
	assert_null(isc_json_build_lookup("u", NULL));
	assert_null(isc_json_build_lookup("bad\xff", "s"));
	assert_null(isc_json_build_set_password("i", NULL, "k", "a", "s"));
	assert_null(isc_json_build_set_password("i", "c", "k", "a", NULL));
	assert_null(isc_json_build_set_password("i", "c", "k", "Jos\xe9", "s"));
}

/* ---- Error bodies ----------------------------------------------------------- */

static void parse_error(const char *body, size_t len, struct isc_error_body *eb)
{
	char *copy = exact_copy(body, len);

	memset(eb, 'Z', sizeof *eb);
	isc_json_parse_error(copy, len, eb);
	free(copy);
	assert_non_null(memchr(eb->detail_code, '\0', sizeof eb->detail_code));
	assert_non_null(memchr(eb->tracking_id, '\0', sizeof eb->tracking_id));
	assert_non_null(memchr(eb->text, '\0', sizeof eb->text));
}

static void test_error_standard(void **state)
{
	struct isc_error_body eb;
	const char body[] =
		"{\"detailCode\": \"400.1 Bad Request Content\", "
		"\"trackingId\": \"e7eab60924f64aa284175b9fa3309599\", "
		"\"messages\": [{\"locale\": \"en-US\", \"localeOrigin\": \"DEFAULT\", "
		"\"text\": \"The request was syntactically correct but its content is semantically "
		"invalid.\"}, {\"locale\": \"und\", \"localeOrigin\": \"REQUEST\", \"text\": "
		"\"second\"}], \"causes\": []}";

	(void)state;
	parse_error(LIT(body), &eb);
	assert_string_equal(eb.detail_code, "400.1 Bad Request Content");
	assert_string_equal(eb.tracking_id, "e7eab60924f64aa284175b9fa3309599");
	assert_string_equal(eb.text,
			    "The request was syntactically correct but its content is semantically "
			    "invalid.");
}

static void test_error_oauth(void **state)
{
	struct isc_error_body eb;

	(void)state;
	parse_error(LIT("{\"error\":\"invalid_client\",\"error_description\":\"Bad credentials\"}"),
		    &eb);
	assert_string_equal(eb.detail_code, "invalid_client");
	assert_string_equal(eb.tracking_id, "");
	assert_string_equal(eb.text, "Bad credentials");
}

static void test_error_401(void **state)
{
	struct isc_error_body eb;

	(void)state;
	parse_error(LIT("{\"error\": \"JWT validation failed: JWT is expired\"}"), &eb);
	assert_string_equal(eb.detail_code, "");
	assert_string_equal(eb.tracking_id, "");
	assert_string_equal(eb.text, "JWT validation failed: JWT is expired");
}

static void test_error_429(void **state)
{
	struct isc_error_body eb;

	(void)state;
	parse_error(LIT("{\"message\": \" Rate Limit Exceeded \"}"), &eb);
	assert_string_equal(eb.detail_code, "");
	assert_string_equal(eb.text, "Rate Limit Exceeded");
}

static void test_error_html(void **state)
{
	struct isc_error_body eb;
	const char body[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
			    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
	char want[64];

	(void)state;
	parse_error(LIT(body), &eb);
	snprintf(want, sizeof want, "non-JSON body (%zu bytes)", sizeof body - 1);
	assert_string_equal(eb.text, want);
	assert_string_equal(eb.detail_code, "");
	assert_string_equal(eb.tracking_id, "");

	/* Plain text and JSON with an embedded NUL are not copied either. */
	parse_error(LIT("Unauthorized " MARKER), &eb);
	assert_null(strstr(eb.text, MARKER));
	parse_error(LIT("{\"message\":\"" MARKER "\"}\0junk"), &eb);
	assert_null(strstr(eb.text, MARKER));
	assert_non_null(strstr(eb.text, "non-JSON"));
}

static void test_error_oversized(void **state)
{
	struct isc_error_body eb;
	size_t len = ISC_JSON_MAX_BODY + 1;
	char *body = malloc(len);

	(void)state;
	assert_non_null(body);
	memset(body, ' ', len);
	memcpy(body, "{\"message\":\"" MARKER "\"}", sizeof "{\"message\":\"" MARKER "\"}" - 1);
	parse_error(body, len, &eb);
	free(body);
	assert_non_null(strstr(eb.text, "oversized body"));
	assert_null(strstr(eb.text, MARKER));
}

static void test_error_empty(void **state)
{
	struct isc_error_body eb;

	(void)state;
	parse_error("", 0, &eb);
	assert_string_equal(eb.text, "empty body");
	assert_string_equal(eb.detail_code, "");
	assert_string_equal(eb.tracking_id, "");
	memset(&eb, 'Z', sizeof eb);
	isc_json_parse_error(NULL, 0, &eb);
	assert_string_equal(eb.text, "empty body");
	assert_string_equal(eb.detail_code, "");
}

static void test_error_control_characters(void **state)
{
	struct isc_error_body eb;

	(void)state;
	parse_error(
		LIT("{\"detailCode\":\"400.1\\nInjected: yes\",\"trackingId\":\"t\\r\\u001b[1m\","
		    "\"messages\":[{\"text\":\"line one\\nline two\\u0085\\u007f!\"}]}"),
		&eb);
	assert_string_equal(eb.detail_code, "400.1?Injected: yes");
	assert_string_equal(eb.tracking_id, "t??[1m");
	assert_string_equal(eb.text, "line one?line two?"
				     "?!");
	/* A \u0000 in the text does not cut it short. */
	parse_error(LIT("{\"message\":\"a\\u0000b\"}"), &eb);
	assert_string_equal(eb.text, "a?b");
}

static void test_error_truncation(void **state)
{
	struct isc_error_body eb;
	/* 300 x U+00E9 (2 bytes each): must be cut on a character boundary. */
	const size_t n = 300;
	const char head[] = "{\"trackingId\":\"", mid[] = "\",\"message\":\"", tail[] = "\"}";
	size_t len = sizeof head - 1 + 200 + sizeof mid - 1 + 2 * n + sizeof tail - 1, pos = 0;
	char *body = malloc(len);

	(void)state;
	assert_non_null(body);
	memcpy(body + pos, head, sizeof head - 1);
	pos += sizeof head - 1;
	memset(body + pos, 'a', 200);
	pos += 200;
	memcpy(body + pos, mid, sizeof mid - 1);
	pos += sizeof mid - 1;
	for (size_t i = 0; i < n; i++, pos += 2)
		memcpy(body + pos, "\xc3\xa9", 2);
	memcpy(body + pos, tail, sizeof tail - 1);
	parse_error(body, len, &eb);
	free(body);
	assert_int_equal(strlen(eb.tracking_id), sizeof eb.tracking_id - 1);
	assert_int_equal(strlen(eb.text), sizeof eb.text - 2); /* 254: 127 whole characters */
	for (size_t i = 0; i < strlen(eb.text); i += 2)
		assert_memory_equal(eb.text + i, "\xc3\xa9", 2);
}

static void test_error_other_shapes(void **state)
{
	struct isc_error_body eb;

	(void)state;
	/* A JSON string body is a message. */
	parse_error(LIT("\"Service Unavailable\""), &eb);
	assert_string_equal(eb.text, "Service Unavailable");
	/* Numbers are printed; odd types are skipped. */
	parse_error(LIT("{\"detailCode\":500,\"trackingId\":{\"x\":1},\"messages\":\"m\"}"), &eb);
	assert_string_equal(eb.detail_code, "500");
	assert_string_equal(eb.tracking_id, "");
	/* Nothing useful: text says what arrived, no content. */
	parse_error(LIT("{\"foo\":\"" MARKER "\"}"), &eb);
	assert_true(eb.text[0] != '\0');
	assert_null(strstr(eb.text, MARKER));
	parse_error(LIT("[\"" MARKER "\"]"), &eb);
	assert_true(eb.text[0] != '\0');
	assert_null(strstr(eb.text, MARKER));
	/* messages present but empty or odd: falls back to the other shapes. */
	parse_error(LIT("{\"detailCode\":\"404 Object Not Found\",\"messages\":[],"
			"\"message\":\"fallback\"}"),
		    &eb);
	assert_string_equal(eb.detail_code, "404 Object Not Found");
	assert_string_equal(eb.text, "fallback");
	parse_error(LIT("{\"messages\":[null,{\"text\":\"second\"}]}"), &eb);
	assert_non_null(strstr(eb.text, "without error details"));
}

/* ---- Misc ------------------------------------------------------------------- */

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(isc_state_name(ISC_STATE_IN_PROGRESS), "IN_PROGRESS");
	assert_string_equal(isc_state_name(ISC_STATE_FINISHED), "FINISHED");
	assert_string_equal(isc_state_name(ISC_STATE_FAILED), "FAILED");
	assert_string_equal(isc_state_name((enum isc_state)42), "UNKNOWN");
}

static void test_free_zeroed(void **state)
{
	struct isc_token t = { 0 };
	struct isc_password_info p = { 0 };
	struct isc_set_result r = { 0 };
	struct isc_status s = { 0 };

	(void)state;
	isc_token_free(&t);
	isc_password_info_free(&p);
	isc_set_result_free(&r);
	isc_status_free(&s);
	isc_token_free(NULL);
	isc_password_info_free(NULL);
	isc_set_result_free(NULL);
	isc_status_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_example),
		cmocka_unit_test(test_token_variants_ok),
		cmocka_unit_test(test_token_bad),
		cmocka_unit_test(test_info_example),
		cmocka_unit_test(test_info_accounts_variants),
		cmocka_unit_test(test_info_bad),
		cmocka_unit_test(test_info_too_many_accounts),
		cmocka_unit_test(test_set_example),
		cmocka_unit_test(test_set_null_request_id),
		cmocka_unit_test(test_set_bad),
		cmocka_unit_test(test_status_example),
		cmocka_unit_test(test_status_errors_variants),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_status_too_many_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_null_body_and_small_err),
		cmocka_unit_test(test_build_lookup),
		cmocka_unit_test(test_build_set_password),
		cmocka_unit_test(test_build_refuses_bad_input),
		cmocka_unit_test(test_error_standard),
		cmocka_unit_test(test_error_oauth),
		cmocka_unit_test(test_error_401),
		cmocka_unit_test(test_error_429),
		cmocka_unit_test(test_error_html),
		cmocka_unit_test(test_error_oversized),
		cmocka_unit_test(test_error_empty),
		cmocka_unit_test(test_error_control_characters),
		cmocka_unit_test(test_error_truncation),
		cmocka_unit_test(test_error_other_shapes),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_free_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
