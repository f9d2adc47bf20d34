#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/profile.sh: where the time of one pam_isc change goes (make
# bench-profile). Same harness as bench/run-bench.sh: one warm change
# (cached token) through pamtester, with pam_isc_helper run under
# valgrind --tool=callgrind; prints the top functions by inclusive cost,
# then a perf profile (by shared object) of 50 warm changes, helper included.
set -euo pipefail
: "${top_builddir:?run me through make bench-profile}"
: "${top_srcdir:?run me through make bench-profile}"
if [ "${_ISC_IN_NS:-0}" != 1 ]; then
	TMPDIR=$top_builddir/bench/tmp
	mkdir -p "$TMPDIR"
	chmod 0755 "$TMPDIR"
	export TMPDIR
fi
. "$top_srcdir/tests/lib.sh"
_isc_name=bench-profile
command -v valgrind >/dev/null || hard_error "valgrind is not installed (bench/install-deps.sh)"

isc_setup
case $T in
/tmp/*) ;;
*) mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev bench-tmp /tmp ;;
esac
start_server
write_config '!status_interval' 'timeout = 120'
server_control '{"set_state": "FINISHED"}'
pam_service other "password required ${PAM_PERMIT:-$PAM_MATRIX}"
pam_service prof_isc "password required $PAM_ISC_SO config=$ISC_CONF helper=$PAM_ISC_HELPER"
cat >"$T/cg_helper" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$T/callgrind.out --trace-children=no \
	$PAM_ISC_HELPER "\$@" 2>>$T/valgrind.log
EOF
chmod 0755 "$T/cg_helper"
pam_service prof_cg "password required $PAM_ISC_SO config=$ISC_CONF helper=$T/cg_helper"

pw="Profile-$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"
register_secret "$pw"
run_pamtester alice prof_isc "$pw" || fail "warm-up change failed"
run_pamtester alice prof_cg "$pw" || fail "change under callgrind failed"
[ -s "$T/callgrind.out" ] || fail "no callgrind output"
echo "## callgrind: one warm change, pam_isc_helper, top 30 by inclusive cost"
echo
callgrind_annotate --inclusive=yes "$T/callgrind.out" 2>/dev/null |
	sed -n '/^Ir/,$p' | head -n 34 | sed -E 's#/[^ ]*/(lib[^/ ]*\.so[^ :]*)#\1#g; s#'"$top_srcdir"'/##g' || true
echo
echo "## callgrind: selected steps (inclusive)"
echo
callgrind_annotate --inclusive=yes --threshold=100 "$T/callgrind.out" 2>/dev/null |
	grep -E '(:|\?\?\?:)(_dl_start|_dl_init|main|isc_client_global_init|config_load|token_cache_load|isc_client_new|isc_client_ensure_token|isc_client_lookup|crypto_encrypt_password|isc_client_set_password|isc_client_free|isc_client_global_cleanup|gnutls_handshake|curl_global_init|gnutls_global_init|gnutls_x509_trust_list_add_trust_file|_gnutls_x509_cert_verify_peers|gnutls_pubkey_encrypt_data|json_tokener_parse_ex)( |$)' |
	grep -v '=>' | awk '{ k = $3; sub(/.*:/, "", k) } !seen[k]++' | sed -E 's#/[^ ]*/(lib[^/ ]*\.so[^ :]*)#\1#g; s#'"$top_srcdir"'/##g' || true
echo
echo "## callgrind: same change, top 25 by self cost"
echo
callgrind_annotate "$T/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' | head -n 28 |
	sed -E 's#/[^ ]*/(lib[^/ ]*\.so[^ :]*)#\1#g; s#'"$top_srcdir"'/##g' || true

if command -v perf >/dev/null && perf record -q -o "$T/perf.data" -- true 2>/dev/null; then
	printf '%s\n%s\n' "$pw" "$pw" >"$T/pw.in"
	perf record -q -g -o "$T/perf.data" -- env PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
		LD_PRELOAD="$PAM_WRAPPER_LIB $NSS_WRAPPER_LIB" NSS_WRAPPER_PASSWD="$NSS_WRAPPER_PASSWD" \
		NSS_WRAPPER_GROUP="$NSS_WRAPPER_GROUP" "$top_builddir/bench/bench_run" -n 50 \
		-o "$T/perf.tsv" -O "$T/pamtester.all" -- "$PAMTESTER" -v prof_isc alice chauthtok \
		<"$T/pw.in" >/dev/null 2>&1 || fail "perf run failed"
	rm -f "$T/pw.in"
	echo
	echo "## perf: 50 warm changes (pamtester + helper), share by command and shared object"
	echo
	perf report -i "$T/perf.data" --no-children --sort comm,dso --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 25 || true
	echo
	echo "## perf: top symbols"
	echo
	perf report -i "$T/perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 30 || true
fi
cp "$T/callgrind.out" "$top_builddir/bench/tmp/last-callgrind.out" 2>/dev/null || true
isc_done
