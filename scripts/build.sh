#!/bin/bash
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
make -s -j"$(nproc)" check TESTS= ${MAKE_FLAGS:-}
