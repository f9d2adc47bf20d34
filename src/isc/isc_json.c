/* SPDX-License-Identifier: MIT */
/* isc_json: see isc_json.h and docs/isc-api.md.
 *
 * Duplicate keys in an object: json-c keeps the last one silently, so a
 * body could say one thing to one JSON reader and another to the next. A
 * scan after json-c's (check_duplicate_keys) refuses any object that names
 * a key twice, however the key is spelled (escapes are decoded first). */
#include "isc_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errbuf.h"
#include "secret.h"
#include "text.h"

/* ISC's responses are two levels deep; 16 leaves room for fields we ignore
 * while keeping a hostile body from recursing far. */
#define PARSE_MAX_DEPTH 16

/* An identity has a handful of accounts on a source and a change a handful
 * of errors; more than this is a broken or hostile answer. */
#define MAX_ARRAY_ITEMS 1000

/* Tokens live minutes (API clients) to 12 hours (personal access tokens);
 * anything beyond ten years is nonsense, and capping it keeps time
 * arithmetic on expires_in far from overflow. */
#define EXPIRES_IN_MAX (10L * 366 * 24 * 60 * 60)

const char *isc_state_name(enum isc_state s)
{
	switch (s) {
	case ISC_STATE_IN_PROGRESS:
		return "IN_PROGRESS";
	case ISC_STATE_FINISHED:
		return "FINISHED";
	case ISC_STATE_FAILED:
		return "FAILED";
	}
	return "UNKNOWN";
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = text_utf8_len(s + i, n - i);

		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

/* ---- Parsing -------------------------------------------------------------- */

/* JSON_TOKENER_STRICT in json-c 0.16 still lets through single-quoted keys,
 * Infinity, raw control characters inside strings, and (with
 * JSON_TOKENER_VALIDATE_UTF8) overlong or surrogate UTF-8. This scan closes
 * those gaps; json-c does the grammar. Outside strings only structure,
 * whitespace, numbers and the letters of true/false/null can appear. */
static int json_text_check(const unsigned char *s, size_t n, char *err, size_t errsize)
{
	static const char outside_string[] = " \t\n\r{}[],:-+.0123456789eEtrufalsn";
	bool in_string = false, escaped = false;

	if (!utf8_valid(s, n)) {
		errbuf_set(err, errsize, "not JSON: invalid UTF-8");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			else if (c < 0x20) {
				errbuf_set(err, errsize, "not JSON: control character in a string");
				return -1;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '\0' || !strchr(outside_string, c)) {
			errbuf_set(err, errsize, "not JSON: unexpected character at offset %zu", i);
			return -1;
		}
	}
	return 0;
}

/* ---- duplicate keys --------------------------------------------------------- */

/* ISC's objects have a few dozen fields at most. */
#define MAX_OBJECT_KEYS 1000

struct json_key {
	char *s;
	size_t len;
};

struct key_level {
	bool is_object, expect_key;
	struct json_key *keys;
	size_t n, cap;
};

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the JSON string starting after the quote at s[*pos] into a fresh
 * buffer; *pos ends after the closing quote. The text is known to be valid
 * JSON (json-c parsed it). Returns 0 or -1 (out of memory, malformed). */
static int decode_string(const char *s, size_t n, size_t *pos, struct json_key *out)
{
	size_t i = *pos, start = i, len = 0;
	char *buf;

	while (i < n && s[i] != '"')
		i += (s[i] == '\\') ? 2 : 1;
	if (i >= n)
		return -1;
	/* Decoding never makes a string longer. */
	buf = malloc(i - start + 1);
	if (!buf)
		return -1;
	for (size_t j = start; j < i;) {
		unsigned cp, lo;

		if (s[j] != '\\') {
			buf[len++] = s[j++];
			continue;
		}
		switch (s[j + 1]) {
		case 'b':
			buf[len++] = '\b';
			j += 2;
			continue;
		case 'f':
			buf[len++] = '\f';
			j += 2;
			continue;
		case 'n':
			buf[len++] = '\n';
			j += 2;
			continue;
		case 'r':
			buf[len++] = '\r';
			j += 2;
			continue;
		case 't':
			buf[len++] = '\t';
			j += 2;
			continue;
		case 'u':
			break;
		default:
			buf[len++] = s[j + 1];
			j += 2;
			continue;
		}
		if (j + 6 > i || hex4(s + j + 2, &cp) < 0)
			goto bad;
		j += 6;
		if (cp >= 0xd800 && cp < 0xdc00 && j + 6 <= i && s[j] == '\\' && s[j + 1] == 'u' &&
		    hex4(s + j + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			j += 6;
		}
		len += put_utf8(cp, buf + len);
	}
	out->s = buf;
	out->len = len;
	*pos = i + 1;
	return 0;
bad:
	free(buf);
	return -1;
}

static void level_free(struct key_level *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i].s);
	free(l->keys);
	memset(l, 0, sizeof *l);
}

