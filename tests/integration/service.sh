#!/bin/bash
# SPDX-License-Identifier: MIT
# service: the per-host service (pam_isc_helper serve) serves the changes of
# the host over RUNTIME_DIR/service.sock, with its TLS connection kept open,
# and never runs in the context of whoever happened to start it:
#  - off with helper_linger = 0: a one-shot helper per change, nothing left;
#  - started by a root caller with hostile limits, nice value, CPU affinity,
#    scheduling policy, oom_score_adj and groups, the service runs with PID
#    1's; the next changes use it over one TLS connection;
#  - a caller in another network namespace neither uses it nor starts one;
#  - only root reaches the socket; a module with another helper program
#    does not use it;
#  - a caller holds at most 4 preliminary phases; more are answered "busy";
#  - work whose module stopped waiting is abandoned, not sent;
#  - a verdict the module is no longer there to read does not lose the
#    follow-up;
#  - systemd socket activation (systemd-socket-activate) works;
#  - it exits when nothing came for helper_linger seconds.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
server_control '{"set_state": "FINISHED"}' # no follow-up: the counts are the change's
SVC=isc_svc
# The helper itself, never the wrapper of ISC_TEST_HELPER_WRAPPER: a module
# uses a service only when /proc/PID/exe is its helper= program.
pam_service "$SVC" "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$PAM_ISC_HELPER debug"
SOCK=$T/run/service.sock
PY=/usr/bin/python3 # Debian's, which uid 65534 can run (scripts/install-deps.sh)
[ -x "$PY" ] || hard_error "$PY is missing: install the Debian package python3"
CLIENT=$top_srcdir/tests/service_client.py

