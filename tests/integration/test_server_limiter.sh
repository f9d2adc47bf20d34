#!/bin/bash
# SPDX-License-Identifier: MIT
# The test server's rate limits, ISC's way (tests/isc_test_server.md, "Rate
# limits"), checked with curl alone: at most N API requests per bearer token
# in any S seconds, the next one answered 429 with a Retry-After after which
# it is served; refused requests do not count; each token has its own
# window; the /__control switch turns the limit off, on and changes it; the
# token endpoint has a limit of its own, per client_id. Every refusal is a
# rate_limited event. Tests of clients' backing off, and a benchmark of a
# fleet of hosts against one server, can then build on it.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server --rate-limit 5/2 --token-rate-limit 2/60

LOOKUP_BODY='{"userName":"alice","sourceName":"Linux Hosts"}'
RATE_BODY='{"message":" Rate Limit Exceeded "}'

# retry_afters FILE: the Retry-After values of the responses whose headers
# curl dumped to FILE, in order, blank-separated.
retry_afters() {
	tr -d '\r' <"$1" | LC_ALL=C sed -nE 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]: *//p' |
		tr '\n' ' ' | sed 's/ $//'
}

# token_request CLIENT_ID: one token request (the secret on stdin); sets
# CODE, RETRY (its Retry-After, or empty) and BODY (the answer).
token_request() {
	CODE=$(printf 'grant_type=client_credentials&client_id=%s&client_secret=test-secret' "$1" |
		curl -sS --noproxy '*' --max-time 20 --cacert "$ISC_CA" \
			-H 'Content-Type: application/x-www-form-urlencoded' --data-binary @- \
			-D "$T/headers" -o "$T/body" -w '%{http_code}' "$ISC_URL/oauth/token") ||
		fail "curl could not reach the token endpoint"
	RETRY=$(retry_afters "$T/headers")
	BODY=$(cat "$T/body")
}

# new_token: prints a fresh access token of the default client.
new_token() {
	local token
	token_request pam-isc-test
	[ "$CODE" = 200 ] || fail "token request: status $CODE, body $BODY"
	token=$(printf '%s' "$BODY" | LC_ALL=C sed -nE 's/.*"access_token":"([0-9a-f]+)".*/\1/p')
	[ -n "$token" ] || fail "no access_token in $BODY"
	printf '%s\n' "$token"
}

# now_ms: the wall clock in milliseconds (only differences are used).
now_ms() {
	local us=${EPOCHREALTIME//[!0-9]/}
	printf '%s' $((us / 1000))
}

# What the lookups below were answered, by status and by token: the events
# must tell the same.
SEEN_200=0
SEEN_429=0
declare -A SEEN_429_OF

# lookups TOKEN N: N lookups with TOKEN in one curl run, over one kept-alive
# connection, so that they come within milliseconds of each other. Sets
# CODES (the statuses, blank-separated), RETRIES (the Retry-After values of
# the answers that had one), MS (how long the run took) and leaves the last
# answer's body in $T/body.
lookups() {
	local token=$1 n=$2 i start code args=()
	for ((i = 1; i < n; i++)); do
		args+=(-o /dev/null "$ISC_URL/v3/query-password-info")
	done
	args+=(-o "$T/body" "$ISC_URL/v3/query-password-info")
	start=$(now_ms)
	CODES=$(curl -sS --noproxy '*' --max-time 30 --cacert "$ISC_CA" \
		-H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		--data-binary "$LOOKUP_BODY" -D "$T/headers" -w '%{http_code} ' "${args[@]}") ||
		fail "curl could not reach the server"
	MS=$(($(now_ms) - start))
	CODES=${CODES% }
	RETRIES=$(retry_afters "$T/headers")
	for code in $CODES; do
		case $code in
		200) SEEN_200=$((SEEN_200 + 1)) ;;
		429)
			SEEN_429=$((SEEN_429 + 1))
			SEEN_429_OF[$token]=$((${SEEN_429_OF[$token]:-0} + 1))
			;;
		esac
	done
}

# repeat WORD N: WORD N times, blank-separated.
repeat() {
	local i out=
	for ((i = 0; i < $2; i++)); do
		out+="${out:+ }$1"
	done
	printf '%s' "$out"
}

