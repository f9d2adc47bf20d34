#!/bin/bash
# SPDX-License-Identifier: MIT
# CI that catches what the tests alone miss: compiler warnings, static
# analysis, memory errors, parser crashes. .ci/run calls it after
# ./run-tests.sh; each stage can also be run alone:
#
#   scripts/ci-extra.sh [warnings] [cppcheck] [asan] [valgrind] [fuzz] [faults] ...
#                                                            (default: all)
#
#   warnings  make warnings: everything built with -Werror and more warnings
#             (the flags are STRICT_WARN_CFLAGS in Makefile.am)
#   cppcheck  make check-cppcheck: cppcheck over src/, any finding fails
#   asan      the whole test suite (unit + integration) under ASan+UBSan,
#             -fno-sanitize-recover=all, leaks checked
#   valgrind  the integration tests with the helper, and the module inside
#             pamtester, under valgrind memcheck (errors and leaks fail)
#   fuzz      the libFuzzer targets (clang), each for FUZZ_SECONDS (20)
#   faults    make check-faults (failing allocations and system calls, see
#             tests/fault/fault.h) under ASan+UBSan, leaks checked
#
# Each stage builds out of tree (VPATH) in its own directory under
# CI_EXTRA_DIR (default /tmp/pam_isc-ci-extra), from a copy of the source
# tree's tracked and untracked-but-not-ignored files, so the developer's
# in-tree build is left alone. Run as root (installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
src_tree=$(pwd)
work=${CI_EXTRA_DIR:-/tmp/pam_isc-ci-extra}
jobs=$(nproc)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(warnings cppcheck asan valgrind fuzz faults)
for s in "${stages[@]}"; do
	case $s in
	warnings | cppcheck | asan | valgrind | fuzz | faults) ;;
	*)
		echo "usage: $0 [warnings] [cppcheck] [asan] [valgrind] [fuzz] [faults]" >&2
		exit 2
		;;
	esac
done

scripts/install-deps.sh --extra

say() { printf '\n=== ci-extra: %s\n' "$*"; }

