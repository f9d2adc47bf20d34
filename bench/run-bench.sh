#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/run-bench.sh [--smoke]: the pam_isc benchmark. Run it with
# `make bench` (or `make bench-smoke`: a few changes per row, correctness
# only, for CI). What it measures and how to read it: docs/performance.md.
#
# Everything runs in one go against the ISC test server on loopback, inside
# the integration tests' harness (tests/lib.sh: private mount and PID
# namespaces, syslog captured on a private /dev/log, users from
# nss_wrapper, PAM from pam_wrapper), with a private tmpfs over /tmp so that
# pam_wrapper's fixed /tmp/pam.X directories cannot collide with a `make
# check` running at the same time. Every change of every row is checked: the
# server must have decrypted exactly the password that was typed.
set -euo pipefail

# (No shift: tests/lib.sh re-executes this script with its arguments.)
BENCH_MODE=full
[ "${1:-}" = --smoke ] && BENCH_MODE=smoke
: "${top_builddir:?run me through make bench}"
: "${top_srcdir:?run me through make bench}"
: "${BENCH_PKGDIR:=$top_builddir/bench/pkg}"
# The work directory: not under /tmp, which gets a private tmpfs below, and
# not world-writable, or pam_script refuses to run the baseline script.
if [ "${_ISC_IN_NS:-0}" != 1 ]; then
	TMPDIR=$top_builddir/bench/tmp
	mkdir -p "$TMPDIR"
	chmod 0755 "$TMPDIR"
	export TMPDIR
fi
. "$top_srcdir/tests/lib.sh"
_isc_name=bench

BENCH_RUN=$top_builddir/bench/bench_run
BENCH_BATCH=$top_builddir/bench/bench_batch
BENCH_FLOOR=$top_builddir/bench/bench_floor
BENCH_POLLS=$top_builddir/bench/bench_poll_schedule
PAM_SCRIPT_SO=$BENCH_PKGDIR/lib/x86_64-linux-gnu/security/pam_script.so
for p in "$BENCH_RUN" "$BENCH_BATCH" "$BENCH_FLOOR" "$BENCH_POLLS"; do
	[ -x "$p" ] || hard_error "$p is not built (make bench builds it)"
done
[ -f "$PAM_SCRIPT_SO" ] || hard_error "$PAM_SCRIPT_SO missing (bench/install-deps.sh unpacks it)"
for t in curl jq openssl /usr/bin/time; do
	command -v "$t" >/dev/null || hard_error "$t is not installed (bench/install-deps.sh)"
done

if [ "$BENCH_MODE" = smoke ]; then
	N=5 N_SLOW=3 BATCH_SIZES="3 10" RSS_N=2 FOLLOW_TIMES="1" DELAYS="0 50"
else
	N=200 N_SLOW=200 BATCH_SIZES="10 100 1000" RSS_N=20 FOLLOW_TIMES="1 10 60" DELAYS="0 50"
fi
BATCH_USERS=1000