# retries_within MIN MAX WHAT: every Retry-After of the last lookups is in
# MIN..MAX.
retries_within() {
	local r
	[ -n "$RETRIES" ] || fail "$3: no Retry-After"
	for r in $RETRIES; do
		[ "$r" -ge "$1" ] && [ "$r" -le "$2" ] ||
			fail "$3: Retry-After $r, not between $1 and $2 (all: $RETRIES)"
	done
}

# full_burst TOKEN N OK: N lookups in one go, of which the first OK pass and
# the rest are refused, with a Retry-After of 1 or 2 (the window is 2 s). A
# burst that took about as long as the window (a very slow machine) proves
# nothing: then the windows are emptied (the switch set again) and it is
# tried again, up to 3 times.
full_burst() {
	local token=$1 n=$2 ok=$3 want
	want="$(repeat 200 "$ok") $(repeat 429 $((n - ok)))"
	for _ in 1 2 3; do
		lookups "$token" "$n"
		[ "$MS" -lt 1500 ] && break
		log "a burst of $n took $MS ms, too long for a 2 s window: again"
		server_control '{"rate_limit": "5/2"}'
	done
	[ "$CODES" = "$want" ] || fail "burst of $n (in $MS ms): statuses $CODES, expected $want"
	retries_within 1 2 "burst of $n"
	[ "$(wc -w <<<"$RETRIES")" -eq $((n - ok)) ] ||
		fail "$((n - ok)) refusals but Retry-After values '$RETRIES'"
}

# control JSON: POST /__control; sets CODE and BODY.
control() {
	CODE=$(curl -sS --noproxy '*' --max-time 10 --cacert "$ISC_CA" \
		-H 'Content-Type: application/json' --data-binary "$1" -o "$T/body" \
		-w '%{http_code}' "$ISC_URL/__control") || fail "curl could not reach /__control"
	BODY=$(cat "$T/body")
}

# refusals_of TOKEN LIMIT: the events of the limiter's refusals of TOKEN's
# lookups under LIMIT (N/S).
refusals_of() {
	local re="^rate_limited endpoint=lookup path=/v3/query-password-info"
	re+=" token_sha256=$(sha256_of "$1" | cut -c1-16) limit=$2 retry_after=[0-9]+ status=429\$"
	count_events "$re"
}

# token_refusals CLIENT_ID LIMIT: the events of the limiter's refusals of
# CLIENT_ID's token requests under LIMIT.
token_refusals() {
	local re="^rate_limited endpoint=token path=/oauth/token"
	re+=" client_id=$1 limit=$2 retry_after=[0-9]+ status=429\$"
	count_events "$re"
}

# --- bad limits are usage errors --------------------------------------------
for bad in 0/2 5 5/0 x/2 5/2x 100001/1 5/86401 -5/2 ' 5/2' ''; do
	for option in --rate-limit --token-rate-limit; do
		rc=0
		timeout 10 "$ISC_TEST_SERVER" --dir "$T/bad-options" "$option" "$bad" \
			>"$T/bad.out" 2>&1 || rc=$?
		[ "$rc" -eq 2 ] || fail "$option '$bad': exit status $rc, not 2 (usage error)"
	done
done
log "ok: bad --rate-limit and --token-rate-limit values are usage errors"

# --- the token endpoint's limit from the command line: 2 per 60 s ----------
A=$(new_token)
B=$(new_token)
token_request pam-isc-test
[ "$CODE" = 429 ] || fail "third token request in 60 s: status $CODE, not 429"
[ "$BODY" = "$RATE_BODY" ] || fail "429 of the token endpoint: body $BODY"
[ -n "$RETRY" ] && [ "$RETRY" -ge 50 ] && [ "$RETRY" -le 60 ] ||
	fail "429 of the token endpoint: Retry-After '$RETRY', not about 60"
log "ok: --token-rate-limit 2/60: third token refused, Retry-After $RETRY"

# --- API: 5 per 2 s, per token -----------------------------------------------
full_burst "$A" 6 5
wait_s=$RETRIES
log "ok: 5 lookups passed, the sixth was refused with Retry-After $wait_s"

