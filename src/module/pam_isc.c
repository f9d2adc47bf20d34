/* pam_isc.so: the PAM glue. Decides whether a user is in scope, obtains the
 * new password, and hands it to pam_isc_helper over a socketpair; maps the
 * helper's one-line verdict to a PAM return code and a short message.
 *
 * Nothing network-related happens in this process: it is setuid passwd,
 * sshd, sudo or a login manager, running with the invoking user's
 * environment (see README, "Security model"). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "linger.h"
#include "log.h"
#include "module_args.h"
#include "proto.h"
#include "secret.h"

#define PAM_ISC_EXPORT __attribute__((visibility("default")))

/* pam_set_data key: the preliminary phase already logged a config error. */
#define DATA_CONFIG_LOGGED "pam_isc.config_error_logged"

/* How long past `timeout` the module waits for the helper's verdict before
 * it kills the helper: the helper stops its own work a little earlier. */
#define HELPER_GRACE_MS 700

static void pam_log_sink(void *sink_ctx, int priority, const char *line)
{
	pam_syslog((pam_handle_t *)sink_ctx, priority, "%s", line);
}

static void tell_user(pam_handle_t *pamh, int flags, int style, const char *text)
{
	if (!(flags & PAM_SILENT))
		pam_prompt(pamh, style, NULL, "%s", text);
}

/* The helper must be a regular file that only root (or, in tests, the
 * unprivileged user running the stack) can replace. */
static int helper_trusted(const char *path, char *why, size_t size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, size, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR)) {
		snprintf(why, size, "not an executable file");
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, size, "owned by uid %u", (unsigned)st.st_uid);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size, "writable by group or others");
		return -1;
	}
	return 0;
}

/* Read the verdict line until '\n', EOF or the deadline. */
static int read_verdict(int fd, long long deadline, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		long long left = deadline - proto_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc;

		if (left <= 0)
			return -2;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -1;
		if (rc == 0)
			return -2;
		n = read(fd, line + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len))
			break;
	}
	line[len] = '\0';
	return memchr(line, '\n', len) ? 0 : -1;
}

/* Wait for the helper to exit until the deadline; kill it after that.
 * Returns true when it had to be killed. Only a child of ours that has not
 * been reaped is ever signalled: waitpid(WNOHANG) returning 0 proves the
 * pid is still ours (an application that reaps every child, or a forked
 * copy of the application calling pam_end, makes waitpid fail instead). */
static bool reap_helper(pid_t pid, long long deadline)
{
	int status, step_ms = 1, pidfd = -1;

	if (pid <= 0)
		return false; /* a lingering helper: not our child */

#ifdef SYS_pidfd_open
	/* Readable once the helper has exited: wait exactly that long. It is
	 * close-on-exec by definition. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		long long left;

		if (r == pid || (r < 0 && errno != EINTR)) {
			if (pidfd >= 0)
				close(pidfd);
			return false;
		}
		left = deadline - proto_now_ms();
		if (left <= 0)
			break;
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
			int rc = poll(&pfd, 1, (int)left);
			if ((rc < 0 && errno != EINTR) || (pfd.revents & (POLLERR | POLLNVAL))) {
				close(pidfd); /* never spin on a broken pidfd */
				pidfd = -1;
			}
			continue;
		}
		/* No pidfd (kernel before 5.3, seccomp): the helper exits a
		 * millisecond or two after its verdict, so look again soon,
		 * then less often (a fixed 10 ms step cost every change ~10 ms
		 * of wall time, see docs/performance.md). */
		poll(NULL, 0, step_ms);
		if (step_ms < 10)
			step_ms *= 2;
	}
	if (pidfd >= 0)
		close(pidfd);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return true;
}

/* A helper kept between the preliminary and the update phase (pam_set_data
 * DATA_HELPER). fd < 0: consumed or gone. */
struct kept_helper {
	pid_t pid;
	int fd;
	struct proto_verdict prelim; /* what it answered in the preliminary phase */
};

#define DATA_HELPER "pam_isc.helper"

static void kept_helper_cleanup(pam_handle_t *pamh, void *data, int status)
{
	struct kept_helper *k = data;
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;

	(void)pamh;
	(void)status;
	if (!k)
		return;
	if (k->fd >= 0) {
		/* EOF tells the helper the change is over; then reap it. */
		close(k->fd);
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGCHLD, &dfl, &old_chld);
		reap_helper(k->pid, proto_now_ms() + 200);
		sigaction(SIGCHLD, &old_chld, NULL);
	}
	free(k);
}

