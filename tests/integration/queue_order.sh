#!/bin/bash
# SPDX-License-Identifier: MIT
# The offline queue never delivers an older password after a newer one:
# - a live change's update phase supersedes the user's queued entry
#   whatever the outcome (500: unknown, 400: refused, or refused already in
#   the preliminary phase), so the next flush has nothing older to send;
# - a flush waiting on a 429's Retry-After to resend an older entry and a
#   live change of the same user meanwhile: the older one is never sent
#   after the newer one (the change waits for the delivery, or, when that
#   outlasts its timeout, is queued after it);
# - an entry bound to another identity, account or local uid than the one
#   ISC / the name service answers at flush time is dropped, not sent (a
#   recycled login never receives someone else's queued password).
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_queue
pam_service "$SVC" "$(isc_line)"

up() { write_config 'on_error = queue' 'timeout = 20' "$@"; }
down() { write_config 'on_error = queue' 'timeout = 3' "api_url = $ISC_DOWN_URL" "$@"; }

# queued USER PASSWORD: with ISC down, USER's change to PASSWORD is queued.
queued() {
	down
	change_ok "$1" "$2"
	[ -f "$(queue_entry_of "$1")" ] || fail "$1's change was not queued"
}

# flush_held_by_429 RETRY_AFTER: a flush starts in the background and its
# set-password gets a 429 with Retry-After RETRY_AFTER s: it is now waiting
# to send the queued entry again (ctl_wait ends it).
flush_held_by_429() {
	local mark
	server_control "{\"fail_count\": 1, \"fail_endpoint\": \"set\", \"fail_status\": 429, \"retry_after\": $1}"
	mark=$(events_mark)
	ctl_start flush
	wait_for_event '^injected endpoint=set .*status=429' 10 "$mark" ||
		fail "the flush's set-password did not get the 429"
}

# flush_drops USER PASSWORD REASON: USER's queued entry is dropped
# by a flush, once, for REASON, and PASSWORD never reaches ISC.
flush_drops() {
	local user=$1 pw=$2 reason=$3 f
	f=$(queue_entry_of "$user")
	ctl flush
	[ "$(count_sets "$user" "$pw")" -eq 0 ] || fail "$user's entry was sent ($reason)"
	[ ! -e "$f" ] || fail "$user's entry was kept ($reason)"
	wait_for_log "event=queue_dropped user=$user reason=$reason" 5 || fail "no $reason line"
	[ "$(count_log "event=queue_dropped user=$user reason=$reason")" -eq 1 ] ||
		fail "not one $reason line"
}

# last_set_is USER PASSWORD: the last password ISC accepted for USER is PASSWORD.
last_set_is() {
	local last
	last=$(_grep -E "^set user=$1 " "$T/server/events.log" | tail -n 1 | field decrypted_sha256)
	[ "$last" = "$(sha256_of "$2")" ]
}

# The key is cached by a change while ISC is up.
up
change_ok alice 'Alice-first-password-1'

# --- 1a. queued OLD; the newest change gets 500 (outcome unknown): OLD must
# not follow it.
for status in 500 400; do
	queued alice "Alice-queued-old-$status"
	up
	server_control "{\"fail_count\": 1, \"fail_endpoint\": \"set\", \"fail_status\": $status, \"retry_after\": -1}"
	pam_change alice "Alice-newest-$status"
	[ "$(count_events "^injected endpoint=set .*status=$status")" -ge 1 ] ||
		fail "the newest change's set-password did not get the injected $status"
	ctl flush
	[ "$(count_sets alice "Alice-queued-old-$status")" -eq 0 ] ||
		fail "after a $status to the newest change, the older queued password reached ISC"
	[ ! -e "$(queue_entry_of alice)" ] || fail "the older entry survived a newer attempt ($status)"
	wait_for_log 'event=queue_superseded user=alice' 5 || fail "no queue_superseded line"
	log "ok: a newer change answered $status supersedes the queued entry"
done

# --- 1b. queued OLD; ISC refuses the newest change already in the
# preliminary phase (its lookup answered 400): nothing is sent, and OLD must
# not be sent later either.
queued alice "Alice-queued-old-prelim"
up
server_control '{"fail_count": 1, "fail_endpoint": "lookup", "fail_status": 400, "retry_after": -1}'
pam_change alice "Alice-newest-prelim"
[ "$(count_events '^injected endpoint=lookup .*status=400')" -ge 1 ] ||
	fail "the newest change's lookup did not get the injected 400"
