#!/bin/bash
# SPDX-License-Identifier: MIT
# The demo: install what is missing, build, start the bundled ISC test
# server, change a demo user's password through the real module, and show
# what the server received and the syslog lines. Run as root on Debian 12.
# Nothing outside a private mount namespace and a temp dir is touched.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh
exec scripts/demo.sh
