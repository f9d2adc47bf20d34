#!/bin/bash
# SPDX-License-Identifier: MIT
# An expired password changed at an SSH login, the most common way a
# password expires in practice. A real sshd (Debian's openssh-server) of the
# test's own, on loopback, with UsePAM and keyboard-interactive only: a user
# whose password is expired (chage -d 0) logs in with the real ssh client on
# a pseudo-terminal, sshd's PAM conversation makes them change it
# (pam_chauthtok with PAM_CHANGE_EXPIRED_AUTHTOK, inside keyboard-interactive)
# through common-password, where the real pam-auth-update put pam_isc (the
# profile conf/pam-configs/isc), and the login shell then runs.
#   1. ISC answers: the new password reaches it, the login goes on.
#   2. ISC is a black hole (accepts, never answers): timeout = 3 keeps the
#      whole login well within sshd's LoginGraceTime; on_error = queue (the
#      default) lets the person in with the change queued, and a flush once
#      ISC is back delivers it.
#   3. The veto stack (on_error = fail), ISC a black hole: the login is
#      refused after the timeout, well within LoginGraceTime, nothing changed.
#
# Isolation as in real_passwd.sh: the private mount and PID namespaces of
# lib.sh, copies of /etc, /var/lib/pam, /var/cache/debconf and
# /usr/share/pam-configs bound over the originals, empty tmpfs over /home,
# /var/log, /var/mail and /run (sshd's privilege separation directory
# /run/sshd, utmp). The host's files are compared before and after.
#
# Passwords: typed by tests/pty_dialog.exp, which reads them on its stdin
# (bash's printf builtin into a pipe); never in an argv or environment.
. "$(dirname "$0")/../lib.sh"

# In CI's sanitizer stage the module is instrumented and needs its runtime
# preloaded, which a daemon's PAM stack (sshd) never does: that stage covers
# the module through pamtester; this test runs in the normal suite.
[ -z "$ISC_TEST_PAMTESTER_PRELOAD" ] ||
	skip "the module is built with a sanitizer runtime that sshd cannot preload"
isc_setup

SSHD=/usr/sbin/sshd # sshd re-executes itself: an absolute path
[ -x "$SSHD" ] || hard_error "$SSHD not found: install openssh-server (scripts/install-deps.sh does)"
EXPECT=$(command -v expect || true)
[ -n "$EXPECT" ] || hard_error "expect not found: install the Debian package expect (scripts/install-deps.sh does)"
for tool in ssh ssh-keygen useradd chpasswd chage getent setpriv pam-auth-update python3 perl sha256sum; do
	command -v "$tool" >/dev/null || hard_error "$tool not found"
done
DIALOG=$top_srcdir/tests/pty_dialog.exp
[ -f "$DIALOG" ] || hard_error "$DIALOG is missing"
PROFILE=$top_srcdir/conf/pam-configs/isc
[ -f "$PROFILE" ] || hard_error "$PROFILE is missing"

# --- the host's files, before; private copies ------------------------------------
# (host_state, bind_copy, empty_tmpfs, unmount_all: tests/lib.sh.) /etc/ssh
# too: nothing here may touch the machine's sshd configuration or keys.
HOST_SSH=(/etc/ssh/sshd_config /etc/ssh/ssh_config /etc/ssh/ssh_host_*)
host_state "${HOST_SSH[@]}" >"$T/host.before"
ls -A /etc/ssh >>"$T/host.before"
[ -s "$T/host.before" ] || hard_error "could not read the host's /etc"
for d in /etc /var/lib/pam /var/cache/debconf /usr/share/pam-configs; do
	bind_copy "$d"
done
empty_tmpfs /home
empty_tmpfs /var/log
[ -d /var/mail ] && empty_tmpfs /var/mail
empty_tmpfs /run
mkdir -m 0755 /run/sshd

# --- the module, the helper and the profile ----------------------------------------
INST=$T/inst
mkdir -m 0755 "$INST"
install -m 0644 "$PAM_ISC_SO" "$INST/pam_isc.so"
install -m 0755 "$PAM_ISC_HELPER" "$INST/pam_isc_helper"

start_server
write_config
sed "s#pam_isc\\.so#$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper#" \
	"$PROFILE" >/usr/share/pam-configs/isc
chmod 0644 /usr/share/pam-configs/isc

