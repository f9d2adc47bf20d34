/* pam_isc_helper: the process that does the network work for pam_isc.so.
 *
 *   pam_isc_helper chauthtok      request on stdin, one verdict line on stdout
 *   pam_isc_helper follow --config PATH [--debug]
 *
 * pam_isc.so starts it with a built environment, stdin/stdout on a
 * socketpair, stderr on /dev/null, in its own session. Like unix_chkpwd it
 * keeps TLS, libcurl and json-c out of the PAM application's process.
 *
 * With helper_linger > 0 it stays after its change: it forks (the module
 * reaps the parent at once), and the child serves further changes of this
 * host over RUNTIME_DIR/helper.sock (linger.h), one at a time, with the
 * TLS connection of the first kept in a connection pool, until nothing came
 * for helper_linger seconds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "change.h"
#include "config.h"
#include "follower.h"
#include "fsutil.h"
#include "isc_client.h"
#include "linger.h"
#include "log.h"
#include "proto.h"
#include "secret.h"

/* The verdict must reach the module before it gives up on us. */
#define VERDICT_MARGIN_MS 300

/* Become fully root when started from setuid passwd (so the invoking user
 * can neither signal nor trace us), make sure nothing of this process ends
 * up in a core file, and leave the directory passwd was started in: a
 * follower or a lingering helper outlives the change, and must not keep a
 * home directory (an NFS or automounted one, say) from being unmounted.
 * Every path we use is absolute. */
