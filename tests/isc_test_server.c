/* SPDX-License-Identifier: MIT */
/* isc_test_server: an HTTPS stand-in for SailPoint Identity Security Cloud's
 * password API, used by the integration tests, the demo and the benchmark.
 *
 * What it must do is specified in tests/isc_test_server.md; the API it
 * speaks is docs/isc-api.md. Nothing is mocked: TLS is real (a CA and a
 * server certificate generated at start), the RSA key ISC hands out is real,
 * and encryptedPassword is really decrypted. The decrypted password is never
 * written anywhere: the event log only gets its SHA-256 and its length.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a held response
 * (delay_ms) only holds its own connection. Everything shared lives in
 * struct server under server.lock; the main thread only starts the daemon
 * and waits for SIGTERM/SIGINT. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* reallocarray, explicit_bzero, getopt_long */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>
#include <microhttpd.h>

#define DEFAULT_CLIENT_ID "pam-isc-test"
#define DEFAULT_CLIENT_SECRET "test-secret"
#define DEFAULT_SOURCE_NAME "Linux Hosts"
#define DEFAULT_TOKEN_TTL 749
#define DEFAULT_FAILED_ERROR "The password change payload is invalid"

#define MAX_BODY (1024 * 1024)        /* larger request bodies get 413 */
#define MAX_NAME_LEN 256              /* userName, sourceName */
#define MAX_TEXT_LEN 1024             /* failed_error */
#define MAX_DELAY_MS 600000L          /* delay_ms */
#define MAX_SLOW_MS 10000L            /* slow_ms */
#define MAX_FAIL_COUNT 1000000L       /* fail_count */
#define MAX_FINISH_AFTER_MS 86400000L /* finish_after_ms, one day */
#define MAX_POLLS_TO_FINAL 1000000L   /* polls_to_final */
#define MAX_TOKEN_TTL 31536000L       /* token_ttl, one year */
#define MAX_RATE_REQUESTS 100000L     /* rate_limit N: requests per window */
#define MAX_RATE_WINDOW_S 86400L      /* rate_limit S: window seconds, one day */
#define MAX_RATE_KEYS 4096            /* windows kept per limiter; the least recently used goes */
#define RATE_KEY_BYTES 32             /* a window's key: SHA-256 of the token or client id */
#define CONNECTION_TIMEOUT_S 60U      /* idle keep-alive connections are closed after this */
#define HEX_ID_BYTES 16 /* identityId, sourceId, requestId, trackingId: 32 hex digits */
#define HEX_ID_LEN (2 * HEX_ID_BYTES)
#define TOKEN_BYTES 24
#define TOKEN_LEN (2 * TOKEN_BYTES)
#define EXPIRED_TOKEN_KEEP_MS (3600 * 1000LL) /* expired tokens are remembered this long */
#define EVENT_MAX 4096
#define EVENT_VALUE_MAX 320 /* longer values are cut, with "..." */
#define ACCOUNT_FIELD_MAX (MAX_NAME_LEN + 64)

/* Answered when even an error body cannot be built (out of memory). */
static const char FALLBACK_500_BODY[] =
	"{\"detailCode\":\"500.0 Internal Fault\",\"trackingId\":\"00000000000000000000000000000000\","
	"\"messages\":[{\"locale\":\"en-US\",\"localeOrigin\":\"DEFAULT\","
	"\"text\":\"internal error in the test server\"}],\"causes\":[]}";

/* ------------------------------------------------------------------------ */
/* Types                                                                     */

enum change_state { STATE_IN_PROGRESS, STATE_FINISHED, STATE_FAILED };

/* A rate limit (switches rate_limit, token_rate_limit): at most max
 * requests per key in any window of window_s seconds. max 0: off. */
struct rate_limit {
	long max;
	long window_s;
};

/* The test switches (POST /__control). */
struct switches {
	enum change_state set_state;
	bool null_request_id;
	long polls_to_final;
	enum change_state final_state; /* FINISHED or FAILED */
	char *failed_error;            /* owned */
	long token_ttl;
	long delay_ms;
	/* failure injection: for the failure policy, retry and queue tests */
	long fail_count;      /* the next N matching API requests fail */
	long fail_status;     /* with this status (400..599) */
	long retry_after;     /* Retry-After seconds on them, -1: none */
	int fail_endpoint;    /* enum endpoint, EP_NONE: any API endpoint */
	long slow_ms;         /* API response bodies: one byte every slow_ms */
	long finish_after_ms; /* > 0: final this long after set-password, polls aside */
	/* hostile response bodies: for the strict parsers' tests */
	int bad_body;    /* enum bad_body */
	int bad_body_on; /* enum endpoint it applies to */
	/* requests whose answer is lost: read whole, handled, connection closed */
	long drop_count;   /* the next N matching API requests */
	int drop_endpoint; /* enum endpoint, EP_NONE: any API endpoint */
	/* accountName of a single-account identity; "": the user's name */
	char account_name[MAX_NAME_LEN + 1];
	/* ISC's rate limits: API requests per bearer token, token requests
	 * per client_id */
	struct rate_limit rate_limit;
	struct rate_limit token_rate_limit;
};

struct token {
	char value[TOKEN_LEN + 1];
	long long expires_ms; /* monotonic clock */
};

/* identityId -> userName, filled by lookups: set-password names the
 * identity only by its id, and the server needs the name back to know the
 * identity's accounts. */
struct identity {
	char id[HEX_ID_LEN + 1];
	char *user_name; /* owned */
};

/* One key's sliding window: when its counted requests came (monotonic
 * ms), a ring with the oldest at head, grown as needed up to the limit. */
struct rate_window {
	unsigned char key[RATE_KEY_BYTES];
	unsigned long long last_used; /* the limiter's tick when last seen */
	long long *stamps;            /* owned */
	size_t cap, head, count;
};

/* The windows of one rate limit, at most MAX_RATE_KEYS. */
struct rate_limiter {
	struct rate_window *windows;
	size_t n, cap;
	unsigned long long tick;
};

/* A password change that status polls can follow. */
struct change {
	char request_id[HEX_ID_LEN + 1];
	unsigned long polls;
	long long registered_ms; /* monotonic clock, at set-password */
	bool settled;            /* state (and error) are final */
	enum change_state state; /* meaningful once settled */
	char *error;             /* owned; the FAILED text once settled */
};

struct server {
	/* Fixed once the daemon runs: read without the lock. */
	const char *client_id;
	const char *client_secret;
	const char *source_name;
	char source_id[HEX_ID_LEN + 1];
	gnutls_privkey_t password_key; /* RSA-2048, the key ISC hands out */
	char *public_key_b64;          /* Base64 DER SubjectPublicKeyInfo */
	char *public_key_id;

	/* Shared by the connection threads: under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* broadcast at shutdown: held responses stop waiting */
	bool stopping;
	FILE *events;
	unsigned long next_connection_id;
	struct switches sw;
	struct token *tokens;
	size_t n_tokens, cap_tokens;
	struct identity *identities;
	size_t n_identities, cap_identities;
	struct change *changes;
	size_t n_changes, cap_changes;
	struct rate_limiter api_limiter;   /* switch rate_limit, keyed on bearer tokens */
	struct rate_limiter token_limiter; /* switch token_rate_limit, keyed on client ids */
};

/* One request's body, accumulated across the access handler's calls. */
struct request_ctx {
	char *body;
	size_t len, cap;
	bool too_large;
};

/* One event line of DIR/events.log, built without allocating. */
struct event_line {
	char text[EVENT_MAX];
	size_t len;
};

/* What a handler answers. */
struct reply {
	unsigned int status;
	json_object *body; /* owned; NULL when it could not be built: answered 500 */
	const char *allow; /* Allow header of a 405 */
	bool no_store;     /* token responses must not be cached */
	long retry_after;  /* Retry-After seconds, -1: no header */
	bool has_event;
	struct event_line event; /* written right after the request's own line */
};

enum endpoint { EP_NONE, EP_TOKEN, EP_CONTROL, EP_LOOKUP, EP_SET, EP_STATUS };

/* Hostile bodies (switch bad_body), answered instead of the real
 * body by the endpoint named by bad_body_on. */
enum bad_body {
	BAD_NONE,
	BAD_HTML,           /* 503, an HTML maintenance page */
	BAD_HTML_200,       /* 200, the same page */
	BAD_WRONG_TYPES,    /* top-level strings become numbers, numbers strings */
	BAD_MISSING_FIELDS, /* {} */
	BAD_DUPLICATE_KEYS, /* the first key once more, in front, with another value */
	BAD_HUGE_NUMBER,    /* top-level numbers become a 400-digit number */
	BAD_DEEP,           /* an extra field nested 1000 deep */
	BAD_NUL,            /* a NUL byte inside the first key */
	BAD_NON_UTF8,       /* bytes 0xff 0xfe inside the first key */
	BAD_HUGE,           /* 200 with a 64 MiB body */
	BAD_ENDLESS,        /* 200, chunked, a byte every 100 ms, never ending */
};
static const char *const bad_body_names[] = {
	"none",        "html", "html_200", "wrong_types", "missing_fields", "duplicate_keys",
	"huge_number", "deep", "nul",      "non_utf8",    "huge",           "endless",
};
static const char *const bad_body_on_names[] = { "", "token", "", "lookup", "set", "status" };

static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (names[i][0] && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

enum identity_kind {
	IDENTITY_PLAIN,
	IDENTITY_UNKNOWN,
	IDENTITY_MULTI,
	IDENTITY_AMBIGUOUS,
	IDENTITY_NO_ACCOUNT
};

struct account {
	char id[ACCOUNT_FIELD_MAX];
	char name[ACCOUNT_FIELD_MAX];
};

/* ------------------------------------------------------------------------ */
/* Small utilities                                                           */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* n_bytes random bytes as 2*n_bytes lowercase hex digits (out holds 2n+1). */
static int random_hex(char *out, size_t n_bytes)
{
	unsigned char raw[64];

	if (n_bytes > sizeof raw || gnutls_rnd(GNUTLS_RND_NONCE, raw, n_bytes) < 0)
		return -1;
	hex_encode(raw, n_bytes, out);
	return 0;
}

/* The first 16 bytes of SHA-256(label ":" text) as 32 hex digits: ids that
 * are stable across runs. */
static int derived_id(const char *label, const char *text, char out[HEX_ID_LEN + 1])
{
	unsigned char digest[32];
	gnutls_hash_hd_t hash;

	if (gnutls_hash_init(&hash, GNUTLS_DIG_SHA256) < 0)
		return -1;
	if (gnutls_hash(hash, label, strlen(label)) < 0 || gnutls_hash(hash, ":", 1) < 0 ||
	    gnutls_hash(hash, text, strlen(text)) < 0) {
		gnutls_hash_deinit(hash, NULL);
		return -1;
	}
	gnutls_hash_deinit(hash, digest);
	hex_encode(digest, HEX_ID_BYTES, out);
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Compares without stopping at the first difference (credentials). */
static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return diff == 0 && lb > 0;
}

static const char *state_name(enum change_state state)
{
	switch (state) {
	case STATE_FINISHED:
		return "FINISHED";
	case STATE_FAILED:
		return "FAILED";
	case STATE_IN_PROGRESS:
		break;
	}
	return "IN_PROGRESS";
}

static bool state_parse(const char *text, enum change_state *out)
{
	static const enum change_state all[] = { STATE_IN_PROGRESS, STATE_FINISHED, STATE_FAILED };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (strcmp(text, state_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

/* Returns items grown to hold at least used+1 items (cap updated), or NULL
 * (items untouched) when out of memory. */
static void *array_reserve(void *items, size_t *cap, size_t used, size_t item_size)
{
	size_t new_cap;
	void *grown;

	if (used < *cap)
		return items;
	new_cap = *cap ? *cap * 2 : 16;
	grown = reallocarray(items, new_cap, item_size);
	if (grown)
		*cap = new_cap;
	return grown;
}

/* A NUL-terminated copy of a GnuTLS datum. */
static char *datum_to_string(const gnutls_datum_t *d)
{
	char *s = malloc(d->size + 1);

	if (s) {
		memcpy(s, d->data, d->size);
		s[d->size] = '\0';
	}
	return s;
}

/* The datum's Base64 text as one line. GnuTLS breaks Base64 into 64-column
 * lines; the contract wants none. NULL if out of memory or if anything but
 * the standard alphabet is left (a PEM header would be). */
static char *base64_one_line(const gnutls_datum_t *b64)
{
	char *out = malloc(b64->size + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < b64->size; i++) {
		char c = (char)b64->data[i];
		if (c == '\n' || c == '\r')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '=')) {
			free(out);
			return NULL;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return out;
}

/* Standard Base64, padded, on one line: what the contract says
 * encryptedPassword is. GnuTLS' decoder alone would accept line breaks. */
static bool is_standard_base64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len == 0 || len % 4 != 0)
		return false;
	if (s[len - 1] == '=')
		pad = (s[len - 2] == '=') ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Event log                                                                 */

static void ev_append(struct event_line *ev, const char *s, size_t n)
{
	size_t room = sizeof ev->text - 1 - ev->len;

	if (n > room)
		n = room;
	memcpy(ev->text + ev->len, s, n);
	ev->len += n;
	ev->text[ev->len] = '\0';
}

static void ev_begin(struct event_line *ev, const char *name)
{
	ev->len = 0;
	ev->text[0] = '\0';
	ev_append(ev, name, strlen(name));
}

static bool needs_quotes(const char *value)
{
	if (*value == '\0')
		return true;
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == 0x7f || c == '=' || c == ',' || c == '"' || c == '\\')
			return true;
	}
	return false;
}

/* key=value; the value in double quotes when it has spaces, '=', ',',
 * quotes, backslashes or control characters (inside quotes '"' and '\' are
 * backslash-escaped, control characters written \xNN), so a line stays one
 * line and greppable whatever a client sent. */
static void ev_str(struct event_line *ev, const char *key, const char *value)
{
	size_t i;

	ev_append(ev, " ", 1);
	ev_append(ev, key, strlen(key));
	ev_append(ev, "=", 1);
	if (!needs_quotes(value)) {
		size_t n = strnlen(value, EVENT_VALUE_MAX);
		ev_append(ev, value, n);
		if (value[n])
			ev_append(ev, "...", 3);
		return;
	}
	ev_append(ev, "\"", 1);
	for (i = 0; value[i] && i < EVENT_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)value[i];
		char escaped[8];
		if (c == '"' || c == '\\') {
			escaped[0] = '\\';
			escaped[1] = (char)c;
			ev_append(ev, escaped, 2);
		} else if (c < ' ' || c == 0x7f) {
			snprintf(escaped, sizeof escaped, "\\x%02x", c);
			ev_append(ev, escaped, 4);
		} else {
			ev_append(ev, &value[i], 1);
		}
	}
	if (value[i])
		ev_append(ev, "...", 3);
	ev_append(ev, "\"", 1);
}

