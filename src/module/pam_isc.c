/* SPDX-License-Identifier: MIT */
/* pam_isc.so: the PAM glue. Decides whether a user is in scope, obtains the
 * new password, and hands it to whatever serves the change (helper_link.h:
 * the per-host service, or a one-shot pam_isc_helper); maps its one-line
 * verdict to a PAM return code and a short message.
 *
 * Nothing network-related happens in this process: it is setuid passwd,
 * sshd, sudo or a login manager, running with the invoking user's
 * environment (see README, "Security model"). It changes no process-wide
 * state of the application (signal dispositions included). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "helper_link.h"
#include "log.h"
#include "loginuid.h"
#include "module_args.h"
#include "proto.h"
#include "secret.h"

#define PAM_ISC_EXPORT __attribute__((visibility("default")))

/* pam_set_data keys: the preliminary phase already logged a config error;
 * the link kept from the preliminary phase for the update phase. */
#define DATA_CONFIG_LOGGED "pam_isc.config_error_logged"
#define DATA_LINK "pam_isc.helper"
/* pam_set_data key: what ignore_changes_by decided for this change, in its
 * first phase (one of the two markers below), so that the other phase
 * answers the same without looking again or logging again. */
#define DATA_IGNORE_DECISION "pam_isc.ignore_changes_by"
static const char ignore_decision_skip[] = "skip";
static const char ignore_decision_send[] = "send";

/* How long past `timeout` the module waits for a verdict before it gives
 * up (and kills a helper of its own): the helper stops its own work a
 * little earlier, and the verdict needs a moment to come back. */
#define VERDICT_GRACE_MS 700
/* How long a helper may take to exit after its last verdict (it only
 * starts the follow-up, or a service, on its way out). */
#define HELPER_EXIT_MS 2000

/* Everything one call of pam_sm_chauthtok works with. */
struct change_call {
	pam_handle_t *pamh;
	int flags;
	struct module_args args;
	struct log_ctx lc;
	struct config cfg;
	int args_argc;
	const char **args_argv;
	const char *user;
	bool have_cfg;
	struct proto_request req;
};

static void pam_log_sink(void *sink_ctx, int priority, const char *line)
{
	pam_syslog((pam_handle_t *)sink_ctx, priority, "%s", line);
}

static void tell_user(pam_handle_t *pamh, int flags, int style, const char *text)
{
	if (!(flags & PAM_SILENT))
		pam_prompt(pamh, style, NULL, "%s", text);
}

/* A link kept between the preliminary and the update phase, with what it
 * answered in the preliminary phase. */
struct kept_link {
	struct helper_link link;
	struct proto_verdict prelim;
};

static void kept_link_cleanup(pam_handle_t *pamh, void *data, int status)
{
	struct kept_link *k = data;

	(void)pamh;
	(void)status;
	if (k) {
		helper_link_close(&k->link, io_now_ms() + 200);
		free(k);
	}
}

/* Send the request, the deadline set from timeout now. */
static enum helper_link_result exchange(struct change_call *c, struct helper_link *h, bool last,
					struct proto_verdict *verdict)
{
	c->req.deadline_ms = io_now_ms() + (long long)c->cfg.timeout * 1000;
	return helper_link_exchange(h, &c->lc, &c->req, VERDICT_GRACE_MS, last, verdict);
}

/* The update phase: hand the request to the link kept from the
 * preliminary phase, or to a new one. Returns 0 with the verdict, or -1
 * (logged) when nothing answered. */
static int run_update(struct change_call *c, struct proto_verdict *verdict)
{
	const void *data = NULL;
	struct helper_link h = { .fd = -1, .pidfd = -1 };
	enum helper_link_result r = HELPER_LINK_GONE;

	if (pam_get_data(c->pamh, DATA_LINK, &data) == PAM_SUCCESS && data) {
		struct kept_link *k = (struct kept_link *)data;
		h = k->link;
		k->link.fd = -1; /* ours now: the cleanup leaves it alone */
		k->link.pidfd = -1;
		k->link.pid = 0;
		if (h.fd >= 0) {
			r = exchange(c, &h, true, verdict);
			if (r == HELPER_LINK_GONE) {
				/* It is gone (it waited too long for the person):
				 * start over with a new one. */
				log_event(&c->lc, LOG_INFO, "helper_gone", "user", c->user, NULL);
				helper_link_close(&h, io_now_ms() + 200);
			}
		}
	}
	if (r == HELPER_LINK_GONE) {
		if (helper_link_open(&h, &c->lc, c->args.helper_path, &c->cfg, c->user) < 0)
			return -1;
		r = exchange(c, &h, true, verdict);
		if (r == HELPER_LINK_GONE)
			log_event(&c->lc, LOG_ERR, "error", "user", c->user, "step", "helper",
				  "text", "cannot hand the request to the helper", NULL);
	}
	if (helper_link_close(&h, r == HELPER_LINK_VERDICT ? io_now_ms() + HELPER_EXIT_MS
							   : io_now_ms()) &&
	    r == HELPER_LINK_VERDICT)
		log_event(&c->lc, LOG_WARNING, "helper_killed", "user", c->user, NULL);
	return r == HELPER_LINK_VERDICT ? 0 : -1;
}

