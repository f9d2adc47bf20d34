/* SPDX-License-Identifier: MIT */
/* pam_isc_helper: the process that does the network work for pam_isc.so.
 *
 *   pam_isc_helper chauthtok      one change: requests on stdin, verdicts on stdout
 *   pam_isc_helper serve --config PATH [--debug]   the per-host service (service.h)
 *   pam_isc_helper follow --config PATH [--debug]  the follow-up (follower.h)
 *
 * pam_isc.so starts `chauthtok` when no per-host service serves it, with a
 * built environment, stdin/stdout on a socketpair, stderr on /dev/null, in
 * its own session. Like unix_chkpwd it keeps TLS, libcurl and json-c out of
 * the PAM application's process. It serves one change and exits; only when
 * its caller was root in the host's own context (host_context.h) does it
 * leave a service behind for the next changes, so that no long-lived
 * process ever runs in the context of an ordinary user's passwd. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "follower.h"
#include "host_context.h"
#include "isc_client.h"
#include "log.h"
#include "proto.h"
#include "service.h"
#include "session.h"
#include "spawn.h"

#define SELF_EXE "/proc/self/exe"

/* Become fully root when started from setuid passwd (so the invoking user
 * can neither signal nor trace us), make sure nothing of this process ends
 * up in a core file, drop what the caller's context can put back
 * (host_context_reset), and leave the directory passwd was started in: a
 * follower or service outlives the change and must not keep a home
 * directory from being unmounted. Every path we use is absolute. */