/* 1 when key is new in l (and now recorded), 0 when it is a duplicate, -1
 * on error (out of memory, too many keys: reason in err). */
static int level_add_key(struct key_level *l, struct json_key *key, char *err, size_t errsize)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->keys[i].len == key->len && memcmp(l->keys[i].s, key->s, key->len) == 0)
			return 0;
	}
	if (l->n >= MAX_OBJECT_KEYS) {
		errbuf_set(err, errsize, "an object has more than %d keys", MAX_OBJECT_KEYS);
		return -1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct json_key *grown = realloc(l->keys, cap * sizeof *grown);
		if (!grown) {
			errbuf_set(err, errsize, "out of memory");
			return -1;
		}
		l->keys = grown;
		l->cap = cap;
	}
	l->keys[l->n++] = *key;
	key->s = NULL;
	return 1;
}

/* body[0..n) is one valid JSON value at most PARSE_MAX_DEPTH deep. */
static int check_duplicate_keys(const char *s, size_t n, char *err, size_t errsize)
{
	struct key_level levels[PARSE_MAX_DEPTH + 1];
	int depth = 0, rc = 0;

	memset(levels, 0, sizeof levels);
	for (size_t i = 0; i < n && rc == 0;) {
		char c = s[i];
		struct key_level *top = depth > 0 ? &levels[depth - 1] : NULL;

		if (c == '{' || c == '[') {
			if (depth > PARSE_MAX_DEPTH) {
				errbuf_set(err, errsize, "not JSON: nesting too deep");
				rc = -1;
				break;
			}
			levels[depth].is_object = c == '{';
			levels[depth].expect_key = c == '{';
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			if (depth > 0)
				level_free(&levels[--depth]);
			i++;
		} else if (c == ',') {
			if (top && top->is_object)
				top->expect_key = true;
			i++;
		} else if (c == '"' && top && top->is_object && top->expect_key) {
			/* Only keys are decoded (copied): values may be secrets
			 * (access_token) and are skipped in place. */
			struct json_key key = { NULL, 0 };
			size_t pos = i + 1;
			int added;

			if (decode_string(s, n, &pos, &key) < 0) {
				errbuf_set(err, errsize, "out of memory");
				rc = -1;
				break;
			}
			top->expect_key = false;
			added = level_add_key(top, &key, err, errsize);
			if (added == 0)
				errbuf_set(err, errsize,
					   "not JSON we accept: a key appears twice in an object");
			if (added <= 0)
				rc = -1;
			free(key.s);
			i = pos;
		} else if (c == '"') {
			for (i++; i < n && s[i] != '"'; i += (s[i] == '\\') ? 2 : 1)
				;
			i++;
		} else {
			i++;
		}
	}
	while (depth > 0)
		level_free(&levels[--depth]);
	return rc;
}

/* Parse body[0..len) as exactly one JSON value. Returns it (release with
 * json_object_put) or NULL with a reason in err. A top-level JSON null is
 * reported as an error too, since no caller wants it. */
static struct json_object *parse_value(const char *body, size_t len, char *err, size_t errsize)
{
	struct json_tokener *tok;
	struct json_object *value;
	enum json_tokener_error jerr;

	if (!body || len == 0) {
		errbuf_set(err, errsize, "empty body");
		return NULL;
	}
	if (len > ISC_JSON_MAX_BODY) {
		errbuf_set(err, errsize, "body too large (%zu bytes)", len);
		return NULL;
	}
	/* json-c would stop at a NUL and report success on the part before it. */
	if (memchr(body, '\0', len)) {
		errbuf_set(err, errsize, "not JSON: NUL byte in body");
		return NULL;
	}
	if (json_text_check((const unsigned char *)body, len, err, errsize) < 0)
		return NULL;

