#!/bin/bash
# SPDX-License-Identifier: MIT
# What ISC says is shown, never obeyed: pam_isc_ctl prints ISC's strings
# (an account name, a change's error text) with escape sequences, BEL, line
# breaks, C1 controls and bidi overrides made visible, so that a hostile or
# broken answer cannot retitle or clear root's terminal or forge a line of
# output; and the syslog lines quote the same strings escaped.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_ctl_output
pam_service "$SVC" "$(isc_line)"
write_config

# inert FILE WHAT: FILE holds printable ASCII and line ends only (the
# hostile text is ASCII but for what must be escaped).
inert() {
	local bad
	if bad=$(LC_ALL=C grep -n '[^[:print:]]' "$1" | head -n 3 | od -c | head -n 8) && [ -n "$bad" ]; then
		fail "$2: raw control bytes reach the terminal: $bad"
	fi
}

# Set a terminal title (OSC ... BEL), clear the screen (CSI 2J), CSI as a C1
# control, a right-to-left override, and a line break that would start a
# line of its own.
HOSTILE='\u001b]0;pwned\u0007 \u001b[2J \u009b31m \u202eevil\nstatus FINISHED'
# How pam_isc_ctl must show it (characters as \uNNNN, bytes as \xNN)...
SHOWN='\x1b]0;pwned\x07 \x1b[2J \u009b31m \u202eevil\x0astatus FINISHED'
# ... and how a log line quotes it (every byte outside printable ASCII).
LOGGED='\x1b]0;pwned\x07 \x1b[2J \xc2\x9b31m \xe2\x80\xaeevil\x0astatus FINISHED'

server_control "{\"account_name\": \"$HOSTILE\", \"failed_error\": \"$HOSTILE\",
	\"final_state\": \"FAILED\", \"polls_to_final\": 0}"

# --- check USER: the account name from the lookup.
ctl check alice
[ "$CTL_RC" -eq 0 ] || fail "check alice: exit $CTL_RC: $(od -c "$T/ctl.out" | head -n 20)"
inert "$T/ctl.out" "check alice"
_grep -qF -- "account  ok: uid=alice,ou=people,dc=example,dc=com ($SHOWN)" "$T/ctl.out" ||
	fail "check alice: the account name is not shown escaped: $(_grep account "$T/ctl.out")"
log "ok: check: the account name is shown escaped"

# --- status ID: the error text of a FAILED change.
change_ok alice 'Ctl-output-password-1'
REQ=$(request_of alice)
[ -n "$REQ" ] || fail "no request id in the server's set event"
# The follower's line: log.c quotes the text, every byte outside printable
# ASCII escaped.
wait_for_log "event=final user=alice request=$REQ state=FAILED error=\"$(re_escape "$LOGGED")\"" 15 ||
	fail "no final line with the error text escaped: $(_grep "event=final" "$SYSLOG" | _isc_redact)"
inert "$SYSLOG" "syslog"
log "ok: syslog: the error text is quoted escaped"

ctl status "$REQ"
[ "$CTL_RC" -eq 0 ] || fail "status: exit $CTL_RC: $(od -c "$T/ctl.out" | head -n 20)"
inert "$T/ctl.out" "status"
_grep -qxF -- "request $REQ state FAILED" "$T/ctl.out" || fail "status: no state line: $(cat -v "$T/ctl.out")"
_grep -qxF -- "error   $SHOWN" "$T/ctl.out" ||
	fail "status: the error text is not shown escaped: $(cat -v "$T/ctl.out")"
[ "$(wc -l <"$T/ctl.out")" -eq 2 ] || fail "status: not two lines: $(cat -v "$T/ctl.out")"
log "ok: status: the error text is shown escaped, on one line"

isc_done