# Token B has its own window (A's is full); a token the server does not
# know is not limited but refused (401).
full_burst "$B" 6 5
lookups 0123456789abcdef0123456789abcdef0123456789abcdef 1
[ "$CODES" = 401 ] || fail "unknown token while A's and B's windows are full: status $CODES"
log "ok: token B has a window of its own; an unknown token gets 401"

sleep "$wait_s"
lookups "$A" 1
[ "$CODES" = 200 ] || fail "lookup after waiting Retry-After ($wait_s s): status $CODES, not 200"
log "ok: after Retry-After, A is served again"

# --- refused requests do not count -------------------------------------------
# 5 per 4 s: five pass at t, seven are refused at t + 2 s; after the
# Retry-After (at most 2 s: the five leave the window at t + 4 s) the next
# one passes. Had the refusals counted, they would fill the window until
# t + 6 s.
for _ in 1 2 3; do
	server_control '{"rate_limit": "5/4"}'
	start=$(now_ms)
	lookups "$A" 5
	[ "$CODES" = "$(repeat 200 5)" ] || fail "5/4: first five lookups: $CODES"
	sleep 2
	lookups "$A" 7
	[ $(($(now_ms) - start)) -lt 3500 ] && break
	log "fill and refusals took $(($(now_ms) - start)) ms, too long for a 4 s window: again"
done
[ "$CODES" = "$(repeat 429 7)" ] || fail "5/4: seven lookups 2 s later: $CODES, not all 429"
retries_within 1 2 "5/4, 2 s after the window filled"
[ "$(cat "$T/body")" = "$RATE_BODY" ] || fail "429 of the limiter: body $(cat "$T/body")"
sleep "${RETRIES##* }"
lookups "$A" 1
[ "$CODES" = 200 ] ||
	fail "after Retry-After ${RETRIES##* } s: status $CODES; the refused lookups were counted"
log "ok: refused lookups are not counted"

# Every refusal left its event, right after its request line; the lookups
# that passed were handled and logged as usual.
n429=$(count_events '^request conn=[0-9]+ method=POST path=/v3/query-password-info status=429$')
nlim=$(count_events '^rate_limited endpoint=lookup ')
[ "$n429" -eq "$SEEN_429" ] && [ "$nlim" -eq "$SEEN_429" ] ||
	fail "$SEEN_429 lookups answered 429, $n429 such request lines, $nlim rate_limited events"
[ "$(refusals_of "$B" 5/2)" -eq "${SEEN_429_OF[$B]}" ] ||
	fail "B: $(refusals_of "$B" 5/2) rate_limited events, ${SEEN_429_OF[$B]} refusals"
[ $(($(refusals_of "$A" 5/2) + $(refusals_of "$A" 5/4))) -eq "${SEEN_429_OF[$A]}" ] ||
	fail "A: ${SEEN_429_OF[$A]} refusals; $(_grep '^rate_limited ' "$ISC_EVENTS" | oneline)"
n200=$(count_events '^request conn=[0-9]+ method=POST path=/v3/query-password-info status=200$')
nok=$(count_events '^lookup user=alice source="Linux Hosts" status=200$')
[ "$n200" -eq "$SEEN_200" ] && [ "$nok" -eq "$SEEN_200" ] ||
	fail "$SEEN_200 lookups answered 200, $n200 such request lines, $nok lookup events"
stray=$(_grep -B1 -E '^rate_limited ' "$ISC_EVENTS" |
	{ _grep -vE '^(rate_limited |request .* status=429$|--$)' || true; })
[ -z "$stray" ] || fail "a rate_limited event without its request line just before: $stray"

log "ok: events: $nlim rate_limited lines, one per 429"

# --- the switch: off, bad values, on, set again ------------------------------
control '{"rate_limit": "off"}'
[ "$CODE" = 200 ] || fail "rate_limit off: status $CODE"
case $BODY in *'"rate_limit":"off"'*) ;; *) fail "rate_limit off: answer $BODY" ;; esac
lookups "$A" 12
[ "$CODES" = "$(repeat 200 12)" ] || fail "rate_limit off: statuses $CODES"
[ -z "$RETRIES" ] || fail "rate_limit off: Retry-After $RETRIES"

