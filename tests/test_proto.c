/* SPDX-License-Identifier: MIT */
/* Unit tests: the module <-> helper protocol. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

static void fill_request(struct proto_request *req, const char *pw)
{
	memset(req, 0, sizeof *req);
	strcpy(req->config_path, "/etc/security/pam_isc.conf");
	strcpy(req->user, "alice");
	strcpy(req->service, "passwd");
	req->debug = true;
	req->caller_uid = 1000;
	req->deadline_ms = 10000;
	assert_int_equal(secret_set(&req->authtok, pw, strlen(pw)), 0);
}

static void test_request_round_trip(void **state)
{
	/* Password bytes may be anything except NUL, including newlines. */
	const char *pw = "p\xc3\xa4ss\nw=rd 1";
	struct proto_request sent, got;
	char err[128];
	int sv[2];

	(void)state;
	fill_request(&sent, pw);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proto_send_request(sv[0], &sent), 0);
	close(sv[0]);
	assert_int_equal(proto_read_request(sv[1], 1000, &got, err, sizeof err), PROTO_READ_OK);
	close(sv[1]);
	assert_string_equal(got.config_path, sent.config_path);
	assert_string_equal(got.user, "alice");
	assert_string_equal(got.service, "passwd");
	assert_true(got.debug);
	assert_int_equal(got.caller_uid, 1000);
	assert_int_equal(got.deadline_ms, 10000);
	assert_int_equal(got.authtok.len, strlen(pw));
	assert_memory_equal(got.authtok.data, pw, strlen(pw));
	secret_clear(&sent.authtok);
	secret_clear(&got.authtok);
}

/* The preliminary request and the update request on one socket, the socket
 * left open: each read takes exactly one request. Then EOF gives 1, and a
 * silent peer runs into the idle bound. */
static void test_two_requests_one_socket(void **state)
{
	const char *pw = "second\nphase pw";
	struct proto_request prelim, update, got;
	char err[128];
	int sv[2];

	(void)state;
	fill_request(&prelim, "");
	secret_clear(&prelim.authtok);
	prelim.phase = PROTO_PHASE_PRELIM;
	fill_request(&update, pw);
	update.phase = PROTO_PHASE_UPDATE;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proto_send_request(sv[0], &prelim), 0);
	assert_int_equal(proto_send_request(sv[0], &update), 0);
	assert_int_equal(proto_read_request(sv[1], 1000, &got, err, sizeof err), PROTO_READ_OK);
	assert_int_equal(got.phase, PROTO_PHASE_PRELIM);
	assert_int_equal(got.authtok.len, 0);
	secret_clear(&got.authtok);
	assert_int_equal(proto_read_request(sv[1], 1000, &got, err, sizeof err), PROTO_READ_OK);
	assert_int_equal(got.phase, PROTO_PHASE_UPDATE);
	assert_int_equal(got.authtok.len, strlen(pw));
	assert_memory_equal(got.authtok.data, pw, strlen(pw));
	secret_clear(&got.authtok);
	/* Nothing more, socket open: the idle bound. */
	assert_int_equal(proto_read_request(sv[1], 50, &got, err, sizeof err), PROTO_READ_ERROR);
	close(sv[0]);
	assert_int_equal(proto_read_request(sv[1], 1000, &got, err, sizeof err), PROTO_READ_EOF);
	close(sv[1]);
	secret_clear(&update.authtok);
}

