/* change: one password change, start to verdict: secret, token, lookup,
 * account choice, encryption, set-password. What the helper runs for the
 * module, and what pam_isc_ctl builds on. */
#ifndef PAM_ISC_CHANGE_H
#define PAM_ISC_CHANGE_H

#include <stddef.h>

#include "config.h"
#include "isc_json.h"
#include "log.h"
#include "proto.h"

/* Pick the account the password is for: the only one, else the one whose
 * accountName equals wanted_name. Returns 0 and sets *index; -1 when there
 * is no account; -2 when several exist and none (or more than one) matches. */
int change_select_account(const struct isc_password_info *info, const char *wanted_name,
			  size_t *index);

/* Run one change for Linux user `user` with password pw[0..pw_len), bounded
 * by deadline_ms (isc_client_now_ms clock). Logs every event (accepted,
 * final when ISC answered a final state, every error) through lc and fills
 * the verdict for the module. Returns 0 when the verdict is filled (accepted
 * or not), -1 only if even that failed. */
int change_run(const struct config *cfg, const char *user, const unsigned char *pw,
	       size_t pw_len, long long deadline_ms, const struct log_ctx *lc,
	       struct proto_verdict *verdict);

#endif
