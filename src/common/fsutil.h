/* fsutil: the few file operations the helper does on root-only state
 * (token cache, pending status list): private directories, atomic writes,
 * bounded reads that never follow a symlink. */
#ifndef PAM_ISC_FSUTIL_H
#define PAM_ISC_FSUTIL_H

#include <stddef.h>

/* Make sure path is a directory we own with no group/other access, creating
 * it (0700) if it is missing. A symlink, another owner or a wider mode is
 * refused (never "fixed": someone else put it there). */
int fsutil_ensure_private_dir(const char *path, char *err, size_t errsize);

/* Write data to dir/name atomically: a temporary file in dir (0600), fsync,
 * rename over name, fsync dir. Readers see the old or the new content. */
int fsutil_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			char *err, size_t errsize);

/* Read a regular file we own, at most max bytes, without following a
 * symlink. *out is NUL-terminated; free it with secret_free_buf(*out, *len).
 * Returns 0, -1 on error, or 1 when the file does not exist. */
int fsutil_read_private(const char *path, size_t max, char **out, size_t *len, char *err,
			size_t errsize);

#endif
