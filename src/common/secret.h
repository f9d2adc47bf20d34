/* SPDX-License-Identifier: MIT */
/* secret: buffers that hold passwords, client secrets and tokens.
 *
 * Everything that ever held a secret is released through these functions so
 * that the bytes are overwritten before the memory goes back to the allocator.
 * explicit_bzero is used (not gnutls_memset) because this unit is linked into
 * the PAM module, and the module must not pull GnuTLS into setuid passwd. */
#ifndef PAM_ISC_SECRET_H
#define PAM_ISC_SECRET_H

#include <stddef.h>

struct secret {
	unsigned char *data; /* NUL-terminated for convenience; len excludes it */
	size_t len;
};

/* Wipe n bytes at p; safe with p == NULL. */
void secret_wipe(void *p, size_t n);
/* Wipe strlen(s) bytes then free; safe with NULL. */
void secret_free_str(char *s);
/* Wipe n bytes then free; safe with NULL. */
void secret_free_buf(void *p, size_t n);

/* Copy len bytes into a fresh buffer (plus a NUL). Returns 0, or -1 (ENOMEM). */
int secret_set(struct secret *s, const void *data, size_t len);
/* Wipe and release; leaves s empty. */
void secret_clear(struct secret *s);

#endif
