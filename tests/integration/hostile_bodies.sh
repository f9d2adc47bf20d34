#!/bin/bash
# SPDX-License-Identifier: MIT
# Response bodies are capped (1 MiB) and parsed strictly. For each hostile
# answer of the test server (switch bad_body): wrong JSON types, missing
# fields, a duplicate key, a huge number, deep nesting, an embedded NUL,
# non-UTF-8, a 64 MiB body, a body that never ends, an HTML maintenance page
# (503, and 200): the change fails as "unreachable" (the person is told the
# password was not sent), one error line gives the reason, nothing crashes,
# and nothing more is sent (no set-password after a bad lookup).
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_bodies
write_config "on_error = fail"
pam_service "$SVC" "$(isc_line)"

# bad BODY ENDPOINT PATTERN: with bad_body BODY on ENDPOINT, the change fails
# and an error line matches PATTERN.
bad() {
	local body=$1 on=$2 pattern=$3
	# A cached token would spare the token request.
	[ "$on" != token ] || rm -f "$T/run/token"
	server_control "{\"bad_body\": \"$body\", \"bad_body_on\": \"$on\"}"
	pam_change alice "Hostile-body-password-$body-$on"
	server_control '{"bad_body": "none"}'
	[ "$RC" -ne 0 ] || fail "$body on $on: the change succeeded"
	if [ "${LENIENT:-0}" = 1 ]; then
		log "ok: $body on $on ($MS ms): refused (timing under a tool: the module's own deadline may end it first)"
		return 0
	fi
	assert_unreachable "$body on $on" alice "$pattern"
	if [ "$on" != set ] && events_since "$MARK" | _grep -q '^set '; then
		fail "$body on $on: a set-password was sent after a bad answer"
	fi
	log "ok: $body on $on ($MS ms): $(_grep -oE 'event=error .*' <<<"$NEW" | _grep -oE 'text=("[^"]*"|[^ ]*)' | head -n 1)"
}

bad html lookup 'http=503'
bad html_200 lookup 'step=lookup .*not JSON'
bad wrong_types lookup 'step=lookup .*kind=protocol'
bad missing_fields lookup 'step=lookup .*missing'
bad duplicate_keys lookup 'step=lookup .*a key appears twice'
bad deep lookup 'step=lookup .*nesting too deep'
bad nul lookup 'step=lookup .*NUL'
bad non_utf8 lookup 'step=lookup .*UTF-8'
bad huge lookup 'step=lookup .*larger than 1048576 bytes'
bad huge_number token 'step=token .*expires_in'
bad duplicate_keys token 'step=token .*a key appears twice'
bad wrong_types set 'step=set.*kind=protocol'
bad html_200 token 'step=token .*not JSON'
# A body that never ends: the change's timeout ends it (4 s; longer when the
# CI runs the helper under a slow tool and raises ISC_TEST_TIMEOUT).
write_config "timeout = $((ISC_TEST_TIMEOUT > 10 ? ISC_TEST_TIMEOUT / 3 : 4))" "on_error = fail"
pam_service "$SVC" "$(isc_line)"
# Under a tool (valgrind) the helper starts seconds late, so the module's
# deadline, which counts from the fork, can end the change before the
# helper's own timeout does: then only the refusal is checked.
LENIENT=$([ -n "$ISC_TEST_HELPER_WRAPPER" ] && [ "$ISC_TEST_TIMEOUT" -gt 30 ] && echo 1 || echo 0) \
	bad endless lookup 'step=lookup .*kind=timeout'

# After all that, a normal change works.
write_config "on_error = fail"
pam_service "$SVC" "$(isc_line)"
pam_change alice 'Hostile-body-password-after'
[ "$RC" -eq 0 ] || fail "a normal change failed after the hostile bodies (pamtester exit $RC)"
log "ok: a normal change works afterwards"

isc_done