/* Start the helper: *fd is our end of the socketpair. Returns 0, or -1
 * (logged). SIGCHLD must be at its default disposition (the caller). */
static int spawn_helper(const struct log_ctx *lc, const struct module_args *args,
			const char *user, pid_t *pid_out, int *fd_out)
{
	/* Everything the child needs is prepared before fork: between fork and
	 * exec only async-signal-safe calls are allowed. */
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char *const argv[] = { "pam_isc_helper", "chauthtok", NULL };
	int sv[2], devnull;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "text",
			  strerror(errno), NULL);
		return -1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "text",
			  strerror(errno), NULL);
		close(sv[0]);
		close(sv[1]);
		close(devnull);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		/* stdin and stdout on the socket, stderr nowhere, nothing else. */
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		closefrom(3);
		setsid();
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(args->helper_path, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	close(devnull);
	*pid_out = pid;
	*fd_out = sv[0];
	return 0;
}

/* How long the module waits for a lingering helper's greeting. An idle one
 * answers within a millisecond; one that is going away does not at all. */
#define LINGER_GREET_MS 1000

/* A helper for this change: the one lingering on runtime_dir/helper.sock
 * when helper_linger is on and it passes the checks of linger_connect
 * (*pid_out is then 0: not our child), else a new one. Returns 0, or -1
 * (logged). SIGCHLD must be at its default disposition (the caller). */
static int obtain_helper(const struct log_ctx *lc, const struct module_args *args,
			 const struct config *cfg, const char *user, pid_t *pid_out, int *fd_out)
{
	char why[256];

	/* Also for a lingering one: it must run a program we would start. */
	if (helper_trusted(args->helper_path, why, sizeof why) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "path",
			  args->helper_path, "text", why, NULL);
		return -1;
	}
	if (cfg->helper_linger > 0) {
		int rc = linger_connect(cfg->runtime_dir, args->helper_path, LINGER_GREET_MS,
					fd_out, why, sizeof why);
		if (rc == 0) {
			log_event(lc, LOG_DEBUG, "helper_reused", "user", user, NULL);
			*pid_out = 0;
			return 0;
		}
		if (rc < 0)
			log_event(lc, LOG_WARNING, "error", "user", user, "step", "linger", "text",
				  why, NULL);
		else if (why[0])
			log_event(lc, LOG_DEBUG, "helper_not_reused", "user", user, "text", why,
				  NULL);
	}
	return spawn_helper(lc, args, user, pid_out, fd_out);
}

/* Send one request and read its verdict, within timeout + grace. Returns
 * 0 with the verdict, -1 when the helper could not be reached (send
 * failed: it is gone), -2 when it gave no valid answer (logged). */
static int exchange(const struct log_ctx *lc, const struct config *cfg, int fd,
		    const struct proto_request *req, bool last, struct proto_verdict *verdict)
{
	long long deadline = proto_now_ms() + (long long)cfg->timeout * 1000 + HELPER_GRACE_MS;
	char line[PROTO_VERDICT_MAX + 2];
	int r;

	if (proto_send_request(fd, req) < 0)
		return -1;
	if (last)
		shutdown(fd, SHUT_WR);
	r = read_verdict(fd, deadline, line, sizeof line);
	if (r == -2) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
			  "no answer from the helper within timeout; killed", NULL);
		return -2;
	}
	if (r < 0 || proto_parse_verdict(line, verdict) < 0) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
			  "the helper ended without a valid verdict", NULL);
		return -2;
	}
	return 0;
}

/* The update phase: hand the request to the helper kept from the
 * preliminary phase, or to a new one. Returns 0 with the verdict, or -1
 * (logged) when no helper answered. */
