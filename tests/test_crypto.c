/* SPDX-License-Identifier: MIT */
/* Unit tests: password encryption for ISC.
 *
 * Keys are generated once per run in the group setup (RSA-2048 with its
 * private half for round trips; RSA-3072, RSA-1024, ECDSA P-256 and
 * RSA-PSS-2048 public keys for size and type checks). Keys above ISC's
 * usual size are crafted, not generated (crafted_rsa_spki): generating an
 * 8192-bit key takes seconds, and only the modulus' size matters there.
 * Passwords are compared with assert_memory_equal and never printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "secret.h"

struct keys {
	gnutls_privkey_t rsa2048;
	char *rsa2048_spki;
	unsigned char *rsa2048_der;
	size_t rsa2048_der_len;
	char *rsa3072_spki;
	char *rsa1024_spki;
	char *ecdsa_spki;
	char *rsa_pss_spki;
};

/* Base64 of d on one line, malloc'd. */
static char *b64_line(const unsigned char *d, size_t n)
{
	gnutls_datum_t in = { (unsigned char *)(uintptr_t)d, (unsigned int)n };
	gnutls_datum_t out = { NULL, 0 };
	char *line;
	size_t k = 0;

	if (gnutls_base64_encode2(&in, &out) < 0)
		return NULL;
	line = malloc((size_t)out.size + 1);
	if (line) {
		for (unsigned int i = 0; i < out.size; i++)
			if (out.data[i] != '\n' && out.data[i] != '\r')
				line[k++] = (char)out.data[i];
		line[k] = '\0';
	}
	gnutls_free(out.data);
	return line;
}

/* Generate a key; return its SPKI as Base64 (and optionally the private key
 * and DER). */