/* The preliminary phase with prelim_check: let the helper or the service
 * fetch a token and look the user up, and keep the link (with the lookup
 * on its side) for the update phase. Returns 0 with the verdict, or -1
 * when nothing answered in time (logged; a helper is killed). */
static int run_prelim(struct change_call *c, struct proto_verdict *verdict)
{
	struct helper_link h;
	struct kept_link *k;
	enum helper_link_result r;

	if (helper_link_open(&h, &c->lc, c->args.helper_path, &c->cfg, c->user) < 0)
		return -1;
	r = exchange(c, &h, false, verdict);
	if (r == HELPER_LINK_VERDICT) {
		k = calloc(1, sizeof *k);
		if (k) {
			k->link = h;
			k->prelim = *verdict;
			if (pam_set_data(c->pamh, DATA_LINK, k, kept_link_cleanup) == PAM_SUCCESS)
				return 0; /* kept: the cleanup closes it */
			free(k);
		}
	} else if (r == HELPER_LINK_GONE) {
		log_event(&c->lc, LOG_ERR, "error", "user", c->user, "step", "helper", "text",
			  "cannot hand the request to the helper", NULL);
	}
	/* Not kept (no answer, or no memory to keep it): the update phase
	 * starts over if it gets that far. */
	helper_link_close(&h, io_now_ms());
	return r == HELPER_LINK_VERDICT ? 0 : -1;
}

static const char *message_for(enum proto_reason reason)
{
	switch (reason) {
	case PROTO_REASON_UNREACHABLE:
		return "Identity Security Cloud is unreachable; the new password was not sent "
		       "there.";
	case PROTO_REASON_REJECTED:
	case PROTO_REASON_ACCOUNT:
		return "Identity Security Cloud did not accept the password change for this "
		       "account.";
	case PROTO_REASON_TOO_LONG:
		return "The new password is too long for Identity Security Cloud.";
	case PROTO_REASON_FAILED:
		return "Identity Security Cloud refused the new password.";
	case PROTO_REASON_CONFIG:
		return "Password sync with Identity Security Cloud is misconfigured; contact "
		       "your administrator.";
	case PROTO_REASON_BUSY:
		return "Too many password changes are under way; try again in a few minutes.";
	case PROTO_REASON_RATE_LIMITED:
		return "Identity Security Cloud is busy; the new password was not sent there.";
	case PROTO_REASON_NONE:
	case PROTO_REASON_INTERNAL:
		break;
	}
	return "The new password could not be sent to Identity Security Cloud.";
}

/* Failure policy (on_error). "ISC unreachable" is what the helper reports
 * as reason unreachable (no connection, TLS failure, timeout, HTTP 5xx,
 * 429 beyond the time left, an answer that makes no sense) and a helper
 * that did not answer in time (internal): fail refuses, ignore and queue
 * let the local change stand (queue has kept it when it could). "ISC said
 * no" (rejected: 4xx, unknown identity, bad credentials; account: none or
 * several; too_long; failed) is never queued: fail refuses, ignore and
 * queue let the local change stand and log it as an error. A broken
 * configuration always refuses. */
static bool reason_unreachable(enum proto_reason r)
{
	return r == PROTO_REASON_UNREACHABLE || r == PROTO_REASON_INTERNAL ||
	       r == PROTO_REASON_BUSY || r == PROTO_REASON_RATE_LIMITED;
}

static const char *policy_name(unsigned on_error)
{
	return on_error == CONFIG_ON_ERROR_FAIL     ? "fail"
	       : on_error == CONFIG_ON_ERROR_IGNORE ? "ignore"
						    : "queue";
}

