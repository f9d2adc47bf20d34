#!/bin/bash
# SPDX-License-Identifier: MIT
# The invoking user controls the environment of passwd; none of it reaches
# the helper. With proxies, key log files, CA overrides, a GnuTLS priority
# file, LD_PRELOAD, HOME and LANG set hostile in the calling process:
# - the change still goes straight to the configured server (a second server
#   standing in as the proxy sees no connection at all);
# - no TLS key log file appears;
# - the preloaded library is loaded into pamtester but not into the helper;
# - the running helper's environment is exactly PATH;
# - trust comes only from the configuration: without ca_file, a CA named by
#   the environment does not make the server trusted.
. "$(dirname "$0")/../lib.sh"

isc_setup
HOSTILE_SO=$top_builddir/tests/.libs/hostile_preload.so
[ -f "$HOSTILE_SO" ] || hard_error "$HOSTILE_SO is not built (make check builds it)"
start_server
SVC=isc_env

# The "proxy": a second test server. Whoever uses it as a proxy leaves a
# `connection` event in its log.
start_extra_server proxy
PROXY=http://127.0.0.1:$X_PORT
proxy_connections() { _grep -c '^connection ' "$T/proxy/events.log" 2>/dev/null || true; }

# --- self-checks: the detectors detect ----------------------------------------
# A client that honours https_proxy reaches the stand-in.
https_proxy=$PROXY HTTPS_PROXY=$PROXY curl -sS -k --max-time 5 -o /dev/null \
	"$ISC_URL/" 2>/dev/null || true
[ "$(proxy_connections)" -ge 1 ] || hard_error "self-check: curl through the proxy stand-in left no connection event"
: >"$T/proxy/events.log"
# A TLS client that honours SSLKEYLOGFILE writes one.
SSLKEYLOGFILE=$T/keylog.selfcheck curl -sS --noproxy '*' --max-time 5 --cacert "$ISC_CA" \
	-o /dev/null -H 'Content-Type: application/json' --data-binary '{}' "$ISC_URL/__control" ||
	hard_error "self-check: curl could not reach the test server"
[ -s "$T/keylog.selfcheck" ] || hard_error "self-check: SSLKEYLOGFILE was not honoured by curl"

# --- the hostile environment ----------------------------------------------------
mkdir -p "$T/evil-home" "$T/evil-certs"
printf 'machine 127.0.0.1 login evil password evil\n' >"$T/evil-home/.netrc"
printf 'proxy = "%s"\ninsecure\n' "$PROXY" >"$T/evil-home/.curlrc"
cp "$T/proxy/ca.pem" "$T/evil-certs/evil-ca.pem"
# If GnuTLS in the helper read this, no TLS version would be left.
printf '[overrides]\ndisabled-version = tls1.2\ndisabled-version = tls1.3\n' >"$T/evil-priority"
hostile_env() {
	PAMTESTER_ENV=(
		"https_proxy=$PROXY" "HTTPS_PROXY=$PROXY" "http_proxy=$PROXY" "HTTP_PROXY=$PROXY"
		"ALL_PROXY=$PROXY" "all_proxy=$PROXY" "NO_PROXY=" "no_proxy="
		"SSLKEYLOGFILE=$T/keylog"
		"CURL_CA_BUNDLE=$1" "SSL_CERT_FILE=$1" "SSL_CERT_DIR=$2"
		"GNUTLS_SYSTEM_PRIORITY_FILE=$T/evil-priority" "GNUTLS_DEBUG_LEVEL=99"
		"HOME=$T/evil-home" "CURL_HOME=$T/evil-home" "LANG=tr_TR.UTF-8" "LC_ALL=tr_TR.UTF-8"
		"LD_PRELOAD=${ISC_TEST_PAMTESTER_PRELOAD:+$ISC_TEST_PAMTESTER_PRELOAD }$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB $HOSTILE_SO"
		"LD_LIBRARY_PATH=$T/evil-home" "GCONV_PATH=$T/evil-home" "TZ=:/dev/null/nothing"
	)
}

