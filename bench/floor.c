/* SPDX-License-Identifier: MIT */
/* bench_floor: the round-trip floor of a password change. One process, one
 * libcurl handle; per change it sends the same two requests pam_isc sends
 * on a warm token (lookup, then set-password) and nothing else: no PAM, no
 * process start, no configuration, no token cache, no encryption per change
 * (the password is encrypted once at start, with the key of a first lookup;
 * the server really decrypts every copy).
 *
 *   bench_floor URL CA_FILE SECRET_FILE USER N reuse|fresh OUT < password-line
 *
 * reuse: every change over the one TLS connection (the network and server
 * cost alone); fresh: a new TCP+TLS connection per change, no TLS session
 * resumption (what a process per change cannot avoid). OUT gets one line
 * per change: run wall_us. Exit status 0 only if every request got the
 * status it should (200 lookup, 202 set). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <json-c/json.h>

#define SOURCE_NAME "Linux Hosts"
#define CLIENT_ID "pam-isc-test"

struct buf {
	char *data;
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t add = size * n;
	char *grown = realloc(b->data, b->len + add + 1);

	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* POST body to url; the HTTP status, or -1. The response body in resp. */
static long post(CURL *curl, const char *url, struct curl_slist *headers, const char *body,
		 struct buf *resp)
{
	long code = -1;

