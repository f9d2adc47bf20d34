/* SPDX-License-Identifier: MIT */
/* log: see log.h.
 *
 * The output is always pure printable ASCII: every byte a user name or a
 * network error text could use to confuse a log reader (newlines, escape
 * sequences, UTF-8 bidi controls) comes out as a visible \xNN escape. */
#include "log.h"

#include <string.h>
#include <syslog.h>

/* "..." marks a value that was cut, by LOG_VALUE_MAX or by the line size. */
#define CUT_MARK "..."
#define CUT_MARK_LEN 3

/* A bounded, always NUL-terminated line under construction. Once something
 * does not fit the line is full and nothing more is added, so what a reader
 * sees is always a prefix of the whole line, cut between pairs or at the end
 * of a value marked with "...". */
struct line_writer {
	char *buf;
	size_t size; /* > 0 */
	size_t len;
	bool full;
};

static bool fits(const struct line_writer *w, size_t n)
{
	return w->len + n < w->size; /* keeps one byte for the NUL */
}

static void append(struct line_writer *w, const char *s, size_t n)
{
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static bool bare_byte(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

static bool needs_quotes(const char *v, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!bare_byte((unsigned char)v[i]))
			return true;
	return false;
}

/* How byte c is written inside a value; returns the length (1, 2 or 4). */
static size_t encode_byte(unsigned char c, char out[4])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[c >> 4];
		out[3] = hex[c & 0xf];
		return 4;
	}
	out[0] = (char)c;
	return 1;
}

/* Write v[0..n) escaped, stopping at the first byte whose escape does not
 * fit whole while keeping room for "reserve" more bytes: an escape is never
 * cut. */
static void append_escaped(struct line_writer *w, const char *v, size_t n, size_t reserve)
{
	char enc[4];

	for (size_t i = 0; i < n; i++) {
		size_t k = encode_byte((unsigned char)v[i], enc);
		if (!fits(w, k + reserve))
			return;
		append(w, enc, k);
	}
}

/* Append [" "]key=value. A pair that does not fit is cut inside its value
 * (ending in "..." and, when quoted, the closing quote) or, if not even that
 * fits, left out; either way the line is then full. */
static void append_pair(struct line_writer *w, const char *key, const char *value)
{
	size_t key_len = strlen(key);
	size_t sep = w->len > 0 ? 1 : 0;
	size_t n = strnlen(value, LOG_VALUE_MAX + 1);
	bool cut = n > LOG_VALUE_MAX;
	bool quoted, whole;
	size_t quote, encoded = 0; /* quote: 1 when the value is in quotes */
	char enc[4];

	if (w->full)
		return;
	if (cut)
		n = LOG_VALUE_MAX;
	quoted = needs_quotes(value, n);
	quote = quoted ? 1 : 0;
	for (size_t i = 0; i < n; i++)
		encoded += encode_byte((unsigned char)value[i], enc);

	whole = fits(w, sep + key_len + 1 + 2 * quote + encoded + (cut ? CUT_MARK_LEN : 0));
	/* Otherwise at least key=... (or key="...") must fit. */
	if (!whole && !fits(w, sep + key_len + 1 + 2 * quote + CUT_MARK_LEN)) {
		w->full = true;
		return;
	}
	append(w, " ", sep);
	append(w, key, key_len);
	append(w, "=", 1);
	if (quoted)
		append(w, "\"", 1);
	if (whole) {
		append_escaped(w, value, n, 0);
	} else {
		append_escaped(w, value, n, CUT_MARK_LEN + quote);
		w->full = true;
		cut = true;
	}
	if (cut)
		append(w, CUT_MARK, CUT_MARK_LEN);
	if (quoted)
		append(w, "\"", 1);
}

size_t log_vformat(char *buf, size_t size, const char *event, va_list ap)
{
	struct line_writer w = { .buf = buf, .size = size, .len = 0, .full = false };
	const char *key, *value;

	if (!buf || size == 0)
		return 0;
	buf[0] = '\0';
	append_pair(&w, "event", event ? event : "");
	while (!w.full && (key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value)
			append_pair(&w, key, value);
	}
	return w.len;
}

size_t log_format(char *buf, size_t size, const char *event, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, event);
	n = log_vformat(buf, size, event, ap);
	va_end(ap);
	return n;
}

void log_event(const struct log_ctx *lc, int priority, const char *event, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (!lc || !lc->sink)
		return;
	if (LOG_PRI(priority) == LOG_DEBUG && !lc->debug)
		return;
	va_start(ap, event);
	log_vformat(line, sizeof line, event, ap);
	va_end(ap);
	lc->sink(lc->sink_ctx, priority, line);
}

void log_syslog_sink(void *sink_ctx, int priority, const char *line)
{
	(void)sink_ctx;
	syslog(LOG_AUTHPRIV | priority, "%s", line);
}