isc_setup
case $T in
/tmp/*) ;; # a build tree under /tmp: rely on tests/lib.sh's pam_wrapper lock
*) mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev bench-tmp /tmp ||
	hard_error "cannot mount a private tmpfs over /tmp" ;;
esac
mkdir -p "$T/rows"
R=$T/results.md
: >"$R"
out() { printf '%s\n' "$*" | tee -a "$R"; }

# The batch users: b0001 ... b1000, uids 20001 ...
for ((i = 1; i <= BATCH_USERS; i++)); do
	printf -v u 'b%04d' "$i"
	printf '%s:x:%d:%d:%s:%s:/bin/sh\n' "$u" $((20000 + i)) $((20000 + i)) "$u" \
		"$T/home/$u" >>"$T/passwd"
	printf '%s:x:%d:\n' "$u" $((20000 + i)) >>"$T/group"
	printf '%s\n' "$u" >>"$T/users.all"
done

# A password for each row: random, registered so that the end of the run
# checks that none of the outputs shows it.
new_password() {
	local pw
	pw="Bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')-$1"
	register_secret "$pw"
	printf '%s' "$pw"
}

pam_env() {
	env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
		LD_PRELOAD="$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" \
		NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" "$@"
}

# stats FILE COL: p50 p95 max of column COL (microseconds), in ms.
stats() {
	awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END { i = int(0.50 * (NR - 1) + 0.5) + 1; j = int(0.95 * (NR - 1) + 0.5) + 1
		      printf "%.1f %.1f %.1f", v[i] / 1000, v[j] / 1000, v[NR] / 1000 }'
}
cpu_ms() { awk '{ s += $3 + $4 } END { printf "%.1f", s / NR / 1000 }' "$1"; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# api_counts MARK [EVENTS_FILE]: "REQUESTS CONNECTIONS" since MARK, test
# switches left out (server_control comes before the mark anyway).
api_counts() {
	local f=${2:-$T/server/events.log}
	tail -n "+$(($1 + 1))" "$f" | awk '
		/^connection / { c++ }
		/^request / && $0 !~ /path=\/__control/ { r++ }
		END { printf "%d %d", r, c }'
}

# check_sets MARK N PASSWORD USER: exactly N accepted set-password calls for
# USER since MARK, every one with PASSWORD decrypted, and no refused one.
check_sets() {
	local mark=$1 n=$2 want got bad
	want=$(sha256_of "$3")
	got=$(events_since "$mark" | _grep -cE "^set user=$4 .*decrypted_sha256=$want .*status=202" || true)
	bad=$(events_since "$mark" | _grep -cE '^(set_error|token_error|auth_error) ' || true)
	[ "$got" -eq "$n" ] || fail "$ROW: $got of $n changes reached the server with the right password"
	[ "$bad" -eq 0 ] || fail "$ROW: the server refused $bad requests: $(events_since "$mark" |
		_grep -E '^(set_error|token_error|auth_error) ' | head -n 2)"
}

# Results of the rows, by key, for the ratios and targets.
declare -A P50 REQ TLS RATE

# The per-host service is no child of the process a row waits for, so its
# CPU is not in wait4's figures: service_ticks (user + system clock ticks of
# the services now running) before and after a row give it. A service that
# exits during the row takes its ticks along (the first change after an idle
# spell: rare in a row), so this is a lower bound.
service_ticks() {
	local pid t=0 u sy
	for pid in $(pgrep -f '^pam_isc_helper serve ' 2>/dev/null); do
		read -r u sy < <(awk '{ print $14, $15 }' "/proc/$pid/stat" 2>/dev/null) || continue
		t=$((t + u + sy))
	done
	echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)
# service_ms_per T0 T1 N SERVICE: those ticks in ms per change, for the
# PAM service that uses the per-host service (0 for the others: their
# helpers are children, and a service left from an earlier row may exit
# during theirs).
service_ms_per() {
	[ "$4" = bench_service ] || { echo 0; return 0; }
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" \
		'BEGIN { d = (b - a) * 1000 / hz / n; printf "%.2f", (d > 0 ? d : 0) }'
}
add_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }

# row_line LABEL N FILE REQS CONNS [EXTRA_CPU_MS]: one line of the change table.
row_line() {
	local label=$1 n=$2 file=$3 s
	s=$(stats "$file" 2)
	read -r p50 p95 max <<<"$s"
	out "| $label | $NET | $n | $p50 | $p95 | $max | $(add_ms "$(cpu_ms "$file")" "${6:-0}") | $(per "$4" "$n") | $(per "$5" "$n") |"
}

# pam_row KEY LABEL SERVICE N PROMPTS [cold]: N pamtester chauthtok runs.
pam_row() {
	local key=$1 label=$2 svc=$3 n=$4 prompts=$5 cold=${6:-} pw mark file counts input= t0 t1
	ROW="$label ($NET)"
	pw=$(new_password "$key")
	file=$T/rows/$key-$NET.tsv
	for ((i = 0; i < prompts; i++)); do input+="$pw"$'\n'; done
	mark=$(events_mark)
	t0=$(service_ticks)
	printf '%s' "$input" | pam_env "$BENCH_RUN" -n "$n" -o "$file" -O "$T/pamtester.all" \
		${cold:+-u "$T/run/token"} -- "$PAMTESTER" -v "$svc" alice chauthtok ||
		fail "$ROW: a change failed (see pamtester.all)"
	t1=$(service_ticks)
	[ "$prompts" -eq 0 ] || check_sets "$mark" "$n" "$pw" alice
	counts=$(api_counts "$mark")
	read -r reqs conns <<<"$counts"
	row_line "$label" "$n" "$file" "$reqs" "$conns" "$(service_ms_per "$t0" "$t1" "$n" "$svc")"
	P50[$key-$NET]=$p50
	REQ[$key-$NET]=$(per "$reqs" "$n")
	TLS[$key-$NET]=$(per "$conns" "$n")
}

# floor_row KEY LABEL MODE N
floor_row() {
	local key=$1 label=$2 mode=$3 n=$4 pw mark file counts
	ROW="$label ($NET)"
	pw=$(new_password "$key")
	file=$T/rows/$key-$NET.tsv
	mark=$(events_mark)
	printf '%s\n' "$pw" | "$BENCH_FLOOR" "$ISC_URL" "$ISC_CA" "$T/secret" alice "$n" "$mode" \
		"$file" || fail "$ROW: the floor client failed"
	check_sets "$mark" "$n" "$pw" alice
	counts=$(api_counts "$mark")
	read -r reqs conns <<<"$counts"
	# Its start (token, one lookup for the key) is not a change.
	reqs=$((reqs - 2))
	# The floor's CPU is not per process: left blank (file has no CPU columns).
	s=$(stats "$file" 2)
	read -r p50 p95 max <<<"$s"
	out "| $label | $NET | $n | $p50 | $p95 | $max | - | $(per "$reqs" "$n") | $(per "$conns" "$n") |"
	P50[$key-$NET]=$p50
}

# batch_row USERS [TAG SERVICE LABEL]: one bench_batch process changing USERS
# passwords (TAG "l", PAM service bench_service: with the per-host service).
batch_row() {
	local k=$1 tag=${2:-} svc=${3:-bench_isc} label=${4:-} prefix mark line got counts t0 t1 rounds changes r
	ROW="batch $k$label ($NET)"
	prefix=$(new_password "batch$tag$k")
	head -n "$k" "$T/users.all" >"$T/users.$k"
	# Fewer than 100 users: the same users again, in rounds, so that the
	# p50 is one of at least 100 changes (the users, the token cache and
	# the queue stay k).
	rounds=$(((100 + k - 1) / k))
	: >"$T/users.$k.run"
	for ((r = 0; r < rounds; r++)); do cat "$T/users.$k" >>"$T/users.$k.run"; done
	changes=$((k * rounds))
	mark=$(events_mark)
	t0=$(service_ticks)
	line=$(printf '%s\n' "$prefix" | pam_env "$BENCH_BATCH" "$svc" "$T/users.$k.run" \
		"$T/hashes.$k" 2>>"$T/pamtester.all") || fail "$ROW: bench_batch failed: $line"
	t1=$(service_ticks)
	got=$(events_since "$mark" | _grep -E '^set .*status=202' |
		sed -E 's/^set user=([^ ]+) .*decrypted_sha256=([0-9a-f]+) .*/\1 \2/' | sort)
	[ "$got" = "$(sort "$T/hashes.$k")" ] ||
		fail "$ROW: what the server decrypted is not what the users typed"
	counts=$(api_counts "$mark")
	read -r reqs conns <<<"$counts"
	# users= ok= wall_s= per_s= p50_ms= p95_ms= max_ms= cpu_ms=
	eval "$(printf '%s\n' "$line" | tr ' ' '\n' | sed -nE 's/^([a-z0-9_]+)=([0-9.]+)$/b_\1=\2/p')"
	b_cpu_ms=$(add_ms "$b_cpu_ms" "$(service_ms_per "$t0" "$t1" "$changes" "$svc")")
	out "| $k$label | $changes | $NET | $b_per_s | $b_p50_ms | $b_p95_ms | $b_cpu_ms | $(per "$reqs" "$changes") | $(per "$conns" "$changes") |"
	RATE[$tag$k-$NET]=$b_per_s
	P50[batch$tag$k-$NET]=$b_p50_ms
}

