#!/bin/bash
# SPDX-License-Identifier: MIT
# The real thing, no pam_wrapper: an ordinary user changes their password
# with the real setuid /usr/bin/passwd on a pseudo-terminal, root then sets it
# with chpasswd, and the user changes an expired password at login through
# su. The system's own Linux-PAM reads a copy of /etc in which the
# pam-auth-update profile conf/pam-configs/isc was enabled by the real
# pam-auth-update, so pam_isc sits in common-password exactly where the
# Debian package puts it (the Additional block, after pam_unix, use_authtok).
# Last, common-password is replaced by conf/pam.d-common-password-veto-snippet
# and passwd is run twice more: ISC refusing must leave the local password
# as it was, ISC accepting must change both.
#
# Isolation: lib.sh already runs us in a private mount (and PID) namespace
# with a private /dev. On top of that, copies of /etc, /var/lib/pam,
# /var/cache/debconf and /usr/share/pam-configs are bind-mounted over the
# originals, and empty tmpfs over /home, /var/log and /var/mail, so that
# useradd, chpasswd, passwd, chage, su and pam-auth-update write only to
# copies that vanish with the test. The host's real files are checksummed
# before and compared after (with our mounts taken down).
#
# Passwords: typed on the pty by tests/pty_dialog.exp, which reads the dialog
# on its stdin (a pipe from bash's printf builtin): never in the argv or the
# environment of passwd, chpasswd or su; chpasswd gets "user:password" on
# stdin. The transcripts are checked for leaks like every other output.
. "$(dirname "$0")/../lib.sh"

# In CI's sanitizer stage the module is instrumented and needs its runtime
# preloaded, which a setuid passwd never does: that stage covers the module
# through pamtester; this test runs in the normal suite.
[ -z "$ISC_TEST_PAMTESTER_PRELOAD" ] ||
	skip "the module is built with a sanitizer runtime that setuid passwd cannot preload"
isc_setup

EXPECT=$(command -v expect || true)
[ -n "$EXPECT" ] || hard_error "expect not found: install the Debian package expect (scripts/install-deps.sh does)"
for tool in useradd chpasswd chage getent setpriv su perl pam-auth-update sha256sum; do
	command -v "$tool" >/dev/null || hard_error "$tool not found"
done
PASSWD=/usr/bin/passwd
[ -u "$PASSWD" ] && [ "$(stat -c %u "$PASSWD")" = 0 ] || hard_error "$PASSWD is not setuid root"
DIALOG=$top_srcdir/tests/pty_dialog.exp
[ -f "$DIALOG" ] || hard_error "$DIALOG is missing"
PROFILE=$top_srcdir/conf/pam-configs/isc
[ -f "$PROFILE" ] || hard_error "$PROFILE is missing"

# --- the host's files, before ---------------------------------------------------
# host_state (tests/lib.sh): the account databases, the PAM configuration and
# pam-auth-update's state. (debconf's database is bound over too, but not
# compared: any package installed on the host meanwhile changes it.)
HOST_DIRS=(/etc /var/lib/pam /var/cache/debconf /usr/share/pam-configs)
host_state >"$T/host.before"
[ -s "$T/host.before" ] || hard_error "could not read the host's /etc"

# --- private copies (tests/lib.sh) ---------------------------------------------
for d in "${HOST_DIRS[@]}"; do
	bind_copy "$d"
done
empty_tmpfs /home
empty_tmpfs /var/log
[ -d /var/mail ] && empty_tmpfs /var/mail

# --- the module, the helper and the profile ----------------------------------------
INST=$T/inst
mkdir -m 0755 "$INST"
install -m 0644 "$PAM_ISC_SO" "$INST/pam_isc.so"
install -m 0755 "$PAM_ISC_HELPER" "$INST/pam_isc_helper"

start_server
# The default helper_linger (tests/lib.sh sets 0 for the other tests): the
# helper of an ordinary user's passwd leaves nothing behind (1.), the helper
# of root's chpasswd leaves the per-host service (2.).
write_config '!helper_linger'

# The profile as shipped, with the module's absolute path and the test's
# config and helper: the only difference from the packaged one.
sed "s#pam_isc\\.so#$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper#" \
	"$PROFILE" >/usr/share/pam-configs/isc
