#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the RPM packages of pam_isc from the release tarball on this Debian
# machine, the way a Fedora or RHEL builder would from the tarball's own spec
# (rpmbuild -tb), then check them: rpmlint (no errors; the warnings that do
# not apply are filtered, with the reason, in rpm/pam_isc.rpmlintrc and
# rpm/pam_isc-selinux.rpmlintrc), the file list and modes, the configuration
# as a 0600 %config(noreplace), the systemd units and preset, the
# scriptlets, the authselect profile, what the module links and exports.
# Never installs a package.
#
#   scripts/build-rpm.sh [OUTDIR [TARBALL]]     (default OUTDIR: ./rpm-out)
#
# Without TARBALL, `make dist` runs in a scratch copy of what git tracks
# (and what is staged). Debian's rpm lacks the build dependencies' RPMs and
# Fedora's scriptlet macros: rpmbuild runs with --nodeps, and with
# rpm/macros.ci (stand-ins for %systemd_post and the SELinux macros) only
# where rpm does not define %systemd_post itself. The pam_isc-selinux
# subpackage is built when the tarball has selinux/pam_isc.te (then
# selinux-policy-dev is installed for its Makefile), else the build is
# --without selinux and says so. Installs rpm, rpmlint and the build
# dependencies with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
out=$(mkdir -p "${1:-$top/rpm-out}" && cd "${1:-$top/rpm-out}" && pwd)
tarball=${2:-}
fail() { echo "build-rpm: FAIL: $*" >&2; exit 1; }
ok() { echo "build-rpm: ok: $*"; }
start=$SECONDS

apt_install() {
	[ "$(id -u)" -eq 0 ] || fail "missing $*; run as root"
	echo "build-rpm: installing $*"
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "${apt_updated:-}" ]; then
		apt-get update -qq
		apt_updated=1
	fi
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing() { # PACKAGE...: those not installed
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}
# shellcheck disable=SC2046
need=$(missing rpm rpmlint bzip2 cpio binutils)
# shellcheck disable=SC2086
[ -z "$need" ] || apt_install $need

work=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc-rpm.XXXXXX")
trap 'rm -rf --one-file-system -- "$work"' EXIT

# --- the tarball -------------------------------------------------------------
if [ -z "$tarball" ]; then
	scripts/install-deps.sh
	src=$work/src
	mkdir "$src"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$top" ls-files -z --cached | (cd "$top" && xargs -0 cp --parents -a -t "$src" --)
	else
		cp -a "$top/." "$src/"
	fi
	echo "build-rpm: make dist in $src"
	(cd "$src" && autoreconf -fi && ./configure --disable-tests && make -s dist) \
		>"$work/dist.log" 2>&1 || {
		tail -n 40 "$work/dist.log" >&2
		fail "make dist"
	}
	tarball=$(ls "$src"/pam_isc-*.tar.gz)
	echo "build-rpm: make dist done ($((SECONDS - start)) s)"
