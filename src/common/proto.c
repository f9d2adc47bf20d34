/* SPDX-License-Identifier: MIT */
/* proto: see proto.h for the wire format. */
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

/* Header lines plus the largest password, with room to spare. */
#define PROTO_REQUEST_MAX (PROTO_PATH_MAX + 1024 + PROTO_AUTHTOK_MAX)

static const char *const reason_names[] = {
	[PROTO_REASON_NONE] = "none",
	[PROTO_REASON_CONFIG] = "config",
	[PROTO_REASON_UNREACHABLE] = "unreachable",
	[PROTO_REASON_REJECTED] = "rejected",
	[PROTO_REASON_ACCOUNT] = "account",
	[PROTO_REASON_TOO_LONG] = "too_long",
	[PROTO_REASON_FAILED] = "failed",
	[PROTO_REASON_INTERNAL] = "internal",
	[PROTO_REASON_BUSY] = "busy",
	[PROTO_REASON_RATE_LIMITED] = "rate_limited",
};
#define N_REASONS (sizeof reason_names / sizeof reason_names[0])

const char *proto_reason_name(enum proto_reason r)
{
	if ((size_t)r < N_REASONS)
		return reason_names[r];
	return "internal";
}

static int reason_from_name(const char *s, enum proto_reason *out)
{
	for (size_t i = 1; i < N_REASONS; i++) {
		if (strcmp(s, reason_names[i]) == 0) {
			*out = (enum proto_reason)i;
			return 0;
		}
	}
	return -1;
}

bool proto_user_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > PROTO_USER_MAX)
		return false;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return !text_has_control(s, 0) && strchr(s, '/') == NULL;
}

bool proto_request_id_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > PROTO_REQUEST_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int proto_send_request(int fd, const struct proto_request *req)
{
	char header[PROTO_PATH_MAX + 512];
	int n;

	if (strchr(req->config_path, '\n') || !proto_user_name_valid(req->user) ||
	    text_has_control(req->service, 0) || req->authtok.len > PROTO_AUTHTOK_MAX) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(header, sizeof header,
		     PROTO_MAGIC "\nconfig=%s\nuser=%s\nservice=%s\ndebug=%d\nphase=%s\n"
				 "caller=%u\ndeadline=%lld\nauthtok=%zu\n",
		     req->config_path, req->user, req->service, req->debug ? 1 : 0,
		     req->phase == PROTO_PHASE_PRELIM ? "prelim" : "update",
		     (unsigned)req->caller_uid, req->deadline_ms, req->authtok.len);
	if (n < 0 || (size_t)n >= sizeof header) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (io_write_all(fd, header, (size_t)n) < 0)
		return -1;
	if (req->authtok.len > 0 && io_write_all(fd, req->authtok.data, req->authtok.len) < 0)
		return -1;
	return 0;
}

/* Take the next '\n'-terminated line starting at *pos; returns it
 * NUL-terminated in line, or -1 when there is none or it is too long. */
static int next_line(const unsigned char *buf, size_t len, size_t *pos, char *line, size_t size)
{
	size_t start = *pos, i;

	for (i = start; i < len && buf[i] != '\n'; i++)
		if (buf[i] == '\0')
			return -1;
	if (i >= len || i - start >= size)
		return -1;
	memcpy(line, buf + start, i - start);
	line[i - start] = '\0';
	*pos = i + 1;
	return 0;
}

/* Read "key=value" where key is expected; copy value into out. */
static int expect_field(const unsigned char *buf, size_t len, size_t *pos, const char *key,
			char *out, size_t size)
{
	char line[PROTO_PATH_MAX + 32];
	size_t klen = strlen(key);

	if (next_line(buf, len, pos, line, sizeof line) < 0)
		return -1;
	if (strncmp(line, key, klen) != 0 || line[klen] != '=')
		return -1;
	if (strlen(line + klen + 1) >= size)
		return -1;
	strcpy(out, line + klen + 1);
	return 0;
}

