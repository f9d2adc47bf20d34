#!/bin/bash
# SPDX-License-Identifier: MIT
# Files and directories an attacker could plant or loosen are refused, each
# with one clear log line: a config file writable by others or a symlink, a
# secret file readable by others, a runtime_dir with a wider mode.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_files

# try_change NAME: a change with the files as set up; RC, and the new log
# lines in NEW.
try_change() {
	pam_service "$SVC" "$(isc_line)"
	pam_change alice "File-check-password-$1"
	sleep 0.3
	NEW=$(syslog_since "$LOG_MARK")
}

# refused NAME WHAT LOG_RE: the change fails with WHAT, and one of its log
# lines matches the grep -E LOG_RE.
refused() {
	try_change "$1"
	[ "$RC" -ne 0 ] || fail "a change succeeded with $2"
	_grep -qE -- "$3" <<<"$NEW" || fail "no log line about $2 matching /$3/: $(oneline <<<"$NEW")"
	log "ok: $2 refused"
}

# 1. config writable by others
write_config
chmod 0666 "$ISC_CONF"
refused conf-mode "a world-writable config" 'event=config_error .*writable by group or others \(mode 0666\)'

# 2. config is a symlink to a good file
write_config
mv "$ISC_CONF" "$T/real.conf"
ln -s "$T/real.conf" "$ISC_CONF"
refused conf-link "a symlinked config" 'event=config_error .*symbolic link'
rm -f "$ISC_CONF" "$T/real.conf"

# 3. secret readable by others
write_config
chmod 0644 "$T/secret"
refused secret-mode "a world-readable secret" 'readable by group or others \(mode 0644\)'

# 4. runtime_dir with a wider mode: the change goes through but nothing is
#    cached or queued there, and that is logged.
write_config
# What the refused changes above left there (their counts in stats) goes
# first: the check is that this change writes nothing.
find "$T/run" -mindepth 1 -delete
chmod 0755 "$T/run"
try_change runtime-mode
_grep -q "$(re_escape "$T/run") has mode 755; it must be 0700" <<<"$NEW" ||
	fail "no log line about runtime_dir's mode: $(oneline <<<"$NEW")"
[ -z "$(ls -A "$T/run")" ] || fail "files were written into a runtime_dir with mode 0755"
log "ok: runtime_dir with mode 0755 not used (pamtester exit $RC)"

isc_done
