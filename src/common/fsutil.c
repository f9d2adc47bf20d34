/* SPDX-License-Identifier: MIT */
/* fsutil: see fsutil.h. */
#include "fsutil.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

int fsutil_ensure_private_dir(const char *path, char *err, size_t errsize)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0) {
		snprintf(err, errsize, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s is not a directory", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errsize, "%s is owned by uid %u, not %u", path, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errsize, "%s has mode %03o; it must be 0700", path,
			 (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

int fsutil_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int fsutil_write_atomic(const char *dir, const char *name, const void *data, size_t len, char *err,
			size_t errsize)
{
	return fsutil_write_replace(dir, name, data, len, true, err, errsize);
}

int fsutil_write_replace(const char *dir, const char *name, const void *data, size_t len,
			 bool durable, char *err, size_t errsize)
{
	return fsutil_write_replace_mode(dir, name, data, len, durable, 0600, err, errsize);
}

int fsutil_write_replace_mode(const char *dir, const char *name, const void *data, size_t len,
			      bool durable, mode_t mode, char *err, size_t errsize)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	const unsigned char *p = data;
	int fd, n;

	n = snprintf(final, sizeof final, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof final ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name) >= (int)sizeof tmp) {
		snprintf(err, errsize, "path too long in %s", dir);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errsize, "cannot create a file in %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) < 0)
		goto fail;
	if (io_write_all(fd, p, len) < 0)
		goto fail;
	if (durable && fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, final) < 0)
		goto fail;
	/* The rename is only durable once the directory is on disk. */
	if (durable && fsutil_sync_dir(dir) < 0) {
		snprintf(err, errsize, "cannot sync %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
fail:
	snprintf(err, errsize, "cannot write %s: %s", final, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int fsutil_check_trust(const struct stat *st, enum fsutil_trust trust, char *err, size_t errsize)
{
	if (trust == FSUTIL_PRIVATE) {
		if (st->st_uid != geteuid() || (st->st_mode & 077)) {
			snprintf(err, errsize, "must be owned by uid %u with mode 0600",
				 (unsigned)geteuid());
			return -1;
		}
		return 0;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errsize, "refused: owned by uid %u; it must be owned by root",
			 (unsigned)st->st_uid);
		return -1;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errsize,
			 "refused: writable by group or others (mode %04o); use chmod go-w",
			 (unsigned)(st->st_mode & 07777));
		return -1;
	}
	if (trust == FSUTIL_TRUSTED_SECRET && (st->st_mode & (S_IRGRP | S_IROTH))) {
		snprintf(err, errsize,
			 "refused: holds the client secret but is readable by group or others "
			 "(mode %04o); use chmod 600",
			 (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

enum fsutil_read_result fsutil_read_file(const char *path, size_t max, enum fsutil_trust trust,
					 char **out, size_t *len, struct stat *st_out, char *err,
					 size_t errsize)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP)
			snprintf(err, errsize, "cannot open: it is a symbolic link (refused)");
		else
			snprintf(err, errsize, "cannot open: %s", strerror(e));
		return e == ENOENT ? 1 : -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsize, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "not a regular file");
		goto fail;
	}
	if (fsutil_check_trust(&st, trust, err, errsize) < 0)
		goto fail;
	if (st_out)
		*st_out = st;
	if (st.st_size < 0 || (unsigned long long)st.st_size > max)
		goto too_large;
	buf = malloc(max + 1);
	if (!buf) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	/* Read up to one byte more than allowed: the file may have grown. */
	for (;;) {
		ssize_t r = read(fd, buf + got, max + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsize, "cannot read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max)
			goto too_large;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
too_large:
	snprintf(err, errsize, "larger than %zu bytes", max);
fail:
	secret_free_buf(buf, max + 1);
	close(fd);
	return -1;
}

enum fsutil_read_result fsutil_read_private(const char *path, size_t max, char **out, size_t *len,
					    char *err, size_t errsize)
{
	char why[256];
	int rc = fsutil_read_file(path, max, FSUTIL_PRIVATE, out, len, NULL, why, sizeof why);

	if (rc < 0)
		snprintf(err, errsize, "%s: %s", path, why);
	return rc;
}