# --- the follow-up servers: one per (duration, delay), started first -------
# Each has its own server, runtime_dir and follower, so that the changes
# run side by side and each server's log holds one change's follow-up only.
# status_interval is the default (2), not the tests' 1.
declare -A FU_DIR FU_REQ FU_MEASURED FU_COMPUTED
fu_start() {
	local name=$1 secs=$2 delay=$3 d=$T/fu_$1 i url pw mark
	mkdir -p "$d"
	"$ISC_TEST_SERVER" --dir "$d/server" --delay-ms "$delay" >"$d/server.out" 2>&1 &
	_isc_pids+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -s "$d/server/port" ] && break
		sleep 0.1
	done
	[ -s "$d/server/port" ] || hard_error "follow-up server $name did not start"
	url=https://127.0.0.1:$(tr -d '[:space:]' <"$d/server/port")
	ISC_URL=$url ISC_CA=$d/server/ca.pem server_control "{\"finish_after_ms\": $((secs * 1000))}"
	ISC_URL=$url ISC_CA=$d/server/ca.pem write_config "runtime_dir = $d/run" '!status_interval'
	mv "$T/pam_isc.conf" "$d/pam_isc.conf"
	pam_service "fu_$name" "password required $PAM_ISC_SO config=$d/pam_isc.conf helper=$PAM_ISC_HELPER"
	pw=$(new_password "fu$name")
	run_pamtester alice "fu_$name" "$pw" || fail "follow-up $name: the change failed"
	FU_REQ[$name]=$(_grep -E '^set user=alice ' "$d/server/events.log" | field request)
	[ -n "${FU_REQ[$name]}" ] || fail "follow-up $name: no set-password reached the server"
	FU_DIR[$name]=$d
}
FU_NAMES=()
for delay in $DELAYS; do
	for secs in $FOLLOW_TIMES; do
		[ "$BENCH_MODE" = smoke ] && [ "$delay" != 0 ] && continue
		fu_start "${secs}s_${delay}ms" "$secs" "$delay"
		FU_NAMES+=("${secs}s_${delay}ms")
	done