static int harden_process(bool reset_context, char *err, size_t errsize)
{
	struct rlimit no_core = { 0, 0 };

	if (geteuid() == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
		snprintf(err, errsize, "cannot become root: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		snprintf(err, errsize, "cannot become undumpable: %s", strerror(errno));
		return -1;
	}
	if (setrlimit(RLIMIT_CORE, &no_core) < 0) {
		snprintf(err, errsize, "cannot turn core files off: %s", strerror(errno));
		return -1;
	}
	umask(077);
	if (chdir("/") < 0) {
		snprintf(err, errsize, "chdir /: %s", strerror(errno));
		return -1;
	}
	/* Only root can put the rest back; a test run as another user keeps
	 * what it has (core files are off in any case). */
	if (reset_context && geteuid() == 0 && host_context_reset(err, errsize) < 0)
		return 1;
	return 0;
}

/* Started by systemd's socket activation (pam-isc.socket)? The service
 * manager made our context then; there is nothing of a caller to undo, and
 * the unit's sandbox would not let us touch it anyway. */
static bool started_by_systemd(void)
{
	const char *pid = getenv("LISTEN_PID");

	return pid && strtol(pid, NULL, 10) == (long)getpid();
}

/* Is a self-started service holding runtime_dir/service.lock? */
static bool service_lock_held(const char *runtime_dir)
{
	char path[PROTO_PATH_MAX + 32];
	bool held;
	int fd;

	snprintf(path, sizeof path, "%s/service.lock", runtime_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* After the change: what outlives it (the follow-up of an accepted change,
 * a service for the next changes) is started only when our caller was root
 * in the host's own context; otherwise the follow-up waits for the service
 * or for the flush timer (pam_isc_ctl flush), which run in the host's. */
static void after_change(struct session *s, bool caller_root, const char *reset_err,
			 struct log_ctx *lc)
{
	char why[256] = "", err[256];
	bool hosts = caller_root && !reset_err && host_context_is_hosts(why, sizeof why);

	if (!caller_root)
		snprintf(why, sizeof why, "started by an ordinary user");
	else if (reset_err)
		snprintf(why, sizeof why, "the caller's context cannot be undone: %s", reset_err);
	if (s->follow_id[0] || s->follow_queue) {
		if (!hosts)
			log_event(lc, LOG_DEBUG, "follow_deferred", "user",
				  s->follow_user[0] ? s->follow_user : NULL, "request",
				  s->follow_id[0] ? s->follow_id : NULL, "text", why, NULL);
		else if (follower_ensure_running(&s->cfg, SELF_EXE, s->follow_config,
						 s->follow_debug, err, sizeof err) < 0)
			log_event(lc, LOG_ERR, "error", "user", s->follow_user, "request",
				  s->follow_id, "step", "follow", "text", err, NULL);
	}
	if (!s->have_cfg || s->cfg.helper_linger == 0)
		return;
	if (!hosts) {
		log_event(lc, LOG_DEBUG, "no_service", "text", why, NULL);
		return;
	}
	if (!service_lock_held(s->cfg.runtime_dir)) {
		char *argv[] = { "pam_isc_helper", "serve", "--config", s->first.config_path,
				 NULL };
		if (spawn_detached(SELF_EXE, argv, err, sizeof err) < 0)
			log_event(lc, LOG_WARNING, "error", "step", "service", "text", err, NULL);
	}
}

static int run_chauthtok(struct log_ctx *lc, bool caller_root, const char *reset_err)
{
	struct session s;
	enum session_state st;
	int devnull, rc;

	session_init(&s, STDIN_FILENO, STDOUT_FILENO, NULL);
	st = session_serve(&s, lc, 10000, NULL, NULL);
	if (st == SESSION_WAIT_UPDATE)
		st = session_serve(&s, lc, PROTO_PRELIM_IDLE_MS, NULL, NULL);
	rc = st == SESSION_DONE ? 0 : 1;
	/* Done with the module: let nothing we start hold its socket. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}
	s.out_fd = -1;
	after_change(&s, caller_root, reset_err, lc);
	session_end(&s);
	return rc;
}

/* "--config PATH [--debug]" */
static const char *config_arg(int argc, char **argv, struct log_ctx *lc)
{
	const char *config_path = NULL;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--debug") == 0)
			lc->debug = true;
		else
			return NULL;
	}
	return config_path && config_path[0] == '/' ? config_path : NULL;
}

static int run_follow(const char *config_path, struct log_ctx *lc)
{
	struct config cfg = { 0 };
	struct config_error conf_err;
	int rc;

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
	bool caller_root = getuid() == 0;
	const char *config_path = NULL;
	bool reset_failed;
	char err[256];
	int rc;

	openlog("pam_isc", LOG_PID, LOG_AUTHPRIV);
	/* The module may be gone when we answer: a write must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	rc = harden_process(!started_by_systemd(), err, sizeof err);
	if (rc < 0) {
		log_event(&lc, LOG_ERR, "error", "step", "helper", "text", err, NULL);
		return 1;
	}
	/* Serve anyway: a one-shot helper serves its own caller's change
	 * only, and starts nothing long-lived from such a context. */
	reset_failed = rc > 0;
	if (reset_failed)
		log_event(&lc, LOG_DEBUG, "context", "text", err, NULL);
	if (argc < 2 ||
	    (strcmp(argv[1], "chauthtok") != 0 && !(config_path = config_arg(argc, argv, &lc)))) {
		fprintf(stderr, "usage: pam_isc_helper chauthtok | serve --config PATH [--debug] | "
				"follow --config PATH [--debug]\n"
				"This program is started by pam_isc.so and systemd; it is not "
				"meant to be run by hand.\n");
		return 2;
	}
	if (isc_client_global_init() < 0) {
		log_event(&lc, LOG_ERR, "error", "step", "helper", "text",
			  "libcurl initialisation failed", NULL);
		return 1;
	}
	if (strcmp(argv[1], "chauthtok") == 0)
		rc = run_chauthtok(&lc, caller_root, reset_failed ? err : NULL);
	else if (strcmp(argv[1], "serve") == 0)
		rc = service_run(config_path, SELF_EXE, &lc);
	else if (strcmp(argv[1], "follow") == 0)
		rc = run_follow(config_path, &lc);
	else
		rc = 2;
	isc_client_global_cleanup();
	closelog();
	return rc;
}