/* A decimal number without sign, blanks or leading zeros, at most max. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno != 0 || *end != '\0' || *out > max ? -1 : 0;
}

int proto_parse_request(const unsigned char *buf, size_t len, struct proto_request *req, char *err,
			size_t errsize)
{
	char value[32], *end;
	size_t pos = 0;
	unsigned long n;

	memset(req, 0, sizeof *req);
	if (next_line(buf, len, &pos, value, sizeof value) < 0 || strcmp(value, PROTO_MAGIC) != 0) {
		snprintf(err, errsize, "not a pam_isc request");
		return -1;
	}
	if (expect_field(buf, len, &pos, "config", req->config_path, sizeof req->config_path) < 0 ||
	    req->config_path[0] != '/') {
		snprintf(err, errsize, "bad config field");
		return -1;
	}
	if (expect_field(buf, len, &pos, "user", req->user, sizeof req->user) < 0 ||
	    !proto_user_name_valid(req->user)) {
		snprintf(err, errsize, "bad user field");
		return -1;
	}
	if (expect_field(buf, len, &pos, "service", req->service, sizeof req->service) < 0 ||
	    text_has_control(req->service, 0)) {
		snprintf(err, errsize, "bad service field");
		return -1;
	}
	if (expect_field(buf, len, &pos, "debug", value, sizeof value) < 0 ||
	    (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)) {
		snprintf(err, errsize, "bad debug field");
		return -1;
	}
	req->debug = value[0] == '1';
	if (expect_field(buf, len, &pos, "phase", value, sizeof value) < 0 ||
	    (strcmp(value, "prelim") != 0 && strcmp(value, "update") != 0)) {
		snprintf(err, errsize, "bad phase field");
		return -1;
	}
	req->phase = value[0] == 'p' ? PROTO_PHASE_PRELIM : PROTO_PHASE_UPDATE;
	if (expect_field(buf, len, &pos, "caller", value, sizeof value) < 0 ||
	    parse_uint(value, UINT32_MAX - 1, &n) < 0) {
		snprintf(err, errsize, "bad caller field");
		return -1;
	}
	req->caller_uid = (uid_t)n;
	if (expect_field(buf, len, &pos, "deadline", value, sizeof value) < 0 ||
	    parse_uint(value, LLONG_MAX, &n) < 0 || n == 0) {
		snprintf(err, errsize, "bad deadline field");
		return -1;
	}
	req->deadline_ms = (long long)n;
	if (expect_field(buf, len, &pos, "authtok", value, sizeof value) < 0 || value[0] < '0' ||
	    value[0] > '9') {
		snprintf(err, errsize, "bad authtok field");
		return -1;
	}
	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || n > PROTO_AUTHTOK_MAX || n != len - pos ||
	    (req->phase == PROTO_PHASE_PRELIM && n != 0)) {
		snprintf(err, errsize, "authtok length does not match");
		return -1;
	}
	if (secret_set(&req->authtok, buf + pos, n) < 0) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	return 0;
}

/* Wait at most idle_ms for fd to become readable. Returns 0, or -1 (err set). */
static int wait_readable(int fd, int idle_ms, char *err, size_t errsize)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, idle_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			snprintf(err, errsize, "poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0) {
			snprintf(err, errsize, "no request within %d ms", idle_ms);
			return -1;
		}
		return 0;
	}
}

/* Read exactly want bytes (or up to EOF) into buf, waiting at most idle_ms
 * for each piece. Returns the bytes read, or -1 (err set). */
static ssize_t read_bounded(int fd, int idle_ms, unsigned char *buf, size_t want, char *err,
			    size_t errsize)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n;

		if (wait_readable(fd, idle_ms, err, errsize) < 0)
			return -1;
		n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsize, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Peek, waiting at most idle_ms, at what fd holds, up to max bytes, without
 * consuming any. Returns the bytes there (0: EOF), -1 (err set), or -2
 * when fd is not a socket and cannot be peeked at. */
static ssize_t peek_bounded(int fd, int idle_ms, unsigned char *buf, size_t max, char *err,
			    size_t errsize)
{
	for (;;) {
		ssize_t n;

		if (wait_readable(fd, idle_ms, err, errsize) < 0)
			return -1;
		n = recv(fd, buf, max, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno == ENOTSOCK)
			return -2;
		if (n < 0) {
			snprintf(err, errsize, "read: %s", strerror(errno));
			return -1;
		}
		return n;
	}
}

/* Of the n bytes at buf + from, how many belong to the header: all of them,
 * or those up to the end of the authtok line (the header's last), whose
 * line starts at line_start or later. */
static size_t header_part(const unsigned char *buf, size_t from, size_t n, size_t line_start)
{
	static const char last_key[] = "authtok=";

	for (size_t i = from; i < from + n; i++) {
		if (buf[i] != '\n')
			continue;
		/* the same test as proto_read_request's */
		if (i + 1 - line_start > strlen(last_key) &&
		    memcmp(buf + line_start, last_key, strlen(last_key)) == 0)
			return i + 1 - from;
		line_start = i + 1;
	}
	return n;
}

