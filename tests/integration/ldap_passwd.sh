#!/bin/bash
# SPDX-License-Identifier: MIT
# Behind a real directory: a user who lives in LDAP, not in /etc/shadow,
# changes their password with the real setuid /usr/bin/passwd on a
# pseudo-terminal. pam_ldap (libpam-ldapd) changes it in the directory
# through nslcd, with the user's own bind; pam_isc, stacked behind it with
# use_authtok, sends the same password to ISC. The parts are the real ones:
# slapd with the user's entry, nslcd in front of it, libnss-ldapd so that
# the user resolves (passwd, pam_isc and its helper look the user up), and a
# common-password written by the real pam-auth-update from libpam-ldapd's
# profile ("ldap") and pam_isc's (conf/pam-configs/isc).
#
# Checked afterwards: passwd succeeded and said ISC got the password; the
# directory binds the user with the new password and no longer with the
# old one; the ISC test server decrypted exactly the new password, for the
# account of that user (uid=dirk,ou=people,dc=example,dc=com, which is the
# user's DN here too); pam_unix changed nothing.
#
# Isolation: as tests/integration/real_passwd.sh (lib.sh's private mount
# and PID namespaces, copies of /etc and PAM state bound over the
# originals, the host's files compared before and after). slapd runs on a
# port of its own on 127.0.0.1 with its configuration and database under
# $T; nslcd reads the fixed path /etc/nslcd.conf and serves the fixed
# socket /run/nslcd/socket, so both are private: nslcd.conf is written into
# the copy of /etc and /run/nslcd is a private directory (private_run_dir).
# nsswitch.conf in the copy of /etc asks ldap after files. Both daemons are
# started here, their pids recorded, and exactly those stopped at the end.
#
# Passwords: typed on the pty by tests/pty_dialog.exp (see real_passwd.sh);
# slappasswd and ldapwhoami read them from 0600 files under $T (-T, -y),
# never from an argv. Every output (transcripts, the daemons' output,
# syslog, the server's events) is checked for them.
. "$(dirname "$0")/../lib.sh"

# In CI's sanitizer stage the module is instrumented and needs its runtime
# preloaded, which a setuid passwd never does: that stage covers the module
# through pamtester; this test runs in the normal suite.
[ -z "$ISC_TEST_PAMTESTER_PRELOAD" ] ||
	skip "the module is built with a sanitizer runtime that setuid passwd cannot preload"
isc_setup

EXPECT=$(command -v expect || true)
[ -n "$EXPECT" ] || hard_error "expect not found: install the Debian package expect (scripts/install-deps.sh does)"
for tool in slapd slapadd slappasswd ldapwhoami nslcd; do
	command -v "$tool" >/dev/null ||
		PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
		skip "$tool not found: install slapd, ldap-utils and nslcd (scripts/install-deps.sh does)"
done
PATH=$PATH:/usr/sbin
for tool in getent setpriv pam-auth-update sha256sum python3; do
	command -v "$tool" >/dev/null || hard_error "$tool not found"
done
_isc_find_system_module pam_ldap.so >/dev/null ||
	skip "pam_ldap.so not found: install libpam-ldapd (scripts/install-deps.sh does)"
LDAP_PROFILE=/usr/share/pam-configs/ldap
[ -f "$LDAP_PROFILE" ] || skip "$LDAP_PROFILE not found: install libpam-ldapd"
ls /lib/*/libnss_ldap.so.2 /usr/lib/*/libnss_ldap.so.2 >/dev/null 2>&1 ||
	skip "libnss_ldap.so.2 not found: install libnss-ldapd (scripts/install-deps.sh does)"
PASSWD=/usr/bin/passwd
[ -u "$PASSWD" ] && [ "$(stat -c %u "$PASSWD")" = 0 ] || hard_error "$PASSWD is not setuid root"
DIALOG=$top_srcdir/tests/pty_dialog.exp
[ -f "$DIALOG" ] || hard_error "$DIALOG is missing"
PROFILE=$top_srcdir/conf/pam-configs/isc
[ -f "$PROFILE" ] || hard_error "$PROFILE is missing"

