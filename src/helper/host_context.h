/* SPDX-License-Identifier: MIT */
/* host_context: a process that serves other people's changes must run in
 * the host's own context, never in the one of whoever happened to start it.
 *
 * A helper is started from setuid passwd, sshd, su, ... and inherits from
 * that caller what exec does not reset: rlimits, nice value, scheduling
 * policy, CPU affinity, I/O priority, oom_score_adj, supplementary groups,
 * capability bounding set, no_new_privs, seccomp filters, cgroup and
 * namespaces. The first group can be put back; the second cannot. The
 * reference for "the host" is PID 1 (systemd, or a container's init). */
#ifndef PAM_ISC_HOST_CONTEXT_H
#define PAM_ISC_HOST_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Put back what can be put back: supplementary groups none, every rlimit
 * as PID 1 has it (core files 0), nice 0, SCHED_OTHER, PID 1's CPU
 * affinity and I/O priority, oom_score_adj 0. Needs root. Returns 0, or -1
 * with the first failure in err (the rest is still done). */
int host_context_reset(char *err, size_t errsize);

/* True when what cannot be put back is the host's: the same namespaces
 * (cgroup, ipc, mnt, net, pid, time, user, uts) and cgroup as PID 1, the
 * same capability bounding set, no no_new_privs, no seccomp filter.
 * Otherwise false, with the first difference in why. */
bool host_context_is_hosts(char *why, size_t why_size);

#endif