	tok = json_tokener_new_ex(PARSE_MAX_DEPTH);
	if (!tok) {
		errbuf_set(err, errsize, "out of memory");
		return NULL;
	}
#ifdef JSON_TOKENER_VALIDATE_UTF8
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
#else
	/* json-c older than 0.15: json_text_check has validated UTF-8 already. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
#endif
	/* len <= ISC_JSON_MAX_BODY, so it fits in an int. */
	value = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!value) {
		if (jerr == json_tokener_success)
			errbuf_set(err, errsize, "top level is null");
		else if (jerr == json_tokener_continue)
			errbuf_set(err, errsize, "not JSON: incomplete");
		else
			errbuf_set(err, errsize, "not JSON: %s", json_tokener_error_desc(jerr));
	} else if (jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
		errbuf_set(err, errsize, "not JSON: trailing data after the value");
		json_object_put(value);
		value = NULL;
	} else if (check_duplicate_keys(body, len, err, errsize) < 0) {
		json_object_put(value);
		value = NULL;
	}
	json_tokener_free(tok);
	return value;
}

/* Like parse_value, but the top level must be an object. */
static struct json_object *parse_object(const char *body, size_t len, char *err, size_t errsize)
{
	struct json_object *value = parse_value(body, len, err, errsize);

	if (value && !json_object_is_type(value, json_type_object)) {
		errbuf_set(err, errsize, "top level is a JSON %s, expected object",
			   json_type_to_name(json_object_get_type(value)));
		json_object_put(value);
		value = NULL;
	}
	return value;
}

enum {
	FIELD_REQUIRED = 1 << 0, /* absent is an error */
	FIELD_NULLABLE = 1 << 1, /* null gives NULL rather than an error */
	FIELD_NONEMPTY = 1 << 2, /* "" is an error */
};

/* False when a \u0000 escape put a NUL inside the string value, which would
 * silently cut its C string short. */
static bool has_no_nul(struct json_object *string_value)
{
	return strlen(json_object_get_string(string_value)) ==
	       (size_t)json_object_get_string_len(string_value);
}

/* malloc'd copy of a JSON string value. name is the field's path, for err. */
static int copy_string(struct json_object *value, const char *name, unsigned int flags, char **out,
		       char *err, size_t errsize)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(value, json_type_string)) {
		errbuf_set(err, errsize, "field %s: expected string%s, got %s", name,
			   flags & FIELD_NULLABLE ? " or null" : "",
			   json_type_to_name(json_object_get_type(value)));
		return -1;
	}
	s = json_object_get_string(value);
	len = strlen(s);
	if (!has_no_nul(value)) {
		errbuf_set(err, errsize, "field %s: contains a NUL character", name);
		return -1;
	}
	if (len == 0 && (flags & FIELD_NONEMPTY)) {
		errbuf_set(err, errsize, "field %s: empty", name);
		return -1;
	}
	*out = strdup(s);
	if (!*out) {
		errbuf_set(err, errsize, "out of memory");
		return -1;
	}
	return 0;
}

/* Look up key in obj. Returns 1 and sets *value (NULL for JSON null) when
 * present, 0 when absent and allowed, -1 when absent and required. */
static int find_field(struct json_object *obj, const char *key, const char *name,
		      unsigned int flags, struct json_object **value, char *err, size_t errsize)
{
	*value = NULL;
	if (json_object_object_get_ex(obj, key, value))
		return 1;
	if (flags & FIELD_REQUIRED) {
		errbuf_set(err, errsize, "field %s: missing", name);
		return -1;
	}
	return 0;
}

/* String field key of obj into *out (NULL when absent or, if allowed, null). */
static int take_string(struct json_object *obj, const char *key, const char *name,
		       unsigned int flags, char **out, char *err, size_t errsize)
{
	struct json_object *value;
	int found;

	*out = NULL;
	found = find_field(obj, key, name, flags, &value, err, errsize);
	if (found <= 0)
		return found;
	if (!value) {
		if (flags & FIELD_NULLABLE)
			return 0;
		errbuf_set(err, errsize, "field %s: expected string, got null", name);
		return -1;
	}
	return copy_string(value, name, flags, out, err, errsize);
}