static void ev_num(struct event_line *ev, const char *key, long long value)
{
	char text[32];

	snprintf(text, sizeof text, "%lld", value);
	ev_str(ev, key, text);
}

/* Caller holds s->lock. Flushed at once: tests read the log while we run. */
static void write_event_locked(struct server *s, const struct event_line *ev)
{
	fputs(ev->text, s->events);
	fputc('\n', s->events);
	fflush(s->events);
}

/* ------------------------------------------------------------------------ */
/* JSON building and parsing                                                 */

/* Adds key: value to obj. Takes value in every case (freed on failure);
 * false when anything is missing, so callers can chain with &&. */
static bool obj_add(json_object *obj, const char *key, json_object *value)
{
	if (!obj || !value || json_object_object_add(obj, key, value) != 0) {
		json_object_put(value);
		return false;
	}
	return true;
}

static bool obj_add_str(json_object *obj, const char *key, const char *value)
{
	return obj_add(obj, key, json_object_new_string(value));
}

static bool arr_add(json_object *arr, json_object *value)
{
	if (!arr || !value || json_object_array_add(arr, value) != 0) {
		json_object_put(value);
		return false;
	}
	return true;
}

static bool arr_add_str(json_object *arr, const char *value)
{
	return arr_add(arr, json_object_new_string(value));
}

static void reply_json(struct reply *r, unsigned int status, json_object *body)
{
	json_object_put(r->body);
	r->status = status;
	r->body = body;
}

/* The contract's standard error body, with a fresh trackingId. */
static void reply_standard_error(struct reply *r, unsigned int status, const char *detail_code,
				 const char *text)
{
	char tracking_id[HEX_ID_LEN + 1] = "";
	json_object *message = json_object_new_object();
	json_object *messages = json_object_new_array();
	json_object *body = json_object_new_object();
	bool ok;

	ok = random_hex(tracking_id, HEX_ID_BYTES) == 0 &&
	     obj_add_str(message, "locale", "en-US") &&
	     obj_add_str(message, "localeOrigin", "DEFAULT") && obj_add_str(message, "text", text);
	if (!ok) {
		json_object_put(message);
		message = NULL;
	}
	/* Each container takes the previous one (or frees it): body ends up
	 * owning everything. */
	ok = arr_add(messages, message) && ok;
	ok = obj_add_str(body, "detailCode", detail_code) && ok;
	ok = obj_add_str(body, "trackingId", tracking_id) && ok;
	ok = obj_add(body, "messages", messages) && ok;
	ok = ok && obj_add(body, "causes", json_object_new_array());
	if (!ok) {
		json_object_put(body);
		body = NULL;
	}
	reply_json(r, status, body);
}

static void reply_bad_request(struct reply *r, const char *text)
{
	reply_standard_error(r, 400, "400.1 Bad Request Content", text);
}

/* OAuth-style error body of the token endpoint. */
static void reply_oauth_error(struct reply *r, unsigned int status, const char *error,
			      const char *description)
{
	json_object *body = json_object_new_object();

	if (!obj_add_str(body, "error", error) ||
	    !obj_add_str(body, "error_description", description)) {
		json_object_put(body);
		body = NULL;
	}
	reply_json(r, status, body);
}

/* What ISC answers any API call whose bearer token is not good. */
static void reply_jwt_error(struct reply *r)
{
	json_object *body = json_object_new_object();

	if (!obj_add_str(body, "error", "JWT validation failed: JWT is expired")) {
		json_object_put(body);
		body = NULL;
	}
	reply_json(r, 401, body);
}

/* The body as exactly one JSON object (only whitespace may follow it).
 * NULL with a short reason otherwise. */
static json_object *parse_json_object(const char *body, size_t len, const char **why)
{
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	if (len == 0) {
		*why = "empty body";
		return NULL;
	}
	if (memchr(body, '\0', len)) {
		*why = "NUL byte in the body";
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		*why = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
					    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!obj || jerr != json_tokener_success) {
		json_object_put(obj);
		*why = "malformed JSON";
		return NULL;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", body[end])) {
			json_object_put(obj);
			*why = "trailing data after the JSON value";
			return NULL;
		}
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		*why = "the body is not a JSON object";
		return NULL;
	}
	return obj;
}

/* A required string member: present, a string, not empty, no NUL, at most
 * max_len bytes. NULL with a reason in why otherwise. */
static const char *get_string_field(json_object *obj, const char *key, size_t max_len, char *why,
				    size_t why_size)
{
	json_object *value;
	const char *text;
	size_t len;

	if (!json_object_object_get_ex(obj, key, &value)) {
		snprintf(why, why_size, "%s is missing", key);
		return NULL;
	}
	if (!json_object_is_type(value, json_type_string)) {
		snprintf(why, why_size, "%s must be a string", key);
		return NULL;
	}
	text = json_object_get_string(value);
	len = (size_t)json_object_get_string_len(value);
	if (len == 0)
		snprintf(why, why_size, "%s is empty", key);
	else if (strlen(text) != len)
		snprintf(why, why_size, "%s contains a NUL character", key);
	else if (len > max_len)
		snprintf(why, why_size, "%s is too long", key);
	else
		return text;
	return NULL;
}

static bool content_type_is(struct MHD_Connection *conn, const char *type)
{
	const char *ct =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen(type);

	if (!ct || strncasecmp(ct, type, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* ------------------------------------------------------------------------ */
/* Rate limits                                                               */

/* The n decimal digits at text as a number in min..max. */
static bool decimal_in(const char *text, size_t n, long min, long max, long *out)
{
	long value = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (text[i] - '0');
	}
	if (value < min || value > max)
		return false;
	*out = value;
	return true;
}

/* "N/S" (N 1..MAX_RATE_REQUESTS, S 1..MAX_RATE_WINDOW_S, digits only), or
 * "0" or "off": no limit. */
static bool rate_limit_parse(const char *text, struct rate_limit *out)
{
	const char *slash = strchr(text, '/');
	struct rate_limit limit = { 0, 0 };

	if (strcmp(text, "off") != 0 && strcmp(text, "0") != 0 &&
	    (!slash ||
	     !decimal_in(text, (size_t)(slash - text), 1, MAX_RATE_REQUESTS, &limit.max) ||
	     !decimal_in(slash + 1, strlen(slash + 1), 1, MAX_RATE_WINDOW_S, &limit.window_s)))
		return false;
	*out = limit;
	return true;
}

/* "N/S", or "off". */
static void rate_limit_text(const struct rate_limit *limit, char *out, size_t size)
{
	if (limit->max > 0)
		snprintf(out, size, "%ld/%ld", limit->max, limit->window_s);
	else
		snprintf(out, size, "off");
}

/* Forgets every window. Caller holds lock (or is alone). */
static void rate_limiter_clear(struct rate_limiter *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->windows[i].stamps);
	free(l->windows);
	memset(l, 0, sizeof *l);
}

/* The window of key, new (empty) if it had none: when MAX_RATE_KEYS are
 * kept, the least recently used one is given up for it. NULL when out of
 * memory. Caller holds lock. */
static struct rate_window *rate_window_of_locked(struct rate_limiter *l,
						 const unsigned char key[RATE_KEY_BYTES])
{
	struct rate_window *w, *grown;

	for (size_t i = 0; i < l->n; i++) {
		if (memcmp(l->windows[i].key, key, RATE_KEY_BYTES) == 0) {
			l->windows[i].last_used = ++l->tick;
			return &l->windows[i];
		}
	}
	if (l->n < MAX_RATE_KEYS) {
		grown = array_reserve(l->windows, &l->cap, l->n, sizeof *l->windows);
		if (!grown)
			return NULL;
		l->windows = grown;
		w = &l->windows[l->n++];
	} else {
		w = &l->windows[0];
		for (size_t i = 1; i < l->n; i++) {
			if (l->windows[i].last_used < w->last_used)
				w = &l->windows[i];
		}
		free(w->stamps);
	}
	memset(w, 0, sizeof *w);
	memcpy(w->key, key, RATE_KEY_BYTES);
	w->last_used = ++l->tick;
	return w;
}

/* Makes room for one more stamp in a full ring: twice as many (at least
 * 16), at most max. Only called with count == cap < max. */
static int rate_window_grow(struct rate_window *w, size_t max)
{
	size_t cap = w->cap ? w->cap * 2 : 16;
	long long *stamps;

	if (cap > max)
		cap = max;
	stamps = reallocarray(NULL, cap, sizeof *stamps);
	if (!stamps)
		return -1;
	for (size_t i = 0; i < w->count; i++)
		stamps[i] = w->stamps[(w->head + i) % w->cap];
	free(w->stamps);
	w->stamps = stamps;
	w->cap = cap;
	w->head = 0;
	return 0;
}

/* A request of key at now (monotonic ms): 0 when the limit is off or the
 * request fits and is counted; else nothing is counted and the answer is
 * the whole seconds, rounded up and at least 1, until the oldest counted
 * request leaves the window (then the next one fits). -1 when out of
 * memory. Caller holds lock. */
static long rate_take_locked(struct rate_limiter *l, const struct rate_limit *limit,
			     const unsigned char key[RATE_KEY_BYTES], long long now)
{
	const long long window_ms = limit->window_s * 1000LL;
	struct rate_window *w;
	long long wait_ms;

	if (limit->max <= 0)
		return 0;
	w = rate_window_of_locked(l, key);
	if (!w)
		return -1;
	/* A request at time t stays in the windows that end before t + S. */
	while (w->count > 0 && w->stamps[w->head] <= now - window_ms) {
		w->head = (w->head + 1) % w->cap;
		w->count--;
	}
	if (w->count >= (size_t)limit->max) {
		wait_ms = w->stamps[w->head] + window_ms - now; /* > 0 */
		return wait_ms <= 1000 ? 1 : (long)((wait_ms + 999) / 1000);
	}
	if (w->count == w->cap && rate_window_grow(w, (size_t)limit->max) < 0)
		return -1;
	w->stamps[(w->head + w->count) % w->cap] = now;
	w->count++;
	return 0;
}

/* ISC's answer when a client goes over its rate limit. */
static void reply_rate_limit_exceeded(struct reply *r)
{
	json_object *body = json_object_new_object();

	if (!obj_add_str(body, "message", " Rate Limit Exceeded ")) {
		json_object_put(body);
		body = NULL;
	}
	reply_json(r, 429, body);
}

/* The rate limit of the token endpoint (keyed on the client_id) or of the
 * API (keyed on the bearer token): false when the request may go on (it is
 * counted, or the limit is off); true when it was answered instead: 429
 * with Retry-After and a rate_limited event, or 500 when out of memory. */
static bool rate_limited(struct server *s, bool token_endpoint, const char *key,
			 const char *endpoint_name, const char *path, struct reply *r)
{
	struct rate_limiter *l = token_endpoint ? &s->token_limiter : &s->api_limiter;
	unsigned char digest[RATE_KEY_BYTES];
	char limit_text[48], key_hex[2 * RATE_KEY_BYTES + 1];
	struct rate_limit limit = { 0, 0 };
	long wait_s;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key, strlen(key), digest) < 0) {
		wait_s = -1;
	} else {
		pthread_mutex_lock(&s->lock);
		limit = token_endpoint ? s->sw.token_rate_limit : s->sw.rate_limit;
		wait_s = rate_take_locked(l, &limit, digest, now_ms());
		pthread_mutex_unlock(&s->lock);
	}
	if (wait_s == 0)
		return false;
	if (wait_s < 0) {
		reply_json(r, 500, NULL);
		r->has_event = false;
		return true;
	}
	reply_rate_limit_exceeded(r);
	r->retry_after = wait_s;
	r->has_event = true;
	ev_begin(&r->event, "rate_limited");
	ev_str(&r->event, "endpoint", endpoint_name);
	ev_str(&r->event, "path", path);
	if (token_endpoint) {
		ev_str(&r->event, "client_id", key);
	} else {
		/* Not the token itself: a prefix of its hash tells tokens apart. */
		hex_encode(digest, 8, key_hex);
		ev_str(&r->event, "token_sha256", key_hex);
	}
	rate_limit_text(&limit, limit_text, sizeof limit_text);
	ev_str(&r->event, "limit", limit_text);
	ev_num(&r->event, "retry_after", wait_s);
	ev_num(&r->event, "status", 429);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */

