/* linger: the socket through which a helper that stayed after its change
 * (config key helper_linger) serves the next change of this host.
 *
 * The lingering helper listens on RUNTIME_DIR/helper.sock (RUNTIME_DIR is
 * root's and 0700, the socket 0600). It serves one change at a time: while
 * it serves, the socket is gone, so a change that comes meanwhile starts a
 * helper of its own instead of waiting. When a client is accepted the
 * helper sends LINGER_GREETING first: a client that connected to a helper
 * about to exit sees no greeting and starts its own.
 *
 * Both sides check the other: the module trusts the socket only in a
 * private directory of its own uid, only if the process behind it runs as
 * that uid, and only if that process runs the helper program the module
 * would start itself (/proc/PID/exe; after a package upgrade the old helper
 * is not used). The helper serves only peers of its own uid (root). */
#ifndef PAM_ISC_LINGER_H
#define PAM_ISC_LINGER_H

#include <stddef.h>
#include <sys/types.h>

#define LINGER_SOCKET "helper.sock"
#define LINGER_GREETING "PAM_ISC_HELPER/1\n"

/* Module side: connect to the lingering helper of runtime_dir and wait up
 * to greet_ms for its greeting. Returns 0 with *fd (close-on-exec,
 * blocking); 1 when there is none to use (no socket, busy, going away, or
 * running another program than helper_path: why says so then; start a
 * helper); -1 when one is there but not trusted (why says why; start a
 * helper, and log it). helper_path is the program the module would start. */
int linger_connect(const char *runtime_dir, const char *helper_path, int greet_ms, int *fd,
		   char *why, size_t why_size);

/* Helper side. */
struct linger_listener {
	int fd;
	dev_t dev; /* the socket file, to tell whether it is still ours */
	ino_t ino;
	char path[108];
};

/* Listen on runtime_dir/helper.sock (replacing a socket left by another
 * helper, atomically). runtime_dir must already be private (fsutil). */
int linger_listen(const char *runtime_dir, struct linger_listener *l, char *err,
		  size_t errsize);

/* Wait up to idle_ms for a client. Returns 1 with *conn (its peer checked
 * and the greeting sent; close-on-exec); 0 when idle_ms passed (err empty)
 * or a peer of another uid was refused (err says so: call again); -1 when
 * the socket is no longer ours (another helper took it over) or failed. A
 * client that goes away before its greeting is no reason to return. */
int linger_accept(struct linger_listener *l, int idle_ms, int *conn, char *err,
		  size_t errsize);

/* Stop listening; the socket file is removed if it is still ours. */
void linger_close(struct linger_listener *l);

#endif
