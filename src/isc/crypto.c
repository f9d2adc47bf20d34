/* SPDX-License-Identifier: MIT */
/* crypto: see crypto.h.
 *
 * What stays outside this unit's control: nettle pads the password into GMP
 * integers during encryption and GnuTLS does not wipe those; the caller's
 * own copy of the password is the caller's to wipe. */
#include "crypto.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* PKCS#1 v1.5 encryption padding: 0x00 0x02, at least 8 random non-zero
 * bytes, 0x00 (RFC 8017, 7.2.1). */
#define PKCS1_V15_OVERHEAD 11

/* A Base64 SPKI larger than this cannot be anything ISC sends (even a
 * 16384-bit RSA key, twice CRYPTO_MAX_RSA_BITS, is under 3 KiB of Base64);
 * refusing it early bounds the work done on hostile input. */
#define SPKI_B64_MAX 16384

/* Import the Base64 SPKI and check it is an RSA key of acceptable size
 * (CRYPTO_MIN_RSA_BITS to CRYPTO_MAX_RSA_BITS).
 * On CRYPTO_OK, *key_out must be released with gnutls_pubkey_deinit. */
static int load_rsa_key(const char *spki_b64, gnutls_pubkey_t *key_out, unsigned int *bits_out,
			char *err, size_t errsize)
{
	gnutls_datum_t b64 = { NULL, 0 };
	gnutls_datum_t der = { NULL, 0 };
	gnutls_pubkey_t key = NULL;
	unsigned int bits = 0;
	size_t b64_len;
	int algo, rc;
	int ret = CRYPTO_BAD_KEY;

	*key_out = NULL;
	*bits_out = 0;
	if (!spki_b64 || !*spki_b64) {
		errbuf_set(err, errsize, "public key missing");
		return CRYPTO_BAD_KEY;
	}
	b64_len = strlen(spki_b64);
	if (b64_len > SPKI_B64_MAX) {
		errbuf_set(err, errsize, "public key too large (%zu Base64 characters)", b64_len);
		return CRYPTO_BAD_KEY;
	}
	/* gnutls_datum_t is not const-qualified; the decoder only reads it. */
	b64.data = (unsigned char *)(uintptr_t)spki_b64;
	b64.size = (unsigned int)b64_len;
	rc = gnutls_base64_decode2(&b64, &der);
	if (rc < 0) {
		errbuf_set(err, errsize, "public key is not valid Base64");
		goto out;
	}
	if (der.size == 0) {
		errbuf_set(err, errsize, "public key decodes to nothing");
		goto out;
	}

	rc = gnutls_pubkey_init(&key);
	if (rc < 0) {
		errbuf_set(err, errsize, "gnutls_pubkey_init: %s", gnutls_strerror(rc));
		ret = CRYPTO_INTERNAL;
		goto out;
	}
	rc = gnutls_pubkey_import(key, &der, GNUTLS_X509_FMT_DER);
	if (rc < 0) {
		errbuf_set(err, errsize, "public key is not a DER SubjectPublicKeyInfo: %s",
			   gnutls_strerror(rc));
		goto out;
	}
	algo = gnutls_pubkey_get_pk_algorithm(key, &bits);
	/* Only plain rsaEncryption keys: an RSA-PSS key is restricted to
	 * signatures, and anything else cannot do PKCS#1 v1.5 encryption. */
	if (algo != GNUTLS_PK_RSA) {
		const char *name = NULL;

		if (algo >= 0)
			name = gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)algo);
		errbuf_set(err, errsize, "public key is not RSA (%s)", name ? name : "unknown");
		goto out;
	}
	if (bits < CRYPTO_MIN_RSA_BITS) {
		errbuf_set(err, errsize, "RSA key too small (%u bits, need %d)", bits,
			   CRYPTO_MIN_RSA_BITS);
		goto out;
	}
	if (bits > CRYPTO_MAX_RSA_BITS) {
		errbuf_set(err, errsize, "RSA key too large (%u bits, at most %d)", bits,
			   CRYPTO_MAX_RSA_BITS);
		goto out;
	}

	*key_out = key;
	*bits_out = bits;
	key = NULL;
	ret = CRYPTO_OK;
out:
	if (key)
		gnutls_pubkey_deinit(key);
	gnutls_free(der.data);
	return ret;
}