/* Issues a token valid ttl seconds (none if ttl <= 0). Caller holds lock. */
static int issue_token_locked(struct server *s, long ttl, char out[TOKEN_LEN + 1])
{
	long long now = now_ms();
	struct token *grown;
	size_t kept = 0;

	/* Forget tokens long expired, so a long benchmark does not grow the
	 * table; recently expired ones stay, so the log can say "expired". */
	for (size_t i = 0; i < s->n_tokens; i++) {
		if (s->tokens[i].expires_ms > now - EXPIRED_TOKEN_KEEP_MS)
			s->tokens[kept++] = s->tokens[i];
	}
	s->n_tokens = kept;
	grown = array_reserve(s->tokens, &s->cap_tokens, s->n_tokens, sizeof *s->tokens);
	if (!grown || random_hex(out, TOKEN_BYTES) < 0)
		return -1;
	s->tokens = grown;
	memcpy(s->tokens[s->n_tokens].value, out, TOKEN_LEN + 1);
	s->tokens[s->n_tokens].expires_ms = now + (ttl > 0 ? ttl * 1000LL : 0);
	s->n_tokens++;
	return 0;
}

/* The token of the request's "Authorization: Bearer" header, or NULL. */
static const char *bearer_token(struct MHD_Connection *conn)
{
	const char *header =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token;

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	for (token = header + 7; *token == ' '; token++)
		;
	return token;
}

