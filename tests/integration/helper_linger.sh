#!/bin/bash
# helper_linger: a helper that stays after its change serves the next ones
# over RUNTIME_DIR/helper.sock, with its TLS connection kept open.
#  - off with helper_linger = 0: no socket after a change;
#  - on (the default): the next changes reuse it (logged helper_reused) and all their
#    requests come over the first change's one TLS connection; every
#    password is still decrypted exactly by the server;
#  - the socket is root's, 0600, in the private runtime_dir; another uid
#    cannot connect at all;
#  - busy (a client holds it): a change starts a helper of its own at once;
#    a client that sends garbage gets nothing and the helper goes on serving;
#  - a module configured with another helper program does not use it;
#  - it exits when nothing came for helper_linger seconds, and the socket
#    is gone.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
server_control '{"set_state": "FINISHED"}' # no follower: the counts are the change's
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"
SVC=isc_linger
# The helper itself, never the wrapper of ISC_TEST_HELPER_WRAPPER: a module
# reuses a lingering helper only when /proc/PID/exe is its helper= program
# (under the ASan stage the sanitizer options compiled into the helper apply).
pam_service "$SVC" "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$PAM_ISC_HELPER debug"
SOCK=$T/run/helper.sock
PY=/usr/bin/python3 # Debian's, which uid 65534 can run (scripts/install-deps.sh)
[ -x "$PY" ] || hard_error "$PY is missing: install the Debian package python3"

# change_ok USER PASSWORD: the change succeeds and the server decrypted PASSWORD.
change_ok() {
	local user=$1 pw=$2 mark set_line rc=0
	register_secret "$pw"
	mark=$(events_mark)
	run_pamtester "$user" "$SVC" "$pw" || rc=$?
	[ "$rc" -eq 0 ] || fail "pamtester chauthtok for $user exited $rc: $(cat "$T/pamtester.out")"
	set_line=$(events_since "$mark" | _grep -E "^set user=$user " || true)
	[ "$(field decrypted_sha256 <<<"$set_line")" = "$(sha256_of "$pw")" ] ||
		fail "$user: the server did not decrypt the typed password: $set_line"
}
# api_requests MARK: lookups and sets since MARK.
api_requests() {
	events_since "$1" | { _grep -cE '^request .*path=[^ ]*(query-password-info|set-password)' || true; }
}
wait_socket() {
	local i
	for ((i = 0; i < 40; i++)); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	return 1
}
lingerers() { { pgrep -f -- '^pam_isc_helper chauthtok$' 2>/dev/null || true; } | wc -l | tr -d ' '; }

# 1. Off with helper_linger = 0 (tests/lib.sh's setting for all other tests).
write_config 'on_error = fail'
change_ok alice "Linger-0ff-$RANDOM-a1"
sleep 0.3
[ ! -e "$SOCK" ] || fail "helper_linger is 0, yet $SOCK exists"
[ "$(lingerers)" -eq 0 ] || fail "helper_linger is 0, yet a helper is still running"
log "helper_linger = 0: no socket, no helper left"

# 2. The default lingers: the first change leaves a helper behind, the next
# ones reuse it over one TLS connection.
write_config 'on_error = fail' '!helper_linger'
! _grep -q helper_linger "$T/pam_isc.conf" || hard_error "helper_linger still in the config"
mark=$(events_mark)
change_ok alice "Linger-One-$RANDOM-a2"
wait_socket || fail "no $SOCK after a change with the default helper_linger"
[ "$(stat -c '%F %u %a' "$SOCK")" = "socket 0 600" ] ||
	fail "$SOCK is $(stat -c '%F uid %u mode %a' "$SOCK"), not a root socket 0600"
[ "$(stat -c '%u %a' "$T/run")" = "0 700" ] || fail "$T/run is not root's 0700"
lp=$(pgrep -n -f '^pam_isc_helper chauthtok$') || fail "no lingering helper process"
[ "$(readlink "/proc/$lp/cwd")" = / ] || fail "the lingering helper's directory is $(readlink "/proc/$lp/cwd"), not /"
reused0=$(count_log 'helper_reused')
change_ok bob "Linger-Two-$RANDOM-b1"
change_ok carol "Linger-Three-$RANDOM-c1"
[ "$(($(count_log 'helper_reused') - reused0))" -eq 2 ] ||
	fail "the 2nd and 3rd change did not both reuse the lingering helper: $(_grep helper_ "$SYSLOG")"
