#!/bin/bash
# SPDX-License-Identifier: MIT
# A set-password whose answer is lost is never sent twice. The test server
# reads the set-password, handles it, and closes the kept-alive connection
# (the one token and lookup came over) without a byte of answer (switch
# drop_count). libcurl, left alone, would take that for a pooled connection
# that died before the request and send the request again on a fresh one
# ("Connection died, retrying a fresh connect"): a second change. The change
# must instead end as unknown_outcome (README, "Retries"): the server saw
# the set-password exactly once, nothing is queued, and the next change
# still keeps to one TLS connection.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_lost
pam_service "$SVC" "$(isc_line)"
# queue: an unreachable ISC would queue the change; an unknown outcome must
# not be.
write_config "on_error = queue"

N=0
# change USER: a change with a new password; RC, EV, MARK (pam_change).
change() {
	N=$((N + 1))
	pam_change "$1" "Lost-answer-password-$N-$1"
}

server_control '{"drop_count": 1, "drop_endpoint": "set"}'
change alice
[ "$(n_events '^dropped .*endpoint=set')" -eq 1 ] ||
	fail "the server did not drop the set-password: $(printf '%s' "$EV" | tr '\n' ';')"
# The case at stake: the set-password went over the connection the lookup
# had used (a pooled, kept-alive one).
lookup_conn=$(printf '%s\n' "$EV" | _grep -E '^request .*query-password-info' | field conn | tail -n 1)
set_conn=$(printf '%s\n' "$EV" | _grep -E '^request .*set-password' | field conn | head -n 1)
[ -n "$lookup_conn" ] && [ "$lookup_conn" = "$set_conn" ] ||
	fail "set-password did not reuse the lookup's connection (lookup conn=$lookup_conn, set conn=$set_conn)"
n_set=$(n_events '^request .*set-password')
[ "$n_set" -eq 1 ] || fail "set-password reached the server $n_set times, expected once"
wait_for_log 'event=unknown_outcome user=alice step=set' 5 || fail "no unknown_outcome line"
assert_no_log 'event=queued user=alice '
assert_no_log 'event=accepted user=alice '
[ "$RC" -eq 0 ] || fail "on_error = queue: pamtester exited $RC (the local change stands)"
log "ok: answer lost on a reused connection: set-password sent once, unknown_outcome, not queued"

# Nothing stays broken: the next change is accepted, token, lookup and
# set-password over one connection.
change bob
[ "$RC" -eq 0 ] || fail "the next change failed (pamtester exit $RC)"
[ "$(n_events '^set user=bob ')" -eq 1 ] || fail "the next change was not accepted once"
assert_one_conn "$MARK" "the next change"
log "ok: the next change: accepted, one connection"

isc_done