static char *generate(gnutls_pk_algorithm_t algo, unsigned int bits, gnutls_privkey_t *priv_out,
		      unsigned char **der_out, size_t *der_len_out)
{
	gnutls_privkey_t priv = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 };
	char *spki = NULL;

	if (gnutls_privkey_init(&priv) < 0 || gnutls_privkey_generate(priv, algo, bits, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	spki = b64_line(der.data, der.size);
	if (spki && der_out) {
		*der_out = malloc(der.size);
		if (!*der_out) {
			free(spki);
			spki = NULL;
			goto out;
		}
		memcpy(*der_out, der.data, der.size);
		*der_len_out = der.size;
	}
	if (spki && priv_out) {
		*priv_out = priv;
		priv = NULL;
	}
out:
	gnutls_free(der.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (priv)
		gnutls_privkey_deinit(priv);
	return spki;
}

/* The SPKI (Base64) of an RSA public key whose modulus is exactly bits
 * long: the top bit set, odd, e = 65537. Not a product of two primes, so
 * nobody holds its private half; encryption under it is still the same
 * modular exponentiation, which is all the size checks need. */
static char *crafted_rsa_spki(unsigned int bits)
{
	static const unsigned char exponent[] = { 0x01, 0x00, 0x01 };
	size_t n = ((size_t)bits + 7) / 8;
	unsigned char *modulus = malloc(n);
	gnutls_datum_t m = { modulus, (unsigned int)n };
	gnutls_datum_t e = { (unsigned char *)(uintptr_t)exponent, sizeof exponent };
	gnutls_datum_t der = { NULL, 0 };
	gnutls_pubkey_t pub = NULL;
	char *spki = NULL;

	if (!modulus)
		return NULL;
	memset(modulus, 0xa5, n);
	modulus[0] = (unsigned char)(1u << ((bits - 1) % 8));
	modulus[n - 1] |= 1;
	if (gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_rsa_raw(pub, &m, &e) == 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) == 0)
		spki = b64_line(der.data, der.size);
	gnutls_free(der.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	free(modulus);
	return spki;
}

static int group_setup(void **state)
{
	struct keys *k = calloc(1, sizeof *k);

	if (!k)
		return -1;
	*state = k;
	k->rsa2048_spki =
		generate(GNUTLS_PK_RSA, 2048, &k->rsa2048, &k->rsa2048_der, &k->rsa2048_der_len);
	k->rsa3072_spki = generate(GNUTLS_PK_RSA, 3072, NULL, NULL, NULL);
	k->rsa1024_spki = generate(GNUTLS_PK_RSA, 1024, NULL, NULL, NULL);
	k->ecdsa_spki = generate(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
				 NULL, NULL, NULL);
	/* RSA-PSS: RSA maths and size, but an OID that restricts it to signing. */
	k->rsa_pss_spki = generate(GNUTLS_PK_RSA_PSS, 2048, NULL, NULL, NULL);
	if (!k->rsa2048_spki || !k->rsa3072_spki || !k->rsa1024_spki || !k->ecdsa_spki ||
	    !k->rsa_pss_spki)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	struct keys *k = *state;

	if (!k)
		return 0;
	if (k->rsa2048)
		gnutls_privkey_deinit(k->rsa2048);
	free(k->rsa2048_spki);
	free(k->rsa2048_der);
	free(k->rsa3072_spki);
	free(k->rsa1024_spki);
	free(k->ecdsa_spki);
	free(k->rsa_pss_spki);
	free(k);
	return 0;
}

/* Decode the library's Base64 output, failing the test if it is not
 * one line of standard, padded Base64 of exactly one RSA-2048 block. */
static void decode_ciphertext(const char *b64, gnutls_datum_t *cipher)
{
	size_t n = strlen(b64);
	gnutls_datum_t in = { (unsigned char *)(uintptr_t)b64, (unsigned int)n };

	/* 256 bytes -> 344 characters, the last one '=' padding. */
	assert_int_equal(n, 344);
	assert_int_equal(b64[n - 1], '=');
	assert_true(
		strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
		n);
	assert_null(strchr(b64, '\n'));
	assert_int_equal(gnutls_base64_decode2(&in, cipher), 0);
	assert_int_equal(cipher->size, 256);
}

static void round_trip(const struct keys *k, const unsigned char *pw, size_t pw_len)
{
	char *out = NULL;
	char err[256] = "";
	gnutls_datum_t cipher = { NULL, 0 };
	gnutls_datum_t plain = { NULL, 0 };

	assert_int_equal(
		crypto_encrypt_password(k->rsa2048_spki, pw, pw_len, &out, err, sizeof err),
		CRYPTO_OK);
	assert_non_null(out);
	decode_ciphertext(out, &cipher);
	assert_int_equal(gnutls_privkey_decrypt_data(k->rsa2048, 0, &cipher, &plain), 0);
	assert_int_equal(plain.size, pw_len);
	assert_memory_equal(plain.data, pw, pw_len);
	gnutls_memset(plain.data, 0, plain.size);
	gnutls_free(plain.data);
	gnutls_free(cipher.data);
	secret_free_str(out);
}

static void test_round_trip_ascii(void **state)
{
	const char *pw = "Correct horse battery staple 1!";

	round_trip(*state, (const unsigned char *)pw, strlen(pw));
}

static void test_round_trip_utf8(void **state)
{
	/* ä, €, 😀, CJK: 2-, 3- and 4-byte sequences. */
	const char *pw = "p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x98\x80 \xe5\xaf\x86\xe7\xa0\x81";

	round_trip(*state, (const unsigned char *)pw, strlen(pw));
}

static void test_round_trip_one_byte(void **state)
{
	const unsigned char pw[] = { 'x' };

	round_trip(*state, pw, sizeof pw);
}

static void test_round_trip_200_bytes(void **state)
{
	unsigned char pw[200];

	for (size_t i = 0; i < sizeof pw; i++)
		pw[i] = (unsigned char)('!' + i % 90);
	round_trip(*state, pw, sizeof pw);
}

static void test_round_trip_exact_max(void **state)
{
	unsigned char pw[245];

	for (size_t i = 0; i < sizeof pw; i++)
		pw[i] = (unsigned char)('a' + i % 26);
	round_trip(*state, pw, sizeof pw);
}

static void test_too_long(void **state)
{
	const struct keys *k = *state;
	unsigned char pw[246];
	char *out = (char *)"sentinel";
	char err[256] = "";

	memset(pw, 'a', sizeof pw);
	assert_int_equal(
		crypto_encrypt_password(k->rsa2048_spki, pw, sizeof pw, &out, err, sizeof err),
		CRYPTO_TOO_LONG);
	assert_null(out);
	assert_true(err[0] != '\0');
}

static void test_empty(void **state)
{
	const struct keys *k = *state;
	const unsigned char pw[] = "x";
	char *out = (char *)"sentinel";
	char err[256] = "";

	assert_int_equal(crypto_encrypt_password(k->rsa2048_spki, pw, 0, &out, err, sizeof err),
			 CRYPTO_EMPTY);
	assert_null(out);
	assert_int_equal(crypto_encrypt_password(k->rsa2048_spki, NULL, 0, &out, err, sizeof err),
			 CRYPTO_EMPTY);
	assert_null(out);
}

static void test_random_padding(void **state)
{
	const struct keys *k = *state;
	const char *pw = "same password twice";
	char *a = NULL, *b = NULL;
	char err[256];

	assert_int_equal(crypto_encrypt_password(k->rsa2048_spki, (const unsigned char *)pw,
						 strlen(pw), &a, err, sizeof err),
			 CRYPTO_OK);
	assert_int_equal(crypto_encrypt_password(k->rsa2048_spki, (const unsigned char *)pw,
						 strlen(pw), &b, err, sizeof err),
			 CRYPTO_OK);
	assert_string_not_equal(a, b);
	secret_free_str(a);
	secret_free_str(b);
}

/* Both entry points refuse spki with CRYPTO_BAD_KEY and a reason that
 * contains want. */
static void expect_bad_key(const char *spki, const char *want)
{
	const unsigned char pw[] = "password";
	char *out = (char *)"sentinel";
	char err[256] = "";
	size_t max = 99;

	assert_int_equal(crypto_encrypt_password(spki, pw, sizeof pw - 1, &out, err, sizeof err),
			 CRYPTO_BAD_KEY);
	assert_null(out);
	if (!strstr(err, want))
		fail_msg("reason \"%s\" lacks \"%s\"", err, want);
	err[0] = '\0';
	assert_int_equal(crypto_max_password_len(spki, &max, err, sizeof err), CRYPTO_BAD_KEY);
	assert_int_equal(max, 0);
	if (!strstr(err, want))
		fail_msg("reason \"%s\" lacks \"%s\"", err, want);
}

static void test_bad_key_not_base64(void **state)
{
	(void)state;
	expect_bad_key("this is not base64!", "not valid Base64");
	expect_bad_key("MIIB*IjAN", "not valid Base64");
	expect_bad_key("QUJ", "not valid Base64"); /* wrong length */
	expect_bad_key("====", "Base64");
	expect_bad_key("", "missing");
	expect_bad_key(NULL, "missing");
}

static void test_bad_key_garbage(void **state)
{
	static const unsigned char garbage[] = { 0x00, 0xff, 0x13, 0x37, 0x42, 0x30, 0x82, 0x01 };
	char *b64 = b64_line(garbage, sizeof garbage);

	(void)state;
	assert_non_null(b64);
	expect_bad_key(b64, "not a DER SubjectPublicKeyInfo");
	free(b64);
	expect_bad_key("aGVsbG8gd29ybGQ=", "not a DER"); /* "hello world" */
}

static void test_bad_key_truncated_der(void **state)
{
	const struct keys *k = *state;
	size_t cuts[] = { 1, 10, k->rsa2048_der_len / 2, k->rsa2048_der_len - 1 };

	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char *b64 = b64_line(k->rsa2048_der, cuts[i]);

		assert_non_null(b64);
		expect_bad_key(b64, "not a DER");
		free(b64);
	}
}

static void test_bad_key_trailing_bytes(void **state)
{
	const struct keys *k = *state;
	size_t len = k->rsa2048_der_len + 4;
	unsigned char *der = malloc(len);
	char *b64;

	assert_non_null(der);
	memcpy(der, k->rsa2048_der, k->rsa2048_der_len);
	memcpy(der + k->rsa2048_der_len, "junk", 4);
	b64 = b64_line(der, len);
	free(der);
	assert_non_null(b64);
	expect_bad_key(b64, "not a DER");
	free(b64);
}

static void test_bad_key_ecdsa(void **state)
{
	const struct keys *k = *state;

	expect_bad_key(k->ecdsa_spki, "not RSA");
}

static void test_bad_key_rsa_pss(void **state)
{
	const struct keys *k = *state;

	expect_bad_key(k->rsa_pss_spki, "not RSA");
}

static void test_bad_key_rsa1024(void **state)
{
	const struct keys *k = *state;

	expect_bad_key(k->rsa1024_spki, "too small (1024 bits");
}

/* The largest key ISC may hand out is accepted: 8192 bits carry 1013
 * bytes, and the ciphertext is one 1024-byte block. */
static void test_rsa_max_bits_accepted(void **state)
{
	char *spki = crafted_rsa_spki(CRYPTO_MAX_RSA_BITS);
	const unsigned char pw[] = "password";
	char *out = NULL;
	char err[256] = "";
	size_t max = 0;

	(void)state;
	assert_non_null(spki);
	assert_int_equal(crypto_max_password_len(spki, &max, err, sizeof err), CRYPTO_OK);
	assert_int_equal(max, CRYPTO_MAX_RSA_BITS / 8 - 11);
	assert_int_equal(crypto_encrypt_password(spki, pw, sizeof pw - 1, &out, err, sizeof err),
			 CRYPTO_OK);
	assert_int_equal(strlen(out), 4 * ((CRYPTO_MAX_RSA_BITS / 8 + 2) / 3));
	secret_free_str(out);
	free(spki);
}

/* A bigger key is refused with a reason that names its size. */
static void test_bad_key_rsa_too_large(void **state)
{
	static const unsigned int sizes[] = { CRYPTO_MAX_RSA_BITS + 1, 8200, 16384 };
	char want[64];

	(void)state;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *spki = crafted_rsa_spki(sizes[i]);

		assert_non_null(spki);
		snprintf(want, sizeof want, "too large (%u bits, at most %d)", sizes[i],
			 CRYPTO_MAX_RSA_BITS);
		expect_bad_key(spki, want);
		free(spki);
	}
}

