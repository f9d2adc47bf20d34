# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/lib.sh: the harness every integration test sources.
#
#   . "$(dirname "$0")/../lib.sh"
#   isc_setup                 # root check, private namespaces, $T, syslog capture,
#                             # the pam.d service "other"
#   start_server              # the HTTPS ISC stand-in; sets ISC_URL, ISC_CA, ISC_PORT
#   write_config ['key = value' ...]
#   pam_service NAME "$(isc_line)"
#   run_pamtester alice NAME "$pw"
#   ... assertions ...
#
# Besides, for what many tests do: one change and what the server made of it
# (SVC=NAME; pam_change, change_ok, set_event, got_password, assert_sent,
# n_events, ...), pam_isc_ctl with the test's config (ctl), the offline
# queue's entries, syslog and server event marks, extra test servers, the
# per-host service's socket and pid. Each is described where it is defined.
#   isc_done                  # leak check, exit 0
#
# The automake driver passes top_builddir, top_srcdir, PAMTESTER,
# PAM_WRAPPER_LIB, NSS_WRAPPER_LIB and PAM_WRAPPER_MODULES (see Makefile.am);
# when a test is run by hand they default to an in-tree build and the system
# packages. Exit codes follow the automake test driver: 0 pass, 77 skip,
# 99 hard error (the harness could not even set up), anything else fail.
#
# Passwords: never in argv, never printed. Functions receive them as bash
# arguments (no exec is involved), pamtester gets them on stdin, and every
# password a test uses is registered (register_secret) so that the end of the
# test checks that none of the captured outputs contains it, and so that the
# diagnostics printed on failure leave out any line that would show one.
# Do not use `set -x` in tests.

set -euo pipefail

_isc_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The test script and its arguments, for the re-exec into the namespaces.
_isc_script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
_isc_script_args=("$@")