static int take_state(struct json_object *obj, enum isc_state *state, char *err, size_t errsize)
{
	static const enum isc_state states[] = { ISC_STATE_IN_PROGRESS, ISC_STATE_FINISHED,
						 ISC_STATE_FAILED };
	struct json_object *value;
	const char *s;

	if (find_field(obj, "state", "state", FIELD_REQUIRED, &value, err, errsize) < 0)
		return -1;
	if (!value || !json_object_is_type(value, json_type_string)) {
		errbuf_set(err, errsize, "field state: expected string, got %s",
			   json_type_to_name(json_object_get_type(value)));
		return -1;
	}
	s = json_object_get_string(value);
	for (size_t i = 0; has_no_nul(value) && i < sizeof states / sizeof states[0]; i++) {
		if (strcmp(s, isc_state_name(states[i])) == 0) {
			*state = states[i];
			return 0;
		}
	}
	/* The value is not echoed: err must never carry body content. */
	errbuf_set(err, errsize, "field state: unknown value");
	return -1;
}

/* Array field: NULL *array when absent or null and allowed. Checks the
 * element count against MAX_ARRAY_ITEMS. */
static int take_array(struct json_object *obj, const char *key, unsigned int flags,
		      struct json_object **array, size_t *count, char *err, size_t errsize)
{
	struct json_object *value;
	int found;

	*array = NULL;
	*count = 0;
	found = find_field(obj, key, key, flags, &value, err, errsize);
	if (found <= 0)
		return found;
	if (!value && (flags & FIELD_NULLABLE))
		return 0;
	if (!value || !json_object_is_type(value, json_type_array)) {
		errbuf_set(err, errsize, "field %s: expected array, got %s", key,
			   json_type_to_name(json_object_get_type(value)));
		return -1;
	}
	*count = json_object_array_length(value);
	if (*count > MAX_ARRAY_ITEMS) {
		errbuf_set(err, errsize, "field %s: too many entries (%zu, at most %d)", key,
			   *count, MAX_ARRAY_ITEMS);
		*count = 0;
		return -1;
	}
	*array = value;
	return 0;
}

int isc_json_parse_token(const char *body, size_t len, struct isc_token *out, char *err,
			 size_t errsize)
{
	struct json_object *top, *value;
	int64_t expires_in;
	int rc, ret = -1;

	memset(out, 0, sizeof *out);
	top = parse_object(body, len, err, errsize);
	if (!top)
		return -1;

	if (find_field(top, "access_token", "access_token", FIELD_REQUIRED, &value, err, errsize) <
	    0)
		goto out;
	if (!value) {
		errbuf_set(err, errsize, "field access_token: expected string, got null");
		goto out;
	}
	rc = copy_string(value, "access_token", FIELD_NONEMPTY, &out->access_token, err, errsize);
	/* json-c's copy of the token is wiped before json_object_put frees it.
	 * (The tokener's scratch buffer and the caller's body also held it;
	 * json-c offers no public way to wipe the former.) */
	if (json_object_is_type(value, json_type_string))
		secret_wipe((void *)(uintptr_t)json_object_get_string(value),
			    (size_t)json_object_get_string_len(value));
	if (rc < 0)
		goto out;

	if (find_field(top, "token_type", "token_type", 0, &value, err, errsize) > 0) {
		if (!value || !json_object_is_type(value, json_type_string)) {
			errbuf_set(err, errsize, "field token_type: expected string, got %s",
				   json_type_to_name(json_object_get_type(value)));
			goto out;
		}
		if (!has_no_nul(value) ||
		    strcasecmp(json_object_get_string(value), "bearer") != 0) {
			errbuf_set(err, errsize, "field token_type: not bearer");
			goto out;
		}
	}

	if (find_field(top, "expires_in", "expires_in", FIELD_REQUIRED, &value, err, errsize) < 0)
		goto out;
	if (!value || !json_object_is_type(value, json_type_int)) {
		errbuf_set(err, errsize, "field expires_in: expected integer, got %s",
			   json_type_to_name(json_object_get_type(value)));
		goto out;
	}
	/* json-c saturates integers beyond int64 (and reads large positive ones
	 * as uint64, which get_int64 clamps), so the range check covers them. */
	expires_in = json_object_get_int64(value);
	if (expires_in <= 0 || expires_in > EXPIRES_IN_MAX) {
		errbuf_set(err, errsize, "field expires_in: out of range");
		goto out;
	}
	out->expires_in = (long)expires_in;
	ret = 0;
out:
	json_object_put(top);
	if (ret < 0)
		isc_token_free(out);
	return ret;
}