chmod 0644 /usr/share/pam-configs/isc

# --- the users -----------------------------------------------------------------
USER_NAME=pwisc1
CALLER=pwcaller1
useradd -l -m -s /bin/sh -c 'pam_isc real passwd test' "$USER_NAME" ||
	hard_error "useradd $USER_NAME failed"
useradd -l -M -s /bin/sh -c 'pam_isc su caller' "$CALLER" || hard_error "useradd $CALLER failed"
USER_UID=$(id -u "$USER_NAME")
USER_GID=$(id -g "$USER_NAME")
CALLER_UID=$(id -u "$CALLER")
CALLER_GID=$(id -g "$CALLER")
[ "$USER_UID" -ge 1000 ] || hard_error "useradd gave $USER_NAME uid $USER_UID, below min_uid"
_grep -q "^$USER_NAME:" "$T/copy_etc/shadow" || hard_error "useradd did not write the copy of /etc/shadow"

pw0='Initial-local-pw-7Hq2'
pw1='Passwd-changed-3Kx9!z'
pw2='Chpasswd-set-8Wm4#r'
pw3='Expired-at-su-5Tn6&v'
for pw in "$pw0" "$pw1" "$pw2" "$pw3"; do
	register_secret "$pw"
done

# The local password, set before pam_isc is in the stack (chpasswd goes
# through common-password too).
printf '%s:%s\n' "$USER_NAME" "$pw0" | chpasswd || hard_error "chpasswd (initial password) failed"
[ "$(count_events '^set ')" -eq 0 ] || fail "a password reached ISC before pam_isc was enabled"

shadow_hash() { getent shadow "$1" | cut -d: -f2; }
# hash_is USER PASSWORD: the local hash is the one of PASSWORD (perl's crypt is
# libcrypt's, which knows yescrypt); password and hash go over stdin.
hash_is() {
	local hash
	hash=$(shadow_hash "$1")
	[ -n "$hash" ] || return 1
	printf '%s\n%s\n' "$2" "$hash" |
		perl -e 'chomp(my $p = <STDIN>); chomp(my $h = <STDIN>); exit(crypt($p, $h) eq $h ? 0 : 1)'
}
hash_is "$USER_NAME" "$pw0" || hard_error "the initial local password did not take"

# --- enable the profile with the real pam-auth-update ----------------------------------
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable isc >"$T/pam-auth-update.out" 2>&1 ||
	hard_error "pam-auth-update --enable isc failed: $(cat "$T/pam-auth-update.out")"
CP=/etc/pam.d/common-password
want_line="password	optional	$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper use_authtok"
isc_at=$(_grep -nF -x -- "$want_line" "$CP" | cut -d: -f1 || true)
[ -n "$isc_at" ] || fail "pam-auth-update did not write the profile's line into $CP: $(_grep -n pam_isc "$CP")"
[ "$(_grep -c pam_isc "$CP")" -eq 1 ] || fail "pam_isc appears more than once in $CP"
unix_at=$(_grep -nE '^password.*pam_unix\.so' "$CP" | head -n 1 | cut -d: -f1 || true)
add_at=$(_grep -n 'the "Additional" block' "$CP" | cut -d: -f1 || true)
[ -n "$unix_at" ] && [ -n "$add_at" ] || fail "$CP has no pam_unix line or no Additional block"
[ "$unix_at" -lt "$add_at" ] && [ "$add_at" -lt "$isc_at" ] ||
	fail "pam_isc is not in the Additional block after pam_unix (unix $unix_at, block $add_at, isc $isc_at)"
_grep -q '^isc$' /var/lib/pam/seen || fail "pam-auth-update did not record the profile in /var/lib/pam/seen"
log "ok: pam-auth-update put pam_isc at line $isc_at of common-password, after pam_unix (line $unix_at)"

dn() { printf 'uid=%s,ou=people,dc=example,dc=com' "$1"; }

