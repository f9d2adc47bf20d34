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
		trap 'rm -f "$policy_rc"' EXIT
	fi
	;;
esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$own_policy_rc" = 1 ]; then
	rm -f "$policy_rc"
	trap - EXIT
fi
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
