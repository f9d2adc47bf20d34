/* SPDX-License-Identifier: MIT */
/* Unit tests: fsutil_read_file, the one bounded, symlink-refusing read of
 * files pam_isc must trust (configuration, secret, its own state), with
 * its three trust levels; fsutil_sync_dir; fsutil_write_replace_mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "secret.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof dir, "%s/pam_isc_fsutil.XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *text, mode_t mode, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* rc of fsutil_read_file; the buffer, if any, is checked and freed. */
static int read_as(const char *path, size_t max, enum fsutil_trust trust, char *err, size_t errsize)
{
	char *text = NULL;
	size_t len = 99;
	struct stat st;
	int rc = fsutil_read_file(path, max, trust, &text, &len, &st, err, errsize);

	if (rc == 0) {
		assert_non_null(text);
		assert_int_equal(strlen(text), len);
		assert_true(S_ISREG(st.st_mode));
		secret_free_buf(text, max + 1);
	} else {
		assert_null(text);
		assert_int_equal(len, 0);
	}
	return rc;
}

static void test_read(void **state)
{
	char path[PATH_MAX + 32], err[256], *text;
	size_t len;

	(void)state;
	put("a", "hello\n", 0600, path, sizeof path);
	assert_int_equal(
		fsutil_read_file(path, 64, FSUTIL_PRIVATE, &text, &len, NULL, err, sizeof err), 0);
	assert_string_equal(text, "hello\n");
	assert_int_equal(len, 6);
	secret_free_buf(text, 64 + 1);
	/* Exactly max bytes is fine, one more is not. */
	assert_int_equal(read_as(path, 6, FSUTIL_PRIVATE, err, sizeof err), 0);
	assert_int_equal(read_as(path, 5, FSUTIL_PRIVATE, err, sizeof err), -1);
	assert_non_null(strstr(err, "larger than 5 bytes"));
	/* An empty file reads as "". */
	put("empty", "", 0600, path, sizeof path);
	assert_int_equal(read_as(path, 16, FSUTIL_TRUSTED, err, sizeof err), 0);
}

static void test_missing_symlink_fifo(void **state)
{
	char path[PATH_MAX + 32], target[PATH_MAX + 32], err[256];

	(void)state;
	snprintf(path, sizeof path, "%s/missing", dir);
	assert_int_equal(read_as(path, 16, FSUTIL_TRUSTED, err, sizeof err), 1);
	assert_non_null(strstr(err, strerror(ENOENT)));
	/* fsutil_read_private: 1 as well, for its callers' "nothing cached". */
	{
		char *text;
		size_t len;
		assert_int_equal(fsutil_read_private(path, 16, &text, &len, err, sizeof err), 1);
	}
	put("target", "x", 0600, target, sizeof target);
	snprintf(path, sizeof path, "%s/link", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(read_as(path, 16, FSUTIL_PRIVATE, err, sizeof err), -1);
	assert_non_null(strstr(err, "symbolic link"));
	/* A FIFO is refused at once, not waited on. */
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(read_as(path, 16, FSUTIL_TRUSTED, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	/* A directory too. */
	assert_int_equal(read_as(dir, 16, FSUTIL_TRUSTED, err, sizeof err), -1);
}

static void test_trust_levels(void **state)
{
	char path[PATH_MAX + 32], err[256];

	(void)state;
	/* 0644: a configuration may be world-readable, state and secrets not. */
	put("conf", "k = v\n", 0644, path, sizeof path);
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED, err, sizeof err), 0);
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED_SECRET, err, sizeof err), -1);
	assert_non_null(strstr(err, "readable by group or others (mode 0644)"));
	assert_int_equal(read_as(path, 64, FSUTIL_PRIVATE, err, sizeof err), -1);
	assert_non_null(strstr(err, "0600"));
	/* Writable by the group: refused at every level. */
	assert_int_equal(chmod(path, 0660), 0);
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED, err, sizeof err), -1);
	assert_non_null(strstr(err, "writable by group or others (mode 0660)"));
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED_SECRET, err, sizeof err), -1);
	assert_int_equal(read_as(path, 64, FSUTIL_PRIVATE, err, sizeof err), -1);
	/* 0600: good for all three. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED, err, sizeof err), 0);
	assert_int_equal(read_as(path, 64, FSUTIL_TRUSTED_SECRET, err, sizeof err), 0);
	assert_int_equal(read_as(path, 64, FSUTIL_PRIVATE, err, sizeof err), 0);
	/* Another owner (only testable as root): trusted only when it is root. */
	if (geteuid() == 0) {
		struct stat st = { 0 };
		st.st_uid = 1001;
		st.st_mode = S_IFREG | 0600;
		assert_int_equal(fsutil_check_trust(&st, FSUTIL_TRUSTED, err, sizeof err), -1);
		assert_non_null(strstr(err, "owned by uid 1001; it must be owned by root"));
		assert_int_equal(fsutil_check_trust(&st, FSUTIL_PRIVATE, err, sizeof err), -1);
	}
}