: "${top_srcdir:=$(cd "$_isc_lib_dir/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PAMTESTER:=$(command -v pamtester || true)}"
: "${PAM_WRAPPER_LIB:=$(pkg-config --libs pam_wrapper 2>/dev/null || true)}"
: "${NSS_WRAPPER_LIB:=$(pkg-config --libs nss_wrapper 2>/dev/null || true)}"
: "${PAM_WRAPPER_MODULES:=$(pkg-config --variable=modules pam_wrapper 2>/dev/null || true)}"
# pkg-config output may carry blanks around it.
_isc_trim() {
	local s=$1
	s=${s#"${s%%[![:space:]]*}"}
	printf '%s' "${s%"${s##*[![:space:]]}"}"
}
PAM_WRAPPER_LIB=$(_isc_trim "$PAM_WRAPPER_LIB")
NSS_WRAPPER_LIB=$(_isc_trim "$NSS_WRAPPER_LIB")
export top_srcdir top_builddir PAMTESTER PAM_WRAPPER_LIB NSS_WRAPPER_LIB PAM_WRAPPER_MODULES

PAM_ISC_SO=$top_builddir/.libs/pam_isc.so
PAM_ISC_HELPER=$top_builddir/pam_isc_helper
ISC_TEST_SERVER=$top_builddir/tests/isc_test_server
SYSLOG_LISTENER=$top_builddir/tests/syslog_listener
PAM_MATRIX=$PAM_WRAPPER_MODULES/pam_matrix.so
PAM_SET_ITEMS=$PAM_WRAPPER_MODULES/pam_set_items.so

# --- hooks for the CI's extra runs (scripts/ci-extra.sh) ---------------------
# These are read by the test harness only; pam_isc.so and the helper never
# look at the environment (the module starts the helper with a fixed one).
#   ISC_TEST_HELPER_WRAPPER   a command prefix (e.g. "valgrind --..."): the
#                             pam.d lines name helper=$T/helper-wrapper, a
#                             root-owned script that execs the prefix on the
#                             real helper. Use %T% for the test's temp dir.
#   ISC_TEST_PAMTESTER_WRAPPER  a command prefix for pamtester (and so for
#                             the module it loads), e.g. valgrind.
#   ISC_TEST_PAMTESTER_PRELOAD  libraries put first in pamtester's
#                             LD_PRELOAD (libasan for an ASan-built module).
#   ISC_TEST_PAMTESTER_ENV    extra NAME=VALUE words for pamtester's
#                             environment (e.g. ASAN_OPTIONS=...), %T% as above.
#   ISC_TEST_TIMEOUT          the configuration's default timeout (10).
# Every file that appears in $T/tool-logs (sanitizer and valgrind reports)
# and shows an error makes the test fail (see _isc_check_tool_logs).
: "${ISC_TEST_HELPER_WRAPPER:=}"
: "${ISC_TEST_PAMTESTER_WRAPPER:=}"
: "${ISC_TEST_PAMTESTER_PRELOAD:=}"
: "${ISC_TEST_PAMTESTER_ENV:=}"
: "${ISC_TEST_TIMEOUT:=10}"

# ---------------------------------------------------------------------------
# messages and exits

_isc_name=$(basename "$0" .sh)

log() { printf '[%s] %s\n' "$_isc_name" "$*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
hard_error() { log "ERROR: $*"; exit 99; }
fail() { log "FAIL: $*"; exit 1; }

# grep in the C locale: byte-exact, whatever the caller's locale.
_grep() { LC_ALL=C grep "$@"; }

# Escape a string for use inside a grep -E pattern.
re_escape() { printf '%s' "$1" | LC_ALL=C sed 's/[][\.*^$(){}?+|/\\]/\\&/g'; }

# The SHA-256 (hex) of a string's bytes; printf is a builtin, so the string
# never reaches an argv.
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The length of a string in bytes.
byte_len() { local LC_ALL=C; printf '%s' "${#1}"; }

_isc_find_system_module() {
	local name=$1 dir libdir
	libdir=$(pkg-config --variable=libdir pam 2>/dev/null || true)
	for dir in ${libdir:+"$libdir/security"} /lib/x86_64-linux-gnu/security \
		/usr/lib/x86_64-linux-gnu/security /lib/security /usr/lib/security \
		/lib64/security /usr/lib64/security; do
		if [ -f "$dir/$name" ]; then
			printf '%s\n' "$dir/$name"
			return 0
		fi
	done
	return 1
}
PAM_PERMIT=$(_isc_find_system_module pam_permit.so || true)

# ---------------------------------------------------------------------------
# secrets

_isc_secrets=()

# Remember a password the test uses: it must not show up in any output. Very
# short ones (< 4 bytes) would match innocent text, so they are not searched
# for (the harness never prints a password in the first place).
register_secret() {
	local LC_ALL=C
	if [ "${#1}" -ge 4 ]; then
		_isc_secrets+=("$1")
	fi
}

# oneline < TEXT: TEXT for a failure message: on one line (';' between the
# lines), without the lines that show a registered secret.
oneline() { _isc_redact | tr '\n' ';'; }

# Lines of stdin without those that contain a registered secret.
_isc_redact() {
	if [ "${#_isc_secrets[@]}" -eq 0 ]; then
		cat
	else
		_grep -vF -f <(printf '%s\n' "${_isc_secrets[@]}") || true
	fi
}

# file_has_secret FILE: true when FILE contains a registered secret.
file_has_secret() {
	[ "${#_isc_secrets[@]}" -gt 0 ] || return 1
	_grep -qF -f <(printf '%s\n' "${_isc_secrets[@]}") "$1"
}

# Fails when any captured output of the test contains a registered secret.
check_no_secret_leaks() {
	local f leaked=0
	for f in "$T/pamtester.all" "$T/syslog.log" "$T/server/events.log" "$T/server.out" \
		"$T/listener.out"; do
		[ -f "$f" ] || continue
		if file_has_secret "$f"; then
			log "FAIL: a password appears in ${f#"$T"/}"
			leaked=1
		fi
	done
	return $leaked
}

# ---------------------------------------------------------------------------
# setup: namespaces, temp dir, cleanup, syslog capture

_isc_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "these tests need root (private mount namespace and syslog capture at /dev/log); run them as root"
	fi
}

# Re-run the test inside a private mount namespace and, when the kernel lets
# us, a private PID namespace (with its own /proc). The PID namespace makes
# cleanup airtight: when the test script (its PID 1) exits, the kernel kills
# whatever is left in it, detached pam_isc followers included. It also
# means pgrep in the test sees only this test's processes, so tests can run
# in parallel (make -j check).
_isc_reexec() {
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	export _ISC_IN_NS=1
	if unshare --mount --pid --fork --mount-proc --propagation private true 2>/dev/null; then
		export _ISC_PIDNS=1
		exec unshare --mount --pid --fork --mount-proc --propagation private -- \
			"$BASH" "$_isc_script" "${_isc_script_args[@]}"
	elif unshare --mount --propagation private true 2>/dev/null; then
		export _ISC_PIDNS=0
		exec unshare --mount --propagation private -- \
			"$BASH" "$_isc_script" "${_isc_script_args[@]}"
	fi
	skip "cannot create a private mount namespace (unshare -m failed)"
}

# A private /dev for this test, so that syslog(3) and pam_syslog, which write
# to the fixed path /dev/log, reach our listener.
#
# Why this way: /dev is a devtmpfs shared with the host (a mount namespace
# does not copy file systems, only the mount table), so a socket bound at
# /dev/log, or a placeholder file created there for a bind mount, would be
# created on the host, be seen by the host's real syslog clients, and be left
# behind if the test is killed. Instead we mount a small tmpfs, bind-mount
# into it the few device nodes and directories a PAM stack, pamtester, curl
# and the helper use, and move that tmpfs over /dev. Everything is mount
# table only, private to this namespace: nothing is ever created on the host,
# it works the same whether or not the host has a /dev/log (a real one is
# simply hidden), and it vanishes with the namespace however the test ends.
# Each test has its own /dev/log, so tests can run in parallel; the only
# lock between tests is the pam_wrapper one (see _isc_pamtester).
# (Called in an || list, where set -e is off: every step checks itself.)
_isc_private_dev() {
	local d="$T/dev.ns" n
	mkdir "$d" || return 1
	mount -t tmpfs -o mode=0755,size=1m,nosuid,noexec tmpfs "$d" || return 1
	for n in null zero full random urandom tty; do
		if [ -e "/dev/$n" ]; then
			: >"$d/$n" || return 1
			mount --bind "/dev/$n" "$d/$n" || return 1
		fi
	done
	for n in pts shm mqueue hugepages; do
		if [ -d "/dev/$n" ]; then
			mkdir "$d/$n" || return 1
			mount --rbind "/dev/$n" "$d/$n" || return 1
		fi
	done
	# ptmx as a link into devpts: a bind mount of the host's /dev/ptmx cannot
	# find its devpts instance from here (the kernel looks for "pts" next to
	# the node it opened) and every pty allocation fails with ENOENT.
	if [ -e /dev/pts/ptmx ]; then
		ln -s pts/ptmx "$d/ptmx" || return 1
	fi
	ln -s /proc/self/fd "$d/fd" || return 1
	ln -s /proc/self/fd/0 "$d/stdin" || return 1
	ln -s /proc/self/fd/1 "$d/stdout" || return 1
	ln -s /proc/self/fd/2 "$d/stderr" || return 1
	mount --move "$d" /dev || return 1
}

_isc_pids=()

_isc_diagnostics() {
	local f
	log "---- diagnostics (lines showing a test password are left out) ----"
	for f in pamtester.all syslog.log server/events.log server.out listener.out; do
		[ -s "$T/$f" ] || continue
		printf '==== %s (last 60 lines)\n' "$f" >&2
		tail -n 60 "$T/$f" | _isc_redact >&2
	done
	log "---- end of diagnostics; keep the files with KEEP_TMP=1 ----"
}

_isc_cleanup() {
	local rc=$? pid pids
	trap - EXIT INT TERM HUP
	# Whoever reads our output may be gone (| head): cleanup goes on anyway.
	trap '' PIPE
	set +e
	if [ "$rc" -eq 0 ] && ! check_no_secret_leaks; then
		rc=1
	fi
	if [ "$rc" -ne 77 ] && ! _isc_check_tool_logs; then
		rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
		_isc_diagnostics
	fi
	# Followers are detached (own session, reparented); they are found by
	# the config path in their command line, which lies under $T.
	if [ -n "${T:-}" ]; then
		pids=$(pgrep -f -- "$(re_escape "$T")/" 2>/dev/null)
		for pid in $pids; do
			[ "$pid" != "$$" ] && kill -TERM "$pid" 2>/dev/null
		done
	fi
	for pid in "${_isc_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_isc_pids[@]}" $pids; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		# Had the private /dev not been moved into place, its mounts (the
		# host's /dev/shm among them) would still hang under $T: take them
		# down first, and never let rm cross into another file system.
		if mountpoint -q "$T/dev.ns" 2>/dev/null; then
			umount -R "$T/dev.ns" 2>/dev/null || umount -R -l "$T/dev.ns" 2>/dev/null
		fi
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			log "kept $T"
		else
			rm -rf --one-file-system -- "$T"
		fi
	fi
	exit "$rc"
}

# Fails (returns 1, printing the reports) when a sanitizer or valgrind
# report under $T/tool-logs shows an error. Followers still running are
# stopped first, so that their reports are complete.
_isc_check_tool_logs() {
	local f bad=0 pids pid
	[ -n "${T:-}" ] && [ -d "$T/tool-logs" ] || return 0
	pids=$(pgrep -f -- "pam_isc_helper follow --config $(re_escape "$T")/" 2>/dev/null)
	for pid in $pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $pids; do
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	for f in "$T"/tool-logs/*; do
		# Reports are written only when there is something to report
		# (valgrind -q, sanitizer log_path): any non-empty one fails,
		# but for Debian 12's valgrind 3.19 not knowing pidfd_open (434):
		# it answers ENOSYS and the module falls back to polling
		# waitpid, which is what that warning block is about.
		[ -s "$f" ] || continue
		if ! _grep -vE '^--[0-9]+-- (WARNING: unhandled amd64-linux syscall: 434|You may be able to write your own handler\.|Read the file README_MISSING_SYSCALL_OR_IOCTL\.|Nevertheless we consider this a bug\.  Please report|it at http://valgrind\.org/support/bug_reports\.html\.)$' "$f" |
			_grep -q .; then
			continue
		fi
		log "FAIL: tool report ${f#"$T"/}:"
		head -n 80 "$f" | _isc_redact >&2
		bad=1
	done
	return $bad
}

# Start a test: root check, namespaces, $T, nss_wrapper database, pam.d
# directory (with the service "other": a permit line), syslog capture at
# /dev/log.
isc_setup() {
	_isc_require_root
	if [ "${_ISC_IN_NS:-0}" != 1 ]; then
		_isc_reexec
	fi
	[ -x "$SYSLOG_LISTENER" ] || hard_error "$SYSLOG_LISTENER is not built (make check builds it)"
	[ -x "$ISC_TEST_SERVER" ] || hard_error "$ISC_TEST_SERVER is not built (make check builds it)"
	[ -f "$PAM_ISC_SO" ] || hard_error "$PAM_ISC_SO is not built"
	[ -x "$PAM_ISC_HELPER" ] || hard_error "$PAM_ISC_HELPER is not built"
	if [ -z "$PAMTESTER" ] || [ ! -x "$PAMTESTER" ]; then
		hard_error "pamtester not found (PAMTESTER=$PAMTESTER)"
	fi
	[ -f "$PAM_WRAPPER_LIB" ] || hard_error "pam_wrapper library not found (PAM_WRAPPER_LIB=$PAM_WRAPPER_LIB)"
	[ -f "$NSS_WRAPPER_LIB" ] || hard_error "nss_wrapper library not found (NSS_WRAPPER_LIB=$NSS_WRAPPER_LIB)"
	[ -f "$PAM_MATRIX" ] || hard_error "pam_matrix.so not found in PAM_WRAPPER_MODULES=$PAM_WRAPPER_MODULES"

	T=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc_test.XXXXXX")
	case $T in
	*[[:space:]]*) hard_error "the temp dir path contains blanks: $T (set TMPDIR)" ;;
	esac
	export T
	trap _isc_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	_isc_private_dev || skip "cannot set up a private /dev in the mount namespace (mount failed)"
	_isc_write_nss_db
	mkdir -m 0700 "$T/pam.d"
	# What Linux-PAM falls back to for a service without a file of its own.
	pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"
	mkdir -m 0700 "$T/tool-logs"
	: >"$T/pamtester.all"
	_isc_write_helper_wrapper

	"$SYSLOG_LISTENER" /dev/log "$T/syslog.log" >"$T/listener.out" 2>&1 &
	_isc_pids+=($!)
	_isc_wait_file_line "$T/listener.out" '^ready$' 5 ||
		hard_error "syslog_listener did not come up: $(cat "$T/listener.out")"
	SYSLOG=$T/syslog.log
	export SYSLOG
	log "temp dir $T (pid namespace: ${_ISC_PIDNS:-0})"
}

_isc_wait_file_line() {
	local file=$1 pattern=$2 timeout_s=$3 i
	for ((i = 0; i < timeout_s * 10; i++)); do
		if [ -f "$file" ] && _grep -qE -- "$pattern" "$file"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Run the final checks and end the test as passed.
isc_done() {
	check_no_secret_leaks || exit 1
	log "PASS"
	exit 0
}

# ---------------------------------------------------------------------------
# nss_wrapper user database

ISC_TEST_USERS="alice:1001 bob:1002 carol:1003 dave:1004 multi1:1005 ambig1:1006
unknown1:1007 noacct1:1008 sysuser:999 root:0 user1:2001 user2:2002 user3:2003
user4:2004 user5:2005"

_isc_write_nss_db() {
	local entry name uid
	mkdir -p "$T/home"
	: >"$T/passwd"
	: >"$T/group"
	for entry in $ISC_TEST_USERS; do
		name=${entry%%:*}
		uid=${entry#*:}
		printf '%s:x:%s:%s:%s:%s:/bin/sh\n' "$name" "$uid" "$uid" "$name" \
			"$T/home/$name" >>"$T/passwd"
		printf '%s:x:%s:\n' "$name" "$uid" >>"$T/group"
	done
	NSS_WRAPPER_PASSWD=$T/passwd
	NSS_WRAPPER_GROUP=$T/group
}

# ---------------------------------------------------------------------------
# the ISC test server

# _isc_wait_server DIR PID WHAT: until the test server started as PID with
# --dir DIR wrote its port file (10 s); a hard error when it exits first or
# writes none. Prints the port.
_isc_wait_server() {
	local dir=$1 pid=$2 what=$3 i
	for ((i = 0; i < 100; i++)); do
		[ -s "$dir/port" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			hard_error "$what exited at start: $(tail -n 20 "$dir.out" 2>/dev/null)"
		fi
		sleep 0.1
	done
	[ -s "$dir/port" ] || hard_error "$what wrote no port file within 10 s"
	tr -d '[:space:]' <"$dir/port"
}

# start_server [server args]: start it, wait (10 s) for its port file. Sets
# ISC_URL, ISC_CA, ISC_PORT, ISC_EVENTS, and the URLs of its two broken
# ports: ISC_DOWN_URL (bound, not listening: refused at once) and
# ISC_BLACKHOLE_URL (listening, never accepting).
start_server() {
	mkdir -p "$T/server"
	"$ISC_TEST_SERVER" --dir "$T/server" "$@" >"$T/server.out" 2>&1 &
	ISC_SERVER_PID=$!
	_isc_pids+=("$ISC_SERVER_PID")
	ISC_PORT=$(_isc_wait_server "$T/server" "$ISC_SERVER_PID" isc_test_server) || exit $?
	ISC_CA=$T/server/ca.pem
	ISC_URL=https://127.0.0.1:$ISC_PORT
	[ -s "$ISC_CA" ] || hard_error "isc_test_server wrote no $ISC_CA"
	export ISC_PORT ISC_CA ISC_URL
	ISC_EVENTS=$T/server/events.log
	ISC_DOWN_URL=https://127.0.0.1:$(tr -d '[:space:]' <"$T/server/closed_port")
	ISC_BLACKHOLE_URL=https://127.0.0.1:$(tr -d '[:space:]' <"$T/server/blackhole_port")
}

# start_extra_server NAME [server args]: another test server, in $T/NAME
# (a server with another CA, a bad certificate, a proxy stand-in). Sets
# X_PORT, X_URL, X_CA, X_PIN (its pinned_public_key) and X_EVENTS.
start_extra_server() {
	local name=$1 pid
	shift
	mkdir -p "$T/$name"
	"$ISC_TEST_SERVER" --dir "$T/$name" "$@" >"$T/$name.out" 2>&1 &
	pid=$!
	_isc_pids+=("$pid")
	X_PORT=$(_isc_wait_server "$T/$name" "$pid" "test server $name") || exit $?
	X_URL=https://127.0.0.1:$X_PORT
	X_CA=$T/$name/ca.pem
	X_PIN=$(tr -d '[:space:]' <"$T/$name/pin")
	X_EVENTS=$T/$name/events.log
}

# server_control JSON: set test switches.
server_control() {
	curl -sS --fail --noproxy '*' --max-time 10 --cacert "$ISC_CA" \
		-H 'Content-Type: application/json' --data-binary "$1" \
		"$ISC_URL/__control" >/dev/null ||
		fail "server_control $1 failed"
}

server_events() { printf '%s\n' "$T/server/events.log"; }

# count_events PATTERN: events.log lines matching the grep -E pattern.
count_events() {
	local f=$T/server/events.log
	[ -f "$f" ] || { echo 0; return 0; }
	_grep -cE -- "$1" "$f" || true
}

# events_mark: the current number of event lines; events_since MARK: the
# lines written after that mark (the events of one change).
events_mark() {
	local f=$T/server/events.log
	if [ -f "$f" ]; then wc -l <"$f" | tr -d ' '; else echo 0; fi
}
events_since() {
	local f=$T/server/events.log
	[ -f "$f" ] || return 0
	tail -n "+$(($1 + 1))" "$f"
}

# wait_for_event PATTERN [TIMEOUT_S (10)] [MARK (0)]: until a server event
# since MARK matches the grep -E PATTERN; polls every 0.02 s. 1 on timeout.
wait_for_event() {
	local pattern=$1 timeout_s=${2:-10} mark=${3:-0} i
	for ((i = 0; i <= timeout_s * 50; i++)); do
		[ "$(events_since "$mark" | { _grep -cE -- "$pattern" || true; })" -gt 0 ] && return 0
		sleep 0.02
	done
	return 1
}

# assert_one_conn MARK [WHAT]: every API request since MARK came over one TLS
# connection (status polls are left out: the follower makes them on its own
# connection; so are test switches).
assert_one_conn() {
	local conns
	conns=$(events_since "$1" | { _grep -E '^request ' || true; } |
		{ _grep -vE 'path=/__control|password-change-status' || true; } | field conn | sort -u)
	[ -n "$conns" ] || fail "${2:-change}: no API request at all"
	[ "$(printf '%s\n' "$conns" | wc -l)" -eq 1 ] ||
		fail "${2:-change}: requests over several TLS connections: $(printf '%s ' $conns)"
}

# field KEY < line(s): the value of KEY=... in each line (quotes removed).
field() {
	LC_ALL=C sed -nE "s/.*(^| )$1=(\"([^\"\\\\]|\\\\.)*\"|[^ ]*).*/\\2/p" | sed -E 's/^"(.*)"$/\1/'
}

# ---------------------------------------------------------------------------
# configuration

_isc_cfg_keys=()
_isc_cfg_lines=()

_isc_cfg_put() {
	local line=$1 key i
	if [[ $line =~ ^!([A-Za-z0-9_]+)$ ]]; then
		key=${BASH_REMATCH[1]}
		for i in "${!_isc_cfg_keys[@]}"; do
			if [ "${_isc_cfg_keys[$i]}" = "$key" ]; then
				unset '_isc_cfg_keys[i]' '_isc_cfg_lines[i]'
			fi
		done
		return 0
	fi
	if [[ $line =~ ^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*= ]]; then
		key=${BASH_REMATCH[1]}
		for i in "${!_isc_cfg_keys[@]}"; do
			if [ "${_isc_cfg_keys[$i]}" = "$key" ]; then
				_isc_cfg_lines[i]=$line
				return 0
			fi
		done
	else
		key=
	fi
	_isc_cfg_keys+=("$key")
	_isc_cfg_lines+=("$line")
}

# write_config ['key = value' ...]: $T/pam_isc.conf with the test defaults;
# a given key replaces the default line in place (duplicates are config
# errors), '!key' removes the default, a line without '=' is appended as is.
# helper_linger = 0: each change gets a helper of its own, the one the test
# arranged (a wrapper, a hung one) and can watch; the lingering helper, the
# default, has its own test (helper_linger.sh) and the benchmark.
write_config() {
	local line i
	[ -n "${ISC_URL:-}" ] || hard_error "write_config needs start_server first"
	mkdir -p "$T/run"
	chmod 0700 "$T/run"
	# state_dir (offline queue, key cache) is created by pam_isc itself.
	(umask 077 && printf 'test-secret\n' >"$T/secret")
	chmod 0600 "$T/secret"
	_isc_cfg_keys=()
	_isc_cfg_lines=()
	for line in \
		"api_url = $ISC_URL" \
		"client_id = pam-isc-test" \
		"client_secret_file = $T/secret" \
		"source_name = Linux Hosts" \
		"ca_file = $ISC_CA" \
		"runtime_dir = $T/run" \
		"state_dir = $T/state" \
		"status_interval = 1" \
		"min_uid = 1000" \
		"skip_users = root" \
		"timeout = $ISC_TEST_TIMEOUT" \
		"helper_linger = 0" \
		"$@"; do
		_isc_cfg_put "$line"
	done
	# Written beside it and renamed over it: a follower or service of an
	# earlier change may read the file at any moment (it reloads an edited
	# configuration), and must never see half of it.
	(
		umask 077
		printf '# pam_isc test configuration (tests/lib.sh)\n'
		for i in "${!_isc_cfg_lines[@]}"; do
			printf '%s\n' "${_isc_cfg_lines[$i]}"
		done
	) >"$T/pam_isc.conf.new"
	chmod 0600 "$T/pam_isc.conf.new"
	mv -f "$T/pam_isc.conf.new" "$T/pam_isc.conf"
	ISC_CONF=$T/pam_isc.conf
}

# config_line_of KEY: the line number of KEY in the written config.
config_line_of() {
	_grep -nE "^[[:space:]]*$1[[:space:]]*=" "$T/pam_isc.conf" | head -n 1 | cut -d: -f1
}

# ---------------------------------------------------------------------------
# PAM services and pamtester

# isc_line [CONTROL [EXTRA ARGS...]]: the pam.d line for pam_isc.so.
isc_line() {
	local control=${1:-required}
	[ $# -gt 0 ] && shift
	printf 'password %s %s config=%s helper=%s debug%s\n' "$control" "$PAM_ISC_SO" \
		"$T/pam_isc.conf" "$(helper_path)" "${*:+ $*}"
}

# helper_path: what the pam.d lines name as helper=: the real helper, or the
# wrapper script when ISC_TEST_HELPER_WRAPPER is set.
helper_path() {
	if [ -n "$ISC_TEST_HELPER_WRAPPER" ]; then
		printf '%s\n' "$T/helper-wrapper"
	else
		printf '%s\n' "$PAM_ISC_HELPER"
	fi
}

# The module starts the helper with nothing but PATH in its environment, so
# the wrapper carries everything it needs in its own text.
_isc_write_helper_wrapper() {
	[ -n "$ISC_TEST_HELPER_WRAPPER" ] || return 0
	local prefix=${ISC_TEST_HELPER_WRAPPER//%T%/$T}
	printf '#!/bin/sh\n# written by tests/lib.sh for ISC_TEST_HELPER_WRAPPER\nexec %s %s "$@"\n' \
		"$prefix" "$PAM_ISC_HELPER" >"$T/helper-wrapper"
	chmod 0755 "$T/helper-wrapper"
}

# pam_service NAME LINE...: write the service file $T/pam.d/NAME.
pam_service() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$T/pam.d/$name"
}

# run_pamtester USER SERVICE [PASSWORD]: `pamtester -v SERVICE USER
# chauthtok` under pam_wrapper and nss_wrapper. With PASSWORD, stdin carries
# it twice (pam_get_authtok asks "New password:" and "Retype new
# password:"); without, stdin is whatever the caller gives (run_pamtester_in)
# or empty. Output goes to $T/pamtester.out (and is appended to
# $T/pamtester.all). Returns pamtester's exit status.
run_pamtester() {
	local user=$1 service=$2
	if [ $# -ge 3 ]; then
		printf '%s\n%s\n' "$3" "$3" | _isc_pamtester "$user" "$service"
	else
		_isc_pamtester "$user" "$service" </dev/null
	fi
}

# run_pamtester_in USER SERVICE: like run_pamtester, stdin from the caller.
# (ISC_PAM_OP, e.g. 'chauthtok(PAM_SILENT)', replaces the operation.)
run_pamtester_in() {
	_isc_pamtester "$1" "$2"
}

# The one global thing the tests touch: pam_wrapper copies libpam and the
# service files into a directory it names /tmp/pam.0 ... /tmp/pam.z (fixed
# in the library, TMPDIR is not consulted), picked by lstat() then mkdir()
# (not atomic; a failed mkdir is only logged), and removes it when the
# process ends. Two pamtester runs of tests running in parallel (make -j
# check) can pick the same directory, and the first to end deletes it under
# the other ("PAM error reading PAM configuration file"). So pamtester runs
# one at a time across all tests, under an flock on a lock file in
# ${TMPDIR:-/tmp}. (A private tmpfs over /tmp in our namespace would avoid the
# lock, but would hide a build tree that lives under /tmp, as make distcheck's
# can.) The lock fd is not inherited by pamtester, so no helper or follower
# can keep it.
ISC_PAM_WRAPPER_LOCK=${TMPDIR:-/tmp}/pam_isc-tests.pam_wrapper.lock

# PAMTESTER_ENV: extra NAME=VALUE words a test puts into pamtester's
# environment (the calling process of the PAM stack), e.g. hostile variables.
PAMTESTER_ENV=()

_isc_pamtester() {
	local user=$1 service=$2 rc=0 lockfd
	{
		printf '\n## pamtester -v %s %s chauthtok\n' "$service" "$user"
	} >>"$T/pamtester.all"
	exec {lockfd}>>"$ISC_PAM_WRAPPER_LOCK"
	flock -w 300 "$lockfd" || hard_error "could not lock $ISC_PAM_WRAPPER_LOCK within 300 s"
	local t0 t1
	t0=$(date +%s%N)
	local -a extra_env=() wrapper=()
	# shellcheck disable=SC2206 # words on purpose
	[ -z "$ISC_TEST_PAMTESTER_ENV" ] || extra_env=(${ISC_TEST_PAMTESTER_ENV//%T%/$T})
	# shellcheck disable=SC2206
	[ -z "$ISC_TEST_PAMTESTER_WRAPPER" ] || wrapper=(${ISC_TEST_PAMTESTER_WRAPPER//%T%/$T})
	env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
		LD_PRELOAD="${ISC_TEST_PAMTESTER_PRELOAD:+$ISC_TEST_PAMTESTER_PRELOAD }$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" \
		NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" \
		"${extra_env[@]}" "${PAMTESTER_ENV[@]}" \
		timeout 60 "${wrapper[@]}" "$PAMTESTER" -v "$service" "$user" "${ISC_PAM_OP:-chauthtok}" \
		>"$T/pamtester.out" 2>&1 {lockfd}>&- || rc=$?
	t1=$(date +%s%N)
	exec {lockfd}>&-
	# How long pamtester itself ran (not the wait for the lock), in ms:
	# see pamtester_ms.
	echo $(((t1 - t0) / 1000000)) >"$T/pamtester.ms"
	cat "$T/pamtester.out" >>"$T/pamtester.all"
	printf '## exit status %s\n' "$rc" >>"$T/pamtester.all"
	return "$rc"
}

# host_users: the test's users ($T/passwd, $T/group) also in the host's
# own name service, for the processes pam_isc starts with a clean
# environment (a follower delivering the queue looks users up without
# nss_wrapper): a copy of /etc/passwd and /etc/group with them appended,
# bound over the originals in the test's private mount namespace only.
host_users() {
	[ "${_ISC_IN_NS:-0}" = 1 ] || hard_error "host_users needs the private mount namespace"
	local f
	for f in passwd group; do
		{ cat "/etc/$f"; _grep -v '^root:' "$T/$f"; } >"$T/host-$f"
		chmod 0644 "$T/host-$f"
		mount --bind "$T/host-$f" "/etc/$f" || hard_error "cannot bind $T/host-$f over /etc/$f"
	done
}

# pamtester_private USER PASSWORD OUT [SERVICE]: one pamtester chauthtok
# that may run at the same time as others (run it with &): pam_wrapper
# copies its files to /tmp/pam.X, which concurrent runs would share (see
# _isc_pamtester), so it runs in its own mount namespace with a private
# tmpfs on /tmp, and the test's directory bound back in. Its output goes to
# OUT; the exit status is pamtester's. No shared lock, no pamtester.all.
pamtester_private() {
	local user=$1 pw=$2 out=$3 service=${4:-${SVC:?the test sets SVC, the service of its changes}}
	printf '%s\n%s\n' "$pw" "$pw" | T=$T top_srcdir=$top_srcdir top_builddir=$top_builddir \
		NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" \
		PAM_WRAPPER_LIB=$PAM_WRAPPER_LIB NSS_WRAPPER_LIB=$NSS_WRAPPER_LIB PAMTESTER=$PAMTESTER \
		unshare --mount --propagation private -- "$BASH" -c '
		# Whatever of ours lives under /tmp (this test directory, and a build
		# or source tree there, as in make distcheck or a clone in /tmp) is
		# bound back over the private tmpfs, outermost first.
		keep=() fds=()
		for d in $(printf "%s\n" "$T" "$top_srcdir" "$top_builddir" | sort -u); do
			case $d in /tmp/*) keep+=("$d") ;; esac
		done
		for d in "${keep[@]}"; do
			exec {fd}<"$d" || exit 98
			fds+=("$fd")
		done
		mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp || exit 98
		for i in "${!keep[@]}"; do
			mkdir -p "${keep[$i]}" || exit 98
			mount --no-canonicalize --bind "/proc/self/fd/${fds[$i]}" "${keep[$i]}" || exit 98
			eval "exec ${fds[$i]}<&-"
		done
		# The harness hooks of CI'"'"'s sanitizer stage (see above).
		extra_env=()
		[ -z "${ISC_TEST_PAMTESTER_ENV:-}" ] || extra_env=(${ISC_TEST_PAMTESTER_ENV//%T%/$T})
		exec env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
			LD_PRELOAD="${ISC_TEST_PAMTESTER_PRELOAD:+$ISC_TEST_PAMTESTER_PRELOAD }$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" \
			NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" \
			"${extra_env[@]}" \
			timeout 60 "$PAMTESTER" -v "$1" "$2" chauthtok' _ "$service" "$user" \
		>"$out" 2>&1
}

# pamtester_ms: how long the last run_pamtester's pamtester ran, in ms.
pamtester_ms() { cat "$T/pamtester.ms"; }

# with_nss CMD...: run CMD with the test's users (nss_wrapper), as the
# host's own name service would give them to pam_isc_ctl.
# (ISC_TEST_PAMTESTER_PRELOAD, a sanitizer runtime in CI's ASan stage, must
# come first here too: pam_isc_ctl is instrumented like the module.)
with_nss() {
	_isc_nss_env_set
	env "${_isc_nss_env[@]}" "$@"
}
_isc_nss_env_set() {
	_isc_nss_env=(
		"LD_PRELOAD=${ISC_TEST_PAMTESTER_PRELOAD:+$ISC_TEST_PAMTESTER_PRELOAD }$NSS_WRAPPER_LIB"
		"NSS_WRAPPER_PASSWD=$NSS_WRAPPER_PASSWD" "NSS_WRAPPER_GROUP=$NSS_WRAPPER_GROUP"
	)
}
_isc_nss_env=()

# ---------------------------------------------------------------------------
# pam_isc_ctl

PAM_ISC_CTL=$top_builddir/pam_isc_ctl

_isc_need_ctl() {
	[ -x "$PAM_ISC_CTL" ] || hard_error "$PAM_ISC_CTL is not built"
	_isc_nss_env_set
}

# ctl ARGS...: `pam_isc_ctl ARGS` with the test's config and helper and the
# test's users (with_nss). Its exit status in CTL_RC, its output in
# $T/ctl.out (and appended to $T/pamtester.all, which is searched for
# leaked passwords). Never fails by itself.
ctl() {
	_isc_need_ctl
	_isc_ctl "${_isc_nss_env[@]}" -- "$@"
}

# ctl_no_nss ARGS...: like ctl, but pam_isc_ctl sees none of the test's
# users (as when the name service is down).
ctl_no_nss() {
	_isc_need_ctl
	_isc_ctl -- "$@"
}

_isc_ctl() {
	local -a envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	local tries=0
	while :; do
		CTL_RC=0
		env "${envs[@]}" "$PAM_ISC_CTL" --config "$T/pam_isc.conf" --helper "$PAM_ISC_HELPER" "$@" \
			>"$T/ctl.out" 2>&1 || CTL_RC=$?
		cat "$T/ctl.out" >>"$T/pamtester.all"
		# A flush finds the queue's lock taken (exit 4) when a follower
		# (which drains the queue as soon as it sees a new configuration)
		# is delivering: the test's flush comes after it, as a timer's next
		# run would. CTL_NO_RETRY=1: the test wants to see the 4.
		[ "$1" = flush ] && [ "$CTL_RC" -eq 4 ] && [ "${CTL_NO_RETRY:-0}" != 1 ] &&
			[ $((tries += 1)) -le 300 ] || break
		sleep 0.1
	done
}

# ctl_start ARGS...: like ctl, in the background: CTL_PID is pam_isc_ctl
# itself (it can be killed), its output goes to $T/ctl.bg.out. ctl_wait:
# wait for it; its exit status in CTL_RC, its output appended to
# $T/pamtester.all.
ctl_start() {
	_isc_need_ctl
	env "${_isc_nss_env[@]}" "$PAM_ISC_CTL" --config "$T/pam_isc.conf" --helper "$PAM_ISC_HELPER" \
		"$@" >"$T/ctl.bg.out" 2>&1 &
	CTL_PID=$!
}
ctl_wait() {
	CTL_RC=0
	wait "$CTL_PID" 2>/dev/null || CTL_RC=$?
	cat "$T/ctl.bg.out" >>"$T/pamtester.all"
}

# ---------------------------------------------------------------------------
# syslog

syslog_lines() { cat "$T/syslog.log"; }

# syslog_mark: the current number of syslog lines; syslog_since MARK: the
# lines logged after that mark.
syslog_mark() { wc -l <"$T/syslog.log" | tr -d ' '; }
syslog_since() { tail -n "+$(($1 + 1))" "$T/syslog.log"; }

# count_log PATTERN: syslog lines matching the grep -E pattern.
count_log() { _grep -cE -- "$1" "$T/syslog.log" || true; }

# wait_for_log PATTERN [TIMEOUT_S (10)] [COUNT (1)]: until COUNT syslog lines
# match; polls every 0.1 s. Returns 1 (with a message) on timeout.
wait_for_log() {
	local pattern=$1 timeout_s=${2:-10} count=${3:-1} i
	for ((i = 0; i <= timeout_s * 10; i++)); do
		if [ "$(count_log "$pattern")" -ge "$count" ]; then
			return 0
		fi
		sleep 0.1
	done
	log "timed out after ${timeout_s}s waiting for $count syslog line(s) matching /$pattern/"
	return 1
}

assert_log() {
	_grep -qE -- "$1" "$T/syslog.log" || fail "${2:-no syslog line matches /$1/}"
}

assert_no_log() {
	local hit
	if hit=$(_grep -E -- "$1" "$T/syslog.log" | head -n 3 | _isc_redact) && [ -n "$hit" ]; then
		fail "${2:-unexpected syslog line(s) matching /$1/}: $hit"
	fi
	return 0
}

# assert_authpriv PATTERN: every syslog line matching PATTERN (at least one)
# came with facility authpriv (10): the raw datagram starts with <PRI> and
# PRI >> 3 == 10.
assert_authpriv() {
	local line pri n=0
	while IFS= read -r line; do
		n=$((n + 1))
		[[ $line =~ ^\<([0-9]+)\> ]] || fail "syslog line without <PRI>: $line"
		pri=${BASH_REMATCH[1]}
		[ $((pri >> 3)) -eq 10 ] ||
			fail "syslog line with facility $((pri >> 3)), not authpriv (10): $line"
	done < <(_grep -E -- "$1" "$T/syslog.log" | _isc_redact)
	[ "$n" -gt 0 ] || fail "no syslog line matches /$1/"
}

# ---------------------------------------------------------------------------
# one password change, and what the server made of it

# pam_change USER PASSWORD [SERVICE]: USER changes their password to PASSWORD
# through the pam.d service SERVICE (default: $SVC, which the test sets),
# PASSWORD registered as a secret first. Sets RC (pamtester's exit status),
# MS (how long it ran, ms), MARK (events_mark before the change, so that
# events_since "$MARK" are its server events and those of what came after),
# EV (the server events up to the change's end: see n_events) and LOG_MARK
# (syslog_mark before it: syslog_since "$LOG_MARK" are its log lines).
# Checks nothing.
pam_change() {
	local user=$1 pw=$2 service=${3:-${SVC:?the test sets SVC, the service of its changes}}
	register_secret "$pw"
	MARK=$(events_mark)
	LOG_MARK=$(syslog_mark)
	RC=0
	run_pamtester "$user" "$service" "$pw" || RC=$?
	MS=$(pamtester_ms)
	EV=$(events_since "$MARK")
}

# n_events PATTERN: how many of the last change's server events (EV) match
# the grep -E PATTERN (a follower's later polls are not among them).
n_events() { printf '%s\n' "$EV" | { _grep -cE -- "$1" || true; }; }

# api_requests MARK: the lookups and set-passwords the server got since MARK.
api_requests() {
	events_since "$1" | { _grep -cE '^request .*path=[^ ]*(query-password-info|set-password)' || true; }
}

# api_conns MARK: the TLS connections (ids, one a line) that the lookups and
# set-passwords since MARK came over.
api_conns() {
	events_since "$1" | { _grep -E '^request .*path=[^ ]*(query-password-info|set-password)' || true; } |
		field conn | sort -u
}

# change_start USER PASSWORD [SERVICE]: pam_change's change in the
# background, to look at it while it runs (the server holding its answers:
# delay_ms). Sets MARK and CHANGE_JOB. change_wait: wait for its end; RC.
change_start() {
	local user=$1 pw=$2 service=${3:-${SVC:?the test sets SVC, the service of its changes}}
	register_secret "$pw"
	MARK=$(events_mark)
	run_pamtester "$user" "$service" "$pw" >/dev/null 2>&1 &
	CHANGE_JOB=$!
}
change_wait() {
	RC=0
	wait "$CHANGE_JOB" || RC=$?
}

# change_ok USER PASSWORD [SERVICE]: pam_change, which must succeed.
change_ok() {
	pam_change "$@"
	[ "$RC" -eq 0 ] ||
		fail "pamtester chauthtok for $1 exited $RC, expected success: $(_isc_redact <"$T/pamtester.out" | tail -n 3 | tr '\n' ' ')"
}

# set_event USER [MARK]: the server's last set-password event for USER
# since MARK (default: the last change's $MARK); empty when there is none.
set_event() {
	events_since "${2:-$MARK}" | { _grep -E "^set user=$1 " || true; } | tail -n 1
}

# request_of USER [MARK]: the request id of that event (empty when none).
request_of() { set_event "$@" | field request; }

# got_password USER PASSWORD [MARK]: the server decrypted exactly PASSWORD
# (its SHA-256) in USER's last set-password since MARK (default $MARK).
got_password() {
	[ "$(set_event "$1" "${3:-$MARK}" | field decrypted_sha256)" = "$(sha256_of "$2")" ]
}

# count_sets USER [PASSWORD]: how many set-password events the server logged
# for USER (in all), only those that carried PASSWORD when given.
count_sets() {
	if [ $# -ge 2 ]; then
		count_events "^set user=$1 .*decrypted_sha256=$(sha256_of "$2") "
	else
		count_events "^set user=$1 "
	fi
}

# assert_sent USER PASSWORD [MARK [WHAT]]: since MARK (default $MARK) the
# server saw exactly one set-password, for USER, and decrypted exactly
# PASSWORD: its SHA-256 and its length in bytes. The event in SET_LINE.
assert_sent() {
	local user=$1 pw=$2 mark=${3:-$MARK} what=${4:-$1} sets got
	sets=$(events_since "$mark" | { _grep -E '^set ' || true; })
	[ "$(printf '%s' "$sets" | _grep -c '^set ' || true)" -eq 1 ] ||
		fail "$what: expected exactly one set event, got: $sets"
	SET_LINE=$sets
	got=$(field user <<<"$SET_LINE")
	[ "$got" = "$user" ] || fail "$what: the set event is for '$got', not $user"
	got=$(field decrypted_sha256 <<<"$SET_LINE")
	[ "$got" = "$(sha256_of "$pw")" ] ||
		fail "$what: the server decrypted sha256 $got, the new password has $(sha256_of "$pw")"
	got=$(field len <<<"$SET_LINE")
	[ "$got" = "$(byte_len "$pw")" ] ||
		fail "$what: the server decrypted $got bytes, the new password has $(byte_len "$pw")"
}

# assert_unreachable WHAT USER PATTERN: the last change (pam_change) failed
# as "ISC unreachable": pamtester failed, the person was told so, and a log
# line of the change (they are in NEW) is `event=error user=USER ...`
# matching the grep -E PATTERN.
assert_unreachable() {
	local what=$1 user=$2 pattern=$3
	[ "$RC" -ne 0 ] || fail "$what: the change succeeded"
	_grep -q 'unreachable' "$T/pamtester.out" ||
		fail "$what: the person was not told ISC is unreachable: $(oneline <"$T/pamtester.out" | tail -c 300)"
	sleep 0.2 # the helper's last lines
	NEW=$(syslog_since "$LOG_MARK")
	_grep -qE -- "event=error user=$user .*$pattern" <<<"$NEW" ||
		fail "$what: no error line matching /$pattern/: $(oneline <<<"$NEW")"
}

# ---------------------------------------------------------------------------
# the offline queue (state_dir = $T/state)

# queue_entry_of USER: the path of USER's queue entry (named by the SHA-256
# of the user name), whether or not it exists.
queue_entry_of() { printf '%s/state/queue/%s' "$T" "$(sha256_of "$1")"; }

# queue_entries: the names of the entries in the queue now, one a line,
# entries in delivery (.inflight) included; temporary files left out.
queue_entries() {
	ls "$T/state/queue/" 2>/dev/null | { _grep -E '^[0-9a-f]{64}(\.inflight)?$' || true; }
}

# ---------------------------------------------------------------------------
# the per-host service (pam_isc_helper serve)

# wait_service_socket [TIMEOUT_S (3)]: until the service's socket,
# $T/run/service.sock (runtime_dir is $T/run), is there.
wait_service_socket() {
	local i
	for ((i = 0; i < ${1:-3} * 20; i++)); do
		[ -S "$T/run/service.sock" ] && return 0
		sleep 0.05
	done
	return 1
}

# service_pid: the pid of the newest per-host service of this test; 1 when
# none runs.
service_pid() { pgrep -n -f -- "^pam_isc_helper serve --config $(re_escape "$T")/"; }

# ---------------------------------------------------------------------------
# followers

# follower_count: pam_isc followers of this test running now.
follower_count() {
	{ pgrep -f -- "pam_isc_helper follow --config $(re_escape "$T")/" 2>/dev/null || true; } |
		wc -l | tr -d ' '
}

# wait_no_follower TIMEOUT_S: until no follower of this test runs.
wait_no_follower() {
	local i
	for ((i = 0; i <= ${1:-10} * 10; i++)); do
		[ "$(follower_count)" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# observing a running helper

# wait_for_pid PATTERN [TIMEOUT_S (10)]: print the pid of the newest process
# of this test whose command line matches the pgrep -f PATTERN; 1 on timeout.
wait_for_pid() {
	local pattern=$1 timeout_s=${2:-10} i pid
	for ((i = 0; i <= timeout_s * 20; i++)); do
		pid=$(pgrep -n -f -- "$pattern" 2>/dev/null || true)
		if [ -n "$pid" ]; then
			printf '%s\n' "$pid"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# helper_pid [TIMEOUT_S]: the pid of the running `pam_isc_helper chauthtok`
# (the real helper process, also when it runs under a wrapper).
helper_pid() {
	wait_for_pid "pam_isc_helper chauthtok" "${1:-10}"
}

# ---------------------------------------------------------------------------
# the real system's files, privately (real_passwd.sh, ldap_passwd.sh, ssh_expired.sh)
#
# For the tests that run the real setuid passwd and friends, which read and
# write the fixed paths /etc/shadow, /etc/pam.d, /run/... : copies bound over
# the originals in the test's private mount namespace, so that whatever they
# write vanishes with the test. host_state records the host's files before
# and (after unmount_all) after, for the test to compare.

_isc_mounts=()

# assert_no_secret_in FILE...: none of the FILEs (transcripts, a daemon's
# log) shows a registered password.
assert_no_secret_in() {
	local f
	for f in "$@"; do
		! file_has_secret "$f" || fail "a password appears in ${f#"$T"/}"
	done
}

# stop_pid PID WHAT: SIGTERM to a daemon this test started, then wait (5 s
# at most) until it has gone, and reap it.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null || fail "$2 (pid $pid) did not end within 5 s of SIGTERM"
	wait "$pid" 2>/dev/null || true
}

# assert_host_unchanged WHAT: $T/host.after (host_state after
# unmount_all) is $T/host.before; else the difference and a failure.
assert_host_unchanged() {
	if ! cmp -s "$T/host.before" "$T/host.after"; then
		diff "$T/host.before" "$T/host.after" | head -n 20 >&2
		fail "$1 changed"
	fi
}

# bind_copy DIR: a copy of DIR ($T/copy_DIR_WITH_UNDERSCORES), bound over DIR.
bind_copy() {
	local dir=$1 copy
	[ "${_ISC_IN_NS:-0}" = 1 ] || hard_error "bind_copy needs the private mount namespace"
	copy=$T/copy$(printf '%s' "$dir" | tr / _)
	cp -a "$dir" "$copy" || hard_error "cannot copy $dir"
	mount --bind "$copy" "$dir" || hard_error "cannot bind a copy over $dir"
	_isc_mounts+=("$dir")
}

# empty_tmpfs DIR: an empty tmpfs over DIR.
empty_tmpfs() {
	local d keep=() fds=() fd i
	[ "${_ISC_IN_NS:-0}" = 1 ] || hard_error "empty_tmpfs needs the private mount namespace"
	# A build or source tree (or $T) under DIR (a clone in /home, say) is
	# bound back over the tmpfs, outermost first.
	for d in $(printf '%s\n' "$T" "$top_srcdir" "$top_builddir" | sort -u); do
		case $d in "$1"/*) keep+=("$d") ;; esac
	done
	for d in "${keep[@]}"; do
		exec {fd}<"$d" || hard_error "cannot open $d"
		fds+=("$fd")
	done
	mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev tmpfs "$1" ||
		hard_error "cannot mount a tmpfs over $1"
	_isc_mounts+=("$1")
	for i in "${!keep[@]}"; do
		mkdir -p "${keep[$i]}" &&
			mount --no-canonicalize --bind "/proc/self/fd/${fds[$i]}" "${keep[$i]}" ||
			hard_error "cannot bind ${keep[$i]} back over the tmpfs on $1"
		eval "exec ${fds[$i]}<&-"
		_isc_mounts+=("${keep[$i]}")
	done
}

# private_run_dir NAME: an empty /run/NAME of our own (a daemon's socket
# directory, compiled into it and its clients). When the host has one, a
# tmpfs goes over it. When not, creating it would create it on the host:
# instead a tmpfs with the host's /run entries bound into it (the way
# _isc_private_dev builds /dev) and an empty NAME is moved over /run.
private_run_dir() {
	local name=$1 d=$T/run.ns e
	if [ -d "/run/$name" ]; then
		empty_tmpfs "/run/$name"
		return 0
	fi
	mkdir "$d" || hard_error "cannot create $d"
	mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev tmpfs "$d" || hard_error "cannot mount a tmpfs on $d"
	for e in /run/* /run/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		if [ -L "$e" ]; then
			cp -P "$e" "$d/" || hard_error "cannot copy the link $e"
		elif [ -d "$e" ]; then
			mkdir "$d/${e##*/}" && mount --rbind "$e" "$d/${e##*/}" || hard_error "cannot bind $e"
		else
			: >"$d/${e##*/}" && mount --bind "$e" "$d/${e##*/}" || hard_error "cannot bind $e"
		fi
	done
	mkdir -m 0755 "$d/$name" || hard_error "cannot create $d/$name"
	mount --move "$d" /run || hard_error "cannot move the private /run into place"
	_isc_mounts+=(/run)
}

# unmount_all: take bind_copy's, empty_tmpfs's and private_run_dir's mounts
# down, last first (the host's files show through again).
unmount_all() {
	local i
	for ((i = ${#_isc_mounts[@]} - 1; i >= 0; i--)); do
		umount -R "${_isc_mounts[$i]}" 2>/dev/null || umount -R -l "${_isc_mounts[$i]}" ||
			fail "cannot unmount ${_isc_mounts[$i]}"
	done
	_isc_mounts=()
}

# host_state [PATH...]: what a test of the real passwd (or a bug in it) could
# write to if a mount did not hold: the account databases, the PAM
# configuration and pam-auth-update's state, and each PATH (a file's
# checksum, a directory's names). Names are listed too, so that a new file (a
# lock, nshadow, a common-* backup) counts as a change.
host_state() {
	local p
	(
		cd /etc &&
			sha256sum passwd passwd- shadow shadow- group group- gshadow gshadow- \
				subuid subgid login.defs nsswitch.conf pam.d/* 2>/dev/null
		sha256sum /var/lib/pam/* /usr/share/pam-configs/* 2>/dev/null
		ls -A /etc | _grep -E '^(\.pwd\.lock|n?(passwd|shadow|group|gshadow)|sub[ug]id|.*\.lock)'
		ls -A /etc/pam.d /etc/security /var/lib/pam /usr/share/pam-configs /home /var/mail
		stat -c '%n %a %u %g' /etc/shadow /etc/passwd
		for p in "$@"; do
			if [ -d "$p" ]; then
				printf '%s:\n' "$p"
				ls -A "$p"
			elif [ -e "$p" ]; then
				sha256sum "$p"
			else
				printf '%s: absent\n' "$p"
			fi
		done
	) || true
}
