#!/bin/bash
# SPDX-License-Identifier: MIT
# Configure and build in the source tree unless that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
	./configure -q ${CONFIGURE_FLAGS:-}
fi
make -s -j"$(nproc)" ${MAKE_FLAGS:-}
# The test programs too (the demo needs the test server); the empty
# test-suite summary this prints is of no interest.
make -s -j"$(nproc)" check TESTS= ${MAKE_FLAGS:-} >/dev/null
