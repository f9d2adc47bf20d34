/* SPDX-License-Identifier: MIT */
/* test_fuzz_regress: every committed fuzz input, fed to its target.
 *
 * fuzz/corpus/NAME/ holds the seed corpus of target NAME, fuzz/regress/NAME/
 * the inputs that once made a parser crash, hang or break an invariant (the
 * fix is in the parser; the input stays here). Each is run through the very
 * function the libFuzzer binary fuzzes (fuzz/targets.c), in every build, so
 * `make check` (and the ASan run of scripts/ci-extra.sh) catches a
 * regression without clang. A target without a seed corpus is a failure. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "targets.h"

#define INPUT_MAX (1024 * 1024)

static const char *srcdir(void)
{
	const char *d = getenv("top_srcdir");
	return d && d[0] ? d : ".";
}

static unsigned char *read_input(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;

	if (!f)
		return NULL;
	buf = malloc(INPUT_MAX);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, INPUT_MAX, f);
	fclose(f);
	return buf;
}

/* Feeds every regular file of DIR/NAME to the target; returns how many. */
static int feed_dir(const struct fuzz_target *t, const char *kind)
{
	char dir[4096], path[8192];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", srcdir(), kind, t->name);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		unsigned char *data;
		size_t len = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		data = read_input(path, &len);
		assert_non_null(data);
		t->run(data, len);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

static void test_target(void **state)
{
	const struct fuzz_target *t = *state;
	int seeds = feed_dir(t, "corpus");
	int regress = feed_dir(t, "regress");

	print_message("%s: %d seed(s), %d regression input(s)\n", t->name, seeds, regress);
	assert_true(seeds > 0);
	assert_true(regress >= 0);
}

int main(void)
{
	struct CMUnitTest tests[16];
	size_t n = 0;

	for (const struct fuzz_target *t = fuzz_targets; t->name && n < 16; t++) {
		tests[n].name = t->name;
		tests[n].test_func = test_target;
		tests[n].setup_func = NULL;
		tests[n].teardown_func = NULL;
		tests[n].initial_state = (void *)t;
		n++;
	}
	return _cmocka_run_group_tests("fuzz_regress", tests, n, NULL, NULL);
}
