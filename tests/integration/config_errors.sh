#!/bin/bash
# SPDX-License-Identifier: MIT
# A broken configuration fails the change (nothing is sent anywhere) and is
# reported once, by one syslog line that names the file, the line and the key.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_conf

CONF_RE=$(re_escape "$T/pam_isc.conf")

# broken_change KEY LINE_NO: with the config as written, the change fails and
# exactly one config_error line names the file, LINE_NO (empty: none) and KEY.
broken_change() {
	local key=$1 line_no=$2 prev new n line
	pam_service "$SVC" "$(isc_line)"
	prev=$(count_log 'event=config_error')
	pam_change alice "Config-error-password-$key"
	[ "$RC" -ne 0 ] || fail "$key: the change succeeded with a broken configuration"
	wait_for_log 'event=config_error' 5 $((prev + 1)) || fail "$key: no config_error line"
	sleep 0.3 # a second (duplicate) line would have arrived by now
	new=$(syslog_since "$LOG_MARK")
	n=$(printf '%s\n' "$new" | _grep -c 'event=config_error' || true)
	[ "$n" -eq 1 ] || fail "$key: $n config_error lines, expected exactly 1: $(oneline <<<"$new")"
	line=$(printf '%s\n' "$new" | _grep 'event=config_error')
	[[ $line =~ file=\"?$CONF_RE\"?( |$) ]] || fail "$key: the line does not name the file: $line"
	[[ $line =~ key=\"?$key\"?( |$) ]] || fail "$key: the line does not name the key: $line"
	if [ -n "$line_no" ]; then
		[[ $line =~ line=\"?$line_no\"?( |$) ]] || fail "$key: the line does not name line $line_no: $line"
	fi
	log "ok: $key${line_no:+ (line $line_no)}: $(sed -E 's/^<[0-9]+>//' <<<"$line")"
}

# An unknown key, last in the file.
write_config 'frobnicate = yes'
broken_change frobnicate "$(config_line_of frobnicate)"

# A bad value.
write_config 'timeout = abc'
broken_change timeout "$(config_line_of timeout)"

# A missing required key: no line to point at.
write_config '!client_id'
broken_change client_id ''

# The server saw nothing at all.
n=$(count_events '^(request|token|lookup|set|set_error|status) ')
[ "$n" -eq 0 ] || fail "ISC was contacted despite the broken configuration: $(_grep -E '^(request|lookup|set) ' "$ISC_EVENTS" | head -n 5 | tr '\n' ';')"
assert_no_log 'event=(accepted|final)'
assert_authpriv 'event=config_error'

isc_done
