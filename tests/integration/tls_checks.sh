#!/bin/bash
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
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"

# extra_server NAME [ARGS]: another test server in $T/NAME; sets X_URL, X_CA,
# X_PIN, X_EVENTS.
extra_server() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	"$ISC_TEST_SERVER" --dir "$T/$name" "$@" >"$T/$name.out" 2>&1 &
	_isc_pids+=($!)
	for _ in $(seq 1 100); do
		[ -s "$T/$name/port" ] && break
		sleep 0.1
	done
	[ -s "$T/$name/port" ] || hard_error "test server $name did not start: $(cat "$T/$name.out")"
	X_URL=https://127.0.0.1:$(tr -d '[:space:]' <"$T/$name/port")
	X_CA=$T/$name/ca.pem
	X_PIN=$(tr -d '[:space:]' <"$T/$name/pin")
	X_EVENTS=$T/$name/events.log
}

# refused NAME EVENTS_FILE LOG_PATTERN: with the config as written, the
# change fails as unreachable, LOG_PATTERN is in the new log lines, and the
# server (EVENTS_FILE) got no request.
refused() {
	local what=$1 events=$2 pattern=$3 pw="Tls-check-password-$1" mark rc=0 new
	register_secret "$pw"
	pam_service "$SVC" "$(isc_line)"
	mark=$(wc -l <"$SYSLOG")
	run_pamtester alice "$SVC" "$pw" || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: the change succeeded"
	_grep -q 'unreachable' "$T/pamtester.out" ||
		fail "$what: the person was not told ISC is unreachable: $(tail -n 3 "$T/pamtester.out")"
	sleep 0.2
	new=$(tail -n "+$((mark + 1))" "$SYSLOG")
	_grep -qE -- "event=error user=alice .*$pattern" <<<"$new" ||
		fail "$what: no error line matching /$pattern/: $(_isc_redact <<<"$new" | tr '\n' ';')"
	if [ -f "$events" ] && _grep -q '^request ' "$events"; then
		fail "$what: a request got through: $(_grep '^request ' "$events" | head -n 2 | tr '\n' ';')"
	fi
	log "ok: $what refused: $(_grep -oE 'text="[^"]*"' <<<"$new" | head -n 1)"
}

# --- a certificate from another CA -------------------------------------------
extra_server other_ca
write_config "ca_file = $X_CA" "on_error = fail"
refused wrong-ca "$ISC_EVENTS" '(certificate|issuer|verify|SSL)'

# --- a certificate for another host name -----------------------------------------
extra_server wrong_name --cert-name wrong.example
write_config "api_url = $X_URL" "ca_file = $X_CA" "on_error = fail"
refused wrong-host-name "$X_EVENTS" '(name|host|SSL|certificate)'

# --- an expired certificate -----------------------------------------------------------
extra_server expired --cert-expired
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
	register_secret "$pw"
	mark=$(events_mark)
	rc=0
	run_pamtester alice "$SVC" "$pw" || rc=$?
	[ "$rc" -eq 0 ] || fail "the change failed with a matching pin (pamtester exit $rc)"
	[ "$(events_since "$mark" | _grep -E '^set user=alice ' | field decrypted_sha256)" = "$(sha256_of "$pw")" ] ||
		fail "with a matching pin, the server did not get the password"
done
log "ok: a matching pin (alone, or among others) is accepted"

# --- proxy -----------------------------------------------------------------------------------
# The stand-in speaks TLS only, so the CONNECT fails: what matters is that the
# configured proxy, and nothing else, was contacted.
extra_server proxy
: >"$X_EVENTS"
mark=$(events_mark)
write_config "proxy = http://127.0.0.1:$(tr -d '[:space:]' <"$T/proxy/port")" "on_error = fail"
pam_service "$SVC" "$(isc_line)"
pw='Tls-proxy-password'
register_secret "$pw"
rc=0
run_pamtester alice "$SVC" "$pw" || rc=$?
[ "$rc" -ne 0 ] || fail "the change went through a proxy that cannot proxy"
_grep -q '^connection ' "$X_EVENTS" || fail "the configured proxy was not contacted"
[ -z "$(events_since "$mark" | _grep -E '^(connection|request) ' || true)" ] ||
	fail "with a proxy configured, the server was contacted directly"
log "ok: the configured proxy is used"

isc_done