# changed USER PASSWORD: the change succeeds and the server decrypted PASSWORD.
changed() {
	change_ok "$1" "$2"
	got_password "$1" "$2" || fail "$1: the server did not decrypt the typed password: $(set_event "$1")"
}
services() { { pgrep -f -- "^pam_isc_helper serve --config $(re_escape "$T")/" 2>/dev/null || true; } | wc -l | tr -d ' '; }
wait_no_service() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ ! -e "$SOCK" ] && [ "$(services)" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# status_of PID FIELD: a field of /proc/PID/status.
status_of() { sed -nE "s/^$2:[[:space:]]*//p" "/proc/$1/status"; }
limit_of() { _grep -E "^$2 " "/proc/$1/limits" | sed -E 's/  +/|/g'; }

# 1. Off with helper_linger = 0 (tests/lib.sh's setting for all other tests).
write_config 'on_error = fail'
changed alice "Svc-0ff-$RANDOM-a1"
sleep 0.3
[ ! -e "$SOCK" ] || fail "helper_linger is 0, yet $SOCK exists"
[ "$(services)" -eq 0 ] || fail "helper_linger is 0, yet a service runs"
log "helper_linger = 0: no socket, no service"

# 2. Root callers with a context of their own making. What the helper can
# put back (nice value, CPU affinity, scheduling policy, oom_score_adj,
# groups; rlimits where root may raise them) is put back before a service
# starts; where it cannot (rlimits without CAP_SYS_RESOURCE, as in some
# sandboxes) no service starts from that caller at all.
write_config 'on_error = fail' 'helper_linger = 30'
saved_wrapper=$ISC_TEST_PAMTESTER_WRAPPER
limits_taint="prlimit --nofile=40:40 --nproc=300:300 --stack=1000000"
other_taint="nice -n 19 taskset -c 0 chrt -b 0 choom -n 500 -- setpriv --groups=4,24 --"
if prlimit --nofile=40:40 "$BASH" -c 'prlimit --pid $$ --nofile=100:100' 2>/dev/null; then
	can_raise=1
else
	can_raise=0
	ISC_TEST_PAMTESTER_WRAPPER="$limits_taint $saved_wrapper"
	changed alice "Svc-Limits-$RANDOM-a2"
	sleep 0.3
	[ ! -e "$SOCK" ] && [ "$(services)" -eq 0 ] ||
		fail "a caller whose lowered rlimits cannot be raised again left a service behind"
	assert_log 'event=no_service .*cannot be undone: rlimit'
	log "lowered rlimits that root cannot raise here: no service started from that caller"
	limits_taint=
fi
ISC_TEST_PAMTESTER_WRAPPER="$limits_taint $other_taint $saved_wrapper"
mark=$(events_mark)
changed alice "Svc-Tainted-$RANDOM-a3"
ISC_TEST_PAMTESTER_WRAPPER=$saved_wrapper
wait_service_socket || fail "no $SOCK after a change by root in the host's namespaces"
[ "$(stat -c '%F %u %a' "$SOCK")" = "socket 0 600" ] ||
	fail "$SOCK is $(stat -c '%F uid %u mode %a' "$SOCK"), not a root socket 0600"
sp=$(service_pid) || fail "no service process"
for lim in 'Max open files' 'Max processes' 'Max stack size'; do
	[ "$(limit_of "$sp" "$lim")" = "$(limit_of 1 "$lim")" ] ||
		fail "the service's '$lim' is $(limit_of "$sp" "$lim"), PID 1's $(limit_of 1 "$lim")"
done
[ "$(ps -o ni= -p "$sp" | tr -d ' ')" = 0 ] || fail "the service runs at nice $(ps -o ni= -p "$sp")"
[ "$(status_of "$sp" Cpus_allowed_list)" = "$(status_of 1 Cpus_allowed_list)" ] ||
	fail "the service's CPUs are $(status_of "$sp" Cpus_allowed_list), PID 1's $(status_of 1 Cpus_allowed_list)"
chrt -p "$sp" | _grep -q 'SCHED_OTHER' || fail "the service's policy: $(chrt -p "$sp")"
[ "$(cat "/proc/$sp/oom_score_adj")" = 0 ] || fail "the service's oom_score_adj is $(cat "/proc/$sp/oom_score_adj")"
[ -z "$(status_of "$sp" Groups)" ] || fail "the service keeps the groups $(status_of "$sp" Groups)"
[ "$(readlink "/proc/$sp/cwd")" = / ] || fail "the service's directory is $(readlink "/proc/$sp/cwd")"
[ "$(status_of "$sp" Uid | tr -d '[:space:]')" = 0000 ] || fail "the service is not fully root"
log "started by a tainted root caller (rlimits too: $can_raise): the service has PID 1's limits, nice 0, CPUs, SCHED_OTHER, oom_score_adj 0, no groups"

used0=$(count_log 'service_used')
mark=$(events_mark)
changed bob "Svc-Two-$RANDOM-b1"
changed carol "Svc-Three-$RANDOM-c1"
[ "$(($(count_log 'service_used') - used0))" -eq 2 ] ||
	fail "the 2nd and 3rd change were not both served by the service: $(_grep service_ "$SYSLOG")"
assert_one_conn "$mark" "two changes through the service"
[ "$(api_requests "$mark")" -eq 4 ] || fail "two changes made $(api_requests "$mark") API requests, not 4"
[ "$(services)" -eq 1 ] || fail "$(services) services run, not 1"
log "the next two changes served by the service over one TLS connection, 4 requests"

# 3. A root caller in a network namespace of its own (a sandbox): the
# module does not use the host's service, and its helper starts none.
used0=$(count_log 'service_used')
pw="Svc-NetNs-$RANDOM-d1"
register_secret "$pw"
ISC_TEST_PAMTESTER_WRAPPER="unshare --net -- $saved_wrapper"
run_pamtester dave "$SVC" "$pw" && fail "a change from an empty network namespace reached ISC"
ISC_TEST_PAMTESTER_WRAPPER=$saved_wrapper
[ "$(count_log 'service_used')" -eq "$used0" ] || fail "a caller in another network namespace used the service"
assert_log 'step=service .*another net namespace'
[ "$(services)" -eq 1 ] || fail "the sandboxed caller's helper started a service"
log "another network namespace: the service refused by the module; a one-shot helper of its own"

# 4. Only root reaches it.
if setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$SOCK" 2>"$T/nobody.err"; then
	fail "uid 65534 could connect to $SOCK"
fi
_grep -q 'PermissionError' "$T/nobody.err" || fail "uid 65534: $(cat "$T/nobody.err")"
log "uid 65534 cannot connect"

# 5. The throttle: one caller holds at most 4 preliminary phases; the 5th
# is answered busy, another caller is still served.
holders=()
for i in 1 2 3 4; do
	"$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" alice 1234 prelim hold >"$T/held.$i" 2>&1 &
	holders+=($!)
done
for i in 1 2 3 4; do
	for ((j = 0; j < 100; j++)); do _grep -q '^OK state=CHECKED' "$T/held.$i" && break; sleep 0.05; done
	_grep -q '^OK state=CHECKED' "$T/held.$i" || fail "held preliminary phase $i: $(cat "$T/held.$i")"
done
"$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" alice 1234 prelim >"$T/held.5" 2>&1 || true
_grep -q '^FAIL reason=busy' "$T/held.5" || fail "a 5th preliminary phase of one caller: $(cat "$T/held.5")"
"$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" alice 1235 prelim >"$T/held.6" 2>&1 || true
_grep -q '^OK state=CHECKED' "$T/held.6" || fail "another caller was not served: $(cat "$T/held.6")"
assert_log 'event=busy user=alice phase=prelim'
kill "${holders[@]}" 2>/dev/null || true
wait "${holders[@]}" 2>/dev/null || true
log "throttle: a 5th held preliminary phase of one caller is busy, another caller is served"

# 6. The module stopped waiting: the service, busy with a slow change,
# comes to an update request whose deadline has passed, and sends nothing.
pw_e="Svc-Late-$RANDOM-e1"
pw_a="Svc-Slow-$RANDOM-a3"
register_secret "$pw_e"
register_secret "$pw_a"
printf '%s\n' "$pw_e" | "$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" erin 1000 prelim sleep:1500 update:1000 verdict >"$T/late.out" 2>&1 &
late=$!
for ((j = 0; j < 100; j++)); do _grep -q '^OK state=CHECKED' "$T/late.out" && break; sleep 0.05; done
_grep -q '^OK state=CHECKED' "$T/late.out" || fail "erin's preliminary phase: $(cat "$T/late.out")"
mark=$(events_mark)
server_control '{"delay_ms": 4000}'
printf '%s\n' "$pw_a" | "$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" alice 1000 update:3500 verdict >"$T/slow.out" 2>&1 &
slow=$!
wait "$slow" || true
wait "$late" || true
server_control '{"delay_ms": 0}'
wait_for_log 'event=abandoned user=erin phase=update' 10 || fail "erin's late update was not abandoned: $(cat "$T/late.out")"
! events_since "$mark" | _grep -qE '^set user=erin ' || fail "the abandoned change of erin reached ISC"
log "an update request past its deadline is abandoned, nothing sent"

# 7. The module is gone when ISC accepts: the verdict cannot be written, the
# change's follow-up is still recorded and followed.
server_control '{"set_state": "IN_PROGRESS", "delay_ms": 800}'
pw="Svc-Gone-$RANDOM-f1"
register_secret "$pw"
printf '%s\n' "$pw" | "$PY" "$CLIENT" "$SOCK" "$T/pam_isc.conf" frank 1000 update:5000 close >/dev/null 2>&1 ||
	fail "the client that goes away failed"
server_control '{"delay_ms": 0}'
wait_for_log 'event=final user=frank .*state=FINISHED' 20 || fail "frank's change was not followed up after its module went away"
sp2=$(service_pid) || fail "the service died after a module went away"
[ "$sp2" = "$sp" ] || fail "the service was replaced ($sp -> $sp2)"
server_control '{"set_state": "FINISHED"}'
log "module gone before the verdict: no SIGPIPE, the follow-up logged state=FINISHED"

# 8. A module set up with another helper program does not use it.
cp "$PAM_ISC_HELPER" "$T/other_helper"
chmod 0755 "$T/other_helper"
pam_service isc_other "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$T/other_helper debug"
used0=$(count_log 'service_used')
pw="Svc-Other-$RANDOM-b2"
register_secret "$pw"
run_pamtester bob isc_other "$pw" || fail "the change with another helper program failed"
[ "$(count_log 'service_used')" -eq "$used0" ] || fail "the module used a service of another program"
assert_log 'service_not_used .*runs '
log "another helper program: not used (logged at debug), a helper of its own"

# 9. Idle: gone after helper_linger seconds.
write_config 'on_error = fail' 'helper_linger = 2'
changed carol "Svc-Idle-$RANDOM-c2" # the service re-reads helper_linger on start only
kill "$(service_pid)"
wait_no_service || fail "the service did not stop on SIGTERM"
changed alice "Svc-Idle-$RANDOM-a4"
wait_service_socket || fail "no service after a change"
wait_no_service || fail "the service still runs 10 s after the last change (helper_linger = 2)"
assert_log 'service_exits .*idle'
log "idle: the service exited and removed its socket"

# 10. Socket activation, as systemd would start it (pam-isc.socket).
if command -v systemd-socket-activate >/dev/null; then
	write_config 'on_error = fail' 'helper_linger = 30'
	systemd-socket-activate -l "$SOCK" "$PAM_ISC_HELPER" serve --config "$T/pam_isc.conf" \
		>"$T/activate.out" 2>&1 &
	activator=$!
	_isc_pids+=("$activator")
	wait_service_socket || fail "systemd-socket-activate did not listen on $SOCK"
	chmod 0600 "$SOCK"
	used0=$(count_log 'service_used')
	changed dave "Svc-Sd-$RANDOM-d2"
	[ "$(count_log 'service_used')" -eq $((used0 + 1)) ] || fail "the socket-activated service was not used: $(cat "$T/activate.out")"
	[ "$(services)" -le 1 ] || fail "a helper started a service of its own next to systemd's socket"
	changed carol "Svc-Sd-$RANDOM-c3"
	[ "$(count_log 'service_used')" -eq $((used0 + 2)) ] || fail "the 2nd change did not use the socket-activated service"
	kill "$activator" 2>/dev/null || true
	log "socket activation: served by the service systemd-socket-activate started"
else
	log "systemd-socket-activate is missing: socket activation not tested"
fi
isc_done
