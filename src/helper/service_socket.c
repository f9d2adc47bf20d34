/* SPDX-License-Identifier: MIT */
/* service_socket: see service_socket.h. */
#include "service_socket.h"
#include "service_link.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FD_START 3 /* sd_listen_fds(3) */

/* The socket systemd passed us, or -1. The variables are unset either way
 * so that nothing we start takes them for its own. */
static int systemd_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int fd = -1, type = 0, listening = 0;
	socklen_t len = sizeof type;

	if (pid && fds && strtol(pid, NULL, 10) == (long)getpid() && strtol(fds, NULL, 10) >= 1 &&
	    getsockopt(LISTEN_FD_START, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_STREAM &&
	    (len = sizeof listening,
	     getsockopt(LISTEN_FD_START, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0) &&
	    listening)
		fd = LISTEN_FD_START;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return fd;
}

/* Does anything accept connections on path? */
static bool someone_listens(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool yes;

	if (fd < 0)
		return false;
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
	yes = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EAGAIN;
	close(fd);
	return yes;
}

static int bind_own(const char *runtime_dir, struct service_socket *s, char *err, size_t errsize)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/.%s.%ld", runtime_dir, SERVICE_SOCKET,
		     (long)getpid()) >= (int)sizeof addr.sun_path) {
		snprintf(err, errsize, "runtime_dir is too long for a socket path");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* Bind a name of our own (0600 under umask 077), then rename it over
	 * the public name: a client never sees a half-made socket. */
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		snprintf(err, errsize, "bind %s: %s", addr.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	errno = 0;
	if (chmod(addr.sun_path, 0600) < 0 || lstat(addr.sun_path, &st) < 0 ||
	    !S_ISSOCK(st.st_mode) || (st.st_mode & 077) || listen(fd, 64) < 0 ||
	    rename(addr.sun_path, s->path) < 0) {
		snprintf(err, errsize, "cannot listen on %s: %s", s->path,
			 errno ? strerror(errno) : "bad mode");
		unlink(addr.sun_path);
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

enum service_socket_result service_socket_open(const char *runtime_dir, struct service_socket *s,
					       char *err, size_t errsize)
{
	char lock_path[4200];
	int fl;

	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->lock_fd = -1;
	err[0] = '\0';
	if (snprintf(s->path, sizeof s->path, "%s/" SERVICE_SOCKET, runtime_dir) >=
	    (int)sizeof s->path) {
		snprintf(err, errsize, "runtime_dir is too long for a socket path");
		return SERVICE_SOCKET_ERROR;
	}
	s->fd = systemd_socket();
	if (s->fd >= 0) {
		s->from_systemd = true;
		fl = fcntl(s->fd, F_GETFL);
		if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
			snprintf(err, errsize, "the socket from systemd: %s", strerror(errno));
			return SERVICE_SOCKET_ERROR;
		}
		return SERVICE_SOCKET_OK;
	}
	snprintf(lock_path, sizeof lock_path, "%s/service.lock", runtime_dir);
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0) {
		snprintf(err, errsize, "open %s: %s", lock_path, strerror(errno));
		return SERVICE_SOCKET_ERROR;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(s->lock_fd);
		s->lock_fd = -1;
		if (e == EWOULDBLOCK)
			return SERVICE_SOCKET_TAKEN;
		snprintf(err, errsize, "lock %s: %s", lock_path, strerror(e));
		return SERVICE_SOCKET_ERROR;
	}
	if (someone_listens(s->path)) {
		/* systemd's socket (pam-isc.socket), whose service is not running
		 * right now: never replace it. */
		close(s->lock_fd);
		s->lock_fd = -1;
		return SERVICE_SOCKET_TAKEN;
	}
	if (bind_own(runtime_dir, s, err, errsize) < 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
		return SERVICE_SOCKET_ERROR;
	}
	return SERVICE_SOCKET_OK;
}

enum service_accept service_socket_accept(struct service_socket *s, int *conn, char *err,
					  size_t errsize)
{
	struct ucred cred = { 0 };
	socklen_t cred_len = sizeof cred;
	int fd, fl;

	*conn = -1;
	err[0] = '\0';
	fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return SERVICE_ACCEPT_NONE;
		snprintf(err, errsize, "accept: %s", strerror(errno));
		return SERVICE_ACCEPT_ERROR;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
	    cred.uid != geteuid()) {
		snprintf(err, errsize, "refused a client of uid %ld",
			 cred_len == sizeof cred ? (long)cred.uid : -1L);
		close(fd);
		return SERVICE_ACCEPT_NONE;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    io_write_all(fd, SERVICE_GREETING, strlen(SERVICE_GREETING)) < 0) {
		close(fd); /* it gave up on us already */
		return SERVICE_ACCEPT_NONE;
	}
	*conn = fd;
	return SERVICE_ACCEPT_CLIENT;
}

bool service_socket_still_ours(const struct service_socket *s)
{
	struct stat st;

	if (s->from_systemd)
		return true;
	return lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino;
}

void service_socket_close(struct service_socket *s)
{
	if (s->fd >= 0) {
		if (!s->from_systemd && service_socket_still_ours(s))
			unlink(s->path);
		close(s->fd);
	}
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->fd = -1;
	s->lock_fd = -1;
}