/* A pipe cannot be peeked at: read a byte at a time, with the same result. */
static void test_requests_over_a_pipe(void **state)
{
	const char *pw = "second\nrequest";
	struct proto_request prelim, update, got;
	char err[128], bytes[8192];
	size_t len = 0;
	ssize_t n;
	int p[2], sv[2];

	(void)state;
	fill_request(&prelim, "");
	secret_clear(&prelim.authtok);
	prelim.phase = PROTO_PHASE_PRELIM;
	fill_request(&update, pw);
	/* proto_send_request wants a socket: the bytes go through one first. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proto_send_request(sv[0], &prelim), 0);
	assert_int_equal(proto_send_request(sv[0], &update), 0);
	close(sv[0]);
	while ((n = read(sv[1], bytes + len, sizeof bytes - len)) > 0)
		len += (size_t)n;
	close(sv[1]);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], bytes, len), (ssize_t)len);
	close(p[1]);
	assert_int_equal(proto_read_request(p[0], 1000, &got, err, sizeof err), PROTO_READ_OK);
	assert_int_equal(got.phase, PROTO_PHASE_PRELIM);
	secret_clear(&got.authtok);
	assert_int_equal(proto_read_request(p[0], 1000, &got, err, sizeof err), PROTO_READ_OK);
	assert_int_equal(got.authtok.len, strlen(pw));
	assert_memory_equal(got.authtok.data, pw, strlen(pw));
	secret_clear(&got.authtok);
	assert_int_equal(proto_read_request(p[0], 1000, &got, err, sizeof err), PROTO_READ_EOF);
	close(p[0]);
	secret_clear(&update.authtok);
}

static void expect_parse_error(const char *text, size_t len)
{
	struct proto_request req;
	char err[128] = "";

	assert_int_equal(
		proto_parse_request((const unsigned char *)text, len, &req, err, sizeof err), -1);
	assert_true(err[0] != '\0');
	assert_null(req.authtok.data);
}

#define EXPECT_BAD(lit) expect_parse_error((lit), sizeof(lit) - 1)
#define HDR \
	"PAM_ISC/2\nconfig=/c\nuser=alice\nservice=passwd\ndebug=0\nphase=update\ncaller=1000\ndeadline=10000\n"

static void test_request_errors(void **state)
{
	static const char trailing[] = HDR "authtok=3\nabcd";
	static const char short_pw[] = HDR "authtok=5\nabc";
	static const char nul_user[] =
		"PAM_ISC/2\nconfig=/c\nuser=al\0ice\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=10000\n"
		"authtok=1\na";
	(void)state;
	expect_parse_error("", 0);
	EXPECT_BAD("HELLO\n");
	EXPECT_BAD(trailing);
	EXPECT_BAD(short_pw);
	EXPECT_BAD(nul_user);
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=relative\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a/b\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=..\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(HDR "authtok=-1\n");
	/* A preliminary request carries no password; the phase is one of two. */
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=prelim\ncaller=1000\ndeadline=10000\nauthtok=1\na");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=both\ncaller=1000\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD("PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nauthtok=0\n");
	/* The old protocol; caller and deadline: decimal, in range, no zero deadline. */
	EXPECT_BAD("PAM_ISC/1\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=-1\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=4294967295\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=0\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=1000\ndeadline=99999999999999999999\nauthtok=0\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=0\nphase=update\ncaller=01000\ndeadline=10000\nauthtok=0\n");
	EXPECT_BAD(HDR "authtok=513\n");
	EXPECT_BAD(HDR "authtok=99999999999999999999\n");
	EXPECT_BAD(
		"PAM_ISC/2\nconfig=/c\nuser=a\nservice=p\ndebug=2\nphase=update\ncaller=1000\ndeadline=10000\nauthtok=0\n");
	/* The well-formed one parses: the cases above fail for their reason. */
	{
		struct proto_request req;
		char err[64];
		static const char good[] = HDR "authtok=3\nabc";
		assert_int_equal(proto_parse_request((const unsigned char *)good, sizeof good - 1,
						     &req, err, sizeof err),
				 0);
		secret_clear(&req.authtok);
	}
}

static void test_user_names(void **state)
{
	char longname[PROTO_USER_MAX + 2];

	(void)state;
	assert_true(proto_user_name_valid("alice"));
	assert_true(proto_user_name_valid("Abby.Smith@acme"));
	assert_false(proto_user_name_valid(""));
	assert_false(proto_user_name_valid(NULL));
	assert_false(proto_user_name_valid("."));
	assert_false(proto_user_name_valid(".."));
	assert_false(proto_user_name_valid("a/b"));
	assert_false(proto_user_name_valid("a\nb"));
	assert_false(proto_user_name_valid("a\x1b[31m"));
	assert_false(proto_user_name_valid("a\x7f"));
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_false(proto_user_name_valid(longname));
	longname[PROTO_USER_MAX] = '\0';
	assert_true(proto_user_name_valid(longname));
}

