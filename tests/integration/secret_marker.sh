#!/bin/bash
# SPDX-License-Identifier: MIT
# The password never shows up anywhere but on the wire, encrypted. A change
# with `debug` on, of a password that carries a unique marker; the server
# holds its answers (delay_ms) so that the running helper and follower can be
# looked at. The marker must be in no captured log line, no file under the
# test directory (token cache, queue, server files, outputs), and not in the
# command line or environment of the helper, the follower or pamtester.
# Neither the access token nor the client secret is in any log or output.
#
# A helper started by hand as from setuid passwd (real uid 1001, effective
# uid 0), held the same way, shows the process hardening: fully
# root (real, effective, saved: 0, so the invoking user can neither signal
# nor trace it), no core files (RLIMIT_CORE 0), not dumpable.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
write_config
SVC=isc_marker
pam_service "$SVC" "$(isc_line)"

marker="MQZ$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')ZQM"
pw="Marker-${marker}-pw"
register_secret "$pw"
register_secret "$marker"

monotonic_ms() { /usr/bin/python3 -c 'import time; print(int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000))'; }

# proc_has_marker PID: true when the marker is in PID's cmdline or environ.
proc_has_marker() {
	local f
	for f in cmdline environ; do
		if [ -r "/proc/$1/$f" ] && tr '\0' '\n' <"/proc/$1/$f" 2>/dev/null |
			_grep -qF -- "$marker"; then
			log "FAIL: the marker is in /proc/$1/$f"
			return 0
		fi
	done
	return 1
}

# Not dumpable, seen from outside: a root process without CAP_SYS_PTRACE
# (and otherwise the same capabilities) may open /proc/PID/mem (a ptrace
# attach check) of a dumpable root process with those capabilities, but not
# of an undumpable one. So the process looked at and the reader both run
# without it.
NOPTRACE=(setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace --)
readable_without_ptrace() {
	"${NOPTRACE[@]}" sh -c 'exec 3<"$1"' _ "/proc/$1/mem" 2>/dev/null
}
"${NOPTRACE[@]}" true 2>/dev/null || skip "setpriv cannot drop CAP_SYS_PTRACE here"
"${NOPTRACE[@]}" sleep 30 &
control_pid=$!
_isc_pids+=("$control_pid")
sleep 0.2
readable_without_ptrace "$control_pid" ||
	hard_error "self-check: a root process without CAP_SYS_PTRACE cannot open a dumpable one's /proc/PID/mem"

# --- 1. a change through PAM, held by the server ---------------------------------
server_control '{"delay_ms": 2500}'
change_start alice "$pw"
hpid=$(helper_pid 10) || fail "no running pam_isc_helper seen"
sleep 0.3
proc_has_marker "$hpid" && fail "the marker is in the helper's command line or environment"
for p in $(pgrep -f -- "$(basename "$PAMTESTER") -v $SVC" 2>/dev/null || true); do
	proc_has_marker "$p" && fail "the marker is in pamtester's command line or environment"
done
kill -0 "$hpid" 2>/dev/null || fail "the helper ended before it could be looked at (delay_ms)"
log "ok: running helper $hpid: marker not in its or pamtester's cmdline/environ"

change_wait
[ "$RC" -eq 0 ] || fail "the change failed (pamtester exit $RC)"
got_password alice "$pw" || fail "the server did not get the password"
# The follower polls (held too): look at it while it runs.
fpid=$(wait_for_pid "pam_isc_helper follow --config $(re_escape "$T")/" 10) ||
	fail "no follower seen"
proc_has_marker "$fpid" && fail "the marker is in the follower's command line or environment"
server_control '{"delay_ms": 0}'
wait_for_log 'event=final user=alice .*state=FINISHED' 20 || fail "no final line for the change"
wait_no_follower 10 || fail "the follower did not exit"