# --- the host's files, before; private copies ---------------------------------------
# host_state (tests/lib.sh), and nslcd's configuration and /run, which a
# daemon started here could write to if a mount did not hold.
HOST_EXTRA=(/etc/nslcd.conf /run)
host_state "${HOST_EXTRA[@]}" >"$T/host.before"
[ -s "$T/host.before" ] || hard_error "could not read the host's /etc"
for d in /etc /var/lib/pam /var/cache/debconf /usr/share/pam-configs; do
	bind_copy "$d"
done
empty_tmpfs /home
empty_tmpfs /var/log
[ -d /var/mail ] && empty_tmpfs /var/mail
private_run_dir nslcd

# --- the module, the helper, the ISC stand-in -------------------------------------------
INST=$T/inst
mkdir -m 0755 "$INST"
install -m 0644 "$PAM_ISC_SO" "$INST/pam_isc.so"
install -m 0755 "$PAM_ISC_HELPER" "$INST/pam_isc_helper"
start_server
write_config

# --- the directory: slapd -------------------------------------------------------------------
USER_NAME=dirk
USER_UID=5001
USER_DN="uid=$USER_NAME,ou=people,dc=example,dc=com"
pw0='Dir-initial-pw-4Gz8'
pw1='Dir-changed-by-passwd-6Nq2!'
register_secret "$pw0"
register_secret "$pw1"
LDAP=$T/ldap
mkdir -m 0700 "$LDAP" "$LDAP/db"
# The passwords as files for slappasswd -T and ldapwhoami -y: the whole
# file is the password, so no newline.
(
	umask 077
	printf '%s' "$pw0" >"$LDAP/pw0"
	printf '%s' "$pw1" >"$LDAP/pw1"
)
pw0_hash=$(slappasswd -h '{SSHA}' -T "$LDAP/pw0") || hard_error "slappasswd failed"
case $pw0_hash in '{SSHA}'*) ;; *) hard_error "slappasswd gave no {SSHA} hash" ;; esac

# Only the user may write their password, anyone may bind with it, nobody
# reads it; the rest is readable anonymously, as nslcd looks users up
# without binding.
cat >"$LDAP/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $LDAP/slapd.pid
argsfile $LDAP/slapd.args
database mdb
maxsize 10485760
suffix "dc=example,dc=com"
directory $LDAP/db
access to attrs=userPassword,shadowLastChange
	by self write
	by anonymous auth
	by * none
access to * by * read
EOF
cat >"$LDAP/base.ldif" <<EOF
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: pam_isc test

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: $USER_DN
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: $USER_NAME
cn: Dirk Directory
sn: Directory
uidNumber: $USER_UID
gidNumber: $USER_UID
homeDirectory: /home/$USER_NAME
loginShell: /bin/sh
userPassword: $pw0_hash

dn: cn=$USER_NAME,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: $USER_NAME
gidNumber: $USER_UID
EOF
slapadd -f "$LDAP/slapd.conf" -l "$LDAP/base.ldif" >"$LDAP/slapadd.out" 2>&1 ||
	hard_error "slapadd failed: $(tail -n 5 "$LDAP/slapadd.out")"

# A free port: the kernel picks one, slapd takes it (another process could
# take it in between: three tries).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# ldap_whoami PASSWORD_FILE: bind as the user with that file's password.
ldap_whoami() {
	timeout 10 ldapwhoami -x -o nettimeout=5 -H "$LDAP_URI" -D "$USER_DN" -y "$1"
}
SLAPD_PID=
for try in 1 2 3; do
	LDAP_PORT=$(free_port) || hard_error "no free port"
	LDAP_URI=ldap://127.0.0.1:$LDAP_PORT/
	# -d 0: in the foreground (our pid to stop), its log to its stderr.
	slapd -d 0 -f "$LDAP/slapd.conf" -h "$LDAP_URI" >"$T/slapd.out" 2>&1 &
	SLAPD_PID=$!
	_isc_pids+=("$SLAPD_PID")
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SLAPD_PID" 2>/dev/null || break
		timeout 5 ldapwhoami -x -o nettimeout=2 -H "$LDAP_URI" >/dev/null 2>&1 && break 2
		sleep 0.1
	done
	kill "$SLAPD_PID" 2>/dev/null || true
	wait "$SLAPD_PID" 2>/dev/null || true
	log "slapd on port $LDAP_PORT did not come up (try $try): $(tail -n 3 "$T/slapd.out" | oneline)"
	SLAPD_PID=
