/* SPDX-License-Identifier: MIT */
/* session: see session.h. */
#include "session.h"
#include "follower.h"
#include "host_stats.h"
#include "queue.h"
#include "service_link.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* The verdict must reach the module before it gives up on us. */
#define VERDICT_MARGIN_MS 300
/* Less time left than this when a request is picked up: the module will
 * have stopped waiting before ISC could answer. */
#define MIN_WORK_MS 200

void session_init(struct session *s, int fd, int out_fd, struct isc_pool *pool)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->out_fd = out_fd;
	s->pool = pool;
	s->state = SESSION_WAIT_REQUEST;
}

uid_t session_caller(const struct session *s)
{
	return s->first.caller_uid;
}

static void send_verdict(struct session *s, const struct proto_verdict *v)
{
	char line[PROTO_VERDICT_MAX + 2];
	size_t len = proto_format_verdict(v, line, sizeof line);

	/* A module that gave up has closed its end: the write fails (no
	 * SIGPIPE), and the change stands as ISC answered it. */
	if (len > 0 && s->out_fd >= 0)
		(void)io_write_all(s->out_fd, line, len);
}

/* The work's deadline: the module's, less the margin for the verdict, and
 * never later than this configuration's timeout from now. */
static long long work_deadline(const struct config *cfg, const struct proto_request *req)
{
	long long own = io_now_ms() + (long long)cfg->timeout * 1000;
	long long theirs = req->deadline_ms;

	return (theirs < own ? theirs : own) - VERDICT_MARGIN_MS;
}

/* An update phase that sends nothing still supersedes the user's older
 * queued change (queue.h: only the newest password ever reaches ISC after
 * an older one); change_set and change_queue do this themselves. */
static void supersede_queued(struct session *s, const struct proto_request *req, long long deadline,
			     const struct log_ctx *lc)
{
	char err[256];

	if (queue_attempt(&s->cfg, req->user, deadline, NULL, err, sizeof err) < 0)
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "queue", "text", err,
			  NULL);
}

/* The update phase after a preliminary phase in this session: the lookup
 * is in ctx, or the preliminary phase already knows why there is none. */
static void update_after_prelim(struct session *s, const struct proto_request *req,
				long long deadline, const struct log_ctx *lc,
				struct proto_verdict *verdict)
{
	if (s->ctx.looked_up) {
		change_set(&s->ctx, req->authtok.data, req->authtok.len, deadline, verdict);
	} else if (s->prelim.reason == PROTO_REASON_UNREACHABLE ||
		   s->prelim.reason == PROTO_REASON_RATE_LIMITED ||
		   s->prelim.reason == PROTO_REASON_INTERNAL) {
		/* ISC did not answer a moment ago: do not make the person wait
		 * a second time. */
		memset(verdict, 0, sizeof *verdict);
		verdict->reason = s->prelim.reason == PROTO_REASON_RATE_LIMITED
					  ? PROTO_REASON_RATE_LIMITED
					  : PROTO_REASON_UNREACHABLE;
		if (s->cfg.on_error == CONFIG_ON_ERROR_QUEUE && s->ctx.client) {
			change_queue(&s->ctx, req->authtok.data, req->authtok.len, deadline,
				     verdict);
		} else {
			supersede_queued(s, req, deadline, lc);
			log_event(lc, LOG_DEBUG, "not_sent", "user", req->user, "text",
				  "ISC was unreachable in the preliminary phase", NULL);
		}
	} else {
		/* ISC said no (or the configuration is broken): same answer, no
		 * second lookup. */
		supersede_queued(s, req, deadline, lc);
		*verdict = s->prelim;
	}
}

/* An accepted change that ISC is still working on is recorded for the
 * follow-up before the module hears of it: a module that is gone by then
 * (the write fails) cannot lose it. */
static void record_followup(struct session *s, const struct proto_request *req,
			    const struct proto_verdict *v, const struct log_ctx *lc)
{
	char err[256];

	if (v->queued) {
		/* The follower delivers the queue as the budget allows. */
		s->follow_queue = true;
		snprintf(s->follow_config, sizeof s->follow_config, "%s", req->config_path);
		s->follow_debug = req->debug;
		return;
	}
	if (!v->accepted || strcmp(v->state, "IN_PROGRESS") != 0)
		return;
	if (!v->request_id[0]) {
		log_event(lc, LOG_WARNING, "unfollowed", "user", req->user, "state", "IN_PROGRESS",
			  "text", "ISC gave no request id; the outcome cannot be followed", NULL);
		return;
	}
	if (follower_enqueue(&s->cfg, v->request_id, req->user, time(NULL), err, sizeof err) < 0) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "request", v->request_id, "step",
			  "follow", "text", err, NULL);
		return;
	}
	snprintf(s->follow_id, sizeof s->follow_id, "%s", v->request_id);
	snprintf(s->follow_user, sizeof s->follow_user, "%s", req->user);
	snprintf(s->follow_config, sizeof s->follow_config, "%s", req->config_path);
	s->follow_debug = req->debug;
}

