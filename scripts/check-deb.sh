#!/bin/bash
# SPDX-License-Identifier: MIT
# Check a built libpam-isc .deb without installing it on this machine:
#   1. its contents (module in the multiarch security directory, helper,
#      tool, profile, units, tmpfiles.d entry, man pages when the source has
#      man/, the config as a 0600 conffile) and what the files say;
#   2. its maintainer scripts, run as dpkg would (postinst configure,
#      pam-auth-update --enable isc, prerm remove, postrm remove and purge)
#      in a private mount namespace where copies of /etc, /var/lib, debconf's
#      database, the pam-configs, tmpfiles.d and systemd unit directories are
#      bound over the originals and /run is an empty tmpfs: the profile is
#      registered but not enabled, enabling puts pam_isc after pam_unix,
#      removing takes it out again, and purge leaves nothing behind;
#   3. that the host's files are unchanged afterwards.
# Run as root:  scripts/check-deb.sh deb-out/libpam-isc_VERSION_ARCH.deb
set -euo pipefail

deb=$(realpath "${1:?usage: check-deb.sh PACKAGE.deb}")
top=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
ok() { echo "check-deb: ok: $*"; }

# --- 2 and 3 run in here, re-executed inside the namespace -------------------
if [ "${_CHECK_DEB_IN_NS:-0}" = 1 ]; then
	work=$_CHECK_DEB_WORK
	root=$work/root # the unpacked package
	copy() { # DIR: a copy of DIR (plus the package's files for it) bound over DIR
		local dir=$1 c
		c=$work/copy$(printf '%s' "$dir" | tr / _)
		cp -a "$dir" "$c"
		if [ -d "$root$dir" ]; then
			cp -a "$root$dir/." "$c/"
		fi
		mount --bind "$c" "$dir"
	}
	# Real paths, so that /lib (a link to usr/lib on Debian 12) is handled.
	for d in /etc /var/cache/debconf /usr/share/pam-configs /usr/lib/tmpfiles.d \
		"$(realpath /lib/systemd/system)"; do
		copy "$d"
	done
	# /var/lib: an empty tmpfs with copies of the two directories the scripts
	# use (pam-auth-update's state, deb-systemd-helper's); state_dir is
	# created in there.
	cp -a /var/lib/pam "$work/var-lib-pam"
	cp -a /var/lib/systemd "$work/var-lib-systemd"
	mount -t tmpfs -o mode=0755,size=16m tmpfs /var/lib
	cp -a "$work/var-lib-pam" /var/lib/pam
	cp -a "$work/var-lib-systemd" /var/lib/systemd
	# The package's units are under lib/systemd/system in the .deb.
	cp -a "$root/lib/systemd/system/." "$(realpath /lib/systemd/system)/"
	mount -t tmpfs -o mode=0755,size=16m tmpfs /run
	export DEBIAN_FRONTEND=noninteractive
	# What pam-auth-update makes of the machine's profiles without ours
	# (another package's profile may be pending, enabled at its next run):
	# the postinst below must change nothing of that.
	pam-auth-update --package
	cp /etc/pam.d/common-password "$work/common-password.orig"
	# A maintainer script with the environment dpkg gives it.
	maint() {
		local script=$1
		shift
		DPKG_MAINTSCRIPT_PACKAGE=libpam-isc DPKG_MAINTSCRIPT_NAME=$script \
			DPKG_MAINTSCRIPT_ARCH=$(dpkg-deb -f "$deb" Architecture) DPKG_ROOT= \
			sh "$work/ctl/$script" "$@"
	}

	maint postinst configure
	cmp -s /etc/pam.d/common-password "$work/common-password.orig" ||
		fail "postinst changed common-password (the profile is Default: no)"
	grep -qx isc /var/lib/pam/seen || fail "postinst did not register the profile (/var/lib/pam/seen)"
	for d in /run/pam_isc /var/lib/pam_isc; do
		[ "$(stat -c '%a %U %G' "$d" 2>/dev/null)" = "700 root root" ] ||
			fail "postinst (tmpfiles.d) did not create $d 0700 root:root"
	done
	[ -L /etc/systemd/system/timers.target.wants/pam-isc-flush.timer ] ||
		fail "postinst did not enable pam-isc-flush.timer"
	[ ! -e /etc/systemd/system/multi-user.target.wants/pam-isc-flush.service ] ||
		fail "postinst enabled the service itself"
	[ -L /etc/systemd/system/sockets.target.wants/pam-isc.socket ] ||
		fail "postinst did not enable pam-isc.socket"
	[ ! -e /etc/systemd/system/multi-user.target.wants/pam-isc.service ] ||
		fail "postinst enabled pam-isc.service itself (the socket starts it)"
	ok "postinst configure: profile registered, not enabled; dirs created; timer and socket enabled"

	pam-auth-update --enable isc
	line=$(grep -n 'pam_isc' /etc/pam.d/common-password || true)
	[ "$(printf '%s\n' "$line" | grep -c .)" -eq 1 ] || fail "pam_isc lines after --enable: $line"
	[ "${line#*:}" = "password	optional	pam_isc.so use_authtok" ] ||
		fail "unexpected pam_isc line: $line"
	unix_at=$(grep -nE '^password.*pam_unix\.so' /etc/pam.d/common-password | head -n 1 | cut -d: -f1)
	add_at=$(grep -n 'the "Additional" block' /etc/pam.d/common-password | cut -d: -f1)
	[ "$unix_at" -lt "$add_at" ] && [ "$add_at" -lt "${line%%:*}" ] ||
		fail "pam_isc is not in the Additional block after pam_unix"
	for f in common-auth common-account common-session; do
		! grep -q pam_isc "/etc/pam.d/$f" || fail "pam_isc appears in $f"
	done
	ok "pam-auth-update --enable isc: '${line#*:}' after pam_unix"

	maint prerm remove
	# dpkg removes the files between prerm and postrm.
	rm -f /usr/share/pam-configs/isc
	cmp -s /etc/pam.d/common-password "$work/common-password.orig" ||
		fail "after prerm remove, common-password is not as before: $(diff "$work/common-password.orig" /etc/pam.d/common-password)"
	maint postrm remove
	ok "prerm remove: pam_isc out of common-password, which is as before"

	maint postrm purge
	for d in /run/pam_isc /var/lib/pam_isc; do
		[ ! -e "$d" ] || fail "postrm purge left $d"
	done
	[ ! -e /etc/systemd/system/timers.target.wants/pam-isc-flush.timer ] ||
		fail "postrm purge left the timer enabled"
	[ ! -e /etc/systemd/system/sockets.target.wants/pam-isc.socket ] ||
		fail "postrm purge left the socket enabled"
	ok "postrm purge: nothing left"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "check-deb: run as root (private mount namespace)" >&2; exit 1; }