done
[ -n "$SLAPD_PID" ] || hard_error "slapd did not come up"
ldap_whoami "$LDAP/pw0" >"$T/whoami0.out" 2>&1 ||
	hard_error "the directory does not bind $USER_DN with the initial password: $(oneline <"$T/whoami0.out")"
log "ok: slapd (pid $SLAPD_PID) on $LDAP_URI binds $USER_DN with the initial password"

# --- nslcd, NSS and the PAM stack in the copy of /etc ---------------------------------------
# nslcd's own configuration, as an administrator writes it: the directory
# and the base; it drops to the nslcd user as the package's does.
cat >/etc/nslcd.conf <<EOF
# written by tests/integration/ldap_passwd.sh in its private copy of /etc
uid nslcd
gid nslcd
uri $LDAP_URI
base dc=example,dc=com
EOF
chmod 0640 /etc/nslcd.conf
chgrp nslcd /etc/nslcd.conf 2>/dev/null || true
sed -i -E 's/^(passwd|group|shadow):.*/\1:\tfiles ldap/' /etc/nsswitch.conf
[ "$(_grep -cE '^(passwd|group|shadow):	files ldap$' /etc/nsswitch.conf)" -eq 3 ] ||
	hard_error "could not write passwd, group and shadow into the copy of /etc/nsswitch.conf"
# nslcd creates its socket after dropping to its user, as the package's
# tmpfiles/init script arrange: the private /run/nslcd is its.
chown nslcd:nslcd /run/nslcd || hard_error "cannot give /run/nslcd to the nslcd user"
# -n: no fork (our pid to stop); it logs to syslog, the test's listener.
nslcd -n >"$T/nslcd.out" 2>&1 &
NSLCD_PID=$!
_isc_pids+=("$NSLCD_PID")
for ((i = 0; i < 100; i++)); do
	kill -0 "$NSLCD_PID" 2>/dev/null || hard_error "nslcd exited: $(oneline <"$T/nslcd.out")"
	[ "$(getent passwd "$USER_NAME" | cut -d: -f3)" = "$USER_UID" ] && break
	sleep 0.1
done
[ "$(getent passwd "$USER_NAME" | cut -d: -f3)" = "$USER_UID" ] ||
	hard_error "$USER_NAME does not resolve through nslcd within 10 s: $(oneline <"$T/nslcd.out")"
_grep -q "^$USER_NAME:" /etc/passwd /etc/shadow && hard_error "$USER_NAME is a local user"
[ "$(getent shadow "$USER_NAME" | cut -d: -f1)" = "$USER_NAME" ] ||
	hard_error "$USER_NAME has no shadow entry through nslcd"
log "ok: nslcd (pid $NSLCD_PID) resolves $USER_NAME (uid $USER_UID) from the directory"

# The two profiles, enabled by the real pam-auth-update: libpam-ldapd's as
# the package ships it, pam_isc's with the test's paths.
sed "s#pam_isc\\.so#$INST/pam_isc.so config=$ISC_CONF helper=$INST/pam_isc_helper#" \
	"$PROFILE" >/usr/share/pam-configs/isc
chmod 0644 /usr/share/pam-configs/isc
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable ldap isc >"$T/pam-auth-update.out" 2>&1 ||
	hard_error "pam-auth-update --enable ldap isc failed: $(cat "$T/pam-auth-update.out")"
