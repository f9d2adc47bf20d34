/* SPDX-License-Identifier: MIT */
/* service_socket: the listening side of RUNTIME_DIR/service.sock (the
 * module's side is src/common/service_link.h). */
#ifndef PAM_ISC_SERVICE_SOCKET_H
#define PAM_ISC_SERVICE_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct service_socket {
	int fd;            /* listening, non-blocking, close-on-exec */
	int lock_fd;       /* RUNTIME_DIR/service.lock, held while we listen */
	bool from_systemd; /* passed by socket activation: not ours to remove */
	dev_t dev;         /* the socket file we bound, to tell whether it is still ours */
	ino_t ino;
	char path[108];
};

enum service_socket_result {
	SERVICE_SOCKET_OK = 0,
	SERVICE_SOCKET_TAKEN, /* another service of this host listens already */
	SERVICE_SOCKET_ERROR, /* err says why */
};

/* The socket systemd passed (LISTEN_PID/LISTEN_FDS, fd 3), if any; else
 * bind runtime_dir/service.sock (replacing a socket left by a service that
 * died, atomically) under an exclusive lock on runtime_dir/service.lock.
 * runtime_dir must already be private (fsutil_ensure_private_dir). */
enum service_socket_result service_socket_open(const char *runtime_dir, struct service_socket *s,
					       char *err, size_t errsize);

/* Accept one client, if one is waiting. */
enum service_accept {
	SERVICE_ACCEPT_CLIENT = 0, /* *conn: a peer of our uid, greeted, close-on-exec, blocking */
	SERVICE_ACCEPT_NONE,       /* none waiting, or one refused (err then says why: a
				    * peer of another uid) */
	SERVICE_ACCEPT_ERROR,      /* err says why */
};
enum service_accept service_socket_accept(struct service_socket *s, int *conn, char *err,
					  size_t errsize);

/* False when the socket file is no longer the one we bound (removed, or
 * taken over): a self-started service then leaves. */
bool service_socket_still_ours(const struct service_socket *s);

/* Stop listening; a socket file we bound is removed if it is still ours. */
void service_socket_close(struct service_socket *s);

#endif
