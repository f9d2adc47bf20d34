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

/* Returns 0 and fills token when a fresh token for this config is cached;
 * 1 when there is none (missing, stale, other tenant); -1 on an error
 * (message in err; the caller simply fetches a new token). */
int token_cache_load(const struct config *cfg, time_t now, struct secret *token, char *err,
		     size_t errsize);

/* Store token, valid for expires_in seconds from now. */
int token_cache_store(const struct config *cfg, time_t now, const char *token, long expires_in,
		      char *err, size_t errsize);

/* Forget the cached token (after ISC refused it). */
void token_cache_clear(const struct config *cfg);

#endif
