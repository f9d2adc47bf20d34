/* SPDX-License-Identifier: MIT */
/* io: the two primitives every process of pam_isc shares: one monotonic
 * clock for all deadlines, and one way to write a whole buffer. */
#ifndef PAM_ISC_IO_H
#define PAM_ISC_IO_H

#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds. It is the same clock in every process
 * of the host (in one time namespace), so a deadline can travel from the
 * module to the service in a request. */
long long io_now_ms(void);

/* Write the whole buffer to fd, or fail. On a socket it never raises
 * SIGPIPE (MSG_NOSIGNAL); on anything else (a pipe, a file) it writes, and
 * a caller writing to a pipe ignores SIGPIPE. Retries after EINTR and
 * short writes. Returns 0, or -1 with errno. */
int io_write_all(int fd, const void *buf, size_t len);

#endif