static size_t max_len_for_bits(unsigned int bits)
{
	/* bits >= CRYPTO_MIN_RSA_BITS here, so this cannot underflow. */
	return ((size_t)bits + 7) / 8 - PKCS1_V15_OVERHEAD;
}

int crypto_max_password_len(const char *spki_b64, size_t *max, char *err, size_t errsize)
{
	gnutls_pubkey_t key;
	unsigned int bits;
	int rc;

	if (!max) {
		errbuf_set(err, errsize, "no output pointer");
		return CRYPTO_INTERNAL;
	}
	*max = 0;
	rc = load_rsa_key(spki_b64, &key, &bits, err, errsize);
	if (rc != CRYPTO_OK)
		return rc;
	*max = max_len_for_bits(bits);
	gnutls_pubkey_deinit(key);
	return CRYPTO_OK;
}

/* malloc'd copy of the Base64 text without the line breaks some encoders
 * add: ISC wants one line. */
static char *b64_single_line(const gnutls_datum_t *b64)
{
	char *line = malloc((size_t)b64->size + 1);
	size_t n = 0;

	if (!line)
		return NULL;
	for (unsigned int i = 0; i < b64->size; i++) {
		if (b64->data[i] != '\n' && b64->data[i] != '\r')
			line[n++] = (char)b64->data[i];
	}
	line[n] = '\0';
	return line;
}

int crypto_encrypt_password(const char *spki_b64, const unsigned char *pw, size_t pw_len,
			    char **b64_out, char *err, size_t errsize)
{
	gnutls_pubkey_t key = NULL;
	gnutls_datum_t plain = { NULL, 0 };
	gnutls_datum_t cipher = { NULL, 0 };
	gnutls_datum_t b64 = { NULL, 0 };
	unsigned int bits = 0;
	size_t max;
	char *line;
	int rc;
	int ret;

	if (!b64_out) {
		errbuf_set(err, errsize, "no output pointer");
		return CRYPTO_INTERNAL;
	}
	*b64_out = NULL;
	if (pw_len == 0) {
		errbuf_set(err, errsize, "empty password");
		return CRYPTO_EMPTY;
	}
	if (!pw) {
		errbuf_set(err, errsize, "no password buffer");
		return CRYPTO_INTERNAL;
	}

	ret = load_rsa_key(spki_b64, &key, &bits, err, errsize);
	if (ret != CRYPTO_OK)
		return ret;
	max = max_len_for_bits(bits);
	if (pw_len > max) {
		errbuf_set(err, errsize, "password too long for the key (%zu bytes, at most %zu)",
			   pw_len, max);
		ret = CRYPTO_TOO_LONG;
		goto out;
	}

	/* GnuTLS only reads the plaintext; the datum type is just not const. */
	plain.data = (unsigned char *)(uintptr_t)pw;
	plain.size = (unsigned int)pw_len;
	/* For an rsaEncryption key this is RSAES-PKCS1-v1_5, which is what ISC
	 * decrypts (not OAEP). */
	rc = gnutls_pubkey_encrypt_data(key, 0, &plain, &cipher);
	if (rc < 0) {
		errbuf_set(err, errsize, "RSA encryption failed: %s", gnutls_strerror(rc));
		ret = CRYPTO_INTERNAL;
		goto out;
	}
	rc = gnutls_base64_encode2(&cipher, &b64);
	if (rc < 0) {
		errbuf_set(err, errsize, "Base64 encoding failed: %s", gnutls_strerror(rc));
		ret = CRYPTO_INTERNAL;
		goto out;
	}
	/* Copied because callers free the result with free(), and GnuTLS's
	 * allocator need not be malloc. */
	line = b64_single_line(&b64);
	if (!line) {
		errbuf_set(err, errsize, "out of memory");
		ret = CRYPTO_INTERNAL;
		goto out;
	}
	*b64_out = line;
	ret = CRYPTO_OK;
out:
	/* The ciphertext is not the password, but it is wiped like every other
	 * buffer this function touched so nothing derived from it lingers. */
	if (cipher.data) {
		gnutls_memset(cipher.data, 0, cipher.size);
		gnutls_free(cipher.data);
	}
	if (b64.data) {
		gnutls_memset(b64.data, 0, b64.size);
		gnutls_free(b64.data);
	}
	if (key)
		gnutls_pubkey_deinit(key);
	return ret;
}