/* Checks the request's bearer token. NULL when it is good, else why not. */
static const char *bearer_problem(struct server *s, struct MHD_Connection *conn)
{
	const char *token = bearer_token(conn), *problem = "unknown token";
	long long now = now_ms();

	if (!token)
		return "no bearer token";
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_tokens; i++) {
		if (secret_equal(token, s->tokens[i].value)) {
			problem = s->tokens[i].expires_ms > now ? NULL : "expired token";
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return problem;
}

static int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one application/x-www-form-urlencoded name or value in place.
 * -1 on a bad %-escape or an encoded NUL. */
static int form_decode(char *text)
{
	char *out = text;

	for (const char *in = text; *in; in++) {
		if (*in == '+') {
			*out++ = ' ';
		} else if (*in == '%') {
			/* in[2] is read only if in[1] is a digit, so not past the NUL. */
			int high = hex_digit_value(in[1]);
			int low = high < 0 ? -1 : hex_digit_value(in[2]);
			if (low < 0 || (high == 0 && low == 0))
				return -1;
			*out++ = (char)(high * 16 + low);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return 0;
}

struct token_form {
	char *text; /* the decoded form: wiped and freed by token_form_free */
	size_t size;
	const char *grant_type, *client_id, *client_secret; /* into text, or NULL */
};

static void token_form_free(struct token_form *form)
{
	if (form->text) {
		explicit_bzero(form->text, form->size);
		free(form->text);
	}
	memset(form, 0, sizeof *form);
}

/* Parses the token request's form. Other parameters (e.g. scope) are
 * ignored; a repeated one is an error, as OAuth 2.0 says. */
static int token_form_parse(const char *body, size_t len, struct token_form *form, const char **why)
{
	char *pair, *next;

	memset(form, 0, sizeof *form);
	if (memchr(body, '\0', len)) {
		*why = "NUL byte in the form";
		return -1;
	}
	form->size = len + 1;
	form->text = malloc(form->size);
	if (!form->text) {
		*why = "out of memory";
		return -1;
	}
	memcpy(form->text, body, len);
	form->text[len] = '\0';
	for (pair = form->text; pair; pair = next) {
		const char **slot = NULL;
		char *value;

		next = strchr(pair, '&');
		if (next)
			*next++ = '\0';
		if (*pair == '\0')
			continue;
		value = strchr(pair, '=');
		if (value)
			*value++ = '\0';
		else
			value = pair + strlen(pair); /* "name" alone: empty value */
		if (form_decode(pair) < 0 || form_decode(value) < 0) {
			*why = "malformed form encoding";
			return -1;
		}
		if (strcmp(pair, "grant_type") == 0)
			slot = &form->grant_type;
		else if (strcmp(pair, "client_id") == 0)
			slot = &form->client_id;
		else if (strcmp(pair, "client_secret") == 0)
			slot = &form->client_secret;
		if (slot && *slot) {
			*why = "a parameter is repeated";
			return -1;
		}
		if (slot)
			*slot = value;
	}
	return 0;
}

/* POST /oauth/token */
static void handle_token(struct server *s, struct MHD_Connection *conn,
			 const struct request_ctx *ctx, struct reply *r)
{
	struct token_form form = { 0 };
	const char *why = NULL;
	char token[TOKEN_LEN + 1], jti[HEX_ID_LEN + 1];
	json_object *body;
	long ttl;
	int issued;

	r->has_event = true;
	if (!content_type_is(conn, "application/x-www-form-urlencoded")) {
		why = "Content-Type must be application/x-www-form-urlencoded";
		reply_oauth_error(r, 400, "invalid_request", why);
	} else if (token_form_parse(ctx->body ? ctx->body : "", ctx->len, &form, &why) < 0) {
		reply_oauth_error(r, 400, "invalid_request", why);
	} else if (form.client_id &&
		   rate_limited(s, true, form.client_id, "token", "/oauth/token", r)) {
		/* answered by the limiter, whatever the rest of the form says */
		token_form_free(&form);
		return;
	} else if (!form.grant_type) {
		why = "missing grant_type";
		reply_oauth_error(r, 400, "invalid_request", "Missing grant type");
	} else if (strcmp(form.grant_type, "client_credentials") != 0) {
		why = "unsupported grant_type";
		reply_oauth_error(r, 400, "unsupported_grant_type", "Unsupported grant type");
	} else if (!form.client_id || !form.client_secret ||
		   !secret_equal(form.client_id, s->client_id) ||
		   !secret_equal(form.client_secret, s->client_secret)) {
		why = "bad credentials";
		reply_oauth_error(r, 401, "invalid_client", "Bad credentials");
	}
	if (why) {
		ev_begin(&r->event, "token_error");
		if (form.client_id)
			ev_str(&r->event, "client_id", form.client_id);
		ev_str(&r->event, "reason", why);
		ev_num(&r->event, "status", r->status);
		token_form_free(&form);
		return;
	}

	pthread_mutex_lock(&s->lock);
	ttl = s->sw.token_ttl;
	issued = issue_token_locked(s, ttl, token);
	pthread_mutex_unlock(&s->lock);

	body = json_object_new_object();
	if (issued < 0 || random_hex(jti, HEX_ID_BYTES) < 0 ||
	    !obj_add_str(body, "access_token", token) ||
	    !obj_add_str(body, "token_type", "bearer") ||
	    !obj_add(body, "expires_in", json_object_new_int64(ttl)) ||
	    !obj_add_str(body, "scope", "sp:scopes:all") ||
	    !obj_add_str(body, "tenant_id", "00000000-0000-4000-8000-0000000000a1") ||
	    !obj_add_str(body, "pod", "test-pod") || !obj_add_str(body, "org", "test-org") ||
	    !obj_add_str(body, "jti", jti)) {
		json_object_put(body);
		body = NULL;
	}
	explicit_bzero(token, sizeof token);
	r->no_store = true;
	reply_json(r, 200, body);
	ev_begin(&r->event, "token");
	ev_str(&r->event, "client_id", form.client_id);
	ev_num(&r->event, "ttl", ttl);
	token_form_free(&form);
}

/* ------------------------------------------------------------------------ */
/* Identities and accounts                                                   */

static enum identity_kind identity_kind_of(const char *user)
{
	if (starts_with(user, "unknown"))
		return IDENTITY_UNKNOWN;
	if (starts_with(user, "multi"))
		return IDENTITY_MULTI;
	if (starts_with(user, "ambig"))
		return IDENTITY_AMBIGUOUS;
	if (starts_with(user, "noacct"))
		return IDENTITY_NO_ACCOUNT;
	return IDENTITY_PLAIN;
}

static void account_make(struct account *a, const char *user, const char *suffix)
{
	snprintf(a->name, sizeof a->name, "%s%s", user, suffix);
	snprintf(a->id, sizeof a->id, "uid=%s%s,ou=people,dc=example,dc=com", user, suffix);
}

/* The accounts a known user has on the source; at most two. */
static size_t accounts_of(const char *user, struct account out[2])
{
	switch (identity_kind_of(user)) {
	case IDENTITY_PLAIN:
		account_make(&out[0], user, "");
		return 1;
	case IDENTITY_MULTI:
		account_make(&out[0], user, "");
		account_make(&out[1], user, "-admin");
		return 2;
	case IDENTITY_AMBIGUOUS:
		account_make(&out[0], user, "-a");
		account_make(&out[1], user, "-b");
		return 2;
	case IDENTITY_UNKNOWN:
	case IDENTITY_NO_ACCOUNT:
		break;
	}
	return 0;
}

/* Caller holds lock. */
static const char *identity_user_locked(const struct server *s, const char *identity_id)
{
	for (size_t i = 0; i < s->n_identities; i++) {
		if (strcmp(s->identities[i].id, identity_id) == 0)
			return s->identities[i].user_name;
	}
	return NULL;
}

static int remember_identity(struct server *s, const char *identity_id, const char *user)
{
	struct identity *grown;
	char *copy;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (!identity_user_locked(s, identity_id)) {
		grown = array_reserve(s->identities, &s->cap_identities, s->n_identities,
				      sizeof *s->identities);
		copy = strdup(user);
		if (grown)
			s->identities = grown;
		if (!grown || !copy) {
			free(copy);
			ret = -1;
		} else {
			memcpy(s->identities[s->n_identities].id, identity_id, HEX_ID_LEN + 1);
			s->identities[s->n_identities].user_name = copy;
			s->n_identities++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static json_object *password_info_json(const struct server *s, const char *identity_id,
				       const struct account *accounts, size_t n_accounts)
{
	static const char *const policies[] = { "passwordRepeatedChar is 3",
						"passwordMinAlpha is 1", "passwordMinLength is 5" };
	json_object *body = json_object_new_object();
	json_object *account_list = json_object_new_array();
	json_object *policy_list = json_object_new_array();
	bool ok = obj_add_str(body, "identityId", identity_id) &&
		  obj_add_str(body, "sourceId", s->source_id) &&
		  obj_add_str(body, "publicKeyId", s->public_key_id) &&
		  obj_add_str(body, "publicKey", s->public_key_b64);

	for (size_t i = 0; ok && i < n_accounts; i++) {
		json_object *account = json_object_new_object();
		if (!obj_add_str(account, "accountId", accounts[i].id) ||
		    !obj_add_str(account, "accountName", accounts[i].name)) {
			json_object_put(account);
			account = NULL;
		}
		ok = arr_add(account_list, account);
	}
	for (size_t i = 0; ok && i < sizeof policies / sizeof policies[0]; i++)
		ok = arr_add_str(policy_list, policies[i]);
	/* Always called: body takes the lists, or they are freed. */
	ok = obj_add(body, "accounts", account_list) && ok;
	ok = obj_add(body, "policies", policy_list) && ok;
	if (!ok) {
		json_object_put(body);
		return NULL;
	}
	return body;
}

/* Answers a well-formed lookup (200, or 500 when out of memory); -1 with
 * why when ISC would refuse it (400). */
static int lookup_answer(struct server *s, const char *user, const char *source, struct reply *r,
			 char *why, size_t why_size)
{
	char identity_id[HEX_ID_LEN + 1];
	struct account accounts[2];
	size_t n_accounts;

	if (strcmp(source, s->source_name) != 0) {
		snprintf(why, why_size, "unknown source");
		return -1;
	}
	if (identity_kind_of(user) == IDENTITY_UNKNOWN) {
		snprintf(why, why_size, "unknown user");
		return -1;
	}
	n_accounts = accounts_of(user, accounts);
	if (derived_id("identity", user, identity_id) < 0 ||
	    remember_identity(s, identity_id, user) < 0)
		reply_json(r, 500, NULL);
	else {
		json_object *info;
		/* The key may rotate (switch rotate_key): read it under the lock. */
		pthread_mutex_lock(&s->lock);
		if (n_accounts == 1 && s->sw.account_name[0])
			snprintf(accounts[0].name, sizeof accounts[0].name, "%s",
				 s->sw.account_name);
		info = password_info_json(s, identity_id, accounts, n_accounts);
		pthread_mutex_unlock(&s->lock);
		reply_json(r, 200, info);
	}
	return 0;
}

/* POST /{version}/query-password-info */
static void handle_lookup(struct server *s, struct MHD_Connection *conn,
			  const struct request_ctx *ctx, struct reply *r)
{
	char why[160] = "";
	const char *parse_why = NULL, *user = NULL, *source = NULL;
	json_object *request = NULL;

	if (!content_type_is(conn, "application/json"))
		snprintf(why, sizeof why, "Content-Type must be application/json");
	else if (!(request = parse_json_object(ctx->body, ctx->len, &parse_why)))
		snprintf(why, sizeof why, "%s", parse_why);
	else if ((user = get_string_field(request, "userName", MAX_NAME_LEN, why, sizeof why)) &&
		 (source = get_string_field(request, "sourceName", MAX_NAME_LEN, why, sizeof why)))
		lookup_answer(s, user, source, r, why, sizeof why);
	if (why[0])
		reply_bad_request(r, why);

	r->has_event = true;
	ev_begin(&r->event, "lookup");
	if (user)
		ev_str(&r->event, "user", user);
	if (source)
		ev_str(&r->event, "source", source);
	if (why[0])
		ev_str(&r->event, "reason", why);
	ev_num(&r->event, "status", r->body ? r->status : 500);
	json_object_put(request);
}

/* ------------------------------------------------------------------------ */
/* Set password and its status                                               */

struct decrypted_digest {
	char sha256_hex[65];
	size_t len;
};

/* Decrypts encryptedPassword and keeps only its SHA-256 and length; the
 * plaintext is wiped before returning. */
static int decrypt_digest(gnutls_privkey_t key, const char *b64, struct decrypted_digest *out,
			  const char **why)
{
	gnutls_datum_t text = { (unsigned char *)b64, (unsigned int)strlen(b64) };
	gnutls_datum_t cipher = { NULL, 0 }, plain = { NULL, 0 };
	unsigned char digest[32];
	int rc;

	if (!is_standard_base64(b64, text.size) || gnutls_base64_decode2(&text, &cipher) < 0) {
		*why = "encryptedPassword is not standard Base64";
		return -1;
	}
	rc = gnutls_privkey_decrypt_data(key, 0, &cipher, &plain);
	gnutls_free(cipher.data);
	if (rc < 0) {
		*why = "decryption failed";
		return -1;
	}
	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, plain.data ? (const void *)plain.data : "",
			      plain.size, digest);
	out->len = plain.size;
	if (plain.data) {
		gnutls_memset(plain.data, 0, plain.size);
		gnutls_free(plain.data);
	}
	if (rc < 0) {
		*why = "hashing failed";
		return -1;
	}
	hex_encode(digest, sizeof digest, out->sha256_hex);
	return 0;
}

/* Registers a change status polls can follow. Caller holds lock. */
static int register_change_locked(struct server *s, const char *request_id, enum change_state state)
{
	struct change *grown, *c;
	char *error = NULL;

	grown = array_reserve(s->changes, &s->cap_changes, s->n_changes, sizeof *s->changes);
	if (!grown)
		return -1;
	s->changes = grown;
	if (state == STATE_FAILED && !(error = strdup(s->sw.failed_error)))
		return -1;
	c = &s->changes[s->n_changes++];
	memset(c, 0, sizeof *c);
	memcpy(c->request_id, request_id, HEX_ID_LEN + 1);
	c->registered_ms = now_ms();
	/* Answered FINISHED or FAILED already: polls keep saying so. */
	c->settled = state != STATE_IN_PROGRESS;
	c->state = state;
	c->error = error;
	return 0;
}

/* The set-password request's fields, all required strings. */
struct set_request {
	const char *identity_id, *encrypted_password, *public_key_id, *account_id, *source_id;
};

static bool set_request_get(json_object *obj, struct set_request *req, char *why, size_t size)
{
	return (req->identity_id = get_string_field(obj, "identityId", 64, why, size)) &&
	       (req->encrypted_password =
			get_string_field(obj, "encryptedPassword", 4096, why, size)) &&
	       (req->public_key_id = get_string_field(obj, "publicKeyId", 256, why, size)) &&
	       (req->account_id = get_string_field(obj, "accountId", 1024, why, size)) &&
	       (req->source_id = get_string_field(obj, "sourceId", 64, why, size));
}

/* Checks a well-formed set-password request the way ISC would: 0, with the
 * identity's name in user and what was decrypted in digest, or -1 with why. */
static int set_check(struct server *s, const struct set_request *req, char *user, size_t user_size,
		     struct decrypted_digest *digest, char *why, size_t why_size)
{
	struct account accounts[2];
	size_t n_accounts;
	bool known, account_ok = false;
	const char *name, *decrypt_why = "";
	int decrypted;

	/* Lookups are the only way to learn an identityId; a set-password
	 * naming one no lookup answered is a client bug worth failing on. */
	pthread_mutex_lock(&s->lock);
	name = identity_user_locked(s, req->identity_id);
	known = name != NULL;
	if (known)
		snprintf(user, user_size, "%s", name);
	pthread_mutex_unlock(&s->lock);
	if (!known) {
		snprintf(why, why_size, "unknown identityId");
		return -1;
	}
	if (strcmp(req->source_id, s->source_id) != 0) {
		snprintf(why, why_size, "wrong sourceId");
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	known = strcmp(req->public_key_id, s->public_key_id) == 0;
	pthread_mutex_unlock(&s->lock);
	if (!known) {
		snprintf(why, why_size, "stale publicKeyId");
		return -1;
	}
	n_accounts = accounts_of(user, accounts);
	for (size_t i = 0; i < n_accounts; i++)
		account_ok = account_ok || strcmp(accounts[i].id, req->account_id) == 0;
	if (!account_ok) {
		snprintf(why, why_size, "accountId is not an account of this identity");
		return -1;
	}
	/* GnuTLS promises thread safety per object only: one decryption
	 * with the shared key at a time. */
	pthread_mutex_lock(&s->lock);
	decrypted = decrypt_digest(s->password_key, req->encrypted_password, digest, &decrypt_why);
	pthread_mutex_unlock(&s->lock);
	if (decrypted < 0) {
		snprintf(why, why_size, "%s", decrypt_why);
		return -1;
	}
	return 0;
}

/* POST /{version}/set-password */
static void handle_set(struct server *s, struct MHD_Connection *conn, const struct request_ctx *ctx,
		       struct reply *r)
{
	char why[160] = "", user[MAX_NAME_LEN + 1] = "", request_id[HEX_ID_LEN + 1] = "";
	const char *parse_why = NULL;
	struct set_request req = { 0 };
	struct decrypted_digest digest = { "", 0 };
	enum change_state state = STATE_IN_PROGRESS;
	bool null_request_id = false, ok = false;
	json_object *request = NULL, *body;

	if (!content_type_is(conn, "application/json"))
		snprintf(why, sizeof why, "Content-Type must be application/json");
	else if (!(request = parse_json_object(ctx->body, ctx->len, &parse_why)))
		snprintf(why, sizeof why, "%s", parse_why);
	else if (set_request_get(request, &req, why, sizeof why))
		ok = set_check(s, &req, user, sizeof user, &digest, why, sizeof why) == 0;

	r->has_event = true;
	if (!ok) {
		reply_bad_request(r, why);
		ev_begin(&r->event, "set_error");
		ev_str(&r->event, "reason", why);
		ev_num(&r->event, "status", r->body ? r->status : 500);
		json_object_put(request);
		return;
	}

	pthread_mutex_lock(&s->lock);
	state = s->sw.set_state;
	null_request_id = s->sw.null_request_id;
	if (!null_request_id && (random_hex(request_id, HEX_ID_BYTES) < 0 ||
				 register_change_locked(s, request_id, state) < 0))
		request_id[0] = '\0';
	pthread_mutex_unlock(&s->lock);

	body = json_object_new_object();
	if (null_request_id)
		ok = body && json_object_object_add(body, "requestId", NULL) == 0;
	else
		ok = request_id[0] && obj_add_str(body, "requestId", request_id);
	if (!ok || !obj_add_str(body, "state", state_name(state))) {
		json_object_put(body);
		body = NULL;
	}
	reply_json(r, 202, body);
	ev_begin(&r->event, "set");
	ev_str(&r->event, "user", user);
	ev_str(&r->event, "identity", req.identity_id);
	ev_str(&r->event, "account", req.account_id);
	ev_str(&r->event, "source", req.source_id);
	ev_str(&r->event, "key_id", req.public_key_id);
	ev_num(&r->event, "len", (long long)digest.len);
	ev_str(&r->event, "decrypted_sha256", digest.sha256_hex);
	ev_str(&r->event, "request", null_request_id ? "null" : request_id);
	ev_str(&r->event, "state", state_name(state));
	ev_num(&r->event, "status", body ? 202 : 500);
	json_object_put(request);
}

static json_object *status_json(const struct server *s, const char *request_id,
				enum change_state state, const char *error)
{
	json_object *body = json_object_new_object();
	json_object *errors = json_object_new_array();
	json_object *source_ids = json_object_new_array();
	bool ok = obj_add_str(body, "requestId", request_id) &&
		  obj_add_str(body, "state", state_name(state)) &&
		  (state != STATE_FAILED || arr_add_str(errors, error ? error : "")) &&
		  arr_add_str(source_ids, s->source_id);

	/* Always called: body takes the lists, or they are freed. */
	ok = obj_add(body, "errors", errors) && ok;
	ok = obj_add(body, "sourceIds", source_ids) && ok;
	if (!ok) {
		json_object_put(body);
		return NULL;
	}
	return body;
}

/* GET /{version}/password-change-status/{id} */
static void handle_status(struct server *s, const char *request_id, struct reply *r)
{
	struct change *c = NULL;
	enum change_state state = STATE_IN_PROGRESS;
	unsigned long poll = 0;
	json_object *body = NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_changes && !c; i++) {
		if (strcmp(s->changes[i].request_id, request_id) == 0)
			c = &s->changes[i];
	}
	if (c) {
		/* finish_after_ms > 0 replaces polls_to_final: IN_PROGRESS
		 * until that long after set-password, however often polled. */
		bool due = s->sw.finish_after_ms > 0
				   ? now_ms() - c->registered_ms >= s->sw.finish_after_ms
				   : c->polls + 1 > (unsigned long)s->sw.polls_to_final;

		poll = ++c->polls;
		/* Switches are read now, not at set-password time: a test can
		 * hold a change IN_PROGRESS and release it later. Once final,
		 * the answer no longer changes. */
		if (!c->settled && due) {
			char *error = NULL;
			if (s->sw.final_state != STATE_FAILED ||
			    (error = strdup(s->sw.failed_error))) {
				c->settled = true;
				c->state = s->sw.final_state;
				c->error = error;
			}
		}
		if (c->settled || !due) {
			state = c->settled ? c->state : STATE_IN_PROGRESS;
			body = status_json(s, request_id, state, c->error);
		}
	}
	pthread_mutex_unlock(&s->lock);

	if (c)
		reply_json(r, 200, body);
	else
		reply_standard_error(r, 404, "404 Not found", "no password change with this id");
	r->has_event = true;
	ev_begin(&r->event, "status");
	ev_str(&r->event, "request", request_id);
	if (c) {
		ev_num(&r->event, "poll", (long long)poll);
		ev_str(&r->event, "state", state_name(state));
	}
	ev_num(&r->event, "status", r->body ? r->status : 500);
}

/* ------------------------------------------------------------------------ */
/* Test switches                                                             */

/* The endpoint words of fail_endpoint and drop_endpoint. */
static bool endpoint_switch_parse(const char *text, int *ep)
{
	static const struct {
		const char *word;
		int ep;
	} words[] = { { "any", EP_NONE },
		      { "token", EP_TOKEN },
		      { "lookup", EP_LOOKUP },
		      { "set", EP_SET },
		      { "status", EP_STATUS } };

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		if (strcmp(text, words[i].word) == 0) {
			*ep = words[i].ep;
			return true;
		}
	}
	return false;
}

/* What a control request does besides setting switches: done only when
 * all its switches are good. */
struct control_actions {
	char *failed_error; /* a new failed_error, owned until applied */
	bool expire_tokens;
	bool rotate_key;
	bool clear_api_windows;   /* rate_limit was given */
	bool clear_token_windows; /* token_rate_limit was given */
};

/* Validates one switch into next (and act); -1 with a reason. */
static int apply_switch(struct switches *next, const char *key, json_object *value,
			struct control_actions *act, char *why, size_t why_size)
{
	const bool is_string = json_object_is_type(value, json_type_string);
	const bool is_bool = json_object_is_type(value, json_type_boolean);
	const bool is_int = json_object_is_type(value, json_type_int);
	const char *text = is_string ? json_object_get_string(value) : "";
	const int64_t number = is_int ? json_object_get_int64(value) : 0;
	enum change_state state;

	if (strcmp(key, "set_state") == 0) {
		if (!is_string || !state_parse(text, &state))
			goto bad_value;
		next->set_state = state;
	} else if (strcmp(key, "final_state") == 0) {
		if (!is_string || !state_parse(text, &state) || state == STATE_IN_PROGRESS)
			goto bad_value;
		next->final_state = state;
	} else if (strcmp(key, "null_request_id") == 0) {
		if (!is_bool)
			goto bad_value;
		next->null_request_id = json_object_get_boolean(value);
	} else if (strcmp(key, "expire_tokens") == 0) {
		if (!is_bool)
			goto bad_value;
		act->expire_tokens = json_object_get_boolean(value);
	} else if (strcmp(key, "polls_to_final") == 0) {
		if (!is_int || number < 0 || number > MAX_POLLS_TO_FINAL)
			goto bad_value;
		next->polls_to_final = (long)number;
	} else if (strcmp(key, "token_ttl") == 0) {
		if (!is_int || number < 0 || number > MAX_TOKEN_TTL)
			goto bad_value;
		next->token_ttl = (long)number;
	} else if (strcmp(key, "delay_ms") == 0) {
		if (!is_int || number < 0 || number > MAX_DELAY_MS)
			goto bad_value;
		next->delay_ms = (long)number;
	} else if (strcmp(key, "fail_count") == 0) {
		if (!is_int || number < 0 || number > MAX_FAIL_COUNT)
			goto bad_value;
		next->fail_count = (long)number;
	} else if (strcmp(key, "fail_status") == 0) {
		if (!is_int || number < 400 || number > 599)
			goto bad_value;
		next->fail_status = (long)number;
	} else if (strcmp(key, "retry_after") == 0) {
		if (!is_int || number < -1 || number > 86400)
			goto bad_value;
		next->retry_after = (long)number;
	} else if (strcmp(key, "fail_endpoint") == 0) {
		if (!is_string)
			goto bad_value;
		if (strcmp(text, "any") == 0)
			next->fail_endpoint = EP_NONE;
		else if (strcmp(text, "token") == 0)
			next->fail_endpoint = EP_TOKEN;
		else if (strcmp(text, "lookup") == 0)
			next->fail_endpoint = EP_LOOKUP;
		else if (strcmp(text, "set") == 0)
			next->fail_endpoint = EP_SET;
		else if (strcmp(text, "status") == 0)
			next->fail_endpoint = EP_STATUS;
		else
			goto bad_value;
	} else if (strcmp(key, "slow_ms") == 0) {
		if (!is_int || number < 0 || number > MAX_SLOW_MS)
			goto bad_value;
		next->slow_ms = (long)number;
	} else if (strcmp(key, "rotate_key") == 0) {
		if (!is_bool)
			goto bad_value;
		act->rotate_key = json_object_get_boolean(value);
	} else if (strcmp(key, "finish_after_ms") == 0) {
		if (!is_int || number < 0 || number > MAX_FINISH_AFTER_MS)
			goto bad_value;
		next->finish_after_ms = (long)number;
	} else if (strcmp(key, "bad_body") == 0) {
		int i = is_string
				? name_index(bad_body_names,
					     sizeof bad_body_names / sizeof bad_body_names[0], text)
				: -1;
		if (i < 0)
			goto bad_value;
		next->bad_body = i;
	} else if (strcmp(key, "bad_body_on") == 0) {
		int i = is_string
				? name_index(bad_body_on_names,
					     sizeof bad_body_on_names / sizeof bad_body_on_names[0],
					     text)
				: -1;
		if (i < 0)
			goto bad_value;
		next->bad_body_on = i;
	} else if (strcmp(key, "drop_count") == 0) {
		if (!is_int || number < 0 || number > MAX_FAIL_COUNT)
			goto bad_value;
		next->drop_count = (long)number;
	} else if (strcmp(key, "drop_endpoint") == 0) {
		if (!is_string || !endpoint_switch_parse(text, &next->drop_endpoint))
			goto bad_value;
	} else if (strcmp(key, "account_name") == 0) {
		size_t len = is_string ? (size_t)json_object_get_string_len(value) : 0;
		if (!is_string || strlen(text) != len || len > MAX_NAME_LEN)
			goto bad_value;
		memcpy(next->account_name, text, len + 1);
	} else if (strcmp(key, "rate_limit") == 0) {
		if (!is_string || !rate_limit_parse(text, &next->rate_limit))
			goto bad_value;
		act->clear_api_windows = true;
	} else if (strcmp(key, "token_rate_limit") == 0) {
		if (!is_string || !rate_limit_parse(text, &next->token_rate_limit))
			goto bad_value;
		act->clear_token_windows = true;
	} else if (strcmp(key, "failed_error") == 0) {
		size_t len = is_string ? (size_t)json_object_get_string_len(value) : 0;
		if (!is_string || strlen(text) != len || len > MAX_TEXT_LEN)
			goto bad_value;
		free(act->failed_error);
		if (!(act->failed_error = strdup(text))) {
			snprintf(why, why_size, "out of memory");
			return -1;
		}
	} else {
		snprintf(why, why_size, "unknown switch %.64s", key);
		return -1;
	}
	return 0;
bad_value:
	snprintf(why, why_size, "bad value for %s", key);
	return -1;
}

static const char *endpoint_switch_name(int ep)
{
	switch (ep) {
	case EP_TOKEN:
		return "token";
	case EP_LOOKUP:
		return "lookup";
	case EP_SET:
		return "set";
	case EP_STATUS:
		return "status";
	default:
		return "any";
	}
}

static int password_key_generate(struct server *s, char *err, size_t err_size);

/* A new RSA key pair and key id, as when ISC rotates its key: lookups hand
 * out the new one, set-password with the old id is "stale publicKeyId". */
static int rotate_password_key(struct server *s, char *why, size_t why_size)
{
	struct server fresh;
	gnutls_privkey_t old_key;
	char *old_b64, *old_id;

	memset(&fresh, 0, sizeof fresh);
	if (password_key_generate(&fresh, why, why_size) < 0) {
		if (fresh.password_key)
			gnutls_privkey_deinit(fresh.password_key);
		free(fresh.public_key_b64);
		free(fresh.public_key_id);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	old_key = s->password_key;
	old_b64 = s->public_key_b64;
	old_id = s->public_key_id;
	s->password_key = fresh.password_key;
	s->public_key_b64 = fresh.public_key_b64;
	s->public_key_id = fresh.public_key_id;
	pthread_mutex_unlock(&s->lock);
	gnutls_privkey_deinit(old_key);
	free(old_b64);
	free(old_id);
	return 0;
}

static json_object *switches_json(const struct switches *sw)
{
	json_object *body = json_object_new_object();
	char rate_limit[48], token_rate_limit[48];

	rate_limit_text(&sw->rate_limit, rate_limit, sizeof rate_limit);
	rate_limit_text(&sw->token_rate_limit, token_rate_limit, sizeof token_rate_limit);

	if (!obj_add_str(body, "set_state", state_name(sw->set_state)) ||
	    !obj_add(body, "null_request_id", json_object_new_boolean(sw->null_request_id)) ||
	    !obj_add(body, "polls_to_final", json_object_new_int64(sw->polls_to_final)) ||
	    !obj_add_str(body, "final_state", state_name(sw->final_state)) ||
	    !obj_add_str(body, "failed_error", sw->failed_error) ||
	    !obj_add(body, "token_ttl", json_object_new_int64(sw->token_ttl)) ||
	    !obj_add(body, "delay_ms", json_object_new_int64(sw->delay_ms)) ||
	    !obj_add(body, "fail_count", json_object_new_int64(sw->fail_count)) ||
	    !obj_add(body, "fail_status", json_object_new_int64(sw->fail_status)) ||
	    !obj_add(body, "retry_after", json_object_new_int64(sw->retry_after)) ||
	    !obj_add_str(body, "fail_endpoint", endpoint_switch_name(sw->fail_endpoint)) ||
	    !obj_add(body, "slow_ms", json_object_new_int64(sw->slow_ms)) ||
	    !obj_add(body, "finish_after_ms", json_object_new_int64(sw->finish_after_ms)) ||
	    !obj_add_str(body, "bad_body", bad_body_names[sw->bad_body]) ||
	    !obj_add_str(body, "bad_body_on", bad_body_on_names[sw->bad_body_on]) ||
	    !obj_add(body, "drop_count", json_object_new_int64(sw->drop_count)) ||
	    !obj_add_str(body, "drop_endpoint", endpoint_switch_name(sw->drop_endpoint)) ||
	    !obj_add_str(body, "account_name", sw->account_name) ||
	    !obj_add_str(body, "rate_limit", rate_limit) ||
	    !obj_add_str(body, "token_rate_limit", token_rate_limit)) {
		json_object_put(body);
		return NULL;
	}
	return body;
}

/* POST /__control: all the given switches or none. */
static void handle_control(struct server *s, const struct request_ctx *ctx, struct reply *r)
{
	char why[160] = "";
	const char *parse_why = NULL;
	struct control_actions act = { 0 };
	struct json_object_iterator it, end;
	struct switches next;
	json_object *request, *body;

	r->has_event = true;
	request = parse_json_object(ctx->body ? ctx->body : "", ctx->len, &parse_why);
	if (!request) {
		reply_bad_request(r, parse_why);
		ev_begin(&r->event, "control_error");
		ev_str(&r->event, "reason", parse_why);
		return;
	}
	ev_begin(&r->event, "control");
	pthread_mutex_lock(&s->lock);
	next = s->sw;
	it = json_object_iter_begin(request);
	end = json_object_iter_end(request);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		json_object *value = json_object_iter_peek_value(&it);

		if (apply_switch(&next, key, value, &act, why, sizeof why) < 0)
			break;
		ev_str(&r->event, key,
		       json_object_is_type(value, json_type_string)
			       ? json_object_get_string(value)
			       : json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));
	}
	if (!why[0]) {
		if (act.failed_error) {
			free(s->sw.failed_error);
			next.failed_error = act.failed_error;
			act.failed_error = NULL;
		}
		s->sw = next;
		/* Expired now, not at 0: they are remembered a while, so the
		 * log still says "expired token" for them. */
		for (size_t i = 0; act.expire_tokens && i < s->n_tokens; i++) {
			if (s->tokens[i].expires_ms > now_ms())
				s->tokens[i].expires_ms = now_ms();
		}
		/* A limit set (the same, another or none) starts afresh. */
		if (act.clear_api_windows)
			rate_limiter_clear(&s->api_limiter);
		if (act.clear_token_windows)
			rate_limiter_clear(&s->token_limiter);
	}
	body = why[0] ? NULL : switches_json(&s->sw);
	pthread_mutex_unlock(&s->lock);
	if (!why[0] && act.rotate_key && rotate_password_key(s, why, sizeof why) < 0) {
		json_object_put(body);
		body = NULL;
	}

	free(act.failed_error);
	if (why[0]) {
		reply_bad_request(r, why);
		ev_begin(&r->event, "control_error");
		ev_str(&r->event, "reason", why);
	} else {
		reply_json(r, 200, body);
	}
	json_object_put(request);
}

/* ------------------------------------------------------------------------ */
/* Routing and the libmicrohttpd callbacks                                   */

/* Which endpoint a path names; for status, *status_id points at the id. */
static enum endpoint route(const char *url, const char **status_id)
{
	static const char *const versions[] = { "v3", "beta", "v2024", "v2025", "v2026" };
	static const char status_service[] = "/password-change-status/v1/";
	static const char status_legacy[] = "password-change-status/";

	if (strcmp(url, "/oauth/token") == 0)
		return EP_TOKEN;
	if (strcmp(url, "/__control") == 0)
		return EP_CONTROL;
	/* The per-service form: version last. */
	if (strcmp(url, "/query-password-info/v1") == 0)
		return EP_LOOKUP;
	if (strcmp(url, "/set-password/v1") == 0)
		return EP_SET;
	if (starts_with(url, status_service)) {
		*status_id = url + strlen(status_service);
		return (**status_id && !strchr(*status_id, '/')) ? EP_STATUS : EP_NONE;
	}
	/* The legacy form: version first. */
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		size_t n = strlen(versions[i]);
		const char *rest;

		if (url[0] != '/' || strncmp(url + 1, versions[i], n) != 0 || url[n + 1] != '/')
			continue;
		rest = url + n + 2;
		if (strcmp(rest, "query-password-info") == 0)
			return EP_LOOKUP;
		if (strcmp(rest, "set-password") == 0)
			return EP_SET;
		if (starts_with(rest, status_legacy)) {
			*status_id = rest + strlen(status_legacy);
			return (**status_id && !strchr(*status_id, '/')) ? EP_STATUS : EP_NONE;
		}
	}
	return EP_NONE;
}

static const char *endpoint_method(enum endpoint ep)
{
	return ep == EP_STATUS ? MHD_HTTP_METHOD_GET : MHD_HTTP_METHOD_POST;
}

/* The TCP connection's id, set in on_connection. */
static unsigned long connection_id(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? (unsigned long)(uintptr_t)info->socket_context : 0;
}

/* Holds the response delay_ms, or until shutdown. */
static void hold_response(struct server *s)
{
	struct timespec deadline;
	long delay_ms;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	delay_ms = s->sw.delay_ms;
	if (delay_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += delay_ms / 1000;
		deadline.tv_nsec += (delay_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		/* 0 is a wakeup (spurious or not): wait on unless stopping. */
		while (!s->stopping && rc == 0)
			rc = pthread_cond_timedwait(&s->wake, &s->lock, &deadline);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Failure injection: the next fail_count API requests (of fail_endpoint,
 * or any) get fail_status, with Retry-After when retry_after >= 0. */
static bool inject_failure(struct server *s, enum endpoint ep, struct reply *r)
{
	long status = 0;
	bool hit = false;

	if (ep == EP_NONE || ep == EP_CONTROL)
		return false;
	pthread_mutex_lock(&s->lock);
	if (s->sw.fail_count > 0 &&
	    (s->sw.fail_endpoint == EP_NONE || s->sw.fail_endpoint == (int)ep)) {
		s->sw.fail_count--;
		status = s->sw.fail_status;
		r->retry_after = s->sw.retry_after;
		hit = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (!hit)
		return false;
	if (status == 429) {
		reply_rate_limit_exceeded(r);
	} else {
		reply_standard_error(r, (unsigned int)status, "500.0 Internal Fault",
				     "injected failure (test switch fail_count)");
	}
	r->has_event = true;
	ev_begin(&r->event, "injected");
	ev_str(&r->event, "endpoint", endpoint_switch_name(ep));
	ev_num(&r->event, "retry_after", r->retry_after);
	ev_num(&r->event, "status", status);
	return true;
}

/* A response whose body trickles out one byte every slow_ms (switch
 * slow_ms): headers at once, then the body byte by byte. */
struct slow_body {
	struct server *s;
	char *text;
	size_t len;
	long slow_ms;
};

static ssize_t slow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct slow_body *b = cls;
	struct timespec deadline;
	int rc = 0;

	if (pos >= b->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max == 0)
		return 0;
	pthread_mutex_lock(&b->s->lock);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += b->slow_ms / 1000;
	deadline.tv_nsec += (b->slow_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!b->s->stopping && rc == 0)
		rc = pthread_cond_timedwait(&b->s->wake, &b->s->lock, &deadline);
	rc = b->s->stopping;
	pthread_mutex_unlock(&b->s->lock);
	if (rc)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	buf[0] = b->text[pos];
	return 1;
}

static void slow_free(void *cls)
{
	struct slow_body *b = cls;

	free(b->text);
	free(b);
}

static struct MHD_Response *slow_response(struct server *s, const char *text, size_t len,
					  long slow_ms)
{
	struct slow_body *b = calloc(1, sizeof *b);
	struct MHD_Response *resp;

	if (!b || !(b->text = malloc(len + 1))) {
		free(b);
		return NULL;
	}
	memcpy(b->text, text, len);
	b->s = s;
	b->len = len;
	b->slow_ms = slow_ms;
	resp = MHD_create_response_from_callback(len, 1, slow_read, b, slow_free);
	if (!resp)
		slow_free(b);
	return resp;
}

/* ---- hostile bodies ---- */

static const char maintenance_page[] =
	"<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>\n"
	"<body><h1>We'll be back soon</h1><p>Identity Security Cloud is down for "
	"maintenance.</p></body></html>\n";

#define HUGE_BODY_SIZE (64UL * 1024 * 1024)

static ssize_t huge_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	if (pos >= HUGE_BODY_SIZE)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > HUGE_BODY_SIZE - pos)
		max = (size_t)(HUGE_BODY_SIZE - pos);
	if (pos == 0 && max > 0) {
		buf[0] = '{';
		memset(buf + 1, ' ', max - 1);
	} else {
		memset(buf, ' ', max);
	}
	return (ssize_t)max;
}

/* A byte every 100 ms until the server stops (or the client goes). */
static ssize_t endless_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct server *s = cls;
	struct timespec pause = { 0, 100 * 1000000L };
	bool stopping;

	if (max == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos > 0)
		nanosleep(&pause, NULL);
	buf[0] = pos == 0 ? '{' : ' ';
	return 1;
}

/* Text (malloc'd, *len bytes, may hold NULs) of a JSON-level bad body made
 * from the real one, or NULL. */
static char *bad_json_text(int kind, json_object *real, size_t *len)
{
	json_object *copy = NULL;
	const char *t;
	char *out = NULL;
	size_t tlen = 0;

	if (kind == BAD_MISSING_FIELDS) {
		out = strdup("{}");
		*len = 2;
		return out;
	}
	if (!real || !json_object_is_type(real, json_type_object))
		return NULL;
	if (kind == BAD_WRONG_TYPES || kind == BAD_HUGE_NUMBER) {
		if (json_object_deep_copy(real, &copy, NULL) < 0)
			return NULL;
		json_object_object_foreach(copy, key, value)
		{
			if (kind == BAD_WRONG_TYPES && json_object_is_type(value, json_type_string))
				json_object_object_add(copy, key, json_object_new_int(42));
			else if (kind == BAD_WRONG_TYPES &&
				 (json_object_is_type(value, json_type_int) ||
				  json_object_is_type(value, json_type_array)))
				json_object_object_add(copy, key, json_object_new_string("42"));
			else if (kind == BAD_HUGE_NUMBER &&
				 json_object_is_type(value, json_type_int)) {
				char digits[401];
				memset(digits, '9', 400);
				digits[400] = '\0';
				json_object_object_add(copy, key,
						       json_object_new_double_s(1e300, digits));
			}
		}
		t = json_object_to_json_string_length(copy, JSON_C_TO_STRING_PLAIN, &tlen);
		out = t ? strndup(t, tlen) : NULL;
		*len = tlen;
		json_object_put(copy);
		return out;
	}
	t = json_object_to_json_string_length(real, JSON_C_TO_STRING_PLAIN, &tlen);
	if (!t || tlen < 2 || t[0] != '{')
		return NULL;
	if (kind == BAD_DUPLICATE_KEYS || kind == BAD_DEEP) {
		/* {"k":..., -> {"k":"duplicate","k":...  or {"deep":[[[...]]],"k":... */
		const char *q = strchr(t + 1, '"'), *q2 = q ? strchr(q + 1, '"') : NULL;
		size_t klen = q && q2 ? (size_t)(q2 - q + 1) : 0, extra;
		if (!klen)
			return NULL;
		extra = kind == BAD_DEEP ? 8 + 2000 + 1 : klen + 13;
		out = malloc(tlen + extra + 1);
		if (!out)
			return NULL;
		out[0] = '{';
		if (kind == BAD_DEEP) {
			memcpy(out + 1, "\"deep\":", 7);
			memset(out + 8, '[', 1000);
			memset(out + 1008, ']', 1000);
			out[2008] = ',';
			memcpy(out + 2009, t + 1, tlen - 1);
			*len = 2009 + tlen - 1;
		} else {
			memcpy(out + 1, q, klen);
			memcpy(out + 1 + klen, ":\"duplicate\",", 13);
			memcpy(out + 1 + klen + 13, t + 1, tlen - 1);
			*len = 1 + klen + 13 + tlen - 1;
		}
		out[*len] = '\0';
		return out;
	}
	if (kind == BAD_NUL || kind == BAD_NON_UTF8) {
		/* Two bytes put right after the first quote. */
		const char *q = strchr(t, '"');
		size_t at;
		if (!q)
			return NULL;
		at = (size_t)(q - t) + 1;
		out = malloc(tlen + 3);
		if (!out)
			return NULL;
		memcpy(out, t, at);
		if (kind == BAD_NUL) {
			out[at] = 'x';
			out[at + 1] = '\0';
		} else {
			out[at] = (char)0xff;
			out[at + 1] = (char)0xfe;
		}
		memcpy(out + at + 2, t + at, tlen - at);
		*len = tlen + 2;
		out[*len] = '\0';
		return out;
	}
	return NULL;
}

/* Lost answers (switch drop_count): true when this request of endpoint ep
 * is one of the next drop_count API requests (of drop_endpoint, or any). */
static bool take_drop(struct server *s, enum endpoint ep)
{
	bool hit = false;

	if (ep == EP_NONE || ep == EP_CONTROL)
		return false;
	pthread_mutex_lock(&s->lock);
	if (s->sw.drop_count > 0 &&
	    (s->sw.drop_endpoint == EP_NONE || s->sw.drop_endpoint == (int)ep)) {
		s->sw.drop_count--;
		hit = true;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

/* Routes, handles, logs, holds and queues one request's response. */
static enum MHD_Result answer(struct server *s, struct MHD_Connection *conn, const char *url,
			      const char *method, const struct request_ctx *ctx)
{
	struct reply r = { .status = 500, .retry_after = -1 };
	long slow_ms = 0;
	struct event_line request_line;
	const char *status_id = NULL, *text = NULL, *problem;
	enum endpoint ep = route(url, &status_id);
	struct MHD_Response *response;
	char slpt_request_id[HEX_ID_LEN + 1];
	enum MHD_Result queued;
	size_t len = 0;
	int bad;
	bool drop;
	const char *content_type = "application/json";

	if (ctx->too_large) {
		reply_standard_error(&r, 413, "413 Payload Too Large", "the body exceeds 1 MiB");
	} else if (ep == EP_NONE) {
		reply_standard_error(&r, 404, "404 Not found", "no such endpoint");
	} else if (strcmp(method, endpoint_method(ep)) != 0) {
		reply_standard_error(&r, 405, "405 Method Not Allowed", "method not allowed here");
		r.allow = endpoint_method(ep);
	} else if (ep == EP_TOKEN) {
		handle_token(s, conn, ctx, &r);
	} else if (ep == EP_CONTROL) {
		handle_control(s, ctx, &r);
	} else if (inject_failure(s, ep, &r)) {
		/* answered with the injected status */
	} else if ((problem = bearer_problem(s, conn))) {
		reply_jwt_error(&r);
		r.has_event = true;
		ev_begin(&r.event, "auth_error");
		ev_str(&r.event, "reason", problem);
	} else if (rate_limited(s, false, bearer_token(conn), endpoint_switch_name(ep), url, &r)) {
		/* answered by the limiter */
	} else if (ep == EP_LOOKUP) {
		handle_lookup(s, conn, ctx, &r);
	} else if (ep == EP_SET) {
		handle_set(s, conn, ctx, &r);
	} else {
		handle_status(s, status_id, &r);
	}

	if (r.body)
		text = json_object_to_json_string_length(
			r.body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text) {
		r.status = 500;
		text = FALLBACK_500_BODY;
		len = sizeof FALLBACK_500_BODY - 1;
	}

	ev_begin(&request_line, "request");
	ev_num(&request_line, "conn", (long long)connection_id(conn));
	ev_str(&request_line, "method", method);
	ev_str(&request_line, "path", url);
	ev_num(&request_line, "status", r.status);
	drop = strcmp(method, endpoint_method(ep)) == 0 && take_drop(s, ep);
	pthread_mutex_lock(&s->lock);
	write_event_locked(s, &request_line);
	if (r.has_event)
		write_event_locked(s, &r.event);
	if (drop) {
		struct event_line dropped;

		ev_begin(&dropped, "dropped");
		ev_num(&dropped, "conn", (long long)connection_id(conn));
		ev_str(&dropped, "endpoint", endpoint_switch_name(ep));
		write_event_locked(s, &dropped);
	}
	pthread_mutex_unlock(&s->lock);
	if (drop) {
		/* The request was read whole and handled; the answer is lost:
		 * MHD_NO closes the connection without a byte of it. */
		json_object_put(r.body);
		return MHD_NO;
	}

	/* Switches are never held: a test must be able to lift a delay. */
	if (ep != EP_CONTROL) {
		hold_response(s);
		pthread_mutex_lock(&s->lock);
		slow_ms = s->sw.slow_ms;
		pthread_mutex_unlock(&s->lock);
	}

	pthread_mutex_lock(&s->lock);
	bad = (ep != EP_CONTROL && (int)ep == s->sw.bad_body_on) ? s->sw.bad_body : BAD_NONE;
	pthread_mutex_unlock(&s->lock);
	switch (bad) {
	case BAD_NONE:
		if (slow_ms > 0 && ep != EP_CONTROL)
			response = slow_response(s, text, len, slow_ms);
		else
			response = MHD_create_response_from_buffer(len, (void *)text,
								   MHD_RESPMEM_MUST_COPY);
		break;
	case BAD_HTML:
	case BAD_HTML_200:
		if (bad == BAD_HTML)
			r.status = 503;
		content_type = "text/html; charset=utf-8";
		response = MHD_create_response_from_buffer(sizeof maintenance_page - 1,
							   (void *)maintenance_page,
							   MHD_RESPMEM_PERSISTENT);
		break;
	case BAD_HUGE:
		response = MHD_create_response_from_callback(HUGE_BODY_SIZE, 64 * 1024,
							     huge_body_reader, NULL, NULL);
		break;
	case BAD_ENDLESS:
		response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64,
							     endless_body_reader, s, NULL);
		break;
	default: {
		size_t bad_len = 0;
		char *bad_text = bad_json_text(bad, r.body, &bad_len);
		response = bad_text ? MHD_create_response_from_buffer(bad_len, bad_text,
								      MHD_RESPMEM_MUST_FREE)
				    : NULL;
		if (!bad_text)
			response = MHD_create_response_from_buffer(len, (void *)text,
								   MHD_RESPMEM_MUST_COPY);
		break;
	}
	}
	json_object_put(r.body);
	if (!response)
		return MHD_NO;
	if (r.retry_after >= 0) {
		char secs[24];
		snprintf(secs, sizeof secs, "%ld", r.retry_after);
		if (MHD_add_response_header(response, "Retry-After", secs) != MHD_YES) {
			MHD_destroy_response(response);
			return MHD_NO;
		}
	}
	if (random_hex(slpt_request_id, HEX_ID_BYTES) < 0)
		snprintf(slpt_request_id, sizeof slpt_request_id, "%s", "unavailable");
	if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) !=
		    MHD_YES ||
	    MHD_add_response_header(response, "SLPT-Request-ID", slpt_request_id) != MHD_YES ||
	    (r.allow &&
	     MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, r.allow) != MHD_YES) ||
	    (r.no_store && MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
						   "no-store") != MHD_YES)) {
		MHD_destroy_response(response);
		return MHD_NO;
	}
	queued = MHD_queue_response(conn, r.status, response);
	MHD_destroy_response(response);
	return queued;
}

