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
header() {
	out "# pam_isc benchmark ($BENCH_MODE)"
	out ""
	out "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	out "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
	out "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	out "- $(curl --version | head -n 1 | cut -d' ' -f1-5); $(openssl version); $(jq --version)"
}

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
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

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

# --- the request budget: rows against a server that limits ------------------
# Each row has a fresh test server (empty windows) and fresh runtime_dir and
# state_dir (an empty budget, no token, no queue); the server answers
# set-password FINISHED, so no status poll is made and every request it
# counts was spent on delivering the changes. What the rows show and how
# their floors are computed: docs/performance.md, "Rate limit".
if [ "$BENCH_MODE" = smoke ]; then
	# The window and the timeout scaled down together (2 s, not 10), so that
	# the same things happen as in the full rows (changes the budget cannot
	# serve in time are queued, a follower delivers them) in seconds.
	RATE_N=30 RATE_LIMIT=10/2 RATE_TIMEOUT=2
	FLEET_HOSTS=4 FLEET_CHANGES=5 FLEET_SCARCE_TOKEN_LIMIT=2/2
else
	RATE_N=300 RATE_LIMIT=100/10 RATE_TIMEOUT=
	FLEET_HOSTS=50 FLEET_CHANGES=20 FLEET_SCARCE_TOKEN_LIMIT=10/10
fi
# ISC publishes no limit for its token endpoint; the fleet's "limited" row
# gives it the one figure ISC does publish (its API's, per client_id here),
# and the "scarce" row a fifth of the fleet per window, so that the token
# endpoint is what binds (docs/performance.md, "Rate limit").
FLEET_TOKEN_LIMIT=$RATE_LIMIT
# How long the queue may take to deliver what was queued, at most (s).
RATE_WAIT_MAX=600
# What a row found wrong (a password lost or delivered twice): the run
# fails at its end, after the tables are written.
RATE_BAD=()
declare -A RT_TIME RT_FLOOR RT_SHARE RT_ASHARE RT_WAIT RT_LOST RT_DUP RT_TIMEOUT

now_us() { local t=$EPOCHREALTIME; printf '%s' "${t//[^0-9]/}"; }
secs() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e6 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }'; }

# window_floor R N/W: the earliest moment (s after the first) the R-th of R
# requests can go out when at most N go in any sliding W seconds: the
# first N at 0, the next N as those leave the window, and so on.
window_floor() {
	local n=${2%/*} w=${2#*/}
	echo $(((($1 + n - 1) / n - 1) * w))
}

# rate_server DIR [server args]: a fresh test server in DIR/server, with
# set-password answered FINISHED; sets RS_URL, RS_CA, RS_EVENTS.
rate_server() {
	local d=$1 pid port
	shift
	mkdir -p "$d"
	"$ISC_TEST_SERVER" --dir "$d/server" "$@" >"$d/server.out" 2>&1 &
	pid=$!
	_isc_pids+=("$pid")
	port=$(_isc_wait_server "$d/server" "$pid" "test server in $d") || exit $?
	RS_URL=https://127.0.0.1:$port
	RS_CA=$d/server/ca.pem
	RS_EVENTS=$d/server/events.log
	rs_control '{"set_state": "FINISHED"}'
}
rs_control() { ISC_URL=$RS_URL ISC_CA=$RS_CA server_control "$1"; }

# rate_conf DIR [lines...]: DIR/pam_isc.conf for the server of rate_server,
# runtime_dir and state_dir under DIR; the defaults but for the lines given.
rate_conf() {
	local d=$1
	shift
	mkdir -p "$d/run"
	chmod 0700 "$d/run"
	[ -f "$T/secret" ] || (umask 077 && printf 'test-secret\n' >"$T/secret")
	(
		umask 077
		printf '%s\n' "api_url = $RS_URL" "client_id = pam-isc-test" \
			"client_secret_file = $T/secret" "source_name = Linux Hosts" \
			"ca_file = $RS_CA" "runtime_dir = $d/run" "state_dir = $d/state" \
			"min_uid = 1000" "skip_users = root" "$@"
	) >"$d/pam_isc.conf"
}

