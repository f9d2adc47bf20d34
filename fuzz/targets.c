/* SPDX-License-Identifier: MIT */
/* fuzz/targets.c: see targets.h. */
#include "targets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "isc_json.h"
#include "module_args.h"
#include "proto.h"
#include "queue.h"
#include "secret.h"

/* A failed invariant: abort, so that libFuzzer keeps the input and the
 * replay test fails loudly. */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                                  \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* The fault-injection build (tests/fault, make check-faults) fails
 * allocations and I/O while a target runs; these pause it while a target
 * checks a result, so that a check is never failed by a fault meant for the
 * parser. Weak: absent from every other build, where they are not called. */
extern void fault_hold(void) __attribute__((weak));
extern void fault_release(void) __attribute__((weak));

static void checks_begin(void)
{
	if (fault_hold)
		fault_hold();
}

static void checks_end(void)
{
	if (fault_release)
		fault_release();
}

/* A string field of fixed size must be NUL-terminated within it. */
#define FUZZ_CHECK_TERMINATED(field) FUZZ_CHECK(memchr((field), '\0', sizeof(field)) != NULL)

static bool no_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* ---- config file ---------------------------------------------------------- */

static void run_config(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_error err;
	char buf[512];

	if (config_parse_buffer("fuzz.conf", (const char *)data, size, &cfg, &err) == 0) {
		char out[1024];

		FUZZ_CHECK(cfg.api_url && strncmp(cfg.api_url, "https://", 8) == 0);
		FUZZ_CHECK(cfg.client_id && cfg.source_name);
		FUZZ_CHECK((cfg.client_secret.data != NULL) != (cfg.client_secret_file != NULL));
		FUZZ_CHECK(cfg.timeout >= 1);
		config_expand_format(cfg.user_name_format, "alice", out, sizeof out);
		config_expand_format(cfg.account_name_format, "alice", out, sizeof out);
		(void)config_user_skipped(&cfg, "root");
		/* ignore_changes_by: a list exactly as long as it says, each entry
		 * a non-empty name or a uid that can be a login uid. */
		FUZZ_CHECK((cfg.ignore_changes_by.n == 0) == (cfg.ignore_changes_by.items == NULL));
		for (size_t i = 0; i < cfg.ignore_changes_by.n; i++) {
			const struct config_login *l = &cfg.ignore_changes_by.items[i];
			FUZZ_CHECK(l->name ? l->name[0] != '\0' : l->uid != (uid_t)-1);
		}
		config_free(&cfg);
	} else {
		FUZZ_CHECK_TERMINATED(err.file);
		FUZZ_CHECK_TERMINATED(err.key);
		FUZZ_CHECK_TERMINATED(err.message);
		FUZZ_CHECK(err.message[0] != '\0');
		/* The struct is left zeroed: config_free on it is harmless. */
		config_free(&cfg);
	}
	config_error_format(&err, buf, sizeof buf);
	FUZZ_CHECK_TERMINATED(buf);
}

/* ---- module arguments: the input split at NUL bytes into argv ------------ */

static void run_module_args(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	const char *argv[64];
	int argc = 0;
	struct module_args args;
	char err[256];

	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t start = 0; start <= size && argc < 64;) {
		size_t n = strlen(copy + start);
		argv[argc++] = copy + start;
		start += n + 1;
	}
	if (module_args_parse(argc, argv, &args, err, sizeof err) == 0) {
		FUZZ_CHECK(args.config_path && args.config_path[0] == '/');
		FUZZ_CHECK(args.helper_path && args.helper_path[0] == '/');
		FUZZ_CHECK(no_control_chars(args.config_path) &&
			   no_control_chars(args.helper_path));
	} else {
		FUZZ_CHECK_TERMINATED(err);
	}
	free(copy);
}

/* ---- the module/helper protocol ------------------------------------------- */

static void run_proto_request(const uint8_t *data, size_t size)
{
	struct proto_request req;
	char err[128];

	if (proto_parse_request(data, size, &req, err, sizeof err) == 0) {
		FUZZ_CHECK_TERMINATED(req.config_path);
		FUZZ_CHECK_TERMINATED(req.user);
		FUZZ_CHECK_TERMINATED(req.service);
		FUZZ_CHECK(req.config_path[0] == '/');
		FUZZ_CHECK(proto_user_name_valid(req.user));
		FUZZ_CHECK(req.authtok.len <= PROTO_AUTHTOK_MAX);
		FUZZ_CHECK(req.authtok.data && req.authtok.data[req.authtok.len] == '\0');
		secret_clear(&req.authtok);
	} else {
		FUZZ_CHECK_TERMINATED(err);
		FUZZ_CHECK(req.authtok.data == NULL);
	}
}

static void run_proto_verdict(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct proto_verdict v, again;
	char out[PROTO_VERDICT_MAX + 2];

	if (!line)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if (proto_parse_verdict(line, &v) == 0) {
		size_t n;

		FUZZ_CHECK_TERMINATED(v.state);
		FUZZ_CHECK_TERMINATED(v.request_id);
		FUZZ_CHECK(v.request_id[0] == '\0' || proto_request_id_valid(v.request_id));
		/* What was accepted renders and parses back to the same verdict. */
		n = proto_format_verdict(&v, out, sizeof out);
		FUZZ_CHECK(n > 0 && n < sizeof out && out[n - 1] == '\n');
		FUZZ_CHECK(proto_parse_verdict(out, &again) == 0);
		FUZZ_CHECK(again.accepted == v.accepted);
		FUZZ_CHECK(v.accepted || again.reason == v.reason);
		FUZZ_CHECK(strcmp(again.state, v.state) == 0);
		FUZZ_CHECK(strcmp(again.request_id, v.request_id) == 0);
	}
	free(line);
}

