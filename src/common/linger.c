/* linger: see linger.h. Only system calls here: the module links it. */
#include "linger.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int socket_path(const char *runtime_dir, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/" LINGER_SOCKET, runtime_dir);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Write the whole buffer, or fail; never raises SIGPIPE. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int set_blocking(int fd, bool blocking)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

/* Read exactly the greeting before the deadline. */
static int read_greeting(int fd, long long deadline)
{
	const char *want = LINGER_GREETING;
	size_t want_len = strlen(want), got = 0;
	char buf[sizeof LINGER_GREETING];

	while (got < want_len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - proto_now_ms();
		ssize_t n;
		int rc;

		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		/* Never read past the greeting: what follows is the session. */
		n = recv(fd, buf + got, want_len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(buf, want, want_len) == 0 ? 0 : -1;
}

/* Does process pid run the program at helper_path? */
static int peer_runs(pid_t pid, const char *helper_path, char *why, size_t why_size)
{
	char proc[64], exe[PATH_MAX], *want;
	ssize_t n;
	int same;

	snprintf(proc, sizeof proc, "/proc/%ld/exe", (long)pid);
	n = readlink(proc, exe, sizeof exe - 1);
	if (n < 0) {
		snprintf(why, why_size, "cannot read %s: %s", proc, strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	want = realpath(helper_path, NULL);
	if (!want) {
		snprintf(why, why_size, "cannot resolve %s: %s", helper_path, strerror(errno));
		return -1;
	}
	same = strcmp(exe, want) == 0;
	free(want);
	if (!same) {
		/* A replaced binary reads "PATH (deleted)": the old helper of an
		 * upgrade, or a different program altogether. */
		snprintf(why, why_size, "the process behind the socket runs %.200s", exe);
		return -1;
	}
	return 0;
}

int linger_connect(const char *runtime_dir, const char *helper_path, int greet_ms, int *fd_out,
		   char *why, size_t why_size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ucred cred = { 0 };
	socklen_t cred_len = sizeof cred;
	struct stat st;
	long long deadline = proto_now_ms() + greet_ms;
	int fd;

	*fd_out = -1;
	why[0] = '\0';
	if (socket_path(runtime_dir, addr.sun_path, sizeof addr.sun_path) < 0)
		return 1; /* too long for a socket: the helper cannot linger there either */
	if (lstat(runtime_dir, &st) < 0)
		return 1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(why, why_size, "%s is not a private directory of uid %u", runtime_dir,
			 (unsigned)geteuid());
		return -1;
	}
	if (lstat(addr.sun_path, &st) < 0)
		return 1; /* no helper lingers: the normal case */
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, why_size, "%s is not a socket of uid %u", addr.sun_path,
			 (unsigned)geteuid());
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 1;
	/* A unix stream connect to a listening socket completes at once or
	 * fails at once (EAGAIN: its backlog is full, it is busy). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		close(fd);
		return 1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 || cred.pid <= 0) {
		snprintf(why, why_size, "no peer credentials on %s", addr.sun_path);
		close(fd);
		return -1;
	}
	if (cred.uid != geteuid()) {
		snprintf(why, why_size, "the process behind %s runs as uid %u", addr.sun_path,
			 (unsigned)cred.uid);
		close(fd);
		return -1;
	}
	if (peer_runs(cred.pid, helper_path, why, why_size) < 0) {
		/* Not an attack (only our uid gets here): the old helper after an
		 * upgrade, or a module set up with another helper= program. */
		close(fd);
		return 1;
	}
	if (read_greeting(fd, deadline) < 0 || set_blocking(fd, true) < 0) {
		close(fd);
		return 1; /* going away, or busy: start our own */
	}
	*fd_out = fd;
	return 0;
}

int linger_listen(const char *runtime_dir, struct linger_listener *l, char *err, size_t errsize)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	if (socket_path(runtime_dir, l->path, sizeof l->path) < 0 ||
	    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/.%s.%ld", runtime_dir, LINGER_SOCKET,
		     (long)getpid()) >= (int)sizeof addr.sun_path) {
		snprintf(err, errsize, "runtime_dir is too long for a socket path");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* Bind a name of our own (0600; the helper's umask 077 keeps it
	 * private from the start), then rename it over the public name: a
	 * client never sees a half-made socket, and one left by a helper that
	 * died is replaced. */
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		snprintf(err, errsize, "bind %s: %s", addr.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	errno = 0;
	if (chmod(addr.sun_path, 0600) < 0 || lstat(addr.sun_path, &st) < 0 ||
	    !S_ISSOCK(st.st_mode) || (st.st_mode & 077) ||
	    listen(fd, 4) < 0 || rename(addr.sun_path, l->path) < 0) {
		snprintf(err, errsize, "cannot listen on %s: %s", l->path,
			 errno ? strerror(errno) : "bad mode");
		unlink(addr.sun_path);
		close(fd);
		return -1;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

static bool still_ours(const struct linger_listener *l)
{
	struct stat st;

	return lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino;
}

int linger_accept(struct linger_listener *l, int idle_ms, int *conn, char *err, size_t errsize)
{
	struct ucred cred = { 0 };
	socklen_t cred_len = sizeof cred;
	long long deadline = proto_now_ms() + idle_ms;
	int fd;

	*conn = -1;
	err[0] = '\0';
	for (;;) {
		struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
		long long left = deadline - proto_now_ms();
		int rc;

		if (!still_ours(l)) {
			snprintf(err, errsize, "%s was taken over by another helper", l->path);
			return -1;
		}
		if (left <= 0)
			return 0;
		/* Look at the socket file at least once a second. */
		rc = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errsize, "poll: %s", strerror(errno));
			return -1;
		}
		if (rc <= 0)
			continue;
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the client went away again: wait on */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
		    cred.uid != geteuid()) {
			snprintf(err, errsize, "refused a client of uid %ld",
				 cred_len == sizeof cred ? (long)cred.uid : -1L);
			close(fd);
			return 0;
		}
		if (send_all(fd, LINGER_GREETING, strlen(LINGER_GREETING)) < 0) {
			close(fd); /* it gave up on us already: wait on */
			continue;
		}
		*conn = fd;
		return 1;
	}
}

void linger_close(struct linger_listener *l)
{
	if (l->fd >= 0) {
		if (still_ours(l))
			unlink(l->path);
		close(l->fd);
	}
	l->fd = -1;
}