# user_hashes PREFIX USERS: "USER SHA256" of each user's new password,
# PREFIX-USER (as bench_batch makes them).
user_hashes() {
	local u
	while read -r u; do
		printf '%s %s\n' "$u" "$(sha256_of "$1-$u")"
	done <"$2"
}

# rate_arrived EVENTS HASHES: "ARRIVED LOST DUPLICATES" over the users of
# HASHES: ARRIVED those whose new password ISC accepted (a set-password
# answered 202 that carried it), LOST the others, DUPLICATES those with
# more than one accepted set-password. Other users' events are left out.
rate_arrived() {
	{ _grep -E '^set user=[^ ]+ .*status=202' "$1" || true; } |
		sed -E 's/^set user=([^ ]+) .*decrypted_sha256=([0-9a-f]+) .*/\1 \2/' |
		awk 'FNR == NR { want[$1] = $2; next }
		     ($1 in want) { n[$1]++; if ($2 == want[$1]) ok[$1] = 1 }
		     END { for (u in want) { if (u in ok) got++; else lost++; if (n[u] > 1) dup++ }
			   printf "%d %d %d\n", got, lost, dup }' "$2" -
}

# rate_wait EVENTS HASHES: until every user of HASHES has arrived, at most
# RATE_WAIT_MAX s; prints the time (now_us) it saw them all (or gave up),
# an upper bound of when the last one was accepted.
rate_wait() {
	local start now got n
	n=$(wc -l <"$2")
	start=$(now_us)
	while :; do
		read -r got _ <<<"$(rate_arrived "$1" "$2")"
		now=$(now_us)
		[ "$got" -ge "$n" ] && break
		[ $((now - start)) -ge $((RATE_WAIT_MAX * 1000000)) ] && break
		sleep 0.1
	done
	printf '%s' "$now"
}

# rate_counts EVENTS MARK: "API TOKEN API_429 TOKEN_429 TOKENS" since MARK:
# API requests (lookup, set-password, status), token requests, the 429s
# of the server's limiters for each, and the tokens it issued.
rate_counts() {
	tail -n "+$(($2 + 1))" "$1" | awk '
		/^request / && / path=\/oauth\/token / { t++; if (/ status=200$/) tok++; next }
		/^request / && / path=[^ ]*(query-password-info|set-password|password-change-status)/ { a++ }
		/^rate_limited endpoint=token / { t429++ }
		/^rate_limited endpoint=(lookup|set|status) / { a429++ }
		END { printf "%d %d %d %d %d\n", a, t, a429, t429, tok }'
}

# log_count MARK PATTERN: syslog lines since MARK matching PATTERN.
log_count() { syslog_since "$1" | { _grep -cE -- "$2" || true; }; }

# rate_judge KEY LABEL LOST DUPS: remember what is wrong.
rate_judge() {
	[ "$3" -eq 0 ] || RATE_BAD+=("$2: $3 users' new passwords never reached the server")
	[ "$4" -eq 0 ] || RATE_BAD+=("$2: $4 users' passwords were accepted more than once")
	RT_LOST[$1]=$3
	RT_DUP[$1]=$4
}