/* The update phase's result for a verdict that is not an acceptance. */
static int update_failed(const struct change_call *c, const struct proto_verdict *v)
{
	pam_handle_t *pamh = c->pamh;
	int flags = c->flags;
	const struct log_ctx *lc = &c->lc;
	const struct config *cfg = &c->cfg;
	const char *user = c->user;

	if (v->reason == PROTO_REASON_CONFIG || cfg->on_error == CONFIG_ON_ERROR_FAIL) {
		tell_user(pamh, flags, PAM_ERROR_MSG, message_for(v->reason));
		return PAM_AUTHTOK_ERR;
	}
	if (v->queued) {
		tell_user(
			pamh, flags, PAM_TEXT_INFO,
			v->reason == PROTO_REASON_RATE_LIMITED
				? "Identity Security Cloud is busy; your new password is queued "
				  "and will be sent in a few minutes."
				: "Identity Security Cloud is unreachable; your new password will "
				  "be sent when it is back.");
		return PAM_SUCCESS;
	}
	/* The local change stands; say so loudly. */
	log_event(lc, LOG_ERR, "local_only", "user", user, "reason", proto_reason_name(v->reason),
		  "policy", policy_name(cfg->on_error), "text",
		  reason_unreachable(v->reason)
			  ? "ISC unreachable: the password was changed locally only"
			  : "ISC refused: the password was changed locally only",
		  NULL);
	if (reason_unreachable(v->reason))
		tell_user(pamh, flags, PAM_ERROR_MSG,
			  "Identity Security Cloud is unreachable; the new password was set "
			  "here only and was not sent there.");
	else
		tell_user(pamh, flags, PAM_ERROR_MSG,
			  "Identity Security Cloud did not accept the new password; it was set "
			  "here only.");
	return PAM_SUCCESS;
}

/* The preliminary phase's result (prelim_check = yes). */
static int prelim_result(const struct change_call *c, int rc, const struct proto_verdict *v)
{
	pam_handle_t *pamh = c->pamh;
	int flags = c->flags;
	const struct log_ctx *lc = &c->lc;
	const struct config *cfg = &c->cfg;
	const char *user = c->user;
	enum proto_reason reason = rc < 0 ? PROTO_REASON_INTERNAL : v->reason;

	if (rc == 0 && v->accepted)
		return PAM_SUCCESS;
	if (cfg->on_error != CONFIG_ON_ERROR_FAIL)
		return PAM_SUCCESS; /* the update phase decides and says why */
	/* on_error = fail promises that the local password and ISC stay the same:
	 * a secret file the helper cannot use vetoes the change here as well,
	 * since the update phase would refuse it after pam_unix has run. */
	log_event(lc, LOG_NOTICE, "refused", "user", user, "phase", "prelim", "reason",
		  proto_reason_name(reason), "policy", "fail", "text",
		  "nothing was changed, neither here nor in ISC", NULL);
	tell_user(pamh, flags, PAM_ERROR_MSG,
		  reason == PROTO_REASON_CONFIG
			  ? "Password sync with Identity Security Cloud is misconfigured; the "
			    "password was not changed. Contact your administrator."
		  : reason == PROTO_REASON_BUSY || reason == PROTO_REASON_RATE_LIMITED
			  ? "Too many password changes are under way; the password was not "
			    "changed. Try again in a few minutes."
		  : reason_unreachable(reason)
			  ? "Identity Security Cloud is unreachable; the password was not "
			    "changed. Try again later."
			  : "Identity Security Cloud cannot take a new password for this "
			    "account; the password was not changed.");
	return PAM_TRY_AGAIN;
}

static void no_cleanup(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)data;
	(void)status;
}

/* Is this change ISC's own? When this host's source is in a person's
 * password sync group, ISC sets the password here through its connector,
 * which logs in as a service account and runs passwd or chpasswd through
 * sudo; sending that change back would make ISC fan it out again. Such a
 * change is made in a session whose audit login uid is that account's
 * (ignore_changes_by lists it).
 *
 * Only the login uid is trusted for this. PAM_RUSER is whatever the
 * application put there (sudo sets the invoking user, passwd nothing, any
 * program linking libpam anything), and SUDO_USER is an environment
 * variable, chosen by whoever runs setuid passwd: with either, anybody
 * could keep their changes from ISC by naming the connector's account.
 * The login uid is set by pam_loginuid when the person logs in, kept
 * across sudo, su and setuid programs, and changed by no process without
 * CAP_AUDIT_CONTROL.
 *
 * Returns 0 with *skip set (and the decision logged once per change), or
 * -1 when the login uid cannot be read (logged; the change is then an
 * ordinary one, as in a session without a login). */