# --- the users: the one who logs in, and the one running the ssh client ---------
# (the client as an ordinary user with a home in the tmpfs: ssh may create
# ~/.ssh, which must not be root's real one)
USER_NAME=sshisc1
CLIENT=sshclient1
useradd -l -m -s /bin/sh -c 'pam_isc ssh test' "$USER_NAME" || hard_error "useradd $USER_NAME failed"
useradd -l -m -s /bin/sh -c 'pam_isc ssh client' "$CLIENT" || hard_error "useradd $CLIENT failed"
[ "$(id -u "$USER_NAME")" -ge 1000 ] || hard_error "useradd gave $USER_NAME a uid below min_uid"
_grep -q "^$USER_NAME:" "$T/copy_etc/shadow" || hard_error "useradd did not write the copy of /etc/shadow"
as_client=(setpriv --reuid="$(id -u "$CLIENT")" --regid="$(id -g "$CLIENT")" --init-groups --reset-env)

pw0='Ssh-initial-pw-4Rf8'
pw1='Ssh-expired-new-6Tg2!q'
pw2='Ssh-blackhole-new-9Yh3#w'
for pw in "$pw0" "$pw1" "$pw2"; do
	register_secret "$pw"
done
# Set before pam_isc is in the stack.
printf '%s:%s\n' "$USER_NAME" "$pw0" | chpasswd || hard_error "chpasswd (initial password) failed"

DEBIAN_FRONTEND=noninteractive pam-auth-update --enable isc >"$T/pam-auth-update.out" 2>&1 ||
	hard_error "pam-auth-update --enable isc failed: $(cat "$T/pam-auth-update.out")"
[ "$(_grep -c "$INST/pam_isc.so" /etc/pam.d/common-password)" -eq 1 ] ||
	hard_error "pam-auth-update did not put pam_isc into common-password"
_grep -q '^@include common-password' /etc/pam.d/sshd ||
	hard_error "/etc/pam.d/sshd does not include common-password"

# --- the sshd ---------------------------------------------------------------------
GRACE=20
mkdir -m 0700 "$T/sshd"
ssh-keygen -q -N '' -t ed25519 -f "$T/sshd/host_ed25519" </dev/null >/dev/null ||
	hard_error "ssh-keygen failed"
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SSHD_PID=
# start_sshd: sshd -D on a free loopback port; a port taken meanwhile by
# someone else is retried with another.
start_sshd() {
	local i
	for _ in 1 2 3; do
		SSH_PORT=$(free_port)
		cat >"$T/sshd/sshd_config" <<-EOF
			Port $SSH_PORT
			ListenAddress 127.0.0.1
			HostKey $T/sshd/host_ed25519
			PidFile $T/sshd/sshd.pid
			UsePAM yes
			KbdInteractiveAuthentication yes
			PasswordAuthentication no
			PubkeyAuthentication no
			AuthorizedKeysFile none
			PermitRootLogin no
			AllowUsers $USER_NAME
			LoginGraceTime $GRACE
			StrictModes no
			UseDNS no
			PrintMotd no
			PrintLastLog no
			X11Forwarding no
			AllowTcpForwarding no
		EOF
		"$SSHD" -t -f "$T/sshd/sshd_config" >"$T/sshd/check.out" 2>&1 ||
			hard_error "sshd -t refuses the configuration: $(cat "$T/sshd/check.out")"
		: >"$T/sshd.log"
		"$SSHD" -D -e -f "$T/sshd/sshd_config" >>"$T/sshd.log" 2>&1 &
		SSHD_PID=$!
		_isc_pids+=("$SSHD_PID")
		# 20 s: a loaded machine (make -j check) can be slow to start it
		for ((i = 0; i < 200; i++)); do
			_grep -q "Server listening on 127.0.0.1 port $SSH_PORT" "$T/sshd.log" && return 0
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -TERM "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
	done
	hard_error "sshd did not come up: $(tail -n 5 "$T/sshd.log")"
}
start_sshd
log "sshd (pid $SSHD_PID) on 127.0.0.1 port $SSH_PORT, LoginGraceTime $GRACE"

# --- an expired password at SSH login ------------------------------------------------
shadow_hash() { getent shadow "$1" | cut -d: -f2; }
transcript() { tr -d '\r' <"$1" | _isc_redact | tail -n 20; }
TRANSCRIPTS=()

