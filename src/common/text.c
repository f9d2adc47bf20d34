/* SPDX-License-Identifier: MIT */
/* text: see text.h. */
#include "text.h"

#include <stdio.h>
#include <string.h>

bool text_has_control(const char *s, unsigned int flags)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\t' && (flags & TEXT_ALLOW_TAB))
			continue;
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

#define CUT_MARK "..."
#define CUT_MARK_LEN 3

size_t text_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c == 0xE0) {
		need = 2;
		lo = 0xA0;
	} else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
		need = 2;
	} else if (c == 0xED) {
		need = 2;
		hi = 0x9F;
	} else if (c == 0xF0) {
		need = 3;
		lo = 0x90;
	} else if (c >= 0xF1 && c <= 0xF3) {
		need = 3;
	} else if (c == 0xF4) {
		need = 3;
		hi = 0x8F;
	} else {
		return 0;
	}
	if (n - 1 < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k <= need; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/* The code point of a well-formed sequence of len bytes (len 2 or 3; four
 * bytes are above U+FFFF, where nothing is escaped). */
static unsigned int code_point(const unsigned char *s, size_t len)
{
	if (len == 2)
		return ((unsigned int)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	return ((unsigned int)(s[0] & 0x0F) << 12) | ((unsigned int)(s[1] & 0x3F) << 6) |
	       (s[2] & 0x3F);
}

/* C1 controls, and the invisible characters that change how the text
 * around them is ordered or broken into lines (Arabic letter mark, LRM/RLM,
 * line and paragraph separators, bidi embeddings, overrides and isolates). */
static bool unsafe_code_point(unsigned int cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* How the character (or stray byte) at s[0..n) is shown: its text into
 * enc (at least 8 bytes, not NUL-terminated) and its length; *used gets the
 * number of input bytes it stands for. */
static size_t show_one(const unsigned char *s, size_t n, char enc[8], size_t *used)
{
	size_t len = text_utf8_len(s, n);

	if (len == 0 || (len == 1 && (s[0] < 0x20 || s[0] == 0x7F))) {
		/* A control byte, or a byte that starts no character. */
		snprintf(enc, 8, "\\x%02x", s[0]);
		*used = 1;
		return 4;
	}
	*used = len;
	if (len > 1 && len < 4 && unsafe_code_point(code_point(s, len))) {
		snprintf(enc, 8, "\\u%04x", code_point(s, len));
		return 6;
	}
	memcpy(enc, s, len);
	return len;
}

enum text_shown text_for_terminal(const char *text, char *out, size_t outsize)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	size_t n = strlen((const char *)s), o = 0, total = 0, used, k, mark;
	size_t reserve = 0; /* room kept for the cut mark */
	char enc[8];

	if (!out || outsize == 0)
		return -1;
	for (size_t i = 0; i < n; i += used)
		total += show_one(s + i, n - i, enc, &used);
	if (total >= outsize)
		reserve = CUT_MARK_LEN;
	for (size_t i = 0; i < n; i += used) {
		k = show_one(s + i, n - i, enc, &used);
		if (o + k + reserve + 1 > outsize) {
			/* Cut here, between two pieces: the mark, or as much of
			 * it as fits in a buffer too small for it. */
			mark = outsize - 1 - o < CUT_MARK_LEN ? outsize - 1 - o : CUT_MARK_LEN;
			memcpy(out + o, CUT_MARK, mark);
			out[o + mark] = '\0';
			return 1;
		}
		memcpy(out + o, enc, k);
		o += k;
	}
	out[o] = '\0';
	return 0;
}