# rate_in_a_row KIND LABEL: RATE_N changes one after the other, in the
# benchmark's own namespaces (the host's context: the first change's
# helper leaves the per-host service, which starts the follower when it
# queues a change). KIND process: a pamtester each; batch: one bench_batch.
rate_in_a_row() {
	local kind=$1 label=$2 d=$T/rate_$1 svc=rate_$1 prefix mark logmark t0 t1 tend s e
	local wait_us=0 line api tok a429 t429 lost dup queued floor u
	ROW="$label"
	rate_server "$d" --rate-limit "$RATE_LIMIT"
	rate_conf "$d" "rate_limit = $RATE_LIMIT" "on_error = queue" \
		${RATE_TIMEOUT:+"timeout = $RATE_TIMEOUT"}
	pam_service "$svc" "password required $PAM_ISC_SO config=$d/pam_isc.conf helper=$PAM_ISC_HELPER"
	prefix=$(new_password "rate$kind")
	head -n "$RATE_N" "$T/users.all" >"$d/users"
	mark=$(wc -l <"$RS_EVENTS")
	logmark=$(syslog_mark)
	if [ "$kind" = process ]; then
		user_hashes "$prefix" "$d/users" >"$d/hashes"
		t0=$(now_us)
		while read -r u; do
			s=$(now_us)
			printf '%s\n%s\n' "$prefix-$u" "$prefix-$u" |
				pam_env "$PAMTESTER" -v "$svc" "$u" chauthtok >>"$T/pamtester.all" 2>&1 ||
				fail "$ROW: the change of $u failed (see pamtester.all)"
			e=$(now_us)
			[ $((e - s)) -le "$wait_us" ] || wait_us=$((e - s))
		done <"$d/users"
		t1=$(now_us)
	else
		t0=$(now_us)
		line=$(printf '%s\n' "$prefix" | pam_env "$BENCH_BATCH" "$svc" "$d/users" \
			"$d/hashes" 2>>"$T/pamtester.all") || fail "$ROW: bench_batch failed: $line"
		t1=$(now_us)
		wait_us=$(awk -v m="$(field max_ms <<<"$line")" 'BEGIN { printf "%d", m * 1000 }')
	fi
	tend=$(rate_wait "$RS_EVENTS" "$d/hashes")
	read -r _ lost dup <<<"$(rate_arrived "$RS_EVENTS" "$d/hashes")"
	read -r api tok a429 t429 _ <<<"$(rate_counts "$RS_EVENTS" "$mark")"
	queued=$(log_count "$logmark" '(^|[ >:])event=queued user=b[0-9]+ ')
	floor=$(window_floor $((2 * RATE_N)) "$RATE_LIMIT")
	rate_judge "$kind" "$ROW" "$lost" "$dup"
	RT_TIME[$kind]=$(secs $((tend - t0)))
	RT_FLOOR[$kind]=$floor
	RT_SHARE[$kind]=$(pct $((a429 + t429)) $((api + tok)))
	RT_ASHARE[$kind]=$(pct "$a429" "$api")
	RT_WAIT[$kind]=$(secs "$wait_us")
	RT_TIMEOUT[$kind]=${RATE_TIMEOUT:-10}
	out "| $label | $RATE_N | $RATE_LIMIT | ${RATE_TIMEOUT:-10} | $floor | ${RT_TIME[$kind]} ($(secs $((t1 - t0)))) | $(ratio "${RT_TIME[$kind]}" "$floor") | $api + $tok | $a429 + $t429 | ${RT_ASHARE[$kind]} / ${RT_SHARE[$kind]} % | $((RATE_N - queued)) / $queued | $lost | $dup | ${RT_WAIT[$kind]} |"
}