	resp->len = 0;
	if (resp->data)
		resp->data[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* RSA PKCS#1 v1.5 of password with the Base64 DER SubjectPublicKeyInfo;
 * Base64 of the result (gnutls_free it), or NULL. */
static char *encrypt_b64(const char *key_b64, const char *password)
{
	gnutls_datum_t b64 = { (unsigned char *)key_b64, (unsigned)strlen(key_b64) };
	gnutls_datum_t der = { NULL, 0 }, plain = { (unsigned char *)password,
						    (unsigned)strlen(password) };
	gnutls_datum_t cipher = { NULL, 0 }, out = { NULL, 0 };
	gnutls_pubkey_t pub = NULL;
	char *text = NULL;

	if (gnutls_base64_decode2(&b64, &der) >= 0 && gnutls_pubkey_init(&pub) >= 0 &&
	    gnutls_pubkey_import(pub, &der, GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_pubkey_encrypt_data(pub, 0, &plain, &cipher) >= 0 &&
	    gnutls_base64_encode2(&cipher, &out) >= 0) {
		text = calloc(1, out.size + 1);
		if (text) {
			size_t n = 0;
			for (unsigned i = 0; i < out.size; i++)
				if (out.data[i] != '\n' && out.data[i] != '\r')
					text[n++] = (char)out.data[i];
		}
	}
	gnutls_free(der.data);
	gnutls_free(cipher.data);
	gnutls_free(out.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return text;
}

int main(int argc, char **argv)
{
	char password[512], secret[256], url[1024], form[1024], auth[256];
	char lookup_url[1100], set_url[1100], lookup_body[512];
	struct curl_slist *json_headers = NULL, *form_headers = NULL;
	struct buf resp = { NULL, 0 };
	json_object *info = NULL, *tok = NULL, *accounts, *set = NULL;
	const char *token, *account_id = NULL, *user;
	char *cipher = NULL, *escaped;
	long n, code;
	FILE *f, *out;
	CURL *curl;
	bool fresh;
	int ret = 1;

	if (argc != 8 || (strcmp(argv[6], "reuse") && strcmp(argv[6], "fresh"))) {
		fprintf(stderr, "usage: bench_floor URL CA_FILE SECRET_FILE USER N reuse|fresh OUT "
				"< password\n");
		return 2;
	}
	user = argv[4];
	n = strtol(argv[5], NULL, 10);
	fresh = strcmp(argv[6], "fresh") == 0;
	if (!fgets(password, sizeof password, stdin) || !(f = fopen(argv[3], "re")))
		return 2;
	password[strcspn(password, "\n")] = '\0';
	if (!fgets(secret, sizeof secret, f))
		return 2;
	fclose(f);
	secret[strcspn(secret, "\r\n")] = '\0';
	out = fopen(argv[7], "we");
	if (!out || n <= 0)
		return 2;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	if (!curl)
		return 2;
	curl_easy_setopt(curl, CURLOPT_CAINFO, argv[2]);
	curl_easy_setopt(curl, CURLOPT_CAPATH, NULL); /* only CA_FILE, as pam_isc does */
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	if (fresh)
		curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);

	/* Once: the token, and a lookup for the key. */
	escaped = curl_easy_escape(curl, secret, 0);
	snprintf(url, sizeof url, "%s/oauth/token", argv[1]);
	snprintf(form, sizeof form, "grant_type=client_credentials&client_id=%s&client_secret=%s",
		 CLIENT_ID, escaped ? escaped : "");
	curl_free(escaped);
	explicit_bzero(secret, sizeof secret);
	form_headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	code = post(curl, url, form_headers, form, &resp);
	explicit_bzero(form, sizeof form);
	if (code != 200 || !(tok = json_tokener_parse(resp.data)) ||
	    !(token = get_str(tok, "access_token"))) {
		fprintf(stderr, "bench_floor: token request failed (HTTP %ld)\n", code);
		goto out;
	}
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	json_headers = curl_slist_append(json_headers, "Accept: application/json");
	json_headers = curl_slist_append(json_headers, auth);
	explicit_bzero(auth, sizeof auth);
	snprintf(lookup_url, sizeof lookup_url, "%s/v3/query-password-info", argv[1]);
	snprintf(set_url, sizeof set_url, "%s/v3/set-password", argv[1]);
	snprintf(lookup_body, sizeof lookup_body, "{\"userName\":\"%s\",\"sourceName\":\"%s\"}",
		 user, SOURCE_NAME);
	code = post(curl, lookup_url, json_headers, lookup_body, &resp);
	if (code != 200 || !(info = json_tokener_parse(resp.data))) {
		fprintf(stderr, "bench_floor: lookup failed (HTTP %ld)\n", code);
		goto out;
	}
	if (json_object_object_get_ex(info, "accounts", &accounts) &&
	    json_object_array_length(accounts) > 0)
		account_id = get_str(json_object_array_get_idx(accounts, 0), "accountId");
	if (!account_id || !get_str(info, "publicKey") || !get_str(info, "identityId") ||
	    !(cipher = encrypt_b64(get_str(info, "publicKey"), password))) {
		fprintf(stderr, "bench_floor: unusable lookup answer\n");
		goto out;
	}
	explicit_bzero(password, sizeof password);
	set = json_object_new_object();
	json_object_object_add(set, "identityId", json_object_new_string(get_str(info, "identityId")));
	json_object_object_add(set, "encryptedPassword", json_object_new_string(cipher));
	json_object_object_add(set, "publicKeyId", json_object_new_string(get_str(info, "publicKeyId")));
	json_object_object_add(set, "accountId", json_object_new_string(account_id));
	json_object_object_add(set, "sourceId", json_object_new_string(get_str(info, "sourceId")));
	const char *set_body = json_object_to_json_string_ext(set, JSON_C_TO_STRING_PLAIN);

	for (long i = 1; i <= n; i++) {
		long long t0 = now_us();
		long c1, c2;

		/* fresh: the lookup opens a new connection, the set closes it. */
		curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
		curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 0L);
		c1 = post(curl, lookup_url, json_headers, lookup_body, &resp);
		curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 0L);
		curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, fresh ? 1L : 0L);
		c2 = post(curl, set_url, json_headers, set_body, &resp);
		fprintf(out, "%ld %lld\n", i, now_us() - t0);
		if (c1 != 200 || c2 != 202) {
			fprintf(stderr, "bench_floor: change %ld: lookup HTTP %ld, set HTTP %ld\n", i,
				c1, c2);
			goto out;
		}
	}
	ret = 0;
out:
	explicit_bzero(password, sizeof password);
	json_object_put(set);
	json_object_put(info);
	json_object_put(tok);
	free(cipher);
	free(resp.data);
	curl_slist_free_all(json_headers);
	curl_slist_free_all(form_headers);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	if (fclose(out) != 0)
		ret = 1;
	return ret;
}