done
FU_STARTED=$(date +%s)

# --- the main server -------------------------------------------------------
start_server
# rate_limit = 0: these rows measure pam_isc's own cost per change, with a
# server that does not limit either; the budget's rows come later.
write_config '!status_interval' 'rate_limit = 0'
# FINISHED at once: no follower runs, so everything the server counts in a
# row was spent by that row's changes; the follow-up is measured above.
server_control '{"set_state": "FINISHED"}'
pam_service bench_isc "password required $PAM_ISC_SO config=$ISC_CONF helper=$PAM_ISC_HELPER"
# ISC_CONF has tests/lib.sh's helper_linger = 0: a helper per change. The
# default (the per-host service, helper_linger = 10) is this copy without it:
# the helper of the first change (root's, in the benchmark's own namespaces:
# the host's context there) leaves the service, which serves the next ones
# over one TLS connection.
SERVICE_CONF=$T/pam_isc_default.conf
(umask 077 && sed '/^helper_linger = /d' "$ISC_CONF" >"$SERVICE_CONF")
_grep -q '^helper_linger = 0$' "$ISC_CONF" || hard_error "$ISC_CONF does not set helper_linger = 0"
pam_service bench_service "password required $PAM_ISC_SO config=$SERVICE_CONF helper=$PAM_ISC_HELPER"
pam_service bench_permit "password required ${PAM_PERMIT:-$PAM_MATRIX}"
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"
mkdir -m 0755 "$T/script"
install -m 0755 "$top_srcdir/bench/pam_script_passwd" "$T/script/pam_script_passwd"
cat >"$T/script/isc-sync.conf" <<EOF
ISC_URL=$ISC_URL
ISC_CA=$ISC_CA
ISC_CLIENT_ID=pam-isc-test
ISC_SECRET_FILE=$T/secret
ISC_SOURCE='Linux Hosts'
EOF
pam_service bench_script "password required $PAM_SCRIPT_SO dir=$T/script"
# The helper's peak RSS: the same change with the helper run under GNU time.
cat >"$T/rss_helper" <<EOF
#!/bin/sh
exec /usr/bin/time -a -o $T/helper_rss -f %M $PAM_ISC_HELPER "\$@"
EOF
chmod 0755 "$T/rss_helper"
pam_service bench_rss "password required $PAM_ISC_SO config=$ISC_CONF helper=$T/rss_helper"

