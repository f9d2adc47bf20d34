#!/bin/bash
# SPDX-License-Identifier: MIT
# The host's figures end to end: metrics_file (node_exporter's textfile
# format, mode 0644, rewritten atomically by the helper after each change
# and by pam_isc_ctl flush), the queue warnings (event=queue_warn once per
# crossing of queue_warn, event=queue_warn_cleared when back under) and
# `pam_isc_ctl status` without a request id, over a change accepted by
# ISC, changes queued while ISC is down, their delivery by flush, a change
# that fails without being queued and a queued change the flush drops.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_metrics
pam_service "$SVC" "$(isc_line)"

# node_exporter's textfile directory: the administrator's, not pam_isc's.
mkdir -m 0755 "$T/metrics"
METRICS=$T/metrics/pam_isc.prom

up() { write_config 'on_error = queue' 'timeout = 3' "metrics_file = $METRICS" 'queue_warn = 2' "$@"; }
down() { up "api_url = $ISC_DOWN_URL" "$@"; }

# metric SAMPLE: the value of SAMPLE (a name, with its labels if any) in
# the metrics file; empty when the file or the sample is not there.
metric() {
	[ -f "$METRICS" ] || return 0
	LC_ALL=C awk -v want="$1" '!/^#/ && NF == 2 && $1 == want { print $2 }' "$METRICS"
}

# wait_metric SAMPLE VALUE [TIMEOUT_S (10)]: until the file shows it (the
# helper writes the file after the module has its verdict, so pamtester
# may be back before it).
wait_metric() {
	local i
	for ((i = 0; i <= ${3:-10} * 10; i++)); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "metrics_file: $1 is '$(metric "$1")', expected $2: $(oneline <"$METRICS" 2>/dev/null)"
}

changes() { printf 'pam_isc_changes_total{outcome="%s"}' "$1"; }