static int harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (geteuid() == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return -1;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -1;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -1;
	umask(077);
	if (chdir("/") < 0)
		return -1;
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One change served: over the module's socketpair (stdin, stdout) or, in
 * a lingering helper, over a connection accepted on helper.sock. */
struct session {
	int fd; /* requests come in and verdicts go out here */
	bool accepted; /* fd is an accepted connection (closed when done) */
	struct isc_pool *pool;
	/* from the change's configuration: whether and where to linger */
	unsigned linger;
	char runtime_dir[PROTO_PATH_MAX];
	/* a lingering helper's listener, closed while it serves: it listens
	 * again just before the final verdict (see send_verdict) */
	struct linger_listener *next;
};

static void send_verdict_line(const struct session *s, const struct proto_verdict *v)
{
	char line[PROTO_VERDICT_MAX + 2];
	size_t len = proto_format_verdict(v, line, sizeof line);

	if (len > 0 && s->fd >= 0)
		write_all(s->accepted ? s->fd : STDOUT_FILENO, line, len);
}

static void send_verdict(struct session *s, const struct proto_verdict *v)
{
	char err[256];

	/* Listen again before the module has its verdict: a batch (chpasswd)
	 * asks for the next change right after it, and must find us then, not
	 * a moment later when this change's cleanup is done. */
	if (s->accepted && s->next && s->next->fd < 0 && s->linger > 0 &&
	    linger_listen(s->runtime_dir, s->next, err, sizeof err) < 0)
		s->next->fd = -1; /* linger_serve tries again, and logs it */
	send_verdict_line(s, v);
	/* Done with the module: let nothing we start hold its socket. */
	if (s->accepted) {
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		return;
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
}

static long long phase_deadline(const struct config *cfg)
{
	return isc_client_now_ms() + (long long)cfg->timeout * 1000 - VERDICT_MARGIN_MS;
}

/* The update phase after a preliminary phase in this process: the lookup
 * is in ctx (one change, one lookup), or the preliminary phase already
 * knows why there is none. */
static void update_after_prelim(struct change_ctx *ctx, const struct config *cfg,
				const struct proto_verdict *prelim, const struct proto_request *req,
				const struct log_ctx *lc, struct proto_verdict *verdict)
{
	long long deadline = phase_deadline(cfg);

	if (ctx->looked_up) {
		change_set(ctx, req->authtok.data, req->authtok.len, deadline, verdict);
	} else if (prelim->reason == PROTO_REASON_UNREACHABLE ||
		   prelim->reason == PROTO_REASON_INTERNAL) {
		/* ISC did not answer a moment ago: do not make the person wait
		 * a second time. */
		memset(verdict, 0, sizeof *verdict);
		verdict->reason = PROTO_REASON_UNREACHABLE;
		if (cfg->on_error == CONFIG_ON_ERROR_QUEUE && ctx->client)
			change_queue(ctx, req->authtok.data, req->authtok.len, deadline, verdict);
		else
			log_event(lc, LOG_DEBUG, "not_sent", "user", req->user, "text",
				  "ISC was unreachable in the preliminary phase", NULL);
	} else {
		/* ISC said no (or the configuration is broken): same answer, no
		 * second lookup. */
		*verdict = *prelim;
	}
}

static int run_chauthtok(struct log_ctx *lc, struct session *s)
{
	struct proto_request req, req2 = { 0 };
	struct proto_verdict verdict = { .accepted = false, .reason = PROTO_REASON_INTERNAL };
	struct proto_verdict prelim;
	struct config cfg = { 0 };
	struct config_error conf_err;
	struct change_ctx ctx;
	const struct proto_request *upd = &req;
	char err[256];
	int rc;

	memset(&ctx, 0, sizeof ctx);
	if (proto_read_request(s->fd, 10000, &req, err, sizeof err) != 0) {
		log_event(lc, LOG_ERR, "error", "step", "request", "text", err, NULL);
		send_verdict(s, &verdict);
		return 1;
	}
	lc->debug = req.debug;
	if (config_load(req.config_path, &cfg, &conf_err) < 0) {
		char text[512];
		config_error_format(&conf_err, text, sizeof text);
		log_event(lc, LOG_ERR, "config_error", "user", req.user, "text", text, NULL);
		verdict.reason = PROTO_REASON_CONFIG;
		send_verdict(s, &verdict);
		secret_clear(&req.authtok);
		return 1;
	}

	s->linger = cfg.helper_linger;
	snprintf(s->runtime_dir, sizeof s->runtime_dir, "%s", cfg.runtime_dir);
	if (req.phase == PROTO_PHASE_PRELIM) {
		long long deadline = phase_deadline(&cfg);
		if (change_begin(&ctx, &cfg, req.user, lc, s->pool, deadline, &prelim) == 0)
			change_lookup(&ctx, deadline, &prelim);
		send_verdict_line(s, &prelim);
		/* Wait, with the lookup in memory, for the update phase. */
		rc = proto_read_request(s->fd, PROTO_PRELIM_IDLE_MS, &req2, err, sizeof err);
		if (rc != 0) {
			/* The change ended in between (a module refused, the
			 * person gave up): nothing to do. */
			if (rc < 0)
				log_event(lc, LOG_DEBUG, "prelim_only", "user", req.user, "text", err,
					  NULL);
			change_end(&ctx);
			config_free(&cfg);
			secret_clear(&req.authtok);
			secret_clear(&req2.authtok);
			return 0;
		}
		if (req2.phase != PROTO_PHASE_UPDATE || strcmp(req2.user, req.user) != 0 ||
		    strcmp(req2.config_path, req.config_path) != 0) {
			log_event(lc, LOG_ERR, "error", "user", req.user, "step", "request", "text",
				  "the update request does not match the preliminary one", NULL);
			verdict.reason = PROTO_REASON_INTERNAL;
		} else {
			update_after_prelim(&ctx, &cfg, &prelim, &req2, lc, &verdict);
		}
		upd = &req2;
		change_end(&ctx);
	} else {
		change_run(&cfg, req.user, req.authtok.data, req.authtok.len, phase_deadline(&cfg),
			   lc, s->pool, &verdict);
	}
	secret_clear(&req.authtok);
	secret_clear(&req2.authtok);
	send_verdict(s, &verdict);

	if (verdict.accepted && strcmp(verdict.state, "IN_PROGRESS") == 0 &&
	    verdict.request_id[0]) {
		if (follower_enqueue(&cfg, verdict.request_id, upd->user, time(NULL), err,
				     sizeof err) < 0 ||
		    follower_ensure_running(&cfg, "/proc/self/exe", upd->config_path, upd->debug,
					    err, sizeof err) < 0)
			log_event(lc, LOG_ERR, "error", "user", upd->user, "request",
				  verdict.request_id, "step", "follow", "text", err, NULL);
	} else if (verdict.accepted && strcmp(verdict.state, "IN_PROGRESS") == 0) {
		log_event(lc, LOG_WARNING, "unfollowed", "user", upd->user, "state", "IN_PROGRESS",
			  "text", "ISC gave no request id; the outcome cannot be followed", NULL);
	}
	config_free(&cfg);
	return verdict.accepted ? 0 : 1;
}

/* A lingering helper stops after this long or this many changes, whatever
 * comes: memory and libraries are then fresh again. */
#define LINGER_MAX_LIFETIME_S 3600
#define LINGER_MAX_CHANGES 100000

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

/* The lingering helper: serve changes on helper.sock, one at a time,
 * until nothing comes for s->linger seconds (see the top of this file). */
static void linger_serve(struct log_ctx *lc, struct session *s)
{
	time_t started = time(NULL);
	struct linger_listener l = { .fd = -1 };
	unsigned served = 0;
	char err[256];

	/* A module that gave up closes its end: a write must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	while (s->linger > 0 && served < LINGER_MAX_CHANGES &&
	       time(NULL) - started < LINGER_MAX_LIFETIME_S && !exe_replaced()) {
		int conn = -1, rc;

		if (l.fd < 0 && (fsutil_ensure_private_dir(s->runtime_dir, err, sizeof err) < 0 ||
				 linger_listen(s->runtime_dir, &l, err, sizeof err) < 0)) {
			log_event(lc, LOG_WARNING, "error", "step", "linger", "text", err, NULL);
			return;
		}
		if (served == 0)
			log_event(lc, LOG_DEBUG, "helper_lingers", "path", l.path, NULL);
		do {
			rc = linger_accept(&l, (int)s->linger * 1000, &conn, err, sizeof err);
			if (rc == 0 && err[0])
				log_event(lc, LOG_WARNING, "error", "step", "linger", "text", err,
					  NULL);
		} while (rc == 0 && err[0]);
		/* While we serve, there is no socket: a change that comes now
		 * starts a helper of its own instead of waiting for us (until
		 * send_verdict listens again). */
		linger_close(&l);
		if (rc <= 0) {
			log_event(lc, LOG_DEBUG, "helper_exits", "text",
				  rc < 0 ? err : "idle", NULL);
			return;
		}
		s->fd = conn;
		s->accepted = true;
		s->next = &l;
		lc->debug = false;
		run_chauthtok(lc, s);
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		served++;
	}
	linger_close(&l);
}

/* After the first change: stay (helper_linger > 0) in a child of ours, so
 * that the module, which waits for us to exit, is not held up. Returns
 * only in the process that must exit now with rc: the parent of a child
 * that lingers leaves at once through _exit (the pooled TLS connection is
 * the child's now; a cleanup here would close it under the child). */
static void maybe_linger(struct log_ctx *lc, struct session *s, int rc)
{
	pid_t pid;

	if (s->linger == 0 || geteuid() != 0 || exe_replaced())
		return;
	pid = fork();
	if (pid < 0)
		return;
	if (pid > 0)
		_exit(rc);
	setsid();
	linger_serve(lc, s);
}

static int run_follow(int argc, char **argv, struct log_ctx *lc)
{
	const char *config_path = NULL;
	struct config cfg = { 0 };
	struct config_error conf_err;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--debug") == 0)
			lc->debug = true;
		else
			return 2;
	}
	if (!config_path)
		return 2;
	do {
		/* Read anew whenever the follower saw the file change: a
		 * follower can run for status_timeout (hours). */
		if (config_load(config_path, &cfg, &conf_err) < 0) {
			char text[512];
			config_error_format(&conf_err, text, sizeof text);
			log_event(lc, LOG_ERR, "config_error", "text", text, NULL);
			return 1;
		}
		rc = follower_run(&cfg, config_path, lc);
		config_free(&cfg);
	} while (rc == FOLLOWER_RELOAD);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct log_ctx lc = { .sink = log_syslog_sink, .sink_ctx = NULL, .debug = false };
	int rc;

	openlog("pam_isc", LOG_PID, LOG_AUTHPRIV);
	if (harden_process() < 0) {
		log_event(&lc, LOG_ERR, "error", "step", "helper", "text",
			  "cannot drop to a private, undumpable process", NULL);
		return 1;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: pam_isc_helper chauthtok | follow --config PATH [--debug]\n"
				"This program is started by pam_isc.so; it is not meant to be "
				"run by hand.\n");
		return 2;
	}
	if (isc_client_global_init() < 0) {
		log_event(&lc, LOG_ERR, "error", "step", "helper", "text",
			  "libcurl initialisation failed", NULL);
		return 1;
	}
	if (strcmp(argv[1], "chauthtok") == 0) {
		struct session s = { .fd = STDIN_FILENO };
		/* The pool keeps the TLS connection for a lingering helper; it
		 * costs nothing when we do not linger. */
		if (isc_pool_new(&s.pool) < 0)
			s.pool = NULL;
		rc = run_chauthtok(&lc, &s);
		maybe_linger(&lc, &s, rc);
		isc_pool_free(s.pool);
	} else if (strcmp(argv[1], "follow") == 0)
		rc = run_follow(argc, argv, &lc);
	else
		rc = 2;
	isc_client_global_cleanup();
	closelog();
	return rc;
}
