#!/bin/bash
# SPDX-License-Identifier: MIT
# PAM_USER comes from the application (sshd passes whatever name was tried).
# A name with control characters, a '/', "." or "..", or longer than 256
# bytes is refused cleanly: pam_isc ignores it (PAM_IGNORE, the rest of the
# stack decides), nothing reaches ISC, and the one log line about it shows
# the name escaped on a single line (no forged log lines). Odd but valid
# names (quotes, '=', UTF-8) go through, quoted in the log and correctly
# encoded in the JSON request.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
write_config
SVC=isc_names
pam_service "$SVC" "$(isc_line)" "password required ${PAM_PERMIT:-$PAM_MATRIX}"

long=$(printf 'x%.0s' $(seq 1 300))
# name<TAB>how its value must appear in the log line (after user=)
bad_names=(
	$'evil\nuser=root event=accepted'
	$'tab\tname'
	$'esc\e[31mred'
	$'del\x7fname'
	'a/b'
	'..'
	'.'
	"$long"
)
expected=(
	'"evil\x0auser=root event=accepted"'
	'"tab\x09name"'
	'"esc\x1b[31mred"'
	'"del\x7fname"'
	'a/b'
	'..'
	'.'
	"$(printf 'x%.0s' $(seq 1 200))... "
)

for i in "${!bad_names[@]}"; do
	name=${bad_names[$i]}
	before=$(count_log 'event=skip .*reason=invalid_name')
	pam_change "$name" "Bad-name-password-$i"
	[ "$RC" -eq 0 ] || fail "name #$i: the stack did not go on past pam_isc (pamtester exit $RC)"
	wait_for_log 'event=skip .*reason=invalid_name' 5 $((before + 1)) ||
		fail "name #$i: no invalid_name line"
	line=$(_grep -E 'event=skip .*reason=invalid_name' "$SYSLOG" | tail -n 1)
	[[ $line == *"event=skip user=${expected[$i]}"* ]] ||
		fail "name #$i: the line does not show the name as ${expected[$i]}: $line"
	[ "${#line}" -lt 400 ] || fail "name #$i: a log line of ${#line} bytes"
	[ "$(events_since "$MARK" | _grep -cE '^(request|lookup|set) ' || true)" -eq 0 ] ||
		fail "name #$i: ISC was contacted for an invalid user name"
	log "ok: invalid name #$i ignored, logged as user=${expected[$i]:0:40}"
done
# Every syslog line is one line of printable ASCII: no forged line.
if LC_ALL=C grep -naE '^[^<]|[^[:print:]]' "$SYSLOG" | head -n 3 | grep -q .; then
	fail "a syslog line does not start with <PRI> or has a non-printable byte"
fi
assert_no_log ': event=accepted ' "a change was accepted for an invalid name"
[ "$(count_log '^user=root')" -eq 0 ] || fail "a forged log line appeared"

# --- odd but valid names ----------------------------------------------------------
printf '%s:x:3001:3001:odd:%s:/bin/sh\n' 'o"dd=name' "$T/home/odd" >>"$T/passwd"
printf '%s:x:3002:3002:utf8:%s:/bin/sh\n' $'j\xc3\xbcrgen' "$T/home/j" >>"$T/passwd"
odd_names=('o"dd=name' $'j\xc3\xbcrgen')
odd_logged=('"o\"dd=name"' '"j\xc3\xbcrgen"')
for i in "${!odd_names[@]}"; do
	name=${odd_names[$i]}
	pw="Odd-name-password-$i"
	pam_change "$name" "$pw"
	[ "$RC" -eq 0 ] || fail "odd name #$i: the change failed (pamtester exit $RC)"
	# (the server's event quotes the name: not set_event, which takes it as is)
	[ "$(events_since "$MARK" | _grep -E '^set ' | tail -n 1 | field decrypted_sha256)" = "$(sha256_of "$pw")" ] ||
		fail "odd name #$i: the server got no set-password with the password"
	assert_log "event=accepted user=$(re_escape "${odd_logged[$i]}") " \
		"odd name #$i: no accepted line showing user=${odd_logged[$i]}"
	log "ok: odd name #$i changed, logged as user=${odd_logged[$i]}"
done
# The server decoded the JSON user names exactly (its event log escapes '"').
_grep -qF 'lookup user="o\"dd=name" ' "$ISC_EVENTS" || fail "the server did not get the name o\"dd=name"

isc_done
