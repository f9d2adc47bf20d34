/* SPDX-License-Identifier: MIT */
/* secret: see secret.h. */
#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void secret_wipe(void *p, size_t n)
{
	/* explicit_bzero, unlike memset, is not removed by the compiler when the
	 * buffer is about to be freed. */
	if (p && n)
		explicit_bzero(p, n);
}

void secret_free_str(char *s)
{
	if (!s)
		return;
	secret_wipe(s, strlen(s));
	free(s);
}

void secret_free_buf(void *p, size_t n)
{
	if (!p)
		return;
	secret_wipe(p, n);
	free(p);
}

/* s is treated as output only (callers pass a zeroed or cleared struct), so
 * that it never frees whatever garbage an uninitialised struct holds. On
 * failure s is left as it was. */
int secret_set(struct secret *s, const void *data, size_t len)
{
	unsigned char *copy;

	if (len == SIZE_MAX) {
		errno = ENOMEM;
		return -1;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, data, len);
	copy[len] = '\0';
	s->data = copy;
	s->len = len;
	return 0;
}

void secret_clear(struct secret *s)
{
	if (!s)
		return;
	secret_free_buf(s->data, s->len + 1);
	s->data = NULL;
	s->len = 0;
}