fi
tarball=$(realpath "$tarball")
[ -f "$tarball" ] || fail "no tarball $tarball"
tar -tzf "$tarball" >"$work/tarball.list"
base=$(head -n 1 "$work/tarball.list" | cut -d/ -f1)
version=${base#pam_isc-}
grep -qx "$base/rpm/pam_isc.spec" "$work/tarball.list" || fail "$tarball has no rpm/pam_isc.spec"
tar -xzf "$tarball" -C "$work" "$base/rpm/pam_isc.spec" "$base/rpm/macros.ci" \
	"$base/rpm/pam_isc.rpmlintrc" "$base/rpm/pam_isc-selinux.rpmlintrc"
spec=$work/$base/rpm/pam_isc.spec
grep -qx "Version: *$version" "$spec" || grep -qE "^Version:[[:space:]]+$version\$" "$spec" ||
	fail "the spec's Version is not $version"
echo "build-rpm: $tarball (version $version)"

# --- rpmbuild -tb --------------------------------------------------------------
rpmargs=(--nodeps --define "_topdir $out/rpmbuild")
if [ "$(rpm --eval '%{?systemd_post:1}')" != 1 ]; then
	rpmargs+=(--load "$work/$base/rpm/macros.ci")
	echo "build-rpm: rpm has no systemd/SELinux scriptlet macros here: loading rpm/macros.ci"
fi
if grep -qx "$base/selinux/pam_isc.te" "$work/tarball.list"; then
	with_selinux=1
	# shellcheck disable=SC2046
	need=$(missing selinux-policy-dev)
	# shellcheck disable=SC2086
	[ -z "$need" ] || apt_install $need
	rpmargs+=(--with selinux)
else
	with_selinux=0
	rpmargs+=(--without selinux)
	echo "build-rpm: note: the tarball has no selinux/pam_isc.te: building --without selinux (no pam_isc-selinux)"
fi
rm -rf "$out/rpmbuild"
mkdir -p "$out/rpmbuild"
echo "build-rpm: rpmbuild -tb ${rpmargs[*]}"
rpmbuild -tb "${rpmargs[@]}" "$tarball" >"$out/rpmbuild.log" 2>&1 || {
	tail -n 60 "$out/rpmbuild.log" >&2
	fail "rpmbuild (log: $out/rpmbuild.log)"
}
arch=$(rpm --eval '%{_arch}')
main=$(ls "$out"/rpmbuild/RPMS/"$arch"/pam_isc-"$version"-*."$arch".rpm)
selinux_rpm=
if [ "$with_selinux" = 1 ]; then
	selinux_rpm=$(ls "$out"/rpmbuild/RPMS/noarch/pam_isc-selinux-"$version"-*.noarch.rpm) ||
		fail "no pam_isc-selinux package was built"
fi
rpms=("$main" ${selinux_rpm:+"$selinux_rpm"})
cp "$spec" "$out/"
echo "build-rpm: built ${rpms[*]} ($((SECONDS - start)) s)"

# --- rpmlint -------------------------------------------------------------------
echo "build-rpm: rpmlint"
# Man pages compressed with gzip, as Fedora's brp-compress and Fedora's
# rpmlint configuration have it (Debian's rpmlint defaults to openSUSE's bz2,
# and then misreads the names of the pages).
printf 'CompressExtension = "gz"\n' >"$work/rpmlint.toml"
# The subpackage's filters only when it is built (rpmlint takes one -r file,
# and a filter that matches nothing is an error).
cat "$work/$base/rpm/pam_isc.rpmlintrc" >"$work/rpmlintrc"
if [ "$with_selinux" = 1 ]; then
	cat "$work/$base/rpm/pam_isc-selinux.rpmlintrc" >>"$work/rpmlintrc"
fi
set +e
rpmlint -c "$work/rpmlint.toml" -r "$work/rpmlintrc" "$spec" "${rpms[@]}" \
	>"$out/rpmlint.txt" 2>&1
lint_rc=$?
set -e
cat "$out/rpmlint.txt"
summary=$(grep -E '[0-9]+ errors?, [0-9]+ warnings?' "$out/rpmlint.txt" | tail -n 1)
[ -n "$summary" ] || fail "rpmlint printed no summary (exit $lint_rc)"
echo "$summary" | grep -qE '(^| )0 errors' || fail "rpmlint reports errors: $summary"
ok "rpmlint: $summary"

# --- contents --------------------------------------------------------------------
libdir=$(rpm --eval '%{_libdir}')
unitdir=/usr/lib/systemd/system
rpm -qlvp "$main" >"$work/contents"
has() { # MODE PATH: a file of the package with that mode, owned by root:root
	awk -v m="$1" -v p="$2" '$1 == m && $3 == "root" && $4 == "root" && $9 == p { f = 1 } END { exit !f }' \
		"$work/contents" || fail "the package has no $2 (mode $1 root:root)"
}
has -rwxr-xr-x "$libdir/security/pam_isc.so"
has -rwxr-xr-x /usr/libexec/pam_isc/pam_isc_helper
has -rwxr-xr-x /usr/sbin/pam_isc_ctl
has -rw------- /etc/security/pam_isc.conf
for u in pam-isc.service pam-isc.socket pam-isc-flush.service pam-isc-flush.timer; do
	has -rw-r--r-- "$unitdir/$u"
done
has -rw-r--r-- /usr/lib/systemd/system-preset/80-pam-isc.preset
has -rw-r--r-- /usr/lib/tmpfiles.d/pam_isc.conf
has drwx------ /var/lib/pam_isc
has drwx------ /run/pam_isc
for f in README REQUIREMENTS system-auth password-auth; do
	has -rw-r--r-- "/usr/share/authselect/vendor/pam_isc/$f"
done
for f in nsswitch.conf postlogin smartcard-auth fingerprint-auth switchable-auth dconf-db dconf-locks; do
	grep -qE "^l.* /usr/share/authselect/vendor/pam_isc/$f -> \.\./\.\./default/sssd/$f\$" "$work/contents" ||
		fail "the authselect profile's $f is not a link to the sssd profile's"
done
for page in man5/pam_isc.conf.5 man8/pam_isc.8 man8/pam_isc_ctl.8; do
	grep -qE " /usr/share/man/$page(\.gz|\.bz2|\.xz|\.zst)?\$" "$work/contents" || fail "no man page $page"
done
grep -qE " /usr/share/licenses/pam_isc/LICENSE\$" "$work/contents" || fail "no %license LICENSE"
for d in README.md NEWS isc-api.md examples/pam_isc.conf examples/pam.d-common-password-veto-snippet \
	examples/pam.d-common-password-ldap-snippet; do
	grep -qE " /usr/share/doc/pam_isc/$d\$" "$work/contents" || fail "no doc $d"
done
! grep -qE '\.la$|/usr/local/|/pam-configs' "$work/contents" ||
	fail "the package has .la files, /usr/local paths or Debian's pam-configs profile"
# Directories of other packages are not owned: pam's security directory.
! grep -qE "^d.* $libdir/security\$" "$work/contents" || fail "the package owns $libdir/security (pam's)"
ok "file list and modes"

# %config(noreplace) and %ghost, from the file flags.
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$main" >"$work/flags"
grep -qx 'cn /etc/security/pam_isc.conf' "$work/flags" ||
	fail "pam_isc.conf is not %config(noreplace): $(grep pam_isc.conf "$work/flags")"
[ "$(grep -c '^c' "$work/flags")" -eq 1 ] || fail "more than pam_isc.conf is %config: $(grep '^c' "$work/flags")"
grep -qx 'g /run/pam_isc' "$work/flags" || fail "/run/pam_isc is not %ghost"
ok "pam_isc.conf: %config(noreplace), 0600 root:root; /run/pam_isc %ghost"

# Dependencies.
rpm -qp --requires "$main" >"$work/requires"
grep -qE '^pam(\(x86-64\)|\([a-z0-9_-]+\))?( |$)' "$work/requires" || fail "no Requires: pam"
if [ "$with_selinux" = 1 ]; then
	grep -qxF '(pam_isc-selinux if selinux-policy-targeted)' "$work/requires" ||
		fail "no Requires: (pam_isc-selinux if selinux-policy-targeted)"
fi
ok "requires: pam$([ "$with_selinux" = 1 ] && echo ', pam_isc-selinux if selinux-policy-targeted')"

# Scriptlets: tmpfiles and presets in %post, the units in %preun/%postun.
rpm -qp --scripts "$main" >"$work/scripts"
section() { # NAME: the body of one scriptlet
	awk -v n="$1" '/^[a-z]+ scriptlet/ { on = ($1 == n) ; next } on' "$work/scripts"
}
section postinstall | grep -q 'systemd-tmpfiles --create .*/usr/lib/tmpfiles.d/pam_isc.conf' ||
	fail "%post does not run systemd-tmpfiles --create pam_isc.conf"
for s in postinstall preuninstall; do
	for u in pam-isc.socket pam-isc.service pam-isc-flush.timer pam-isc-flush.service; do
		section $s | grep -q "$u" || fail "the $s scriptlet does not name $u"
	done
done
# %systemd_postun names no unit; %systemd_postun_with_restart names those
# it restarts on upgrade.
for u in pam-isc.service pam-isc-flush.timer; do
	section postuninstall | grep -q "$u" || fail "%postun does not restart $u on upgrade"
done
section postinstall | grep -qE 'preset|install-system-units' || fail "%post does not apply the presets"
section postinstall | grep -qE 'enable' && fail "%post enables units itself (presets must decide)"
section postuninstall | grep -qE 'try-restart|mark-restart-system-units' ||
	fail "%postun does not restart the service on upgrade"
ok "scriptlets: tmpfiles, presets, preun, postun with restart"
grep -qx 'enable pam-isc.socket' "$top/rpm/80-pam-isc.preset" &&
	grep -qx 'enable pam-isc-flush.timer' "$top/rpm/80-pam-isc.preset" ||
	fail "the preset does not enable pam-isc.socket and pam-isc-flush.timer"

# What the files say.
mkdir "$work/root"
(cd "$work/root" && rpm2cpio "$main" | cpio -idm --quiet)
so=$work/root$libdir/security/pam_isc.so
! readelf -d "$so" | grep -E 'NEEDED.*(curl|gnutls|json-c)' ||
	fail "the packaged module links libcurl, GnuTLS or json-c"
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort)
[ -n "$exports" ] && ! printf '%s\n' "$exports" | grep -v '^pam_sm_' ||
	fail "the packaged module exports more than pam_sm_*: $exports"
