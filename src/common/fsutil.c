/* fsutil: see fsutil.h. */
#include "fsutil.h"

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

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int fsutil_write_atomic(const char *dir, const char *name, const void *data, size_t len,
			char *err, size_t errsize)
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
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, final) < 0)
		goto fail;
	/* The rename is only durable once the directory is on disk. */
	if (fsync_dir(dir) < 0) {
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

int fsutil_read_private(const char *path, size_t max, char **out, size_t *len, char *err,
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
		if (errno == ENOENT)
			return 1;
		snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s is not a regular file", path);
		goto fail;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, errsize, "%s must be owned by uid %u with mode 0600", path,
			 (unsigned)geteuid());
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errsize, "%s is larger than %zu bytes", path, max);
		goto fail;
	}
	buf = malloc(max + 1);
	if (!buf) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > max) {
			snprintf(err, errsize, "%s is larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
fail:
	secret_free_buf(buf, max + 1);
	close(fd);
	return -1;
}
