#!/bin/bash
# SPDX-License-Identifier: MIT
# Install what pam_isc needs to build, test and demo on Debian 12, as root.
# Only installs what is missing; runs apt-get update only when it must.
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	libpam0g-dev libcurl4-gnutls-dev libgnutls28-dev libjson-c-dev
	libcmocka-dev libmicrohttpd-dev pamtester libpam-wrapper libnss-wrapper
	# tests/test_pam_glue: pam_chauthtok in process through pam_wrapper's libpamtest
	libpamtest0-dev
	curl util-linux procps binutils ca-certificates
	# manual pages: scdoc builds them from man/*.scd; mandoc, groff-base and
	# man-db lint and render them in make check
	scdoc mandoc groff-base man-db
	# the real passwd test (tests/integration/real_passwd.sh) drives passwd and su on a pty
	expect
	# tests/integration/service.sh plays raw clients of the service's socket
	# (tests/service_client.py) and starts it as systemd would
	# (systemd-socket-activate, from systemd)
	python3 systemd
	# tests/integration/ssh_expired.sh: an expired password changed at an SSH
	# login, with a real sshd of its own on loopback (the ssh client too).
	# Installing the server must not start the machine's own sshd: see below.
	openssh-server openssh-client
)
# The SELinux policy module (selinux/) and its test
# (tests/integration/selinux_policy.sh): the reference policy's development
# files (the Makefile and interfaces a module is built with), the default
# policy whose store the test copies and installs the module into, semodule
# (policycoreutils), semodule_package and friends (semodule-utils) and
# sesearch (setools). None of them turns SELinux on: that takes the kernel
# command line (selinux-activate, in selinux-basics, which is not installed)
# and a loaded policy. policycoreutils' postinst would write a missing
# /etc/selinux/config with SELINUX=permissive; it is written first with
# SELINUX=disabled (below), so that nothing is enforced or even loaded on a
# later boot. None of these packages ships or edits anything in /etc/pam.d.
selinux_packages=(selinux-policy-dev selinux-policy-default policycoreutils semodule-utils setools)
packages+=("${selinux_packages[@]}")
# The directory test (tests/integration/ldap_passwd.sh): a real slapd with the
# user, nslcd with pam_ldap (libpam-ldapd) and the NSS module (libnss-ldapd)
# in front of it, ldapwhoami and slappasswd (ldap-utils, slapd). The test
# runs its own slapd and nslcd with its own configuration in its private
# namespaces; the machine gets none of them as a service. Installing them
# would, left alone: start a system slapd and nslcd, have slapd's postinst
# create a database under /var/lib/ldap, have libpam-ldapd's postinst run
# pam-auth-update (which rewrites /etc/pam.d/common-* with pam_ldap in them)
# and libnss-ldapd's postinst add "ldap" to /etc/nsswitch.conf. Each is
# prevented or undone below (ldap_guard_*).
ldap_packages=(slapd ldap-utils nslcd libpam-ldapd libnss-ldapd)
packages+=("${ldap_packages[@]}")
# --extra: what scripts/ci-extra.sh and --enable-fuzzing need on top
# (clang with libFuzzer, valgrind, cppcheck for make check-cppcheck; gcc's
# ASan/UBSan come with build-essential).
if [ "${1:-}" = --extra ]; then
	packages+=(clang libclang-rt-14-dev valgrind cppcheck)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
# Only when a SELinux package is about to be installed and the machine has no
# SELinux configuration of its own: keep SELinux off (see selinux_packages).
for p in "${missing[@]}"; do
	case " ${selinux_packages[*]} " in
	*" $p "*)
		if [ ! -e /etc/selinux/config ]; then
			mkdir -p /etc/selinux
			printf '%s\n' \
				'# Written by pam_isc'"'"'s scripts/install-deps.sh before it installed the' \
				'# SELinux policy tools its tests use: SELinux stays off on this machine.' \
				'SELINUX=disabled' 'SELINUXTYPE=default' >/etc/selinux/config
		fi
		break
		;;
	esac
done
# openssh-server's postinst starts the machine's sshd through its init
# script (and generates host keys in /etc/ssh, which is harmless). The tests
# run their own sshd; a listening sshd on the machine is nobody's wish. A
# policy-rc.d that says 101 ("action forbidden") keeps invoke-rc.d from
# starting it; one is written only when the machine has none, and removed
# again. Should an sshd start anyway, exactly the one that was not running
# before (its pid file) is stopped.
policy_rc=/usr/sbin/policy-rc.d
own_policy_rc=0
sshd_before=
case " ${missing[*]} " in
*" openssh-server "*)
	sshd_before=$(cat /run/sshd.pid 2>/dev/null || true)
	if [ ! -e "$policy_rc" ]; then
		printf '#!/bin/sh\n# pam_isc scripts/install-deps.sh: no service starts while it installs\nexit 101\n' \
			>"$policy_rc"
		chmod 0755 "$policy_rc"
		own_policy_rc=1
	fi
	;;