# batch_private SERVICE USERS HASHES < PREFIX_LINE: bench_batch in a mount
# namespace of its own with a private tmpfs over /tmp, so that several run
# at once: pam_wrapper copies its files to a /tmp/pam.X it picks without a
# lock, which processes running side by side would share (and the first to
# end would delete under the others). The benchmark's directories that lie
# under /tmp are bound back in. Such a process is not in the host's
# context: its helpers leave no per-host service and start no follower.
batch_private() {
	T=$T top_srcdir=$top_srcdir top_builddir=$top_builddir BENCH_BATCH=$BENCH_BATCH \
		PAM_WRAPPER_LIB=$PAM_WRAPPER_LIB NSS_WRAPPER_LIB=$NSS_WRAPPER_LIB \
		NSS_WRAPPER_PASSWD=$NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP=$NSS_WRAPPER_GROUP \
		unshare --mount --propagation private -- "$BASH" -c '
		# Open what must stay visible before the tmpfs hides it, then bind
		# it back at its old path, outermost first.
		under=() fds=()
		for d in $(printf "%s\n" "$T" "$top_srcdir" "$top_builddir" | sort -u); do
			case $d in /tmp/*) under+=("$d") ;; esac
		done
		for d in "${under[@]}"; do
			exec {fd}<"$d" || exit 98
			fds+=("$fd")
		done
		mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev host-tmp /tmp || exit 98
		for i in "${!under[@]}"; do
			mkdir -p "${under[$i]}" || exit 98
			mount --no-canonicalize --bind "/proc/self/fd/${fds[$i]}" "${under[$i]}" || exit 98
			eval "exec ${fds[$i]}<&-"
		done
		exec env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
			LD_PRELOAD="$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" \
			NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" \
			"$BENCH_BATCH" "$@"' _ "$@"
}

# start_follower CONFIG: the host's follower, started from the benchmark's
# own namespaces the way pam_isc starts one (detached, a session of its
# own, stdio on /dev/null, nothing but PATH in its environment).
start_follower() {
	setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$PAM_ISC_HELPER" follow --config "$1" \
		</dev/null >/dev/null 2>&1 &
}

# fleet_row KEY LABEL SERVER_RATE TOKEN_LIMIT: FLEET_HOSTS hosts, each with
# its own configuration, runtime_dir and state_dir (its own budget, token
# cache, key cache and queue) and all with the same client_id, each
# changing FLEET_CHANGES passwords of its own users in one bench_batch
# process, all hosts at once. SERVER_RATE and TOKEN_LIMIT "off": none.
# Each host made one change before (alice's, not counted), so its key is
# cached as on any host in service, and its token is gone (as after a
# quarter of an hour without changes): every host needs a token in the
# burst. A host's batch runs in a namespace of its own (batch_private),
# where no follower starts: when its batch is over, the host's follower is
# started from the benchmark's namespaces (start_follower).
fleet_row() {
	local key=$1 label=$2 server_rate=$3 token_limit=$4 d=$T/fleet_$1 h hd prefix wprefix
	local mark logmark t0 t1 tend pids=() rc api tok a429 t429 tokens lost dup
	local queued local_only wait_ms=0 m floor r=- limit_args=() n=$((FLEET_HOSTS * FLEET_CHANGES))
	ROW="fleet $label"
	[ "$server_rate" = off ] || limit_args=(--rate-limit "$server_rate")
	rate_server "$d" "${limit_args[@]}"
	printf 'alice\n' >"$d/warm.users"
	prefix=$(new_password "fleet$key")
	wprefix=$(new_password "fleetwarm$key")
	for ((h = 1; h <= FLEET_HOSTS; h++)); do
		hd=$d/h$h
		rate_conf "$hd" "rate_limit = $RATE_LIMIT" "on_error = queue" \
			${RATE_TIMEOUT:+"timeout = $RATE_TIMEOUT"}
		pam_service "fleet_${key}_$h" \
			"password required $PAM_ISC_SO config=$hd/pam_isc.conf helper=$PAM_ISC_HELPER"
		sed -n "$(((h - 1) * FLEET_CHANGES + 1)),$((h * FLEET_CHANGES))p" "$T/users.all" >"$hd/users"
		user_hashes "$prefix" "$hd/users" >"$hd/hashes"
	done
	cat "$d"/h*/hashes >"$d/hashes"
	[ "$(wc -l <"$d/hashes")" -eq "$n" ] || hard_error "$ROW: not $n users"
	for ((h = 1; h <= FLEET_HOSTS; h++)); do
		printf '%s\n' "$wprefix" | batch_private "fleet_${key}_$h" "$d/warm.users" \
			"$d/h$h/warm.hashes" >"$d/h$h/warm.out" 2>&1 &
		pids+=($!)
	done
	for h in "${!pids[@]}"; do
		wait "${pids[$h]}" || fail "$ROW: the warm-up change of host $((h + 1)) failed: $(oneline <"$d/h$((h + 1))/warm.out")"
	done
	[ "$(_grep -cE '^set user=alice .*status=202' "$RS_EVENTS")" -eq "$FLEET_HOSTS" ] ||
		fail "$ROW: not every host's warm-up change reached the server"
	for ((h = 1; h <= FLEET_HOSTS; h++)); do
		rm -f "$d/h$h/run/token"
	done
	[ "$token_limit" = off ] || rs_control "{\"token_rate_limit\": \"$token_limit\"}"
	mark=$(wc -l <"$RS_EVENTS")
	logmark=$(syslog_mark)
	pids=()
	t0=$(now_us)
	for ((h = 1; h <= FLEET_HOSTS; h++)); do
		hd=$d/h$h
		(
			rc=0
			printf '%s\n' "$prefix" | batch_private "fleet_${key}_$h" "$hd/users" \
				"$hd/batch.hashes" >"$hd/batch.out" 2>"$hd/batch.err" || rc=$?
			start_follower "$hd/pam_isc.conf"
			exit "$rc"
		) &
		pids+=($!)
	done
	for h in "${!pids[@]}"; do
		wait "${pids[$h]}" || fail "$ROW: host $((h + 1))'s bench_batch failed: $(oneline <"$d/h$((h + 1))/batch.err")"
	done
	t1=$(now_us)
	tend=$(rate_wait "$RS_EVENTS" "$d/hashes")
	for ((h = 1; h <= FLEET_HOSTS; h++)); do
		cat "$d/h$h/batch.err" >>"$T/pamtester.all"
		m=$(field max_ms <"$d/h$h/batch.out")
		wait_ms=$(awk -v a="$wait_ms" -v b="$m" 'BEGIN { print (b > a ? b : a) }')
		cmp -s <(sort "$d/h$h/hashes") <(sort "$d/h$h/batch.hashes") ||
			hard_error "$ROW: host $h: bench_batch typed other passwords than expected"
	done
	read -r _ lost dup <<<"$(rate_arrived "$RS_EVENTS" "$d/hashes")"
	read -r api tok a429 t429 tokens <<<"$(rate_counts "$RS_EVENTS" "$mark")"
	queued=$(log_count "$logmark" '(^|[ >:])event=queued user=b[0-9]+ ')
	local_only=$(log_count "$logmark" '(^|[ >:])event=local_only user=b[0-9]+ ')
	[ "$local_only" -eq 0 ] || RATE_BAD+=("$ROW: $local_only changes were made locally only")
	if [ "$token_limit" = off ]; then
		floor=-
	else
		floor=$(($(window_floor "$FLEET_HOSTS" "$token_limit") +
			$(window_floor $((2 * FLEET_CHANGES)) "$RATE_LIMIT")))
		# Limits that leave the work its own pace: its floor is what the
		# machine needs for it (the row without limits, run just before).
		if [ -n "${RT_TIME[free]:-}" ] && awk -v f="$floor" -v m="${RT_TIME[free]}" 'BEGIN { exit !(m > f) }'; then
			floor=${RT_TIME[free]}
		fi
	fi
	rate_judge "$key" "$ROW" "$lost" "$dup"
	RT_TIME[$key]=$(secs $((tend - t0)))
	RT_FLOOR[$key]=$floor
	RT_SHARE[$key]=$(pct $((a429 + t429)) $((api + tok)))
	RT_ASHARE[$key]=$(pct "$a429" "$api")
	RT_WAIT[$key]=$(awk -v m="$wait_ms" 'BEGIN { printf "%.1f", m / 1000 }')
	RT_TIMEOUT[$key]=${RATE_TIMEOUT:-10}
	[ "$floor" = - ] || [ "$floor" = 0 ] || r=$(ratio "${RT_TIME[$key]}" "$floor")
	out "| $label | $FLEET_HOSTS × $FLEET_CHANGES | $server_rate | $token_limit | $floor | ${RT_TIME[$key]} ($(secs $((t1 - t0)))) | $r | $api + $tok | $a429 + $t429 | ${RT_ASHARE[$key]} / ${RT_SHARE[$key]} % | $tokens | $((n - queued)) / $queued | $lost | $dup | ${RT_WAIT[$key]} |"
}

