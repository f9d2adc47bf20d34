/* SPDX-License-Identifier: MIT */
/* helper_link: see helper_link.h. System calls only: this runs inside the
 * PAM application (setuid passwd, sshd, a display manager), often with
 * threads, with the invoking user's environment. */
#include "helper_link.h"
#include "service_link.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* How long the module waits for the service's greeting. An idle service
 * answers within a millisecond; one that is going away does not at all. */
#define SERVICE_GREET_MS 1000
/* The descriptor the checked helper program is executed from. */
#define EXEC_FD 3

/* Open helper_path for execution, checking on the way down from "/" that
 * no component is a symbolic link and that every directory and the file
 * itself are owned by root (or by us: tests) and not writable by others
 * (a directory with the sticky bit, such as /tmp, may be). Returns an
 * O_PATH descriptor of the checked file, or -1 with why. */
static int open_trusted_program(const char *path, char *why, size_t size)
{
	char copy[4096], *name, *next;
	int dirfd, fd;
	struct stat st;

	if (path[0] != '/' || snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) {
		snprintf(why, size, "not an absolute path");
		return -1;
	}
	dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(why, size, "/: %s", strerror(errno));
		return -1;
	}
	name = copy + 1;
	for (;;) {
		next = strchr(name, '/');
		if (next)
			*next = '\0';
		if (fstat(dirfd, &st) < 0 || (st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
			snprintf(why, size,
				 "a directory above it is not root's or is writable by others");
			close(dirfd);
			return -1;
		}
		if (!next)
			break;
		if (name[0] == '\0' || strcmp(name, ".") == 0) { /* "//" or "/./" */
			name = next + 1;
			continue;
		}
		fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
		if (fd < 0) {
			snprintf(why, size, "%.64s: %s", name,
				 errno == ENOTDIR || errno == ELOOP
					 ? "a symbolic link or not a directory"
					 : strerror(errno));
			return -1;
		}
		dirfd = fd;
		name = next + 1;
	}
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(dirfd);
	if (fd < 0) {
		snprintf(why, size, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR)) {
		snprintf(why, size, "not an executable file (or a symbolic link)");
		close(fd);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, size, "owned by uid %u", (unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size, "writable by group or others");
		close(fd);
		return -1;
	}
	return fd;
}

/* fork(), but with a pidfd made atomically with the child (clone3
 * CLONE_PIDFD): even an application that reaps every child, or ignores
 * SIGCHLD, cannot make our pid name another process. Falls back to fork +
 * pidfd_open on kernels before 5.3 (*pidfd may then be -1). */
static pid_t fork_with_pidfd(int *pidfd)
{
	pid_t pid;

	*pidfd = -1;
#ifdef SYS_clone3
	{
		struct clone_args args;
		memset(&args, 0, sizeof args);
		args.flags = CLONE_PIDFD;
		args.pidfd = (__u64)(unsigned long)pidfd;
		args.exit_signal = SIGCHLD;
		pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
		if (pid >= 0 || errno != ENOSYS)
			return pid;
	}
#endif
	pid = fork();
#ifdef SYS_pidfd_open
	if (pid > 0)
		*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	return pid;
}

/* Start the helper from exe_fd (checked): stdin and stdout on a socket,
 * stderr on /dev/null, the program on EXEC_FD (so that even a script,
 * such as a test's valgrind wrapper, can be executed from a descriptor),
 * nothing else; its own session; the environment PATH only. */
static int start_helper(struct helper_link *h, const struct log_ctx *lc, int exe_fd,
			const char *user)
{
	/* Everything the child needs is prepared before the fork: between
	 * fork and exec only async-signal-safe calls are allowed. */
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	static char *const argv[] = { "pam_isc_helper", "chauthtok", NULL };
	int sv[2], devnull, pidfd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "text",
			  strerror(errno), NULL);
		return -1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "text",
			  strerror(errno), NULL);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork_with_pidfd(&pidfd);
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
		/* Out of the way first: in an application that closed its
		 * stdio, any of them may be 0, 1, 2 or 3. */
		int s = fcntl(sv[1], F_DUPFD, 10), n = fcntl(devnull, F_DUPFD, 10),
		    e = fcntl(exe_fd, F_DUPFD, 10);
		if (s < 0 || n < 0 || e < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(n, 2) < 0 ||
		    dup2(e, EXEC_FD) < 0)
			_exit(127);
		closefrom(EXEC_FD + 1);
		setsid();
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		syscall(SYS_execveat, EXEC_FD, "", argv, envp, AT_EMPTY_PATH);
		_exit(127);
	}
	close(sv[1]);
	close(devnull);
	h->kind = HELPER_LINK_CHILD;
	h->fd = sv[0];
	h->pid = pid;
	h->pidfd = pidfd;
	return 0;
}