esac
export DEBIAN_FRONTEND=noninteractive

# --- guard around the directory packages (see ldap_packages) --------------------
ldap_missing=0
for p in "${missing[@]}"; do
	case " ${ldap_packages[*]} " in *" $p "*) ldap_missing=1 ;; esac
done
ldap_saved=
ldap_policy_rc=0
ldap_guard_before() {
	local f
	[ "$ldap_missing" = 1 ] || return 0
	# The machine's PAM and NSS configuration, to compare and put back after.
	ldap_saved=$(mktemp -d /tmp/install-deps-ldap.XXXXXX)
	for f in /etc/nsswitch.conf /etc/pam.d/common-*; do
		[ -f "$f" ] && cp -a "$f" "$ldap_saved/$(basename "$f")"
	done
	# No daemon started by a postinst: invoke-rc.d asks policy-rc.d, and
	# 101 means "not allowed". Only our own file is removed afterwards.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# pam_isc install-deps.sh: no service starts during this install\nexit 101\n' \
			>/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		ldap_policy_rc=1
	fi
	# The daemons that already run (they are not ours to stop).
	pgrep -x 'slapd|nslcd' >"$ldap_saved/pids.before" || true
	# Answers for the postinsts: slapd creates no database (the test brings
	# its own), libnss-ldapd adds ldap to no nsswitch.conf line.
	debconf-set-selections <<-'EOF'
		slapd slapd/no_configuration boolean true
		libnss-ldapd libnss-ldapd/nsswitch multiselect
		nslcd nslcd/ldap-uris string ldap://127.0.0.1/
		nslcd nslcd/ldap-base string dc=example,dc=com
	EOF
}
ldap_guard_after() {
	local f orig pid
	# openssh-server's policy-rc.d (above), whatever became of the install.
	[ "$own_policy_rc" = 0 ] || rm -f "$policy_rc"
	[ "$ldap_missing" = 1 ] || return 0
	[ "$ldap_policy_rc" = 0 ] || rm -f /usr/sbin/policy-rc.d
	# libpam-ldapd's profile is named "ldap" (/usr/share/pam-configs/ldap):
	# take it out of common-* again, and keep it out: --disable records it
	# as disabled in debconf (libpam-runtime/profiles), so that the next
	# package whose postinst runs pam-auth-update --package does not turn
	# pam_ldap on in the machine's common-* (--package --remove alone
	# leaves it among the enabled profiles). The profile stays available
	# for an administrator who wants it, and for the directory test, which
	# enables it in its private copy of /etc.
	if [ -f /usr/share/pam-configs/ldap ]; then
		DEBIAN_FRONTEND=noninteractive pam-auth-update --disable ldap
	fi
	for f in "$ldap_saved"/*; do
		case ${f##*/} in
		pids.before) continue ;;
		nsswitch.conf) orig=/etc/nsswitch.conf ;;
		*) orig=/etc/pam.d/${f##*/} ;;
		esac
		if ! cmp -s "$f" "$orig"; then
			cp -a "$f" "$orig"
			echo "install-deps: put back the machine's $orig (a package had changed it)" >&2
		fi
	done
	# Anything that started all the same (a postinst not asking
	# policy-rc.d): only the new pids.
	for pid in $(pgrep -x 'slapd|nslcd' || true); do
		if ! grep -qx "$pid" "$ldap_saved/pids.before"; then
			echo "install-deps: stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid), started by its package" >&2
			kill "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$ldap_saved"
}

ldap_guard_before
trap 'ldap_guard_after' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# (policy-rc.d and the directory packages' guard: ldap_guard_after, on EXIT.)
case " ${missing[*]} " in
*" openssh-server "*)
	sshd_after=$(cat /run/sshd.pid 2>/dev/null || true)
	if [ -n "$sshd_after" ] && [ "$sshd_after" != "$sshd_before" ] &&
		[ "$(cat "/proc/$sshd_after/comm" 2>/dev/null)" = sshd ]; then
		echo "install-deps: stopping the sshd (pid $sshd_after) the package started"
		kill -TERM "$sshd_after"
	fi
	;;
esac
