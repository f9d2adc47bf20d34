/* SPDX-License-Identifier: MIT */
/* service: see service.h. */
#include "service.h"
#include "follower.h"
#include "fsutil.h"
#include "isc_client.h"
#include "service_socket.h"
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Set by SIGTERM and SIGINT (systemctl stop): leave at the next turn of
 * the loop, removing our socket, instead of dying in the middle of a
 * change. */
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct service {
	struct session *sessions[SERVICE_MAX_SESSIONS];
	size_t n;
	struct service_socket sock;
	struct isc_pool *pool;
	const char *self_exe;
	struct log_ctx *lc;
};

/* Is the program we run still the installed one? After an upgrade it reads
 * "PATH (deleted)", and the module would not use us anyway. */
static bool exe_replaced(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n < 0)
		return true;
	exe[n] = '\0';
	return n > 10 && strcmp(exe + n - 10, " (deleted)") == 0;
}

/* The throttle: preliminary phases held per caller, and sessions in all. */
static bool too_busy(void *ctx, uid_t caller)
{
	const struct service *sv = ctx;
	size_t held = 0;

	for (size_t i = 0; i < sv->n; i++)
		if (sv->sessions[i]->state == SESSION_WAIT_UPDATE &&
		    session_caller(sv->sessions[i]) == caller)
			held++;
	return held >= SERVICE_MAX_HELD_PER_CALLER || sv->n >= SERVICE_MAX_SESSIONS;
}

static void drop_session(struct service *sv, size_t i)
{
	struct session *s = sv->sessions[i];
	char err[256];

	/* The follow-up is recorded already (before the verdict): make sure
	 * someone follows it. We run in the host's context, so whatever we
	 * start does too. */
	if ((s->follow_id[0] || s->follow_queue) &&
	    follower_ensure_running(&s->cfg, sv->self_exe, s->follow_config, s->follow_debug, err,
				    sizeof err) < 0)
		log_event(sv->lc, LOG_ERR, "error", "user", s->follow_user, "request", s->follow_id,
			  "step", "follow", "text", err, NULL);
	session_end(s);
	free(s);
	sv->sessions[i] = sv->sessions[--sv->n];
}

static void accept_clients(struct service *sv)
{
	char err[256];

	while (sv->n < SERVICE_MAX_SESSIONS) {
		struct session *s;
		int conn;
		enum service_accept rc = service_socket_accept(&sv->sock, &conn, err, sizeof err);

		if (rc != SERVICE_ACCEPT_CLIENT && err[0])
			log_event(sv->lc, LOG_WARNING, "error", "step", "service", "text", err,
				  NULL);
		if (rc != SERVICE_ACCEPT_CLIENT)
			return;
		s = malloc(sizeof *s);
		if (!s) {
			close(conn);
			return;
		}
		session_init(s, conn, conn, sv->pool);
		s->wait_until = io_now_ms() + SERVICE_REQUEST_MS;
		sv->sessions[sv->n++] = s;
	}
}

