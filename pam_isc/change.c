/* change: see change.h. */
#include "change.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "crypto.h"
#include "isc_client.h"
#include "secret.h"

int change_select_account(const struct isc_password_info *info, const char *wanted_name,
			  size_t *index)
{
	size_t matches = 0;

	if (info->n_accounts == 0)
		return -1;
	if (info->n_accounts == 1) {
		*index = 0;
		return 0;
	}
	for (size_t i = 0; i < info->n_accounts; i++) {
		const char *name = info->accounts[i].account_name;
		if (name && strcmp(name, wanted_name) == 0) {
			*index = i;
			matches++;
		}
	}
	return matches == 1 ? 0 : -2;
}

/* Which verdict reason an ISC client error stands for. */
static enum proto_reason reason_for(const struct isc_client_error *e)
{
	switch (e->kind) {
	case ISC_CLIENT_HTTP:
		if (e->http == 429 || e->http >= 500)
			return PROTO_REASON_UNREACHABLE;
		return PROTO_REASON_REJECTED;
	case ISC_CLIENT_TRANSPORT:
	case ISC_CLIENT_TIMEOUT:
	case ISC_CLIENT_PROTOCOL:
		return PROTO_REASON_UNREACHABLE;
	case ISC_CLIENT_OK:
	case ISC_CLIENT_INTERNAL:
		break;
	}
	return PROTO_REASON_INTERNAL;
}

static void log_client_error(const struct log_ctx *lc, const char *user, const char *step,
			     const struct isc_client_error *e)
{
	char http[16];

	snprintf(http, sizeof http, "%ld", e->http);
	log_event(lc, LOG_ERR, "error", "user", user, "step", step, "kind",
		  isc_client_err_kind_name(e->kind), "http", e->http ? http : NULL, "detail",
		  e->detail[0] ? e->detail : NULL, "tracking", e->tracking[0] ? e->tracking : NULL,
		  "slpt", e->slpt[0] ? e->slpt : NULL, "text", e->text, NULL);
}

static void fail(struct proto_verdict *v, enum proto_reason reason)
{
	v->accepted = false;
	v->reason = reason;
}

int change_run(const struct config *cfg, const char *user, const unsigned char *pw,
	       size_t pw_len, long long deadline_ms, const struct log_ctx *lc,
	       struct proto_verdict *verdict)
{
	char user_name[512], account_name[512], cerr[256];
	struct config_error conf_err;
	struct secret client_secret = { 0 };
	struct isc_client *client = NULL;
	struct isc_client_error e;
	struct isc_password_info info = { 0 };
	struct isc_set_result set = { 0 };
	char *encrypted = NULL;
	size_t idx = 0, max_len = 0;
	int rc;

	memset(verdict, 0, sizeof *verdict);
	fail(verdict, PROTO_REASON_INTERNAL);

	if (config_expand_format(cfg->user_name_format, user, user_name, sizeof user_name) < 0 ||
	    config_expand_format(cfg->account_name_format, user, account_name,
				 sizeof account_name) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "config", "text",
			  "user name too long for user_name_format/account_name_format", NULL);
		fail(verdict, PROTO_REASON_CONFIG);
		return 0;
	}
	if (config_client_secret(cfg, &client_secret, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "error", "user", user, "step", "config", "text", text, NULL);
		fail(verdict, PROTO_REASON_CONFIG);
		return 0;
	}
	if (isc_client_new(cfg, &client_secret, deadline_ms, lc, &client) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "token", "text",
			  "cannot create the HTTPS client", NULL);
		goto out;
	}

	/* Separately from the lookup, so that a credentials problem is logged
	 * as one (step=token) and not as a failed lookup. */
	if (isc_client_ensure_token(client, &e) < 0) {
		log_client_error(lc, user, "token", &e);
		fail(verdict, reason_for(&e));
		goto out;
	}
	if (isc_client_lookup(client, user_name, &info, &e) < 0) {
		log_client_error(lc, user, "lookup", &e);
		fail(verdict, reason_for(&e));
		goto out;
	}
	rc = change_select_account(&info, account_name, &idx);
	if (rc < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "account", "source",
			  cfg->source_name, "identity", info.identity_id, "text",
			  rc == -1 ? "the identity has no account on the source"
				   : "several accounts on the source and none named by "
				     "account_name_format",
			  "wanted", account_name, NULL);
		fail(verdict, PROTO_REASON_ACCOUNT);
		goto out;
	}
	log_event(lc, LOG_DEBUG, "lookup", "user", user, "identity", info.identity_id, "account",
		  info.accounts[idx].account_id, "key_id", info.public_key_id, NULL);

	rc = crypto_max_password_len(info.public_key, &max_len, cerr, sizeof cerr);
	if (rc == CRYPTO_OK && pw_len > max_len) {
		char lens[48];
		snprintf(lens, sizeof lens, "%zu>%zu", pw_len, max_len);
		log_event(lc, LOG_ERR, "error", "user", user, "step", "encrypt", "text",
			  "password longer than ISC's key can carry", "bytes", lens, NULL);
		fail(verdict, PROTO_REASON_TOO_LONG);
		goto out;
	}
	if (rc == CRYPTO_OK)
		rc = crypto_encrypt_password(info.public_key, pw, pw_len, &encrypted, cerr,
					     sizeof cerr);
	if (rc != CRYPTO_OK) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "encrypt", "text", cerr,
			  NULL);
		fail(verdict, rc == CRYPTO_TOO_LONG ? PROTO_REASON_TOO_LONG
			      : rc == CRYPTO_BAD_KEY ? PROTO_REASON_REJECTED
						     : PROTO_REASON_INTERNAL);
		goto out;
	}

	if (isc_client_set_password(client, &info, &info.accounts[idx], encrypted, &set, &e) < 0) {
		log_client_error(lc, user, "set", &e);
		fail(verdict, reason_for(&e));
		goto out;
	}

	snprintf(verdict->state, sizeof verdict->state, "%s", isc_state_name(set.state));
	if (set.request_id && proto_request_id_valid(set.request_id))
		snprintf(verdict->request_id, sizeof verdict->request_id, "%s", set.request_id);
	else if (set.request_id)
		log_event(lc, LOG_WARNING, "bad_request_id", "user", user, "text",
			  "ISC sent a request id pam_isc cannot follow", NULL);

	if (set.state == ISC_STATE_FAILED) {
		log_event(lc, LOG_ERR, "final", "user", user, "request",
			  verdict->request_id[0] ? verdict->request_id : "-", "state", "FAILED",
			  "source", cfg->source_name, "account", info.accounts[idx].account_id,
			  NULL);
		fail(verdict, PROTO_REASON_FAILED);
		goto out;
	}
	verdict->accepted = true;
	verdict->reason = PROTO_REASON_NONE;
	log_event(lc, LOG_NOTICE, set.state == ISC_STATE_FINISHED ? "final" : "accepted", "user",
		  user, "request", verdict->request_id[0] ? verdict->request_id : "-", "state",
		  verdict->state, "source", cfg->source_name, "account",
		  info.accounts[idx].account_id, NULL);
out:
	secret_free_str(encrypted);
	isc_set_result_free(&set);
	isc_password_info_free(&info);
	isc_client_free(client);
	secret_clear(&client_secret);
	return 0;
}