CP=/etc/pam.d/common-password
line_of() { _grep -nE "$1" "$CP" | head -n 1 | cut -d: -f1; }
unix_at=$(line_of '^password.*pam_unix\.so')
ldap_at=$(line_of '^password.*pam_ldap\.so')
add_at=$(line_of 'the "Additional" block')
isc_at=$(line_of "^password[[:space:]]+optional[[:space:]]+$(re_escape "$INST/pam_isc.so") .*use_authtok$")
[ -n "$unix_at" ] && [ -n "$ldap_at" ] && [ -n "$add_at" ] && [ -n "$isc_at" ] ||
	fail "pam-auth-update's $CP lacks pam_unix, pam_ldap or pam_isc: $(_grep -E '^password' "$CP" | oneline)"
[ "$ldap_at" -lt "$add_at" ] && [ "$add_at" -lt "$isc_at" ] ||
	fail "pam_isc is not after pam_ldap in the Additional block (ldap $ldap_at, block $add_at, isc $isc_at)"
# The stack, for the log: pam_unix and pam_ldap in the primary block (a
# success of either jumps over pam_deny), pam_isc after.
_grep -E '^password' "$CP" | sed "s#$INST/##; s# config=[^ ]* helper=[^ ]*##" >"$T/stack"
log "ok: common-password by pam-auth-update: $(tr '\t' ' ' <"$T/stack" | tr -s ' ' | oneline)"
# The example shipped for this stack is what pam-auth-update wrote.
SNIPPET=$top_srcdir/conf/pam.d-common-password-ldap-snippet
[ -f "$SNIPPET" ] || hard_error "$SNIPPET is missing"
_grep -E '^password' "$SNIPPET" | tr -s ' \t' ' ' >"$T/snippet.stack"
tr -s ' \t' ' ' <"$T/stack" | cmp -s - "$T/snippet.stack" ||
	fail "${SNIPPET#"$top_srcdir"/} differs from the stack pam-auth-update wrote: $(tr -s ' \t' ' ' <"$T/stack" | oneline)"

# --- the user changes the password with the real setuid passwd ------------------------------
# ldap_passwd NAME OLD NEW: the user runs passwd on a pty (tests/pty_dialog.exp),
# pam_ldap asking for the current password, then the new one twice. The
# transcript in TRANSCRIPT ($T/NAME.pty), the exit status in RC, MARK the
# server's events mark before.
TRANSCRIPTS=()
ldap_passwd() {
	TRANSCRIPT=$T/$1.pty
	TRANSCRIPTS+=("$TRANSCRIPT")
	MARK=$(events_mark)
	RC=0
	printf '%s\n' 'current. LDAP Password:' "S:$2" 'New password:' "S:$3" 'Retype new password:' "S:$3" |
		timeout 180 "$EXPECT" -f "$DIALOG" -- \
			setpriv --reuid="$USER_UID" --regid="$USER_UID" --init-groups --reset-env "$PASSWD" \
			>"$TRANSCRIPT" 2>&1 || RC=$?
}
transcript() { tr -d '\r' <"$TRANSCRIPT" | _isc_redact | tail -n 20 | oneline; }
ldap_passwd passwd "$pw0" "$pw1"
[ "$RC" -eq 0 ] || fail "passwd as $USER_NAME exited $RC: $(transcript)"
_grep -q 'password updated successfully' "$TRANSCRIPT" || fail "passwd did not report success: $(transcript)"
_grep -q 'New password sent to Identity Security Cloud' "$TRANSCRIPT" ||
	fail "passwd showed no pam_isc message: $(transcript)"
log "ok: setuid passwd as uid $USER_UID (an LDAP user) succeeded"

# The directory has the new password, and only that.
ldap_whoami "$LDAP/pw1" >"$T/whoami1.out" 2>&1 ||
	fail "the directory does not bind $USER_DN with the new password: $(oneline <"$T/whoami1.out")"
_grep -qx "dn:$USER_DN" "$T/whoami1.out" || fail "ldapwhoami: $(oneline <"$T/whoami1.out")"
rc=0
ldap_whoami "$LDAP/pw0" >"$T/whoami0-after.out" 2>&1 || rc=$?
[ "$rc" -eq 49 ] ||
	fail "binding with the old password gave $rc, not 49 (invalid credentials): $(oneline <"$T/whoami0-after.out")"
log "ok: the directory binds $USER_DN with the new password, not with the old one"

