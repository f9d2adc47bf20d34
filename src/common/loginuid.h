/* SPDX-License-Identifier: MIT */
/* loginuid: the audit login uid of a process, /proc/PID/loginuid.
 *
 * pam_loginuid sets it when a person logs in (sshd, login, cron); sudo, su
 * and setuid programs keep it, and a process cannot change it without
 * CAP_AUDIT_CONTROL (nor at all once the kernel's loginuid_immutable is
 * set). So it tells who logged in to the session a password change is made
 * from, whoever the program then runs as. Plain open/read: this unit is
 * linked into the PAM module (libc only). */
#ifndef PAM_ISC_LOGINUID_H
#define PAM_ISC_LOGINUID_H

#include <stddef.h>
#include <stdint.h>

#define LOGINUID_SELF_PATH "/proc/self/loginuid"
/* (uid_t)-1: nobody logged in (a daemon, a boot script, a kernel without
 * audit support that still has the file). */
#define LOGINUID_UNSET UINT32_C(4294967295)

/* Parse the file's text as the kernel writes it ("%u", no newline):
 * 1 to 10 decimal digits, no sign, no blank, no leading zero, at most
 * 4294967295. Returns 0 with *out, or -1 (errno EINVAL) and *out
 * untouched. */
int loginuid_parse(const char *text, size_t len, uint32_t *out);

/* Read and parse path (LOGINUID_SELF_PATH; another for the tests): at most
 * a few bytes, no symlink as the last component. Returns 0 with *out, or -1
 * with errno (ENOENT: a kernel without audit support; EINVAL: not a login
 * uid; EFBIG: longer than one could be). */
int loginuid_read(const char *path, uint32_t *out);

#endif
