/* SPDX-License-Identifier: MIT */
/* text: checks on text that comes from outside (configuration values,
 * module arguments, user names and lines of the module <-> helper
 * protocol), shared so that every reader applies the same rule; UTF-8; and
 * the showing of text that came from the network.
 *
 * ISC's answers (names, ids, error texts, the states of a change) are the
 * network's words: before a program prints one to a person's terminal it
 * goes through text_for_terminal, so that no escape sequence from the
 * network reaches the terminal (retitling it, clearing it, rewriting what
 * the administrator sees) and no line break forges a line of output. Log
 * lines need no such step: log.c already escapes every byte outside
 * printable ASCII. */
#ifndef PAM_ISC_TEXT_H
#define PAM_ISC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Flags of text_has_control. */
enum {
	/* A tab is allowed: configuration values, where the parser treats it
	 * as a blank like a space (around the commas of skip_users, ...). */
	TEXT_ALLOW_TAB = 1 << 0,
};

/* True when s holds a C0 control character (0x01-0x1f) or DEL (0x7f),
 * except a tab with TEXT_ALLOW_TAB. Such a byte in a user name, a path or
 * a protocol line could start a second line of a log, a request or a
 * verdict, so everything pam_isc reads from outside is refused with one.
 * Bytes from 0x80 up are not checked here: they are UTF-8 (or not), and
 * the log escapes them. */
bool text_has_control(const char *s, unsigned int flags);

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0 if it is not one
 * (n == 0 included). */
size_t text_utf8_len(const unsigned char *s, size_t n);

/* Copy text (NULL: "") into out for printing: valid, printable UTF-8 as it
 * is; control characters (C0 including ESC, BEL, tab and line breaks, DEL)
 * and bytes that are not UTF-8 as \xNN; C1 controls (U+0080..U+009F) and the
 * characters that reorder or break lines (U+061C, U+200E, U+200F,
 * U+2028..U+202E, U+2066..U+2069) as \uNNNN. A backslash stays a backslash:
 * the result is for eyes, not to be parsed back. out is always
 * NUL-terminated; what does not fit is cut between characters (an escape is
 * never split) and marked with "...". */
enum text_shown {
	TEXT_WHOLE = 0,
	TEXT_CUT = 1,      /* marked with "..." */
	TEXT_NO_ROOM = -1, /* out is NULL or outsize 0 */
};
enum text_shown text_for_terminal(const char *text, char *out, size_t outsize);

#endif
