#!/bin/bash
# SPDX-License-Identifier: MIT
# The authselect vendor profile authselect/vendor/pam_isc, checked
# statically (authselect is not packaged for Debian): the templates are
# rendered here the way authselect renders them ({include if}, {exclude if},
# {if ...:a|b}, {imply}; single-feature expressions, with or without "not"),
# for several feature sets, and compared with authselect's sssd profile they
# derive from (verbatim copies in tests/data/authselect-sssd, see SOURCE
# there). Needs no root and no namespaces. Exit 0: pass, 1: fail.
#
# For system-auth and password-auth:
#  - the templates: two pam_isc lines, the mirror one under
#    {exclude if "with-pam-isc-veto"}, the veto one under
#    {include if "with-pam-isc-veto"}; with the veto lines taken, the
#    template is the sssd one plus the veto pam_isc line; with the mirror
#    lines taken, every line outside the password section is the sssd one's
#    and the password section is the sssd one's with only the changes the
#    mirror needs (pam_unix and pam_sss jump instead of "sufficient",
#    pam_deny requisite, pam_permit and pam_isc appended);
#  - rendered without with-pam-isc-veto: one pam_isc line,
#    "password optional pam_isc.so use_authtok", after pam_unix and pam_sss,
#    reached by their jumps through "required pam_permit.so", and a failed
#    pam_unix for a local user lands on "requisite pam_deny.so";
#  - rendered with with-pam-isc-veto: one pam_isc line,
#    "password requisite pam_isc.so use_authtok", after pam_pwquality (and
#    pam_pwhistory) and before pam_unix, and the rest is exactly the sssd
#    profile rendered with the same features.
# And: README (first line the profile's name), REQUIREMENTS, the feature
# described in both.
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
profile=$top/authselect/vendor/pam_isc
upstream=$top/tests/data/authselect-sssd
work=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc-authselect.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
failures=0
checks=0
fail() { echo "authselect_profile: FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); echo "authselect_profile: ok: $*"; }
VETO='with-pam-isc-veto'

# render TEMPLATE FEATURE...: the file authselect would generate, with runs
# of blanks squeezed to one space and trailing blanks removed (authselect
# keeps the template's spacing; PAM does not care, the comparison must not).
render() {
	local file=$1
	shift
	awk -v feats=" $* " '
	function has(f) { return index(feats, " " f " ") > 0 }
	# EXPR is "f" or not "f"; anything else is not handled here.
	function ev(expr,   neg, m) {
		neg = 0
		if (expr ~ /^not /) { neg = 1; expr = substr(expr, 5) }
		if (expr !~ /^"[^"]+"$/) { print "unsupported expression: " expr > "/dev/stderr"; bad = 1; return 0 }
		m = has(substr(expr, 2, length(expr) - 2))
		return neg ? !m : m
	}
	FNR == NR {
		if (match($0, /^\{imply "[^"]+" if "[^"]+"\}$/)) {
			split($0, q, "\"")
			if (has(q[4])) feats = feats q[2] " "
		}
		next
	}
	/^\{imply / { next }
	{
		line = $0
		if (match(line, /\{(include|exclude) if [^}]*\}/)) {
			op = substr(line, RSTART, RLENGTH)
			incl = op ~ /^\{include/
			expr = op; sub(/^\{(include|exclude) if /, "", expr); sub(/\}$/, "", expr)
			v = ev(expr)
			if ((incl && !v) || (!incl && v)) next
			line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
		}
		while (match(line, /\{if [^}:]*:[^}]*\}/)) {
			op = substr(line, RSTART + 4, RLENGTH - 5)
			expr = op; sub(/:.*/, "", expr)
			val = op; sub(/^[^:]*:/, "", val)
			t = val; f = ""
			if (index(val, "|")) { t = substr(val, 1, index(val, "|") - 1); f = substr(val, index(val, "|") + 1) }
			line = substr(line, 1, RSTART - 1) (ev(expr) ? t : f) substr(line, RSTART + RLENGTH)
		}
		gsub(/[ \t]+/, " ", line); sub(/ $/, "", line)
		print line
	}
	END { if (bad) exit 2 }' "$file" "$file"
}

# norm: a template line with runs of blanks squeezed (for comparisons).
norm() { sed -E 's/[ \t]+/ /g; s/ $//'; }

# --- the profile's meta files ----------------------------------------------
for f in README REQUIREMENTS system-auth password-auth; do
	[ -s "$profile/$f" ] || fail "$profile/$f is missing or empty"
