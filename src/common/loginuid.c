/* SPDX-License-Identifier: MIT */
/* loginuid: see loginuid.h. */
#include "loginuid.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* "4294967295" has 10 digits. */
#define LOGINUID_DIGITS_MAX 10

int loginuid_parse(const char *text, size_t len, uint32_t *out)
{
	uint64_t n = 0;

	if (!text || !out || len == 0 || len > LOGINUID_DIGITS_MAX || (len > 1 && text[0] == '0')) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9') {
			errno = EINVAL;
			return -1;
		}
		n = n * 10 + (uint64_t)(text[i] - '0');
	}
	if (n > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

int loginuid_read(const char *path, uint32_t *out)
{
	/* One byte more than a login uid can have, to see a longer text. */
	char buf[LOGINUID_DIGITS_MAX + 1];
	size_t len = 0;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -1;
	while (len < sizeof buf) {
		ssize_t n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof buf) {
		errno = EFBIG;
		return -1;
	}
	return loginuid_parse(buf, len, out);
}
