/* SPDX-License-Identifier: MIT */
/* service_link: the module's side of the socket of the per-host service
 * (pam_isc_helper serve, see src/helper/service.h).
 *
 * The service listens on RUNTIME_DIR/service.sock (RUNTIME_DIR is root's
 * and 0700, the socket 0600), started by systemd (pam-isc.socket) or by a
 * helper that ran in the host's own context. When it accepts a client it
 * sends SERVICE_GREETING first: a client that connected to a service about
 * to exit sees no greeting and starts a one-shot helper instead.
 *
 * The module trusts the socket only in a private directory of its own uid,
 * and only if the process that sent the greeting runs as that uid, runs
 * the helper program the module would start itself (/proc/PID/exe; after a
 * package upgrade the old program is not used), and lives in the module's
 * own network, mount and time namespaces (a service of another container
 * or sandbox is not ours to use). That process is known from the
 * credentials the kernel attaches to the greeting (SO_PASSCRED), with a
 * pidfd where the kernel has one (Linux 6.5, SO_PASSPIDFD), so that a
 * recycled pid cannot stand in for it; not from SO_PEERCRED, which names
 * whoever called listen() (systemd, with socket activation). */
#ifndef PAM_ISC_SERVICE_LINK_H
#define PAM_ISC_SERVICE_LINK_H

#include <stddef.h>

#include "io.h"

#define SERVICE_SOCKET "service.sock"
#define SERVICE_GREETING "PAM_ISC_SERVICE/1\n"

enum service_link_result {
	SERVICE_LINK_OK = 0,    /* connected, *fd set */
	SERVICE_LINK_NONE,      /* nothing to use (no socket, busy, going away,
				  * another program: why may say so): start a helper */
	SERVICE_LINK_UNTRUSTED, /* something is there but fails a check (why):
				  * start a helper, and log it */
};

/* Connect to the service of runtime_dir and wait up to greet_ms for its
 * greeting. *fd is close-on-exec and blocking. helper_path is the program
 * the module would start. */
enum service_link_result service_link_connect(const char *runtime_dir, const char *helper_path,
					      int greet_ms, int *fd, char *why, size_t why_size);

#endif
