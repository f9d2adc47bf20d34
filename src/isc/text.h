/* text: UTF-8 and the showing of text that came from the network.
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

#include <stddef.h>

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
 * never split) and marked with "...".
 * Returns 0, 1 when the text was cut, -1 when out is NULL or outsize 0. */
int text_for_terminal(const char *text, char *out, size_t outsize);

#endif
