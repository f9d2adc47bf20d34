/* SPDX-License-Identifier: MIT */
/* fake_helper.h: what tests/fake_helper and tests/test_pam_glue share.
 *
 * The module starts its helper with nothing but PATH in the environment
 * and a fixed argv, so the fake helper takes its instructions from a file
 * next to itself (the directory of /proc/self/exe) and writes what it saw
 * next to itself too:
 *
 *   script   one line per phase the fake helper may be asked about:
 *              prelim say OK state=CHECKED
 *              update say FAIL reason=unreachable queued=1
 *              update sayraw OK state=IN_PROGRESS      (no newline, then exit)
 *              update garbage HELLO                    (a line that is no verdict, then hang)
 *              prelim sayexit OK state=CHECKED         (answer, close, exit)
 *              update die                              (exit without a verdict)
 *              update hang                             (never answer)
 *            A request for a phase without a line is recorded as unexpected.
 *   record   one line per event, appended by every fake helper started:
 *              start argv1=chauthtok env=PATH fds=0,1,2,3 stdin=socket stderr=null
 *              request phase=update user=alice service=glue config=/... debug=0
 *                      caller=0 deadline_left=4999 authtok_len=20 authtok_hash=...
 *              eof | died | hang | gone | unexpected phase=... | bad_request ...
 *
 * The password itself is never written anywhere: the record holds its
 * length and a hash (FNV-1a, 64 bits: enough to tell test passwords apart,
 * it protects nothing, and needs no library). */
#ifndef PAM_ISC_TEST_FAKE_HELPER_H
#define PAM_ISC_TEST_FAKE_HELPER_H

#include <stddef.h>

#define FAKE_HELPER_SCRIPT "script"
#define FAKE_HELPER_RECORD "record"

static inline unsigned long long fake_helper_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
