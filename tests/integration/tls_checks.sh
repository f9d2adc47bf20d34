#!/bin/bash
# SPDX-License-Identifier: MIT
# TLS is verified, always, and only the configuration decides whom to trust:
# a server certificate from another CA, for another host name, or expired is
# refused; so is a server whose key does not match pinned_public_key (a
# matching pin works). Each refusal fails the change as "unreachable" (the
# person is told the password was not sent), is logged with the reason, and
# no API request gets through. `proxy` is used when set (and only then).
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_tls

# refused NAME EVENTS_FILE LOG_PATTERN: with the config as written, the
# change fails as unreachable, LOG_PATTERN is in the new log lines, and the
# server (EVENTS_FILE) got no request.
refused() {
	local what=$1 events=$2 pattern=$3
	pam_service "$SVC" "$(isc_line)"
	pam_change alice "Tls-check-password-$what"
	assert_unreachable "$what" alice "$pattern"
	if [ -f "$events" ] && _grep -q '^request ' "$events"; then
		fail "$what: a request got through: $(_grep '^request ' "$events" | head -n 2 | tr '\n' ';')"
	fi
	log "ok: $what refused: $(_grep -oE 'text="[^"]*"' <<<"$NEW" | head -n 1)"
}

# --- a certificate from another CA -------------------------------------------
start_extra_server other_ca
write_config "ca_file = $X_CA" "on_error = fail"
refused wrong-ca "$ISC_EVENTS" '(certificate|issuer|verify|SSL)'

# --- a certificate for another host name -----------------------------------------
start_extra_server wrong_name --cert-name wrong.example
write_config "api_url = $X_URL" "ca_file = $X_CA" "on_error = fail"
refused wrong-host-name "$X_EVENTS" '(name|host|SSL|certificate)'

# --- an expired certificate -----------------------------------------------------------
start_extra_server expired --cert-expired
write_config "api_url = $X_URL" "ca_file = $X_CA" "on_error = fail"
refused expired "$X_EVENTS" '(expired|certificate|SSL)'

# --- pinned_public_key -------------------------------------------------------------------
# Another server's key: mismatch.
write_config "pinned_public_key = $X_PIN" "on_error = fail"
refused pin-mismatch "$ISC_EVENTS" '(pinned|public key)'
# The right pin, alone and among others: the change goes through.
ISC_PIN=$(tr -d '[:space:]' <"$T/server/pin")
for pins in "$ISC_PIN" "$X_PIN;$ISC_PIN"; do
	write_config "pinned_public_key = $pins" "on_error = fail"
	pam_service "$SVC" "$(isc_line)"
	pw="Tls-pin-ok-password-${#pins}"
	pam_change alice "$pw"
	[ "$RC" -eq 0 ] || fail "the change failed with a matching pin (pamtester exit $RC)"
	got_password alice "$pw" || fail "with a matching pin, the server did not get the password"
done
log "ok: a matching pin (alone, or among others) is accepted"

# --- proxy -----------------------------------------------------------------------------------
# The stand-in speaks TLS only, so the CONNECT fails: what matters is that the
# configured proxy, and nothing else, was contacted.
start_extra_server proxy
# The follower of the changes above polls the server directly until their
# final state: let it finish first, or its polls count as direct contact.
wait_no_follower 60 || fail "the follower of the pin changes is still running"
: >"$X_EVENTS"
mark=$(events_mark)
write_config "proxy = http://127.0.0.1:$X_PORT" "on_error = fail"
pam_service "$SVC" "$(isc_line)"
pam_change alice 'Tls-proxy-password'
[ "$RC" -ne 0 ] || fail "the change went through a proxy that cannot proxy"
_grep -q '^connection ' "$X_EVENTS" || fail "the configured proxy was not contacted"
[ -z "$(events_since "$mark" | _grep -E '^(connection|request) ' || true)" ] ||
	fail "with a proxy configured, the server was contacted directly"
log "ok: the configured proxy is used"

isc_done
