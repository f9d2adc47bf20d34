#!/bin/bash
# SPDX-License-Identifier: MIT
# Failure policy (on_error) and the preliminary check, with a local password
# module in the stack: pam_matrix (pam_wrapper's password database module)
# first, then pam_isc use_authtok, like pam_unix + pam_isc on a real host.
#   - on_error = fail: ISC down or the identity unknown -> the preliminary
#     phase refuses (PAM_TRY_AGAIN), pam_matrix never changes its password.
#   - on_error = queue / ignore: the local change stands.
#   - one change costs one lookup (prelim lookup carried to the update phase).
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server

# conf ON_ERROR [URL] [extra lines...]
conf() {
	local on_error=$1 url=${2:-$ISC_URL}
	shift 2 || shift $#
	write_config "on_error = $on_error" "api_url = $url" 'timeout = 3' "$@"
}

pam_service isc_stack \
	"password required $PAM_MATRIX passdb=$T/passdb" \
	"$(isc_line required use_authtok)"

# set_local USER PW: pam_matrix's database holds PW for USER.
set_local() {
	(umask 077 && printf '%s:%s:isc_stack\n' "$1" "$2" >"$T/passdb")
}
# local_is PW: the database holds PW (compared without putting PW in argv).
local_is() {
	_grep -qF -f <(printf ':%s:\n' "$1") "$T/passdb"
}

# change USER OLD NEW [SERVICE]: USER's local password is OLD, then USER
# changes it to NEW through the stack (SERVICE, default isc_stack; ISC_PAM_OP
# as for run_pamtester_in); RC, MS (elapsed ms), EV (events: n_events).
change() {
	local user=$1 old=$2 new=$3 service=${4:-isc_stack} mark
	register_secret "$old"
	register_secret "$new"
	set_local "$user" "$old"
	mark=$(events_mark)
	RC=0
	printf '%s\n%s\n%s\n' "$old" "$new" "$new" | run_pamtester_in "$user" "$service" || RC=$?
	MS=$(pamtester_ms)
	EV=$(events_since "$mark")
}

# told WHAT TEXT: pamtester's output (what the person saw) has TEXT.
told() {
	_grep -qF -- "$2" "$T/pamtester.out" ||
		fail "$1: the person was not told '$2': $(oneline <"$T/pamtester.out")"
}

# kept_local WHAT OLD: the change failed and the local password is still OLD.
kept_local() {
	[ "$RC" -ne 0 ] || fail "$1: pamtester succeeded"
	local_is "$2" || fail "$1: the local password changed"
}
# changed_local WHAT NEW: the change succeeded and the local password is NEW.
changed_local() {
	[ "$RC" -eq 0 ] || fail "$1: pamtester exited $RC"
	local_is "$2" || fail "$1: the local password did not change"
}

# --- 1. ISC up: one change is one lookup and one set, and the key is cached.
conf fail
change alice 'Alice-old-password-1' 'Alice-new-password-2'
changed_local "normal change" 'Alice-new-password-2'
[ "$(n_events '^lookup user=alice ')" -eq 1 ] ||
	fail "a normal change must cost exactly one lookup, got $(n_events '^lookup ')"
[ "$(n_events '^set user=alice ')" -eq 1 ] || fail "expected one set, got $(n_events '^set ')"
[ "$(n_events '^request .*path=/oauth/token')" -le 1 ] || fail "more than one token request"
# The preliminary lookup and the update phase's set share one TLS connection.
conns=$(printf '%s\n' "$EV" | _grep -E '^request .*(query-password-info|set-password)' | field conn | sort -u)
[ "$(printf '%s\n' "$conns" | _grep -c .)" -eq 1 ] || fail "lookup and set on several connections"
ls "$T/state/keys/" | _grep -qE '^[0-9a-f]{64}$' || fail "the source's public key was not cached"
log "ok: one change, one lookup, one set, one connection; key cached"

# --- 2. on_error = fail, ISC down: refused in the preliminary phase, the
# local password is unchanged, within timeout + 1 s.
conf fail "$ISC_DOWN_URL"
change alice 'Alice-old-password-3' 'Alice-never-password-4'
kept_local "on_error=fail, ISC down" 'Alice-old-password-3'
[ "$MS" -le 4000 ] || fail "on_error=fail, ISC down: took $MS ms (timeout 3 s)"
told "on_error=fail, ISC down" 'unreachable; the password was not changed'
wait_for_log 'event=refused user=alice phase=prelim reason=unreachable policy=fail' 5 ||
	fail "no refused line"
assert_log 'event=error user=alice step=token kind=transport'
[ -z "$(queue_entries)" ] || fail "on_error=fail queued something"
log "ok: on_error=fail, ISC down: local unchanged, $MS ms"

# --- 3. on_error = fail, unknown identity: refused before the local change.
conf fail
change unknown1 'Unknown-old-password-5' 'Unknown-new-password-6'
kept_local "on_error=fail, unknown identity" 'Unknown-old-password-5'
[ "$(n_events '^set ')" -eq 0 ] || fail "unknown identity: something was set"
wait_for_log 'event=refused user=unknown1 phase=prelim reason=rejected' 5 || fail "no refused line"
log "ok: on_error=fail, unknown identity: local unchanged"