# ssh_expired_login NAME OLD NEW: expire the password, log in with OLD, change
# it to NEW in the dialog, have the login shell print a marker. RC (the ssh
# client's exit status), MS (how long the whole login took), TRANSCRIPT, MARK
# (server events before), HASH_BEFORE.
ssh_expired_login() {
	local name=$1 old=$2 new=$3 t0 t1
	chage -d 0 "$USER_NAME" || hard_error "chage -d 0 failed"
	[ "$(getent shadow "$USER_NAME" | cut -d: -f3)" = 0 ] || hard_error "chage -d 0 did not expire the password"
	TRANSCRIPT=$T/$name.pty
	TRANSCRIPTS+=("$TRANSCRIPT")
	HASH_BEFORE=$(shadow_hash "$USER_NAME")
	MARK=$(events_mark)
	RC=0
	t0=$(date +%s%N)
	# An interactive login (a terminal, no command), as a person's: sshd
	# shows what PAM said during the change (pam_isc's message among it)
	# only to a login shell. The shell is then told to print a marker it
	# computes, so that the echo of the typed line cannot pass for it.
	# shellcheck disable=SC2016 # expanded by the remote shell
	printf '%s\n' 'Password:' "S:$old" 'Current password:' "S:$old" 'New password:' "S:$new" \
		'Retype new password:' "S:$new" '\$ $' 'T:echo LOGIN-$((6 * 7)); exit' |
		timeout 120 "$EXPECT" -f "$DIALOG" -- "${as_client[@]}" \
			ssh -F /dev/null -tt -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
			-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
			-o ConnectTimeout=10 -o LogLevel=ERROR \
			"$USER_NAME@127.0.0.1" >"$TRANSCRIPT" 2>&1 || RC=$?
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
}

# logged_in_after_change WHAT NEW: the dialog asked for the change, the
# shell ran, the local hash is NEW's and no longer expired, sshd's PAM
# stack (service sshd) made the change.
logged_in_after_change() {
	local what=$1
	[ "$RC" -eq 0 ] || fail "$what: ssh exited $RC after $MS ms: $(transcript "$TRANSCRIPT")"
	_grep -qi 'change your password' "$TRANSCRIPT" ||
		fail "$what: sshd did not say the password had to be changed: $(transcript "$TRANSCRIPT")"
	_grep -q '^LOGIN-42$' <(tr -d '\r' <"$TRANSCRIPT") ||
		fail "$what: the session did not run after the change: $(transcript "$TRANSCRIPT")"
	[ "$(shadow_hash "$USER_NAME")" != "$HASH_BEFORE" ] || fail "$what: the local hash did not change"
	printf '%s\n%s\n' "$2" "$(shadow_hash "$USER_NAME")" |
		perl -e 'chomp(my $p = <STDIN>); chomp(my $h = <STDIN>); exit(crypt($p, $h) eq $h ? 0 : 1)' ||
		fail "$what: the local hash is not the new password's"
	[ "$(getent shadow "$USER_NAME" | cut -d: -f3)" != 0 ] || fail "$what: the password is still marked expired"
	wait_for_log "pam_unix\(sshd:chauthtok\): password changed for $USER_NAME" 5 ||
		fail "$what: no pam_unix line from sshd's chauthtok"
	if _grep -q 'Timeout before authentication' "$T/sshd.log"; then
		fail "$what: sshd dropped a connection for LoginGraceTime"
	fi
}

# 1. ISC answers.
ssh_expired_login ssh-reachable "$pw0" "$pw1"
logged_in_after_change "ssh, ISC reachable" "$pw1"
_grep -q 'New password sent to Identity Security Cloud' "$TRANSCRIPT" ||
	fail "ssh, ISC reachable: the person did not see pam_isc's message: $(transcript "$TRANSCRIPT")"
assert_sent "$USER_NAME" "$pw1" "$MARK" "ssh, ISC reachable"
got_password "$USER_NAME" "$pw1" || fail "ssh, ISC reachable: the server did not get the new password"
req=$(field request <<<"$SET_LINE")
wait_for_log "pam_isc\[[0-9]+\]: event=accepted user=$USER_NAME request=$req " 10 ||
	fail "ssh, ISC reachable: no accepted line for request $req"