out "# pam_isc benchmark ($BENCH_MODE)"
out ""
out "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
out "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
out "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
out "- $(curl --version | head -n 1 | cut -d' ' -f1-5); $(openssl version); $(jq --version)"
out ""
out "## One change per process (pamtester chauthtok, the passwd case)"
out ""
out "| row | server | changes | p50 ms | p95 ms | max ms | CPU ms/change | requests/change | TLS handshakes/change |"
out "|---|---|---|---|---|---|---|---|---|"
for delay in $DELAYS; do
	NET=$([ "$delay" = 0 ] && echo loopback || echo "${delay}ms")
	server_control "{\"delay_ms\": $delay}"
	n=$N
	[ "$delay" = 0 ] || n=$N_SLOW
	[ "$delay" = 0 ] && pam_row harness "harness only (pam_permit)" bench_permit "$n" 0
	pam_row lcold "pam_isc, cold (no cached token)" bench_service "$n" 2 cold
	pam_row lwarm "pam_isc, warm" bench_service "$n" 2
	pam_row cold "pam_isc, cold, a helper per change (helper_linger = 0)" bench_isc "$n" 2 cold
	pam_row warm "pam_isc, warm, a helper per change (helper_linger = 0)" bench_isc "$n" 2
	# pam_script asks for the current password too, then twice the new one.
	pam_row baseline "baseline (pam_script + curl/openssl/jq)" bench_script "$n" 3
	floor_row floor "floor: 1 TLS connection, no process" reuse "$n"
	floor_row floorfresh "floor: new TLS connection per change" fresh "$n"
done
server_control '{"delay_ms": 0}'

# Helper peak RSS (separate runs: GNU time adds a process).
NET=loopback
ROW="helper RSS"
: >"$T/helper_rss"
pw=$(new_password rss)
printf '%s\n%s\n' "$pw" "$pw" | pam_env "$BENCH_RUN" -n "$RSS_N" -o "$T/rows/rss-cold.tsv" \
	-O "$T/pamtester.all" -u "$T/run/token" -- "$PAMTESTER" -v bench_rss alice chauthtok ||
	fail "helper RSS runs failed"
printf '%s\n%s\n' "$pw" "$pw" | pam_env "$BENCH_RUN" -n "$RSS_N" -o "$T/rows/rss-warm.tsv" \
	-O "$T/pamtester.all" -- "$PAMTESTER" -v bench_rss alice chauthtok ||
	fail "helper RSS runs failed"