# --- 4. on_error = queue, ISC down, key cached: local change stands, queued.
conf queue "$ISC_DOWN_URL"
change alice 'Alice-old-password-7' 'Alice-queued-password-8'
changed_local "on_error=queue, ISC down" 'Alice-queued-password-8'
[ "$MS" -le 4000 ] || fail "on_error=queue, ISC down: took $MS ms"
told "on_error=queue, ISC down" 'your new password will be sent when it is back'
wait_for_log 'event=queued user=alice ' 5 || fail "no queued line"
q=$(queue_entries)
[ "$(printf '%s\n' "$q" | _grep -c .)" -eq 1 ] || fail "expected one queue entry, got: $q"
qf=$T/state/queue/$q
[ "$(stat -c %a "$qf")" = 600 ] || fail "queue entry mode $(stat -c %a "$qf")"
[ "$(stat -c %a "$T/state/queue")" = 700 ] || fail "queue dir mode $(stat -c %a "$T/state/queue")"
[ "$(stat -c %a "$T/state")" = 700 ] || fail "state_dir mode $(stat -c %a "$T/state")"
_grep -q '^user=alice$' "$qf" || fail "entry does not name alice"
file_has_secret "$qf" && fail "the queue entry holds a password in clear"
log "ok: on_error=queue, ISC down: local changed, queued (encrypted), $MS ms"

# --- 5. on_error = ignore, ISC down: local change stands, nothing queued.
conf ignore "$ISC_DOWN_URL"
change bob 'Bob-old-password-9' 'Bob-ignored-password-10'
changed_local "on_error=ignore" 'Bob-ignored-password-10'
wait_for_log 'event=local_only user=bob reason=unreachable policy=ignore' 5 || fail "no local_only line"
told "on_error=ignore" 'was not sent there'
[ "$(queue_entries | wc -l)" -eq 1 ] || fail "on_error=ignore queued bob"
log "ok: on_error=ignore: local changed, not queued"

# --- 6. on_error = queue, ISC refuses (unknown identity): never queued, the
# local change stands, logged as an error.
conf queue
change unknown1 'Unknown-old-password-11' 'Unknown-new-password-12'
changed_local "on_error=queue, unknown identity" 'Unknown-new-password-12'
[ "$(n_events '^lookup ')" -eq 1 ] || fail "unknown identity: looked up $(n_events '^lookup ') times"
wait_for_log 'event=local_only user=unknown1 reason=rejected policy=queue' 5 || fail "no local_only line"
[ "$(queue_entries | wc -l)" -eq 1 ] || fail "a refused change was queued"
log "ok: on_error=queue, ISC said no: not queued, logged"

# --- 7. on_error = queue without any cached key: nothing can be queued safely.
rm -rf "$T/state"
conf queue "$ISC_DOWN_URL"
change carol 'Carol-old-password-13' 'Carol-new-password-14'
changed_local "queue without key" 'Carol-new-password-14'
wait_for_log 'event=not_queued user=carol reason=no_cached_key' 5 || fail "no not_queued line"
told "queue without key" 'was not sent there'
[ -z "$(queue_entries)" ] || fail "queued without a key"
log "ok: no cached key: behaves as ignore"

# --- 8. PAM_SILENT silences the messages; prelim_check = no does it all in
# the update phase.
conf queue "$ISC_DOWN_URL" 'prelim_check = no'
ISC_PAM_OP='chauthtok(PAM_SILENT)' change carol 'Carol-old-password-15' 'Carol-new-password-16'
changed_local "PAM_SILENT, prelim_check=no" 'Carol-new-password-16'
if _grep -q 'Identity Security Cloud' "$T/pamtester.out"; then
	fail "PAM_SILENT: pam_isc still talked to the person"
fi
wait_for_log 'event=local_only user=carol reason=unreachable policy=queue' 5 ||
	fail "PAM_SILENT: the event is still logged"
log "ok: PAM_SILENT, prelim_check = no"

# --- 9. on_error = fail, a secret file the helper cannot use: refused in the
# preliminary phase too (the update phase would refuse after the local change).
conf fail "$ISC_URL" "client_secret_file = $T/no-such-secret"
change dave 'Dave-old-password-17' 'Dave-new-password-18'
kept_local "on_error=fail, unusable secret" 'Dave-old-password-17'
told "unusable secret" 'misconfigured; the password was not changed'
wait_for_log 'event=refused user=dave phase=prelim reason=config policy=fail' 5 ||
	fail "unusable secret: no refused line"
log "ok: on_error=fail, unusable secret: local unchanged"

# --- 10. A helper that never answers is killed and reaped by the module
# within timeout + 1 s, and on_error applies (fail: local unchanged).
hung=$T/hung_helper
printf '#!/bin/sh\nexec sleep 600\n' >"$hung"
chmod 0755 "$hung"
pam_service isc_hung \
	"password required $PAM_MATRIX passdb=$T/passdb" \
	"password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$hung use_authtok debug"
conf fail
change user1 'User1-old-password-19' 'User1-new-password-20' isc_hung
kept_local "hung helper, on_error=fail" 'User1-old-password-19'
# timeout + the verdict's grace + the kill: 4 s; pamtester itself starts
# slower under the sanitizer and valgrind stages' wrappers.
limit=4000
[ -z "$ISC_TEST_PAMTESTER_PRELOAD$ISC_TEST_PAMTESTER_WRAPPER" ] || limit=5000
[ "$MS" -le "$limit" ] || fail "hung helper: pamtester took $MS ms (timeout 3 s)"
wait_for_log 'event=error user=user1 step=helper .*killed' 5 || fail "hung helper: no line saying it was killed"
sleep 0.2
[ -z "$(pgrep -f "^sleep 600" || true)" ] || fail "the hung helper was not killed"
log "ok: hung helper killed and reaped in $MS ms"

# No helper outlives its change: the one kept from the preliminary phase is
# reaped at the update phase or at pam_end (the PID namespace shows only
# this test's processes).
sleep 0.5
left=$(pgrep -f '^pam_isc_helper chauthtok' || true)
[ -z "$left" ] || fail "helpers still running after their changes: $left"
log "ok: no helper left behind"

isc_done
