#!/bin/bash
# scripts/add-spdx.sh [--check] [FILE...]: put the line
# "SPDX-License-Identifier: MIT" at the top of each source file, in the
# comment syntax of its kind:
#
#   C sources and headers (*.c, *.h)     /* SPDX-License-Identifier: MIT */
#   shell scripts (*.sh, or a #!...sh    # SPDX-License-Identifier: MIT
#     or #!...bash first line)             (after the #! line)
#   Makefile.am                          # SPDX-License-Identifier: MIT
#   Python, awk, expect, SELinux policy,  # SPDX-License-Identifier: MIT
#     RPM spec, systemd units,             (after the #! line)
#     debian/rules
#   configure.ac                         dnl SPDX-License-Identifier: MIT
#
# Idempotent: a file that already names an SPDX license in its first five
# lines is left alone, so it can run again after files are added. Without
# FILE arguments it takes the files git tracks (or, outside a git checkout,
# the files under the source tree), leaving out fuzz inputs. Only the
# content changes: mode and owner stay as they are.
#
# --check: change nothing; list the files that lack the line and exit 1 if
# there are any (for CI, once the tree carries it).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
if [ "${1:-}" = --check ]; then
	check=true
	shift
fi

SPDX='SPDX-License-Identifier: MIT'

# The comment kind of a file: c, sh, make, m4, or nothing (not ours to tag).
kind_of() {
	local f=$1 first=
	case $f in
	fuzz/corpus/* | fuzz/regress/*) return 0 ;;
	*.c | *.h) echo c; return 0 ;;
	*.sh) echo sh; return 0 ;;
	# hash comments, after a #! line where there is one: Python, awk,
	# expect, the SELinux policy, the RPM spec, systemd units, debian/rules
	*.py | *.awk | *.exp | *.te | *.fc | *.if | *.spec.in | *.rpmlintrc | \
		conf/*.service.in | conf/*.socket | conf/*.timer | debian/rules)
		echo sh
		return 0
		;;
	Makefile.am | */Makefile.am) echo make; return 0 ;;
	configure.ac) echo m4; return 0 ;;
	esac
	[ -f "$f" ] || return 0
	IFS= read -r first <"$f" || true
	case $first in
	'#!'*/sh | '#!'*/sh\ * | '#!'*/bash | '#!'*/bash\ * | '#!'*env\ bash* | '#!'*env\ sh*)
		echo sh ;;
	esac
}

has_spdx() {
	head -n 5 -- "$1" | grep -q 'SPDX-License-Identifier:'
}

# Write the tagged content of $1 (kind $2) to stdout.
tagged() {
	case $2 in
	c) printf '/* %s */\n' "$SPDX"; cat -- "$1" ;;
	make) printf '# %s\n' "$SPDX"; cat -- "$1" ;;
	m4) printf 'dnl %s\n' "$SPDX"; cat -- "$1" ;;
	sh)
		# After the #! line when there is one, else first.
		awk -v tag="# $SPDX" 'NR == 1 && /^#!/ { print; print tag; next }
			NR == 1 { print tag } { print }' "$1"
		;;
	esac
}

list_files() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@"
	elif git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files
	else
		find . -path ./.git -prune -o -type f -print | sed 's|^\./||'
	fi
}

missing=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r f; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	kind=$(kind_of "$f")
	[ -n "$kind" ] || continue
	has_spdx "$f" && continue
	missing=$((missing + 1))
	if $check; then
		echo "$f"
		continue
	fi
	if ! tagged "$f" "$kind" >"$tmp" ||
		[ "$(wc -l <"$tmp")" -ne "$(($(wc -l <"$f") + 1))" ]; then
		echo "add-spdx: $f: could not tag it; left unchanged" >&2
		exit 1
	fi
	# cat into the file (not mv over it): keeps its mode, owner and links.
	cat -- "$tmp" >"$f"
	echo "add-spdx: $f"
done < <(list_files "$@")

if $check; then
	[ "$missing" -eq 0 ] || { echo "add-spdx: $missing file(s) without an SPDX line" >&2; exit 1; }
else
	echo "add-spdx: $missing file(s) tagged"
fi