RSS_KIB=$(sort -n "$T/helper_rss" | tail -n 1)
[ -n "$RSS_KIB" ] || fail "no helper RSS recorded"
RSS_MIB=$(awk -v k="$RSS_KIB" 'BEGIN { printf "%.1f", k / 1024 }')
out ""
out "Helper peak RSS (GNU time, $((2 * RSS_N)) changes, cold and warm): $RSS_MIB MiB ($RSS_KIB KiB)."

out ""
out "## Batch: one process, pam_start + pam_chauthtok + pam_end per user (the chpasswd case)"
out ""
out "| users | changes | server | changes/s | p50 ms/change | p95 ms/change | CPU ms/change | requests/change | TLS handshakes/change |"
out "|---|---|---|---|---|---|---|---|---|"
for delay in $DELAYS; do
	NET=$([ "$delay" = 0 ] && echo loopback || echo "${delay}ms")
	server_control "{\"delay_ms\": $delay}"
	for k in $BATCH_SIZES; do
		[ "$BENCH_MODE" = smoke ] && [ "$delay" != 0 ] && continue
		batch_row "$k" l bench_service ""
	done
	# The per-host service that served the batch: its memory after all
	# those changes (it must not grow with them).
	if [ "$delay" = 0 ] && lp=$(pgrep -n -f '^pam_isc_helper serve '); then
		SERVICE_HWM=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$lp/status")
		SERVICE_RSS=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$lp/status")
	fi
	for k in $BATCH_SIZES; do
		[ "$BENCH_MODE" = smoke ] && [ "$delay" != 0 ] && continue
		batch_row "$k" "" bench_isc ", a helper per change"
	done
done
server_control '{"delay_ms": 0}'
if [ -n "${SERVICE_HWM:-}" ]; then
	out ""
	out "The per-host service after the loopback batches: peak RSS $(awk -v k="$SERVICE_HWM" 'BEGIN { printf "%.1f", k / 1024 }') MiB, RSS now $(awk -v k="$SERVICE_RSS" 'BEGIN { printf "%.1f", k / 1024 }') MiB (/proc/PID/status)."
fi

# --- the follow-up: wait for the followers ---------------------------------
out ""
out "## Status follow-up: what the follower spends per change until FINISHED"
out ""
out "| change finishes after | server | status polls | requests | TLS handshakes | outcome | how |"
out "|---|---|---|---|---|---|---|"
for name in "${FU_NAMES[@]}"; do
	d=${FU_DIR[$name]}
	req=${FU_REQ[$name]}
	secs=${name%%s_*}
	for ((i = 0; i < 2400; i++)); do
		_grep -qE "^status request=$req .*state=FINISHED" "$d/server/events.log" && break
		[ $(($(date +%s) - FU_STARTED)) -gt $((secs + 120)) ] && break
		sleep 0.25
	done
	_grep -qE "^status request=$req .*state=FINISHED" "$d/server/events.log" ||
		fail "follow-up $name: no FINISHED poll within $((secs + 120)) s"
	setline=$(_grep -nE '^set user=alice ' "$d/server/events.log" | cut -d: -f1)
	counts=$(api_counts "$setline" "$d/server/events.log")
	read -r reqs conns <<<"$counts"
	polls=$(_grep -cE "^status request=$req " "$d/server/events.log")
	wait_for_log "event=final user=alice request=$req state=FINISHED" 10 ||
		fail "follow-up $name: no final syslog line"
	out "| $secs s | ${name#*s_} | $polls | $reqs | $conns | FINISHED | measured |"
	FU_MEASURED[$name]=$reqs
done
# The long ones from the follower's schedule (linked from src/state/follower.c).
for secs in 60 600 3600 7000 7200; do
	line=$("$BENCH_POLLS" "$secs")
	polls=$(field polls <<<"$line")
	outcome=$(field outcome <<<"$line")
	out "| $secs s | - | $polls | $polls | - | $outcome | computed: bench_poll_schedule (last poll at $(field last_poll_s <<<"$line") s) |"
	FU_COMPUTED[$secs]=$polls