declare -A FINAL_WANTED=() # request id -> what
# synced_to_isc MARK PASSWORD WHAT: since MARK the server decrypted exactly
# PASSWORD for the user's account, once; the helper logged the acceptance.
synced_to_isc() {
	local mark=$1 pw=$2 what=$3 got req
	assert_sent "$USER_NAME" "$pw" "$mark" "$what"
	got=$(field account <<<"$SET_LINE")
	[ "$got" = "$(dn "$USER_NAME")" ] || fail "$what: set on account '$got', not '$(dn "$USER_NAME")'"
	req=$(field request <<<"$SET_LINE")
	[ -n "$req" ] && [ "$req" != null ] || fail "$what: set event without a request id"
	wait_for_log "pam_isc\[[0-9]+\]: event=accepted user=$USER_NAME request=$req state=IN_PROGRESS " 10 ||
		fail "$what: no accepted line for request $req"
	FINAL_WANTED[$req]=$what
	LAST_REQUEST=$req
}

# run_dialog TRANSCRIPT COMMAND...: pty_dialog.exp with the dialog on stdin.
run_dialog() {
	local out=$1
	shift
	timeout 180 "$EXPECT" -f "$DIALOG" -- "$@" >"$out" 2>&1
}
# The transcript, less any line that would show a password, for a message.
transcript() { tr -d '\r' <"$1" | _isc_redact | tail -n 20; }

# pty_change NAME DIALOG_LINE... -- COMMAND...: COMMAND on a pseudo-terminal
# with that dialog (run_dialog; the lines, passwords among them, reach expect
# through printf, a builtin, never an argv). The transcript in TRANSCRIPT
# ($T/NAME.pty, kept in TRANSCRIPTS for the leak check), the exit status in
# RC; MARK and HASH_BEFORE are the server's events mark and the user's local
# hash before it.
pty_change() {
	local name=$1 dialog=()
	shift
	while [ "$1" != -- ]; do
		dialog+=("$1")
		shift
	done
	shift
	TRANSCRIPT=$T/$name.pty
	HASH_BEFORE=$(shadow_hash "$USER_NAME")
	MARK=$(events_mark)
	RC=0
	printf '%s\n' "${dialog[@]}" | run_dialog "$TRANSCRIPT" "$@" || RC=$?
	TRANSCRIPTS+=("$TRANSCRIPT")
}

# hash_changed_to WHAT PASSWORD: the user's local hash is no longer
# HASH_BEFORE, and is PASSWORD's.
hash_changed_to() {
	[ "$(shadow_hash "$USER_NAME")" != "$HASH_BEFORE" ] || fail "$1: the local hash did not change"
	hash_is "$USER_NAME" "$2" || fail "$1: the local hash is not the new password's"
}

as_user=(setpriv --reuid="$USER_UID" --regid="$USER_GID" --init-groups --reset-env)
as_caller=(setpriv --reuid="$CALLER_UID" --regid="$CALLER_GID" --init-groups --reset-env)
TRANSCRIPTS=()

# --- 1. the user runs the real setuid passwd --------------------------------------
pty_change passwd 'Current password:' "S:$pw0" 'New password:' "S:$pw1" 'Retype new password:' "S:$pw1" \
	-- "${as_user[@]}" "$PASSWD"
[ "$RC" -eq 0 ] || fail "passwd as $USER_NAME exited $RC: $(transcript "$TRANSCRIPT")"
_grep -q 'password updated successfully' "$TRANSCRIPT" ||
	fail "passwd did not report success: $(transcript "$TRANSCRIPT")"
_grep -q 'New password sent to Identity Security Cloud' "$TRANSCRIPT" ||
	fail "passwd showed no pam_isc message: $(transcript "$TRANSCRIPT")"
hash_changed_to passwd "$pw1"
synced_to_isc "$MARK" "$pw1" passwd
wait_for_log "pam_unix\(passwd:chauthtok\): password changed for $USER_NAME" 5 ||
	fail "no pam_unix line for the passwd change"
assert_log "pam_isc\[[0-9]+\]: event=accepted user=$USER_NAME request=$LAST_REQUEST .*account=\"?$(re_escape "$(dn "$USER_NAME")")\"?"
log "ok: setuid passwd as uid $USER_UID changed the local hash and ISC got the new password (request $LAST_REQUEST)"
# An ordinary user's passwd leaves nothing long-lived behind (helper_linger
# is the default): a service started from here would keep that user's
# context (limits, nice value, ...) for everyone's changes.
sleep 0.5
[ -z "$(pgrep -f '^pam_isc_helper (chauthtok|serve)' || true)" ] ||
	fail "a helper or service is left running after an ordinary user's passwd: $(pgrep -af '^pam_isc_helper' || true)"