/* ---- ISC response bodies ---------------------------------------------------- */

static void run_json_token(const uint8_t *data, size_t size)
{
	struct isc_token t = { 0 };
	char err[128];

	if (isc_json_parse_token((const char *)data, size, &t, err, sizeof err) == 0) {
		FUZZ_CHECK(t.access_token && t.access_token[0] != '\0');
		FUZZ_CHECK(t.expires_in > 0);
	} else {
		FUZZ_CHECK_TERMINATED(err);
	}
	isc_token_free(&t);
}

static void run_json_lookup(const uint8_t *data, size_t size)
{
	struct isc_password_info p = { 0 };
	char err[128];

	if (isc_json_parse_password_info((const char *)data, size, &p, err, sizeof err) == 0) {
		FUZZ_CHECK(p.identity_id && p.source_id && p.public_key_id && p.public_key);
		FUZZ_CHECK(p.n_accounts == 0 || p.accounts);
		for (size_t i = 0; i < p.n_accounts; i++)
			FUZZ_CHECK(p.accounts[i].account_id != NULL);
	} else {
		FUZZ_CHECK_TERMINATED(err);
	}
	isc_password_info_free(&p);
}

static void run_json_set(const uint8_t *data, size_t size)
{
	struct isc_set_result r = { 0 };
	char err[128];

	if (isc_json_parse_set_result((const char *)data, size, &r, err, sizeof err) == 0)
		FUZZ_CHECK(isc_state_name(r.state) != NULL);
	else
		FUZZ_CHECK_TERMINATED(err);
	isc_set_result_free(&r);
}

static void run_json_status(const uint8_t *data, size_t size)
{
	struct isc_status s = { 0 };
	char err[128];

	if (isc_json_parse_status((const char *)data, size, &s, err, sizeof err) == 0) {
		FUZZ_CHECK(isc_state_name(s.state) != NULL);
		FUZZ_CHECK(s.n_errors == 0 || s.errors);
		for (size_t i = 0; i < s.n_errors; i++)
			FUZZ_CHECK(s.errors[i] != NULL);
	} else {
		FUZZ_CHECK_TERMINATED(err);
	}
	isc_status_free(&s);
}

static void run_json_error(const uint8_t *data, size_t size)
{
	struct isc_error_body eb;

	memset(&eb, 0x55, sizeof eb);
	isc_json_parse_error((const char *)data, size, &eb);
	FUZZ_CHECK_TERMINATED(eb.detail_code);
	FUZZ_CHECK_TERMINATED(eb.tracking_id);
	FUZZ_CHECK_TERMINATED(eb.text);
	/* These end up in log lines: never a control character. */
	FUZZ_CHECK(no_control_chars(eb.detail_code));
	FUZZ_CHECK(no_control_chars(eb.tracking_id));
	FUZZ_CHECK(no_control_chars(eb.text));
}

/* ---- offline queue entry (state_dir/queue/<file>) -------------------------- */

static void run_queue_entry(const uint8_t *data, size_t size)
{
	struct queue_entry e, again;
	char err[128], *text = NULL;
	size_t len = 0;

	if (queue_parse((const char *)data, size, &e, err, sizeof err) == 0) {
		FUZZ_CHECK_TERMINATED(e.user);
		FUZZ_CHECK_TERMINATED(e.login);
		FUZZ_CHECK_TERMINATED(e.source);
		FUZZ_CHECK_TERMINATED(e.key_id);
		FUZZ_CHECK_TERMINATED(e.identity);
		FUZZ_CHECK_TERMINATED(e.account);
		FUZZ_CHECK(e.uid >= -1 && e.uid <= QUEUE_UID_MAX);
		FUZZ_CHECK(e.ciphertext != NULL);
		FUZZ_CHECK(proto_user_name_valid(e.user));
		/* What was read can be written back, and reads back equal. */
		checks_begin();
		FUZZ_CHECK(queue_format(&e, &text, &len) == 0);
		FUZZ_CHECK(queue_parse(text, len, &again, err, sizeof err) == 0);
		FUZZ_CHECK(strcmp(again.user, e.user) == 0 && again.seq == e.seq &&
			   again.uid == e.uid && strcmp(again.identity, e.identity) == 0 &&
			   strcmp(again.account, e.account) == 0 &&
			   strcmp(again.ciphertext, e.ciphertext) == 0);
		queue_entry_free(&again);
		free(text);
		checks_end();
		queue_entry_free(&e);
	} else {
		FUZZ_CHECK_TERMINATED(err);
		FUZZ_CHECK(e.ciphertext == NULL);
	}
}

const struct fuzz_target fuzz_targets[] = {
	{ "config", run_config },
	{ "module_args", run_module_args },
	{ "proto_request", run_proto_request },
	{ "proto_verdict", run_proto_verdict },
	{ "json_token", run_json_token },
	{ "json_lookup", run_json_lookup },
	{ "json_set", run_json_set },
	{ "json_status", run_json_status },
	{ "json_error", run_json_error },
	{ "queue_entry", run_queue_entry },
	{ NULL, NULL },
};

const struct fuzz_target *fuzz_target_find(const char *name)
{
	for (const struct fuzz_target *t = fuzz_targets; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}
