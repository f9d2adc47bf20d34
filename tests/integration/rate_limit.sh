#!/bin/bash
# SPDX-License-Identifier: MIT
# rate_limit: the host's request budget against a server that enforces
# ISC's kind of limit (per access token, a sliding window, 429 with
# Retry-After), here 10 requests in 2 s, with rate_limit = 10/2:
#  1. 40 changes in a row, a process each: all reach ISC, none twice, and
#     fewer than 5 % of the requests are answered 429;
#  2. 12 changes while other processes of the host keep the budget busy,
#     with a short timeout: what the budget cannot serve in time is queued
#     at once (reason rate_limited, nothing sent for it) and the follower
#     delivers the queue as the budget allows, without a manual flush; each
#     user's password arrives once;
#  3. a 429's Retry-After seen by one process holds the others: the next
#     change sends nothing until then, is queued, and is delivered after.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server --rate-limit 10/2
SVC=isc_rate
pam_service "$SVC" "$(isc_line)"

add_users() {
	local prefix=$1 n=$2 base=$3 i u
	for ((i = 1; i <= n; i++)); do
		u=$(printf '%s%02d' "$prefix" "$i")
		printf '%s:x:%d:%d:%s:%s:/bin/sh\n' "$u" $((base + i)) $((base + i)) "$u" "$T/home/$u" >>"$T/passwd"
		printf '%s:x:%d:\n' "$u" $((base + i)) >>"$T/group"
	done
}
add_users row 40 6000
add_users burst 12 6100
add_users hold 2 6200
host_users # the follower, which delivers the queue, looks them up without nss_wrapper

# The API requests the server got since MARK, and those its limiter refused.
api_total() { events_since "$1" | { _grep -cE '^request .*path=[^ ]*(query-password-info|set-password|password-change-status)' || true; }; }
refused() { events_since "$1" | { _grep -cE '^rate_limited ' || true; }; }
# once USER PASSWORD [MARK]: USER's password arrived exactly once since
# MARK, and it was PASSWORD.
sets_of() { events_since "${3:-0}" | { _grep -cE "^set user=$1 ${2:+.*decrypted_sha256=$(sha256_of "$2") }" || true; }; }
once() {
	local all new
	all=$(events_since "${3:-0}" | { _grep -cE "^set user=$1 " || true; })
	new=$(events_since "${3:-0}" | { _grep -cE "^set user=$1 .*decrypted_sha256=$(sha256_of "$2") " || true; })
	[ "$all" -eq 1 ] && [ "$new" -eq 1 ]
}
# share_ok REFUSED TOTAL: REFUSED is under 5 % of TOTAL.
share_ok() { [ $(($1 * 100)) -lt $((5 * $2)) ]; }

# 1. 40 changes in a row.
write_config 'on_error = queue' 'rate_limit = 10/2' 'timeout = 5'
declare -A PW
mark=$(events_mark)
t0=$(date +%s%N)
for ((i = 1; i <= 40; i++)); do
	u=$(printf 'row%02d' "$i")
	PW[$u]="Row-$u-$RANDOM-pw"
	change_ok "$u" "${PW[$u]}"
	! _grep -q 'queued' "$T/pamtester.out" || log "$u: queued"
done
t1=$(date +%s%N)
log "40 changes in a row in $(((t1 - t0) / 1000000)) ms"
# Every one arrives (live, or queued and delivered by the follower).
for ((i = 0; i < 300; i++)); do
	[ -z "$(queue_entries)" ] && [ "$(events_since "$mark" | { _grep -cE '^set user=row' || true; })" -ge 40 ] && break
	sleep 0.1
done
for ((i = 1; i <= 40; i++)); do
	u=$(printf 'row%02d' "$i")
	once "$u" "${PW[$u]}" "$mark" || fail "row: $u arrived $(sets_of "$u" "" "$mark") times"
done
total=$(api_total "$mark")
ref=$(refused "$mark")
share_ok "$ref" "$total" || fail "row: $ref of $total requests were answered 429"
log "ok: 40 in a row: each arrived once; $ref of $total requests answered 429"
wait_no_follower 60 || fail "row: the follower is still running"

# 2. Other processes of the host (pam_isc_ctl check, as an admin's script
# would run it) keep the budget busy while 12 changes are made, with
# timeout = 1: what the budget cannot serve in time is queued at once
# (reason rate_limited, nothing sent for it), and the follower delivers the
# queue as the budget allows once they stop, without a manual flush.
write_config 'on_error = queue' 'rate_limit = 10/2' 'timeout = 1'
mark=$(events_mark)
logmark=$(syslog_mark)
hog_until=$(($(date +%s) + 8))
hog() {
	while [ "$(date +%s)" -lt "$hog_until" ]; do
		env "${_isc_nss_env[@]}" "$PAM_ISC_CTL" --config "$T/pam_isc.conf" check alice \
			>/dev/null 2>&1 || true
	done
}
_isc_nss_env_set
hogs=()
for ((k = 0; k < 3; k++)); do
	hog &
	hogs+=($!)
