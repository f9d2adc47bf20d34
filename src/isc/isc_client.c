/* SPDX-License-Identifier: MIT */
/* isc_client: see isc_client.h. */
#include "isc_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>

#include "errbuf.h"
#include "rate_budget.h"
#include "token_cache.h"

#define USER_AGENT "pam_isc/" PACKAGE_VERSION
#define URL_MAX 2048

struct isc_client {
	const struct config *cfg;
	const struct log_ctx *lc;
	CURL *curl;
	struct secret client_secret;
	struct secret token;
	long long deadline_ms;
	char curl_err[CURL_ERROR_SIZE];
	/* The host's request budget (rate_budget.h), opened at the first API
	 * call; NULL after it failed (logged once: the change goes on without). */
	struct rate_budget *budget;
	bool budget_tried;
	enum rate_class rate_class;
};

/* What one HTTP exchange brought back. The body may hold a token, so it is
 * always released with secret_free_buf. */
struct response {
	char *body;
	size_t len, cap;
	bool too_large;
	char slpt[96];
	long retry_after;
};

int isc_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void isc_client_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *isc_client_err_kind_name(enum isc_client_err_kind k)
{
	switch (k) {
	case ISC_CLIENT_OK:
		return "ok";
	case ISC_CLIENT_TRANSPORT:
		return "transport";
	case ISC_CLIENT_TIMEOUT:
		return "timeout";
	case ISC_CLIENT_HTTP:
		return "http";
	case ISC_CLIENT_PROTOCOL:
		return "protocol";
	case ISC_CLIENT_INTERNAL:
		return "internal";
	case ISC_CLIENT_BUDGET:
		return "rate_limit";
	}
	return "internal";
}

