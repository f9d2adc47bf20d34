/* SPDX-License-Identifier: MIT */
/* config: see config.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "text.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_LINE_MAX 4096 /* bytes, not counting the LF or CRLF */
#define SECRET_FILE_MAX 4096

/* Where a key is stored: .offset and .size of a struct config member. */
#define FIELD(member) \
	.offset = offsetof(struct config, member), .size = sizeof(((struct config *)0)->member)

/* CONFIG_T_CHOICE value lists: the stored value is the index. */
static const char *const on_error_choices[] = { "fail", "ignore", "queue", NULL };
static const char *const yes_no_choices[] = { "no", "yes", NULL };

const struct config_option config_options[] = {
	{
		.name = "api_url",
		.type = CONFIG_T_URL,
		.required = true,
		FIELD(api_url),
		.description = "Base URL of the tenant's Identity Security Cloud API, for example "
			       "https://acme.api.identitynow.com. Only https:// is accepted; the "
			       "URL must name a host and may not contain user information, a "
			       "query or a fragment. A trailing slash is ignored. Required.",
	},
	{
		.name = "api_version",
		.type = CONFIG_T_VERSION,
		.default_value = "v3",
		FIELD(api_version),
		.description = "Version of the ISC API used for the password calls: v3, beta, "
			       "v2024, v2025 or v2026 (paths such as /v3/set-password), or v1 "
			       "(paths such as /set-password/v1). Default: v3.",
	},
	{
		.name = "client_id",
		.type = CONFIG_T_STRING,
		.required = true,
		FIELD(client_id),
		.description = "Client ID of the ISC API client (personal access token or OAuth "
			       "client) that pam_isc authenticates as, with the client credentials "
			       "grant. Required.",
	},
	{
		.name = "client_secret_file",
		.type = CONFIG_T_PATH,
		FIELD(client_secret_file),
		.description = "Absolute path of a file whose first line is the client secret "
			       "(a trailing CR or LF is removed); keep it readable by root only. "
			       "Only the helper reads it, never passwd itself. Exactly one of "
			       "client_secret_file and client_secret must be set.",
	},
	{
		.name = "client_secret",
		.type = CONFIG_T_SECRET,
		FIELD(client_secret),
		.description = "The client secret itself, written in this file. Prefer "
			       "client_secret_file, which keeps the secret out of the "
			       "configuration. Exactly one of client_secret_file and client_secret "
			       "must be set.",
	},
	{
		.name = "source_name",
		.type = CONFIG_T_STRING,
		.required = true,
		FIELD(source_name),
		.description = "Display name of the ISC source that holds this host's accounts, "
			       "for example Linux Hosts; the new password is set on the user's "
			       "account on this source. Required.",
	},
	{
		.name = "user_name_format",
		.type = CONFIG_T_FORMAT,
		.default_value = "%u",
		FIELD(user_name_format),
		.description = "How a local user name becomes the name of the ISC identity whose "
			       "password is changed: %u stands for the user name and %% for a "
			       "percent sign; no other % sequence is allowed. Default: %u.",
	},
	{
		.name = "account_name_format",
		.type = CONFIG_T_FORMAT,
		.default_value = "%u",
		FIELD(account_name_format),
		.description = "How a local user name becomes the account name on source_name, "
			       "used to pick the account when the identity has several there: %u "
			       "stands for the user name and %% for a percent sign; no other % "
			       "sequence is allowed. Default: %u.",
	},
	{
		.name = "ca_file",
		.type = CONFIG_T_PATH,
		FIELD(ca_file),
		.description = "Absolute path of a PEM file with the CA certificates trusted for "
			       "the ISC API. When it is not set, the system certificate store is "
			       "used.",
	},
	{
		.name = "timeout",
		.type = CONFIG_T_UINT,
		.default_value = "10",
		.min = 1,
		.max = 300,
		FIELD(timeout),
		.description = "How long passwd waits in all, in seconds, for Identity Security "
			       "Cloud to take the new password (token, lookup and set-password "
			       "together), from 1 to 300. Default: 10.",
	},
	{
		.name = "status_timeout",
		.type = CONFIG_T_UINT,
		.default_value = "7200",
		.min = 1,
		.max = 604800,
		FIELD(status_timeout),
		.description = "How long, in seconds, the background follow-up keeps asking ISC "
			       "for the outcome of a change that ISC accepted but had not "
			       "finished, from 1 to 604800 (7 days). Default: 7200.",
	},
	{
		.name = "status_interval",
		.type = CONFIG_T_UINT,
		.default_value = "2",
		.min = 1,
		.max = 3600,
		FIELD(status_interval),
		.description = "Seconds the background follow-up waits before it first asks ISC "
			       "for the status of a change, from 1 to 3600; each further wait is "
			       "twice as long, up to 15 minutes. Default: 2.",
	},
	{
		.name = "min_uid",
		.type = CONFIG_T_UINT,
		.default_value = "1000",
		.min = 0,
		.max = 4294967295UL,
		FIELD(min_uid),
		.description = "Users whose uid is below this number are left alone: their "
			       "password is changed locally only. From 0 to 4294967295. "
			       "Default: 1000.",
	},
	{
		.name = "skip_users",
		.type = CONFIG_T_LIST,
		.default_value = "root",
		FIELD(skip_users),
		.description = "Comma-separated user names whose password is never sent to ISC; "
			       "spaces around the commas are allowed, and an empty value skips "
			       "no one. Default: root.",
	},
	{
		.name = "runtime_dir",
		.type = CONFIG_T_PATH,
		.default_value = "/run/pam_isc",
		FIELD(runtime_dir),
		.description = "Absolute path of the root-only directory (mode 0700, created if "
			       "missing) where the helper keeps the cached access token and the "
			       "changes it is still following. Default: /run/pam_isc.",
	},
	{
		.name = "helper_linger",
		.type = CONFIG_T_UINT,
		.default_value = "10",
		.min = 0,
		.max = 600,
		FIELD(helper_linger),
		.description =
			"Seconds the per-host service (pam_isc_helper serve) stays when "
			"idle, from 0 to 600. The service serves the changes of the whole "
			"host over a socket in runtime_dir that only root can reach, keeping "
			"the token and the TLS connection to ISC, so that a change costs no "
			"process start and no TLS handshake (chpasswd, directory sync). "
			"systemd starts it through pam-isc.socket; without systemd a helper "
			"leaves one behind only when its caller was root in the host's own "
			"context, never from an ordinary user's passwd. 0: no service; every "
			"change starts a one-shot helper, which exits after it. Default: 10.",
	},
	/* ---- failure policy and offline queue ---- */
	{
		.name = "on_error",
		.type = CONFIG_T_CHOICE,
		.default_value = "queue",
		.choices = on_error_choices,
		FIELD(on_error),
		.description = "What a password change does when Identity Security Cloud cannot "
			       "be reached (network or TLS failure, timeout, HTTP 5xx, or rate "
			       "limiting that outlasts timeout): fail refuses the change (with "
			       "prelim_check = yes before any module of the stack changed "
			       "anything); ignore lets the local change stand and does not tell "
			       "ISC; queue lets the local change stand and keeps the change, "
			       "encrypted with ISC's public key, in state_dir until pam_isc_ctl "
			       "flush delivers it. When ISC answers but refuses (unknown identity, "
			       "no or several accounts, HTTP 4xx), nothing is ever queued: fail "
			       "refuses the change, ignore and queue let the local change stand "
			       "and log an error. Default: queue.",
	},
	{
		.name = "prelim_check",
		.type = CONFIG_T_CHOICE,
		.default_value = "yes",
		.choices = yes_no_choices,
		FIELD(prelim_check),
		.description = "yes: in the preliminary phase of a password change, before any "
			       "module of the stack changes anything, fetch a token and look the "
			       "user up in ISC (identity, exactly one account, public key); with "
			       "on_error = fail, an unreachable ISC or a user ISC cannot take "
			       "makes the change fail there, so the local password stays as it "
			       "was. The lookup is not repeated in the update phase. no: "
			       "everything happens in the update phase. Default: yes.",
	},
	{
		.name = "state_dir",
		.type = CONFIG_T_PATH,
		.default_value = "/var/lib/pam_isc",
		FIELD(state_dir),
		.description = "Absolute path of the root-only directory (mode 0700, created if "
			       "missing) that keeps the offline queue and the public key of the "
			       "source cached from the last successful lookup; it must survive a "
			       "reboot. Default: /var/lib/pam_isc.",
	},
	{
		.name = "queue_max_age",
		.type = CONFIG_T_UINT,
		.default_value = "604800",
		.min = 60,
		.max = 31536000,
		FIELD(queue_max_age),
		.description = "Seconds after which a queued change that could not be delivered "
			       "is dropped (and logged) instead of being sent, from 60 to 31536000 "
			       "(a year). Default: 604800 (7 days).",
	},
	/* --- proxy and TLS pinning --- */
	{
		.name = "proxy",
		.type = CONFIG_T_PROXY,
		FIELD(proxy),
		.description =
			"The proxy to reach the ISC API through, as a URL: http://HOST:PORT, "
			"https://HOST:PORT, socks5://HOST:PORT or socks5h://HOST:PORT. "
			"This is the only way a proxy is ever used: proxy variables in "
			"the environment (https_proxy, ALL_PROXY, NO_PROXY...) are "
			"ignored. Default: none, the API is reached directly.",
	},
	{
		.name = "pinned_public_key",
		.type = CONFIG_T_PIN,
		FIELD(pinned_public_key),
		.description = "Pin the public key of the ISC API server, on top of the usual "
			       "certificate and host name checks (which are always on): "
			       "sha256// followed by the Base64 SHA-256 of the server "
			       "certificate's DER SubjectPublicKeyInfo; several pins are "
			       "separated by ';' (e.g. the current and the next key). A server "
			       "whose key matches none is refused. Default: no pin.",
	},
	/* --- password sync groups --- */
	{
		.name = "ignore_changes_by",
		.type = CONFIG_T_LOGINS,
		.default_value = "",
		FIELD(ignore_changes_by),
		.description =
			"Comma-separated login names or uids (a value of digits only is a "
			"uid) of the accounts whose sessions send no password change to "
			"ISC: the service account that ISC's connector for this host's "
			"source logs in as. When that source is in a person's password sync "
			"group, ISC sets the new password here itself, through the "
			"connector (over SSH, passwd or chpasswd run through sudo); sending "
			"that change back would make ISC fan it out again. A change is "
			"recognised by the audit login uid of the session it is made in "
			"(/proc/self/loginuid: set by pam_loginuid at login, kept across "
			"sudo and su, not changeable by the user): when it is the uid of a "
			"listed account, the change is made locally only, logged as "
			"event=skipped reason=ignore_changes_by, and neither sent nor "
			"queued. Names are looked up when a change is made; a name the "
			"name service does not know then (its directory may be down) is "
			"logged as a warning and that entry is ignored. A session without "
			"a login uid (not started by a login) is never ignored. Spaces around the commas are allowed; empty: every "
			"change is sent.",
	},
	/* --- request budget, queue warnings, metrics --- */
	{
		.name = "rate_limit",
		.type = CONFIG_T_RATE,
		.default_value = "100/10",
		FIELD(rate_limit),
		.description = "The most API requests this host sends to ISC in any window of "
			       "time, as REQUESTS/SECONDS (1 to 10000 requests, 1 to 3600 "
			       "seconds), or 0 for no limit. ISC allows 100 requests per access "
			       "token in 10 seconds and answers more with HTTP 429; the host "
			       "shares one token, so every process that talks to ISC (the "
			       "per-host service, one-shot helpers, the follower, pam_isc_ctl) "
			       "takes its requests from one budget kept in runtime_dir, and a "
			       "429's Retry-After stops all of them until then. A change the "
			       "budget cannot serve within timeout is queued at once (with "
			       "on_error = queue) without spending requests; the per-host service "
			       "delivers the queue as the budget allows, and status polls of the "
			       "follower give way to deliveries. Lower it when several hosts "
			       "share one API client. Default: 100/10.",
	},
	{
		.name = "queue_warn",
		.type = CONFIG_T_UINT,
		.default_value = "100",
		.min = 1,
		.max = 100000,
		FIELD(queue_warn),
		.description = "A warning is logged (event=queue_warn) when the offline queue "
			       "holds more entries than this, and when its oldest entry is older "
			       "than an hour; once per crossing, again after the queue came back "
			       "under. From 1 to 100000. Default: 100.",
	},
	{
		.name = "metrics_file",
		.type = CONFIG_T_PATH,
		FIELD(metrics_file),
		.description = "Write the figures of pam_isc_ctl status to this file in the "
			       "Prometheus text format, for node_exporter's textfile collector "
			       "(its directory, e.g. /var/lib/prometheus/node-exporter, with a "
			       "name ending in .prom): changes accepted, failed, queued and "
			       "dropped; queue depth; oldest entry age; 429 answers; time of the "
			       "last delivery. Rewritten atomically (a temporary file renamed "
			       "over it), mode 0644, after every change. Default: none.",
	},
	{ .name = NULL },
};

