#!/bin/bash
# SPDX-License-Identifier: MIT
# The OAuth token is fetched once and reused from runtime_dir by later
# changes; a token ISC refuses (401) is replaced once and the change still
# goes through; a token near its expiry is replaced before use. The cache is
# private (0600 file in a 0700 directory) and holds no password.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
write_config
# FINISHED at once: no follower runs, so every token request in events.log
# was made by a change itself.
server_control '{"set_state": "FINISHED"}'
SVC=isc_token
pam_service "$SVC" "$(isc_line)"

tokens() { count_events '^request .*method=POST path=/oauth/token status=200'; }

# change USER PASSWORD: a change that must succeed and set PASSWORD.
change() {
	local user=$1 pw=$2
	change_ok "$user" "$pw"
	[ "$(n_events "^set user=$user .*status=202")" -eq 1 ] || fail "$user: not one successful set event"
	got_password "$user" "$pw" || fail "$user: the server decrypted another password"
	# token (when fetched), 401, retry, set: all over one connection
	assert_one_conn "$MARK" "$user"
	LAST_MARK=$MARK
}

# check_cache_file: mode and content of the token cache.
check_cache_file() {
	local f files
	[ "$(stat -c %a "$T/run")" = 700 ] ||
		fail "runtime_dir has mode $(stat -c %a "$T/run"), not 0700"
	files=$(find "$T/run" -maxdepth 1 -type f -name '*token*')
	[ -n "$files" ] || fail "no token cache file in runtime_dir: $(ls -la "$T/run")"
	for f in $files; do
		[ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f"), not 0600"
		[ "$(stat -c %u "$f")" = 0 ] || fail "$f is not owned by root"
		if file_has_secret "$f"; then
			fail "a password is in the token cache $f"
		fi
		if _grep -qF 'test-secret' "$f"; then
			fail "the client secret is in the token cache $f"
		fi
	done
}

# --- reuse ------------------------------------------------------------------
change alice 'Token-cache-password-1'
[ "$(tokens)" -eq 1 ] || fail "first change: $(tokens) token requests, expected 1"
check_cache_file
change bob 'Token-cache-password-2'
[ "$(tokens)" -eq 1 ] || fail "second change fetched a token again ($(tokens) in all); the cached one was not reused"
events_since "$LAST_MARK" | _grep -qE '^request .*status=401' &&
	fail "the cached token was refused: $(events_since "$LAST_MARK" | _grep -E 'status=401' | head -n 1)"
log "ok: two changes, one token"

# --- a token ISC no longer accepts: 401, one new token, retried -------------
server_control '{"expire_tokens": true}'
before=$(tokens)
change carol 'Token-cache-password-3'
n401=$(events_since "$LAST_MARK" | _grep -cE '^request .*status=401' || true)
[ "$n401" -ge 1 ] || fail "the expired token did not get a 401 (was it used at all?)"
[ "$n401" -eq 1 ] || fail "$n401 requests were refused with 401; expected one, then a retry"
[ $(($(tokens) - before)) -eq 1 ] ||
	fail "after the 401, $(($(tokens) - before)) new tokens were fetched; expected exactly 1"
assert_no_log 'event=error user=carol'
check_cache_file
# and the new token is cached in turn
before=$(tokens)
change dave 'Token-cache-password-4'
[ "$(tokens)" -eq "$before" ] || fail "the token fetched after the 401 was not cached"
log "ok: 401 -> one new token -> retry -> success; new token reused"

# --- a token about to expire is replaced before it is used ----------------
server_control '{"token_ttl": 2}'
server_control '{"expire_tokens": true}'
change user1 'Token-cache-password-5' # fetches a token that lives 2 s
sleep 3
before=$(tokens)
change user2 'Token-cache-password-6'
[ $(($(tokens) - before)) -eq 1 ] || fail "the stale token was not replaced ($(($(tokens) - before)) fetches)"
if events_since "$LAST_MARK" | _grep -qE '^request .*status=401'; then
	fail "a token past its expiry was sent to ISC (401) instead of being replaced first"
fi
log "ok: stale token replaced before use"
check_cache_file

isc_done