/* Appends upload data to the request body; false when out of memory.
 * Past MAX_BODY the rest is dropped and the request is answered 413. */
static bool body_append(struct request_ctx *ctx, const char *data, size_t n)
{
	size_t new_cap;
	char *grown;

	if (ctx->too_large)
		return true;
	if (n > MAX_BODY - ctx->len) {
		ctx->too_large = true;
		return true;
	}
	if (ctx->len + n > ctx->cap) {
		for (new_cap = ctx->cap ? ctx->cap : 1024; new_cap < ctx->len + n;)
			new_cap *= 2;
		/* Not realloc: the old buffer may hold a client secret, wipe it. */
		grown = malloc(new_cap);
		if (!grown)
			return false;
		if (ctx->body) {
			memcpy(grown, ctx->body, ctx->len);
			explicit_bzero(ctx->body, ctx->cap);
			free(ctx->body);
		}
		ctx->body = grown;
		ctx->cap = new_cap;
	}
	memcpy(ctx->body + ctx->len, data, n);
	ctx->len += n;
	return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct request_ctx *ctx = *con_cls;

	(void)version;
	if (!ctx) {
		/* First call: headers only. */
		const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_CONTENT_LENGTH);
		ctx = calloc(1, sizeof *ctx);
		if (!ctx)
			return MHD_NO;
		*con_cls = ctx;
		if (length && strtoull(length, NULL, 10) > MAX_BODY) {
			/* Answer before the body is sent (no 100 Continue). */
			ctx->too_large = true;
			return answer(s, conn, url, method, ctx);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!body_append(ctx, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(s, conn, url, method, ctx);
}

static void on_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				 enum MHD_RequestTerminationCode code)
{
	struct request_ctx *ctx = *con_cls;

	(void)cls;
	(void)conn;
	(void)code;
	if (ctx) {
		if (ctx->body) {
			explicit_bzero(ctx->body, ctx->cap);
			free(ctx->body);
		}
		free(ctx);
		*con_cls = NULL;
	}
}

/* Numbers each TCP connection: the id lives in the socket context. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct server *s = cls;
	struct event_line ev;
	unsigned long id;

	(void)conn;
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	pthread_mutex_lock(&s->lock);
	id = ++s->next_connection_id;
	ev_begin(&ev, "connection");
	ev_num(&ev, "id", (long long)id);
	write_event_locked(s, &ev);
	pthread_mutex_unlock(&s->lock);
	*socket_context = (void *)(uintptr_t)id;
}

/* ------------------------------------------------------------------------ */
/* Keys and certificates                                                     */

/* PEM texts for the daemon and ca.pem. key_pem is secret: wiped on free. */
struct tls_material {
	char *ca_pem;
	char *chain_pem; /* server certificate, then the CA */
	char *key_pem;
	char *pin; /* sha256//BASE64 of the server key's SubjectPublicKeyInfo */
};

/* How the server certificate is made (tests of TLS refusals). */
struct cert_options {
	bool expired;         /* --cert-expired: valid from 2 days ago to 1 day ago */
	const char *dns_name; /* --cert-name: only this DNS name (no IP address) */
};

static void tls_material_free(struct tls_material *m)
{
	if (m->key_pem) {
		explicit_bzero(m->key_pem, strlen(m->key_pem));
		free(m->key_pem);
	}
	free(m->ca_pem);
	free(m->chain_pem);
	free(m->pin);
	memset(m, 0, sizeof *m);
}

/* A certificate with the fields CA and server share: v3, random serial,
 * valid from an hour ago (clock skew) for a day, subject dn, subject key id. */
static int cert_new(gnutls_x509_crt_t *out, gnutls_x509_privkey_t key, const char *dn, bool expired)
{
	unsigned char serial[16], key_id[64];
	size_t key_id_size = sizeof key_id;
	time_t now = time(NULL);
	gnutls_x509_crt_t crt;
	int rc;

	if ((rc = gnutls_x509_crt_init(&crt)) < 0)
		return rc;
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial)) >= 0) {
		serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive, minimal DER */
		if ((rc = gnutls_x509_crt_set_version(crt, 3)) >= 0 &&
		    (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) >= 0 &&
		    (rc = gnutls_x509_crt_set_activation_time(crt, expired ? now - 2 * 86400
									   : now - 3600)) >= 0 &&
		    (rc = gnutls_x509_crt_set_expiration_time(crt, expired ? now - 86400
									   : now + 86400)) >= 0 &&
		    (rc = gnutls_x509_crt_set_dn(crt, dn, NULL)) >= 0 &&
		    (rc = gnutls_x509_crt_set_key(crt, key)) >= 0 &&
		    (rc = gnutls_x509_privkey_get_key_id(key, 0, key_id, &key_id_size)) >= 0)
			rc = gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_size);
	}
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return rc;
	}
	*out = crt;
	return 0;
}