# check_file: mode 0644, root's, a regular file, nothing else in the
# directory (no temporary file left), and the exposition format: HELP and
# TYPE before the samples of a name, one TYPE a name, counter or gauge, a
# counter named *_total, every sample of a typed pam_isc_ name with an
# integer value, the 12 samples expected.
check_file() {
	local what=$1 bad
	[ -f "$METRICS" ] && [ ! -L "$METRICS" ] || fail "$what: $METRICS is not a regular file"
	[ "$(stat -c '%a %u' "$METRICS")" = "644 0" ] ||
		fail "$what: $METRICS has mode/owner $(stat -c '%a %u' "$METRICS"), expected 644 0"
	[ "$(ls -A "$T/metrics")" = pam_isc.prom ] ||
		fail "$what: other files beside the metrics file: $(ls -A "$T/metrics" | tr '\n' ' ')"
	bad=$(LC_ALL=C awk '
		function bad(m) { if (!err) err = m }
		/^# HELP / { if (NF < 4) bad("HELP without text: " $0); help[$3] = 1; next }
		/^# TYPE / {
			if (NF != 4) bad("bad TYPE line: " $0)
			if ($3 in type) bad("two TYPE lines for " $3)
			if ($4 != "counter" && $4 != "gauge") bad("type " $4)
			if ($4 == "counter" && $3 !~ /_total$/) bad("counter " $3 " not *_total")
			type[$3] = $4
			next
		}
		/^#/ { bad("comment line: " $0); next }
		{
			name = $1
			sub(/\{.*/, "", name)
			if (name !~ /^pam_isc_[a-z0-9_]+$/) bad("sample name: " $0)
			if (!(name in type)) bad("no TYPE before " name)
			if (!(name in help)) bad("no HELP before " name)
			if (NF != 2 || $2 !~ /^[0-9]+$/) bad("sample: " $0)
			n++
		}
		END {
			if (n != 12) bad(n " samples, expected 12")
			print err
		}' "$METRICS")
	[ -z "$bad" ] || fail "$what: $bad"
}

# status_line KEY: the value pam_isc_ctl status printed for KEY.
status_line() { sed -n "s/^$1: //p" "$T/ctl.out"; }

# check_status WHAT QUEUE CHANGES: `pam_isc_ctl status` exits 0, prints its
# 7 lines, the queue line and the changes line matching these patterns.
check_status() {
	local what=$1 queue=$2 counts=$3
	ctl status
	[ "$CTL_RC" -eq 0 ] || fail "$what: status exited $CTL_RC: $(oneline <"$T/ctl.out")"
	[ "$(wc -l <"$T/ctl.out")" -eq 7 ] || fail "$what: status printed: $(oneline <"$T/ctl.out")"
	_grep -qxE 'rate_limit: 100/10s \(used [0-9]+ in the current window\)' "$T/ctl.out" ||
		fail "$what: rate_limit line: $(oneline <"$T/ctl.out")"
	_grep -qx 'rate_hold: none' "$T/ctl.out" || fail "$what: rate_hold line"
	_grep -qxE 'api_requests: [0-9]+' "$T/ctl.out" || fail "$what: api_requests line"
	[ "$(status_line api_requests)" -ge "$(metric pam_isc_api_requests_total)" ] ||
		fail "$what: status shows fewer requests than the metrics file"
	_grep -qx 'answers_429: 0' "$T/ctl.out" || fail "$what: answers_429 line"
	_grep -qxE "queue: $queue" "$T/ctl.out" || fail "$what: queue line: $(status_line queue)"
	_grep -qxE 'last_delivery: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$T/ctl.out" ||
		fail "$what: last_delivery line: $(status_line last_delivery)"
	_grep -qxE "changes: $counts" "$T/ctl.out" || fail "$what: changes line: $(status_line changes)"
}

t0=$(date +%s)

# --- a change ISC accepts: counted, last delivery set, the file written.
up
[ ! -e "$METRICS" ] || fail "a metrics file before any change"
ctl status
[ "$CTL_RC" -eq 0 ] || fail "status before any change: exit $CTL_RC: $(oneline <"$T/ctl.out")"
_grep -qx 'last_delivery: never' "$T/ctl.out" || fail "status before any change: $(oneline <"$T/ctl.out")"
_grep -qx 'queue: empty' "$T/ctl.out" || fail "status before any change: queue not empty"
change_ok alice 'Metrics-alice-password-1'
wait_metric "$(changes accepted)" 1
check_file "after an accepted change"
for o in failed queued dropped; do
	[ "$(metric "$(changes $o)")" = 0 ] || fail "after an accepted change: $o is $(metric "$(changes $o)")"
done
last=$(metric pam_isc_last_delivery_timestamp_seconds)
[ "$last" -ge "$t0" ] && [ "$last" -le "$(date +%s)" ] ||
	fail "last delivery $last is not the time of the change (from $t0)"
[ "$(metric pam_isc_queue_entries)" = 0 ] || fail "queue entries before any was queued"
[ "$(metric pam_isc_queue_oldest_age_seconds)" = 0 ] || fail "an oldest age without a queue"
[ "$(metric pam_isc_rate_limit_requests)" = 100 ] || fail "rate_limit_requests"
[ "$(metric pam_isc_rate_limit_window_seconds)" = 10 ] || fail "rate_limit_window_seconds"
[ "$(metric pam_isc_api_requests_total)" -ge 2 ] ||
	fail "api requests $(metric pam_isc_api_requests_total): a lookup and a set-password were made"
[ "$(metric pam_isc_isc_429_total)" = 0 ] || fail "429s counted that ISC never sent"
log "ok: an accepted change: counted, last delivery, mode 0644, format"

# --- ISC down: three users' changes queued; the third crosses queue_warn.
down
change_ok user1 'Metrics-user1-password-2'
change_ok user2 'Metrics-user2-password-3'
wait_metric "$(changes queued)" 2
wait_metric pam_isc_queue_entries 2
[ "$(count_log 'event=queue_warn ')" -eq 0 ] || fail "queue_warn at 2 entries (queue_warn = 2)"
change_ok user3 'Metrics-user3-password-4'
wait_metric "$(changes queued)" 3
wait_metric pam_isc_queue_entries 3
[ "$(queue_entries | wc -l)" -eq 3 ] || fail "expected 3 queue entries: $(queue_entries)"
check_file "after three queued changes"
[ "$(metric "$(changes accepted)")" = 1 ] || fail "accepted changed while ISC was down"
[ "$(metric "$(changes failed)")" = 0 ] || fail "a queued change counted as failed"
wait_for_log 'event=queue_warn reason=depth entries=3 limit=2' 5 || fail "no queue_warn line"
assert_authpriv 'event=queue_warn '
check_status "three queued" '3 entries, oldest [0-9]+[sm] ago' 'accepted 1, failed 0, queued 3, dropped 0'
# A flush while ISC is still down changes nothing and warns no more.
ctl flush
[ "$CTL_RC" -eq 1 ] || fail "flush while down: exit $CTL_RC"
wait_for_log 'event=flush delivered=0 dropped=0 remaining=3' 5 || fail "no flush summary while down"
[ "$(metric pam_isc_queue_entries)" = 3 ] || fail "entries after a flush while down"
[ "$(count_log 'event=queue_warn ')" -eq 1 ] ||
	fail "queue_warn logged more than once: $(_grep 'event=queue_warn' "$SYSLOG" | oneline)"
log "ok: queued changes counted; one queue_warn; status"

# --- ISC back: the flush delivers them, the warning clears.
up
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush: exit $CTL_RC: $(oneline <"$T/ctl.out")"
[ -z "$(queue_entries)" ] || fail "flush left entries: $(queue_entries)"
[ "$(metric "$(changes accepted)")" = 4 ] ||
	fail "accepted after the flush: $(metric "$(changes accepted)"), expected 4"
[ "$(metric pam_isc_queue_entries)" = 0 ] || fail "queue entries after the flush"
[ "$(metric pam_isc_queue_oldest_age_seconds)" = 0 ] || fail "oldest age after the flush"
[ "$(metric "$(changes queued)")" = 3 ] || fail "the queued counter went back"
[ "$(metric "$(changes dropped)")" = 0 ] || fail "a delivered change counted as dropped"
check_file "after the flush"
wait_for_log 'event=queue_warn_cleared reason=depth entries=2 limit=2' 5 || fail "no queue_warn_cleared line"
[ "$(count_log 'event=queue_warn_cleared ')" -eq 1 ] || fail "queue_warn_cleared logged more than once"
[ "$(count_log 'event=queue_warn ')" -eq 1 ] || fail "a second queue_warn"
check_status "after the flush" 'empty' 'accepted 4, failed 0, queued 3, dropped 0'
log "ok: flush: accepted 4, queue 0, warning cleared"

# --- a change that fails and is not queued (on_error = ignore, ISC down).
down 'on_error = ignore'
pam_change dave 'Metrics-dave-password-5'
[ "$RC" -eq 0 ] || fail "on_error = ignore: the local change did not stand (exit $RC)"
wait_metric "$(changes failed)" 1
[ "$(metric "$(changes queued)")" = 3 ] || fail "a change under on_error = ignore was counted queued"
[ -z "$(queue_entries)" ] || fail "a change under on_error = ignore was queued"
log "ok: a failed change, not queued, counted as failed"

# --- a queued change the flush drops (older than queue_max_age).
down
change_ok carol 'Metrics-carol-password-6'
wait_metric "$(changes queued)" 4
sed -i 's/^time=.*/time=1000/' "$(queue_entry_of carol)"
up
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush of an expired entry: exit $CTL_RC"
wait_for_log 'event=queue_dropped user=carol reason=expired' 5 || fail "carol's entry not dropped"
[ "$(metric "$(changes dropped)")" = 1 ] || fail "dropped: $(metric "$(changes dropped)"), expected 1"
[ "$(metric "$(changes accepted)")" = 4 ] || fail "a dropped change counted as accepted"
[ "$(metric pam_isc_queue_entries)" = 0 ] || fail "queue entries after the drop"
check_file "after a drop"
check_status "at the end" 'empty' 'accepted 4, failed 1, queued 4, dropped 1'
log "ok: a dropped change counted"

# --- the state cannot be trusted: status says so and fails; nothing else
# went wrong meanwhile.
chmod 0644 "$T/run/stats"
ctl status
[ "$CTL_RC" -eq 1 ] || fail "status over a stats file open to others: exit $CTL_RC"
_grep -q '^pam_isc_ctl: cannot read the host.s state: .*/run/stats' "$T/ctl.out" ||
	fail "status did not say why: $(oneline <"$T/ctl.out")"
chmod 0600 "$T/run/stats"
assert_no_log 'event=(metrics_error|stats_error)'
[ "$(count_log 'event=queue_warn ')" -eq 1 ] || fail "queue_warn logged more than once in all"
log "ok: status refuses a state it cannot trust"

isc_done