# --- 2. root sets it with chpasswd ----------------------------------------------
HASH_BEFORE=$(shadow_hash "$USER_NAME")
mark=$(events_mark)
rc=0
printf '%s:%s\n' "$USER_NAME" "$pw2" | chpasswd >"$T/chpasswd.out" 2>&1 || rc=$?
TRANSCRIPTS+=("$T/chpasswd.out")
[ "$rc" -eq 0 ] || fail "chpasswd exited $rc: $(transcript "$T/chpasswd.out")"
hash_changed_to chpasswd "$pw2"
synced_to_isc "$mark" "$pw2" chpasswd
wait_for_log "pam_unix\(chpasswd:chauthtok\): password changed for $USER_NAME" 5 ||
	fail "no pam_unix line for the chpasswd change"
# root in the host's context: its helper leaves the per-host service behind.
for ((i = 0; i < 40; i++)); do
	service=$(pgrep -n -f '^pam_isc_helper serve' || true)
	[ -n "$service" ] && break
	sleep 0.05
done
[ -n "$service" ] || fail "no per-host service after root's chpasswd (helper_linger is the default)"
[ "$(stat -c %u "/proc/$service")" = 0 ] || fail "the service does not run as root"
[ "$(readlink "/proc/$service/cwd")" = / ] ||
	fail "the service keeps chpasswd's directory: $(readlink "/proc/$service/cwd")"
log "ok: chpasswd changed the local hash and ISC got the new password (request $LAST_REQUEST); its helper left the per-host service"

# --- 3. an expired password, changed at login through su ---------------------------
# chage -d 0: the password must be changed at the next login. An ordinary user
# (so that su really authenticates) runs `su - USER`; su authenticates with the
# current password, pam_unix's account check says the password has expired,
# and su has it changed (PAM_CHANGE_EXPIRED_AUTHTOK) before the session.
chage -d 0 "$USER_NAME" || hard_error "chage -d 0 failed"
[ "$(getent shadow "$USER_NAME" | cut -d: -f3)" = 0 ] || hard_error "chage -d 0 did not expire the password"
pty_change su 'Password:' "S:$pw2" 'Current password:' "S:$pw2" 'New password:' "S:$pw3" \
	'Retype new password:' "S:$pw3" \
	-- "${as_caller[@]}" su - "$USER_NAME" -c 'echo "logged in as $(id -un)"'
[ "$RC" -eq 0 ] || fail "su - $USER_NAME (as $CALLER) exited $RC: $(transcript "$TRANSCRIPT")"
_grep -qi 'change your password' "$TRANSCRIPT" ||
	fail "su did not say the password had to be changed: $(transcript "$TRANSCRIPT")"
_grep -q "logged in as $USER_NAME" "$TRANSCRIPT" ||
	fail "su did not start the session after the change: $(transcript "$TRANSCRIPT")"
hash_changed_to su "$pw3"
[ "$(getent shadow "$USER_NAME" | cut -d: -f3)" != 0 ] || fail "su: the password is still marked expired"
synced_to_isc "$MARK" "$pw3" su-expired
wait_for_log "pam_unix\(su-l:chauthtok\): password changed for $USER_NAME" 5 ||
	fail "no pam_unix line for the su change"
log "ok: the expired password changed at su login reached ISC (request $LAST_REQUEST)"

# --- 4. the veto stack: conf/pam.d-common-password-veto-snippet ---------------------
# pam_isc first, requisite; pam_unix sets the same password only if ISC took
# it. The snippet's lines, with the test's paths, replace common-password.
# (With the failure-policy keys of the module, the snippet asks for
# on_error = fail and prelim_check = yes: set when this build knows them.)
VETO=$top_srcdir/conf/pam.d-common-password-veto-snippet
[ -f "$VETO" ] || hard_error "$VETO is missing"
if _grep -q '"on_error"' "$top_srcdir/src/common/config.c" && _grep -q '"prelim_check"' "$top_srcdir/src/common/config.c"; then
	write_config 'on_error = fail' 'prelim_check = yes'
fi
_grep -E '^password' "$VETO" |
	sed "s#pam_isc\.so#$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper#" >"$CP.veto"