assert_one_conn "$mark" "three changes through a lingering helper"
[ "$(events_since "$mark" | _grep -c '^connection ' || true)" -eq 1 ] ||
	fail "three changes made $(events_since "$mark" | _grep -c '^connection ') TCP connections, not 1"
[ "$(api_requests "$mark")" -eq 6 ] || fail "three changes made $(api_requests "$mark") API requests, not 6"
log "3 changes: one TLS connection, 6 requests, the 2nd and 3rd served by the lingering helper"

# From here on 4 s, so that the idle exit (6.) comes soon: a lingering
# helper waits as long as the configuration of the change it served last says.
write_config 'on_error = fail' 'helper_linger = 4'

# 3. Only root reaches it.
if setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$SOCK" 2>"$T/nobody.err"; then
	fail "uid 65534 could connect to $SOCK"
fi
_grep -q 'PermissionError' "$T/nobody.err" || fail "uid 65534: $(cat "$T/nobody.err")"
log "uid 65534 cannot connect"

# 4. Busy: a client holds the helper (greeting read, then nothing); a change
# meanwhile starts a helper of its own, at once. Then the client sends
# garbage: the helper logs it and goes on.
wait_socket || fail "the lingering helper did not listen again"
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
g = s.recv(64)
open(sys.argv[2], "w").write(g.decode())
time.sleep(2.5)
s.sendall(b"GARBAGE\n\n")
time.sleep(0.5)
' "$SOCK" "$T/greeting" &
holder=$!
for ((i = 0; i < 40; i++)); do [ -s "$T/greeting" ] && break; sleep 0.05; done
[ "$(cat "$T/greeting")" = "PAM_ISC_HELPER/1" ] || fail "greeting: '$(cat "$T/greeting")'"
reused0=$(count_log 'helper_reused')
start=$(date +%s%N)
change_ok dave "Linger-Busy-$RANDOM-d1"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$(count_log 'helper_reused')" -eq "$reused0" ] || fail "a busy helper was reused"
[ "$ms" -lt 2000 ] || fail "the change next to a busy helper took $ms ms"
wait "$holder" || fail "the holding client failed"
wait_for_log 'step=request' 5 || fail "the garbage sent to the lingering helper was not logged"
log "busy: the change started its own helper (${ms} ms); garbage logged"
wait_socket || fail "no lingering helper after the busy episode"
change_ok alice "Linger-After-$RANDOM-a3"
[ "$(count_log 'helper_reused')" -eq $((reused0 + 1)) ] ||
	fail "after the busy episode the change did not reuse a lingering helper"

# 5. A module set up with another helper program does not use it.
cp "$PAM_ISC_HELPER" "$T/other_helper"
chmod 0755 "$T/other_helper"
pam_service isc_other "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$T/other_helper debug"
wait_socket || fail "no lingering helper before the other-helper change"
reused0=$(count_log 'helper_reused')
pw="Linger-Other-$RANDOM-b2"
register_secret "$pw"
run_pamtester bob isc_other "$pw" || fail "the change with another helper program failed"
[ "$(count_log 'helper_reused')" -eq "$reused0" ] || fail "the module used a helper of another program"
assert_log 'helper_not_reused .*runs '
assert_no_log 'step=linger' "a helper of another program is not a reason for a warning"
log "another helper program: not used (logged at debug), a helper of its own"

# 6. Idle: gone after helper_linger seconds.
for ((i = 0; i < 100; i++)); do
	[ ! -e "$SOCK" ] && [ "$(lingerers)" -eq 0 ] && break
	sleep 0.1
done
[ ! -e "$SOCK" ] || fail "$SOCK still there 10 s after the last change"
[ "$(lingerers)" -eq 0 ] || fail "a lingering helper still runs 10 s after the last change"
assert_log 'helper_exits .*idle'
log "idle: the lingering helpers exited and removed the socket"
isc_done
