#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the Debian package libpam-isc (dpkg-buildpackage -us -uc -b) from a
# clean copy of the tracked sources, then check it: lintian (no errors), the
# contents list, the conffile and its mode, the maintainer scripts. Run as
# root on Debian 12; installs the packaging tools when missing. Never
# installs the package (that would run pam-auth-update on this machine).
#
#   scripts/build-deb.sh [OUTDIR]     (default: ./deb-out)
#
# scripts/check-deb.sh OUTDIR/libpam-isc_*.deb then tests the profile's
# pam-auth-update life cycle in a private copy of /etc.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
out=${1:-$top/deb-out}

scripts/install-deps.sh
packaging=(debhelper dh-autoreconf dpkg-dev lintian git)
missing=()
for p in "${packaging[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "build-deb: missing ${missing[*]}; run as root" >&2; exit 1; }
	echo "build-deb: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Build-Depends of debian/control that are not installed yet.
unmet=$({ dpkg-checkbuilddeps debian/control 2>&1 || true; } | sed -n 's/.*Unmet build dependencies: //p' |
	sed -E 's/\([^)]*\)//g; s/ *\| *[^ ]*//g')
if [ -n "$unmet" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "build-deb: missing build dependencies: $unmet" >&2; exit 1; }
	echo "build-deb: installing build dependencies $unmet"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $unmet >/dev/null
fi

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc-deb.XXXXXX")
trap 'rm -rf --one-file-system -- "$work"' EXIT
src=$work/pam-isc-$version
mkdir "$src"
# Only what git tracks (and what is staged or modified in the work tree):
# no in-tree build output gets into the package build.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached | (cd "$top" && xargs -0 cp --parents -a -t "$src" --)
else
	cp -a "$top/." "$src/"
fi

echo "build-deb: dpkg-buildpackage -us -uc -b in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
	tail -n 60 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed" >&2
	exit 1
}
mkdir -p "$out"
deb=$(ls "$work"/libpam-isc_"$version"_*.deb)
cp "$deb" "$work"/*.changes "$work"/*.buildinfo "$out"/
deb=$out/$(basename "$deb")
echo "build-deb: built $deb"

echo "build-deb: lintian"
lintian --tag-display-limit 0 --fail-on error "$deb" | tee "$out/lintian.txt" || {
	echo "build-deb: lintian reports errors" >&2
	exit 1
}

scripts/check-deb.sh "$deb"