static int ignored_session(struct change_call *c, bool *skip)
{
	const struct config_logins *logins = &c->cfg.ignore_changes_by;
	const struct config_login *matched = NULL;
	const void *decided = NULL;
	char loginuid_text[16], matched_uid[16];
	uint32_t loginuid;

	*skip = false;
	if (logins->n == 0)
		return 0;
	if (pam_get_data(c->pamh, DATA_IGNORE_DECISION, &decided) == PAM_SUCCESS && decided) {
		*skip = decided == (const void *)ignore_decision_skip;
		return 0;
	}
	if (loginuid_read(LOGINUID_SELF_PATH, &loginuid) < 0) {
		char why[160];
		snprintf(why, sizeof why, "cannot read %s (%s): the change is sent",
			 LOGINUID_SELF_PATH, strerror(errno));
		log_event(&c->lc, LOG_WARNING, "loginuid_error", "user", c->user, "key",
			  "ignore_changes_by", "text", why, NULL);
		pam_set_data(c->pamh, DATA_IGNORE_DECISION, (void *)ignore_decision_send,
			     no_cleanup);
		return -1;
	}
	/* Nobody logged in (a daemon, a boot script): an ordinary change. */
	for (size_t i = 0; loginuid != LOGINUID_UNSET && i < logins->n && !matched; i++) {
		switch (config_login_match(&logins->items[i], (uid_t)loginuid)) {
		case CONFIG_LOGIN_MATCH:
			matched = &logins->items[i];
			break;
		case CONFIG_LOGIN_UNKNOWN:
			/* Not a configuration error: the connector's account may
			 * live in a directory that is down right now. */
			log_event(&c->lc, LOG_WARNING, "config_warning", "key", "ignore_changes_by",
				  "name", logins->items[i].name, "text",
				  "unknown to the name service; this entry is ignored", NULL);
			break;
		case CONFIG_LOGIN_OTHER:
			break;
		}
	}
	pam_set_data(c->pamh, DATA_IGNORE_DECISION,
		     (void *)(matched ? ignore_decision_skip : ignore_decision_send), no_cleanup);
	if (!matched)
		return 0;
	snprintf(loginuid_text, sizeof loginuid_text, "%" PRIu32, loginuid);
	snprintf(matched_uid, sizeof matched_uid, "%lu", (unsigned long)matched->uid);
	log_event(&c->lc, LOG_INFO, "skipped", "reason", "ignore_changes_by", "user", c->user,
		  "loginuid", loginuid_text, "by", matched->name ? matched->name : matched_uid,
		  NULL);
	*skip = true;
	return 0;
}

/* Arguments, user, configuration and scope: PAM_SUCCESS when the change is
 * ours to send, else what pam_sm_chauthtok returns. */