static int parse_account(struct json_object *item, size_t index, void *dst, char *err,
			 size_t errsize)
{
	struct isc_account *account = dst;
	char name[64];

	if (!item || !json_object_is_type(item, json_type_object)) {
		errbuf_set(err, errsize, "field accounts[%zu]: expected object, got %s", index,
			   json_type_to_name(json_object_get_type(item)));
		return -1;
	}
	snprintf(name, sizeof name, "accounts[%zu].accountId", index);
	if (take_string(item, "accountId", name, FIELD_REQUIRED | FIELD_NONEMPTY,
			&account->account_id, err, errsize) < 0)
		return -1;
	snprintf(name, sizeof name, "accounts[%zu].accountName", index);
	return take_string(item, "accountName", name, FIELD_NULLABLE, &account->account_name, err,
			   errsize);
}

/* One item of an array field: item (may be NULL: a JSON null) into dst. */
typedef int (*item_parse_fn)(struct json_object *item, size_t index, void *dst, char *err,
			     size_t errsize);

/* The array field key of top, each item parsed into a fresh array of
 * item_size-byte elements: *items and *count are set before the first
 * item is parsed, so that a failure part-way lets the caller's free
 * release what was filled. A missing (where flags allow it) or empty array
 * leaves them NULL and 0. */
static int take_items(struct json_object *top, const char *key, unsigned int flags,
		      size_t item_size, void **items, size_t *count, item_parse_fn parse, char *err,
		      size_t errsize)
{
	struct json_object *array;
	size_t n;

	if (take_array(top, key, flags, &array, &n, err, errsize) < 0)
		return -1;
	if (n == 0)
		return 0;
	*items = calloc(n, item_size);
	if (!*items) {
		errbuf_set(err, errsize, "out of memory");
		return -1;
	}
	*count = n;
	for (size_t i = 0; i < n; i++)
		if (parse(json_object_array_get_idx(array, i), i, (char *)*items + i * item_size,
			  err, errsize) < 0)
			return -1;
	return 0;
}

/* An item of a status answer's errors: a string. */
static int parse_error_text(struct json_object *item, size_t index, void *dst, char *err,
			    size_t errsize)
{
	char name[32];

	snprintf(name, sizeof name, "errors[%zu]", index);
	if (!item) {
		errbuf_set(err, errsize, "field %s: expected string, got null", name);
		return -1;
	}
	return copy_string(item, name, 0, (char **)dst, err, errsize);
}

int isc_json_parse_password_info(const char *body, size_t len, struct isc_password_info *out,
				 char *err, size_t errsize)
{
	const unsigned int needed = FIELD_REQUIRED | FIELD_NONEMPTY;
	struct json_object *top;
	void *accounts = NULL;
	int ret = -1;

	memset(out, 0, sizeof *out);
	top = parse_object(body, len, err, errsize);
	if (!top)
		return -1;

	if (take_string(top, "identityId", "identityId", needed, &out->identity_id, err, errsize) <
		    0 ||
	    take_string(top, "sourceId", "sourceId", needed, &out->source_id, err, errsize) < 0 ||
	    take_string(top, "publicKeyId", "publicKeyId", needed, &out->public_key_id, err,
			errsize) < 0 ||
	    take_string(top, "publicKey", "publicKey", needed, &out->public_key, err, errsize) < 0)
		goto out;

	/* policies are informational free text: deliberately not read. */
	ret = take_items(top, "accounts", FIELD_REQUIRED, sizeof *out->accounts, &accounts,
			 &out->n_accounts, parse_account, err, errsize);
	out->accounts = accounts;
out:
	json_object_put(top);
	if (ret < 0)
		isc_password_info_free(out);
	return ret;
}

int isc_json_parse_set_result(const char *body, size_t len, struct isc_set_result *out, char *err,
			      size_t errsize)
{
	struct json_object *top;
	int ret = -1;

	memset(out, 0, sizeof *out);
	top = parse_object(body, len, err, errsize);
	if (!top)
		return -1;
	/* requestId is nullable: a change can come back already FINISHED or
	 * FAILED with nothing to poll. */
	if (take_string(top, "requestId", "requestId", FIELD_NULLABLE, &out->request_id, err,
			errsize) < 0 ||
	    take_state(top, &out->state, err, errsize) < 0)
		goto out;
	ret = 0;
out:
	json_object_put(top);
	if (ret < 0)
		isc_set_result_free(out);
	return ret;
}

