#!/bin/bash
# SPDX-License-Identifier: MIT
# Bounded time and retries: whatever ISC does, passwd returns within
# timeout + 1 s per phase, follows on_error, and logs what happened.
#   black hole (TCP accepted, never answered), slow (byte by byte), closed
#   port; 429 with Retry-After (fits / does not fit); 500 then success;
#   set-password 500 (not repeated) and 503 (repeated); token expired.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
TIMEOUT=2
LIMIT_MS=$(((TIMEOUT + 1) * 1000))
SVC=isc_bounded
pam_service "$SVC" "$(isc_line)"

conf() { write_config "timeout = $TIMEOUT" "$@"; }

N=0
# change USER [EXPECT_RC: ok|fail]: a change with a new password; RC, MS
# (pamtester's own time), EV (pam_change).
change() {
	local user=$1 want=${2:-ok}
	N=$((N + 1))
	pam_change "$user" "Bounded-password-$N-$user"
	if [ "$want" = ok ] && [ "$RC" -ne 0 ]; then
		fail "$user: pamtester exited $RC, expected success"
	fi
	if [ "$want" = fail ] && [ "$RC" -eq 0 ]; then
		fail "$user: pamtester succeeded, expected a refusal"
	fi
}
# within PHASES WHAT: MS <= PHASES * (timeout + 1 s)
within() {
	[ "$MS" -le $(($1 * LIMIT_MS)) ] || fail "$2: took $MS ms, more than $1 x (timeout + 1 s)"
}

# Cache the key first (a successful change), so queue can work below.
conf
change alice
log "ok: baseline change in $MS ms"

# --- black hole: connections accepted, never answered. on_error = fail:
# the preliminary phase gives up after timeout, nothing changes.
conf "api_url = $ISC_BLACKHOLE_URL" 'on_error = fail'
change alice fail
within 1 "black hole"
wait_for_log 'event=error user=alice step=token kind=timeout' 5 || fail "black hole: no timeout logged"
wait_for_log 'event=refused user=alice phase=prelim reason=unreachable' 5 || fail "black hole: no refusal logged"
log "ok: black hole, on_error=fail: refused in $MS ms"

# on_error = queue: each phase bounded (prelim times out, update queues at once).
conf "api_url = $ISC_BLACKHOLE_URL" 'on_error = queue'
change alice ok
within 1 "black hole, queue"
wait_for_log 'event=queued user=alice ' 5 || fail "black hole: not queued"
log "ok: black hole, on_error=queue: queued in $MS ms"

# --- slow: every body trickles out a byte every 300 ms.
conf 'on_error = fail'
# The token request itself must be slow too: no cached token, and no
# follower left (the baseline change's, re-reading the edited config) that
# could fetch and cache a new one before the server turns slow.
wait_no_follower 30 || fail "the baseline change's follower did not exit"
rm -f "$T/run/token"
server_control '{"slow_ms": 300}'
change bob fail
within 1 "slow server"
wait_for_log 'event=error user=bob step=token kind=timeout' 5 || fail "slow: no timeout logged"
server_control '{"slow_ms": 0}'
log "ok: slow server, on_error=fail: refused in $MS ms"

# --- closed port: refused at once, retried with backoff, then on_error.
# (No follower may be running: it would read the new configuration too and
# log retries of its own against the closed port.)
wait_no_follower 30 || fail "the follower of the earlier changes did not finish"
conf "api_url = $ISC_DOWN_URL" 'on_error = ignore'
change carol ok
within 1 "closed port"
wait_for_log 'event=retry path=/oauth/token attempt=1 kind=transport' 5 || fail "closed port: no retry logged"
wait_for_log 'event=local_only user=carol reason=unreachable policy=ignore' 5 || fail "closed port: no local_only"
[ "$(count_log 'event=retry path=/oauth/token .*port '"$(tr -d '[:space:]' <"$T/server/closed_port")")" -le 3 ] ||
	fail "closed port: more than ISC_CLIENT_MAX_ATTEMPTS tries"
log "ok: closed port, on_error=ignore: $MS ms"

# --- 429 with a Retry-After that fits: waited, then success.
conf
server_control '{"fail_count": 1, "fail_status": 429, "retry_after": 1, "fail_endpoint": "lookup"}'
change dave ok
[ "$MS" -ge 1000 ] || fail "429 Retry-After 1: did not wait ($MS ms)"
within 1 "429 Retry-After 1"
[ "$(n_events '^injected endpoint=lookup retry_after=1 status=429')" -eq 1 ] || fail "429 not injected"
[ "$(n_events '^set user=dave ')" -eq 1 ] || fail "429: the change did not go through"
wait_for_log 'event=retry path=/v3/query-password-info attempt=1 http=429 wait_ms=1000' 5 ||
	fail "429: no retry line with the Retry-After wait"
