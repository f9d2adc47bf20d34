#!/bin/bash
# SPDX-License-Identifier: MIT
# Users whose password does not go to ISC: below min_uid, listed in
# skip_users (root by default, others by configuration), unknown to NSS.
# pam_isc returns PAM_IGNORE for them, so with pam_permit in the stack the
# change succeeds; it must neither prompt nor talk to ISC nor log an error.
. "$(dirname "$0")/../lib.sh"

isc_setup
[ -n "$PAM_PERMIT" ] || skip "pam_permit.so (libpam-modules) not found"
start_server
write_config 'skip_users = root, bob'
SVC=isc_scope
# pam_isc first and "required": anything but PAM_IGNORE/PAM_SUCCESS from it
# would fail the change; pam_permit provides the success.
pam_service "$SVC" "$(isc_line required)" "password required $PAM_PERMIT"

# skip_case USER REASON_RE: the change succeeds without pam_isc doing anything.
skip_case() {
	local user=$1 reason=$2 rc=0
	# Nothing on stdin: a prompt would get no answer and fail the change.
	run_pamtester "$user" "$SVC" || rc=$?
	[ "$rc" -eq 0 ] || fail "$user: pamtester exited $rc (pam_isc must ignore this user)"
	if _grep -qiE 'password:' "$T/pamtester.out"; then
		fail "$user: somebody prompted for a password: $(_grep -iE 'password:' "$T/pamtester.out" | head -n 1)"
	fi
	wait_for_log "pam_isc\($SVC:chauthtok\): event=skip user=$user reason=($reason)\$" 3 ||
		fail "$user: no debug line event=skip reason=$reason"
	log "ok: $user skipped ($(_grep -oE "event=skip user=$user reason=[a-z_]+" "$SYSLOG" | tail -n 1 | sed 's/.*reason=//'))"
}

# sysuser exists only in the nss_wrapper database: "min_uid" (and not
# "unknown_user") also proves that the module sees that database.
skip_case sysuser min_uid            # uid 999 < min_uid 1000
skip_case root 'min_uid|skip_users'  # uid 0: either rule keeps root out
skip_case bob skip_users             # listed in skip_users by the configuration
skip_case ghost unknown_user         # not known to NSS

# root by skip_users alone (skip_users = root is the default).
write_config 'min_uid = 0'
skip_case root skip_users

# The server saw nothing at all: no token, no lookup, no set.
n=$(count_events '^(request|token|lookup|set|set_error|status) ')
[ "$n" -eq 0 ] || fail "ISC was contacted for out-of-scope users: $(_grep -E '^(request|lookup|set) ' "$ISC_EVENTS" | head -n 5 | tr '\n' ';')"

assert_no_log 'event=(error|config_error|arg_error|final|accepted)'
assert_authpriv "pam_isc\\($SVC:chauthtok\\): event=skip"

isc_done