# ISC got exactly that password, for the user's account.
assert_sent "$USER_NAME" "$pw1" "$MARK" passwd
got=$(field account <<<"$SET_LINE")
[ "$got" = "$USER_DN" ] || fail "the password was set on account '$got', not '$USER_DN'"
REQ=$(field request <<<"$SET_LINE")
[ -n "$REQ" ] && [ "$REQ" != null ] || fail "set event without a request id"
wait_for_log "pam_isc\[[0-9]+\]: event=accepted user=$USER_NAME request=$REQ state=IN_PROGRESS .*account=\"?$(re_escape "$USER_DN")\"?" 10 ||
	fail "no accepted line for request $REQ"
# An ordinary user's change leaves its follow-up to the per-host service
# or the flush timer (real_passwd.sh): run the timer's command. The
# follower looks the user up through NSS, that is nslcd, too.
"$top_builddir/pam_isc_ctl" --config "$ISC_CONF" --helper "$INST/pam_isc_helper" flush \
	>"$T/flush.out" 2>&1 || fail "pam_isc_ctl flush: $(oneline <"$T/flush.out")"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=$USER_NAME request=$REQ state=FINISHED" 30 ||
	fail "no final line for request $REQ"
log "ok: ISC decrypted the new password for account $USER_DN (request $REQ, FINISHED)"

# pam_ldap made the change, pam_unix none (the user is not in its files).
assert_no_log "pam_unix\(passwd:chauthtok\): password changed for $USER_NAME"
_grep -q "^$USER_NAME:" /etc/shadow && fail "$USER_NAME appeared in the copy of /etc/shadow"
[ "$(count_events '^set ')" -eq 1 ] || fail "$(count_events '^set ') set events, not 1"

# --- ISC refuses: the directory's change stands, the user is told ----------------------------
# In this stack (the profile's "optional", after the directory's change)
# pam_isc cannot undo what pam_ldap did: passwd succeeds, and says that
# ISC refused, so the user knows the two now differ.
pw2='Dir-second-change-8Hv5#'
register_secret "$pw2"
(umask 077 && printf '%s' "$pw2" >"$LDAP/pw2")
server_control '{"set_state": "FAILED"}'
ldap_passwd refused "$pw1" "$pw2"
[ "$RC" -eq 0 ] || fail "refused: passwd exited $RC: $(transcript)"
_grep -q 'password updated successfully' "$TRANSCRIPT" || fail "refused: passwd did not report success: $(transcript)"
_grep -q 'Identity Security Cloud did not accept the new password' "$TRANSCRIPT" ||
	fail "refused: passwd did not say ISC refused: $(transcript)"
ldap_whoami "$LDAP/pw2" >"$T/whoami2.out" 2>&1 ||
	fail "refused: the directory does not bind with the new password: $(oneline <"$T/whoami2.out")"
events_since "$MARK" | _grep -qE "^set user=$USER_NAME .*decrypted_sha256=$(sha256_of "$pw2") .*state=FAILED" ||
	fail "refused: the server saw no refused set-password of the new password"
wait_for_log "pam_isc\[[0-9]+\]: event=final user=$USER_NAME .*state=FAILED" 10 ||
	fail "refused: no FAILED line"
server_control '{"set_state": "IN_PROGRESS"}'
log "ok: ISC refused: the directory has the new password, passwd said ISC refused it"

assert_no_secret_in "${TRANSCRIPTS[@]}" "$T/whoami2.out" "$T/pam-auth-update.out" "$T/flush.out" "$T/slapd.out" "$T/nslcd.out" "$LDAP/slapadd.out" \
	"$T/whoami0.out" "$T/whoami1.out" "$T/whoami0-after.out"

# --- stop the daemons, then the host's files ------------------------------------------------
stop_pid "$NSLCD_PID" nslcd
stop_pid "$SLAPD_PID" slapd
unmount_all
host_state "${HOST_EXTRA[@]}" >"$T/host.after"
assert_host_unchanged "the host's /etc, /run or PAM state"
log "ok: the host's /etc, /run, /var/lib/pam and pam-configs are unchanged"

isc_done