command -v unshare >/dev/null || fail "unshare (util-linux) is missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc-check-deb.XXXXXX")
trap 'rm -rf --one-file-system -- "$work"' EXIT
chmod 0755 "$work"

# --- 1. contents ---------------------------------------------------------------
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
dpkg-deb -c "$deb" >"$work/contents"
has() { # MODE-PREFIX PATH
	grep -qE "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./${2#/}\$" "$work/contents" ||
		fail "the package has no $2 (mode $1 root/root)"
}
has -rw-r--r-- "/usr/lib/$multiarch/security/pam_isc.so"
has -rwxr-xr-x /usr/libexec/pam_isc/pam_isc_helper
has -rwxr-xr-x /usr/sbin/pam_isc_ctl
has -rw-r--r-- /usr/share/pam-configs/isc
has -rw-r--r-- /lib/systemd/system/pam-isc-flush.service
has -rw-r--r-- /lib/systemd/system/pam-isc-flush.timer
has -rw-r--r-- /lib/systemd/system/pam-isc.service
has -rw-r--r-- /lib/systemd/system/pam-isc.socket
has -rw-r--r-- /usr/lib/tmpfiles.d/pam_isc.conf
has -rw------- /etc/security/pam_isc.conf
has -rw-r--r-- /usr/share/doc/libpam-isc/copyright
has -rw-r--r-- /usr/share/doc/libpam-isc/examples/pam.d-common-password-veto-snippet
has -rw-r--r-- /usr/share/doc/libpam-isc/examples/pam.d-common-password-ldap-snippet
! grep -qE '\.la$|/usr/local/' "$work/contents" || fail "the package has .la files or /usr/local paths"
if [ -d "$top/man" ]; then
	for page in man8/pam_isc.8 man5/pam_isc.conf.5 man8/pam_isc_ctl.8; do
		grep -qE "\./usr/share/man/$page(\.gz)?\$" "$work/contents" ||
			fail "the package has no man page $page"
	done
	ok "man pages present"
else
	echo "check-deb: note: no man/ in the source yet, so no man pages are expected"
fi
dpkg-deb -f "$deb" Package | grep -qx libpam-isc || fail "the package is not named libpam-isc"
dpkg-deb -f "$deb" Depends | grep -q libpam-runtime || fail "no dependency on libpam-runtime (pam-auth-update)"
mkdir "$work/ctl" "$work/root"
dpkg-deb -e "$deb" "$work/ctl"
dpkg-deb -x "$deb" "$work/root"
grep -qx /etc/security/pam_isc.conf "$work/ctl/conffiles" || fail "pam_isc.conf is not a conffile"
grep -q '^[[:space:]]*pam-auth-update --package$' "$work/ctl/postinst" ||
	fail "postinst does not run pam-auth-update --package"