#define N_OPTIONS (sizeof config_options / sizeof config_options[0] - 1)

static const struct {
	const char *name;
	enum config_api_form form;
} api_versions[] = {
	{ "v3", CONFIG_API_PREFIX },    { "beta", CONFIG_API_PREFIX },
	{ "v2024", CONFIG_API_PREFIX }, { "v2025", CONFIG_API_PREFIX },
	{ "v2026", CONFIG_API_PREFIX }, { "v1", CONFIG_API_SERVICE },
};

/* ---- errors ------------------------------------------------------------- */

/* Copy src for a message: cut to fit, anything but printable ASCII as '?',
 * since keys come from the file and the text may end up on a terminal. */
static void copy_printable(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = (src[i] >= ' ' && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void error_reset(struct config_error *err, const char *file)
{
	memset(err, 0, sizeof *err);
	snprintf(err->file, sizeof err->file, "%s", file ? file : "");
}

__attribute__((format(printf, 4, 5))) static void set_error(struct config_error *err, unsigned line,
							    const char *key, const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	copy_printable(err->key, sizeof err->key, key);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

size_t config_error_format(const struct config_error *err, char *buf, size_t size)
{
	char where[sizeof err->file + 16] = "", key[sizeof err->key + 8] = "";
	const char *parts[3];
	size_t n_parts = 0, len = 0;

	if (!buf || size == 0)
		return 0;
	if (err->file[0] && err->line)
		snprintf(where, sizeof where, "%s:%u", err->file, err->line);
	else if (err->file[0])
		snprintf(where, sizeof where, "%s", err->file);
	else if (err->line)
		snprintf(where, sizeof where, "line %u", err->line);
	if (err->key[0])
		snprintf(key, sizeof key, "key %s", err->key);
	if (where[0])
		parts[n_parts++] = where;
	if (key[0])
		parts[n_parts++] = key;
	if (err->message[0])
		parts[n_parts++] = err->message;

	buf[0] = '\0';
	for (size_t i = 0; i < n_parts && len + 1 < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? ": " : "", parts[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return len < size ? len : size - 1;
}

/* ---- values ------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int store_string(char **field, const char *value, size_t len, char *msg, size_t msgsize)
{
	char *copy = strndup(value, len);

	if (!copy) {
		snprintf(msg, msgsize, "out of memory");
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

static int check_url(const char *url, char *msg, size_t msgsize)
{
	static const char scheme[] = "https://";
	const char *host;
	size_t authority_len;

	if (strncmp(url, scheme, strlen(scheme)) != 0) {
		snprintf(msg, msgsize, "must start with https://");
		return -1;
	}
	host = url + strlen(scheme);
	if (strpbrk(url, " \t")) {
		snprintf(msg, msgsize, "must not contain whitespace");
		return -1;
	}
	authority_len = strcspn(host, "/?#");
	if (authority_len == 0 || host[0] == ':') {
		snprintf(msg, msgsize, "must name a host after https://");
		return -1;
	}
	if (memchr(host, '@', authority_len)) {
		snprintf(msg, msgsize, "must not contain user information ('@')");
		return -1;
	}
	if (strpbrk(url, "?#")) {
		snprintf(msg, msgsize, "must not contain a query or fragment");
		return -1;
	}
	return 0;
}

static int set_url(char **field, const char *value, char *msg, size_t msgsize)
{
	size_t len = strlen(value);

	if (check_url(value, msg, msgsize) < 0)
		return -1;
	/* Paths are appended as "/v3/...": keep the base without its slash. The
	 * host is not empty and has no '/', so this stops at the host. */
	while (len > 0 && value[len - 1] == '/')
		len--;
	return store_string(field, value, len, msg, msgsize);
}

static int set_version(struct config *cfg, char **field, const char *value, char *msg,
		       size_t msgsize)
{
	for (size_t i = 0; i < sizeof api_versions / sizeof api_versions[0]; i++) {
		if (strcmp(value, api_versions[i].name) == 0) {
			if (store_string(field, value, strlen(value), msg, msgsize) < 0)
				return -1;
			cfg->api_form = api_versions[i].form;
			return 0;
		}
	}
	snprintf(msg, msgsize, "must be one of v3, beta, v2024, v2025, v2026, v1");
	return -1;
}

static int set_uint(const struct config_option *opt, void *field, const char *value, char *msg,
		    size_t msgsize)
{
	unsigned long n;
	char *end;

	/* strtoul alone would take "-1", " 5" and "+5". */
	if (value[0] < '0' || value[0] > '9')
		goto bad;
	errno = 0;
	n = strtoul(value, &end, 10);
	if (*end != '\0' || errno == ERANGE || n < opt->min || n > opt->max)
		goto bad;
	if (opt->size == sizeof(unsigned) && opt->max <= UINT_MAX) {
		*(unsigned *)field = (unsigned)n;
	} else if (opt->size == sizeof(unsigned long)) {
		*(unsigned long *)field = n;
	} else {
		snprintf(msg, msgsize, "internal error: bad option table entry");
		return -1;
	}
	return 0;
bad:
	snprintf(msg, msgsize, "must be a whole number from %lu to %lu", opt->min, opt->max);
	return -1;
}

/* One of opt->choices; stores its index. */
static int set_choice(const struct config_option *opt, void *field, const char *value, char *msg,
		      size_t msgsize)
{
	size_t len = 0;

	if (!opt->choices || opt->size != sizeof(unsigned)) {
		snprintf(msg, msgsize, "internal error: bad option table entry");
		return -1;
	}
	for (unsigned i = 0; opt->choices[i]; i++) {
		if (strcmp(value, opt->choices[i]) == 0) {
			*(unsigned *)field = i;
			return 0;
		}
	}
	len = (size_t)snprintf(msg, msgsize, "must be one of");
	for (unsigned i = 0; opt->choices[i] && len < msgsize; i++)
		len += (size_t)snprintf(msg + len, msgsize - len, "%s %s", i ? "," : "",
					opt->choices[i]);
	return -1;
}

/* Only %u and %% are meaningful; anything else is most likely a typo. */
static bool format_valid(const char *fmt)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] != 'u' && p[1] != '%')
			return false;
		p++;
	}
	return true;
}