static void test_max_password_len(void **state)
{
	const struct keys *k = *state;
	char err[256];
	size_t max = 0;

	assert_int_equal(crypto_max_password_len(k->rsa2048_spki, &max, err, sizeof err),
			 CRYPTO_OK);
	assert_int_equal(max, 245);
	assert_int_equal(crypto_max_password_len(k->rsa3072_spki, &max, err, sizeof err),
			 CRYPTO_OK);
	assert_int_equal(max, 373);
}

static void test_rsa3072_encrypts_its_max(void **state)
{
	const struct keys *k = *state;
	unsigned char pw[374];
	char *out = NULL;
	char err[256];

	memset(pw, 'z', sizeof pw);
	assert_int_equal(crypto_encrypt_password(k->rsa3072_spki, pw, 373, &out, err, sizeof err),
			 CRYPTO_OK);
	/* 384-byte block -> 512 Base64 characters, no padding needed. */
	assert_int_equal(strlen(out), 512);
	secret_free_str(out);
	out = NULL;
	assert_int_equal(crypto_encrypt_password(k->rsa3072_spki, pw, 374, &out, err, sizeof err),
			 CRYPTO_TOO_LONG);
	assert_null(out);
}

static void test_tiny_err_buffer(void **state)
{
	const struct keys *k = *state;
	char err[4] = "abc";
	char *out = NULL;
	unsigned char pw[300];

	memset(pw, 'a', sizeof pw);
	/* Truncated but terminated; and a NULL err is allowed. */
	assert_int_equal(
		crypto_encrypt_password(k->rsa2048_spki, pw, sizeof pw, &out, err, sizeof err),
		CRYPTO_TOO_LONG);
	assert_int_equal(strlen(err), 3);
	assert_int_equal(crypto_encrypt_password("!!", pw, 5, &out, NULL, 0), CRYPTO_BAD_KEY);
	assert_int_equal(crypto_encrypt_password(k->rsa2048_spki, pw, 5, NULL, NULL, 0),
			 CRYPTO_INTERNAL);
	assert_int_equal(crypto_max_password_len(k->rsa2048_spki, NULL, NULL, 0), CRYPTO_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_ascii),
		cmocka_unit_test(test_round_trip_utf8),
		cmocka_unit_test(test_round_trip_one_byte),
		cmocka_unit_test(test_round_trip_200_bytes),
		cmocka_unit_test(test_round_trip_exact_max),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_random_padding),
		cmocka_unit_test(test_bad_key_not_base64),
		cmocka_unit_test(test_bad_key_garbage),
		cmocka_unit_test(test_bad_key_truncated_der),
		cmocka_unit_test(test_bad_key_trailing_bytes),
		cmocka_unit_test(test_bad_key_ecdsa),
		cmocka_unit_test(test_bad_key_rsa_pss),
		cmocka_unit_test(test_bad_key_rsa1024),
		cmocka_unit_test(test_rsa_max_bits_accepted),
		cmocka_unit_test(test_bad_key_rsa_too_large),
		cmocka_unit_test(test_max_password_len),
		cmocka_unit_test(test_rsa3072_encrypts_its_max),
		cmocka_unit_test(test_tiny_err_buffer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
