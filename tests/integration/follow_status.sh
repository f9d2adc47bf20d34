#!/bin/bash
# SPDX-License-Identifier: MIT
# After ISC accepted a change (IN_PROGRESS), one background follower polls
# password-change-status and logs the final state; a change that comes back
# FINISHED or FAILED at once is not followed at all.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
# A FAILED answer must fail the change (on_error = fail; the default lets
# the local change stand).
write_config 'on_error = fail'
SVC=isc_follow
pam_service "$SVC" "$(isc_line)"

# change USER PASSWORD: pamtester's exit status in RC, the request id of the
# server's set event in REQ.
change() {
	pam_change "$1" "$2"
	REQ=$(request_of "$1")
}

# --- 1. IN_PROGRESS, two more IN_PROGRESS polls, then FAILED ------------------
server_control '{"polls_to_final": 2, "final_state": "FAILED", "failed_error": "The password change payload is invalid"}'
change alice 'Follow-password-1'
[ "$RC" -eq 0 ] || fail "alice: pamtester exited $RC; an IN_PROGRESS change is accepted"
[ -n "$REQ" ] || fail "alice: no request id in the server's set event"
wait_for_log "pam_isc\[[0-9]+\]: event=accepted user=alice request=$REQ state=IN_PROGRESS" 5 ||
	fail "alice: no accepted line"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=alice request=$REQ state=FAILED error=\"The password change payload is invalid\"" 15 ||
	fail "alice: no final FAILED line with ISC's error text within 15 s"
wait_no_follower 10 || fail "the follower did not exit after its only change was final"
polls=$(count_events "^status request=$REQ ")
[ "$polls" -eq 3 ] || fail "alice: $polls status polls, expected 3 (2 x IN_PROGRESS, then FAILED)"
# polled through the v3 path, with the id
[ "$(count_events "^request .*method=GET path=/v3/password-change-status/$REQ status=200")" -eq 3 ] ||
	fail "the status polls did not go to /v3/password-change-status/$REQ"
log "ok: IN_PROGRESS -> FAILED after 3 polls"

# --- 2. FINISHED at once: final line from the helper, no poll -------------
server_control '{"set_state": "FINISHED", "polls_to_final": 1, "final_state": "FINISHED"}'
change bob 'Follow-password-2'
[ "$RC" -eq 0 ] || fail "bob: pamtester exited $RC for a FINISHED change"
wait_for_log "pam_isc\[[0-9]+\]: event=(final|accepted) user=bob .*state=FINISHED" 5 ||
	fail "bob: no line saying FINISHED"
sleep 2.5 # a follower would have polled after status_interval (1 s)
[ -z "$REQ" ] || [ "$(count_events "^status request=$REQ ")" -eq 0 ] ||
	fail "bob: a FINISHED change was polled"
[ "$(count_events '^status ')" -eq 3 ] || fail "status polls other than alice's happened"
assert_no_log 'event=accepted user=bob .*state=IN_PROGRESS'
log "ok: FINISHED at once, not polled"

# --- 3. FAILED at once without a request id: the change fails -------------
server_control '{"set_state": "FAILED", "null_request_id": true}'
change carol 'Follow-password-3'
[ "$RC" -ne 0 ] || fail "carol: pamtester succeeded although ISC answered FAILED"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=carol .*state=FAILED" 5 ||
	fail "carol: no FAILED line"
assert_no_log 'event=accepted user=carol'
log "ok: FAILED at once -> change refused (pamtester exit $RC)"

# --- 4. five changes in a row: one follower at a time, all followed --------
server_control '{"set_state": "IN_PROGRESS", "null_request_id": false, "polls_to_final": 1, "final_state": "FINISHED"}'
wait_no_follower 10 || fail "a follower is still running before the burst"
(
	set +e
	while :; do
		follower_count
		sleep 0.05
	done
) >"$T/follower_samples" 2>/dev/null &
sampler=$!
_isc_pids+=("$sampler")
declare -A reqs=()
for i in 1 2 3 4 5; do
	change "user$i" "Burst-password-$i"
	[ "$RC" -eq 0 ] || fail "user$i: pamtester exited $RC"
	[ -n "$REQ" ] || fail "user$i: no request id"
	reqs[user$i]=$REQ
done
for i in 1 2 3 4 5; do
	wait_for_log "pam_isc\[[0-9]+\]: event=final user=user$i request=${reqs[user$i]} state=FINISHED" 30 ||
		fail "user$i: no final line"
done
wait_no_follower 10 || fail "a follower is still running after every change is final"
sleep 0.2
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
max=$(sort -n "$T/follower_samples" | tail -n 1)
seen=$(_grep -c '^[1-9]' "$T/follower_samples" || true)
[ "$seen" -gt 0 ] || fail "no follower process was ever seen (sampling broken?)"
[ "$max" -le 1 ] || fail "$max followers ran at the same time"
if [ -d "$T/run/pending" ] && [ -n "$(ls -A "$T/run/pending")" ]; then
	fail "pending entries left after every change is final: $(ls -A "$T/run/pending")"
fi
log "ok: 5 changes followed by one follower at a time ($seen samples with one running)"

# --- the configuration edited while a change is followed: the follower
# reads it anew (a follower can run for hours) and goes on with the change.
server_control '{"polls_to_final": 3, "final_state": "FINISHED"}'
change dave 'Reload-password-1'
[ "$RC" -eq 0 ] || fail "dave: pamtester exited $RC"
wait_for_log "event=http path=/v3/password-change-status/$REQ status=200" 10 ||
	fail "dave: the follower never polled"
write_config 'on_error = fail' 'status_interval = 2'
wait_for_log 'pam_isc\[[0-9]+\]: event=follower_reload file=' 10 ||
	fail "the follower did not notice the edited configuration"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=dave request=$REQ state=FINISHED" 30 ||
	fail "dave: no final line after the reload"
log "ok: an edited configuration is read anew by the running follower"

assert_no_log 'event=(error|follower_error|status_error)'
assert_authpriv 'pam_isc\[[0-9]+\]: event=final'

isc_done