rate_rows() {
	local started=$SECONDS
	# The follower looks the queued users up without nss_wrapper.
	host_users
	out ""
	out "## Rate limit: changes in a row against a server that limits (one host)"
	out ""
	out "The server limits API requests per token (--rate-limit), pam_isc has the same rate_limit and on_error = queue. Time: from the first change's start until the server accepted the last user's new password (in parentheses: until the last change returned). Floor: the earliest the last of the 2 requests per change can go out under the window. Requests and 429s: API + token."
	out ""
	out "| row | changes | limit | timeout s | floor s | time s | time / floor | requests | 429s | 429 share, API / all | live / queued | lost | duplicates | longest wait s |"
	out "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	rate_in_a_row process "a pamtester each, one after the other"
	rate_in_a_row batch "one process (bench_batch)"
	out ""
	out "## Rate limit: a fleet of hosts at once"
	out ""
	out "Every host has its own configuration, runtime_dir and state_dir (its own budget, token and queue), all the same client_id; the token endpoint is limited per client_id. Each host made one change before (alice's, not counted: its key is cached, as on a host in service) and its token was removed, so every host needs a token in the burst. Each host's batch runs in a mount namespace of its own (not the host's context: a helper per change, no follower); delivery of what it queued: the host's follower (pam_isc_helper follow), started from the benchmark's own namespace when the host's batch ends. Floor: the token endpoint's windows for all hosts, then each host's own requests under its token's limit; where that is less than what this machine needs for the same work (the first row, without limits), the latter. ISC publishes no limit for its token endpoint: \"limited\" gives it the API's figure, \"token endpoint scarce\" one that lets a fifth of the fleet in per window."
	out ""
	out "| row | hosts × changes | limit per token | token limit per client_id | floor s | time s | time / floor | requests | 429s | 429 share, API / all | tokens issued | live / queued | lost | duplicates | longest wait s |"
	out "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	[ "$BENCH_MODE" = smoke ] || fleet_row free "no limit (what the machine needs)" off off
	fleet_row limited "limited" "$RATE_LIMIT" "$FLEET_TOKEN_LIMIT"
	fleet_row scarce "token endpoint scarce" "$RATE_LIMIT" "$FLEET_SCARCE_TOKEN_LIMIT"
	log "the rate limit's rows took $((SECONDS - started)) s"
}

