/* text: checks on text that comes from outside (configuration values,
 * module arguments, user names and lines of the module <-> helper
 * protocol), shared so that every reader applies the same rule. */
#ifndef PAM_ISC_TEXT_H
#define PAM_ISC_TEXT_H

#include <stdbool.h>

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

#endif