# --- 1. a change with the configured CA: straight to the server -------------------
write_config
pam_service "$SVC" "$(isc_line)"
hostile_env "$T/evil-certs/evil-ca.pem" "$T/evil-certs"
pw='Hostile-env-password-1'
server_control '{"delay_ms": 1500}'
change_start alice "$pw"
hpid=$(helper_pid 10) || fail "no running pam_isc_helper seen"
# (An exiting process shows an empty environ.)
if env_now=$(tr '\0' '\n' <"/proc/$hpid/environ" 2>/dev/null) && [ -n "$env_now" ]; then
	if [ -z "$ISC_TEST_HELPER_WRAPPER" ]; then
		[ "$env_now" = "PATH=/usr/sbin:/usr/bin:/sbin:/bin" ] ||
			fail "the helper's environment is not just PATH: $(printf '%s' "$env_now" | tr '\n' ' ')"
	fi
	bad=$(printf '%s\n' "$env_now" | _grep -E '^(https?_proxy|HTTPS?_PROXY|ALL_PROXY|all_proxy|NO_PROXY|no_proxy|SSLKEYLOGFILE|CURL_CA_BUNDLE|SSL_CERT_FILE|SSL_CERT_DIR|GNUTLS_[A-Z_]*|HOME|CURL_HOME|LANG|LC_ALL|LD_LIBRARY_PATH|GCONV_PATH|TZ)=' || true)
	[ -z "$bad" ] || fail "hostile variables reached the helper: $(printf '%s' "$bad" | tr '\n' ' ')"
	case $env_now in *hostile_preload*) fail "the hostile LD_PRELOAD reached the helper" ;; esac
else
	log "note: helper $hpid ended before its environment could be read"
fi
change_wait
server_control '{"delay_ms": 0}'
[ "$RC" -eq 0 ] || fail "the change failed in a hostile environment (pamtester exit $RC)"
[ -n "$(set_event alice)" ] || fail "the configured server saw no set-password"
got_password alice "$pw" || fail "the server decrypted another password"
[ "$(proxy_connections)" -eq 0 ] || fail "the proxy stand-in was contacted: $(head -n 3 "$T/proxy/events.log" | tr '\n' ';')"
[ ! -e "$T/keylog" ] || fail "a TLS key log file appeared ($T/keylog)"
assert_log 'hostile_preload: loaded into (pamtester|timeout)' \
	"self-check: the hostile LD_PRELOAD was not loaded into the calling process"
assert_no_log 'hostile_preload: loaded into pam_isc_helper' "the hostile LD_PRELOAD reached the helper"
assert_log 'event=accepted user=alice '
log "ok: hostile environment ignored; the change went straight to the configured server"
# Let the follower of that change finish, so that its polls are not taken
# for requests of the next change.
wait_for_log 'event=final user=alice ' 20 || fail "no final line for the first change"
wait_no_follower 10 || fail "the follower did not exit"

# --- 2. trust comes from the configuration only ------------------------------------
# Without ca_file the system store is used; the environment names the test
# server's own CA, which must not make it trusted.
write_config '!ca_file' 'on_error = fail'
pam_service "$SVC" "$(isc_line)"
hostile_env "$ISC_CA" "$T/server"
pam_change alice 'Hostile-env-password-2'
[ "$RC" -ne 0 ] || fail "the change succeeded: a CA named by the environment was trusted"
[ "$(events_since "$MARK" | _grep -cE '^(request|set) ' || true)" -eq 0 ] ||
	fail "a request got through TLS although the server's CA is only in the environment"
assert_log 'event=error user=alice .*(certificate|issuer|SSL|TLS)'
[ ! -e "$T/keylog" ] || fail "a TLS key log file appeared ($T/keylog)"
[ "$(proxy_connections)" -eq 0 ] || fail "the proxy stand-in was contacted"
log "ok: a CA from the environment is not trusted"

isc_done
