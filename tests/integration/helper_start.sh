#!/bin/bash
# SPDX-License-Identifier: MIT
# helper_start: how the module starts, watches and leaves a helper.
#  1. the application's SIGCHLD disposition is never touched (an application
#     that ignores SIGCHLD, or threads, would see it change under them), and
#     a change still ends properly with SIGCHLD ignored (children reaped by
#     the kernel: the module waits on a pidfd);
#  2. the helper program is refused when it is reached through a symbolic
#     link or lies in a directory others can write; a sticky directory such
#     as /tmp is fine;
#  3. a PAM application that dies while ISC works on its change does not
#     take the change's follow-up with it (the helper neither dies of
#     SIGPIPE nor writes the verdict before it recorded the follow-up);
#  4. a preliminary phase that timed out does not hold the update phase
#     back: it starts over at once and the change goes through.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_start
write_config 'on_error = queue'
pam_service "$SVC" "$(isc_line)"

# sigign_has_chld PID: SIGCHLD (17) is in PID's ignored signals.
sigign_has_chld() {
	local mask
	mask=$(sed -nE 's/^SigIgn:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || return 2
	[ -n "$mask" ] || return 2
	(((16#$mask >> 16) & 1))
}

# --- 1. SIGCHLD ignored by the application, held for the whole change -------
saved_wrapper=$ISC_TEST_PAMTESTER_WRAPPER
# perl, not a shell: a shell looks its user up at start, which nss_wrapper
# (preloaded for pamtester) serves by dlopen(RTLD_DEEPBIND), which the ASan
# stage's preloaded runtime refuses.
cat >"$T/ignore-chld" <<'PL'
#!/usr/bin/perl
# Start the PAM application with SIGCHLD ignored (kept across exec).
$SIG{CHLD} = 'IGNORE';
exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";
PL
chmod 0755 "$T/ignore-chld"
server_control '{"delay_ms": 700}'
pw="Start-Chld-$RANDOM-a1"
register_secret "$pw"
ISC_TEST_PAMTESTER_WRAPPER="$T/ignore-chld $saved_wrapper"
{ run_pamtester alice "$SVC" "$pw"; echo $? >"$T/chld.rc"; } &
job=$!
ISC_TEST_PAMTESTER_WRAPPER=$saved_wrapper
samples=0
changed=0
# Sampled for as long as the change runs: pamtester may first wait a while
# for the pam_wrapper lock (tests/lib.sh), which other tests hold.
while kill -0 "$job" 2>/dev/null; do
	# The application itself (pamtester, or the tool it runs under), not
	# the harness's env and timeout or the ignore-chld script before its
	# exec: they carry the same words, and timeout may tie with pamtester
	# on start time (pgrep -n), so the sample would look at timeout, which
	# keeps SIGCHLD for itself.
	pid=$(pgrep -n -f "^([^ ]*/)?(pamtester|valgrind[^ ]*) (.* )?-v $SVC alice" || true)
	if [ -n "$pid" ]; then
		rc=0
		sigign_has_chld "$pid" || rc=$?
		[ "$rc" -eq 0 ] && samples=$((samples + 1))
		[ "$rc" -eq 1 ] && changed=$((changed + 1))
	fi
	[ -s "$T/chld.rc" ] && break
	sleep 0.02
done
wait "$job" || true
server_control '{"delay_ms": 0}'
[ "$(cat "$T/chld.rc")" = 0 ] || fail "with SIGCHLD ignored the change failed: $(cat "$T/pamtester.out")"
[ "$samples" -gt 5 ] || fail "self-check: SIGCHLD seen ignored in only $samples samples"
[ "$changed" -eq 0 ] || fail "the module changed the application's SIGCHLD disposition ($changed of $((samples + changed)) samples)"
log "ok: SIGCHLD stays ignored through the change ($samples samples), and the change succeeds"

# --- 2. the helper program's path ------------------------------------------------
try_helper() { # PATH: a change with helper=PATH; RC and the new log lines in NEW
	pam_service isc_path "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$1 debug"
	pam_change bob "Start-Path-$RANDOM" isc_path
	sleep 0.2
	NEW=$(syslog_since "$LOG_MARK")
}
# helper_refused PATH WHAT REASON_RE: helper=PATH is refused with an error
# line matching REASON_RE.
helper_refused() {
	try_helper "$1"
	_grep -qE -- "event=error .*step=helper .*$3" <<<"$NEW" ||
		fail "a helper $2 was not refused: $(oneline <<<"$NEW")"
}
mkdir -p "$T/bin"
chmod 0755 "$T/bin"
cp "$PAM_ISC_HELPER" "$T/bin/pam_isc_helper"
chmod 0755 "$T/bin/pam_isc_helper"
ln -s "$T/bin/pam_isc_helper" "$T/bin/link_helper"
helper_refused "$T/bin/link_helper" "reached through a symbolic link" 'symbolic link'
ln -s "$T/bin" "$T/linkdir"
helper_refused "$T/linkdir/pam_isc_helper" "below a symbolic link" 'symbolic link'
chmod 0777 "$T/bin"
helper_refused "$T/bin/pam_isc_helper" "in a world-writable directory" 'writable by others'
chmod 1777 "$T/bin"
try_helper "$T/bin/pam_isc_helper"
[ "$RC" -eq 0 ] || fail "a root-owned helper in a sticky directory was refused: $(oneline <<<"$NEW")"
log "ok: a helper behind a symbolic link or in a directory others can write is refused; a sticky directory is fine"

# --- 3. the application dies while ISC works on its change -------------------------
server_control '{"set_state": "IN_PROGRESS", "delay_ms": 1500}'
pw="Start-Gone-$RANDOM-c1"
register_secret "$pw"
mark=$(events_mark)
{ run_pamtester carol "$SVC" "$pw" || true; } &
job=$!
# (60 s: pamtester may first wait for the pam_wrapper lock)
wait_for_event '^set user=carol ' 60 "$mark" || fail "carol's set-password never reached the server"
pkill -KILL -f "pamtester -v $SVC carol" || fail "no pamtester to kill"
wait "$job" || true
server_control '{"delay_ms": 0}'
wait_for_log 'event=final user=carol .*state=FINISHED' 20 ||
	fail "the change of an application that died was not followed up"
log "ok: the application died before the verdict; the change was still followed up (state=FINISHED)"

# --- 4. a preliminary phase that timed out, through the per-host service:
# the service is stopped (SIGSTOP) while it looks dave up, so the module's
# preliminary phase runs into its timeout; the update phase must not wait on
# that session but start over, and the change goes through.
write_config 'on_error = queue' 'timeout = 2' 'helper_linger = 30'
# The helper itself, never the wrapper of ISC_TEST_HELPER_WRAPPER: a module
# uses a service only when /proc/PID/exe is its helper= program.
pam_service "$SVC" "password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$PAM_ISC_HELPER debug"
change_ok dave "Start-Svc-$RANDOM-d1" # leaves the service
wait_service_socket || fail "no per-host service after a change by root"
svc=$(service_pid) || fail "no service process"
server_control '{"delay_ms": 1000}'
mkfifo "$T/stdin.fifo"
pw="Start-Prelim-$RANDOM-d2"
register_secret "$pw"
mark=$(syslog_mark)
emark=$(events_mark)
{ run_pamtester_in dave "$SVC" <"$T/stdin.fifo"; echo $? >"$T/prelim.rc"; } &
job=$!
exec {fifo}>"$T/stdin.fifo"
wait_for_event '^lookup user=dave ' 60 "$emark" || fail "dave's preliminary lookup never reached the server"
kill -STOP "$svc"
for ((i = 0; i < 100; i++)); do
	syslog_since "$mark" | _grep -q 'user=dave step=helper .*no answer' && break
	sleep 0.05
done
kill -CONT "$svc"
syslog_since "$mark" | _grep -q 'user=dave step=helper .*no answer' ||
	fail "the preliminary phase did not time out"
server_control '{"delay_ms": 0}'
start=$(date +%s%N)
printf '%s\n%s\n' "$pw" "$pw" >&"$fifo"
exec {fifo}>&-
wait "$job" || true
ms=$((($(date +%s%N) - start) / 1000000))
[ "$(cat "$T/prelim.rc")" = 0 ] || fail "the change after a timed-out preliminary phase failed: $(cat "$T/pamtester.out")"
_grep -q 'New password sent' "$T/pamtester.out" ||
	fail "the update phase after a timed-out preliminary phase did not send the change: $(cat "$T/pamtester.out")"
[ "$ms" -lt 2000 ] || fail "the update phase after a timed-out preliminary phase took $ms ms"
log "ok: after a timed-out preliminary phase the update phase started over and sent the change in $ms ms"
isc_done
