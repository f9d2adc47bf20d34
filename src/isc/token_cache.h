/* SPDX-License-Identifier: MIT */
/* token_cache: the OAuth access token, kept in runtime_dir/token (0600 in a
 * 0700 directory) so that consecutive changes on a host need one token
 * request, not one each. The entry records which tenant URL and client id
 * it belongs to: a token is never sent to a server it was not issued for. */
#ifndef PAM_ISC_TOKEN_CACHE_H
#define PAM_ISC_TOKEN_CACHE_H

#include <time.h>

#include "config.h"
#include "secret.h"

/* A token is treated as stale this many seconds before ISC says it expires
 * (or at half its lifetime for very short-lived tokens), so that it does not
 * expire between being read and being used. */
#define TOKEN_CACHE_MARGIN 60

/* Fill token when a fresh token for this config is cached. On an error
 * the message is in err; the caller simply fetches a new token. */
enum token_cache_result {
	TOKEN_CACHE_HIT = 0,
	TOKEN_CACHE_NONE = 1, /* missing, stale, another tenant's */
	TOKEN_CACHE_ERROR = -1,
};
enum token_cache_result token_cache_load(const struct config *cfg, time_t now, struct secret *token,
					 char *err, size_t errsize);

/* Store token, valid for expires_in seconds from now. */
int token_cache_store(const struct config *cfg, time_t now, const char *token, long expires_in,
		      char *err, size_t errsize);

/* Forget the cached token (after ISC refused it). */
void token_cache_clear(const struct config *cfg);

#endif
