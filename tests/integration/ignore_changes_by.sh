#!/bin/bash
# SPDX-License-Identifier: MIT
# ignore_changes_by: a change made in a session whose audit login uid
# (/proc/self/loginuid) is that of a listed account (ISC's connector,
# setting a password ISC sent) is made locally only: pam_isc returns
# PAM_IGNORE in both phases, starts no helper, asks ISC nothing, queues
# nothing, and logs event=skipped reason=ignore_changes_by. The same change
# from a session of another login uid, or of none, is sent.
#
# The test sets the login uid of its pamtester (so of the PAM process) with
# a wrapper that writes /proc/self/loginuid before it execs pamtester: root
# may set it while the kernel's loginuid_immutable is off.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server

# The connector's account: one of the test users (tests/lib.sh), by name and
# by uid. The person whose password changes: alice.
SVC_NAME=user5
SVC_UID=2005
OTHER_UID=2004 # user4, not listed
UNSET=4294967295

# The wrapper: LOGINUID COMMAND... (CI's own pamtester wrapper, valgrind,
# comes after it).
cat >"$T/loginuid-wrapper" <<'EOF'
#!/bin/sh
# written by tests/integration/ignore_changes_by.sh
printf '%s' "$1" >/proc/self/loginuid || exit 97
shift
exec "$@"
EOF
chmod 0755 "$T/loginuid-wrapper"
CI_PAMTESTER_WRAPPER=$ISC_TEST_PAMTESTER_WRAPPER

# Can this machine set a login uid (audit support, CAP_AUDIT_CONTROL, not
# immutable)? Each value the test uses, the unset one included, each in a
# child of its own as in the changes below.
for uid in "$SVC_UID" "$OTHER_UID" "$UNSET"; do
	got=$("$T/loginuid-wrapper" "$uid" cat /proc/self/loginuid 2>/dev/null) ||
		skip "cannot set the audit login uid to $uid (/proc/self/loginuid: no audit support in the kernel, no CAP_AUDIT_CONTROL, or loginuid_immutable)"
	[ "$got" = "$uid" ] || skip "the audit login uid set to $uid reads back as '$got'"
done

# A helper that counts its starts, then runs the real one (or CI's wrapper).
cat >"$T/counting-helper" <<EOF
#!/bin/sh
# written by tests/integration/ignore_changes_by.sh
echo start >>"$T/helper-starts"
exec $(helper_path) "\$@"
EOF
chmod 0755 "$T/counting-helper"
: >"$T/helper-starts"

# The stack of the Debian profile: the local change first (pam_matrix keeps
# its password database in $T/passdb), then pam_isc with use_authtok, here
# required, so that anything but PAM_IGNORE or PAM_SUCCESS from it would fail
# the change.
SVC=isc_sync
pam_service "$SVC" \
	"password required $PAM_MATRIX passdb=$T/passdb" \
	"password required $PAM_ISC_SO config=$T/pam_isc.conf helper=$T/counting-helper debug use_authtok"
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"

N=0
# change LOGINUID USER: change USER's password from a session with that
# login uid; the local change must succeed. Sets NEW_PW, MARK, STARTS0 and
# LOG0 (the syslog line count before).
change() {
	local loginuid=$1 user=$2 old_pw rc=0
	N=$((N + 1))
	old_pw="Old-password-$N-$RANDOM"
	NEW_PW="New-password-$N-$RANDOM"
	register_secret "$old_pw"
	register_secret "$NEW_PW"
	(umask 077 && printf '%s:%s:%s\n' "$user" "$old_pw" "$SVC" >"$T/passdb")
	MARK=$(events_mark)
	STARTS0=$(wc -l <"$T/helper-starts")
	LOG0=$(wc -l <"$SYSLOG")
	ISC_TEST_PAMTESTER_WRAPPER="$T/loginuid-wrapper $loginuid${CI_PAMTESTER_WRAPPER:+ $CI_PAMTESTER_WRAPPER}"
	printf '%s\n%s\n%s\n' "$old_pw" "$NEW_PW" "$NEW_PW" | run_pamtester_in "$user" "$SVC" || rc=$?
	ISC_TEST_PAMTESTER_WRAPPER=$CI_PAMTESTER_WRAPPER
	[ "$rc" -ne 97 ] || fail "the wrapper could not set the login uid $loginuid"
	[ "$rc" -eq 0 ] || fail "change of $user with login uid $loginuid: pamtester exited $rc"
	# The local change went through.
	_grep -qF "$user:$NEW_PW:" "$T/passdb" ||
		fail "change of $user with login uid $loginuid: the local password was not changed"
}

# log_since PATTERN: syslog lines matching PATTERN written since LOG0.
log_since() { tail -n "+$((LOG0 + 1))" "$SYSLOG" | { _grep -E -- "$1" || true; }; }