done

# --- ratios and targets ------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
out ""
out "## Ratios"
out ""
for NET in $(for d in $DELAYS; do [ "$d" = 0 ] && echo loopback || echo "${d}ms"; done); do
	out "- $NET: pam_isc warm / floor = $(ratio "${P50[lwarm-$NET]}" "${P50[floor-$NET]}");" \
		"pam_isc warm / floor with a new TLS connection = $(ratio "${P50[lwarm-$NET]}" "${P50[floorfresh-$NET]}");" \
		"baseline / pam_isc warm = $(ratio "${P50[baseline-$NET]}" "${P50[lwarm-$NET]}");" \
		"baseline / pam_isc cold = $(ratio "${P50[baseline-$NET]}" "${P50[lcold-$NET]}") (p50s)"
	out "- $NET, a helper per change (helper_linger = 0): pam_isc warm / floor = $(ratio "${P50[warm-$NET]}" "${P50[floor-$NET]}");" \
		"pam_isc warm / floor with a new TLS connection = $(ratio "${P50[warm-$NET]}" "${P50[floorfresh-$NET]}");" \
		"baseline / pam_isc warm = $(ratio "${P50[baseline-$NET]}" "${P50[warm-$NET]}") (p50s)"
done
if [ -n "${P50[harness-loopback]:-}" ]; then
	out "- harness (pamtester + pam_wrapper + nss_wrapper, pam_permit) p50 ${P50[harness-loopback]} ms is in every pamtester row"
fi