log "ok: an expired password changed at SSH login reached ISC (request $req), the login went on ($MS ms)"

# 2. ISC a black hole: the port accepts and never answers. on_error = queue,
# the default, because this is a login: the person gets in with the new
# password, which pam_isc keeps (encrypted with ISC's key, cached by change
# 1) until ISC is back; on_error = fail could not keep them out anyway in
# the standard stack (pam_isc is optional after pam_unix, which has already
# changed the local password) and would only lose the change.
TIMEOUT=3
write_config "api_url = $ISC_BLACKHOLE_URL" "timeout = $TIMEOUT" 'on_error = queue'
ssh_expired_login ssh-blackhole "$pw1" "$pw2"
log "measured: the whole SSH login with ISC a black hole took $MS ms (timeout $TIMEOUT s, LoginGraceTime $GRACE s)"
logged_in_after_change "ssh, ISC a black hole" "$pw2"
_grep -q 'unreachable; your new password will be sent when it is back' "$TRANSCRIPT" ||
	fail "ssh, ISC a black hole: the person was not told the change waits for ISC: $(transcript "$TRANSCRIPT")"
[ "$MS" -lt $((GRACE * 1000)) ] || fail "ssh, ISC a black hole: the login took $MS ms, not within LoginGraceTime ${GRACE}s"
# Bounded by the timeout: the prompts and the two pam_unix steps take well
# under a second; the slack covers a loaded machine (sshd's key exchange,
# the helper's start), and is still far from LoginGraceTime.
[ "$MS" -le $(((TIMEOUT + 5) * 1000)) ] ||
	fail "ssh, ISC a black hole: the login took $MS ms, more than timeout ${TIMEOUT}s + 5 s"
[ "$MS" -ge $((TIMEOUT * 1000 - 500)) ] ||
	log "note: the login took only $MS ms, less than the timeout (the wait ended early)"
wait_for_log "event=queued user=$USER_NAME " 10 || fail "ssh, ISC a black hole: the change was not queued"
[ "$(queue_entries | wc -l)" -eq 1 ] || fail "ssh, ISC a black hole: expected one queue entry: $(queue_entries)"
[ "$(events_since "$MARK" | _grep -c '^set ' || true)" -eq 0 ] || fail "ssh, ISC a black hole: a set event reached the server"
log "ok: ISC a black hole: the SSH login with the change took $MS ms (< LoginGraceTime ${GRACE}s), the change was queued"

# ISC back: the flush delivers the queued change. The follower of change 1
# may be delivering the queue itself at that moment (it reloads the edited
# configuration): pam_isc_ctl then says another flush runs, and is asked
# again; whichever of them delivers it, the change must reach ISC once.
write_config
MARK=$(events_mark)
TRANSCRIPTS+=("$T/flush.out")
for ((i = 0; ; i++)); do
	rc=0
	"$top_builddir/pam_isc_ctl" --config "$ISC_CONF" --helper "$INST/pam_isc_helper" flush \
		>"$T/flush.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && break
	if ! _grep -q 'another flush is running' "$T/flush.out" || [ "$i" -ge 60 ]; then
		fail "pam_isc_ctl flush exited $rc: $(_isc_redact <"$T/flush.out")"
	fi
	sleep 0.5
done
[ "$i" -eq 0 ] || log "note: pam_isc_ctl flush waited for another flush ($i retries)"
wait_for_event "^set user=$USER_NAME " 20 "$MARK" || fail "the flush delivered nothing"
assert_sent "$USER_NAME" "$pw2" "$MARK" "flush after the black hole"
log "ok: the queued change reached ISC with the flush"

# 3. The veto stack (conf/pam.d-common-password-veto-snippet: pam_isc
# requisite before pam_unix, on_error = fail, prelim_check = yes), ISC a black
# hole: the preliminary check gives up after the timeout, nothing changes, the
# password stays expired and sshd refuses the login, cleanly and well within
# LoginGraceTime (not by dropping the connection for it).
VETO=$top_srcdir/conf/pam.d-common-password-veto-snippet
[ -f "$VETO" ] || hard_error "$VETO is missing"
_grep -E '^password' "$VETO" |
	sed "s#pam_isc\.so#$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper#" \
		>/etc/pam.d/common-password.veto
