/* SPDX-License-Identifier: MIT */
/* log: the only way pam_isc writes a log line.
 *
 * A line is "event=NAME key=value key=value ...". Values are sanitised:
 * a value with spaces, quotes, '=', or any byte outside printable ASCII is
 * written in double quotes with \" \\ and \xNN escapes, and values are cut
 * at LOG_VALUE_MAX bytes (marked with "..."), so that a hostile user name or
 * an error text from the network can never forge a second log line or token.
 * The sink decides where the line goes (syslog(3) in the helper, pam_syslog
 * in the module, a buffer in unit tests). */
#ifndef PAM_ISC_LOG_H
#define PAM_ISC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define LOG_VALUE_MAX 200
#define LOG_LINE_MAX 1024

typedef void (*log_sink_fn)(void *sink_ctx, int priority, const char *line);

struct log_ctx {
	log_sink_fn sink;
	void *sink_ctx;
	bool debug; /* LOG_DEBUG lines are dropped unless set */
};

/* Format event plus NULL-terminated key, value pairs into buf (always
 * NUL-terminated, truncated to size). A NULL value skips that pair.
 * Returns the length written. */
size_t log_format(char *buf, size_t size, const char *event, ...) __attribute__((sentinel));
size_t log_vformat(char *buf, size_t size, const char *event, va_list ap);

/* Format and hand to the sink. priority is a syslog level (LOG_ERR ...).
 * The pairs end with a NULL key; sentinel makes the compiler check that
 * every call ends with a null pointer (not a plain 0, which varargs would
 * read as an int). */
void log_event(const struct log_ctx *lc, int priority, const char *event, ...)
	__attribute__((sentinel));

/* Sink writing with syslog(LOG_AUTHPRIV | priority, "%s", line). */
void log_syslog_sink(void *sink_ctx, int priority, const char *line);

#endif