done
title=$(head -n 1 "$profile/README")
underline=$(sed -n 2p "$profile/README")
if [ -n "$title" ] && [[ $underline =~ ^=+$ ]]; then
	ok "README starts with the profile's name: $title"
else
	fail "README's first line must be the profile's name, underlined with ="
fi
grep -q "^$VETO::" "$profile/README" || fail "README does not describe the feature $VETO"
grep -q "{include if \"$VETO\"}" "$profile/REQUIREMENTS" ||
	fail "REQUIREMENTS says nothing for $VETO"
grep -q 'authselect select pam_isc' "$profile/README" ||
	fail "README does not show 'authselect select pam_isc'"
ok "README and REQUIREMENTS describe $VETO"

# The mirror's password section, made from the sssd one by the stated rule.
mirror_of() {
	sed -E \
		-e 's/^password +sufficient +(pam_unix\.so .*)$/password [success=3 default=ignore] \1/' \
		-e 's/^password +sufficient +(pam_sss\.so .*)$/password [success=1 default=ignore] \1/' \
		-e 's/^password +required +pam_deny\.so$/password requisite pam_deny.so\npassword required pam_permit.so\npassword optional pam_isc.so use_authtok/'
}

for stack in system-auth password-auth; do
	tpl=$profile/$stack
	up=$upstream/$stack
	[ -s "$up" ] || { fail "no upstream copy $up"; continue; }

	# --- template level ----------------------------------------------------
	isc=$(grep -n 'pam_isc' "$tpl" | norm)
	want_mirror="password optional pam_isc.so use_authtok {exclude if \"$VETO\"}"
	want_veto="password requisite pam_isc.so use_authtok {include if \"$VETO\"}"
	if [ "$(printf '%s\n' "$isc" | grep -c .)" -eq 2 ] &&
		printf '%s\n' "$isc" | cut -d: -f2- | grep -qxF "$want_mirror" &&
		printf '%s\n' "$isc" | cut -d: -f2- | grep -qxF "$want_veto"; then
		ok "$stack: two pam_isc lines, mirror under {exclude if \"$VETO\"}, veto under {include if \"$VETO\"}"
	else
		fail "$stack: pam_isc lines are not the two expected ones: $isc"
	fi

	# With the veto's lines taken: the sssd template plus the veto line.
	grep -vF "{exclude if \"$VETO\"}" "$tpl" | sed -E "s/[ \t]*\{include if \"$VETO\"\}$//" |
		norm | grep -vxF 'password requisite pam_isc.so use_authtok' >"$work/veto.tpl"
	norm <"$up" >"$work/up.tpl"
	if cmp -s "$work/veto.tpl" "$work/up.tpl"; then
		ok "$stack: template with $VETO = the sssd template + the pam_isc line"
	else
		fail "$stack: template with $VETO differs from the sssd one beyond the pam_isc line:
$(diff "$work/up.tpl" "$work/veto.tpl")"
	fi

	# With the mirror's lines taken: outside the password section, the
	# sssd template; inside, the sssd one changed by the rule above.
	grep -vF "{include if \"$VETO\"}" "$tpl" | sed -E "s/[ \t]*\{exclude if \"$VETO\"\}$//" |
		norm >"$work/mirror.tpl"
	grep -v '^password' "$work/mirror.tpl" >"$work/mirror.other"
	grep -v '^password' "$work/up.tpl" >"$work/up.other"
	if cmp -s "$work/mirror.other" "$work/up.other"; then
		ok "$stack: every line outside the password section is the sssd profile's"
	else
		fail "$stack: lines outside the password section differ from the sssd profile:
$(diff "$work/up.other" "$work/mirror.other")"
	fi
	grep '^password' "$work/up.tpl" | mirror_of >"$work/want.pw"
	grep '^password' "$work/mirror.tpl" >"$work/mirror.pw"
	if cmp -s "$work/mirror.pw" "$work/want.pw"; then
		ok "$stack: mirror password section = the sssd one with jumps to pam_permit, requisite pam_deny, pam_isc last"
	else
		fail "$stack: the mirror password section is not the sssd one with only the mirror's changes:
