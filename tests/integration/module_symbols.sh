#!/bin/bash
# SPDX-License-Identifier: MIT
# The built module exports only the PAM entry points and keeps libcurl,
# GnuTLS and json-c out of the PAM application's process; the helper is the
# one that links libcurl. Needs no root: it only reads the binaries.
. "$(dirname "$0")/../lib.sh"

command -v nm >/dev/null || skip "nm (binutils) is not installed"
command -v readelf >/dev/null || skip "readelf (binutils) is not installed"
[ -f "$PAM_ISC_SO" ] || hard_error "$PAM_ISC_SO is not built"
[ -x "$PAM_ISC_HELPER" ] || hard_error "$PAM_ISC_HELPER is not built"

# 1. Exported (defined, dynamic) symbols: pam_sm_* only.
exports=$(nm -D --defined-only "$PAM_ISC_SO" | awk 'NF >= 3 { print $3 }' | sort -u)
[ -n "$exports" ] || fail "nm found no exported symbol in $PAM_ISC_SO"
bad=$(printf '%s\n' "$exports" | _grep -vE '^pam_sm_[a-z_]+$' || true)
[ -z "$bad" ] || fail "pam_isc.so exports more than pam_sm_*: $(echo $bad)"
printf '%s\n' "$exports" | _grep -qx 'pam_sm_chauthtok' ||
	fail "pam_isc.so does not export pam_sm_chauthtok"
log "exports: $(echo $exports)"

# 2. No NEEDED entry for the network/TLS/JSON libraries.
needed=$(readelf -d "$PAM_ISC_SO" | sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p')
[ -n "$needed" ] || fail "readelf shows no NEEDED entry at all in $PAM_ISC_SO"
log "pam_isc.so NEEDED: $(echo $needed)"
for lib in libcurl libgnutls libjson-c libnettle libhogweed libssl libcrypto; do
	if printf '%s\n' "$needed" | _grep -q "^$lib"; then
		fail "pam_isc.so links $lib (it must stay out of the PAM application)"
	fi
done

# 3. The module is hardened like the Makefile asks (-z now, -z relro).
readelf -d "$PAM_ISC_SO" | _grep -qE '\((FLAGS|FLAGS_1)\).*\b(BIND_NOW|NOW)\b' ||
	fail "pam_isc.so is not linked with -z now"
readelf -lW "$PAM_ISC_SO" | _grep -q 'GNU_RELRO' || fail "pam_isc.so has no RELRO segment"

# 4. The helper does link libcurl (the network work happens there).
helper_needed=$(readelf -d "$PAM_ISC_HELPER" | sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p')
printf '%s\n' "$helper_needed" | _grep -q '^libcurl' ||
	fail "pam_isc_helper does not link libcurl (NEEDED: $(echo $helper_needed))"

log "PASS"
exit 0
