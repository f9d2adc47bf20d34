#!/bin/bash
# SPDX-License-Identifier: MIT
# use_authtok: pam_isc takes the new password an earlier module of the stack
# set as PAM_AUTHTOK, and never prompts for one itself.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
write_config

# pam_get_authtok's own prompts; pam_matrix asks "New Password :" instead.
PROMPT_RE='New password:|Retype new password:|new password:'

assert_no_isc_prompt() {
	if _grep -qE "$PROMPT_RE" "$T/pamtester.out"; then
		fail "pam_isc prompted for the password despite use_authtok: $(_grep -E "$PROMPT_RE" "$T/pamtester.out" | head -n 2)"
	fi
}

# --- 1. pam_matrix changes its own password database first and leaves the new
# password in PAM_AUTHTOK. It asks for the old password in the preliminary
# phase, and twice for the new one.
old_pw='Matrix-old-password-1'
new_pw='Matrix-new-Pässwort-2'
register_secret "$old_pw"
register_secret "$new_pw"
(umask 077 && printf 'alice:%s:isc_matrix\n' "$old_pw" >"$T/passdb")
pam_service isc_matrix \
	"password required $PAM_MATRIX passdb=$T/passdb" \
	"$(isc_line required use_authtok)"
mark=$(events_mark)
rc=0
printf '%s\n%s\n%s\n' "$old_pw" "$new_pw" "$new_pw" | run_pamtester_in alice isc_matrix || rc=$?
[ "$rc" -eq 0 ] || fail "pam_matrix + pam_isc use_authtok: pamtester exited $rc"
_grep -q 'New Password :' "$T/pamtester.out" || fail "pam_matrix did not ask for the new password"
assert_no_isc_prompt
assert_sent alice "$new_pw" "$mark" "pam_matrix stack"
log "ok: pam_matrix stack"

# --- 2. pam_set_items sets PAM_AUTHTOK from the environment of the
# application (the password is in pamtester's environment, never in an argv;
# the helper gets a clean environment). Nothing on stdin: had pam_isc
# prompted, it would have got no answer and failed.
set_pw='Set-items-password-3 with spaces'
register_secret "$set_pw"
pam_service isc_set_items \
	"password required $PAM_SET_ITEMS" \
	"$(isc_line required use_authtok)"
mark=$(events_mark)
rc=0
PAM_AUTHTOK=$set_pw run_pamtester bob isc_set_items || rc=$?
[ "$rc" -eq 0 ] || fail "pam_set_items + pam_isc use_authtok: pamtester exited $rc"
assert_no_isc_prompt
assert_sent bob "$set_pw" "$mark" "pam_set_items stack"
log "ok: pam_set_items stack"

# --- 3. use_authtok and nobody set PAM_AUTHTOK: pam_isc must fail rather
# than prompt. stdin offers a password, so a prompt would have "worked".
pam_service isc_nothing \
	"password required ${PAM_PERMIT:-$PAM_SET_ITEMS}" \
	"$(isc_line required use_authtok)"
pam_change carol 'Never-to-be-sent-4' isc_nothing
[ "$RC" -ne 0 ] || fail "use_authtok without a PAM_AUTHTOK succeeded"
assert_no_isc_prompt
# (The preliminary phase looks carol up: prelim_check = yes. No set.)
if events_since "$MARK" | _grep -qE '^set '; then
	fail "use_authtok without a PAM_AUTHTOK still sent a password to ISC"
fi
log "ok: no PAM_AUTHTOK, no prompt, no change"

# Every change was accepted once and only those two reached ISC.
[ "$(count_events '^set ')" -eq 2 ] || fail "expected 2 set events, got $(count_events '^set ')"
wait_for_log 'event=accepted user=alice ' 5 || fail "no accepted line for alice"
wait_for_log 'event=accepted user=bob ' 5 || fail "no accepted line for bob"

isc_done