done
sleep 1
declare -A BPW
nq=0
for ((i = 1; i <= 12; i++)); do
	u=$(printf 'burst%02d' "$i")
	BPW[$u]="Burst-$u-$RANDOM-pw"
	change_ok "$u" "${BPW[$u]}"
	if _grep -q 'queued and will be sent' "$T/pamtester.out"; then
		nq=$((nq + 1))
		# Queued at once for the budget: nothing of it reached ISC.
		if syslog_since "$LOG_MARK" | _grep -q "event=rate_limited user=$u "; then
			[ "$(n_events "^lookup user=$u ")" -eq 0 ] ||
				fail "burst: $u was rate-limited, yet its lookup was sent"
		fi
	fi
done
for p in "${hogs[@]}"; do wait "$p"; done
[ "$nq" -gt 0 ] || fail "burst: no change was queued; the budget was never short (the test proves nothing)"
syslog_since "$logmark" | _grep -q 'event=rate_limited ' ||
	fail "burst: no event=rate_limited line"
log "burst: $nq of 12 changes were queued for the budget"
for ((i = 0; i < 600; i++)); do
	[ -z "$(queue_entries)" ] && [ "$(events_since "$mark" | { _grep -cE '^set user=burst' || true; })" -ge 12 ] && break
	sleep 0.1
done
[ -z "$(queue_entries)" ] || fail "burst: entries still queued after 60 s: $(queue_entries | wc -l)"
for ((i = 1; i <= 12; i++)); do
	u=$(printf 'burst%02d' "$i")
	once "$u" "${BPW[$u]}" "$mark" || fail "burst: $u: $(sets_of "$u" "" "$mark") sets"
done
total=$(api_total "$mark")
ref=$(refused "$mark")
share_ok "$ref" "$total" || fail "burst: $ref of $total requests were answered 429"
syslog_since "$logmark" | _grep -q 'event=queue_delivered ' ||
	fail "burst: the queue was not delivered by the follower"
log "ok: burst: all 12 arrived once, $nq through the queue without a flush; $ref of $total answered 429"
wait_no_follower 60 || fail "burst: the follower is still running"
# The follower's polls gave way to the deliveries, and caught up: every
# change's final state is logged.
for ((i = 1; i <= 12; i++)); do
	u=$(printf 'burst%02d' "$i")
	syslog_since "$logmark" | _grep -qE "event=final user=$u .*state=FINISHED" ||
		fail "burst: no final state logged for $u"
done

# 3. A 429 with Retry-After 4 to one change holds the next one.
write_config 'on_error = queue' 'rate_limit = 10/2' 'timeout = 2'
sleep 2 # an empty window
server_control '{"fail_count": 1, "fail_status": 429, "retry_after": 4, "fail_endpoint": "lookup"}'
mark=$(events_mark)
change_ok hold01 "Hold-first-password-1"
_grep -q 'queued and will be sent' "$T/pamtester.out" ||
	fail "hold: the change that got 429 was not queued as rate-limited: $(oneline <"$T/pamtester.out")"
m2=$(events_mark)
pam_change hold02 "Hold-second-password-2"
[ "$RC" -eq 0 ] || fail "hold: the second change failed"
[ "$(api_total "$m2")" -eq 0 ] || fail "hold: the second change sent $(api_total "$m2") requests during the hold"
_grep -q 'queued and will be sent' "$T/pamtester.out" ||
	fail "hold: the second change was not queued: $(oneline <"$T/pamtester.out")"
syslog_since "$LOG_MARK" | _grep -q 'event=rate_limited user=hold02 ' ||
	fail "hold: no event=rate_limited for the held change"
for ((i = 0; i < 200; i++)); do
	[ -z "$(queue_entries)" ] && [ "$(events_since "$mark" | { _grep -cE '^set user=hold' || true; })" -ge 2 ] && break
	sleep 0.1
done
once hold01 "Hold-first-password-1" "$mark" || fail "hold: hold01 arrived $(sets_of hold01 "" "$mark") times"
once hold02 "Hold-second-password-2" "$mark" || fail "hold: hold02 arrived $(sets_of hold02 "" "$mark") times"
log "ok: a 429's Retry-After held the next change; both were delivered after it"

isc_done