static void free_list(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* "a, b,c" -> {"a", "b", "c", NULL}; "" -> {NULL}. */
static int parse_list(const char *value, char ***out, char *msg, size_t msgsize)
{
	size_t n_items = 1, n = 0;
	const char *p = value;
	char **list;

	for (const char *c = value; *c; c++)
		n_items += *c == ',';
	list = calloc(n_items + 1, sizeof *list);
	if (!list) {
		snprintf(msg, msgsize, "out of memory");
		return -1;
	}
	*out = list;
	if (value[0] == '\0')
		return 0;
	for (;;) {
		size_t item_len = strcspn(p, ",");
		const char *start = p, *end = p + item_len;

		while (start < end && is_blank(*start))
			start++;
		while (end > start && is_blank(end[-1]))
			end--;
		if (start == end) {
			snprintf(msg, msgsize, "empty name in the list");
			goto fail;
		}
		for (const char *c = start; c < end; c++) {
			if (is_blank(*c)) {
				snprintf(msg, msgsize, "names must be separated by commas");
				goto fail;
			}
		}
		list[n] = strndup(start, (size_t)(end - start));
		if (!list[n++]) {
			snprintf(msg, msgsize, "out of memory");
			goto fail;
		}
		if (p[item_len] == '\0')
			return 0;
		p += item_len + 1;
	}
fail:
	free_list(list);
	*out = NULL;
	return -1;
}

/* Longest login name accepted in ignore_changes_by (LOGIN_NAME_MAX). */
#define LOGIN_NAME_BYTES_MAX 256

/* One ignore_changes_by entry: digits only is a uid (not 4294967295, which
 * is no one's: the unset login uid); anything else a login name, which may
 * not start with a digit (a typo of a uid, or a name only its uid can
 * name), '-' or '+' (a sign), nor hold ':' or '/'. */
static int parse_login(const char *item, struct config_login *out, char *msg, size_t msgsize)
{
	size_t len = strlen(item);

	if (item[0] >= '0' && item[0] <= '9') {
		unsigned long n;
		char *end;

		errno = 0;
		n = strtoul(item, &end, 10);
		if (*end != '\0' || errno == ERANGE || n >= 4294967295UL) {
			snprintf(msg, msgsize,
				 "\"%.40s\": a uid is digits only, from 0 to 4294967294; a name "
				 "may not start with a digit",
				 item);
			return -1;
		}
		out->name = NULL;
		out->uid = (uid_t)n;
		return 0;
	}
	if (item[0] == '-' || item[0] == '+' || strpbrk(item, ":/") || len > LOGIN_NAME_BYTES_MAX) {
		snprintf(msg, msgsize,
			 "\"%.40s\" is neither a uid nor a login name (no sign, ':' or '/', at "
			 "most %d bytes)",
			 item, LOGIN_NAME_BYTES_MAX);
		return -1;
	}
	out->name = strdup(item);
	if (!out->name) {
		snprintf(msg, msgsize, "out of memory");
		return -1;
	}
	return 0;
}

static void free_logins(struct config_logins *logins)
{
	for (size_t i = 0; i < logins->n; i++)
		free(logins->items[i].name);
	free(logins->items);
	logins->items = NULL;
	logins->n = 0;
}

/* ignore_changes_by: "svc-isc, 1234" -> a name and a uid; "" -> none. */
static int set_logins(struct config_logins *field, const char *value, char *msg, size_t msgsize)
{
	struct config_logins logins = { 0 };
	char **list = NULL;
	size_t n = 0;
	int rc = -1;

	if (parse_list(value, &list, msg, msgsize) < 0)
		return -1;
	while (list[n])
		n++;
	if (n > 0) {
		logins.items = calloc(n, sizeof *logins.items);
		if (!logins.items) {
			snprintf(msg, msgsize, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_login(list[i], &logins.items[i], msg, msgsize) < 0)
			goto out;
		logins.n++;
	}
	free_logins(field);
	*field = logins;
	logins = (struct config_logins){ 0 };
	rc = 0;
out:
	free_logins(&logins);
	free_list(list);
	return rc;
}

/* proxy: scheme://host[:port][/], no blanks, no user:password. */
static int set_proxy(char **field, const char *value, char *msg, size_t msgsize)
{
	static const char *const schemes[] = { "http://", "https://", "socks5://", "socks5h://",
					       NULL };
	const char *host = NULL;

	for (const char *const *sch = schemes; *sch; sch++)
		if (strncmp(value, *sch, strlen(*sch)) == 0)
			host = value + strlen(*sch);
	if (!host) {
		snprintf(msg, msgsize,
			 "must start with http://, https://, socks5:// or socks5h://");
		return -1;
	}
	if (host[0] == '\0' || host[0] == ':' || host[0] == '/') {
		snprintf(msg, msgsize, "no host name after the scheme");
		return -1;
	}
	for (const char *c = value; *c; c++) {
		if (*c == ' ' || *c == '\t') {
			snprintf(msg, msgsize, "blank in the proxy URL");
			return -1;
		}
	}
	if (strchr(host, '@')) {
		snprintf(msg, msgsize, "credentials in the proxy URL are not supported");
		return -1;
	}
	return store_string(field, value, strlen(value), msg, msgsize);
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* pinned_public_key: one or more "sha256//" + 44 Base64 characters (32
 * bytes: 43 characters and one '='), separated by ';'. */
static int set_pin(char **field, const char *value, char *msg, size_t msgsize)
{
	static const char prefix[] = "sha256//";
	const size_t plen = sizeof prefix - 1;
	const char *p = value;

	for (;;) {
		if (strncmp(p, prefix, plen) != 0) {
			snprintf(msg, msgsize,
				 "each pin must be sha256// and the Base64 SHA-256 "
				 "of the server's public key");
			return -1;
		}
		p += plen;
		for (size_t i = 0; i < 43; i++) {
			if (!is_b64_char(p[i])) {
				snprintf(msg, msgsize, "a pin is not 32 bytes of standard Base64");
				return -1;
			}
		}
		if (p[43] != '=' || (p[44] != '\0' && p[44] != ';')) {
			snprintf(msg, msgsize, "a pin is not 32 bytes of standard Base64");
			return -1;
		}
		p += 44;
		if (*p == '\0')
			break;
		p++; /* ';' */
	}
	return store_string(field, value, strlen(value), msg, msgsize);
}

/* rate_limit: "REQUESTS/SECONDS" (1..10000 / 1..3600), or "0": no limit. */
static int set_rate(struct config_rate *field, const char *value, char *msg, size_t msgsize)
{
	unsigned long n, s;
	char *end;

	if (strcmp(value, "0") == 0) {
		field->requests = 0;
		field->seconds = 0;
		return 0;
	}
	errno = 0;
	if (value[0] < '1' || value[0] > '9')
		goto bad;
	n = strtoul(value, &end, 10);
	if (errno == ERANGE || *end != '/' || end[1] < '1' || end[1] > '9')
		goto bad;
	s = strtoul(end + 1, &end, 10);
	if (errno == ERANGE || *end != '\0' || n > 10000 || s > 3600)
		goto bad;
	field->requests = (unsigned)n;
	field->seconds = (unsigned)s;
	return 0;
bad:
	snprintf(msg, msgsize,
		 "must be REQUESTS/SECONDS (1 to 10000 requests in 1 to 3600 seconds), or 0");
	return -1;
}

/* Check value against opt's type and store it in cfg. */
static int set_option(struct config *cfg, const struct config_option *opt, const char *value,
		      char *msg, size_t msgsize)
{
	void *field = (char *)cfg + opt->offset;
	char **list;

	switch (opt->type) {
	case CONFIG_T_STRING:
		return store_string(field, value, strlen(value), msg, msgsize);
	case CONFIG_T_URL:
		return set_url(field, value, msg, msgsize);
	case CONFIG_T_VERSION:
		return set_version(cfg, field, value, msg, msgsize);
	case CONFIG_T_UINT:
		return set_uint(opt, field, value, msg, msgsize);
	case CONFIG_T_FORMAT:
		if (!format_valid(value)) {
			snprintf(msg, msgsize, "only %%u (the user name) and %%%% may follow %%");
			return -1;
		}
		return store_string(field, value, strlen(value), msg, msgsize);
	case CONFIG_T_PATH:
		if (value[0] != '/') {
			snprintf(msg, msgsize, "must be an absolute path");
			return -1;
		}
		return store_string(field, value, strlen(value), msg, msgsize);
	case CONFIG_T_LIST:
		if (parse_list(value, &list, msg, msgsize) < 0)
			return -1;
		free_list(*(char ***)field);
		*(char ***)field = list;
		return 0;
	case CONFIG_T_SECRET:
		secret_clear(field);
		if (secret_set(field, value, strlen(value)) < 0) {
			snprintf(msg, msgsize, "out of memory");
			return -1;
		}
		return 0;
	case CONFIG_T_CHOICE:
		return set_choice(opt, field, value, msg, msgsize);
	case CONFIG_T_PROXY:
		return set_proxy(field, value, msg, msgsize);
	case CONFIG_T_PIN:
		return set_pin(field, value, msg, msgsize);
	case CONFIG_T_LOGINS:
		return set_logins(field, value, msg, msgsize);
	case CONFIG_T_RATE:
		return set_rate(field, value, msg, msgsize);
	}
	snprintf(msg, msgsize, "internal error: bad option table entry");
	return -1;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (const struct config_option *opt = config_options; opt->name; opt++) {
		void *field = (char *)cfg + opt->offset;

		switch (opt->type) {
		case CONFIG_T_STRING:
		case CONFIG_T_URL:
		case CONFIG_T_VERSION:
		case CONFIG_T_FORMAT:
		case CONFIG_T_PATH:
		case CONFIG_T_PROXY:
		case CONFIG_T_PIN:
			free(*(char **)field);
			break;
		case CONFIG_T_LIST:
			free_list(*(char ***)field);
			break;
		case CONFIG_T_SECRET:
			secret_clear(field);
			break;
		case CONFIG_T_LOGINS:
			free_logins(field);
			break;
		case CONFIG_T_UINT:
		case CONFIG_T_CHOICE:
		case CONFIG_T_RATE:
			break;
		}
	}
	memset(cfg, 0, sizeof *cfg);
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
	struct config *cfg;
	struct config_error *err;
	unsigned set_at[N_OPTIONS]; /* line each key was set on; 0: not set */
};

static const struct config_option *find_option(const char *name)
{
	for (const struct config_option *opt = config_options; opt->name; opt++)
		if (strcmp(opt->name, name) == 0)
			return opt;
	return NULL;
}

static char *trim(char *s)
{
	size_t len;

	while (is_blank(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_blank(s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* One line, without its line ending and with no NUL byte inside. */
static int parse_line(struct parser *p, unsigned line_no, char *line)
{
	const struct config_option *opt;
	char *eq, *key, *value, msg[sizeof p->err->message];
	size_t idx;

	key = trim(line);
	if (key[0] == '\0' || key[0] == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		set_error(p->err, line_no, "", "expected \"key = value\"");
		return -1;
	}
	*eq = '\0';
	key = trim(key);
	value = trim(eq + 1);
	if (key[0] == '\0') {
		set_error(p->err, line_no, "", "empty key before '='");
		return -1;
	}
	opt = find_option(key);
	if (!opt) {
		set_error(p->err, line_no, key, "unknown key");
		return -1;
	}
	idx = (size_t)(opt - config_options);
	if (p->set_at[idx]) {
		set_error(p->err, line_no, key, "set twice, first at line %u", p->set_at[idx]);
		return -1;
	}
	if (value[0] == '\0' && opt->type != CONFIG_T_LIST && opt->type != CONFIG_T_LOGINS) {
		set_error(p->err, line_no, key, "empty value");
		return -1;
	}
	if (text_has_control(value, TEXT_ALLOW_TAB)) {
		set_error(p->err, line_no, key, "control character in the value");
		return -1;
	}
	if (set_option(p->cfg, opt, value, msg, sizeof msg) < 0) {
		set_error(p->err, line_no, key, "%s", msg);
		return -1;
	}
	p->set_at[idx] = line_no;
	return 0;
}

/* After the last line: defaults, required keys, the client secret rule. */
static int finish(struct parser *p)
{
	size_t inline_idx = (size_t)(find_option("client_secret") - config_options);
	size_t file_idx = (size_t)(find_option("client_secret_file") - config_options);
	unsigned inline_line = p->set_at[inline_idx], file_line = p->set_at[file_idx];
	char msg[sizeof p->err->message];

	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct config_option *opt = &config_options[i];

		if (p->set_at[i])
			continue;
		if (opt->required) {
			set_error(p->err, 0, opt->name, "required key is missing");
			return -1;
		}
		if (opt->default_value &&
		    set_option(p->cfg, opt, opt->default_value, msg, sizeof msg) < 0) {
			set_error(p->err, 0, opt->name, "built-in default: %s", msg);
			return -1;
		}
	}
	if (inline_line && file_line) {
		bool file_later = file_line > inline_line;
		set_error(p->err, file_later ? file_line : inline_line,
			  config_options[file_later ? file_idx : inline_idx].name,
			  "client_secret and client_secret_file are both set; use only one");
		return -1;
	}
	if (!inline_line && !file_line) {
		set_error(p->err, 0, "client_secret_file",
			  "one of client_secret_file or client_secret is required");
		return -1;
	}
	return 0;
}

int config_parse_buffer(const char *name, const char *text, size_t len, struct config *cfg,
			struct config_error *err)
{
	struct parser p = { .cfg = cfg, .err = err };
	char line[CONFIG_LINE_MAX + 1];
	unsigned line_no = 0;
	size_t pos = 0;
	int rc = -1;

	memset(cfg, 0, sizeof *cfg);
	error_reset(err, name);
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		line_no++;
		pos += n + (nl ? 1 : 0);
		if (memchr(start, '\0', n)) {
			set_error(err, line_no, "", "NUL byte in the file");
			goto out;
		}
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			set_error(err, line_no, "", "line longer than %d bytes", CONFIG_LINE_MAX);
			goto out;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		if (parse_line(&p, line_no, line) < 0)
			goto out;
	}
	rc = finish(&p);
out:
	/* The line may have held the inline client secret. */
	secret_wipe(line, sizeof line);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

/* ---- files -------------------------------------------------------------- */

int config_load(const char *path, struct config *cfg, struct config_error *err)
{
	char *text, msg[sizeof err->message];
	size_t len;
	int rc;

	memset(cfg, 0, sizeof *cfg);
	error_reset(err, path);
	struct stat st;

	/* Owner and mode: see fsutil.h (FSUTIL_TRUSTED): root's, or the
	 * running user's, and nobody else may write it. */
	if (fsutil_read_file(path, CONFIG_FILE_MAX, FSUTIL_TRUSTED, &text, &len, &st, msg,
			     sizeof msg) != 0) {
		set_error(err, 0, "", "%s", msg);
		return -1;
	}
	rc = config_parse_buffer(path, text, len, cfg, err);
	secret_free_buf(text, CONFIG_FILE_MAX + 1);
	/* An inline client_secret makes the file itself a secret file. */
	if (rc == 0 && cfg->client_secret.data &&
	    fsutil_check_trust(&st, FSUTIL_TRUSTED_SECRET, msg, sizeof msg) < 0) {
		config_free(cfg);
		error_reset(err, path);
		set_error(err, 0, "client_secret", "%s", msg);
		return -1;
	}
	return rc;
}

int config_client_secret(const struct config *cfg, struct secret *out, struct config_error *err)
{
	char *text, *nl, msg[sizeof err->message];
	size_t len, line_len;
	int rc = -1;

	error_reset(err, "");
	if (cfg->client_secret.data) {
		if (secret_set(out, cfg->client_secret.data, cfg->client_secret.len) < 0) {
			set_error(err, 0, "client_secret", "out of memory");
			return -1;
		}
		return 0;
	}
	if (!cfg->client_secret_file) {
		set_error(err, 0, "client_secret_file", "no client secret is configured");
		return -1;
	}
	error_reset(err, cfg->client_secret_file);
	if (fsutil_read_file(cfg->client_secret_file, SECRET_FILE_MAX, FSUTIL_TRUSTED_SECRET, &text,
			     &len, NULL, msg, sizeof msg) != 0) {
		set_error(err, 0, "client_secret_file", "%s", msg);
		return -1;
	}
	nl = memchr(text, '\n', len);
	line_len = nl ? (size_t)(nl - text) : len;
	while (line_len > 0 && text[line_len - 1] == '\r')
		line_len--;
	if (memchr(text, '\0', line_len))
		set_error(err, 0, "client_secret_file", "NUL byte in the secret");
	else if (line_len == 0)
		set_error(err, 0, "client_secret_file", "the first line is empty");
	else if (secret_set(out, text, line_len) < 0)
		set_error(err, 0, "client_secret_file", "out of memory");
	else
		rc = 0;
	secret_free_buf(text, SECRET_FILE_MAX + 1);
	return rc;
}

/* ---- lookups ------------------------------------------------------------ */

bool config_user_skipped(const struct config *cfg, const char *user)
{
	if (!cfg->skip_users || !user)
		return false;
	for (char *const *name = cfg->skip_users; *name; name++)
		if (strcmp(*name, user) == 0)
			return true;
	return false;
}

bool config_user_in_scope(const struct config *cfg, const char *user, const char **why)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res) {
		*why = "unknown_user";
		return false;
	}
	if ((unsigned long)pw.pw_uid < cfg->min_uid) {
		*why = "min_uid";
		return false;
	}
	if (config_user_skipped(cfg, user)) {
		*why = "skip_users";
		return false;
	}
	return true;
}

enum config_login_match config_login_match(const struct config_login *login, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (!login->name)
		return login->uid == uid ? CONFIG_LOGIN_MATCH : CONFIG_LOGIN_OTHER;
	/* Not found and a lookup that failed (ERANGE included) are the same
	 * here: the name cannot be told to be this account. */
	if (getpwnam_r(login->name, &pw, buf, sizeof buf, &res) != 0 || !res)
		return CONFIG_LOGIN_UNKNOWN;
	return pw.pw_uid == uid ? CONFIG_LOGIN_MATCH : CONFIG_LOGIN_OTHER;
}

int config_expand_format(const char *fmt, const char *user, char *out, size_t size)
{
	size_t len = 0;

	if (!out || size == 0)
		return -1;
	out[0] = '\0';
	if (!fmt || !user)
		return -1;
	for (const char *p = fmt; *p; p++) {
		const char *piece = p;
		size_t n = 1;

		if (*p == '%') {
			if (p[1] == 'u') {
				piece = user;
				n = strlen(user);
			} else if (p[1] != '%') {
				out[0] = '\0';
				return -1;
			}
			p++;
		}
		if (n >= size - len) {
			out[0] = '\0';
			return -1;
		}
		memcpy(out + len, piece, n);
		len += n;
		out[len] = '\0';
	}
	return 0;
}
