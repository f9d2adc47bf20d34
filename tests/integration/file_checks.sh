#!/bin/bash
# Files and directories an attacker could plant or loosen are refused, each
# with one clear log line: a config file writable by others or a symlink, a
# secret file readable by others, a runtime_dir with a wider mode.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_files
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"

# try_change NAME: a change that must fail; RC and the new log lines in NEW.
try_change() {
	local pw="File-check-password-$1" mark
	register_secret "$pw"
	pam_service "$SVC" "$(isc_line)"
	mark=$(wc -l <"$SYSLOG")
	RC=0
	run_pamtester alice "$SVC" "$pw" || RC=$?
	sleep 0.3
	NEW=$(tail -n "+$((mark + 1))" "$SYSLOG")
}

# 1. config writable by others
write_config
chmod 0666 "$ISC_CONF"
try_change conf-mode
[ "$RC" -ne 0 ] || fail "a change succeeded with a world-writable config"
_grep -q 'event=config_error .*writable by group or others (mode 0666)' <<<"$NEW" ||
	fail "no config_error line about the config's mode: $(_isc_redact <<<"$NEW" | tr '\n' ';')"
log "ok: world-writable config refused"

# 2. config is a symlink to a good file
write_config
mv "$ISC_CONF" "$T/real.conf"
ln -s "$T/real.conf" "$ISC_CONF"
try_change conf-link
[ "$RC" -ne 0 ] || fail "a change succeeded with a symlinked config"
_grep -q 'event=config_error .*symbolic link' <<<"$NEW" || fail "no config_error line about the symlink"
rm -f "$ISC_CONF" "$T/real.conf"
log "ok: symlinked config refused"

# 3. secret readable by others
write_config
chmod 0644 "$T/secret"
try_change secret-mode
[ "$RC" -ne 0 ] || fail "a change succeeded with a world-readable secret"
_grep -q 'readable by group or others (mode 0644)' <<<"$NEW" ||
	fail "no log line about the secret's mode: $(_isc_redact <<<"$NEW" | tr '\n' ';')"
log "ok: world-readable secret refused"

# 4. runtime_dir with a wider mode: the change goes through but nothing is
#    cached or queued there, and that is logged.
write_config
chmod 0755 "$T/run"
try_change runtime-mode
_grep -q "$(re_escape "$T/run") has mode 755; it must be 0700" <<<"$NEW" ||
	fail "no log line about runtime_dir's mode: $(_isc_redact <<<"$NEW" | tr '\n' ';')"
[ -z "$(ls -A "$T/run")" ] || fail "files were written into a runtime_dir with mode 0755"
log "ok: runtime_dir with mode 0755 not used (pamtester exit $RC)"

isc_done