int isc_json_parse_status(const char *body, size_t len, struct isc_status *out, char *err,
			  size_t errsize)
{
	struct json_object *top;
	void *errors = NULL;
	int ret = -1;

	memset(out, 0, sizeof *out);
	top = parse_object(body, len, err, errsize);
	if (!top)
		return -1;
	if (take_string(top, "requestId", "requestId", FIELD_REQUIRED | FIELD_NONEMPTY,
			&out->request_id, err, errsize) < 0 ||
	    take_state(top, &out->state, err, errsize) < 0)
		goto out;

	/* sourceIds is not needed: deliberately not read. */
	ret = take_items(top, "errors", FIELD_NULLABLE, sizeof *out->errors, &errors,
			 &out->n_errors, parse_error_text, err, errsize);
	out->errors = errors;
out:
	json_object_put(top);
	if (ret < 0)
		isc_status_free(out);
	return ret;
}

/* ---- Error bodies --------------------------------------------------------- */

/* Copy src[0..n) into dst for logging: surrounding whitespace trimmed,
 * control characters (C0, DEL, C1) and malformed UTF-8 replaced by '?',
 * truncated on a character boundary. */
static void copy_clean(char *dst, size_t dstsize, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0;

	while (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
		s++;
		n--;
	}
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;

	for (size_t i = 0; i < n;) {
		size_t len = text_utf8_len(s + i, n - i);
		bool control = len == 0 || s[i] < 0x20 || s[i] == 0x7f ||
			       (len == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0);

		if (control) {
			if (out + 1 >= dstsize)
				break;
			dst[out++] = '?';
			i += len ? len : 1;
		} else {
			if (out + len >= dstsize)
				break;
			memcpy(dst + out, s + i, len);
			out += len;
			i += len;
		}
	}
	dst[out] = '\0';
}

/* Text of a scalar field (strings as they are, numbers and booleans as
 * json-c prints them) into dst. Returns true if something was copied. */
static bool copy_scalar_field(struct json_object *obj, const char *key, char *dst, size_t dstsize)
{
	struct json_object *value;
	const char *s;

	if (!json_object_object_get_ex(obj, key, &value) || !value)
		return false;
	switch (json_object_get_type(value)) {
	case json_type_string:
		copy_clean(dst, dstsize, json_object_get_string(value),
			   (size_t)json_object_get_string_len(value));
		break;
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		s = json_object_get_string(value);
		copy_clean(dst, dstsize, s, strlen(s));
		break;
	default:
		return false;
	}
	return dst[0] != '\0';
}

void isc_json_parse_error(const char *body, size_t len, struct isc_error_body *out)
{
	struct json_object *top, *messages;

	memset(out, 0, sizeof *out);
	if (!body || len == 0) {
		snprintf(out->text, sizeof out->text, "empty body");
		return;
	}
	if (len > ISC_JSON_MAX_BODY) {
		snprintf(out->text, sizeof out->text, "oversized body (%zu bytes)", len);
		return;
	}
	top = parse_value(body, len, NULL, 0);
	if (!top) {
		/* Never the bytes themselves: this is often an HTML page from a
		 * proxy, and nothing unparsed goes to the logs. */
		snprintf(out->text, sizeof out->text, "non-JSON body (%zu bytes)", len);
		return;
	}
	if (json_object_is_type(top, json_type_string)) {
		copy_clean(out->text, sizeof out->text, json_object_get_string(top),
			   (size_t)json_object_get_string_len(top));
		goto out;
	}
	if (!json_object_is_type(top, json_type_object)) {
		snprintf(out->text, sizeof out->text, "JSON %s body (%zu bytes)",
			 json_type_to_name(json_object_get_type(top)), len);
		goto out;
	}

	/* Standard ISC error: detailCode, trackingId, messages[0].text. */
	copy_scalar_field(top, "detailCode", out->detail_code, sizeof out->detail_code);
	copy_scalar_field(top, "trackingId", out->tracking_id, sizeof out->tracking_id);
	if (json_object_object_get_ex(top, "messages", &messages) &&
	    json_object_is_type(messages, json_type_array) &&
	    json_object_array_length(messages) > 0) {
		struct json_object *first = json_object_array_get_idx(messages, 0);

		if (json_object_is_type(first, json_type_object))
			copy_scalar_field(first, "text", out->text, sizeof out->text);
	}
	/* OAuth: error is a code, error_description the sentence. */
	if (!out->text[0] &&
	    copy_scalar_field(top, "error_description", out->text, sizeof out->text) &&
	    !out->detail_code[0])
		copy_scalar_field(top, "error", out->detail_code, sizeof out->detail_code);
	/* 401: error alone is the sentence. 429: message. */
	if (!out->text[0] && !copy_scalar_field(top, "error", out->text, sizeof out->text))
		copy_scalar_field(top, "message", out->text, sizeof out->text);
	if (!out->text[0] && !out->detail_code[0] && !out->tracking_id[0])
		snprintf(out->text, sizeof out->text, "JSON body without error details (%zu bytes)",
			 len);
out:
	json_object_put(top);
}