[ "$(_grep -c pam_isc /etc/pam.d/common-password.veto)" -eq 1 ] ||
	hard_error "the veto snippet does not have one pam_isc line"
mv /etc/pam.d/common-password.veto /etc/pam.d/common-password
write_config "api_url = $ISC_BLACKHOLE_URL" "timeout = $TIMEOUT" 'on_error = fail' 'prelim_check = yes'
chage -d 0 "$USER_NAME" || hard_error "chage -d 0 failed"
TRANSCRIPT=$T/ssh-veto.pty
TRANSCRIPTS+=("$TRANSCRIPT")
HASH_BEFORE=$(shadow_hash "$USER_NAME")
MARK=$(events_mark)
RC=0
t0=$(date +%s%N)
# One keyboard-interactive attempt: ssh gives up after the refusal instead of
# asking again.
printf '%s\n' 'Password:' "S:$pw2" |
	timeout 120 "$EXPECT" -f "$DIALOG" -- "${as_client[@]}" \
		ssh -F /dev/null -tt -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
		-o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=ERROR \
		"$USER_NAME@127.0.0.1" >"$TRANSCRIPT" 2>&1 || RC=$?
MS=$((($(date +%s%N) - t0) / 1000000))
log "measured: the refused SSH login (veto stack, ISC a black hole) took $MS ms"
[ "$RC" -eq 255 ] || fail "veto stack, ISC a black hole: ssh exited $RC, not 255 (refused): $(transcript "$TRANSCRIPT")"
_grep -q 'Permission denied' "$TRANSCRIPT" ||
	fail "veto stack, ISC a black hole: ssh did not report the refusal: $(transcript "$TRANSCRIPT")"
_grep -q 'LOGIN-42' "$TRANSCRIPT" && fail "veto stack, ISC a black hole: a shell ran"
[ "$MS" -lt $((GRACE * 1000)) ] || fail "veto stack, ISC a black hole: the refusal took $MS ms, not within ${GRACE}s"
[ "$MS" -le $(((TIMEOUT + 5) * 1000)) ] ||
	fail "veto stack, ISC a black hole: the refusal took $MS ms, more than timeout ${TIMEOUT}s + 5 s"
if _grep -q 'Timeout before authentication' "$T/sshd.log"; then
	fail "veto stack, ISC a black hole: sshd dropped a connection for LoginGraceTime"
fi
[ "$(shadow_hash "$USER_NAME")" = "$HASH_BEFORE" ] || fail "veto stack, ISC a black hole: the local hash changed"
[ "$(getent shadow "$USER_NAME" | cut -d: -f3)" = 0 ] || fail "veto stack, ISC a black hole: the password is no longer expired"
[ "$(events_since "$MARK" | _grep -c '^set ' || true)" -eq 0 ] || fail "veto stack, ISC a black hole: a set event reached the server"
wait_for_log "event=error user=$USER_NAME .*kind=timeout" 5 || fail "veto stack, ISC a black hole: no timeout error line"
wait_for_log "pam_isc\(sshd:chauthtok\): event=refused user=$USER_NAME phase=prelim reason=unreachable policy=fail" 5 ||
	fail "veto stack, ISC a black hole: no refused line from sshd's preliminary phase"
if _grep -q 'Identity Security Cloud is unreachable' "$TRANSCRIPT"; then
	told=", the person was told ISC is unreachable"
else
	# sshd passes a PAM message of a failed keyboard-interactive round on
	# only in some versions: not required.
	told=", sshd did not pass pam_isc's message on"
fi
log "ok: veto stack, ISC a black hole: the login was refused in $MS ms (< LoginGraceTime ${GRACE}s), the password is unchanged and still expired$told"

assert_no_secret_in "${TRANSCRIPTS[@]}" "$T/pam-auth-update.out" "$T/sshd.log"

# --- sshd down, the host's files untouched ---------------------------------------------
stop_pid "$SSHD_PID" sshd
unmount_all
host_state "${HOST_SSH[@]}" >"$T/host.after"
ls -A /etc/ssh >>"$T/host.after"
assert_host_unchanged "the host's /etc, /etc/ssh or PAM state"
_grep -q "^$USER_NAME:" /etc/passwd && fail "the test user is in the host's /etc/passwd"
log "ok: the host's /etc, /etc/ssh, /var/lib/pam and pam-configs are unchanged"

isc_done