static int run_update(pam_handle_t *pamh, const struct log_ctx *lc,
		      const struct module_args *args, const struct config *cfg,
		      const struct proto_request *req, struct proto_verdict *verdict)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;
	const void *data = NULL;
	struct kept_helper *k = NULL;
	pid_t pid = 0;
	int fd = -1, rc = -1;

	/* The application may ignore or catch SIGCHLD; we need waitpid to see
	 * our child, so the default disposition holds while we wait. */
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);

	if (pam_get_data(pamh, DATA_HELPER, &data) == PAM_SUCCESS && data) {
		k = (struct kept_helper *)data;
		if (k->fd >= 0) {
			pid = k->pid;
			fd = k->fd;
			k->fd = -1; /* ours now: the cleanup leaves it alone */
			rc = exchange(lc, cfg, fd, req, true, verdict);
			if (rc == -1) {
				/* It is gone (it waited too long for the person):
				 * start over with a new one. */
				log_event(lc, LOG_INFO, "helper_gone", "user", req->user, NULL);
				close(fd);
				reap_helper(pid, proto_now_ms() + 200);
				fd = -1;
			}
		}
	}
	if (fd < 0) {
		if (obtain_helper(lc, args, cfg, req->user, &pid, &fd) < 0)
			goto out;
		rc = exchange(lc, cfg, fd, req, true, verdict);
		if (rc == -1)
			log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
				  "cannot hand the request to the helper", NULL);
	}
	close(fd);
	/* The helper only starts the follower before it exits: short grace. */
	if (reap_helper(pid, rc == 0 ? proto_now_ms() + 2000 : proto_now_ms()) && rc == 0)
		log_event(lc, LOG_WARNING, "helper_killed", "user", req->user, NULL);
out:
	sigaction(SIGCHLD, &old_chld, NULL);
	return rc == 0 ? 0 : -1;
}

/* The preliminary phase with prelim_check: start the helper, let it fetch
 * a token and look the user up, and keep it (with the lookup) for the
 * update phase. Returns 0 with the verdict (the helper is kept), or -1 when
 * no helper answered in time (it is killed; logged). */
static int run_prelim(pam_handle_t *pamh, const struct log_ctx *lc,
		      const struct module_args *args, const struct config *cfg,
		      const struct proto_request *req, struct proto_verdict *verdict)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old_chld;
	struct kept_helper *k;
	pid_t pid;
	int fd, rc = -1;

	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);
	if (obtain_helper(lc, args, cfg, req->user, &pid, &fd) < 0)
		goto out;
	rc = exchange(lc, cfg, fd, req, false, verdict);
	if (rc == 0) {
		k = calloc(1, sizeof *k);
		if (k) {
			k->pid = pid;
			k->fd = fd;
			k->prelim = *verdict;
			if (pam_set_data(pamh, DATA_HELPER, k, kept_helper_cleanup) == PAM_SUCCESS)
				goto out; /* kept: the cleanup closes and reaps it */
			free(k);
		}
	} else if (rc == -1) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
			  "cannot hand the request to the helper", NULL);
	}
	/* Not kept (refused, or no memory to keep it): the update phase starts
	 * a new one if it gets that far. */
	close(fd);
	reap_helper(pid, proto_now_ms());
out:
	sigaction(SIGCHLD, &old_chld, NULL);
	return rc == 0 ? 0 : -1;
}

static const char *message_for(enum proto_reason reason)
{
	switch (reason) {
	case PROTO_REASON_UNREACHABLE:
		return "Identity Security Cloud is unreachable; the new password was not sent "
		       "there.";
	case PROTO_REASON_REJECTED:
	case PROTO_REASON_ACCOUNT:
		return "Identity Security Cloud did not accept the password change for this "
		       "account.";
	case PROTO_REASON_TOO_LONG:
		return "The new password is too long for Identity Security Cloud.";
	case PROTO_REASON_FAILED:
		return "Identity Security Cloud refused the new password.";
	case PROTO_REASON_CONFIG:
		return "Password sync with Identity Security Cloud is misconfigured; contact "
		       "your administrator.";
	case PROTO_REASON_NONE:
	case PROTO_REASON_INTERNAL:
		break;
	}
	return "The new password could not be sent to Identity Security Cloud.";
}

/* Failure policy (on_error). "ISC unreachable" is what the helper reports
 * as reason unreachable (no connection, TLS failure, timeout, HTTP 5xx,
 * 429 beyond the time left, an answer that makes no sense) and a helper
 * that did not answer in time (internal): fail refuses, ignore and queue
 * let the local change stand (queue has kept it when it could). "ISC said
 * no" (rejected: 4xx, unknown identity, bad credentials; account: none or
 * several; too_long; failed) is never queued: fail refuses, ignore and
 * queue let the local change stand and log it as an error. A broken
 * configuration always refuses. */
static bool reason_unreachable(enum proto_reason r)
{
	return r == PROTO_REASON_UNREACHABLE || r == PROTO_REASON_INTERNAL;
}