static void set_error(struct isc_client_error *err, enum isc_client_err_kind kind, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));
static void set_error(struct isc_client_error *err, enum isc_client_err_kind kind, const char *fmt,
		      ...)
{
	va_list ap;

	err->kind = kind;
	va_start(ap, fmt);
	errbuf_vset(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
}

static void clear_error(struct isc_client_error *err)
{
	memset(err, 0, sizeof *err);
	err->retry_after = -1;
}

int isc_client_new(const struct config *cfg, const struct secret *client_secret,
		   long long deadline_ms, const struct log_ctx *lc, struct isc_client **out)
{
	struct isc_client *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return -1;
	c->cfg = cfg;
	c->lc = lc;
	c->deadline_ms = deadline_ms;
	c->curl = curl_easy_init();
	if (!c->curl ||
	    secret_set(&c->client_secret, client_secret->data, client_secret->len) < 0) {
		isc_client_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void isc_client_free(struct isc_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	rate_budget_close(c->budget);
	secret_clear(&c->client_secret);
	secret_clear(&c->token);
	free(c);
}

struct isc_pool {
	CURLSH *share;
};

int isc_pool_new(struct isc_pool **out)
{
	struct isc_pool *pool = calloc(1, sizeof *pool);

	*out = NULL;
	if (!pool)
		return -1;
	pool->share = curl_share_init();
	if (!pool->share ||
	    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
		    CURLSHE_OK ||
	    curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
		isc_pool_free(pool);
		return -1;
	}
	*out = pool;
	return 0;
}

void isc_pool_free(struct isc_pool *pool)
{
	if (!pool)
		return;
	/* Closes the pooled connections (no client may be attached any more). */
	if (pool->share)
		curl_share_cleanup(pool->share);
	free(pool);
}

int isc_client_use_pool(struct isc_client *c, struct isc_pool *pool)
{
	/* curl_easy_reset (before every request) keeps the share. */
	if (curl_easy_setopt(c->curl, CURLOPT_SHARE, pool ? pool->share : NULL) != CURLE_OK)
		return -1;
	return 0;
}

void isc_client_set_deadline(struct isc_client *c, long long deadline_ms)
{
	c->deadline_ms = deadline_ms;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct response *r = userdata;
	size_t n = size * nmemb;

	if (n > ISC_JSON_MAX_BODY - r->len) {
		r->too_large = true;
		return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *grown;
		while (cap < r->len + n + 1)
			cap *= 2;
		/* Grow by copy so the old buffer can be wiped, not realloc'd away. */
		grown = malloc(cap);
		if (!grown)
			return 0;
		if (r->body)
			memcpy(grown, r->body, r->len);
		secret_free_buf(r->body, r->cap);
		r->body = grown;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copy a header's value (trimmed) if its name matches. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return false;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (vlen >= size)
		vlen = size - 1;
	for (size_t i = 0; i < vlen; i++)
		out[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	out[vlen] = '\0';
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct response *r = userdata;
	size_t n = size * nmemb;
	char value[32];

	header_value(data, n, "SLPT-Request-ID", r->slpt, sizeof r->slpt);
	if (header_value(data, n, "Retry-After", value, sizeof value)) {
		char *end;
		long secs;
		errno = 0;
		secs = strtol(value, &end, 10);
		/* Only the delta-seconds form; an HTTP date is treated as absent. */
		if (errno == 0 && end != value && *end == '\0' && secs >= 0 && secs < 86400)
			r->retry_after = secs;
	}
	return n;
}

static void response_free(struct response *r)
{
	secret_free_buf(r->body, r->cap);
	memset(r, 0, sizeof *r);
}

/* Wipe what the header list holds (the Authorization line) and free it. */
static void headers_free(struct curl_slist *h)
{
	for (struct curl_slist *i = h; i; i = i->next)
		secret_wipe(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

static int build_url(const struct isc_client *c, const char *endpoint, const char *id, char *url,
		     size_t size)
{
	const struct config *cfg = c->cfg;
	int n;

	if (cfg->api_form == CONFIG_API_SERVICE)
		n = snprintf(url, size, "%s/%s/%s%s%s", cfg->api_url, endpoint, cfg->api_version,
			     id ? "/" : "", id ? id : "");
	else
		n = snprintf(url, size, "%s/%s/%s%s%s", cfg->api_url, cfg->api_version, endpoint,
			     id ? "/" : "", id ? id : "");
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* A request that must go out at most once (set-password): libcurl itself
 * sends a request again, on a fresh connection, when a pooled connection
 * it reused closes before a byte of answer came ("Connection died,
 * retrying a fresh connect"). It cannot tell a connection that was dead
 * before the request from one that the server closed after reading it, and
 * for set-password the second send could start a second change.
 *
 * Why this way: CURLOPT_FRESH_CONNECT or CURLOPT_FORBID_REUSE on
 * set-password would stop the resend too, but cost every change a TCP and
 * TLS handshake (round trips to ISC) on the connection its token and lookup
 * just warmed, and the per-host service's pool exists to spare exactly
 * that; checking the connection before the request leaves the race open.
 * libcurl calls CURLOPT_PREREQFUNCTION right before it sends each request,
 * the resend included, so counting those calls catches the resend before
 * it leaves: the second call aborts the transfer (CURLE_ABORTED_BY_CALLBACK),
 * and the request counts as sent, outcome unknown (isc_client.h, err->sent).
 * The connection stays pooled for every request that goes out normally. */
struct send_count {
	unsigned int sends; /* requests libcurl was about to send */
	bool once;          /* abort before a second one */
};

static int on_prereq(void *userdata, char *conn_primary_ip, char *conn_local_ip,
		     int conn_primary_port, int conn_local_port)
{
	struct send_count *sc = userdata;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	sc->sends++;
	return (sc->once && sc->sends > 1) ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

/* One HTTP exchange on the client's handle. body NULL means GET. once: the
 * request must not be sent twice (see struct send_count). */
static int perform(struct isc_client *c, const char *url, const char *content_type,
		   const char *body, size_t body_len, bool with_token, bool once,
		   struct response *resp, long *http, struct isc_client_error *err)
{
	struct send_count sc = { .sends = 0, .once = once };
	struct curl_slist *headers = NULL, *h;
	long long remaining = c->deadline_ms - io_now_ms();
	CURL *curl = c->curl;
	CURLcode rc;
	char *auth = NULL;
	size_t auth_len = 0;
	int ret = -1;

	memset(resp, 0, sizeof *resp);
	resp->retry_after = -1;
	*http = 0;
	if (remaining <= 0) {
		set_error(err, ISC_CLIENT_TIMEOUT, "no time left before the request");
		return -1;
	}

	/* curl_easy_reset keeps the connection cache and TLS sessions: the
	 * next request reuses the open connection. */
	curl_easy_reset(curl);
	h = curl_slist_append(headers, "Accept: application/json");
	if (h)
		headers = h;
	if (h && body) {
		char ct[96];
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
		h = curl_slist_append(headers, ct);
		if (h)
			h = curl_slist_append(h, "Expect:");
	}
	if (h && with_token) {
		auth_len = c->token.len + 32;
		auth = malloc(auth_len);
		if (auth) {
			snprintf(auth, auth_len, "Authorization: Bearer %s", (char *)c->token.data);
			h = curl_slist_append(headers, auth);
		} else {
			h = NULL;
		}
	}
	if (!h) {
		set_error(err, ISC_CLIENT_INTERNAL, "out of memory");
		goto out;
	}

	c->curl_err[0] = '\0';
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    /* ca_file replaces the system store: without CAPATH NULL libcurl
	     * would also trust, and parse on every change, /etc/ssl/certs. */
	    (c->cfg->ca_file &&
	     (curl_easy_setopt(curl, CURLOPT_CAINFO, c->cfg->ca_file) != CURLE_OK ||
	      curl_easy_setopt(curl, CURLOPT_CAPATH, NULL) != CURLE_OK)) ||
	    /* The configured proxy, or none: "" disables every proxy, including
	     * ones named by the environment; NOPROXY "" lets no host bypass the
	     * configured one. */
	    curl_easy_setopt(curl, CURLOPT_PROXY, c->cfg->proxy ? c->cfg->proxy : "") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOPROXY, "") != CURLE_OK ||
	    (c->cfg->proxy && curl_easy_setopt(curl, CURLOPT_PROXY_SSLVERSION,
					       (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK) ||
	    (c->cfg->pinned_public_key &&
	     curl_easy_setopt(curl, CURLOPT_PINNEDPUBLICKEY, c->cfg->pinned_public_key) !=
		     CURLE_OK) ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)remaining) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)remaining) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->curl_err) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PREREQDATA, &sc) != CURLE_OK) {
		set_error(err, ISC_CLIENT_INTERNAL, "cannot set up the HTTP request");
		goto out;
	}
	if (body) {
		if (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
		    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) !=
			    CURLE_OK) {
			set_error(err, ISC_CLIENT_INTERNAL, "cannot set up the HTTP request");
			goto out;
		}
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}

	rc = curl_easy_perform(curl);
	snprintf(err->slpt, sizeof err->slpt, "%s", resp->slpt);
	err->retry_after = resp->retry_after;
	{
		/* Did any of the request go out? Then ISC may have acted on it. */
		long sent_bytes = 0;
		err->sent =
			curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent_bytes) != CURLE_OK ||
			sent_bytes > 0;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && sc.once && sc.sends > 1) {
		/* The first send went out; ISC may have acted on it. */
		err->sent = 1;
		set_error(err, ISC_CLIENT_TRANSPORT,
			  "the connection closed after the request, without an answer "
			  "(not sent again)");
		response_free(resp);
		goto out;
	}
	if (rc != CURLE_OK) {
		if (resp->too_large)
			set_error(err, ISC_CLIENT_PROTOCOL, "response body larger than %d bytes",
				  ISC_JSON_MAX_BODY);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			set_error(err, ISC_CLIENT_TIMEOUT, "%s",
				  c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
		else
			set_error(err, ISC_CLIENT_TRANSPORT, "%s",
				  c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
		/* The callers free the response only when perform succeeds: a
		 * body cut short (too large, timeout) is wiped and freed here
		 * (found by the ASan run of hostile_bodies.sh). */
		response_free(resp);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http);
	ret = 0;
out:
	/* The handle keeps pointers to these; drop them before freeing. */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, NULL);
	curl_easy_setopt(curl, CURLOPT_PREREQDATA, NULL);
	headers_free(headers);
	secret_free_buf(auth, auth_len);
	return ret;
}

/* Turn a non-2xx answer into the error struct. */
static void http_error(struct isc_client_error *err, long http, const struct response *resp)
{
	struct isc_error_body eb;

	isc_json_parse_error(resp->body ? resp->body : "", resp->len, &eb);
	err->kind = ISC_CLIENT_HTTP;
	err->http = http;
	snprintf(err->detail, sizeof err->detail, "%s", eb.detail_code);
	snprintf(err->tracking, sizeof err->tracking, "%s", eb.tracking_id);
	snprintf(err->text, sizeof err->text, "%s", eb.text);
}

static void log_http(const struct isc_client *c, const char *url, long http, long long t0)
{
	char status[16], ms[24];
	const char *path = url + strlen(c->cfg->api_url);

	snprintf(status, sizeof status, "%ld", http);
	snprintf(ms, sizeof ms, "%lld", io_now_ms() - t0);
	log_event(c->lc, LOG_DEBUG, "http", "path", path, "status", status, "ms", ms, NULL);
}

/* ---- the request loop: retries within the deadline ---------------------- */

/* A request takes at least this long: no retry is started with less left. */
#define MIN_ATTEMPT_MS 300

static void sleep_ms(long long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Full jitter over the upper half: [d/2, d]. Spreads the retries of many
 * hosts that failed at the same moment. */
/* A number from 0 to n (n small). */
static long long random_upto(long long n)
{
	unsigned int r = 0;

	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (unsigned int)io_now_ms();
	return (long long)(r % (unsigned int)(n + 1));
}

static long long jittered(long long d)
{
	return d / 2 + random_upto(d / 2);
}

static void log_retry(const struct isc_client *c, const char *url, int attempt, long http,
		      const struct isc_client_error *err, long long wait_ms)
{
	char a[16], h[16], w[24];

	snprintf(a, sizeof a, "%d", attempt);
	snprintf(h, sizeof h, "%ld", http);
	snprintf(w, sizeof w, "%lld", wait_ms);
	log_event(c->lc, LOG_INFO, "retry", "path", url + strlen(c->cfg->api_url), "attempt", a,
		  "http", http ? h : NULL, "kind",
		  http ? NULL : isc_client_err_kind_name(err->kind), "wait_ms", w, "text",
		  http ? NULL : err->text, NULL);
}

static int ensure_token_locked(struct isc_client *c, struct isc_client_error *err);

void isc_client_set_rate_class(struct isc_client *c, enum rate_class cls)
{
	c->rate_class = cls;
}

/* The budget, opened on first use. A budget that cannot be had (runtime_dir
 * broken) does not stop a change: ISC's own 429s still pace it. */
static struct rate_budget *budget_of(struct isc_client *c)
{
	char berr[256];

	if (!c->budget_tried) {
		c->budget_tried = true;
		if (rate_budget_open(c->cfg, &c->budget, berr, sizeof berr) < 0)
			log_event(c->lc, LOG_WARNING, "rate_budget", "text", berr, NULL);
	}
	return c->budget;
}

static void budget_error(struct isc_client *c, const char *why)
{
	char berr[256];

	rate_budget_close(c->budget);
	c->budget = NULL;
	snprintf(berr, sizeof berr, "%s", why);
	log_event(c->lc, LOG_WARNING, "rate_budget", "text", berr, NULL);
}

/* A slot of the host's budget for one API request, waited for; -1 with
 * err (kind ISC_CLIENT_BUDGET, nothing sent) when the client's class may
 * not have one before the deadline. */
static int take_slot(struct isc_client *c, struct isc_client_error *err)
{
	struct rate_budget *rb = budget_of(c);
	char berr[256];

	while (rb) {
		long long at = 0, latest = c->deadline_ms - MIN_ATTEMPT_MS, now;
		enum rate_result rc =
			rate_budget_take(rb, c->rate_class, latest, &at, berr, sizeof berr);

		if (rc == RATE_ERROR) {
			budget_error(c, berr);
			return 0;
		}
		now = io_now_ms();
		if (rc == RATE_GRANTED) {
			if (at > now)
				sleep_ms(at - now);
			return 0;
		}
		/* A delivery waits for a free slot as long as its deadline
		 * allows, asking again when the slot it saw comes (a live
		 * change may take it first). */
		if (c->rate_class != RATE_DELIVERY || at > latest) {
			set_error(err, ISC_CLIENT_BUDGET,
				  "the host's request budget (rate_limit) has no slot for this "
				  "request in time");
			err->budget_at_ms = at;
			/* Every earlier try of this request was answered 429 or
			 * 503, or never left: ISC has not acted on it. */
			err->sent = 0;
			return -1;
		}
		sleep_ms(at > now ? at - now : 1);
	}
	return 0;
}

int isc_client_budget_check(struct isc_client *c, unsigned n, struct isc_client_error *err)
{
	struct rate_budget *rb = budget_of(c);
	char berr[256];
	long long at = 0;

	clear_error(err);
	if (!rb)
		return 0;
	if (rate_budget_peek(rb, n, &at, berr, sizeof berr) != RATE_GRANTED) {
		budget_error(c, berr);
		return 0;
	}
	if (at > c->deadline_ms - MIN_ATTEMPT_MS) {
		set_error(err, ISC_CLIENT_BUDGET,
			  "the host's request budget (rate_limit) cannot serve this change in "
			  "time");
		err->budget_at_ms = at;
		return -1;
	}
	return 0;
}

/* ISC's answer, for the budget: a 429 holds every process back. */
static void note_answer(struct isc_client *c, long http, long retry_after, bool token_request)
{
	struct rate_budget *rb;
	long long hold_ms = retry_after >= 0 ? retry_after * 1000LL : -1;
	char berr[256];

	if (http != 429 || !(rb = budget_of(c)))
		return;
	/* The token endpoint's limit is the tenant's, not the host's: many
	 * hosts refused at once would all come back in the same millisecond.
	 * Each comes back within a second after the Retry-After, at a moment
	 * of its own. (A longer spread costs the fleet time and spares few
	 * refusals: the window frees its slots at Retry-After.) */
	if (token_request && hold_ms > 0)
		hold_ms += random_upto(1000);
	if (rate_budget_note_answer(rb, http, hold_ms, berr, sizeof berr) < 0)
		budget_error(c, berr);
}

/* A token request takes no slot (ISC limits the API per token), but waits
 * out a 429's hold on the host like every request: -1 with err (kind
 * ISC_CLIENT_BUDGET, nothing sent) when the hold outlasts the deadline. */
static int wait_hold(struct isc_client *c, struct isc_client_error *err)
{
	struct rate_budget *rb = budget_of(c);
	long long until = 0, now;
	char berr[256];

	if (!rb)
		return 0;
	if (rate_budget_hold(rb, &until, berr, sizeof berr) != RATE_GRANTED) {
		budget_error(c, berr);
		return 0;
	}
	now = io_now_ms();
	if (until <= now)
		return 0;
	if (until > c->deadline_ms - MIN_ATTEMPT_MS) {
		set_error(err, ISC_CLIENT_BUDGET,
			  "a 429 holds the host's requests to ISC past the deadline");
		err->budget_at_ms = until;
		err->sent = 0;
		return -1;
	}
	sleep_ms(until - now);
	return 0;
}

/* One request, retried as isc_client.h says. Returns 0 with *http and resp
 * (the last answer) or -1 with err. idempotent false: set-password. */
static int request_loop(struct isc_client *c, const char *url, const char *content_type,
			const char *body, size_t body_len, bool with_token, bool idempotent,
			struct response *resp, long *http, struct isc_client_error *err)
{
	long long backoff = ISC_CLIENT_BACKOFF_MS;
	bool refreshed = false;

	for (int attempt = 1;; attempt++) {
		long long t0 = io_now_ms(), wait, left;
		bool retry, held = false;

		if (with_token && ensure_token_locked(c, err) < 0)
			return -1;
		/* Only the API calls count: ISC limits them per access token. */
		if (with_token ? take_slot(c, err) < 0 : wait_hold(c, err) < 0)
			return -1;
		t0 = io_now_ms();
		if (perform(c, url, content_type, body, body_len, with_token, !idempotent, resp,
			    http, err) < 0) {
			/* A timeout used up the time; an internal error will not heal;
			 * a set-password that went out may have been taken. */
			if (err->kind != ISC_CLIENT_TRANSPORT || (!idempotent && err->sent))
				return -1;
			retry = true;
			wait = jittered(backoff);
		} else {
			log_http(c, url, *http, t0);
			note_answer(c, *http, resp->retry_after, !with_token);
			if (*http == 401 && with_token && !refreshed) {
				/* The token is no longer good (expired early, revoked):
				 * drop it, fetch a new one, try once more. */
				log_event(c->lc, LOG_INFO, "token_refused", "http", "401", NULL);
				response_free(resp);
				token_cache_clear(c->cfg);
				secret_clear(&c->token);
				refreshed = true;
				attempt--;
				continue;
			}
			if (*http == 429) {
				retry = true;
				wait = resp->retry_after >= 0 ? resp->retry_after * 1000LL
							      : jittered(backoff);
				/* With a budget, the next try waits out the hold
				 * this 429 put on the whole host (take_slot,
				 * wait_hold). */
				held = c->budget != NULL;
			} else if (*http >= 500 && (idempotent || *http == 503)) {
				retry = true;
				wait = jittered(backoff);
			} else {
				return 0;
			}
		}
		left = c->deadline_ms - io_now_ms();
		if (!retry || attempt >= ISC_CLIENT_MAX_ATTEMPTS || wait + MIN_ATTEMPT_MS > left) {
			if (*http == 429 || *http >= 500)
				return 0;
			return -1;
		}
		log_retry(c, url, attempt, *http, err, wait);
		if (*http)
			response_free(resp);
		if (!held)
			sleep_ms(wait);
		backoff *= 2;
	}
}

static int fetch_token(struct isc_client *c, struct isc_client_error *err)
{
	char url[URL_MAX], cache_err[256];
	char *id = NULL, *secret = NULL, *form = NULL;
	size_t form_len = 0;
	struct isc_token tok = { 0 };
	struct response resp;
	long http = 0;
	int ret = -1;

	if (snprintf(url, sizeof url, "%s/oauth/token", c->cfg->api_url) >= (int)sizeof url) {
		set_error(err, ISC_CLIENT_INTERNAL, "api_url too long");
		return -1;
	}
	id = curl_easy_escape(c->curl, c->cfg->client_id, 0);
	secret =
		curl_easy_escape(c->curl, (char *)c->client_secret.data, (int)c->client_secret.len);
	if (id && secret) {
		form_len = strlen(id) + strlen(secret) + 64;
		form = malloc(form_len);
	}
	if (!form) {
		set_error(err, ISC_CLIENT_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(form, form_len, "grant_type=client_credentials&client_id=%s&client_secret=%s", id,
		 secret);
	if (request_loop(c, url, "application/x-www-form-urlencoded", form, strlen(form), false,
			 true, &resp, &http, err) < 0)
		goto out;
	if (http != 200) {
		http_error(err, http, &resp);
		response_free(&resp);
		goto out;
	}
	{
		char perr[128];
		if (isc_json_parse_token(resp.body ? resp.body : "", resp.len, &tok, perr,
					 sizeof perr) < 0) {
			set_error(err, ISC_CLIENT_PROTOCOL, "token response: %s", perr);
			err->http = http;
			response_free(&resp);
			goto out;
		}
	}
	response_free(&resp);
	secret_clear(&c->token);
	if (secret_set(&c->token, tok.access_token, strlen(tok.access_token)) < 0) {
		set_error(err, ISC_CLIENT_INTERNAL, "out of memory");
		goto out;
	}
	if (token_cache_store(c->cfg, time(NULL), tok.access_token, tok.expires_in, cache_err,
			      sizeof cache_err) < 0)
		/* Not fatal: this change goes on, the next one fetches again. */
		log_event(c->lc, LOG_WARNING, "token_cache", "text", cache_err, NULL);
	{
		char ttl[24];
		snprintf(ttl, sizeof ttl, "%ld", tok.expires_in);
		log_event(c->lc, LOG_DEBUG, "token", "source", "fetched", "ttl", ttl, NULL);
	}
	ret = 0;
out:
	isc_token_free(&tok);
	if (secret)
		secret_wipe(secret, strlen(secret));
	curl_free(secret);
	curl_free(id);
	secret_free_buf(form, form_len);
	return ret;
}

static int ensure_token_locked(struct isc_client *c, struct isc_client_error *err)
{
	char cache_err[256];
	enum token_cache_result rc;

	if (c->token.len > 0)
		return 0;
	rc = token_cache_load(c->cfg, time(NULL), &c->token, cache_err, sizeof cache_err);
	if (rc == TOKEN_CACHE_HIT) {
		log_event(c->lc, LOG_DEBUG, "token", "source", "cache", NULL);
		return 0;
	}
	if (rc == TOKEN_CACHE_ERROR)
		log_event(c->lc, LOG_WARNING, "token_cache", "text", cache_err, NULL);
	return fetch_token(c, err);
}

int isc_client_ensure_token(struct isc_client *c, struct isc_client_error *err)
{
	clear_error(err);
	return ensure_token_locked(c, err);
}

/* The three API calls (lookup, set-password, status) differ only in what
 * is asked and how the answer is read: an endpoint, a request body (none:
 * GET), whether the request may be repeated, the success status, and a
 * parser. The rest is one skeleton (api_call). */
typedef int (*api_parse_fn)(const char *body, size_t len, void *out, char *err, size_t errsize);

struct api_spec {
	const char *endpoint; /* "query-password-info", ... */
	bool idempotent;      /* false: set-password (see request_loop) */
	bool accept_202;      /* 202 Accepted is a success too (set-password) */
	api_parse_fn parse;
};

/* Adapters: the parsers take their own result types. */
static int parse_password_info(const char *body, size_t len, void *out, char *err, size_t errsize)
{
	return isc_json_parse_password_info(body, len, out, err, errsize);
}

static int parse_set_result(const char *body, size_t len, void *out, char *err, size_t errsize)
{
	return isc_json_parse_set_result(body, len, out, err, errsize);
}

static int parse_status(const char *body, size_t len, void *out, char *err, size_t errsize)
{
	return isc_json_parse_status(body, len, out, err, errsize);
}

static const struct api_spec API_LOOKUP = { "query-password-info", true, false,
					    parse_password_info };
/* Not idempotent: a set-password that may have reached ISC (the request
 * went out, then a timeout, a reset or a 5xx other than 503) is not
 * repeated, because a second request would start a second change, and if
 * the person changes the password again meanwhile, a late repeat could put
 * the older password back. err->sent tells the caller that the outcome is
 * unknown. Retried only when ISC certainly did not act: no connection, TLS
 * handshake failed, 429, 503. */
static const struct api_spec API_SET = { "set-password", false, true, parse_set_result };
static const struct api_spec API_STATUS = { "password-change-status", true, false, parse_status };

/* One authenticated API call: the URL (with id, if any, as the last path
 * segment), the request loop with body (NULL: GET), the status check, and
 * the parse of a successful answer into out. The caller has cleared err and
 * out. Returns 0, or -1 with err filled (HTTP error details, or why the
 * answer was unusable). */
static int api_call(struct isc_client *c, const struct api_spec *spec, const char *id,
		    const char *body, void *out, struct isc_client_error *err)
{
	char url[URL_MAX], perr[128];
	struct response resp;
	long http = 0;
	int ret = -1;

	if (build_url(c, spec->endpoint, id, url, sizeof url) < 0) {
		set_error(err, ISC_CLIENT_INTERNAL, "URL too long");
		return -1;
	}
	if (request_loop(c, url, "application/json", body, body ? strlen(body) : 0, true,
			 spec->idempotent, &resp, &http, err) < 0)
		return -1;
	if (http != 200 && !(spec->accept_202 && http == 202)) {
		http_error(err, http, &resp);
	} else if (spec->parse(resp.body ? resp.body : "", resp.len, out, perr, sizeof perr) < 0) {
		set_error(err, ISC_CLIENT_PROTOCOL, "%s response: %s", spec->endpoint, perr);
		err->http = http;
	} else {
		ret = 0;
	}
	response_free(&resp);
	return ret;
}

int isc_client_lookup(struct isc_client *c, const char *user_name, struct isc_password_info *out,
		      struct isc_client_error *err)
{
	char *body;
	int ret;

	clear_error(err);
	memset(out, 0, sizeof *out);
	body = isc_json_build_lookup(user_name, c->cfg->source_name);
	if (!body) {
		set_error(err, ISC_CLIENT_INTERNAL, "out of memory");
		return -1;
	}
	ret = api_call(c, &API_LOOKUP, NULL, body, out, err);
	free(body);
	return ret;
}

int isc_client_set_password(struct isc_client *c, const struct isc_password_info *info,
			    const struct isc_account *account, const char *encrypted_b64,
			    struct isc_set_result *out, struct isc_client_error *err)
{
	char *body;
	int ret;

	clear_error(err);
	memset(out, 0, sizeof *out);
	body = isc_json_build_set_password(info->identity_id, encrypted_b64, info->public_key_id,
					   account->account_id, info->source_id);
	if (!body) {
		set_error(err, ISC_CLIENT_INTERNAL, "out of memory");
		return -1;
	}
	ret = api_call(c, &API_SET, NULL, body, out, err);
	/* It holds the ciphertext. */
	secret_free_str(body);
	return ret;
}

int isc_client_status(struct isc_client *c, const char *request_id, struct isc_status *out,
		      struct isc_client_error *err)
{
	clear_error(err);
	memset(out, 0, sizeof *out);
	return api_call(c, &API_STATUS, request_id, NULL, out, err);
}