static int call_begin(struct change_call *c)
{
	struct config_error conf_err;
	const char *service = NULL, *why = NULL;
	const void *logged = NULL;
	char err[256];
	bool skip = false;
	int rc;

	if (module_args_parse(c->args_argc, c->args_argv, &c->args, err, sizeof err) < 0) {
		log_event(&c->lc, LOG_ERR, "arg_error", "text", err, NULL);
		return PAM_SERVICE_ERR;
	}
	c->lc.debug = c->args.debug;
	rc = pam_get_user(c->pamh, &c->user, NULL);
	if (rc != PAM_SUCCESS || !c->user) {
		log_event(&c->lc, LOG_ERR, "error", "step", "user", "text", "no user name", NULL);
		return PAM_USER_UNKNOWN;
	}
	if (!proto_user_name_valid(c->user)) {
		log_event(&c->lc, LOG_WARNING, "skip", "user", c->user, "reason", "invalid_name",
			  NULL);
		return PAM_IGNORE;
	}
	if (config_load(c->args.config_path, &c->cfg, &conf_err) < 0) {
		/* Log once per change even though both phases get here. */
		if (pam_get_data(c->pamh, DATA_CONFIG_LOGGED, &logged) != PAM_SUCCESS || !logged) {
			char line_no[16];
			snprintf(line_no, sizeof line_no, "%u", conf_err.line);
			log_event(&c->lc, LOG_ERR, "config_error", "user", c->user, "file",
				  conf_err.file, "line", conf_err.line ? line_no : NULL, "key",
				  conf_err.key[0] ? conf_err.key : NULL, "text", conf_err.message,
				  NULL);
			pam_set_data(c->pamh, DATA_CONFIG_LOGGED, (void *)DATA_CONFIG_LOGGED,
				     no_cleanup);
		}
		if (c->flags & PAM_PRELIM_CHECK)
			return PAM_IGNORE;
		tell_user(c->pamh, c->flags, PAM_ERROR_MSG, message_for(PROTO_REASON_CONFIG));
		return PAM_AUTHTOK_ERR;
	}
	c->have_cfg = true;
	if (!config_user_in_scope(&c->cfg, c->user, &why)) {
		log_event(&c->lc, LOG_DEBUG, "skip", "user", c->user, "reason", why, NULL);
		return PAM_IGNORE;
	}
	/* ISC's own change: made here only, not sent back (nothing is started,
	 * asked or queued); the local change goes on. A login uid that cannot
	 * be read was logged: the change is sent. */
	if (ignored_session(c, &skip) == 0 && skip)
		return PAM_IGNORE;
	if (pam_get_item(c->pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS || !service)
		service = "";
	snprintf(c->req.config_path, sizeof c->req.config_path, "%s", c->args.config_path);
	snprintf(c->req.user, sizeof c->req.user, "%s", c->user);
	snprintf(c->req.service, sizeof c->req.service, "%s", service);
	for (char *p = c->req.service; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	c->req.debug = c->args.debug;
	c->req.caller_uid = getuid();
	return PAM_SUCCESS;
}

static int chauthtok_prelim(struct change_call *c)
{
	struct proto_verdict verdict;
	int rc;

	if (!c->cfg.prelim_check)
		return PAM_SUCCESS;
	c->req.phase = PROTO_PHASE_PRELIM;
	rc = run_prelim(c, &verdict);
	rc = prelim_result(c, rc, &verdict);
	/* Refused: no update phase follows; let the link go now (replacing
	 * the data runs its cleanup). */
	if (rc != PAM_SUCCESS)
		pam_set_data(c->pamh, DATA_LINK, NULL, NULL);
	return rc;
}

static int chauthtok_update(struct change_call *c)
{
	struct proto_verdict verdict;
	const char *authtok = NULL;
	size_t authtok_len;
	int rc;

	/* Prompts (twice) unless an earlier module set it; honours use_authtok. */
	rc = pam_get_authtok(c->pamh, PAM_AUTHTOK, &authtok, NULL);
	if (rc != PAM_SUCCESS || !authtok) {
		log_event(&c->lc, LOG_ERR, "error", "user", c->user, "step", "authtok", "text",
			  pam_strerror(c->pamh, rc), NULL);
		return rc == PAM_SUCCESS ? PAM_AUTHTOK_ERR : rc;
	}
	authtok_len = strnlen(authtok, PROTO_AUTHTOK_MAX + 1);
	if (authtok_len == 0 || authtok_len > PROTO_AUTHTOK_MAX) {
		log_event(&c->lc, LOG_ERR, "error", "user", c->user, "step", "authtok", "text",
			  authtok_len ? "password longer than PAM_MAX_RESP_SIZE" : "empty password",
			  NULL);
		tell_user(c->pamh, c->flags, PAM_ERROR_MSG,
			  authtok_len ? message_for(PROTO_REASON_TOO_LONG)
				      : message_for(PROTO_REASON_INTERNAL));
		return PAM_AUTHTOK_ERR;
	}
	c->req.phase = PROTO_PHASE_UPDATE;
	if (secret_set(&c->req.authtok, authtok, authtok_len) < 0)
		return PAM_BUF_ERR;
	rc = run_update(c, &verdict);
	secret_clear(&c->req.authtok);
	if (rc < 0) {
		/* No verdict: the helper overran timeout (and was killed) or
		 * could not run; ISC did not take the change as far as we know. */
		memset(&verdict, 0, sizeof verdict);
		verdict.reason = PROTO_REASON_INTERNAL;
	}
	if (!verdict.accepted || strcmp(verdict.state, "CHECKED") == 0)
		return update_failed(c, &verdict);
	tell_user(c->pamh, c->flags, PAM_TEXT_INFO,
		  "New password sent to Identity Security Cloud.");
	return PAM_SUCCESS;
}

PAM_ISC_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct change_call c = {
		.pamh = pamh,
		.flags = flags,
		.args_argc = argc,
		.args_argv = argv,
		.lc = { .sink = pam_log_sink, .sink_ctx = pamh, .debug = false },
	};
	int rc = call_begin(&c);

	if (rc == PAM_SUCCESS)
		rc = (flags & PAM_PRELIM_CHECK) ? chauthtok_prelim(&c) : chauthtok_update(&c);
	if (c.have_cfg)
		config_free(&c.cfg);
	return rc;
}
