/* SPDX-License-Identifier: MIT */
/* errbuf: the one way the ISC units write a short reason into a caller's
 * error buffer (char *err, size_t errsize). */
#ifndef PAM_ISC_ERRBUF_H
#define PAM_ISC_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* printf into err, always NUL-terminated, cut to errsize. A NULL err or an
 * errsize of 0 is allowed (the caller wants no reason). It cannot fail: a
 * reason cut short is still a reason. */
void errbuf_set(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void errbuf_vset(char *err, size_t errsize, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