[ ! -e "$(queue_entry_of alice)" ] || fail "the older entry survived a newer change refused in the preliminary phase"
ctl flush
[ "$(count_sets alice "Alice-queued-old-prelim")" -eq 0 ] ||
	fail "after a newer change refused in the preliminary phase, the older queued password reached ISC"
log "ok: a newer change refused in the preliminary phase supersedes the queued entry"

# --- 2. a flush waits on a 429's Retry-After to resend OLD; a live change
# NEWEST comes meanwhile: OLD must not be delivered after NEWEST.
queued bob 'Bob-queued-old-2'
up
flush_held_by_429 3
change_ok bob 'Bob-newest-3'
ctl_wait
[ "$(count_sets bob 'Bob-newest-3')" -eq 1 ] || fail "bob's newest password did not reach ISC once"
last_set_is bob 'Bob-newest-3' || fail "bob's older queued password was delivered after the newer one"
[ ! -e "$(queue_entry_of bob)" ] && [ ! -e "$(queue_entry_of bob).inflight" ] || fail "bob's entry is left"
log "ok: a flush retrying after a 429 never sends the older password after a newer change"

# --- 2b. the same, but the delivery outlasts the live change's timeout: the
# live change is not sent (event=error reason=delivery_running) but queued,
# newer than the entry in delivery, and the next flush sends it last.
queued bob 'Bob-queued-old-4'
up 'timeout = 20'
flush_held_by_429 6
write_config 'on_error = queue' 'timeout = 3'
change_ok bob 'Bob-newest-5'
wait_for_log 'event=error user=bob step=queue reason=delivery_running' 5 ||
	fail "no delivery_running line"
ctl_wait
[ "$(count_sets bob 'Bob-newest-5')" -eq 0 ] || fail "bob's newest password was sent during the delivery"
[ -f "$(queue_entry_of bob)" ] || fail "bob's newest change was not queued"
up
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush: exit $CTL_RC"
last_set_is bob 'Bob-newest-5' || fail "bob's newest password is not the last ISC got"
log "ok: a change that cannot wait for a running delivery is queued after it"

# --- 3. the entry is bound to the identity, the account and the local uid it
# was encrypted for: when that changed, it is dropped with one line each.
bind_case() {
	local user=$1 key=$2 value=$3 reason=$4 f
	queued "$user" "$user-queued-$reason"
	f=$(queue_entry_of "$user")
	_grep -q "^$key=" "$f" || fail "$user's entry has no $key= line"
	sed -i "s|^$key=.*|$key=$value|" "$f"
	up
	flush_drops "$user" "$user-queued-$reason" "$reason"
}
# (the identity and the account are known to the entry when the lookup
# succeeded and set-password was unreachable)
bind_lookup_case() {
	local user=$1 key=$2 value=$3 reason=$4 f
	up
	server_control '{"fail_count": 1, "fail_endpoint": "set", "fail_status": 429, "retry_after": 60}'
	change_ok "$user" "$user-queued-$reason"
	f=$(queue_entry_of "$user")
	[ -f "$f" ] || fail "$user's change was not queued after a 429"
	_grep -qE "^$key=[^-]" "$f" || fail "$user's entry has no $key"
	sed -i "s|^$key=.*|$key=$value|" "$f"
	rm -f "$T/run/rate" # the 429's 60 s hold of the host (rate_budget.h)
	flush_drops "$user" "$user-queued-$reason" "$reason"
}
bind_case carol uid 4242 uid_changed
bind_lookup_case dave identity 0123456789abcdef0123456789abcdef identity_changed
bind_lookup_case user1 account 'uid=someone-else,ou=people,dc=example,dc=com' account_changed
log "ok: identity, account or uid changed since queueing: dropped, logged"

# ... and an entry whose bindings still hold is delivered.
up
server_control '{"fail_count": 1, "fail_endpoint": "set", "fail_status": 429, "retry_after": 60}'
change_ok user2 'User2-queued-ok'
[ -f "$(queue_entry_of user2)" ] || fail "user2's change was not queued after a 429"
rm -f "$T/run/rate" # the 429's 60 s hold of the host (rate_budget.h)
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush: exit $CTL_RC"
[ "$(count_sets user2 'User2-queued-ok')" -eq 1 ] || fail "user2's queued password was not delivered"
log "ok: an entry whose identity, account and uid hold is delivered"

isc_done
