/* SPDX-License-Identifier: MIT */
/* fsutil: the few file operations pam_isc does on files it must trust:
 * private directories, atomic writes, and bounded reads that never follow
 * a symlink and check the owner and mode, for its root-only state (token
 * cache, queue, pending changes) and for the configuration and secret. */
#ifndef PAM_ISC_FSUTIL_H
#define PAM_ISC_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Make sure path is a directory we own with no group/other access, creating
 * it (0700) if it is missing. A symlink, another owner or a wider mode is
 * refused (never "fixed": someone else put it there). */
int fsutil_ensure_private_dir(const char *path, char *err, size_t errsize);

/* Write data to dir/name atomically: a temporary file in dir (0600), fsync,
 * rename over name, fsync dir. Readers see the old or the new content. */
int fsutil_write_atomic(const char *dir, const char *name, const void *data, size_t len, char *err,
			size_t errsize);
/* The same, and with durable false without the two fsyncs: for a file that
 * only has to be whole (never torn, never half-written) for the processes
 * running now, not to survive a crash. */
int fsutil_write_replace(const char *dir, const char *name, const void *data, size_t len,
			 bool durable, char *err, size_t errsize);
/* fsutil_write_replace with the file's mode given instead of 0600 (set
 * with fchmod, whatever the umask): for a file that others must read and
 * that holds no secret, such as metrics_file, which node_exporter reads
 * as an unprivileged user. The temporary file is created with O_CREAT |
 * O_EXCL (mkostemp), which never follows a symbolic link; the rename
 * replaces a symbolic link at name itself, never what it points to. */
int fsutil_write_replace_mode(const char *dir, const char *name, const void *data, size_t len,
			      bool durable, mode_t mode, char *err, size_t errsize);

/* fsync the directory dir, so that a rename or an unlink in it is on disk.
 * Returns 0, or -1 with errno set. */
int fsutil_sync_dir(const char *dir);

/* Whose a file must be, and how open it may be, for pam_isc to trust what
 * it reads from it. */
enum fsutil_trust {
	/* State pam_isc wrote itself (token cache, queue, pending changes):
	 * owned by the effective uid, no group or other permission at all. */
	FSUTIL_PRIVATE,
	/* Configuration an administrator wrote: owned by root or by the
	 * effective uid (pam_isc_ctl run by hand, the tests), not writable by
	 * group or others. */
	FSUTIL_TRUSTED,
	/* Such a file that holds a secret: not readable by group or others
	 * either. */
	FSUTIL_TRUSTED_SECRET,
};

/* 0 when st satisfies trust, else -1 with the reason (without the path) in
 * err. */
int fsutil_check_trust(const struct stat *st, enum fsutil_trust trust, char *err, size_t errsize);

/* Read the file at path, at most max bytes, into a fresh buffer of max + 1
 * bytes: NUL-terminated, length in *len; release it with
 * secret_free_buf(*out, max + 1). The file must be a regular file (a FIFO
 * planted at the path is refused, not waited on: O_NONBLOCK), is never
 * read through a symbolic link (O_NOFOLLOW), and its owner and mode must
 * satisfy trust (fsutil_check_trust). A file that grows beyond max while it
 * is read is refused too. *st_out, if not NULL, receives the file's status
 * once it has passed the trust check.
 * On FSUTIL_READ_MISSING and FSUTIL_READ_ERROR, err holds the reason,
 * without the path (the caller names the file). */
enum fsutil_read_result {
	FSUTIL_READ_OK = 0,
	FSUTIL_READ_MISSING = 1, /* the file does not exist */
	FSUTIL_READ_ERROR = -1,  /* any other failure */
};
enum fsutil_read_result fsutil_read_file(const char *path, size_t max, enum fsutil_trust trust,
					 char **out, size_t *len, struct stat *st_out, char *err,
					 size_t errsize);

/* fsutil_read_file with FSUTIL_PRIVATE, and the path in err. *out may also
 * be released with secret_free_buf(*out, *len). */
enum fsutil_read_result fsutil_read_private(const char *path, size_t max, char **out, size_t *len,
					    char *err, size_t errsize);

#endif