static const char *policy_name(unsigned on_error)
{
	return on_error == CONFIG_ON_ERROR_FAIL     ? "fail"
	       : on_error == CONFIG_ON_ERROR_IGNORE ? "ignore"
						    : "queue";
}

/* The update phase's result for a verdict that is not an acceptance. */
static int update_failed(pam_handle_t *pamh, int flags, const struct log_ctx *lc,
			 const struct config *cfg, const char *user,
			 const struct proto_verdict *v)
{
	if (v->reason == PROTO_REASON_CONFIG || cfg->on_error == CONFIG_ON_ERROR_FAIL) {
		tell_user(pamh, flags, PAM_ERROR_MSG, message_for(v->reason));
		return PAM_AUTHTOK_ERR;
	}
	if (v->queued) {
		tell_user(pamh, flags, PAM_TEXT_INFO,
			  "Identity Security Cloud is unreachable; your new password will be "
			  "sent when it is back.");
		return PAM_SUCCESS;
	}
	/* The local change stands; say so loudly. */
	log_event(lc, LOG_ERR, "local_only", "user", user, "reason", proto_reason_name(v->reason),
		  "policy", policy_name(cfg->on_error), "text",
		  reason_unreachable(v->reason)
			  ? "ISC unreachable: the password was changed locally only"
			  : "ISC refused: the password was changed locally only",
		  NULL);
	if (reason_unreachable(v->reason))
		tell_user(pamh, flags, PAM_ERROR_MSG,
			  "Identity Security Cloud is unreachable; the new password was set "
			  "here only and was not sent there.");
	else
		tell_user(pamh, flags, PAM_ERROR_MSG,
			  "Identity Security Cloud did not accept the new password; it was set "
			  "here only.");
	return PAM_SUCCESS;
}

/* The preliminary phase's result (prelim_check = yes). */
static int prelim_result(pam_handle_t *pamh, int flags, const struct log_ctx *lc,
			 const struct config *cfg, const char *user, int rc,
			 const struct proto_verdict *v)
{
	enum proto_reason reason = rc < 0 ? PROTO_REASON_INTERNAL : v->reason;

	if (rc == 0 && v->accepted)
		return PAM_SUCCESS;
	if (cfg->on_error != CONFIG_ON_ERROR_FAIL)
		return PAM_SUCCESS; /* the update phase decides and says why */
	/* on_error = fail promises that the local password and ISC stay the same:
	 * a secret file the helper cannot use vetoes the change here as well,
	 * since the update phase would refuse it after pam_unix has run. */
	log_event(lc, LOG_NOTICE, "refused", "user", user, "phase", "prelim", "reason",
		  proto_reason_name(reason), "policy", "fail", "text",
		  "nothing was changed, neither here nor in ISC", NULL);
	tell_user(pamh, flags, PAM_ERROR_MSG,
		  reason == PROTO_REASON_CONFIG
			  ? "Password sync with Identity Security Cloud is misconfigured; the "
			    "password was not changed. Contact your administrator."
		  : reason_unreachable(reason)
			  ? "Identity Security Cloud is unreachable; the password was not "
			    "changed. Try again later."
			  : "Identity Security Cloud cannot take a new password for this "
			    "account; the password was not changed.");
	return PAM_TRY_AGAIN;
}

static void no_cleanup(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)data;
	(void)status;
}