static int ecdsa_key_new(gnutls_x509_privkey_t *out)
{
	int rc = gnutls_x509_privkey_init(out);

	if (rc < 0)
		return rc;
	rc = gnutls_x509_privkey_generate(*out, GNUTLS_PK_ECDSA,
					  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(*out);
		*out = NULL;
	}
	return rc;
}

/* Joins two PEM datums into one string. */
static char *pem_join(const gnutls_datum_t *a, const gnutls_datum_t *b)
{
	char *s = malloc((size_t)a->size + b->size + 1);

	if (s) {
		memcpy(s, a->data, a->size);
		memcpy(s + a->size, b->data, b->size);
		s[a->size + b->size] = '\0';
	}
	return s;
}

/* A self-signed CA (ECDSA P-256: fast to make) and a server certificate for
 * 127.0.0.1 and localhost signed by it. */
static int tls_material_generate(struct tls_material *out, const struct cert_options *co, char *err,
				 size_t err_size)
{
	static const unsigned char loopback[4] = { 127, 0, 0, 1 };
	gnutls_x509_privkey_t ca_key = NULL, server_key = NULL;
	gnutls_x509_crt_t ca_crt = NULL, server_crt = NULL;
	gnutls_datum_t ca_pem = { NULL, 0 }, server_pem = { NULL, 0 }, key_pem = { NULL, 0 };
	unsigned char ca_key_id[64];
	size_t ca_key_id_size = sizeof ca_key_id;
	const char *step = "";
	int rc;

	memset(out, 0, sizeof *out);
#define TRY(call)                      \
	do {                           \
		step = #call;          \
		if ((rc = (call)) < 0) \
			goto done;     \
	} while (0)
	TRY(ecdsa_key_new(&ca_key));
	TRY(cert_new(&ca_crt, ca_key, "CN=pam_isc test CA,O=pam_isc tests", false));
	TRY(gnutls_x509_crt_set_basic_constraints(ca_crt, 1, 0));
	TRY(gnutls_x509_crt_set_key_usage(ca_crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN));
	TRY(gnutls_x509_crt_sign2(ca_crt, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0));
	TRY(gnutls_x509_privkey_get_key_id(ca_key, 0, ca_key_id, &ca_key_id_size));

	TRY(ecdsa_key_new(&server_key));
	TRY(cert_new(&server_crt, server_key,
		     co->dns_name ? "CN=wrong name,O=pam_isc tests"
				  : "CN=localhost,O=pam_isc tests",
		     co->expired));
	TRY(gnutls_x509_crt_set_basic_constraints(server_crt, 0, -1));
	TRY(gnutls_x509_crt_set_key_usage(server_crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
	TRY(gnutls_x509_crt_set_key_purpose_oid(server_crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
	if (co->dns_name) {
		TRY(gnutls_x509_crt_set_subject_alt_name(
			server_crt, GNUTLS_SAN_DNSNAME, co->dns_name,
			(unsigned)strlen(co->dns_name), GNUTLS_FSAN_APPEND));
	} else {
		TRY(gnutls_x509_crt_set_subject_alt_name(server_crt, GNUTLS_SAN_DNSNAME,
							 "localhost", 9, GNUTLS_FSAN_APPEND));
		TRY(gnutls_x509_crt_set_subject_alt_name(server_crt, GNUTLS_SAN_IPADDRESS, loopback,
							 sizeof loopback, GNUTLS_FSAN_APPEND));
	}
	TRY(gnutls_x509_crt_set_authority_key_id(server_crt, ca_key_id, ca_key_id_size));
	TRY(gnutls_x509_crt_sign2(server_crt, ca_crt, ca_key, GNUTLS_DIG_SHA256, 0));

	TRY(gnutls_x509_crt_export2(ca_crt, GNUTLS_X509_FMT_PEM, &ca_pem));
	TRY(gnutls_x509_crt_export2(server_crt, GNUTLS_X509_FMT_PEM, &server_pem));
	TRY(gnutls_x509_privkey_export2(server_key, GNUTLS_X509_FMT_PEM, &key_pem));
	/* The pin libcurl's CURLOPT_PINNEDPUBLICKEY takes: SHA-256 of the DER
	 * SubjectPublicKeyInfo, Base64. */
	{
		unsigned char spki[1024], digest[32];
		size_t spki_size = sizeof spki;
		gnutls_datum_t raw = { digest, sizeof digest }, b64 = { NULL, 0 };

		gnutls_pubkey_t server_pub = NULL;

		TRY(gnutls_pubkey_init(&server_pub));
		rc = gnutls_pubkey_import_x509(server_pub, server_crt, 0);
		if (rc >= 0)
			rc = gnutls_pubkey_export(server_pub, GNUTLS_X509_FMT_DER, spki,
						  &spki_size);
		gnutls_pubkey_deinit(server_pub);
		TRY(rc);
		TRY(gnutls_hash_fast(GNUTLS_DIG_SHA256, spki, spki_size, digest));
		TRY(gnutls_base64_encode2(&raw, &b64));
		out->pin = malloc(b64.size + 9);
		if (out->pin)
			snprintf(out->pin, b64.size + 9, "sha256//%.*s", (int)b64.size,
				 (char *)b64.data);
		gnutls_free(b64.data);
	}
#undef TRY
	step = "out of memory";
	rc = GNUTLS_E_MEMORY_ERROR;
	out->ca_pem = datum_to_string(&ca_pem);
	out->chain_pem = pem_join(&server_pem, &ca_pem);
	out->key_pem = datum_to_string(&key_pem);
	if (out->ca_pem && out->chain_pem && out->key_pem && out->pin)
		rc = 0;
done:
	if (rc < 0) {
		snprintf(err, err_size, "%s: %s", step, gnutls_strerror(rc));
		tls_material_free(out);
	}
	if (key_pem.data) {
		gnutls_memset(key_pem.data, 0, key_pem.size);
		gnutls_free(key_pem.data);
	}
	gnutls_free(ca_pem.data);
	gnutls_free(server_pem.data);
	gnutls_x509_crt_deinit(server_crt);
	gnutls_x509_crt_deinit(ca_crt);
	/* Deinit zeroizes the key parameters. */
	gnutls_x509_privkey_deinit(server_key);
	gnutls_x509_privkey_deinit(ca_key);
	return rc < 0 ? -1 : 0;
}

/* The RSA-2048 key ISC hands out: publicKey is standard Base64 of the DER
 * SubjectPublicKeyInfo; publicKeyId is Base64 of a random UUID text, like
 * the ids ISC sends. */
static int password_key_generate(struct server *s, char *err, size_t err_size)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 }, b64 = { NULL, 0 }, id_b64 = { NULL, 0 };
	unsigned char raw[16];
	char uuid[37];
	gnutls_datum_t uuid_datum = { (unsigned char *)uuid, 36 };
	const char *step = "";
	int rc;

#define TRY(call)                      \
	do {                           \
		step = #call;          \
		if ((rc = (call)) < 0) \
			goto done;     \
	} while (0)
	TRY(gnutls_privkey_init(&s->password_key));
	TRY(gnutls_privkey_generate(s->password_key, GNUTLS_PK_RSA, 2048, 0));
	TRY(gnutls_pubkey_init(&pub));
	TRY(gnutls_pubkey_import_privkey(pub, s->password_key, 0, 0));
	TRY(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der));
	TRY(gnutls_base64_encode2(&der, &b64));
	TRY(gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof raw));
	snprintf(uuid, sizeof uuid,
		 "%02x%02x%02x%02x-%02x%02x-4%x%02x-%x%x%02x-%02x%02x%02x%02x%02x%02x", raw[0],
		 raw[1], raw[2], raw[3], raw[4], raw[5], raw[6] & 0x0f, raw[7], 8 | (raw[8] & 0x03),
		 raw[8] >> 4, raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]);
	TRY(gnutls_base64_encode2(&uuid_datum, &id_b64));