# rate_targets: the rate rows' targets (after the others).
rate_targets() {
	local k what
	local token_n least
	for k in process batch limited scarce; do
		case $k in
		process) what="rate limit, $RATE_N changes in a row, a pamtester each" ;;
		batch) what="rate limit, $RATE_N changes in a row, one process" ;;
		limited) what="rate limit, fleet of $FLEET_HOSTS hosts × $FLEET_CHANGES" ;;
		scarce) what="rate limit, fleet of $FLEET_HOSTS hosts × $FLEET_CHANGES, token endpoint scarce" ;;
		esac
		[ -n "${RT_TIME[$k]:-}" ] || continue
		if [ "${RT_FLOOR[$k]}" = - ] || [ "${RT_FLOOR[$k]}" = 0 ]; then
			out "- $what: time ${RT_TIME[$k]} s (no floor: the limits do not bind, and the row without limits is not run in this mode)"
		else
			out "- $what: time / floor = ${RT_TIME[$k]} / ${RT_FLOOR[$k]} s = $(ratio "${RT_TIME[$k]}" "${RT_FLOOR[$k]}") (target <= 1.15): $(verdict "${RT_TIME[$k]} <= 1.15 * ${RT_FLOOR[$k]}")"
		fi
		out "- $what: 429s ${RT_ASHARE[$k]} % of the API requests (target <= 2 %): $(verdict "${RT_ASHARE[$k]} <= 2")"
		least=
		if [ "$k" = scarce ]; then
			# Hosts that cannot know of each other all ask at once: all
			# but the window's N are refused at least once.
			token_n=${FLEET_SCARCE_TOKEN_LIMIT%/*}
			least="; hosts that cannot know of each other meet at least $((FLEET_HOSTS - token_n)) refusals, $(awk -v a=$((FLEET_HOSTS - token_n)) -v b=$((2 * FLEET_HOSTS * FLEET_CHANGES + FLEET_HOSTS)) 'BEGIN { printf "%.2f", 100 * a / b }') %"
		fi
		out "- $what: 429s ${RT_SHARE[$k]} % of all requests, the token endpoint's included (target <= 2 %$least): $(verdict "${RT_SHARE[$k]} <= 2")"
		out "- $what: ${RT_LOST[$k]} lost, ${RT_DUP[$k]} accepted twice (target 0 and 0): $(verdict "${RT_LOST[$k]} == 0 && ${RT_DUP[$k]} == 0")"
		out "- $what: longest wait ${RT_WAIT[$k]} s (target <= timeout, ${RT_TIMEOUT[$k]} s): $(verdict "${RT_WAIT[$k]} <= ${RT_TIMEOUT[$k]}")"
	done
}

# The end of a run: its time, the tables kept in bench/last-run.md.
bench_end() {
	out ""
	out "Run time: $((SECONDS / 60)) min $((SECONDS % 60)) s."
	cp "$R" "$top_builddir/bench/last-run.md"
	log "results also in bench/last-run.md"
}
# A password lost or accepted twice in a rate row fails the run (after the
# tables are written), in every mode, as a wrong password does in the
# other rows.
rate_fail_if_bad() {
	local b
	[ "${#RATE_BAD[@]}" -eq 0 ] && return 0
	for b in "${RATE_BAD[@]}"; do log "FAIL: $b"; done
	exit 1
}

# BENCH_ONLY=rate: the rate limit's rows only (the others take minutes).
case ${BENCH_ONLY:-} in
'') ;;
rate)
	header
	rate_rows
	out ""
	out "## Targets"
	out ""
	rate_targets
	bench_end
	rate_fail_if_bad
	isc_done
	;;
*) hard_error "BENCH_ONLY=$BENCH_ONLY: only rate is known" ;;
esac

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

header
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

# --- the request budget ---------------------------------------------------
rate_rows

# --- ratios and targets ------------------------------------------------------
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
rate_targets

bench_end

# Smoke: the correctness part of the targets must hold (times are not judged).
if [ "$BENCH_MODE" = smoke ]; then
	[ "$t_warm" = met ] || fail "helper per change, warm change: ${REQ[warm-loopback]} requests, ${TLS[warm-loopback]} handshakes"
	[ "$t_cold" = met ] || fail "helper per change, cold change: ${REQ[cold-loopback]} requests, ${TLS[cold-loopback]} handshakes"
	[ "$t_lwarm" = met ] || fail "default (per-host service), warm change: ${REQ[lwarm-loopback]} requests, ${TLS[lwarm-loopback]} handshakes"
	[ "$t_lcold" = met ] || fail "default (per-host service), cold change: ${REQ[lcold-loopback]} requests, ${TLS[lcold-loopback]} handshakes"
fi
rate_fail_if_bad
isc_done