enum proto_read_result proto_read_request(int fd, int idle_ms, struct proto_request *req, char *err,
					  size_t errsize)
{
	static const char last_key[] = "authtok=";
	unsigned char *buf = malloc(PROTO_REQUEST_MAX + 1);
	size_t len = 0, line_start = 0;
	unsigned long n = 0;
	bool header_done = false;
	enum proto_read_result rc = PROTO_READ_ERROR;

	if (!buf) {
		snprintf(err, errsize, "out of memory");
		return PROTO_READ_ERROR;
	}
	/* The header: as much of it as has arrived, found by peeking, up to the
	 * end of the authtok line, so that nothing of what follows (the
	 * password, a next request) is consumed. A descriptor that is not a
	 * socket is read a byte at a time. */
	while (!header_done) {
		ssize_t r;
		size_t take = 1, end;

		if (len >= PROTO_REQUEST_MAX) {
			snprintf(err, errsize, "request too long");
			goto out;
		}
		r = peek_bounded(fd, idle_ms, buf + len, PROTO_REQUEST_MAX - len, err, errsize);
		if (r == -1)
			goto out;
		if (r > 0)
			take = header_part(buf, len, (size_t)r, line_start);
		if (r != 0) {
			r = read_bounded(fd, idle_ms, buf + len, take, err, errsize);
			if (r < 0)
				goto out;
		}
		if (r == 0) {
			if (len == 0) {
				rc = PROTO_READ_EOF;
				goto out;
			}
			snprintf(err, errsize, "request cut short");
			goto out;
		}
		end = len + (size_t)r;
		for (; len < end; len++) {
			if (buf[len] != '\n')
				continue;
			if (len + 1 - line_start > strlen(last_key) &&
			    memcmp(buf + line_start, last_key, strlen(last_key)) == 0) {
				char *e;
				bool bad;
				buf[len] = '\0';
				errno = 0;
				n = strtoul((char *)buf + line_start + strlen(last_key), &e, 10);
				bad = errno != 0 || *e != '\0';
				buf[len] = '\n';
				if (bad || n > PROTO_AUTHTOK_MAX ||
				    buf[line_start + strlen(last_key)] < '0' ||
				    buf[line_start + strlen(last_key)] > '9') {
					snprintf(err, errsize, "bad authtok field");
					goto out;
				}
				header_done = true;
				len++;
				break;
			}
			line_start = len + 1;
		}
	}
	if (n > 0) {
		ssize_t r = read_bounded(fd, idle_ms, buf + len, n, err, errsize);
		if (r < 0)
			goto out;
		if ((size_t)r != n) {
			snprintf(err, errsize, "request cut short");
			goto out;
		}
		len += n;
	}
	if (proto_parse_request(buf, len, req, err, errsize) == 0)
		rc = PROTO_READ_OK;
out:
	secret_free_buf(buf, PROTO_REQUEST_MAX + 1);
	return rc;
}

size_t proto_format_verdict(const struct proto_verdict *v, char *buf, size_t size)
{
	int n;

	if (v->accepted) {
		if (v->state[0] == '\0')
			return 0;
		n = snprintf(buf, size, "OK state=%s request=%s\n", v->state,
			     v->request_id[0] ? v->request_id : "-");
	} else {
		n = snprintf(buf, size, "FAIL reason=%s%s%s%s\n", proto_reason_name(v->reason),
			     v->state[0] ? " state=" : "", v->state, v->queued ? " queued=1" : "");
	}
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

static bool state_valid(const char *s)
{
	return strcmp(s, "IN_PROGRESS") == 0 || strcmp(s, "FINISHED") == 0 ||
	       strcmp(s, "FAILED") == 0 || strcmp(s, "CHECKED") == 0;
}

int proto_parse_verdict(const char *line, struct proto_verdict *v)
{
	char copy[PROTO_VERDICT_MAX + 1];
	char *tok, *save = NULL;
	size_t len = strlen(line);

	memset(v, 0, sizeof *v);
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == 0 || len > PROTO_VERDICT_MAX)
		return -1;
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (text_has_control(copy, 0))
		return -1;

	tok = strtok_r(copy, " ", &save);
	if (!tok)
		return -1;
	if (strcmp(tok, "OK") == 0)
		v->accepted = true;
	else if (strcmp(tok, "FAIL") != 0)
		return -1;

	/* Strict: each field at most once, and only the fields that
	 * proto_format_verdict writes for this kind of verdict (OK: state and
	 * request; FAIL: reason and state), so that a verdict means exactly one
	 * thing (found by fuzz/targets.c, proto_verdict). */
	bool seen_state = false, seen_request = false, seen_reason = false;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq++ = '\0';
		if (strcmp(tok, "state") == 0) {
			if (seen_state || !state_valid(eq))
				return -1;
			seen_state = true;
			strcpy(v->state, eq);
		} else if (strcmp(tok, "request") == 0 && v->accepted) {
			if (seen_request)
				return -1;
			seen_request = true;
			if (strcmp(eq, "-") != 0) {
				if (!proto_request_id_valid(eq))
					return -1;
				strcpy(v->request_id, eq);
			}
		} else if (strcmp(tok, "reason") == 0 && !v->accepted) {
			if (seen_reason || reason_from_name(eq, &v->reason) < 0)
				return -1;
			seen_reason = true;
		} else if (strcmp(tok, "queued") == 0) {
			if (v->queued || strcmp(eq, "1") != 0)
				return -1;
			v->queued = true;
		} else {
			return -1;
		}
	}
	if (v->accepted && v->state[0] == '\0')
		return -1;
	if (!v->accepted && v->reason == PROTO_REASON_NONE)
		return -1;
	if (v->queued && (v->accepted || (v->reason != PROTO_REASON_UNREACHABLE &&
					  v->reason != PROTO_REASON_RATE_LIMITED)))
		return -1;
	return 0;
}
