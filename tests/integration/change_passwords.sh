#!/bin/bash
# SPDX-License-Identifier: MIT
# Password changes end to end: pamtester -> pam_isc.so -> pam_isc_helper ->
# HTTPS -> isc_test_server, which really decrypts what it gets. The server
# logs only the SHA-256 and the length of the decrypted bytes; we compare
# them with the password we typed.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
# Refusals must fail the change here (the default on_error = queue lets the
# local change stand; tests/integration/failure_policy.sh covers that).
write_config 'on_error = fail'
SVC=isc_passwd
pam_service "$SVC" "$(isc_line)"

dn() { printf 'uid=%s,ou=people,dc=example,dc=com' "$1"; }

declare -A FINAL_WANTED=() # request id -> user
FIRST_CHANGE=1

# change_sent USER PASSWORD [API]: the change succeeds, over the paths of API
# ("/v3/" by default, "/beta/", "v1"), and the server decrypted exactly
# PASSWORD for USER's own account.
change_sent() {
	local user=$1 pw=$2 path_re=${3:-/v3/} got req conns
	change_ok "$user" "$pw"
	assert_sent "$user" "$pw"
	got=$(field account <<<"$SET_LINE")
	[ "$got" = "$(dn "$user")" ] || fail "$user: password set on account '$got', not '$(dn "$user")'"
	req=$(field request <<<"$SET_LINE")
	[ -n "$req" ] || fail "$user: set event without a request id: $SET_LINE"

	# The API paths of the configured version.
	check_paths "$EV" "$path_re"

	# One TLS connection for the whole change: lookup and set (and the token,
	# when this change fetched it) came over the same conn.
	conns=$(api_conns "$MARK")
	[ "$(printf '%s\n' "$conns" | _grep -c .)" -eq 1 ] ||
		fail "$user: lookup and set used several connections: $(echo $conns)"
	if [ "$FIRST_CHANGE" = 1 ]; then
		got=$(printf '%s\n' "$EV" | { _grep -E '^request .*path=/oauth/token' || true; } | field conn | sort -u)
		[ -n "$got" ] || fail "the first change fetched no token"
		[ "$got" = "$conns" ] ||
			fail "$user: token fetched over conn $(echo $got), lookup/set over conn $conns"
		FIRST_CHANGE=0
	fi

	# The helper logged the acceptance (the final line comes later, from the
	# follower; checked at the end).
	wait_for_log "pam_isc\[[0-9]+\]: event=accepted user=$user request=$req state=IN_PROGRESS .*account=\"?$(re_escape "$(dn "$user")")\"?" 5 ||
		fail "no accepted line for $user request $req"
	FINAL_WANTED[$req]=$user
	log "ok: $user, $(byte_len "$pw")-byte password, request $req"
}

# check_paths EVENTS PREFIX: lookup and set went to the paths of the API
# version: "/v3/" -> /v3/query-password-info, "v1" -> /query-password-info/v1.
check_paths() {
	local ev=$1 form=$2 q s
	case $form in
	v1)
		q='/query-password-info/v1'
		s='/set-password/v1'
		;;
	*)
		q="${form}query-password-info"
		s="${form}set-password"
		;;
	esac
	printf '%s\n' "$ev" | _grep -qE "^request .*method=POST path=$(re_escape "$q") status=200" ||
		fail "no lookup at $q: $(printf '%s\n' "$ev" | _grep '^request' | tr '\n' ';')"
	printf '%s\n' "$ev" | _grep -qE "^request .*method=POST path=$(re_escape "$s") status=202" ||
		fail "no set at $s: $(printf '%s\n' "$ev" | _grep '^request' | tr '\n' ';')"
}

# change_fails USER PASSWORD STEP_RE: pamtester fails, nothing is set, and
# the helper logged an error naming the user.
change_fails() {
	local user=$1 pw=$2 step_re=$3
	pam_change "$user" "$pw"
	[ "$RC" -ne 0 ] || fail "pamtester chauthtok for $user succeeded; it must fail"
	[ -z "$(set_event "$user")" ] || fail "a password was set for $user"
	wait_for_log "event=error user=$user $step_re" 5 ||
		fail "no error line for $user matching /$step_re/"
	log "ok: $user refused (pamtester exit $RC)"
}

# --- passwords of all kinds, for alice -------------------------------------
pw_ascii='Ascii pass: #1 "q" \ $x'
pw_utf8='Pässwörd-日本語-ß'
pw_one='Z'
pw_long=$(printf 'Long-password-0123456789-%.0s' 1 2 3 4 5 6 7 8) # 8 x 25 = 200 bytes
[ "$(byte_len "$pw_long")" -eq 200 ] || hard_error "the long test password is not 200 bytes"
[ "$(byte_len "$pw_utf8")" -gt "$(printf '%s' "$pw_utf8" | LC_ALL=C.UTF-8 wc -m)" ] ||
	hard_error "the UTF-8 test password is not multi-byte"

change_sent alice "$pw_ascii"
change_sent alice "$pw_utf8"
change_sent alice "$pw_one"
change_sent alice "$pw_long"

# RSA-2048 PKCS#1 v1.5 carries at most 245 bytes: 245 goes through, 246 is
# refused before anything is sent.
pw_245=$(printf '%s' "$pw_long" "Edge-of-the-RSA-block-245-bytes-0123456789-xyz" | head -c 245)
pw_246="${pw_245}!"
if [ "$(byte_len "$pw_245")" -ne 245 ] || [ "$(byte_len "$pw_246")" -ne 246 ]; then
	hard_error "the 245/246-byte test passwords are not 245/246 bytes"
fi
change_sent alice "$pw_245"
change_fails alice "$pw_246" 'step=encrypt'

# --- other API versions ------------------------------------------------------
write_config 'on_error = fail' 'api_version = v1'
change_sent bob 'V1-family-password-1' v1
write_config 'on_error = fail' 'api_version = beta'
change_sent carol 'Beta-family-password-2' /beta/
write_config 'on_error = fail'

# --- account selection ---------------------------------------------------------
# multi1 has multi1 and multi1-admin: the one named like the user is chosen.
change_sent multi1 'Multi-account-password-3'
# ambig1's two accounts are named neither like the user: refused.
change_fails ambig1 'Ambiguous-password-4' 'step=account'
# noacct1 has no account on the source.
change_fails noacct1 'No-account-password-5' 'step=account'
# ISC does not know unknown1: 400 with the standard error body.
change_fails unknown1 'Unknown-identity-password-6' \
	'step=lookup .*http=400 .*detail="400\.1 Bad Request Content" .*tracking=[^ ]+'

# --- the follower reports every accepted change as FINISHED, after it was
# accepted ----------------------------------------------------------------------
for req in "${!FINAL_WANTED[@]}"; do
	user=${FINAL_WANTED[$req]}
	wait_for_log "pam_isc\[[0-9]+\]: event=final user=$user request=$req state=FINISHED" 30 ||
		fail "no final line for $user request $req"
	acc=$(_grep -nE "event=accepted user=$user request=$req " "$SYSLOG" | head -n 1 | cut -d: -f1)
	fin=$(_grep -nE "event=final user=$user request=$req " "$SYSLOG" | head -n 1 | cut -d: -f1)
	[ "$acc" -lt "$fin" ] || fail "final line for $req came before its accepted line"
done

# Every line pam_isc logged went to facility authpriv.
assert_authpriv 'pam_isc\[[0-9]+\]: event='

isc_done
