/* SPDX-License-Identifier: MIT */
/* service_link: see service_link.h. Only system calls here: the module
 * links it. */
#include "service_link.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* The kernel's values (Linux 6.5); older headers do not name them, older
 * kernels refuse the option and attach no pidfd. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* The sender of what we read, as the kernel attached it to the greeting
 * (SO_PASSCRED, SO_PASSPIDFD): the process that wrote to the socket, which
 * with socket activation is not the one that listens on it. */
struct sender {
	bool have_cred;
	struct ucred cred;
	int pidfd; /* -1 where the kernel attaches none (before 6.5) */
};

static void take_creds(struct msghdr *msg, struct sender *from)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(struct ucred)) && !from->have_cred) {
			memcpy(&from->cred, CMSG_DATA(c), sizeof from->cred);
			from->have_cred = true;
		} else if (c->cmsg_type == SCM_PIDFD && c->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
			if (from->pidfd < 0)
				from->pidfd = fd;
			else
				close(fd);
		} else if (c->cmsg_type == SCM_RIGHTS) {
			/* Nobody should pass us descriptors: close them. */
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
				close(fd);
			}
		}
	}
}

/* Read exactly the greeting before the deadline, never past it (what
 * follows is the change), with its sender's credentials. */
static int read_greeting(int fd, long long deadline, struct sender *from)
{
	const char *want = SERVICE_GREETING;
	size_t want_len = strlen(want), got = 0;
	char buf[sizeof SERVICE_GREETING];

	while (got < want_len) {
		union {
			char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = buf + got, .iov_len = want_len - got };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = control.buf,
				      .msg_controllen = sizeof control.buf };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - io_now_ms();
		ssize_t n;
		int rc;

		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			take_creds(&msg, from);
		if (n <= 0 || (msg.msg_flags & MSG_CTRUNC))
			return -1;
		got += (size_t)n;
	}
	return memcmp(buf, want, want_len) == 0 ? 0 : -1;
}

/* Does process pid run the program at helper_path? */
static bool peer_runs(pid_t pid, const char *helper_path, char *why, size_t why_size)
{
	char proc[64], exe[PATH_MAX], *want;
	ssize_t n;
	bool same;

	snprintf(proc, sizeof proc, "/proc/%ld/exe", (long)pid);
	n = readlink(proc, exe, sizeof exe - 1);
	if (n < 0) {
		snprintf(why, why_size, "cannot read %s: %s", proc, strerror(errno));
		return false;
	}
	exe[n] = '\0';
	want = realpath(helper_path, NULL);
	if (!want) {
		snprintf(why, why_size, "cannot resolve %s: %s", helper_path, strerror(errno));
		return false;
	}
	same = strcmp(exe, want) == 0;
	free(want);
	if (!same) /* "PATH (deleted)" after an upgrade, or another program */
		snprintf(why, why_size, "the process behind the socket runs %.200s", exe);
	return same;
}

/* Is process pid in our own network, mount and time namespaces? */
static bool peer_shares_namespaces(pid_t pid, char *why, size_t why_size)
{
	static const char *const kinds[] = { "net", "mnt", "time" };

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char theirs[64], ours[64];
		struct stat a, b;

		snprintf(theirs, sizeof theirs, "/proc/%ld/ns/%s", (long)pid, kinds[i]);
		snprintf(ours, sizeof ours, "/proc/self/ns/%s", kinds[i]);
		if (stat(ours, &b) < 0 && errno == ENOENT)
			continue; /* a kernel without this kind of namespace */
		if (stat(theirs, &a) < 0 || stat(ours, &b) < 0 || a.st_dev != b.st_dev ||
		    a.st_ino != b.st_ino) {
			snprintf(why, why_size,
				 "the process behind the socket is in another %s namespace",
				 kinds[i]);
			return false;
		}
	}
	return true;
}

/* The pid a pidfd stands for, from /proc/self/fdinfo; -1 if unknown. */
static pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;
	char *p;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	return p ? (pid_t)strtol(p + 5, NULL, 10) : -1;
}