static void test_request_ids(void **state)
{
	(void)state;
	assert_true(proto_request_id_valid("089899f13a8f4da7824996191587bab9"));
	assert_false(proto_request_id_valid(""));
	assert_false(proto_request_id_valid("../etc"));
	assert_false(proto_request_id_valid(".hidden"));
	assert_false(proto_request_id_valid("a b"));
	assert_false(proto_request_id_valid(
		"0123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void test_verdict_round_trip(void **state)
{
	struct proto_verdict v = { .accepted = true }, got;
	char line[PROTO_VERDICT_MAX + 2];

	(void)state;
	strcpy(v.state, "IN_PROGRESS");
	strcpy(v.request_id, "089899f13a8f4da7824996191587bab9");
	assert_true(proto_format_verdict(&v, line, sizeof line) > 0);
	assert_string_equal(line,
			    "OK state=IN_PROGRESS request=089899f13a8f4da7824996191587bab9\n");
	assert_int_equal(proto_parse_verdict(line, &got), 0);
	assert_true(got.accepted);
	assert_string_equal(got.state, "IN_PROGRESS");
	assert_string_equal(got.request_id, v.request_id);

	memset(&v, 0, sizeof v);
	v.reason = PROTO_REASON_UNREACHABLE;
	assert_true(proto_format_verdict(&v, line, sizeof line) > 0);
	assert_string_equal(line, "FAIL reason=unreachable\n");
	assert_int_equal(proto_parse_verdict(line, &got), 0);
	assert_false(got.accepted);
	assert_int_equal(got.reason, PROTO_REASON_UNREACHABLE);

	/* Queued for later: only with reason unreachable. */
	memset(&v, 0, sizeof v);
	v.reason = PROTO_REASON_UNREACHABLE;
	v.queued = true;
	assert_true(proto_format_verdict(&v, line, sizeof line) > 0);
	assert_string_equal(line, "FAIL reason=unreachable queued=1\n");
	assert_int_equal(proto_parse_verdict(line, &got), 0);
	assert_true(got.queued);
	assert_int_equal(proto_parse_verdict("FAIL reason=rejected queued=1\n", &got), -1);
	assert_int_equal(proto_parse_verdict("OK state=FINISHED queued=1\n", &got), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=unreachable queued=0\n", &got), -1);
	/* The preliminary phase's answer. */
	assert_int_equal(proto_parse_verdict("OK state=CHECKED request=-\n", &got), 0);
	assert_string_equal(got.state, "CHECKED");

	/* No request id: "-" on the wire, "" in the struct. */
	assert_int_equal(proto_parse_verdict("OK state=FINISHED request=-", &got), 0);
	assert_string_equal(got.request_id, "");
}

static void test_verdict_errors(void **state)
{
	struct proto_verdict v;

	(void)state;
	assert_int_equal(proto_parse_verdict("", &v), -1);
	assert_int_equal(proto_parse_verdict("MAYBE\n", &v), -1);
	assert_int_equal(proto_parse_verdict("OK\n", &v), -1);
	assert_int_equal(proto_parse_verdict("OK state=DONE\n", &v), -1);
	assert_int_equal(proto_parse_verdict("OK state=FINISHED request=../x\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=whatever\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=config extra\n", &v), -1);
	assert_int_equal(proto_parse_verdict("OK state=FINISHED\x01\n", &v), -1);
	/* Strict fields (found by fuzzing, fuzz/regress/proto_verdict): each at
	 * most once, and only those the verdict's kind carries. */
	assert_int_equal(proto_parse_verdict("FAIL reason=failed request=abc\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=config reason=config\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=failed state=FAILED state=FAILED\n", &v),
			 -1);
	assert_int_equal(proto_parse_verdict("OK state=FINISHED request=a request=b\n", &v), -1);
	assert_int_equal(proto_parse_verdict("OK state=FINISHED reason=config\n", &v), -1);
	assert_int_equal(proto_parse_verdict("FAIL reason=failed state=FAILED\n", &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_two_requests_one_socket),
		cmocka_unit_test(test_requests_over_a_pipe),
		cmocka_unit_test(test_user_names),
		cmocka_unit_test(test_request_ids),
		cmocka_unit_test(test_verdict_round_trip),
		cmocka_unit_test(test_verdict_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
