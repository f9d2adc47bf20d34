#!/bin/bash
# SPDX-License-Identifier: MIT
# A burst: 50 password changes at once, for 50 different users, while ISC is
# down (on_error = queue), twice (a second round of 50 with new passwords),
# then ISC back: every user's newest password arrives exactly once and no
# older one ever does, whoever delivers it (pam_isc_ctl flush, or the
# follower that the queued changes started, which drains the queue as soon
# as it sees the configuration change; both take the queue's flush lock).
#
# The 50 pamtesters really run concurrently (pamtester_private in lib.sh).
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_burst
N_USERS=50
pam_service "$SVC" "$(isc_line)"

USERS=()
for ((i = 1; i <= N_USERS; i++)); do
	u=$(printf 'burst%02d' "$i")
	USERS+=("$u")
	printf '%s:x:%d:%d:%s:%s:/bin/sh\n' "$u" $((5000 + i)) $((5000 + i)) "$u" "$T/home/$u" >>"$T/passwd"
	printf '%s:x:%d:\n' "$u" $((5000 + i)) >>"$T/group"
done

# The follower looks the users up without nss_wrapper.
host_users

pw_of() { printf 'Burst-round-%s-password-%s' "$1" "$2"; }

burst_one() { pamtester_private "$1" "$2" "$T/burst/$1.out"; }

# round R: all users at once; every change must succeed and be queued.
round() {
	local r=$1 u pids=() rc failed=0 i=0
	mkdir -p "$T/burst"
	for u in "${USERS[@]}"; do
		register_secret "$(pw_of "$r" "$u")"
		burst_one "$u" "$(pw_of "$r" "$u")" &
		pids+=($!)
	done
	for u in "${USERS[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		i=$((i + 1))
		cat "$T/burst/$u.out" >>"$T/pamtester.all"
		if [ "$rc" -ne 0 ]; then
			log "round $r: $u: pamtester exited $rc"
			failed=1
		elif ! _grep -q 'will be sent when it is back' "$T/burst/$u.out"; then
			log "round $r: $u: not queued: $(_isc_redact <"$T/burst/$u.out" | tail -n 2)"
			failed=1
		fi
	done
	[ "$failed" -eq 0 ] || fail "round $r: not every change was queued"
}

# rate_limit = 0: the one flush of 50 entries is 100 requests, the whole of
# the default budget's window, which the follower of the first change may
# share (the budget is rate_limit.sh's subject, the order this test's).
# timeout = 10: ISC "down" is a closed port (refused at once), so the
# timeout only bounds how long the module waits for its helper; 50 helpers
# starting at once on a loaded machine (the sanitizer stage of CI) need
# more than a couple of seconds.
# Cache the source's key with one change while ISC is up.
write_config 'on_error = queue' 'timeout = 10' 'rate_limit = 0'
register_secret 'Burst-key-cache-password'
run_pamtester burst01 "$SVC" 'Burst-key-cache-password' || fail "key caching change failed"

write_config 'on_error = queue' 'timeout = 10' 'rate_limit = 0' "api_url = $ISC_DOWN_URL"
t0=$(date +%s)
round 1
round 2
log "ok: 2 x $N_USERS concurrent changes queued in $(($(date +%s) - t0)) s"

n=$(queue_entries | wc -l)
[ "$n" -eq "$N_USERS" ] || fail "expected $N_USERS queue entries, got $n"
[ "$(count_log 'event=queued user=burst')" -eq $((2 * N_USERS)) ] ||
	fail "expected $((2 * N_USERS)) queued lines, got $(count_log 'event=queued user=burst')"

# ISC back: the flush and the follower deliver everything between them.
mark=$(events_mark)
write_config 'on_error = queue' 'timeout = 10' 'rate_limit = 0'
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush exited $CTL_RC: $(cat "$T/ctl.out")"
for ((i = 0; i < 600; i++)); do
	[ -z "$(queue_entries)" ] && break
	sleep 0.1
done
[ -z "$(queue_entries)" ] || fail "entries left a minute after ISC came back: $(queue_entries | wc -l)"
ev=$(events_since "$mark")
for u in "${USERS[@]}"; do
	new=$(printf '%s\n' "$ev" | _grep -cE "^set user=$u .*decrypted_sha256=$(sha256_of "$(pw_of 2 "$u")") " || true)
	old=$(printf '%s\n' "$ev" | _grep -cE "^set user=$u .*decrypted_sha256=$(sha256_of "$(pw_of 1 "$u")") " || true)
	all=$(printf '%s\n' "$ev" | _grep -cE "^set user=$u " || true)
	[ "$new" -eq 1 ] && [ "$old" -eq 0 ] && [ "$all" -eq 1 ] ||
		fail "$u: newest arrived $new time(s), older $old, sets $all"
done
[ "$(count_log 'event=queue_dropped')" -eq 0 ] || fail "entries were dropped: $(_grep 'event=queue_dropped' "$T/syslog.log" | head -n 3)"
log "ok: each user's newest password arrived exactly once"

isc_done