/* Is the process a pidfd stands for still alive (so its pid still names it)? */
static bool pidfd_alive(int pidfd)
{
#ifdef SYS_pidfd_send_signal
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
#else
	(void)pidfd;
	return true;
#endif
}

/* The sender's pid: from its pidfd where the kernel attached one (so that
 * a recycled pid cannot stand in for it), else from its credentials. */
static enum service_link_result sender_pid(const struct sender *from, const char *path, pid_t *pid,
					   char *why, size_t why_size)
{
	if (!from->have_cred || from->cred.pid <= 0) {
		snprintf(why, why_size, "no credentials came with the greeting on %s", path);
		return SERVICE_LINK_UNTRUSTED;
	}
	if (from->cred.uid != geteuid()) {
		snprintf(why, why_size, "the process behind %s runs as uid %u", path,
			 (unsigned)from->cred.uid);
		return SERVICE_LINK_UNTRUSTED;
	}
	*pid = from->cred.pid;
	if (from->pidfd >= 0 && pidfd_pid(from->pidfd) != from->cred.pid) {
		snprintf(why, why_size, "the process behind %s is gone", path);
		return SERVICE_LINK_NONE;
	}
	return SERVICE_LINK_OK;
}

enum service_link_result service_link_connect(const char *runtime_dir, const char *helper_path,
					      int greet_ms, int *fd_out, char *why, size_t why_size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	long long deadline = io_now_ms() + greet_ms;
	struct sender from = { .pidfd = -1 };
	enum service_link_result rc;
	pid_t pid = 0;
	int fd, n, one = 1;

	*fd_out = -1;
	why[0] = '\0';
	n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/" SERVICE_SOCKET, runtime_dir);
	if (n < 0 || (size_t)n >= sizeof addr.sun_path)
		return SERVICE_LINK_NONE; /* too long: no service can listen there */
	if (lstat(runtime_dir, &st) < 0)
		return SERVICE_LINK_NONE;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(why, why_size, "%s is not a private directory of uid %u", runtime_dir,
			 (unsigned)geteuid());
		return SERVICE_LINK_UNTRUSTED;
	}
	if (lstat(addr.sun_path, &st) < 0)
		return SERVICE_LINK_NONE; /* no service runs: start a helper */
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, why_size, "%s is not a socket of uid %u", addr.sun_path,
			 (unsigned)geteuid());
		return SERVICE_LINK_UNTRUSTED;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return SERVICE_LINK_NONE;
	/* Before connecting: the kernel attaches the sender's credentials
	 * (and, since Linux 6.5, a pidfd) to what it sends us only if this is
	 * set when it sends. */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
		close(fd);
		return SERVICE_LINK_NONE;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof one);
	/* A unix stream connect completes or fails at once (EAGAIN: backlog
	 * full; ECONNREFUSED: nobody listens any more). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		close(fd);
		return SERVICE_LINK_NONE;
	}
	if (read_greeting(fd, deadline, &from) < 0)
		rc = SERVICE_LINK_NONE; /* going away, or busy: start a helper */
	else
		rc = sender_pid(&from, addr.sun_path, &pid, why, why_size);
	if (rc == SERVICE_LINK_OK && !peer_runs(pid, helper_path, why, why_size))
		rc = SERVICE_LINK_NONE; /* the old program after an upgrade, or another helper= */
	if (rc == SERVICE_LINK_OK && !peer_shares_namespaces(pid, why, why_size))
		rc = SERVICE_LINK_UNTRUSTED;
	/* The checks read /proc/PID: they were about the sender only if it is
	 * still the same process now. */
	if (rc == SERVICE_LINK_OK && from.pidfd >= 0 && !pidfd_alive(from.pidfd)) {
		snprintf(why, why_size, "the process behind %s is gone", addr.sun_path);
		rc = SERVICE_LINK_NONE;
	}
	if (from.pidfd >= 0)
		close(from.pidfd);
	if (rc == SERVICE_LINK_OK && set_blocking(fd) < 0)
		rc = SERVICE_LINK_NONE;
	if (rc != SERVICE_LINK_OK) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return SERVICE_LINK_OK;
}