int service_run(const char *config_path, const char *self_exe, struct log_ctx *lc)
{
	struct service sv = { .self_exe = self_exe, .lc = lc };
	struct config cfg = { 0 };
	struct config_error conf_err;
	time_t started = time(NULL);
	long long last_activity = io_now_ms(), idle_ms;
	char err[512];
	int rc = 0;

	if (config_load(config_path, &cfg, &conf_err) < 0) {
		config_error_format(&conf_err, err, sizeof err);
		log_event(lc, LOG_ERR, "config_error", "text", err, NULL);
		return 1;
	}
	idle_ms = (long long)(cfg.helper_linger > 0 ? cfg.helper_linger : 1) * 1000;
	if (fsutil_ensure_private_dir(cfg.runtime_dir, err, sizeof err) < 0) {
		log_event(lc, LOG_ERR, "error", "step", "service", "text", err, NULL);
		config_free(&cfg);
		return 1;
	}
	switch (service_socket_open(cfg.runtime_dir, &sv.sock, err, sizeof err)) {
	case SERVICE_SOCKET_OK:
		break;
	case SERVICE_SOCKET_TAKEN:
		config_free(&cfg);
		return 0; /* another one serves this host */
	case SERVICE_SOCKET_ERROR:
		log_event(lc, LOG_ERR, "error", "step", "service", "text", err, NULL);
		config_free(&cfg);
		return 1;
	}
	/* Follow-ups left by one-shot helpers that could not start a follower
	 * (an ordinary user's passwd): we run in the host's context. */
	if (follower_has_work(&cfg) &&
	    follower_ensure_running(&cfg, self_exe, config_path, lc->debug, err, sizeof err) < 0)
		log_event(lc, LOG_ERR, "error", "step", "follow", "text", err, NULL);
	config_free(&cfg);
	if (isc_pool_new(&sv.pool) < 0)
		sv.pool = NULL; /* each change then opens its own connection */
	/* A module that gave up closes its end: a write must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = { .sa_handler = request_stop };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	log_event(lc, LOG_INFO, "service_started", "path", sv.sock.path, NULL);

	for (;;) {
		struct pollfd pfd[SERVICE_MAX_SESSIONS + 1];
		long long now = io_now_ms(), wake = now + 1000;
		size_t i;
		int n;

		/* Sessions whose module stayed silent too long. */
		for (i = 0; i < sv.n;) {
			if (sv.sessions[i]->wait_until <= now) {
				log_event(lc, LOG_DEBUG, "session_timeout", "user",
					  sv.sessions[i]->state == SESSION_WAIT_UPDATE
						  ? sv.sessions[i]->first.user
						  : NULL,
					  NULL);
				drop_session(&sv, i);
				continue;
			}
			if (sv.sessions[i]->wait_until < wake)
				wake = sv.sessions[i]->wait_until;
			i++;
		}
		if (stop_requested) {
			log_event(lc, LOG_INFO, "service_exits", "text", "stopped", NULL);
			break;
		}
		if (sv.n == 0) {
			const char *why = NULL;
			if (now - last_activity >= idle_ms)
				why = "idle";
			else if (time(NULL) - started >= SERVICE_MAX_LIFETIME_S)
				why = "lifetime";
			else if (exe_replaced())
				why = "program replaced";
			else if (!service_socket_still_ours(&sv.sock))
				why = "socket taken away";
			if (why) {
				log_event(lc, LOG_INFO, "service_exits", "text", why, NULL);
				break;
			}
		}
		pfd[0] = (struct pollfd){ .fd = sv.n < SERVICE_MAX_SESSIONS ? sv.sock.fd : -1,
					  .events = POLLIN };
		for (i = 0; i < sv.n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = sv.sessions[i]->fd, .events = POLLIN };
		n = poll(pfd, sv.n + 1, (int)(wake - now > 0 ? wake - now : 0));
		if (n < 0 && errno != EINTR) {
			log_event(lc, LOG_ERR, "error", "step", "service", "text", strerror(errno),
				  NULL);
			rc = 1;
			break;
		}
		if (n <= 0)
			continue;
		last_activity = io_now_ms();
		/* Serve the sessions that have something to say, newest last;
		 * walking down keeps the indices valid as sessions are dropped. */
		for (i = sv.n; i-- > 0;) {
			struct session *s = sv.sessions[i];
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
				continue;
			if (session_serve(s, lc, SERVICE_REQUEST_MS, too_busy, &sv) == SESSION_DONE)
				drop_session(&sv, i);
		}
		if (pfd[0].revents & POLLIN)
			accept_clients(&sv);
	}
	while (sv.n > 0)
		drop_session(&sv, sv.n - 1);
	service_socket_close(&sv.sock);
	isc_pool_free(sv.pool);
	return rc;
}
