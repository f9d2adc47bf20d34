/* SPDX-License-Identifier: MIT */
/* bench_batch: many password changes through one PAM-using process, the way
 * chpasswd does it: for each user pam_start, pam_chauthtok, pam_end.
 *
 *   bench_batch SERVICE USERS_FILE HASHES_OUT < password-prefix-line
 *
 * USERS_FILE has one user name a line (the users nss_wrapper knows). The
 * new password of USER is PREFIX "-" USER, PREFIX being the one line read
 * from stdin, so no password is in an argv or the environment. The
 * conversation function answers every hidden prompt with it. HASHES_OUT
 * gets "USER SHA256-HEX" of each password, for the benchmark to compare with
 * what the server decrypted. On stdout, one line:
 *   users=N ok=N wall_s=S per_s=R p50_ms=A p95_ms=B max_ms=C cpu_ms=D
 * cpu_ms: user+sys CPU per change of this process and of every helper it
 * reaped. Exit status 0 only if every change succeeded. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <security/pam_appl.h>

#define USERS_MAX 100000
#define NAME_MAX_LEN 64
#define PREFIX_MAX 256

struct conv_data {
	const char *password;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	const struct conv_data *cd = data;
	struct pam_response *r = calloc((size_t)n, sizeof *r);

	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
			r[i].resp = strdup(cd->password);
			if (!r[i].resp) {
				for (int j = 0; j < i; j++) {
					if (r[j].resp) {
						explicit_bzero(r[j].resp, strlen(r[j].resp));
						free(r[j].resp);
					}
				}
				free(r);
				return PAM_BUF_ERR;
			}
		} else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			free(r); /* nobody to ask */
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			kids.ru_stime.tv_usec) /
		       1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	char prefix[PREFIX_MAX + 2], password[PREFIX_MAX + NAME_MAX_LEN + 8];
	char line[NAME_MAX_LEN + 2];
	unsigned char digest[32];
	struct conv_data cd = { password };
	struct pam_conv pc = { conv, &cd };
	double *times, start, cpu0;
	size_t n = 0, ok = 0, len;
	FILE *users, *hashes;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_batch SERVICE USERS_FILE HASHES_OUT < prefix\n");
		return 2;
	}
	if (!fgets(prefix, sizeof prefix, stdin) || !(len = strcspn(prefix, "\n")) ||
	    len > PREFIX_MAX) {
		fprintf(stderr, "bench_batch: no password prefix on stdin\n");
		return 2;
	}
	prefix[len] = '\0';
	users = fopen(argv[2], "re");
	hashes = fopen(argv[3], "we");
	times = calloc(USERS_MAX, sizeof *times);
	if (!users || !hashes || !times) {
		fprintf(stderr, "bench_batch: cannot open %s or %s\n", argv[2], argv[3]);
		return 2;
	}
	start = now_s();
	cpu0 = cpu_s();
	while (n < USERS_MAX && fgets(line, sizeof line, users)) {
		pam_handle_t *pamh = NULL;
		double t0;
		int rc;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		snprintf(password, sizeof password, "%s-%s", prefix, line);
		if (gnutls_hash_fast(GNUTLS_DIG_SHA256, password, strlen(password), digest) < 0)
			return 2;
		fprintf(hashes, "%s ", line);
		for (size_t i = 0; i < sizeof digest; i++)
			fprintf(hashes, "%02x", digest[i]);
		fputc('\n', hashes);

		t0 = now_s();
		rc = pam_start(argv[1], line, &pc, &pamh);
		if (rc == PAM_SUCCESS)
			rc = pam_chauthtok(pamh, 0);
		if (pamh)
			pam_end(pamh, rc);
		times[n++] = now_s() - t0;
		if (rc == PAM_SUCCESS)
			ok++;
		else
			fprintf(stderr, "bench_batch: %s: %s\n", line, pam_strerror(NULL, rc));
	}
	explicit_bzero(password, sizeof password);
	explicit_bzero(prefix, sizeof prefix);
	if (n == 0) {
		fprintf(stderr, "bench_batch: no users\n");
		return 2;
	}
	{
		double wall = now_s() - start, cpu = cpu_s() - cpu0;

		qsort(times, n, sizeof *times, cmp_double);
		printf("users=%zu ok=%zu wall_s=%.3f per_s=%.1f p50_ms=%.2f p95_ms=%.2f "
		       "max_ms=%.2f cpu_ms=%.2f\n",
		       n, ok, wall, (double)n / wall, 1e3 * percentile(times, n, 0.50),
		       1e3 * percentile(times, n, 0.95), 1e3 * times[n - 1], 1e3 * cpu / (double)n);
	}
	fclose(users);
	if (fclose(hashes) != 0)
		return 2;
	free(times);
	return ok == n ? 0 : 1;
}