# expect_skipped LOGINUID BY: the last change was ISC's own.
expect_skipped() {
	local loginuid=$1 by=$2 n
	# (The follower of an earlier, sent change may still poll its status.)
	n=$(events_since "$MARK" | { _grep -vE '^request .*path=[^ ]*(/__control|password-change-status)' || true; } |
		{ _grep -cE '^(request|token|lookup|set|set_error) ' || true; })
	[ "$n" -eq 0 ] || fail "login uid $loginuid: ISC was contacted: $(events_since "$MARK" | { _grep -vE 'status' || true; } | head -n 5 | tr '\n' ';')"
	[ "$(wc -l <"$T/helper-starts")" -eq "$STARTS0" ] ||
		fail "login uid $loginuid: a helper was started"
	wait_for_log "pam_isc\($SVC:chauthtok\): event=skipped reason=ignore_changes_by user=alice loginuid=$loginuid by=$by\$" 3 ||
		fail "login uid $loginuid: no event=skipped line"
	# Once per change (both phases return PAM_IGNORE, one line).
	n=$(log_since 'event=skipped reason=ignore_changes_by' | wc -l)
	[ "$n" -eq 1 ] || fail "login uid $loginuid: $n skipped lines for one change"
	[ -z "$(log_since 'event=(error|accepted|queued|local_only|config_error)')" ] ||
		fail "login uid $loginuid: unexpected lines: $(log_since 'event=(error|accepted|queued|local_only|config_error)' | _isc_redact | head -n 3)"
	# No prompt from pam_isc: its update phase never got as far.
	if _grep -qE 'New password:|Retype new password:' "$T/pamtester.out"; then
		fail "login uid $loginuid: pam_isc prompted"
	fi
	# Nothing queued (an entry is named by the SHA-256 of the user name).
	if ls "$T/state/queue/" 2>/dev/null | _grep -qE '^[0-9a-f]{64}(\.inflight)?$'; then
		fail "login uid $loginuid: something was queued: $(ls -A "$T/state/queue")"
	fi
	log "ok: login uid $loginuid ($by): not sent, local change made"
}

# expect_sent LOGINUID: the last change reached ISC, with its password.
expect_sent() {
	local loginuid=$1 set_line
	set_line=$(events_since "$MARK" | { _grep -E '^set user=alice ' || true; })
	[ "$(printf '%s' "$set_line" | _grep -c '^set ' || true)" -eq 1 ] ||
		fail "login uid $loginuid: expected one set event for alice, got: $set_line"
	[ "$(field decrypted_sha256 <<<"$set_line")" = "$(sha256_of "$NEW_PW")" ] ||
		fail "login uid $loginuid: ISC got another password"
	[ "$(wc -l <"$T/helper-starts")" -gt "$STARTS0" ] ||
		fail "login uid $loginuid: no helper start seen (the counting wrapper is not used?)"
	[ -z "$(log_since 'event=skipped')" ] || fail "login uid $loginuid: logged as skipped"
	log "ok: login uid $loginuid: sent"
}

# --- 1. the connector's account by name ---------------------------------
write_config "ignore_changes_by = $SVC_NAME"
change "$SVC_UID" alice
expect_skipped "$SVC_UID" "$SVC_NAME"
# Controls: another login uid, and none at all (a daemon, a boot script).
change "$OTHER_UID" alice
expect_sent "$OTHER_UID"
change "$UNSET" alice
expect_sent "$UNSET"

# --- 2. by uid, among other entries --------------------------------------
write_config "ignore_changes_by = 1999, $SVC_UID ,dave"
change "$SVC_UID" alice
expect_skipped "$SVC_UID" "$SVC_UID"
change "$OTHER_UID" alice
expect_sent "$OTHER_UID"
change "$UNSET" alice
expect_sent "$UNSET"

# --- 3. a name the name service does not know: a warning, once per
# change, and the entry is ignored; the entries after it still count ------
write_config "ignore_changes_by = svc-gone, $SVC_NAME"
change "$SVC_UID" alice
expect_skipped "$SVC_UID" "$SVC_NAME"
[ "$(log_since 'event=config_warning key=ignore_changes_by name=svc-gone ' | wc -l)" -eq 1 ] ||
	fail "unknown name: expected one warning for the change"
write_config "ignore_changes_by = svc-gone"
change "$SVC_UID" alice
expect_sent "$SVC_UID"
[ "$(log_since 'event=config_warning key=ignore_changes_by name=svc-gone text=' | wc -l)" -eq 1 ] ||
	fail "unknown name: expected one warning for the change"
log "ok: an unknown name is a warning and is ignored"
# pam_isc_ctl check shows the list as a change would see it.
write_config "ignore_changes_by = svc-gone, $SVC_NAME, 1999"
with_nss "$top_builddir/pam_isc_ctl" --config "$T/pam_isc.conf" --helper "$PAM_ISC_HELPER" check \
	>"$T/ctl.out" 2>&1 || fail "pam_isc_ctl check failed: $(head -n 5 "$T/ctl.out")"
_grep -qxF "ignore   changes from sessions of: svc-gone (unknown to the name service now: ignored), $SVC_NAME (uid $SVC_UID), uid 1999" "$T/ctl.out" ||
	fail "pam_isc_ctl check: no or another ignore line: $(head -n 3 "$T/ctl.out")"
log "ok: pam_isc_ctl check shows the list"
write_config "ignore_changes_by = svc-gone"
# No name is looked up for a session without a login uid.
change "$UNSET" alice
expect_sent "$UNSET"
[ -z "$(log_since 'event=config_warning')" ] || fail "unset login uid: a name was looked up"

# --- 4. an empty list: nothing is ignored --------------------------------
write_config "ignore_changes_by ="
change "$SVC_UID" alice
expect_sent "$SVC_UID"

# --- 5. ISC unreachable with on_error = queue: ISC's own change is still
# neither sent nor queued, where an ordinary one is queued (the key cached
# by the changes above lets it) -------------------------------------------
write_config "ignore_changes_by = $SVC_NAME" 'api_url = https://127.0.0.1:1' 'timeout = 2' \
	'on_error = queue'
change "$SVC_UID" alice
expect_skipped "$SVC_UID" "$SVC_NAME"
change "$OTHER_UID" alice
wait_for_log 'event=queued user=alice ' 5 || fail "control: the ordinary change was not queued"
ls "$T/state/queue/" | _grep -qE '^[0-9a-f]{64}$' || fail "control: no queue entry"
log "ok: ISC unreachable: the connector's change not queued, an ordinary one queued"

assert_authpriv "pam_isc\\($SVC:chauthtok\\): event=skipped"
assert_no_log 'event=(loginuid_error|config_error|arg_error)'

isc_done