#undef TRY
	step = "Base64 output";
	rc = GNUTLS_E_BASE64_ENCODING_ERROR;
	s->public_key_b64 = base64_one_line(&b64);
	s->public_key_id = base64_one_line(&id_b64);
	if (s->public_key_b64 && s->public_key_id)
		rc = 0;
done:
	if (rc < 0)
		snprintf(err, err_size, "%s: %s", step, gnutls_strerror(rc));
	gnutls_free(der.data);
	gnutls_free(b64.data);
	gnutls_free(id_b64.data);
	gnutls_pubkey_deinit(pub);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

static int dir_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Writes DIR/name through a temporary file and rename(2): readers see the
 * whole file or no file. */
static int write_file_atomically(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	size_t len = strlen(text), done = 0;
	int fd, rc = 0;

	if (dir_path(path, sizeof path, dir, name) < 0 ||
	    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (rc == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno != EINTR)
			rc = -1;
	}
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Startup, shutdown                                                         */

struct options {
	const char *dir;
	unsigned int port;
	const char *client_id;
	const char *client_secret;
	const char *source_name;
	long delay_ms;
	struct rate_limit rate_limit, token_rate_limit;
	struct cert_options cert;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: isc_test_server --dir DIR [--port N] [--client-id ID]\n"
		"                       [--client-secret S] [--source-name NAME] [--delay-ms N]\n"
		"                       [--cert-expired] [--cert-name DNSNAME]\n"
		"                       [--rate-limit N/S] [--token-rate-limit N/S]\n"
		"An HTTPS stand-in for SailPoint ISC's password API on 127.0.0.1;\n"
		"see tests/isc_test_server.md.\n");
}