int helper_link_open(struct helper_link *h, const struct log_ctx *lc, const char *helper_path,
		     const struct config *cfg, const char *user)
{
	char why[256];
	int exe_fd, rc;

	h->fd = h->pidfd = -1;
	h->pid = 0;
	/* Checked also when a service runs: it must run the program we would
	 * start, and that must be one we may start. */
	exe_fd = open_trusted_program(helper_path, why, sizeof why);
	if (exe_fd < 0) {
		log_event(lc, LOG_ERR, "error", "user", user, "step", "helper", "path", helper_path,
			  "text", why, NULL);
		return -1;
	}
	if (cfg->helper_linger > 0) {
		switch (service_link_connect(cfg->runtime_dir, helper_path, SERVICE_GREET_MS,
					     &h->fd, why, sizeof why)) {
		case SERVICE_LINK_OK:
			close(exe_fd);
			h->kind = HELPER_LINK_SERVICE;
			log_event(lc, LOG_DEBUG, "service_used", "user", user, NULL);
			return 0;
		case SERVICE_LINK_UNTRUSTED:
			log_event(lc, LOG_WARNING, "error", "user", user, "step", "service", "text",
				  why, NULL);
			break;
		case SERVICE_LINK_NONE:
			if (why[0])
				log_event(lc, LOG_DEBUG, "service_not_used", "user", user, "text",
					  why, NULL);
			break;
		}
	}
	rc = start_helper(h, lc, exe_fd, user);
	close(exe_fd);
	return rc;
}

enum verdict_read {
	VERDICT_LINE,     /* a line ending in '\n' */
	VERDICT_CUT,      /* EOF or an error before one */
	VERDICT_DEADLINE, /* nothing complete by the deadline */
};

/* Read the verdict line until '\n', EOF or the deadline. */
static enum verdict_read read_verdict(int fd, long long deadline, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		long long left = deadline - io_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc;

		if (left <= 0)
			return VERDICT_DEADLINE;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return VERDICT_CUT;
		if (rc == 0)
			return VERDICT_DEADLINE;
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
	return memchr(line, '\n', len) ? VERDICT_LINE : VERDICT_CUT;
}

enum helper_link_result helper_link_exchange(struct helper_link *h, const struct log_ctx *lc,
					     const struct proto_request *req, int grace_ms,
					     bool last, struct proto_verdict *verdict)
{
	char line[PROTO_VERDICT_MAX + 2];
	enum verdict_read r;

	if (h->fd < 0 || proto_send_request(h->fd, req) < 0)
		return HELPER_LINK_GONE;
	if (last)
		shutdown(h->fd, SHUT_WR);
	r = read_verdict(h->fd, req->deadline_ms + grace_ms, line, sizeof line);
	if (r == VERDICT_DEADLINE) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
			  h->kind == HELPER_LINK_SERVICE
				  ? "no answer from the service within timeout"
				  : "no answer from the helper within timeout; killed",
			  NULL);
		return HELPER_LINK_NO_ANSWER;
	}
	if (r != VERDICT_LINE || proto_parse_verdict(line, verdict) < 0) {
		log_event(lc, LOG_ERR, "error", "user", req->user, "step", "helper", "text",
			  "the helper ended without a valid verdict", NULL);
		return HELPER_LINK_NO_ANSWER;
	}
	return HELPER_LINK_VERDICT;
}

/* Wait for the child to exit until the deadline (on its pidfd: readable
 * once it has exited, whoever reaps it), reap it if it is still ours to
 * reap. Returns true when it exited. */
static bool wait_child(const struct helper_link *h, long long deadline)
{
	siginfo_t info;

	if (h->pidfd >= 0) {
		for (;;) {
			long long left = deadline - io_now_ms();
			struct pollfd pfd = { .fd = h->pidfd, .events = POLLIN };
			int rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc <= 0)
				return false;
			break;
		}
		/* ECHILD: the application reaped it (it may reap every child). */
		memset(&info, 0, sizeof info);
		while (waitid((idtype_t)P_PIDFD, (id_t)h->pidfd, &info, WEXITED) < 0 &&
		       errno == EINTR)
			;
		return true;
	}
	/* No pidfd (a kernel before 5.3): look, then less and less often.
	 * waitpid failing means the application reaped it already. */
	for (int step_ms = 1;; step_ms = step_ms < 10 ? step_ms * 2 : 10) {
		int status;
		pid_t r = waitpid(h->pid, &status, WNOHANG);
		if (r == h->pid || (r < 0 && errno != EINTR))
			return true;
		if (io_now_ms() >= deadline)
			return false;
		poll(NULL, 0, step_ms);
	}
}

bool helper_link_close(struct helper_link *h, long long exit_deadline)
{
	bool killed = false;

	if (h->fd >= 0)
		close(h->fd); /* EOF tells a helper the change is over */
	h->fd = -1;
	if (h->kind == HELPER_LINK_CHILD && h->pid > 0) {
		if (!wait_child(h, exit_deadline)) {
			/* Through the pidfd: never another process, even if
			 * the pid was reaped and reused meanwhile. */
			if (h->pidfd >= 0)
				syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
			else
				kill(h->pid, SIGKILL);
			wait_child(h, io_now_ms() + 1000);
			killed = true;
		}
		if (h->pidfd >= 0)
			close(h->pidfd);
		h->pidfd = -1;
		h->pid = 0;
	}
	return killed;
}
