#!/bin/bash
# SPDX-License-Identifier: MIT
# Print the end of the log of every test that failed under BUILDDIR (default
# .): the automake driver keeps each test's output in TEST.log and its result
# in TEST.trs. Used by run-tests.sh and .ci/run (for make distcheck's tree).
builddir=${1:-.}
for log in "$builddir"/tests/*.log "$builddir"/tests/integration/*.log; do
	[ -f "$log" ] && [ -f "${log%.log}.trs" ] || continue
	if grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "${log%.log}.trs"; then
		echo "=== $log"
		tail -n 60 "$log"
	fi
done
exit 0
