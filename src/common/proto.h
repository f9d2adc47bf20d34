/* SPDX-License-Identifier: MIT */
/* proto: what pam_isc.so and pam_isc_helper say to each other over the
 * socketpair that is the helper's stdin and stdout.
 *
 * Module -> helper, one request (it ends after the authtok bytes):
 *     PAM_ISC/1\n
 *     config=/etc/security/pam_isc.conf\n
 *     user=alice\n
 *     service=passwd\n
 *     debug=0\n
 *     phase=update\n
 *     caller=1000\n
 *     deadline=81234567\n
 *     authtok=8\n
 *     <8 bytes of password>
 * Helper -> module, exactly one line per request:
 *     OK state=IN_PROGRESS request=089899f13a8f4da7824996191587bab9\n
 *     FAIL reason=unreachable\n
 *     FAIL reason=unreachable queued=1\n      (on_error = queue: kept for later)
 *
 * Phases: with prelim_check, the module starts the helper in the preliminary
 * phase with "phase=prelim" and no password (authtok=0); the helper answers
 * "OK state=CHECKED" (token, lookup and account done) or FAIL, and then
 * waits, with the lookup in memory, for the "phase=update" request on the
 * same socket, so that one change costs one lookup. A helper started in the
 * update phase (prelim_check = no, or the first helper is gone) does
 * everything there. After the update request the module shuts down its
 * write side. The password travels only here: never in argv or the
 * environment. */
#ifndef PAM_ISC_PROTO_H
#define PAM_ISC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "io.h"
#include "secret.h"

#define PROTO_MAGIC "PAM_ISC/2"
#define PROTO_PATH_MAX 4096
#define PROTO_USER_MAX 256
#define PROTO_SERVICE_MAX 64
#define PROTO_AUTHTOK_MAX 512 /* PAM_MAX_RESP_SIZE */
#define PROTO_REQUEST_ID_MAX 64
#define PROTO_VERDICT_MAX 160
/* How long a helper that answered the preliminary phase waits for the
 * update request before it gives up (the person may be slow to type). */
#define PROTO_PRELIM_IDLE_MS (3 * 60 * 1000)

enum proto_phase {
	PROTO_PHASE_UPDATE = 0, /* the whole change (or its second half) */
	PROTO_PHASE_PRELIM = 1, /* token + lookup + account only; no password */
};

struct proto_request {
	char config_path[PROTO_PATH_MAX];
	char user[PROTO_USER_MAX + 1];
	char service[PROTO_SERVICE_MAX + 1];
	bool debug;
	enum proto_phase phase;
	/* The real uid of the process the module runs in (the person running
	 * passwd): what the per-host service throttles by. */
	uid_t caller_uid;
	/* When the module stops waiting for this request's verdict
	 * (io_now_ms clock, shared by all processes of the host): work
	 * that cannot end by then is not started. */
	long long deadline_ms;
	struct secret authtok;
};

/* Why a change was not accepted; also picks the message the person sees. */
enum proto_reason {
	PROTO_REASON_NONE = 0,
	PROTO_REASON_CONFIG,       /* configuration or secret unusable */
	PROTO_REASON_UNREACHABLE,  /* network, TLS, timeout, 5xx, 429, nonsense answer */
	PROTO_REASON_REJECTED,     /* ISC said no: 4xx, unknown identity, bad credentials */
	PROTO_REASON_ACCOUNT,      /* no account, or several and none matching */
	PROTO_REASON_TOO_LONG,     /* password longer than ISC's key carries */
	PROTO_REASON_FAILED,       /* ISC answered state FAILED */
	PROTO_REASON_INTERNAL,     /* out of memory, helper crashed, bad verdict */
	PROTO_REASON_BUSY,         /* the service holds too many preliminary phases
				   * of this caller (or of all): try again later */
	PROTO_REASON_RATE_LIMITED, /* the host's request budget or ISC's rate limit
				    * had no room in time: nothing was sent */
};
const char *proto_reason_name(enum proto_reason r);

struct proto_verdict {
	bool accepted;
	bool queued;              /* !accepted, unreachable: kept in the offline queue */
	enum proto_reason reason; /* when !accepted */
	char state[16];           /* IN_PROGRESS / FINISHED / FAILED / CHECKED, may be "" */
	char request_id[PROTO_REQUEST_ID_MAX + 1]; /* may be "" */
};

/* true when s is a safe user name to pass on: 1..PROTO_USER_MAX bytes, no
 * control characters (text_has_control), no '/', not "." or "..". */
bool proto_user_name_valid(const char *s);
/* true when s looks like an ISC request id: 1..64 of [A-Za-z0-9_-]. */
bool proto_request_id_valid(const char *s);

/* Send a request on fd (MSG_NOSIGNAL: a dead helper must not SIGPIPE the
 * application). Returns 0 or -1 with errno. */
int proto_send_request(int fd, const struct proto_request *req);

/* Read one request from fd: the header lines up to "authtok=N", then N
 * bytes (bounded; EOF is not needed, so a second request can follow on the
 * same socket). idle_ms bounds the wait for each piece (-1: no bound).
 * On PROTO_READ_OK req->authtok holds the password (clear it). */
enum proto_read_result {
	PROTO_READ_OK = 0,
	PROTO_READ_EOF,   /* the peer closed before the first byte */
	PROTO_READ_ERROR, /* err says why: nonsense, cut short, or idle_ms passed */
};
enum proto_read_result proto_read_request(int fd, int idle_ms, struct proto_request *req, char *err,
					  size_t errsize);
/* Parse an in-memory request (the core of proto_read_request; fuzzable). */
int proto_parse_request(const unsigned char *buf, size_t len, struct proto_request *req, char *err,
			size_t errsize);

/* Render a verdict line (with '\n'). Returns its length, or 0 if it does not fit. */
size_t proto_format_verdict(const struct proto_verdict *v, char *buf, size_t size);
/* Parse one verdict line (trailing '\n' optional). Returns 0 or -1. */
int proto_parse_verdict(const char *line, struct proto_verdict *v);

#endif