grep -q '^[[:space:]]*pam-auth-update --package --remove isc$' "$work/ctl/prerm" ||
	fail "prerm does not run pam-auth-update --package --remove isc"
ok "contents, conffile, maintainer scripts"

# What the files say.
so=$work/root/usr/lib/$multiarch/security/pam_isc.so
! readelf -d "$so" | grep -E 'NEEDED.*(curl|gnutls|json-c)' ||
	fail "the packaged module links libcurl, GnuTLS or json-c"
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort)
[ -n "$exports" ] && ! printf '%s\n' "$exports" | grep -v '^pam_sm_' ||
	fail "the packaged module exports more than pam_sm_*: $exports"
grep -qaF /usr/libexec/pam_isc/pam_isc_helper "$so" || fail "the module does not look for the helper in /usr/libexec/pam_isc"
grep -qaF /etc/security/pam_isc.conf "$so" || fail "the module's default config is not /etc/security/pam_isc.conf"
grep -qx 'ExecStart=/usr/sbin/pam_isc_ctl flush' "$work/root/lib/systemd/system/pam-isc-flush.service" ||
	fail "the service does not run /usr/sbin/pam_isc_ctl flush"
grep -qx 'ConditionPathExists=/etc/security/pam_isc.conf' "$work/root/lib/systemd/system/pam-isc-flush.service" ||
	fail "the service's config condition is not /etc/security/pam_isc.conf"
grep -qx 'ExecStart=/usr/libexec/pam_isc/pam_isc_helper serve --config /etc/security/pam_isc.conf' \
	"$work/root/lib/systemd/system/pam-isc.service" ||
	fail "pam-isc.service does not run /usr/libexec/pam_isc/pam_isc_helper serve"
grep -qx 'ListenStream=/run/pam_isc/service.sock' "$work/root/lib/systemd/system/pam-isc.socket" ||
	fail "pam-isc.socket does not listen on /run/pam_isc/service.sock"
cmp -s "$work/root/usr/share/pam-configs/isc" "$top/conf/pam-configs/isc" ||
	fail "the packaged profile differs from conf/pam-configs/isc"
ok "module links and exports, compiled-in paths, unit paths, profile"
if command -v systemd-analyze >/dev/null; then
	# verify needs the ExecStart binary where the unit says: point it at the
	# unpacked one.
	mkdir "$work/units"
	sed "s#^ExecStart=/usr/sbin/#ExecStart=$work/root/usr/sbin/#" \
		"$work/root/lib/systemd/system/pam-isc-flush.service" >"$work/units/pam-isc-flush.service"
	sed "s#^ExecStart=/usr/libexec/#ExecStart=$work/root/usr/libexec/#" \
		"$work/root/lib/systemd/system/pam-isc.service" >"$work/units/pam-isc.service"
	cp "$work/root/lib/systemd/system/pam-isc-flush.timer" \
		"$work/root/lib/systemd/system/pam-isc.socket" "$work/units/"
	systemd-analyze verify --man=no "$work/units/pam-isc-flush.service" \
		"$work/units/pam-isc-flush.timer" "$work/units/pam-isc.service" \
		"$work/units/pam-isc.socket" || fail "systemd-analyze verify"
	ok "systemd-analyze verify"
fi

# --- 2. maintainer scripts in a private namespace; 3. the host unchanged ----------
host_state() {
	(
		cd /etc && sha256sum passwd shadow group pam.d/* 2>/dev/null
		sha256sum /var/lib/pam/* /usr/share/pam-configs/* 2>/dev/null
		ls -A /etc/pam.d /etc/security /etc/systemd/system /etc/systemd/system/*.wants \
			/var/lib/pam /var/lib/systemd/deb-systemd-helper-enabled /usr/share/pam-configs \
			/usr/lib/tmpfiles.d /lib/systemd/system 2>/dev/null
		ls -d /var/lib/pam_isc /run/pam_isc 2>/dev/null
	) || true
}
host_state >"$work/host.before"
_CHECK_DEB_IN_NS=1 _CHECK_DEB_WORK=$work unshare --mount --propagation private -- \
	bash "$(realpath "$0")" "$deb"
host_state >"$work/host.after"
cmp -s "$work/host.before" "$work/host.after" ||
	fail "the host's files changed: $(diff "$work/host.before" "$work/host.after" | head -n 10)"
ok "the host's /etc, /var/lib, pam-configs, tmpfiles.d and units are unchanged"
echo "check-deb: PASS $deb"
