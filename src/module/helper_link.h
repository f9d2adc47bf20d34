/* SPDX-License-Identifier: MIT */
/* helper_link: the module's one handle on whatever serves a change.
 *
 * That is either a connection to the per-host service (pam_isc_helper
 * serve, when one runs and passes service_link's checks), or a one-shot
 * helper the module starts itself (pam_isc_helper chauthtok: a child, held
 * by a pidfd so that it is never confused with another process, waited for
 * without touching the application's SIGCHLD disposition).
 *
 * Lifecycle, the same for both kinds:
 *   helper_link_open       connect to the service, or start a helper
 *   helper_link_exchange   one request, one verdict, bounded by a deadline;
 *                          after the preliminary phase the link is kept in
 *                          PAM data for the update phase
 *   helper_link_close      close the socket; a child gets until a deadline
 *                          to exit and is killed after that
 * A closed link (fd < 0) may be closed again. */
#ifndef PAM_ISC_HELPER_LINK_H
#define PAM_ISC_HELPER_LINK_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "log.h"
#include "proto.h"

enum helper_link_kind {
	HELPER_LINK_CHILD,   /* a one-shot helper we started */
	HELPER_LINK_SERVICE, /* the per-host service */
};

struct helper_link {
	enum helper_link_kind kind;
	int fd;    /* our end of the socket; -1 when closed */
	int pidfd; /* CHILD: the helper's pidfd, or -1 */
	pid_t pid; /* CHILD: its pid (for waitpid where there is no pidfd) */
};

enum helper_link_result {
	HELPER_LINK_VERDICT = 0, /* a valid verdict */
	HELPER_LINK_GONE,        /* the request could not be sent: the other end
				  * is gone (start over with a new link) */
	HELPER_LINK_NO_ANSWER,   /* no valid verdict by the deadline (logged) */
};

/* Connect to the service (when cfg->helper_linger allows one) or start a
 * helper: helper_path must pass the checks of a trusted program (a regular
 * file reached through no symbolic link, owned by root or by us, it and
 * every directory above it not writable by others), and the descriptor
 * that was checked is the one executed. Returns 0, or -1 (logged). */
int helper_link_open(struct helper_link *h, const struct log_ctx *lc, const char *helper_path,
		     const struct config *cfg, const char *user);

/* Send req (its deadline_ms is when we stop waiting, plus grace_ms for the
 * verdict to arrive) and read one verdict line. last: no request follows
 * (our write side is shut down). */
enum helper_link_result helper_link_exchange(struct helper_link *h, const struct log_ctx *lc,
					     const struct proto_request *req, int grace_ms,
					     bool last, struct proto_verdict *verdict);

/* Close. A child may exit until exit_deadline (io_now_ms); after that
 * it is killed. Returns true when it had to be killed. */
bool helper_link_close(struct helper_link *h, long long exit_deadline);

#endif