static enum session_state finish(struct session *s, const struct proto_request *req,
				 const struct proto_verdict *v, const struct log_ctx *lc)
{
	record_followup(s, req, v, lc);
	send_verdict(s, v);
	/* After the verdict: the person does not wait for the figures. */
	if (s->have_cfg)
		host_stats_count(&s->cfg, lc,
				 v->accepted ? HOST_STAT_ACCEPTED
				 : v->queued ? HOST_STAT_QUEUED
					     : HOST_STAT_FAILED,
				 1);
	s->state = SESSION_DONE;
	return s->state;
}

enum session_state session_serve(struct session *s, struct log_ctx *lc, int idle_ms,
				 bool (*busy)(void *ctx, uid_t caller), void *busy_ctx)
{
	struct proto_request req;
	struct proto_verdict verdict = { .accepted = false, .reason = PROTO_REASON_INTERNAL };
	struct config_error conf_err;
	long long deadline;
	char err[256];
	enum proto_read_result rc;

	rc = proto_read_request(s->fd, idle_ms, &req, err, sizeof err);
	if (rc != PROTO_READ_OK) {
		/* EOF: the change ended without an update phase (a module
		 * refused, the person gave up), or the module sent nonsense. */
		if (rc == PROTO_READ_ERROR)
			log_event(lc, s->state == SESSION_WAIT_UPDATE ? LOG_DEBUG : LOG_ERR,
				  s->state == SESSION_WAIT_UPDATE ? "prelim_only" : "error", "user",
				  s->state == SESSION_WAIT_UPDATE ? s->first.user : NULL, "step",
				  "request", "text", err, NULL);
		if (rc == PROTO_READ_ERROR && s->state == SESSION_WAIT_REQUEST)
			send_verdict(s, &verdict);
		s->state = SESSION_DONE;
		return s->state;
	}
	lc->debug = req.debug;

	if (s->state == SESSION_WAIT_UPDATE) {
		if (req.phase != PROTO_PHASE_UPDATE || strcmp(req.user, s->first.user) != 0 ||
		    strcmp(req.config_path, s->first.config_path) != 0) {
			log_event(lc, LOG_ERR, "error", "user", s->first.user, "step", "request",
				  "text", "the update request does not match the preliminary one",
				  NULL);
			verdict.reason = PROTO_REASON_INTERNAL;
		} else if ((deadline = work_deadline(&s->cfg, &req)) - io_now_ms() < MIN_WORK_MS) {
			log_event(
				lc, LOG_ERR, "abandoned", "user", req.user, "phase", "update",
				"text",
				"the module stopped waiting before the change could start; nothing was sent",
				NULL);
		} else {
			update_after_prelim(s, &req, deadline, lc, &verdict);
		}
		secret_clear(&req.authtok);
		return finish(s, &req, &verdict, lc);
	}

	if (config_load(req.config_path, &s->cfg, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "config_error", "user", req.user, "text", text, NULL);
		verdict.reason = PROTO_REASON_CONFIG;
		secret_clear(&req.authtok);
		send_verdict(s, &verdict);
		s->state = SESSION_DONE;
		return s->state;
	}
	s->have_cfg = true;
	s->first = req; /* what the update phase must match; no password kept */
	s->first.authtok = (struct secret){ 0 };
	deadline = work_deadline(&s->cfg, &req);
	if (deadline - io_now_ms() < MIN_WORK_MS) {
		log_event(
			lc, LOG_ERR, "abandoned", "user", req.user, "phase",
			req.phase == PROTO_PHASE_PRELIM ? "prelim" : "update", "text",
			"the module stopped waiting before the change could start; nothing was sent",
			NULL);
		secret_clear(&req.authtok);
		send_verdict(s, &verdict);
		s->state = SESSION_DONE;
		return s->state;
	}

	if (req.phase == PROTO_PHASE_PRELIM) {
		secret_clear(&req.authtok); /* empty, but allocated */
		if (busy && busy(busy_ctx, req.caller_uid)) {
			log_event(lc, LOG_WARNING, "busy", "user", req.user, "phase", "prelim",
				  "text",
				  "too many password changes waiting for their update phase", NULL);
			s->prelim = (struct proto_verdict){ .reason = PROTO_REASON_BUSY };
			send_verdict(s, &s->prelim);
			s->state = SESSION_DONE;
			return s->state;
		}
		if (change_begin(&s->ctx, &s->cfg, s->first.user, lc, s->pool, deadline,
				 &s->prelim) == 0)
			change_lookup(&s->ctx, deadline, &s->prelim);
		send_verdict(s, &s->prelim);
		s->state = SESSION_WAIT_UPDATE;
		s->wait_until = io_now_ms() + PROTO_PRELIM_IDLE_MS;
		return s->state;
	}

	change_run(&s->cfg, req.user, req.authtok.data, req.authtok.len, deadline, lc, s->pool,
		   &verdict);
	secret_clear(&req.authtok);
	return finish(s, &req, &verdict, lc);
}

void session_end(struct session *s)
{
	change_end(&s->ctx);
	if (s->have_cfg)
		config_free(&s->cfg);
	s->have_cfg = false;
	if (s->fd >= 0 && s->fd != STDIN_FILENO)
		close(s->fd);
	s->fd = -1;
}