grep -qaF /usr/libexec/pam_isc/pam_isc_helper "$so" || fail "the module does not look for the helper in /usr/libexec/pam_isc"
grep -qaF /etc/security/pam_isc.conf "$so" || fail "the module's default config is not /etc/security/pam_isc.conf"
grep -qx 'ExecStart=/usr/sbin/pam_isc_ctl flush' "$work/root$unitdir/pam-isc-flush.service" ||
	fail "pam-isc-flush.service does not run /usr/sbin/pam_isc_ctl flush"
grep -qx 'ExecStart=/usr/libexec/pam_isc/pam_isc_helper serve --config /etc/security/pam_isc.conf' \
	"$work/root$unitdir/pam-isc.service" || fail "pam-isc.service does not run /usr/libexec/pam_isc/pam_isc_helper serve"
for f in README REQUIREMENTS system-auth password-auth; do
	cmp -s "$work/root/usr/share/authselect/vendor/pam_isc/$f" "$top/authselect/vendor/pam_isc/$f" ||
		fail "the packaged authselect $f differs from authselect/vendor/pam_isc/$f"
done
ok "module links and exports, compiled-in paths, unit paths, authselect profile"

# --- the SELinux subpackage ------------------------------------------------------
if [ "$with_selinux" = 1 ]; then
	[ "$(rpm -qp --qf '%{ARCH}' "$selinux_rpm")" = noarch ] || fail "pam_isc-selinux is not noarch"
	rpm -qlp "$selinux_rpm" | grep -qx /usr/share/selinux/packages/targeted/pam_isc.pp.bz2 ||
		fail "pam_isc-selinux has no pam_isc.pp.bz2"
	rpm -qp --scripts "$selinux_rpm" | grep -q 'semodule' || fail "pam_isc-selinux's scriptlets do not run semodule"
	rpm -qp --requires "$selinux_rpm" | grep -q '^policycoreutils' || fail "pam_isc-selinux does not require policycoreutils"
	ok "pam_isc-selinux: noarch, policy module, semodule scriptlets"
fi

echo "build-rpm: PASS ${rpms[*]} ($((SECONDS - start)) s)"