static bool parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < min || value > max)
		return false;
	*out = value;
	return true;
}

/* 0: run; 1: --help; 2: usage error (reported). */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option long_options[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "client-secret", required_argument, NULL, 's' },
		{ "source-name", required_argument, NULL, 'n' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "cert-expired", no_argument, NULL, 'E' },
		{ "cert-name", required_argument, NULL, 'N' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "token-rate-limit", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long number;
	int c;

	*opt = (struct options){ .client_id = DEFAULT_CLIENT_ID,
				 .client_secret = DEFAULT_CLIENT_SECRET,
				 .source_name = DEFAULT_SOURCE_NAME };
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt->dir = optarg;
			break;
		case 'p':
			if (!parse_long(optarg, 0, 65535, &number)) {
				fprintf(stderr, "isc_test_server: bad --port %s\n", optarg);
				return 2;
			}
			opt->port = (unsigned int)number;
			break;
		case 'i':
			opt->client_id = optarg;
			break;
		case 's':
			opt->client_secret = optarg;
			break;
		case 'n':
			opt->source_name = optarg;
			break;
		case 'D':
			if (!parse_long(optarg, 0, MAX_DELAY_MS, &opt->delay_ms)) {
				fprintf(stderr, "isc_test_server: bad --delay-ms %s\n", optarg);
				return 2;
			}
			break;
		case 'E':
			opt->cert.expired = true;
			break;
		case 'N':
			if (!*optarg || strlen(optarg) > 200) {
				fprintf(stderr, "isc_test_server: bad --cert-name\n");
				return 2;
			}
			opt->cert.dns_name = optarg;
			break;
		case 'r':
		case 'R':
			if (!rate_limit_parse(optarg, c == 'r' ? &opt->rate_limit
							       : &opt->token_rate_limit)) {
				fprintf(stderr, "isc_test_server: bad --%s %s (N/S, off or 0)\n",
					c == 'r' ? "rate-limit" : "token-rate-limit", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !opt->dir || !*opt->dir) {
		usage(stderr);
		return 2;
	}
	if (!*opt->client_id || !*opt->client_secret || !*opt->source_name ||
	    strlen(opt->source_name) > MAX_NAME_LEN) {
		fprintf(stderr,
			"isc_test_server: client id, secret and source name must be "
			"non-empty (source name at most %d bytes)\n",
			MAX_NAME_LEN);
		return 2;
	}
	return 0;
}

/* Bind a TCP socket on 127.0.0.1 (port 0), listening or not, and write its
 * port to DIR/NAME. */
static int extra_port(const char *dir, const char *name, bool listening, int *fd_out)
{
	struct sockaddr_in addr;
	socklen_t alen = sizeof addr;
	char number[32];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    (listening && listen(fd, 128) < 0) ||
	    getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
		close(fd);
		return -1;
	}
	snprintf(number, sizeof number, "%u\n", (unsigned int)ntohs(addr.sin_port));
	if (write_file_atomically(dir, name, number, 0644) < 0) {
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

static int server_init(struct server *s, const struct options *opt)
{
	pthread_condattr_t attr;
	int rc;

	memset(s, 0, sizeof *s);
	s->client_id = opt->client_id;
	s->client_secret = opt->client_secret;
	s->source_name = opt->source_name;
	s->sw = (struct switches){ .set_state = STATE_IN_PROGRESS,
				   .polls_to_final = 1,
				   .final_state = STATE_FINISHED,
				   .token_ttl = DEFAULT_TOKEN_TTL,
				   .delay_ms = opt->delay_ms,
				   .fail_status = 500,
				   .retry_after = -1,
				   .fail_endpoint = EP_NONE,
				   .rate_limit = opt->rate_limit,
				   .token_rate_limit = opt->token_rate_limit };
	s->sw.failed_error = strdup(DEFAULT_FAILED_ERROR);
	if (!s->sw.failed_error || derived_id("source", s->source_name, s->source_id) < 0)
		goto fail;
	/* hold_response's deadlines are on the monotonic clock. */
	if (pthread_condattr_init(&attr) != 0)
		goto fail;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&s->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		goto fail;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		pthread_cond_destroy(&s->wake);
		goto fail;
	}
	return 0;
fail:
	free(s->sw.failed_error);
	s->sw.failed_error = NULL;
	return -1;
}

/* After the daemon stopped: no thread uses s any more. */
static void server_free(struct server *s)
{
	for (size_t i = 0; i < s->n_identities; i++)
		free(s->identities[i].user_name);
	for (size_t i = 0; i < s->n_changes; i++)
		free(s->changes[i].error);
	if (s->tokens)
		explicit_bzero(s->tokens, s->cap_tokens * sizeof *s->tokens);
	free(s->tokens);
	free(s->identities);
	free(s->changes);
	rate_limiter_clear(&s->api_limiter);
	rate_limiter_clear(&s->token_limiter);
	free(s->sw.failed_error);
	free(s->public_key_b64);
	free(s->public_key_id);
	/* Deinit zeroizes the RSA parameters. */
	if (s->password_key)
		gnutls_privkey_deinit(s->password_key);
	if (s->events)
		fclose(s->events);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
}

static struct MHD_Daemon *daemon_start(struct server *s, unsigned int port,
				       const struct tls_material *tls)
{
	struct sockaddr_in addr;

	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* One thread per connection: a held response (delay_ms) holds only
	 * its own connection; keep-alive connections stay in their thread. */
	return MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
			MHD_USE_ERROR_LOG,
		(uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&addr, MHD_OPTION_HTTPS_MEM_KEY, tls->key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, tls->chain_pem, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_request_completed, s,
		MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S, MHD_OPTION_END);
}

int main(int argc, char **argv)
{
	struct options opt;
	struct server server;
	struct tls_material tls = { NULL, NULL, NULL, NULL };
	struct MHD_Daemon *daemon = NULL;
	const union MHD_DaemonInfo *info;
	struct sigaction ignore;
	sigset_t stop_signals;
	char path[PATH_MAX], err[256], number[32];
	int rc, sig = 0, status = 1, blackhole_fd = -1, closed_fd = -1;

	rc = parse_options(argc, argv, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : 2;

	/* Blocked before any thread exists, so every thread inherits the
	 * mask and only sigwait below sees them. A write to a closed peer
	 * must not kill us. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	memset(&ignore, 0, sizeof ignore);
	ignore.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ignore, NULL);

	if (server_init(&server, &opt) < 0) {
		fprintf(stderr, "isc_test_server: cannot initialise: out of memory\n");
		return 1;
	}
	if (mkdir(opt.dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "isc_test_server: mkdir %s: %s\n", opt.dir, strerror(errno));
		goto out;
	}
	/* A port file left by an earlier run must not pass for ours. */
	if (dir_path(path, sizeof path, opt.dir, "port") < 0 ||
	    (unlink(path) < 0 && errno != ENOENT)) {
		fprintf(stderr, "isc_test_server: cannot remove %s/port\n", opt.dir);
		goto out;
	}
	if (dir_path(path, sizeof path, opt.dir, "events.log") < 0 ||
	    !(server.events = fopen(path, "ae"))) {
		fprintf(stderr, "isc_test_server: cannot open %s/events.log\n", opt.dir);
		goto out;
	}
	if (tls_material_generate(&tls, &opt.cert, err, sizeof err) < 0 ||
	    password_key_generate(&server, err, sizeof err) < 0) {
		fprintf(stderr, "isc_test_server: key generation failed: %s\n", err);
		goto out;
	}
	if (write_file_atomically(opt.dir, "ca.pem", tls.ca_pem, 0644) < 0) {
		fprintf(stderr, "isc_test_server: cannot write %s/ca.pem: %s\n", opt.dir,
			strerror(errno));
		goto out;
	}
	{
		char pin_line[128];
		snprintf(pin_line, sizeof pin_line, "%s\n", tls.pin);
		if (write_file_atomically(opt.dir, "pin", pin_line, 0644) < 0) {
			fprintf(stderr, "isc_test_server: cannot write %s/pin: %s\n", opt.dir,
				strerror(errno));
			goto out;
		}
	}

	daemon = daemon_start(&server, opt.port, &tls);
	if (!daemon) {
		fprintf(stderr, "isc_test_server: cannot listen on 127.0.0.1:%u\n", opt.port);
		goto out;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || info->port == 0) {
		fprintf(stderr, "isc_test_server: cannot tell the port listened on\n");
		goto out;
	}
	/* A port that accepts TCP connections and never answers (listening,
	 * never accepted: the kernel completes the handshake, then silence),
	 * and a port that refuses connections (bound, not listening: nobody
	 * else can take it while we hold it). */
	if (extra_port(opt.dir, "blackhole_port", true, &blackhole_fd) < 0 ||
	    extra_port(opt.dir, "closed_port", false, &closed_fd) < 0) {
		fprintf(stderr, "isc_test_server: cannot set up the black hole / closed port\n");
		goto out;
	}
	/* pid first: whoever sees the port file can rely on the pid file. */
	snprintf(number, sizeof number, "%ld\n", (long)getpid());
	if (write_file_atomically(opt.dir, "pid", number, 0644) < 0) {
		fprintf(stderr, "isc_test_server: cannot write %s/pid: %s\n", opt.dir,
			strerror(errno));
		goto out;
	}
	snprintf(number, sizeof number, "%u\n", (unsigned int)info->port);
	if (write_file_atomically(opt.dir, "port", number, 0644) < 0) {
		fprintf(stderr, "isc_test_server: cannot write %s/port: %s\n", opt.dir,
			strerror(errno));
		goto out;
	}
	fprintf(stderr, "isc_test_server: listening on https://127.0.0.1:%u\n",
		(unsigned int)info->port);

	if (sigwait(&stop_signals, &sig) != 0) {
		fprintf(stderr, "isc_test_server: sigwait failed\n");
		goto out;
	}
	fprintf(stderr, "isc_test_server: stopping on signal %d\n", sig);
	status = 0;
out:
	/* Wake held responses first so that stopping does not wait for them. */
	pthread_mutex_lock(&server.lock);
	server.stopping = true;
	pthread_cond_broadcast(&server.wake);
	pthread_mutex_unlock(&server.lock);
	if (daemon)
		MHD_stop_daemon(daemon);
	tls_material_free(&tls);
	server_free(&server);
	if (blackhole_fd >= 0)
		close(blackhole_fd);
	if (closed_fd >= 0)
		close(closed_fd);
	return status;
}
