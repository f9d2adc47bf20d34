/* SPDX-License-Identifier: MIT */
/* isc_json: request bodies and response parsing for the ISC password API
 * (docs/isc-api.md), with json-c. No network here.
 *
 * Parsers are strict: the top level must be an object, required fields must
 * be present with the right JSON type, strings must be non-empty where the
 * contract needs a value, and any violation is an error with a short reason
 * in err (never echoing the body). Unknown fields are ignored. Bodies longer
 * than ISC_JSON_MAX_BODY are refused. */
#ifndef PAM_ISC_ISC_JSON_H
#define PAM_ISC_ISC_JSON_H

#include <stddef.h>

#define ISC_JSON_MAX_BODY (1024 * 1024)

enum isc_state {
	ISC_STATE_IN_PROGRESS,
	ISC_STATE_FINISHED,
	ISC_STATE_FAILED,
};
const char *isc_state_name(enum isc_state s); /* "IN_PROGRESS" ... */

struct isc_token {
	char *access_token; /* secret: freed with secret_free_str */
	long expires_in;    /* seconds, > 0 */
};

struct isc_account {
	char *account_id;
	char *account_name; /* may be NULL when ISC sent null */
};

struct isc_password_info {
	char *identity_id;
	char *source_id;
	char *public_key_id;
	char *public_key; /* base64 DER SPKI */
	struct isc_account *accounts;
	size_t n_accounts;
};

struct isc_set_result {
	char *request_id; /* NULL when ISC sent null/absent */
	enum isc_state state;
};

struct isc_status {
	char *request_id;
	enum isc_state state;
	char **errors; /* n_errors strings */
	size_t n_errors;
};

/* What is worth logging from an error response, whichever shape it has:
 * standard {detailCode, trackingId, messages[0].text}, OAuth
 * {error, error_description}, 401 {error}, 429 {message}, or not JSON at all
 * (then text says so, e.g. "non-JSON body"). Fields are "" when absent.
 * Control characters are kept out (replaced by '?'). */
struct isc_error_body {
	char detail_code[96];
	char tracking_id[96];
	char text[256];
};

/* Builders return a malloc'd NUL-terminated JSON string, or NULL. */
char *isc_json_build_lookup(const char *user_name, const char *source_name);
/* The result contains the ciphertext: callers free it with secret_free_str. */
char *isc_json_build_set_password(const char *identity_id, const char *encrypted_b64,
				  const char *public_key_id, const char *account_id,
				  const char *source_id);

/* Parsers: body need not be NUL-terminated; len is its length.
 * Return 0 on success; -1 with a reason in err (NUL-terminated). */
int isc_json_parse_token(const char *body, size_t len, struct isc_token *out, char *err,
			 size_t errsize);
int isc_json_parse_password_info(const char *body, size_t len, struct isc_password_info *out,
				 char *err, size_t errsize);
int isc_json_parse_set_result(const char *body, size_t len, struct isc_set_result *out, char *err,
			      size_t errsize);
int isc_json_parse_status(const char *body, size_t len, struct isc_status *out, char *err,
			  size_t errsize);
/* Best effort, never fails; out is always filled (possibly with ""). */
void isc_json_parse_error(const char *body, size_t len, struct isc_error_body *out);

void isc_token_free(struct isc_token *t);
void isc_password_info_free(struct isc_password_info *p);
void isc_set_result_free(struct isc_set_result *r);
void isc_status_free(struct isc_status *s);

#endif
