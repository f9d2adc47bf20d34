/* SPDX-License-Identifier: MIT */
/* spawn: start a program detached from the caller: nobody's child (double
 * fork, reaped here), its own session, stdio on /dev/null, no other
 * descriptors, the environment PATH only. Between fork and exec only
 * async-signal-safe calls are made, so it may be called after libcurl has
 * started threads. */
#ifndef PAM_ISC_SPAWN_H
#define PAM_ISC_SPAWN_H

#include <stddef.h>

/* argv[0] is the name the program sees; exe is what is executed. Returns
 * 0 when the intermediate child ran (the exec itself is not reported), or
 * -1 with err. */
int spawn_detached(const char *exe, char *const argv[], char *err, size_t errsize);

#endif
