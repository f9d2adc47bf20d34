#!/bin/bash
# SPDX-License-Identifier: MIT
# The manual pages cannot drift from the code, and render cleanly:
#  - every configuration key in config_options[] is an entry of
#    pam_isc.conf(5), every module argument in module_arg_descs[] one of
#    pam_isc(8) (the names come from the code, through man/isc_mangen);
#  - the configured paths are filled in, no placeholder is left;
#  - the example file in pam_isc.conf(5) is accepted by the real parser;
#  - the descriptions agree with the table's defaults (isc_mangen --check);
#  - each page is clean for mandoc -T lint, groff -ww and man -l.
# Needs no root: it only reads the built pages.
. "$(dirname "$0")/../lib.sh"

for tool in mandoc:mandoc groff:groff-base man:man-db; do
	command -v "${tool%%:*}" >/dev/null ||
		hard_error "${tool%%:*} is missing: install the Debian package ${tool#*:}"
done

mangen=$top_builddir/man/isc_mangen
[ -x "$mangen" ] || hard_error "$mangen is not built"
pages=(pam_isc.8 pam_isc.conf.5 pam_isc_ctl.8)
for page in "${pages[@]}"; do
	[ -f "$top_builddir/man/$page" ] || hard_error "man/$page is not built"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Render as a person reads it: man -l, wide enough that no entry wraps.
render() { MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$top_builddir/man/$1" 2>/dev/null; }

# has_entry PAGE_TEXT_FILE NAME: NAME starts a definition (an indented line
# "NAME = ..." for a key, "NAME", "NAME=PATH" for an argument).
has_key() { _grep -qE "^ +$(re_escape "$2") = [A-Z.,/]+\$" "$1"; }
has_arg() {
	local name=$2
	if [ "${name%=}" != "$name" ]; then
		_grep -qE "^ +$(re_escape "$name")[A-Z]+\$" "$1"
	else
		_grep -qE "^ +$(re_escape "$name")\$" "$1"
	fi
}

# 1. The names and paths, from the code.
list=$("$mangen" --list) || fail "isc_mangen --list failed"
mapfile -t keys < <(printf '%s\n' "$list" | sed -n 's/^key //p')
mapfile -t args < <(printf '%s\n' "$list" | sed -n 's/^arg //p')
mapfile -t paths < <(printf '%s\n' "$list" | sed -n 's/^path //p')
[ "${#keys[@]}" -ge 15 ] || fail "isc_mangen lists only ${#keys[@]} configuration keys"
[ "${#args[@]}" -ge 4 ] || fail "isc_mangen lists only ${#args[@]} module arguments"
[ "${#paths[@]}" -ge 2 ] || fail "isc_mangen lists no configured paths"

for page in "${pages[@]}"; do
	render "$page" >"$tmp/$page.txt"
	[ -s "$tmp/$page.txt" ] || fail "man -l renders nothing for $page"
done

missing=()
for key in "${keys[@]}"; do
	has_key "$tmp/pam_isc.conf.5.txt" "$key" || missing+=("$key")
done
[ "${#missing[@]}" -eq 0 ] ||
	fail "pam_isc.conf(5) has no entry for the configuration keys: ${missing[*]}"
missing=()
for arg in "${args[@]}"; do
	has_arg "$tmp/pam_isc.8.txt" "$arg" || missing+=("$arg")
done
[ "${#missing[@]}" -eq 0 ] || fail "pam_isc(8) has no entry for the module arguments: ${missing[*]}"
log "pam_isc.conf(5) has all ${#keys[@]} keys, pam_isc(8) all ${#args[@]} arguments"

# The check itself can fail: pam_isc_ctl(8) lists neither keys nor arguments.
! has_key "$tmp/pam_isc_ctl.8.txt" "${keys[0]}" ||
	fail "has_key finds key ${keys[0]} as an entry of pam_isc_ctl(8): the check is broken"
! has_arg "$tmp/pam_isc_ctl.8.txt" "${args[0]}" ||
	fail "has_arg finds ${args[0]} as an entry of pam_isc_ctl(8): the check is broken"

# 2. Configured paths in, placeholders out.
# A long path (a deep prefix) may be broken across lines at a /: look in the
# text with the lines joined.
sed 's/^ *//' "$tmp/pam_isc.8.txt" | tr -d '\n' >"$tmp/pam_isc.8.joined"
for path in "${paths[@]}"; do
	_grep -qF "$path" "$tmp/pam_isc.8.joined" || fail "pam_isc(8) does not name $path"
done
for page in "${pages[@]}"; do
	if _grep -nE '\{\{|@CONFIG_OPTIONS@|@MODULE_ARGS@|@[A-Z_]+@' "$top_builddir/man/$page" >"$tmp/left"; then
		fail "man/$page keeps placeholders: $(head -n 3 "$tmp/left")"
	fi
done

# 3. The example file of pam_isc.conf(5) is a valid configuration: the first
# literal block after "# EXAMPLE" in the source.
awk '/^# EXAMPLE/ { on = 1; next } on && /^```/ { if (n++) exit; next } on && n == 1' \
	"$top_srcdir/man/pam_isc.conf.5.scd" >"$tmp/example.conf"
_grep -q '^api_url = ' "$tmp/example.conf" || fail "no example file found in pam_isc.conf.5.scd"
"$mangen" --parse "$tmp/example.conf" 2>"$tmp/parse.err" ||
	fail "the example in pam_isc.conf(5) is refused: $(cat "$tmp/parse.err")"

# 4. Descriptions agree with the table, every example names a real key.
"$mangen" --check --examples "$top_srcdir/man/pam_isc.conf.examples" 2>"$tmp/check.err" ||
	fail "isc_mangen --check: $(_grep -v 'note:' "$tmp/check.err")"

# 5. Lint-clean, and man -l renders without a warning.
for page in "${pages[@]}"; do
	file=$top_builddir/man/$page
	mandoc -T lint -W style "$file" >"$tmp/lint" 2>&1 || true
	[ ! -s "$tmp/lint" ] || fail "mandoc -T lint $page: $(head -n 5 "$tmp/lint")"
	for device in utf8 ps; do
		groff -ww -man -T"$device" -z "$file" 2>"$tmp/groff" ||
			fail "groff -T$device failed on $page"
		[ ! -s "$tmp/groff" ] || fail "groff -ww -T$device $page: $(head -n 5 "$tmp/groff")"
	done
	MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$file" >/dev/null 2>"$tmp/man" ||
		fail "man -l $page failed"
	[ ! -s "$tmp/man" ] || fail "man -l $page: $(head -n 5 "$tmp/man")"
done
log "all ${#pages[@]} pages are lint-clean (mandoc, groff -ww) and render with man -l"

# 6. A prefix deeper than the page is wide (make distcheck's, in a long
# directory) still renders without "can't break line": man/tidy-roff.awk gives
# long paths break points. Every placeholder of the .in gets such a path.
deep=/opt/$(printf 'a_rather_long_directory_name_%s/' 1 2 3 4)etc
for page in "${pages[@]}"; do
	in=$top_builddir/man/$page.in
	[ -f "$in" ] || in=$top_srcdir/man/$page.in
	sed -E "s|\{\{[A-Z]+\}\}|$deep|g" "$in" | awk -f "$top_srcdir/man/tidy-roff.awk" >"$tmp/deep.roff"
	_grep -qF 'a_rather_long_directory_name_1/\:' "$tmp/deep.roff" ||
		fail "$page with a deep prefix: no break point in the long path"
	groff -ww -man -Tutf8 -z "$tmp/deep.roff" 2>"$tmp/groff" || fail "groff failed on $page with a deep prefix"
	[ ! -s "$tmp/groff" ] || fail "groff -ww $page with a deep prefix: $(head -n 3 "$tmp/groff")"
done
log "with a ${#deep}-byte prefix the pages still render without a warning"
exit 0