# --- 2. the helper started as from setuid passwd: real uid 1001, effective 0 ----------
pw2="Marker-${marker}-two"
register_secret "$pw2"
server_control '{"delay_ms": 2500}'
{
	printf 'PAM_ISC/2\nconfig=%s\nuser=bob\nservice=passwd\ndebug=1\nphase=update\ncaller=1001\ndeadline=%s\nauthtok=%s\n' \
		"$ISC_CONF" "$(($(monotonic_ms) + 10000))" "$(byte_len "$pw2")"
	printf '%s' "$pw2"
} | setpriv --ruid 1001 --rgid 1001 --clear-groups --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace -- \
	"$PAM_ISC_HELPER" chauthtok >"$T/direct.out" 2>&1 &
direct_job=$!
hpid=$(helper_pid 10) || fail "the directly started helper was not seen"
sleep 0.3
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$hpid/status")
gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$hpid/status")
[ "$uids" = "0 0 0 0" ] || fail "started with real uid 1001, the helper kept uids $uids"
[ "$gids" = "0 0 0 0" ] || fail "started with real gid 1001, the helper kept gids $gids"
if setpriv --reuid 1001 --regid 1001 --clear-groups -- kill -0 "$hpid" 2>/dev/null; then
	fail "the invoking user (uid 1001) can signal the helper"
fi
proc_has_marker "$hpid" && fail "the marker is in the helper's command line or environment"
core=$(awk '/^Max core file size/ { print $5 " " $6 }' "/proc/$hpid/limits")
[ "$core" = "0 0" ] || fail "the helper may write core files (RLIMIT_CORE: $core)"
if readable_without_ptrace "$hpid"; then
	fail "the helper is dumpable: a root process without CAP_SYS_PTRACE opened its /proc/PID/mem"
fi
log "ok: the helper allows no core files and is not dumpable"
log "ok: started with real uid 1001, the helper runs as uid/gid 0 0 0 0 and uid 1001 cannot signal it"
server_control '{"delay_ms": 0}'
wait "$direct_job" || true
_grep -q '^OK state=IN_PROGRESS ' "$T/direct.out" ||
	fail "the directly started helper did not accept the change: $(head -c 200 "$T/direct.out")"
# Started by an ordinary user: it starts no follower (nothing long-lived in
# that user's context); the flush timer's pam_isc_ctl flush does.
sleep 0.3
[ "$(follower_count)" -eq 0 ] || fail "a helper started by uid 1001 started a follower"
[ -n "$(ls -A "$T/run/pending")" ] || fail "the accepted change of bob is not recorded for the follow-up"
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "pam_isc_ctl flush: exit $CTL_RC: $(oneline <"$T/ctl.out")"
wait_for_log 'event=final user=bob .*state=FINISHED' 20 || fail "no final line for bob"
wait_no_follower 10 || fail "the follower did not exit"

# --- 3. neither the token nor the client secret is in any output ------------------------
# (check_no_secret_leaks, at the end, searches every captured output for
# every registered secret.)
token=$(LC_ALL=C sed -n 's/^token=//p' "$T/run/token" 2>/dev/null | head -n 1)
[ "${#token}" -ge 16 ] || fail "self-check: no token in the token cache $T/run/token"
register_secret "$token"
register_secret "test-secret"
_grep -qF -- "$token" "$SYSLOG" && fail "the access token is in a log line"
_grep -qF -- "test-secret" "$SYSLOG" && fail "the client secret is in a log line"
log "ok: neither the access token nor the client secret is in a log line"

# --- 4. the marker is in no file under the test directory ---------------------------
hits=$(grep -rlaF -- "$marker" "$T" 2>/dev/null || true)
[ -z "$hits" ] || fail "the marker is in: $(printf '%s' "$hits" | tr '\n' ' ')"
[ -n "$(ls -A "$T/run")" ] || fail "self-check: the runtime dir (token cache, queue) is empty"
log "ok: the marker is in no file under $T ($(find "$T" -type f | wc -l) files, token cache and queue included)"
[ "$(count_log 'event=')" -gt 5 ] || fail "self-check: too few log lines were captured"

isc_done