# A pristine copy of the sources, bootstrapped once.
prepare_source() {
	rm -rf -- "$work"
	mkdir -p "$work/src"
	if git -C "$src_tree" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$src_tree" ls-files -z --cached --others --exclude-standard |
			(cd "$src_tree" && tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$work/src"
	else
		tar -C "$src_tree" --exclude=.git -cf - . | tar -xf - -C "$work/src"
		(cd "$work/src" && { [ ! -f Makefile ] || make -s distclean >/dev/null 2>&1 || true; })
	fi
	(cd "$work/src" && autoreconf -fi >/dev/null 2>&1)
}

# configure_in DIR ARGS...: a fresh VPATH build directory.
configure_in() {
	local dir=$work/$1
	shift
	rm -rf -- "$dir"
	mkdir -p "$dir"
	(cd "$dir" && ../src/configure -q "$@")
}

# Show the logs of failed tests of a build directory.
show_failures() {
	local log
	for log in "$1"/tests/*.log "$1"/tests/integration/*.log; do
		[ -f "$log" ] || continue
		grep -qE '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null &&
			{ echo "=== $log"; tail -n 80 "$log"; }
	done
	return 0
}

# The flags live in Makefile.am (STRICT_WARN_CFLAGS); make warnings builds
# the programs, libraries and test programs with them.
stage_warnings() {
	say "warnings build (make warnings)"
	configure_in build-warn
	make -s -C "$work/build-warn" -j"$jobs" warnings
}

stage_cppcheck() {
	say "cppcheck (make check-cppcheck)"
	configure_in build-cppcheck
	make -s -C "$work/build-cppcheck" check-cppcheck
}

# ASan+UBSan: everything built with the sanitizers. Reports go to files
# (log_path) and any report fails the stage:
# - unit tests and the test server: ASAN_OPTIONS/UBSAN_OPTIONS from here;
# - pamtester (not instrumented) loads the instrumented pam_isc.so: libasan
#   is preloaded first (ISC_TEST_PAMTESTER_PRELOAD); leak detection is off
#   there (pamtester's and libpam's own allocations are not ours; valgrind
#   checks the module for leaks);
# - the helper gets only PATH from the module, so it runs through a wrapper
#   (helper=, written by tests/lib.sh) that sets its sanitizer options;
# - a follower is started by the helper with PATH only: the options it needs
#   are compiled in (san_defaults.o, linked into every program here), with
#   reports in $work/san-reports, checked at the end. Memory errors and
#   undefined behaviour only, no leak check: a follower gives up its lock
#   just before it exits (by design, see follower.h), and LeakSanitizer's scan
#   at exit made that exiting follower overlap with the next one long enough
#   for follow_status.sh ("2 followers ran at the same time"). The helper's
#   chauthtok runs, where followers start from, are leak-checked.
stage_asan() {
	local dir=$work/build-asan reports=$work/san-reports libasan san rc=0 n
	say "ASan+UBSan build and the whole test suite"
	libasan=$(gcc -print-file-name=libasan.so)
	[ -f "$libasan" ] || { echo "ci-extra: libasan not found" >&2; return 1; }
	rm -rf -- "$reports"
	mkdir -p "$reports"
	san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	mkdir -p "$work/san"
	cat >"$work/san/san_defaults.c" <<-EOF
		/* ci-extra.sh: sanitizer defaults for processes started without ASAN_OPTIONS. */
		const char *__asan_default_options(void);
		const char *__ubsan_default_options(void);
		const char *__asan_default_options(void)
		{ return "log_path=$reports/asan:detect_leaks=0:abort_on_error=0"; }
		const char *__ubsan_default_options(void)
		{ return "log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"; }
	EOF
	gcc -O1 -fPIC -c "$work/san/san_defaults.c" -o "$work/san/san_defaults.o"
	configure_in build-asan CC=gcc CFLAGS="-O1 -g $san" LDFLAGS="$san" \
		LIBS="$work/san/san_defaults.o" WARN_CFLAGS=-Werror
	make -s -C "$dir" -j"$jobs"
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$reports/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
	ISC_TEST_PAMTESTER_PRELOAD="$libasan" \
	ISC_TEST_PAMTESTER_ENV="ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:log_path=%T%/tool-logs/asan-pamtester UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=%T%/tool-logs/ubsan-pamtester" \
	ISC_TEST_HELPER_WRAPPER="env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=%T%/tool-logs/asan-helper UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=%T%/tool-logs/ubsan-helper" \
	ISC_TEST_TIMEOUT=30 \
		make -s -C "$dir" -j"$jobs" check || rc=$?
	[ "$rc" -eq 0 ] || show_failures "$dir"
	n=$(find "$reports" -type f -size +0 | wc -l)
	if [ "$n" -gt 0 ]; then
		echo "ci-extra: $n sanitizer report(s):" >&2
		find "$reports" -type f -size +0 -exec sh -c 'echo "--- $1"; head -n 60 "$1"' _ {} \; >&2
		rc=1
	fi
	return "$rc"
}

# valgrind memcheck: the integration tests with the helper (through the
# helper= wrapper) and pamtester, and so pam_isc.so, under valgrind.
# Followers cannot run under valgrind (the helper starts them by executing
# /proc/self/exe, which under valgrind is valgrind's own tool binary), so the
# tests that wait for a follower's result are left out here; followers are
# covered by the ASan stage. env_hostile.sh is left out too: valgrind itself
# edits the environment a traced program hands to execve (it put pamtester's
# LD_PRELOAD and LD_LIBRARY_PATH back into the helper's), which is what that
# test checks. So is service.sh: a service under valgrind runs valgrind's
# tool binary, which the module rightly does not take for its helper= program
# (the ASan stage runs it, with the helper built with ASan).
VALGRIND_TESTS="tests/integration/config_errors.sh tests/integration/out_of_scope.sh
tests/integration/token_cache.sh tests/integration/use_authtok.sh
tests/integration/user_names.sh tests/integration/file_checks.sh
tests/integration/tls_checks.sh tests/integration/hostile_bodies.sh"
stage_valgrind() {
	local dir=$work/build-valgrind vg rc=0
	say "valgrind memcheck: integration tests ($(echo $VALGRIND_TESTS | wc -w))"
	configure_in build-valgrind CFLAGS="-O1 -g" WARN_CFLAGS=-Werror
	make -s -C "$dir" -j"$jobs"
	vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-origins=yes"
	ISC_TEST_HELPER_WRAPPER="$vg --trace-children=yes --log-file=%T%/tool-logs/valgrind.helper.%p" \
	ISC_TEST_PAMTESTER_WRAPPER="$vg --log-file=%T%/tool-logs/valgrind.pamtester.%p" \
	ISC_TEST_TIMEOUT=60 \
		make -s -C "$dir" -j"$jobs" check TESTS="$(echo $VALGRIND_TESTS)" || rc=$?
	[ "$rc" -eq 0 ] || show_failures "$dir"
	return "$rc"
}

stage_fuzz() {
	say "fuzz smoke runs (${FUZZ_SECONDS:-20} s per target)"
	configure_in build-fuzz CC=clang --enable-fuzzing WARN_CFLAGS=-Werror
	make -s -C "$work/build-fuzz" -j"$jobs" fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
}

# Fault injection: the queue with the Nth wrapped call failing for every N,
# and the fuzz inputs with faults (tests/fault), in an ASan+UBSan build: a
# failure path that crashes, touches freed memory or leaks fails the stage.
# Only the programs of check-faults are built.
stage_faults() {
	local dir=$work/build-faults san
	say "fault injection (make check-faults) under ASan+UBSan, leaks checked"
	san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	configure_in build-faults CC=gcc CFLAGS="-O1 -g $san" LDFLAGS="$san" WARN_CFLAGS=-Werror
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
		make -s -C "$dir" -j"$jobs" check-faults
}

# Everything below runs from one function, so that bash has read the whole
# script before it starts (editing it during a run cannot break the run).
main() {
	prepare_source
	failed=()
	for s in "${stages[@]}"; do
		case $s in
		warnings | cppcheck | asan | valgrind | fuzz | faults)
			start=$(date +%s)
			if "stage_$s"; then
				say "$s: ok ($(($(date +%s) - start)) s)"
			else
				say "$s: FAILED ($(($(date +%s) - start)) s)"
				failed+=("$s")
			fi
			;;
		*)
			echo "usage: $0 [warnings] [cppcheck] [asan] [valgrind] [fuzz] [faults]" >&2
			exit 2
			;;
		esac
	done
	if [ ${#failed[@]} -gt 0 ]; then
		say "failed stages: ${failed[*]}"
		exit 1
	fi
	say "all stages passed: ${stages[*]}"
}
main
