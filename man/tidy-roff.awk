# SPDX-License-Identifier: MIT
# tidy-roff.awk: make scdoc's roff output lint-clean (mandoc -T lint,
# groff -ww) without changing what it says.
#
# - scdoc writes a .P before and after every block, also where no text
#   follows (before .SH, .SS, .RE, another .P, the end) or right after a
#   section title; mandoc warns "skipping paragraph macro" for each. A .P is
#   kept only when text or a block follows it; one just before .RE (the
#   space after an indented block) is moved after the .RE.
# - scdoc writes each paragraph as one input line; text lines are wrapped at
#   a space to at most 79 bytes (never in .nf blocks, never where the break
#   would end a sentence or split an escape), a continuation that would start
#   with . or ' gets \& in front.
# - groff's .TH turns hyphenation and adjusting back on after scdoc's .nh and
#   .ad l: they are repeated after .TH, so that no key name or path is ever
#   hyphenated.
# - an .RS that scdoc leaves open at the end of the page is closed.
# - a long path (a word of 40 bytes or more with a /) gets the break point
#   \: after each /: under a deep prefix (make distcheck's, say) a path can
#   be wider than the page, and groff -ww warns "can't break line". A word
#   longer than an input line is split after one of those break points,
#   with \c (no space in the output), so that no input line passes 80 bytes
#   (mandoc -T lint).

function is_break(line) {
	return line ~ /^\.(SH|SS|TH|P|PP|LP|RE|IP|TP)( |$)/ || line == ""
}

# May a text line be broken at the space at position i?
function breakable(line, i,   prev, next_char) {
	prev = substr(line, i - 1, 1)
	next_char = substr(line, i + 1, 1)
	if (prev == "\\" || prev == " " || next_char == " " || next_char == "")
		return 0
	# roff ends a sentence at a line ending in . ? ! (also before ) ] " ' *).
	return substr(line, 1, i - 1) !~ /[.?!][)\]"'*]*$/
}

function break_paths(line,   out, word, cut, rest) {
	out = ""
	# (mawk knows no {40,}: every word is matched, the long ones changed)
	while (match(line, /[^ ]+/)) {
		word = substr(line, RSTART, RLENGTH)
		cut = index(word, "/")
		if (RLENGTH >= 40 && cut) {
			# not after the first /: a lone / at the end of a line helps nobody
			rest = substr(word, cut + 1)
			gsub(/\//, "/\\:", rest)
			word = substr(word, 1, cut) rest
		}
		out = out substr(line, 1, RSTART - 1) word
		line = substr(line, RSTART + RLENGTH)
	}
	return out line
}

function put_text(line,   i, cut) {
	line = break_paths(line)
	while (length(line) > 79) {
		cut = 0
		for (i = 79; i > 1; i--)
			if (substr(line, i, 1) == " " && breakable(line, i)) {
				cut = i
				break
			}
		if (!cut) {
			# No space to break at: the line starts with a word longer
			# than the line (a path under a deep prefix). Split the word
			# after one of its \: break points, ending the part with \c
			# so that roff joins the next input line to it without a
			# space; else break at the first space after it.
			for (i = 76; i > 1; i--)
				if (substr(line, i - 1, 2) == "\\:")
					break
			if (i > 1) {
				print substr(line, 1, i) "\\c"
				line = substr(line, i + 1)
				continue
			}
			for (i = 80; i <= length(line); i++)
				if (substr(line, i, 1) == " " && breakable(line, i)) {
					cut = i
					break
				}
			if (!cut)
				break
		}
		print substr(line, 1, cut - 1)
		line = substr(line, cut + 1)
		if (line ~ /^[.']/)
			line = "\\&" line
	}
	print line
}

{
	if ($0 == ".P") {
		# After a section title, or with another .P already waiting, it is empty.
		if (!after_heading)
			pending = 1
		next
	}
	if (pending && $0 ~ /^\.RE( |$)/) {
		# The space after an indented block: it goes after the .RE.
		print
		depth--
		next
	}
	if (pending && !is_break($0))
		print ".P"
	pending = 0
	after_heading = ($0 ~ /^\.(SH|SS|TH)( |$)/)

	if ($0 ~ /^\.nf( |$)/)
		nofill = 1
	else if ($0 ~ /^\.fi( |$)/)
		nofill = 0
	if ($0 ~ /^\.RS( |$)/)
		depth++
	else if ($0 ~ /^\.RE( |$)/ && depth > 0)
		depth--

	if (nofill || $0 ~ /^[.']/)
		print
	else
		put_text($0)
	if ($0 ~ /^\.TH /) {
		print ".nh"
		print ".ad l"
	}
}

END {
	while (depth-- > 0)
		print ".RE"
}