$(diff "$work/want.pw" "$work/mirror.pw")"
	fi

	# --- rendered, for several feature sets ---------------------------------
	for feats in "" "with-pwhistory" "with-systemd-homed without-nullok with-faillock" \
		"with-pwhistory with-smartcard-required with-mkhomedir"; do
		label=${feats:-no feature}
		if ! render "$tpl" $feats >"$work/m" || ! render "$tpl" $feats $VETO >"$work/v" ||
			! render "$up" $feats >"$work/u"; then
			fail "$stack ($label): a template could not be rendered"
			continue
		fi
		# Not elsewhere than in the password section.
		if grep pam_isc "$work/m" "$work/v" | grep -qv ':password '; then
			fail "$stack ($label): pam_isc outside the password section"
		fi

		# Mirror.
		mapfile -t pw < <(grep '^password' "$work/m")
		isc_at=-1 unix_at=-1 sss_at=-1 local_at=-1 n=${#pw[@]}
		for i in "${!pw[@]}"; do
			case ${pw[$i]} in
			*pam_isc.so*) [ "$isc_at" -lt 0 ] && isc_at=$i || isc_at=-2 ;;
			*' pam_unix.so'*) unix_at=$i ;;
			*' pam_sss.so'*) sss_at=$i ;;
			'password [success=1 default=ignore] pam_localuser.so') local_at=$i ;;
			esac
		done
		target() { # INDEX: where the line's success jump lands
			local j
			j=$(printf '%s\n' "${pw[$1]}" | sed -nE 's/^password \[success=([0-9]+) [^]]*\] .*/\1/p')
			[ -n "$j" ] && echo $(($1 + j + 1)) || echo -1
		}
		if [ "$isc_at" -ge 0 ] && [ "${pw[$isc_at]}" = 'password optional pam_isc.so use_authtok' ] &&
			[ "$isc_at" -eq $((n - 1)) ] && [ "$unix_at" -ge 0 ] && [ "$sss_at" -ge 0 ] &&
			[ "$unix_at" -lt "$isc_at" ] && [ "$sss_at" -lt "$isc_at" ] &&
			[ "${pw[$((isc_at - 1))]}" = 'password required pam_permit.so' ] &&
			[ "$(target "$unix_at")" -eq $((isc_at - 1)) ] &&
			[ "$(target "$sss_at")" -eq $((isc_at - 1)) ] &&
			[ "$local_at" -ge 0 ] && [ "${pw[$(target "$local_at")]}" = 'password requisite pam_deny.so' ] &&
			! printf '%s\n' "${pw[@]:$unix_at:$((isc_at - unix_at))}" | grep -q '^password sufficient'; then
			ok "$stack ($label): 'password optional pam_isc.so use_authtok' after pam_unix and pam_sss, both jumping to pam_permit before it"
		else
			fail "$stack ($label): the mirror stack is not as expected:
$(printf '  %s\n' "${pw[@]}")"
		fi

		# Veto.
		mapfile -t pw < <(grep '^password' "$work/v")
		isc_at=-1 unix_at=-1 qual_at=-1 hist_at=-1
		for i in "${!pw[@]}"; do
			case ${pw[$i]} in
			*pam_isc.so*) [ "$isc_at" -lt 0 ] && isc_at=$i || isc_at=-2 ;;
			*' pam_unix.so'*) unix_at=$i ;;
			*' pam_pwquality.so'*) qual_at=$i ;;
			*' pam_pwhistory.so'*) hist_at=$i ;;
			esac
		done
		if [ "$isc_at" -ge 0 ] && [ "${pw[$isc_at]}" = 'password requisite pam_isc.so use_authtok' ] &&
			[ "$qual_at" -ge 0 ] && [ "$qual_at" -lt "$isc_at" ] && [ "$hist_at" -lt "$isc_at" ] &&
			[ "$isc_at" -eq $((unix_at - 1)) ]; then
			ok "$stack ($label, $VETO): 'password requisite pam_isc.so use_authtok' right before pam_unix, after pam_pwquality"
		else
			fail "$stack ($label, $VETO): the veto stack is not as expected:
$(printf '  %s\n' "${pw[@]}")"
		fi
		if grep -vxF 'password requisite pam_isc.so use_authtok' "$work/v" | cmp -s - "$work/u"; then
			ok "$stack ($label, $VETO): everything else is the sssd profile rendered alike"
		else
			fail "$stack ($label, $VETO): differs from the sssd profile beyond the pam_isc line:
$(grep -vxF 'password requisite pam_isc.so use_authtok' "$work/v" | diff "$work/u" -)"
		fi
	done
done

echo "authselect_profile: $checks passed, $failures failed"
[ "$failures" -eq 0 ]
