/* SPDX-License-Identifier: MIT */
/* errbuf: see errbuf.h. */
#include "errbuf.h"

#include <stdio.h>

void errbuf_vset(char *err, size_t errsize, const char *fmt, va_list ap)
{
	if (!err || errsize == 0)
		return;
	if (vsnprintf(err, errsize, fmt, ap) < 0)
		err[0] = '\0';
}

void errbuf_set(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(err, errsize, fmt, ap);
	va_end(ap);
}
