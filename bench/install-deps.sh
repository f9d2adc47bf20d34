#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/install-deps.sh PKGDIR [--profile]: what `make bench` needs beyond
# the test dependencies (scripts/install-deps.sh), as root on Debian 12.
#  - curl, jq, openssl: the baseline script's tools; time (GNU /usr/bin/time)
#    for the helper's peak RSS; with --profile (make bench-profile) also
#    valgrind and linux-perf.
#  - pam_script.so from libpam-script, NOT installed: installing a PAM module
#    package runs pam-auth-update, which can rewrite the machine's
#    /etc/pam.d/common-*. The package is downloaded and unpacked into PKGDIR;
#    the benchmark names PKGDIR/lib/x86_64-linux-gnu/security/pam_script.so
#    by its absolute path in a pam_wrapper service file.
set -euo pipefail
pkgdir=${1:?usage: bench/install-deps.sh PKGDIR [--profile]}

packages=(curl jq openssl time)
[ "${2:-}" = --profile ] && packages+=(valgrind linux-perf)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
updated=0
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench deps: missing ${missing[*]}; run as root" >&2; exit 1; }
	echo "bench deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	updated=1
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

so=$pkgdir/lib/x86_64-linux-gnu/security/pam_script.so
if [ ! -f "$so" ]; then
	mkdir -p "$pkgdir"
	(
		cd "$pkgdir"
		rm -f libpam-script_*.deb
		if ! apt-get download libpam-script >/dev/null 2>&1; then
			[ "$updated" = 1 ] || apt-get update -qq
			apt-get download libpam-script >/dev/null
		fi
		dpkg-deb -x libpam-script_*.deb .
	)
	[ -f "$so" ] || { echo "bench deps: $so not found in libpam-script" >&2; exit 1; }
	echo "bench deps: unpacked libpam-script into $pkgdir (not installed)"
fi