[ "$(_grep -c pam_isc "$CP.veto")" -eq 1 ] && [ "$(_grep -c pam_unix "$CP.veto")" -eq 1 ] ||
	hard_error "the veto snippet does not have one pam_isc and one pam_unix line"
mv "$CP.veto" "$CP"
chage -d "$(($(date +%s) / 86400))" "$USER_NAME" # not expired, changed today
pw4='Vetoed-by-ISC-2Fp8*k'
pw5='Veto-stack-ok-9Rb3@w'
register_secret "$pw4"
register_secret "$pw5"

# ISC refuses (set-password answers FAILED): the local password stays.
server_control '{"set_state": "FAILED"}'
unix_re="pam_unix\\(passwd:chauthtok\\): password changed for $USER_NAME"
n_unix=$(count_log "$unix_re")
pty_change veto-refused 'Current password:' "S:$pw3" 'New password:' "S:$pw4" 'Retype new password:' "S:$pw4" \
	-- "${as_user[@]}" "$PASSWD"
[ "$RC" -ne 0 ] || fail "veto stack: passwd succeeded although ISC refused: $(transcript "$TRANSCRIPT")"
_grep -q 'Identity Security Cloud refused the new password' "$TRANSCRIPT" ||
	fail "veto stack: passwd did not say ISC refused: $(transcript "$TRANSCRIPT")"
[ "$(shadow_hash "$USER_NAME")" = "$HASH_BEFORE" ] || fail "veto stack: the local hash changed although ISC refused"
hash_is "$USER_NAME" "$pw3" || fail "veto stack: the local password is no longer the previous one"
events_since "$MARK" | _grep -qE "^set user=$USER_NAME .*state=FAILED" ||
	fail "veto stack: the server saw no refused set-password"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=$USER_NAME .*state=FAILED" 10 ||
	fail "veto stack: no FAILED line"
[ "$(count_log "$unix_re")" -eq "$n_unix" ] || fail "veto stack: pam_unix logged a change although ISC refused"
log "ok: veto stack: ISC refused, passwd failed, the local password is unchanged"

# ISC accepts: both change, to the same password.
server_control '{"set_state": "IN_PROGRESS"}'
pty_change veto-ok 'Current password:' "S:$pw3" 'New password:' "S:$pw5" 'Retype new password:' "S:$pw5" \
	-- "${as_user[@]}" "$PASSWD"
[ "$RC" -eq 0 ] || fail "veto stack: passwd exited $RC: $(transcript "$TRANSCRIPT")"
hash_changed_to "veto stack" "$pw5"
synced_to_isc "$MARK" "$pw5" veto-passwd
wait_for_log "$unix_re" 5 $((n_unix + 1)) || fail "veto stack: no pam_unix line for the change"
log "ok: veto stack: ISC accepted first, then pam_unix set the same password (request $LAST_REQUEST)"

# --- the follower reports each change's final state -----------------------------------
# A change made by an ordinary user's passwd while no per-host service runs
# leaves its follow-up to the service or to the flush timer, whose command
# starts the follower: run it, as the timer would.
"$top_builddir/pam_isc_ctl" --config "$ISC_CONF" --helper "$INST/pam_isc_helper" flush \
	>"$T/flush.out" 2>&1 || fail "pam_isc_ctl flush: $(cat "$T/flush.out")"
for req in "${!FINAL_WANTED[@]}"; do
	wait_for_log "pam_isc\[[0-9]+\]: event=final user=$USER_NAME request=$req state=FINISHED" 30 ||
		fail "no final line for the ${FINAL_WANTED[$req]} change (request $req)"
done
assert_authpriv 'pam_isc\[[0-9]+\]: event='
# Nothing but the five changes (one refused) reached ISC.
[ "$(count_events '^set ')" -eq 5 ] || fail "$(count_events '^set ') set events, not 5"

assert_no_secret_in "${TRANSCRIPTS[@]}" "$T/pam-auth-update.out"

# --- the host's files are untouched ---------------------------------------------------
unmount_all
host_state >"$T/host.after"
assert_host_unchanged "the host's /etc or PAM state"
_grep -q "^$USER_NAME:" /etc/passwd && fail "the test user is in the host's /etc/passwd"
log "ok: the host's /etc, /var/lib/pam, debconf and pam-configs are unchanged"

isc_done
