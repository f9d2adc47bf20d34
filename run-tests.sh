#!/bin/bash
# SPDX-License-Identifier: MIT
# The whole test suite: unit tests (cmocka) and PAM integration tests
# (pam_wrapper + pamtester against the bundled HTTPS ISC test server).
# Run as root on Debian 12: installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
CONFIGURE_FLAGS="${CONFIGURE_FLAGS:-} WARN_CFLAGS=-Werror" scripts/build.sh
if ! make -s check; then
	scripts/show-failed-tests.sh .
	exit 1
fi
# One plain summary line, counted from the automake driver's result files.
pass=$(cat tests/*.trs tests/integration/*.trs 2>/dev/null | grep -c '^:test-result: PASS' || true)
fail=$(cat tests/*.trs tests/integration/*.trs 2>/dev/null | grep -cE '^:test-result: (FAIL|ERROR|XPASS)' || true)
skip=$(cat tests/*.trs tests/integration/*.trs 2>/dev/null | grep -c '^:test-result: SKIP' || true)
echo "tests: $pass passed, $fail failed, $skip skipped"
