#!/bin/bash
# SPDX-License-Identifier: MIT
# The demo behind ./run-demo.sh: one password change through the real
# pam_isc.so (pamtester under pam_wrapper, a demo user from nss_wrapper),
# over real HTTPS to the bundled ISC test server, which really decrypts it.
# Prints what the server received and the syslog lines pam_isc wrote.
#
# The demo password is random and never printed: the server logs only the
# SHA-256 of what it decrypted, and the demo compares that with the hash of
# the password it typed.
. "$(dirname "$0")/../tests/lib.sh"

_isc_name=demo
isc_setup
start_server
write_config
pam_service isc_demo "$(isc_line)"

user=alice
pw="Demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-Pässwörd"
register_secret "$pw"

say() { printf '%s\n' "$*"; }
say ""
say "== pam_isc demo"
say "ISC test server:   $ISC_URL (HTTPS, certificate from its own test CA)"
say "config:            $ISC_CONF"
say "PAM service:       $(cat "$T/pam.d/isc_demo")"
say "demo user:         $user (uid 1001, from nss_wrapper)"
say ""
say "== $user changes the password: pamtester -v isc_demo $user chauthtok"
mark=$(events_mark)
rc=0
run_pamtester "$user" isc_demo "$pw" || rc=$?
_isc_redact <"$T/pamtester.out" | sed 's/^/   | /'
[ "$rc" -eq 0 ] || fail "pamtester exited $rc: the change was not accepted"

set_line=$(events_since "$mark" | _grep -E "^set user=$user " | tail -n 1)
[ -n "$set_line" ] || fail "the server received no set-password for $user"
got=$(field decrypted_sha256 <<<"$set_line")
want=$(sha256_of "$pw")
say ""
say "== what the ISC test server saw (tests/isc_test_server.md, events.log)"
events_since "$mark" | _grep -E '^(connection|request|token|lookup|set|status) ' | sed 's/^/   | /'
say ""
if [ "$got" = "$want" ]; then
	say "decrypted:         OK, exactly the typed password ($(field len <<<"$set_line") bytes, sha256 ${got:0:16}...)"
else
	fail "the server decrypted something else (sha256 $got, typed $want)"
fi
say "set on account:    $(field account <<<"$set_line")"
say "request id:        $(field request <<<"$set_line")"
say "TLS connections:   $(events_since "$mark" | _grep -cE '^connection ' || true) for token, lookup and set"

req=$(field request <<<"$set_line")
say ""
say "== waiting for the background follower to report the final state ..."
wait_for_log "event=final user=$user request=$req state=" 30 ||
	fail "no final state logged within 30 s"
say ""
say "== syslog (facility authpriv), as /var/log/auth.log would show it"
_grep -E 'pam_isc' "$SYSLOG" | _isc_redact | sed -E 's/^<[0-9]+>//; s/^/   | /'
say ""
isc_done
