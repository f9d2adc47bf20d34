/* SPDX-License-Identifier: MIT */
/* test_proto_faults: the module/helper protocol under failing socket calls.
 *
 * A request (with a password) goes through proto_send_request on one end of
 * a socketpair and proto_read_request on the other, with the Nth wrapped
 * call failing (send, recv, poll, read, malloc, ...), for N = 1, 2, ...
 * until a run no longer reaches its Nth call:
 *   - soft faults (EINTR, short sends) must not change anything: every run
 *     delivers the request exactly;
 *   - hard faults (EPIPE, ECONNRESET, EIO, ENOMEM, ...) may make either
 *     side fail, but a request that is read is the one that was sent, never
 *     a part of it or a mix, and nothing leaks (ASan build).
 * The sender's end is shut down after the send, so a reader whose request
 * never came sees EOF instead of waiting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "proto.h"
#include "secret.h"

#define MAX_RUNS 2000

static void make_request(struct proto_request *r, enum proto_phase phase)
{
	static const char pw[] = "correct horse\nbattery staple";

	memset(r, 0, sizeof *r);
	snprintf(r->config_path, sizeof r->config_path, "/etc/security/pam_isc.conf");
	snprintf(r->user, sizeof r->user, "alice");
	snprintf(r->service, sizeof r->service, "passwd");
	r->debug = true;
	r->phase = phase;
	r->caller_uid = 1000;
	r->deadline_ms = 123456789;
	if (phase == PROTO_PHASE_UPDATE)
		assert_int_equal(secret_set(&r->authtok, pw, sizeof pw - 1), 0);
	else
		assert_int_equal(secret_set(&r->authtok, "", 0), 0);
}

static bool same_request(const struct proto_request *a, const struct proto_request *b)
{
	return strcmp(a->config_path, b->config_path) == 0 && strcmp(a->user, b->user) == 0 &&
	       strcmp(a->service, b->service) == 0 && a->debug == b->debug &&
	       a->phase == b->phase && a->caller_uid == b->caller_uid &&
	       a->deadline_ms == b->deadline_ms && a->authtok.len == b->authtok.len &&
	       memcmp(a->authtok.data, b->authtok.data, a->authtok.len) == 0;
}

static void run(bool soft, enum proto_phase phase)
{
	struct proto_request sent, got;
	unsigned long n, delivered = 0, failed = 0;

	make_request(&sent, phase);
	for (n = 1; n <= MAX_RUNS; n++) {
		struct fault_plan p = { .nth = n, .seed = n, .soft = soft };
		char err[256] = "";
		int sv[2], src;
		enum proto_read_result rrc;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		memset(&got, 0, sizeof got);
		fault_arm(&p);
		src = proto_send_request(sv[0], &sent);
		shutdown(sv[0], SHUT_WR);
		rrc = proto_read_request(sv[1], 2000, &got, err, sizeof err);
		fault_disarm();
		close(sv[0]);
		close(sv[1]);

		if (rrc == PROTO_READ_OK) {
			if (!same_request(&sent, &got))
				fail_msg("call %lu failing: a different request was read", n);
			if (src != 0)
				fail_msg("call %lu failing: the send failed, yet all of it arrived", n);
			secret_clear(&got.authtok);
			delivered++;
		} else {
			assert_null(got.authtok.data);
			if (soft)
				fail_msg("call %lu failing softly: send %d, read %d (%s)", n, src, rrc,
					 err);
			failed++;
		}
		if (fault_injected() == 0) {
			if (rrc != PROTO_READ_OK)
				fail_msg("without a fault: send %d, read %d (%s)", src, rrc, err);
			break;
		}
	}
	assert_true(n <= MAX_RUNS && n > 1);
	print_message("%s %s: %3lu faults: %3lu delivered, %3lu failed\n",
		      phase == PROTO_PHASE_UPDATE ? "update" : "prelim", soft ? "soft" : "hard",
		      n - 1, delivered - 1, failed);
	secret_clear(&sent.authtok);
}

static void test_soft(void **state)
{
	(void)state;
	run(true, PROTO_PHASE_UPDATE);
	run(true, PROTO_PHASE_PRELIM);
}

static void test_hard(void **state)
{
	(void)state;
	run(false, PROTO_PHASE_UPDATE);
	run(false, PROTO_PHASE_PRELIM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soft),
		cmocka_unit_test(test_hard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
