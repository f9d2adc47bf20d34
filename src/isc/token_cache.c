/* SPDX-License-Identifier: MIT */
/* token_cache: see token_cache.h.
 * File format, one "key=value" per line: url, client, expires (epoch
 * seconds after which the token is not used), token. */
#include "token_cache.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

#define TOKEN_FILE "token"
#define TOKEN_FILE_MAX 16384

static int token_path(const struct config *cfg, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/" TOKEN_FILE, cfg->runtime_dir);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Find "key=" at the start of a line in text; returns the value's start and
 * its length (up to the newline), or NULL. */
static const char *find_value(const char *text, const char *key, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			const char *v = line + klen + 1;
			*vlen = nl ? (size_t)(nl - v) : strlen(v);
			return v;
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static bool value_equals(const char *v, size_t vlen, const char *want)
{
	return v && strlen(want) == vlen && memcmp(v, want, vlen) == 0;
}

enum token_cache_result token_cache_load(const struct config *cfg, time_t now, struct secret *token,
					 char *err, size_t errsize)
{
	char path[PATH_MAX], *text = NULL, num[32];
	const char *v;
	size_t len = 0, vlen = 0;
	long long expires;
	int rc;

	if (token_path(cfg, path, sizeof path) < 0) {
		snprintf(err, errsize, "runtime_dir path too long");
		return -1;
	}
	rc = fsutil_read_private(path, TOKEN_FILE_MAX, &text, &len, err, errsize);
	if (rc != 0)
		return rc;

	rc = 1;
	v = find_value(text, "url", &vlen);
	if (!value_equals(v, vlen, cfg->api_url))
		goto out;
	v = find_value(text, "client", &vlen);
	if (!value_equals(v, vlen, cfg->client_id))
		goto out;
	v = find_value(text, "expires", &vlen);
	if (!v || vlen == 0 || vlen >= sizeof num)
		goto out;
	memcpy(num, v, vlen);
	num[vlen] = '\0';
	errno = 0;
	expires = strtoll(num, NULL, 10);
	if (errno != 0 || expires <= (long long)now)
		goto out;
	v = find_value(text, "token", &vlen);
	if (!v || vlen == 0)
		goto out;
	if (secret_set(token, v, vlen) < 0) {
		snprintf(err, errsize, "out of memory");
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	secret_free_buf(text, len);
	return rc;
}

int token_cache_store(const struct config *cfg, time_t now, const char *token, long expires_in,
		      char *err, size_t errsize)
{
	long margin = expires_in > 2 * TOKEN_CACHE_MARGIN ? TOKEN_CACHE_MARGIN : expires_in / 2;
	size_t size;
	char *text;
	int n, rc;

	if (strchr(token, '\n') || strchr(cfg->api_url, '\n') || strchr(cfg->client_id, '\n')) {
		snprintf(err, errsize, "refusing to cache a value with a newline");
		return -1;
	}
	if (fsutil_ensure_private_dir(cfg->runtime_dir, err, errsize) < 0)
		return -1;
	size = strlen(cfg->api_url) + strlen(cfg->client_id) + strlen(token) + 96;
	text = malloc(size);
	if (!text) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	n = snprintf(text, size, "url=%s\nclient=%s\nexpires=%lld\ntoken=%s\n", cfg->api_url,
		     cfg->client_id, (long long)now + expires_in - margin, token);
	if (n < 0 || (size_t)n >= size) {
		secret_free_buf(text, size);
		snprintf(err, errsize, "token cache entry too long");
		return -1;
	}
	rc = fsutil_write_atomic(cfg->runtime_dir, TOKEN_FILE, text, (size_t)n, err, errsize);
	secret_free_buf(text, size);
	return rc;
}

void token_cache_clear(const struct config *cfg)
{
	char path[PATH_MAX];

	if (token_path(cfg, path, sizeof path) == 0)
		unlink(path);
}
