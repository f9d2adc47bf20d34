/* SPDX-License-Identifier: MIT */
/* service: the per-host service, `pam_isc_helper serve`.
 *
 * One process per host serves the password changes of every PAM
 * application over RUNTIME_DIR/service.sock (service_socket.h), keeping
 * the token and the TLS connections to ISC between changes (a batch such as
 * chpasswd then costs no process start and no TLS handshake per change).
 * It is started either by systemd (pam-isc.socket, pam-isc.service) or, on
 * a host without a service manager, by a one-shot helper whose caller was
 * root in the host's own context (host_context.h); never from an ordinary
 * user's passwd. Either way it first puts back the host's context.
 *
 * It serves many changes at once: each accepted connection is a session
 * (session.h); a session that answered its preliminary phase waits, with
 * its lookup, for the update phase while others are served. A caller may
 * hold SERVICE_MAX_HELD_PER_CALLER such sessions at a time, everyone
 * together SERVICE_MAX_SESSIONS; more are answered "busy". ISC's answers
 * are awaited one at a time, each bounded by its request's deadline.
 *
 * It leaves when nothing happened for helper_linger seconds (systemd starts
 * it again on the next connection), after SERVICE_MAX_LIFETIME_S, when its
 * program file was replaced (an upgrade), or when its socket was taken
 * away; never while a session is open. */
#ifndef PAM_ISC_SERVICE_H
#define PAM_ISC_SERVICE_H

#include "log.h"

#define SERVICE_MAX_SESSIONS 64
#define SERVICE_MAX_HELD_PER_CALLER 4
#define SERVICE_MAX_LIFETIME_S 3600
/* How long an accepted connection may take to send its request. */
#define SERVICE_REQUEST_MS 5000

/* Serve until it is time to leave. Returns the exit status. */
int service_run(const char *config_path, const char *self_exe, struct log_ctx *lc);

#endif