static void test_private_path_in_error(void **state)
{
	char path[PATH_MAX + 32], err[PATH_MAX + 300], *text;
	size_t len;

	(void)state;
	put("loose", "x", 0640, path, sizeof path);
	assert_int_equal(fsutil_read_private(path, 16, &text, &len, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "mode 0600"));
}

static void test_sync_dir(void **state)
{
	char path[PATH_MAX + 32];

	(void)state;
	assert_int_equal(fsutil_sync_dir(dir), 0);
	snprintf(path, sizeof path, "%s/nothing-here", dir);
	assert_int_equal(fsutil_sync_dir(path), -1);
	assert_int_equal(errno, ENOENT);
	put("file", "x", 0600, path, sizeof path);
	assert_int_equal(fsutil_sync_dir(path), -1);
	assert_int_equal(errno, ENOTDIR);
}

/* Names in dir other than the given ones (a temporary file left behind). */
static int others_in_dir(const char *a, const char *b)
{
	char cmd[PATH_MAX + 128];
	FILE *p;
	int n = 0;
	char line[PATH_MAX];

	snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, a) != 0 && strcmp(line, b) != 0)
			n++;
	}
	pclose(p);
	return n;
}

/* The mode is the one asked for, whatever the umask; the plain variant
 * stays 0600; a symbolic link at the name is replaced, its target is left
 * alone; no temporary file stays behind. */
static void test_write_replace_mode(void **state)
{
	char path[PATH_MAX + 32], target[PATH_MAX + 32], err[256], *text;
	size_t len;
	struct stat st;
	mode_t old = umask(077);

	(void)state;
	assert_int_equal(
		fsutil_write_replace_mode(dir, "m.prom", "a 1\n", 4, false, 0644, err, sizeof err),
		0);
	snprintf(path, sizeof path, "%s/m.prom", dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(fsutil_write_replace(dir, "p", "x", 1, false, err, sizeof err), 0);
	snprintf(target, sizeof target, "%s/p", dir);
	assert_int_equal(lstat(target, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	umask(old);

	/* m.prom becomes a link to p: the next write replaces the link. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(
		fsutil_write_replace_mode(dir, "m.prom", "b 2\n", 4, true, 0644, err, sizeof err),
		0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(
		fsutil_read_file(target, 16, FSUTIL_PRIVATE, &text, &len, NULL, err, sizeof err),
		FSUTIL_READ_OK);
	assert_string_equal(text, "x");
	secret_free_buf(text, 17);
	assert_int_equal(others_in_dir("m.prom", "p"), 0);

	/* A missing directory: an error naming it, nothing created. */
	snprintf(path, sizeof path, "%s/none", dir);
	assert_int_equal(
		fsutil_write_replace_mode(path, "m.prom", "c", 1, false, 0644, err, sizeof err),
		-1);
	assert_non_null(strstr(err, path));
	assert_int_equal(others_in_dir("m.prom", "p"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_symlink_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_path_in_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_replace_mode, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