# All the switches given, or none.
for bad in '"5/0"' '"5"' '"x/2"' '"100001/1"' '"5/86401"' '5' 'true' '"on"' '""'; do
	control "{\"delay_ms\": 1, \"rate_limit\": $bad}"
	[ "$CODE" = 400 ] || fail "rate_limit $bad: status $CODE, not 400"
done
control '{"token_rate_limit": "1/0", "rate_limit": "1/1"}'
[ "$CODE" = 400 ] || fail "token_rate_limit 1/0: status $CODE, not 400"
wait_for_event '^control_error reason="bad value for token_rate_limit"$' 5 ||
	fail "no control_error event for token_rate_limit 1/0"
control '{}'
case $BODY in
*'"delay_ms":0,'*'"rate_limit":"off","token_rate_limit":"2/60"'*) ;;
*) fail "a refused control request changed switches: $BODY" ;;
esac

control '{"rate_limit": "3/60"}'
case $BODY in *'"rate_limit":"3/60"'*) ;; *) fail "rate_limit 3/60: answer $BODY" ;; esac
lookups "$A" 4
[ "$CODES" = "200 200 200 429" ] || fail "rate_limit 3/60: statuses $CODES"
[ "$RETRIES" -ge 50 ] && [ "$RETRIES" -le 60 ] || fail "rate_limit 3/60: Retry-After $RETRIES"
[ "$(refusals_of "$A" 3/60)" -eq 1 ] || fail "no rate_limited event with limit=3/60"
# Set again, even to the same value: the windows start afresh.
control '{"rate_limit": "3/60"}'
lookups "$A" 4
[ "$CODES" = "200 200 200 429" ] || fail "rate_limit set again: statuses $CODES"
control '{"rate_limit": "0"}'
case $BODY in *'"rate_limit":"off"'*) ;; *) fail "rate_limit 0: answer $BODY" ;; esac
lookups "$A" 5
[ "$CODES" = "$(repeat 200 5)" ] || fail "rate_limit 0: statuses $CODES"
log "ok: the rate_limit switch turns the limit off, on, changes it and checks its value"

# --- the token endpoint: per client_id, by switch ------------------------------
control '{"token_rate_limit": "off"}'
for i in 1 2 3; do
	new_token >/dev/null
done
control '{"token_rate_limit": "4/60"}'
for i in 1 2 3 4; do
	new_token >/dev/null
done
token_request pam-isc-test
[ "$CODE" = 429 ] || fail "fifth token request with 4/60: status $CODE"
[ "$RETRY" -ge 50 ] && [ "$RETRY" -le 60 ] || fail "token 429: Retry-After $RETRY"
# Another client id has its own window: the limiter comes before the
# credentials check, so its requests are refused as bad credentials (401)
# until its own window is full.
for i in 1 2 3 4; do
	token_request other-client
	[ "$CODE" = 401 ] || fail "other-client, request $i: status $CODE, not 401"
done
token_request other-client
[ "$CODE" = 429 ] || fail "other-client, request 5: status $CODE, not 429"
[ "$(token_refusals other-client 4/60)" -eq 1 ] || fail "no rate_limited event for other-client"
[ "$(token_refusals pam-isc-test 4/60)" -eq 1 ] || fail "no rate_limited event for pam-isc-test"
[ "$(token_refusals pam-isc-test 2/60)" -eq 1 ] || fail "no rate_limited event of the 2/60 limit"
[ "$(count_events '^rate_limited endpoint=token ')" -eq 3 ] ||
	fail "$(count_events '^rate_limited endpoint=token ') rate_limited token events, not 3"
# A client that waits Retry-After gets its token.
control '{"token_rate_limit": "1/3"}'
new_token >/dev/null
token_request pam-isc-test
[ "$CODE" = 429 ] && [ "$RETRY" -ge 1 ] && [ "$RETRY" -le 3 ] ||
	fail "token_rate_limit 1/3: status $CODE, Retry-After '$RETRY'"
sleep "$RETRY"
new_token >/dev/null
# The API limit never saw the token requests, nor the control requests.
[ "$(count_events '^rate_limited endpoint=(lookup|set|status) ')" -eq "$SEEN_429" ] ||
	fail "API refusals after the API limit was turned off"
log "ok: the token endpoint's limit is per client_id, by switch too"

isc_done
