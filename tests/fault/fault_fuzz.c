/* SPDX-License-Identifier: MIT */
/* fault_fuzz: every committed fuzz input (fuzz/corpus/NAME, fuzz/regress/NAME)
 * fed to its target (fuzz/targets.c) while allocations and I/O fail.
 *
 * For each input, two kinds of runs:
 *   - systematic: the input once without faults to count the wrapped calls
 *     the target makes (C), then C runs with exactly the Nth call failing,
 *     N = 1..C (at most FAULT_MAX_NTH);
 *   - random: FAULT_SEEDS runs (default 32), each failing calls at
 *     FAULT_RATE per mille (default 50) from seed FAULT_SEED + k (default 1),
 *     mixed with the input's name so that inputs do not share a pattern.
 * A run must not crash, abort (a target's own check), or upset ASan, UBSan
 * or LeakSanitizer (the check-faults build is instrumented; a leak is
 * reported at exit). Faults are armed only while the target runs.
 *
 *   tests/fault/fault_fuzz [TARGET [FILE]]   one target, or one input of it
 *
 * The environment's FAULT_FUNCS, FAULT_SOFT and FAULT_VERBOSE apply to every
 * run (see fault.h). On a crash the run is named on stderr, to repeat it
 * with FAULT_NTH or FAULT_SEED. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fault.h"
#include "targets.h"

#define INPUT_MAX (1024 * 1024)

/* Named if a run dies: sanitizers call the death callback, abort() raises
 * SIGABRT. */
static char current[8192];

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void say_current(void)
{
	fault_disarm();
	fprintf(stderr, "fault_fuzz: died in: %s\n", current);
}

static void on_abort(int sig)
{
	(void)sig;
	say_current();
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);
}

static unsigned long env_num(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 10) : dflt;
}

static unsigned long long name_hash(const char *s)
{
	unsigned long long h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct totals {
	unsigned long inputs, runs, faults;
};

static void run_input(const struct fuzz_target *t, const char *path, const unsigned char *data,
		      size_t len, struct totals *tot)
{
	struct fault_plan env, p;
	unsigned long calls, max_nth = env_num("FAULT_MAX_NTH", 2000);
	unsigned long seeds = env_num("FAULT_SEEDS", 32), seed0 = env_num("FAULT_SEED", 1);
	unsigned rate = (unsigned)env_num("FAULT_RATE", 50);

	fault_plan_from_env(&env);
	/* Count the calls a clean run makes. */
	p = env;
	p.nth = 0;
	p.rate_permille = 0;
	snprintf(current, sizeof current, "%s %s without faults", t->name, path);
	fault_arm(&p);
	t->run(data, len);
	fault_disarm();
	calls = fault_calls();
	tot->runs++;
	for (unsigned long n = 1; n <= calls && n <= max_nth; n++) {
		p = env;
		p.nth = n;
		p.rate_permille = 0;
		snprintf(current, sizeof current, "FAULT_NTH=%lu%s: %s %s", n,
			 env.soft ? " FAULT_SOFT=1" : "", t->name, path);
		fault_arm(&p);
		t->run(data, len);
		fault_disarm();
		tot->runs++;
		tot->faults += fault_injected();
	}
	for (unsigned long k = 0; k < seeds; k++) {
		p = env;
		p.nth = 0;
		p.rate_permille = rate;
		p.seed = (seed0 + k) ^ name_hash(path);
		snprintf(current, sizeof current, "seed %lu (plan seed %llu) FAULT_RATE=%u: %s %s",
			 seed0 + k, p.seed, rate, t->name, path);
		fault_arm(&p);
		t->run(data, len);
		fault_disarm();
		tot->runs++;
		tot->faults += fault_injected();
	}
	tot->inputs++;
}

static int read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return -1;
	*data = malloc(INPUT_MAX);
	if (!*data) {
		fclose(f);
		return -1;
	}
	*len = fread(*data, 1, INPUT_MAX, f);
	fclose(f);
	return 0;
}

static int feed_file(const struct fuzz_target *t, const char *path, struct totals *tot)
{
	unsigned char *data;
	size_t len;

	if (read_file(path, &data, &len) < 0) {
		fprintf(stderr, "fault_fuzz: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	run_input(t, path, data, len, tot);
	free(data);
	return 0;
}

static int feed_dir(const struct fuzz_target *t, const char *srcdir, const char *kind,
		    struct totals *tot)
{
	char dir[4096], path[8192];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", srcdir, kind, t->name);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (feed_file(t, path, tot) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("top_srcdir");
	struct totals all = { 0, 0, 0 };
	int rc = 0;

	if (!srcdir || !*srcdir)
		srcdir = ".";
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress in the log before a crash */
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(say_current);
	signal(SIGABRT, on_abort);
	for (const struct fuzz_target *t = fuzz_targets; t->name; t++) {
		struct totals tot = { 0, 0, 0 };

		if (argc > 1 && strcmp(argv[1], t->name) != 0)
			continue;
		if (argc > 2)
			rc |= feed_file(t, argv[2], &tot);
		else
			rc |= feed_dir(t, srcdir, "corpus", &tot) | feed_dir(t, srcdir, "regress", &tot);
		printf("fault_fuzz: %-14s %3lu inputs, %6lu runs, %6lu faults injected\n", t->name,
		       tot.inputs, tot.runs, tot.faults);
		if (tot.inputs == 0) {
			fprintf(stderr, "fault_fuzz: no input for %s\n", t->name);
			rc = -1;
		}
		all.inputs += tot.inputs;
		all.runs += tot.runs;
		all.faults += tot.faults;
	}
	printf("fault_fuzz: %lu inputs, %lu runs, %lu faults injected\n", all.inputs, all.runs,
	       all.faults);
	/* A build whose wrappers do not reach the parsers would pass vacuously. */
	if (all.faults == 0) {
		fprintf(stderr, "fault_fuzz: no fault was injected: are the --wrap options on?\n");
		rc = -1;
	}
	return rc == 0 ? 0 : 1;
}