out ""
out "## Targets"
out ""
S=${DELAYS##* }ms
small=${BATCH_SIZES%% *}
big=${BATCH_SIZES##* }
# The default first (the per-host service: a warm change reuses its TLS
# connection, hence at most 1 handshake), then a helper per change.
t_lwarm=$(verdict "${REQ[lwarm-loopback]} == 2 && ${TLS[lwarm-loopback]} <= 1")
t_lcold=$(verdict "${REQ[lcold-loopback]} == 3 && ${TLS[lcold-loopback]} <= 1")
t_warm=$(verdict "${REQ[warm-loopback]} == 2 && ${TLS[warm-loopback]} == 1")
t_cold=$(verdict "${REQ[cold-loopback]} == 3 && ${TLS[cold-loopback]} == 1")
out "- warm change: ${REQ[lwarm-loopback]} requests, ${TLS[lwarm-loopback]} TLS handshakes (target 2 and at most 1): $t_lwarm"
out "- cold change: ${REQ[lcold-loopback]} requests, ${TLS[lcold-loopback]} TLS handshakes (target 3 and at most 1): $t_lcold"
if [ -n "${P50[lwarm-$S]:-}" ]; then
	out "- $S: pam_isc warm p50 / floor p50 = $(ratio "${P50[lwarm-$S]}" "${P50[floor-$S]}") (target <= 1.15): $(verdict "${P50[lwarm-$S]} <= 1.15 * ${P50[floor-$S]}")"
	out "- $S: baseline p50 / pam_isc warm p50 = $(ratio "${P50[baseline-$S]}" "${P50[lwarm-$S]}") (target >= 1.5): $(verdict "${P50[baseline-$S]} >= 1.5 * ${P50[lwarm-$S]}")"
fi
out "- loopback: baseline p50 / pam_isc warm p50 = $(ratio "${P50[baseline-loopback]}" "${P50[lwarm-loopback]}") (target >= 5): $(verdict "${P50[baseline-loopback]} >= 5 * ${P50[lwarm-loopback]}")"
out "- helper peak RSS $RSS_MIB MiB (target < 16): $(verdict "$RSS_KIB < 16384")"
if [ -n "${SERVICE_HWM:-}" ]; then
	out "- per-host service peak RSS after the batches $(awk -v k="$SERVICE_HWM" 'BEGIN { printf "%.1f", k / 1024 }') MiB (target < 16): $(verdict "$SERVICE_HWM < 16384")"
fi
out "- batch, loopback, $big users: ${RATE[l$big-loopback]} changes/s (target >= 200): $(verdict "${RATE[l$big-loopback]} >= 200")"
out "- batch flat from $small to $big users: p50 ${P50[batchl$small-loopback]} -> ${P50[batchl$big-loopback]} ms/change (target: within 1.25x): $(verdict "${P50[batchl$big-loopback]} <= 1.25 * ${P50[batchl$small-loopback]}")"
H="a helper per change (helper_linger = 0)"
out "- $H, warm change: ${REQ[warm-loopback]} requests, ${TLS[warm-loopback]} TLS handshakes (target 2 and 1): $t_warm"
out "- $H, cold change: ${REQ[cold-loopback]} requests, ${TLS[cold-loopback]} TLS handshakes (target 3 and 1): $t_cold"
if [ -n "${P50[warm-$S]:-}" ]; then
	out "- $H, $S: pam_isc warm p50 / floor p50 = $(ratio "${P50[warm-$S]}" "${P50[floor-$S]}") (target <= 1.15): $(verdict "${P50[warm-$S]} <= 1.15 * ${P50[floor-$S]}")"
	out "- $H, $S: baseline p50 / pam_isc warm p50 = $(ratio "${P50[baseline-$S]}" "${P50[warm-$S]}") (target >= 1.5): $(verdict "${P50[baseline-$S]} >= 1.5 * ${P50[warm-$S]}")"
fi
out "- $H, loopback: baseline p50 / pam_isc warm p50 = $(ratio "${P50[baseline-loopback]}" "${P50[warm-loopback]}") (target >= 5): $(verdict "${P50[baseline-loopback]} >= 5 * ${P50[warm-loopback]}")"
out "- $H, batch, loopback, $big users: ${RATE[$big-loopback]} changes/s (target >= 200): $(verdict "${RATE[$big-loopback]} >= 200")"
out "- $H, batch flat from $small to $big users: p50 ${P50[batch$small-loopback]} -> ${P50[batch$big-loopback]} ms/change (target: within 1.25x): $(verdict "${P50[batch$big-loopback]} <= 1.25 * ${P50[batch$small-loopback]}")"
if [ -n "${FU_MEASURED[60s_0ms]:-}" ]; then
	out "- follow-up, 60 s change: ${FU_MEASURED[60s_0ms]} requests measured (target <= 8): $(verdict "${FU_MEASURED[60s_0ms]} <= 8")"
fi
out "- follow-up, two-hour change: ${FU_COMPUTED[7200]} requests computed (target <= 20): $(verdict "${FU_COMPUTED[7200]} <= 20")"

out ""
out "Run time: $((SECONDS / 60)) min $((SECONDS % 60)) s."
cp "$R" "$top_builddir/bench/last-run.md"
log "results also in bench/last-run.md"

# Smoke: the correctness part of the targets must hold (times are not judged).
if [ "$BENCH_MODE" = smoke ]; then
	[ "$t_warm" = met ] || fail "helper per change, warm change: ${REQ[warm-loopback]} requests, ${TLS[warm-loopback]} handshakes"
	[ "$t_cold" = met ] || fail "helper per change, cold change: ${REQ[cold-loopback]} requests, ${TLS[cold-loopback]} handshakes"
	[ "$t_lwarm" = met ] || fail "default (per-host service), warm change: ${REQ[lwarm-loopback]} requests, ${TLS[lwarm-loopback]} handshakes"
	[ "$t_lcold" = met ] || fail "default (per-host service), cold change: ${REQ[lcold-loopback]} requests, ${TLS[lcold-loopback]} handshakes"
fi
isc_done
