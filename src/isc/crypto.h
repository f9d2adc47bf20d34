/* SPDX-License-Identifier: MIT */
/* crypto: what ISC needs done to a password before it travels.
 * RSA PKCS#1 v1.5 encryption (not OAEP) of the password bytes under the
 * DER SubjectPublicKeyInfo ISC sends as standard Base64, and the result as
 * standard Base64 without line breaks. GnuTLS does the RSA and the Base64.
 * No network, no JSON. */
#ifndef PAM_ISC_CRYPTO_H
#define PAM_ISC_CRYPTO_H

#include <stddef.h>

enum crypto_status {
	CRYPTO_OK = 0,
	CRYPTO_BAD_KEY = -1,  /* not Base64, not DER SPKI, not RSA, < 2048 or > 8192 bits */
	CRYPTO_TOO_LONG = -2, /* password longer than the key can carry */
	CRYPTO_EMPTY = -3,    /* empty password */
	CRYPTO_INTERNAL = -4, /* allocation, RNG, library failure */
};

/* Smallest RSA modulus accepted, in bits. */
#define CRYPTO_MIN_RSA_BITS 2048
/* Largest RSA modulus accepted, in bits. ISC hands out 2048-bit keys; an
 * RSA operation's cost grows steeply with the size (more than the square,
 * the cube with an exponent as large as the modulus, which the key's
 * sender chooses too), so a far bigger key is no key ISC meant to send,
 * and refusing it bounds the work a hostile answer can cause. */
#define CRYPTO_MAX_RSA_BITS 8192

/* Largest password (bytes) the key can carry: modulus bytes - 11.
 * Returns CRYPTO_OK and sets *max, or CRYPTO_BAD_KEY. */
int crypto_max_password_len(const char *spki_b64, size_t *max, char *err, size_t errsize);

/* Encrypt pw[0..pw_len) under the key. On CRYPTO_OK, *b64_out is a malloc'd
 * NUL-terminated Base64 string (free with secret_free_str). Every
 * intermediate buffer is wiped. err gets a short reason on failure. */
int crypto_encrypt_password(const char *spki_b64, const unsigned char *pw, size_t pw_len,
			    char **b64_out, char *err, size_t errsize);

#endif