/* ---- Builders ------------------------------------------------------------- */

/* Add key: value to obj. The value must be UTF-8, or the JSON would be
 * invalid (json-c copies bytes through unchecked). */
static int add_string(struct json_object *obj, const char *key, const char *value)
{
	struct json_object *str;

	if (!value || !utf8_valid((const unsigned char *)value, strlen(value))) {
		errno = EINVAL;
		return -1;
	}
	str = json_object_new_string(value);
	if (!str)
		return -1;
	if (json_object_object_add(obj, key, str) != 0) {
		json_object_put(str);
		return -1;
	}
	return 0;
}

/* malloc'd compact text of obj (or NULL); releases obj either way. */
static char *serialize(struct json_object *obj)
{
	const char *text = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = text ? strdup(text) : NULL;

	json_object_put(obj);
	return copy;
}

char *isc_json_build_lookup(const char *user_name, const char *source_name)
{
	struct json_object *obj = json_object_new_object();

	if (!obj)
		return NULL;
	if (add_string(obj, "userName", user_name) < 0 ||
	    add_string(obj, "sourceName", source_name) < 0) {
		json_object_put(obj);
		return NULL;
	}
	return serialize(obj);
}

/* The json-c objects and their serialization buffer hold the ciphertext and
 * are freed without wiping: only the returned copy is treated as secret. The
 * ciphertext is useless without ISC's private key. */
char *isc_json_build_set_password(const char *identity_id, const char *encrypted_b64,
				  const char *public_key_id, const char *account_id,
				  const char *source_id)
{
	struct json_object *obj = json_object_new_object();

	if (!obj)
		return NULL;
	if (add_string(obj, "identityId", identity_id) < 0 ||
	    add_string(obj, "encryptedPassword", encrypted_b64) < 0 ||
	    add_string(obj, "publicKeyId", public_key_id) < 0 ||
	    add_string(obj, "accountId", account_id) < 0 ||
	    add_string(obj, "sourceId", source_id) < 0) {
		json_object_put(obj);
		return NULL;
	}
	return serialize(obj);
}

/* ---- Release -------------------------------------------------------------- */

void isc_token_free(struct isc_token *t)
{
	if (!t)
		return;
	secret_free_str(t->access_token);
	memset(t, 0, sizeof *t);
}

void isc_password_info_free(struct isc_password_info *p)
{
	if (!p)
		return;
	free(p->identity_id);
	free(p->source_id);
	free(p->public_key_id);
	free(p->public_key);
	for (size_t i = 0; p->accounts && i < p->n_accounts; i++) {
		free(p->accounts[i].account_id);
		free(p->accounts[i].account_name);
	}
	free(p->accounts);
	memset(p, 0, sizeof *p);
}

void isc_set_result_free(struct isc_set_result *r)
{
	if (!r)
		return;
	free(r->request_id);
	memset(r, 0, sizeof *r);
}

void isc_status_free(struct isc_status *s)
{
	if (!s)
		return;
	free(s->request_id);
	for (size_t i = 0; s->errors && i < s->n_errors; i++)
		free(s->errors[i]);
	free(s->errors);
	memset(s, 0, sizeof *s);
}