PAM_ISC_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct log_ctx lc = { .sink = pam_log_sink, .sink_ctx = pamh, .debug = false };
	struct module_args args;
	struct config cfg = { 0 };
	struct config_error conf_err;
	struct proto_request req = { 0 };
	struct proto_verdict verdict;
	const char *user = NULL, *service = NULL, *why = NULL;
	const void *logged = NULL;
	const char *authtok = NULL;
	char err[256];
	size_t authtok_len;
	int rc;

	if (module_args_parse(argc, argv, &args, err, sizeof err) < 0) {
		log_event(&lc, LOG_ERR, "arg_error", "text", err, NULL);
		return PAM_SERVICE_ERR;
	}
	lc.debug = args.debug;

	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS || !user) {
		log_event(&lc, LOG_ERR, "error", "step", "user", "text", "no user name", NULL);
		return PAM_USER_UNKNOWN;
	}
	if (!proto_user_name_valid(user)) {
		log_event(&lc, LOG_WARNING, "skip", "user", user, "reason", "invalid_name", NULL);
		return PAM_IGNORE;
	}

	if (config_load(args.config_path, &cfg, &conf_err) < 0) {
		/* Log once per change even though both phases get here. */
		if (pam_get_data(pamh, DATA_CONFIG_LOGGED, &logged) != PAM_SUCCESS || !logged) {
			char line_no[16];
			snprintf(line_no, sizeof line_no, "%u", conf_err.line);
			log_event(&lc, LOG_ERR, "config_error", "user", user, "file", conf_err.file,
				  "line", conf_err.line ? line_no : NULL, "key",
				  conf_err.key[0] ? conf_err.key : NULL, "text", conf_err.message,
				  NULL);
			pam_set_data(pamh, DATA_CONFIG_LOGGED, (void *)DATA_CONFIG_LOGGED,
				     no_cleanup);
		}
		if (flags & PAM_PRELIM_CHECK)
			return PAM_IGNORE;
		tell_user(pamh, flags, PAM_ERROR_MSG, message_for(PROTO_REASON_CONFIG));
		return PAM_AUTHTOK_ERR;
	}

	if (!config_user_in_scope(&cfg, user, &why)) {
		log_event(&lc, LOG_DEBUG, "skip", "user", user, "reason", why, NULL);
		config_free(&cfg);
		return PAM_IGNORE;
	}
	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS || !service)
		service = "";
	snprintf(req.config_path, sizeof req.config_path, "%s", args.config_path);
	snprintf(req.user, sizeof req.user, "%s", user);
	snprintf(req.service, sizeof req.service, "%s", service);
	for (char *p = req.service; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	req.debug = args.debug;

	if (flags & PAM_PRELIM_CHECK) {
		if (cfg.prelim_check) {
			req.phase = PROTO_PHASE_PRELIM;
			rc = run_prelim(pamh, &lc, &args, &cfg, &req, &verdict);
			rc = prelim_result(pamh, flags, &lc, &cfg, user, rc, &verdict);
			/* Refused: no update phase follows; let the helper go now
			 * (replacing the data runs its cleanup). */
			if (rc != PAM_SUCCESS)
				pam_set_data(pamh, DATA_HELPER, NULL, NULL);
		} else {
			rc = PAM_SUCCESS;
		}
		config_free(&cfg);
		return rc;
	}

	/* Prompts (twice) unless an earlier module set it; honours use_authtok. */
	rc = pam_get_authtok(pamh, PAM_AUTHTOK, &authtok, NULL);
	if (rc != PAM_SUCCESS || !authtok) {
		log_event(&lc, LOG_ERR, "error", "user", user, "step", "authtok", "text",
			  pam_strerror(pamh, rc), NULL);
		config_free(&cfg);
		return rc == PAM_SUCCESS ? PAM_AUTHTOK_ERR : rc;
	}
	authtok_len = strnlen(authtok, PROTO_AUTHTOK_MAX + 1);
	if (authtok_len == 0 || authtok_len > PROTO_AUTHTOK_MAX) {
		log_event(&lc, LOG_ERR, "error", "user", user, "step", "authtok", "text",
			  authtok_len ? "password longer than PAM_MAX_RESP_SIZE" : "empty password",
			  NULL);
		tell_user(pamh, flags, PAM_ERROR_MSG,
			  authtok_len ? message_for(PROTO_REASON_TOO_LONG)
				      : message_for(PROTO_REASON_INTERNAL));
		config_free(&cfg);
		return PAM_AUTHTOK_ERR;
	}

	req.phase = PROTO_PHASE_UPDATE;
	if (secret_set(&req.authtok, authtok, authtok_len) < 0) {
		config_free(&cfg);
		return PAM_BUF_ERR;
	}

	rc = run_update(pamh, &lc, &args, &cfg, &req, &verdict);
	secret_clear(&req.authtok);
	if (rc < 0) {
		/* No verdict: the helper overran timeout (and was killed) or
		 * could not run; ISC did not take the change as far as we know. */
		memset(&verdict, 0, sizeof verdict);
		verdict.reason = PROTO_REASON_INTERNAL;
	}
	if (!verdict.accepted || strcmp(verdict.state, "CHECKED") == 0) {
		rc = update_failed(pamh, flags, &lc, &cfg, user, &verdict);
		config_free(&cfg);
		return rc;
	}
	config_free(&cfg);
	tell_user(pamh, flags, PAM_TEXT_INFO, "New password sent to Identity Security Cloud.");
	return PAM_SUCCESS;
}