log "ok: 429 Retry-After 1: waited, accepted in $MS ms"

# --- 429 with a Retry-After beyond timeout: no wait, on_error (queue).
conf 'on_error = queue'
server_control '{"fail_count": 1, "fail_status": 429, "retry_after": 30, "fail_endpoint": "lookup"}'
change dave ok
within 1 "429 Retry-After 30"
[ "$(n_events '^request .*query-password-info')" -eq 1 ] || fail "429 beyond timeout: retried anyway"
wait_for_log 'event=queued user=dave ' 5 || fail "429 beyond timeout: not queued"
log "ok: 429 Retry-After 30: queued at once ($MS ms)"
# That 429 holds every process of the host for 30 s (rate_budget.h, tested
# in rate_limit.sh): start the next cases with a fresh budget.
rm -f "$T/run/rate"

# --- 500 twice, then success: the lookup is retried with backoff.
conf 'on_error = fail'
server_control '{"fail_count": 2, "fail_status": 500, "retry_after": -1, "fail_endpoint": "lookup"}'
change user1 ok
within 1 "500 then success"
[ "$(n_events '^injected endpoint=lookup retry_after=-1 status=500')" -eq 2 ] || fail "500: not injected twice"
[ "$(n_events '^lookup user=user1 .*status=200')" -eq 1 ] || fail "500: no successful lookup"
[ "$(n_events '^set user=user1 ')" -eq 1 ] || fail "500: not set"
assert_log 'event=retry path=/v3/query-password-info attempt=2 http=500'
log "ok: 500, 500, then success in $MS ms"

# --- set-password 500: it may have reached ISC: not repeated, not queued.
conf 'on_error = queue'
server_control '{"fail_count": 1, "fail_status": 500, "fail_endpoint": "set"}'
change user2 ok
[ "$(n_events '^request .*set-password')" -eq 1 ] || fail "set 500: set-password was repeated"
wait_for_log 'event=unknown_outcome user=user2 step=set' 5 || fail "set 500: no unknown_outcome line"
assert_no_log 'event=queued user=user2 '
log "ok: set-password 500: sent once, not queued"

# --- set-password 503: certainly not taken: repeated, accepted.
conf 'on_error = fail'
server_control '{"fail_count": 1, "fail_status": 503, "fail_endpoint": "set"}'
change user3 ok
[ "$(n_events '^request .*set-password')" -eq 2 ] || fail "set 503: not repeated once"
[ "$(n_events '^set user=user3 ')" -eq 1 ] || fail "set 503: not accepted"
log "ok: set-password 503: repeated, accepted"

# --- token expired between calls: 401, one new token, the call again.
# No follower may run meanwhile: it shares the token cache, and its own 401
# and refetch would be counted with the change's.
conf 'on_error = fail'
wait_no_follower 30 || fail "the follower of the earlier changes did not finish"
server_control '{"set_state": "FINISHED"}'
change user4 ok
server_control '{"expire_tokens": true}'
change user4 ok
[ "$(n_events '^auth_error reason="expired token"')" -ge 1 ] || fail "expired token: no 401"
[ "$(n_events '^token client_id=')" -eq 1 ] || fail "expired token: not exactly one new token"
[ "$(n_events '^set user=user4 ')" -eq 1 ] || fail "expired token: not set"
log "ok: token expired between calls: one refetch"

# --- the background follow-up obeys Retry-After: a 429 on a status poll
# (Retry-After 5, longer than the client may wait in one go) holds the next
# poll for 5 s, where it would otherwise come after about 2 s.
conf 'on_error = fail'
server_control '{"set_state": "IN_PROGRESS"}'
wait_no_follower 30 || fail "the follower of the earlier changes did not finish"
server_control '{"fail_count": 1, "fail_status": 429, "retry_after": 5, "fail_endpoint": "status"}'
polls_before=$(count_log 'event=http path=/v3/password-change-status/[0-9a-f]+ status=200')
change user5 ok
wait_for_log 'event=status_error user=user5 ' 10 || fail "follower: no status_error for the 429"
t1=$(date +%s%N)
wait_for_log 'event=http path=/v3/password-change-status/[0-9a-f]+ status=200' 15 $((polls_before + 1)) ||
	fail "follower: no poll after the 429"
gap=$((($(date +%s%N) - t1) / 1000000))
[ "$gap" -ge 4000 ] || fail "follower polled again after $gap ms, Retry-After said 5 s"
wait_for_log 'event=final user=user5 .*state=FINISHED' 20 || fail "follower: user5 never finished"
log "ok: follower waited $gap ms after a 429 with Retry-After 5"

isc_done
