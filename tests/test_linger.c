/* Unit tests: the lingering helper's socket (linger.c), both sides, in a
 * private temporary directory. The listening side is this test program
 * itself, so the "helper program" a client expects is /proc/self/exe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linger.h"

struct fixture {
	char dir[64];
	char self[PATH_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	ssize_t n;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/test_linger.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	n = readlink("/proc/self/exe", f->self, sizeof f->self - 1);
	if (n < 0)
		return -1;
	f->self[n] = '\0';
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	snprintf(path, sizeof path, "%s/" LINGER_SOCKET, f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Serve one client in a child: accept (greeting), then echo one byte back. */
static pid_t serve_one(struct linger_listener *l)
{
	pid_t pid = fork();

	if (pid == 0) {
		char err[128], c;
		int conn = -1;
		int rc = linger_accept(l, 5000, &conn, err, sizeof err);
		if (rc != 1)
			_exit(10 + rc);
		if (read(conn, &c, 1) == 1 && write(conn, &c, 1) == 1)
			_exit(0);
		_exit(3);
	}
	return pid;
}

static int child_status(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_no_socket(void **state)
{
	struct fixture *f = *state;
	char why[256];
	int fd = 7;

	assert_int_equal(linger_connect(f->dir, f->self, 200, &fd, why, sizeof why), 1);
	assert_int_equal(fd, -1);
	assert_string_equal(why, "");
}

static void test_connect_and_serve(void **state)
{
	struct fixture *f = *state;
	struct linger_listener l;
	char err[128], why[256], path[128], c = 'x';
	struct stat st;
	pid_t pid;
	int fd;

	assert_int_equal(linger_listen(f->dir, &l, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/" LINGER_SOCKET, f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	pid = serve_one(&l);
	assert_int_equal(linger_connect(f->dir, f->self, 2000, &fd, why, sizeof why), 0);
	/* The greeting was consumed, nothing more: the session is ours. */
	assert_int_equal(write(fd, &c, 1), 1);
	c = 0;
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fd);
	assert_int_equal(child_status(pid), 0);
	linger_close(&l);
	assert_int_equal(lstat(path, &st), -1);
}

static void test_other_program(void **state)
{
	struct fixture *f = *state;
	struct linger_listener l;
	char err[128], why[256];
	int fd;

	assert_int_equal(linger_listen(f->dir, &l, err, sizeof err), 0);
	/* Someone else's program behind the socket: not used, and said why. */
	assert_int_equal(linger_connect(f->dir, "/bin/sh", 200, &fd, why, sizeof why), 1);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "runs"));
	linger_close(&l);
}

static void test_untrusted_directory(void **state)
{
	struct fixture *f = *state;
	struct linger_listener l;
	char err[128], why[256];
	int fd;

	assert_int_equal(linger_listen(f->dir, &l, err, sizeof err), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(linger_connect(f->dir, f->self, 200, &fd, why, sizeof why), -1);
	assert_non_null(strstr(why, "private directory"));
	assert_int_equal(chmod(f->dir, 0700), 0);
	linger_close(&l);
}

static void test_silent_listener(void **state)
{
	struct fixture *f = *state;
	struct linger_listener l;
	char err[128], why[256];
	int fd;

	/* Listening but never accepting (busy, or about to exit): no greeting
	 * within greet_ms, so the client starts its own helper. */
	assert_int_equal(linger_listen(f->dir, &l, err, sizeof err), 0);
	assert_int_equal(linger_connect(f->dir, f->self, 150, &fd, why, sizeof why), 1);
	assert_int_equal(fd, -1);
	linger_close(&l);
}

static void test_idle_and_taken_over(void **state)
{
	struct fixture *f = *state;
	struct linger_listener a, b;
	char err[128];
	int conn;

	assert_int_equal(linger_listen(f->dir, &a, err, sizeof err), 0);
	assert_int_equal(linger_accept(&a, 100, &conn, err, sizeof err), 0);
	assert_string_equal(err, "");
	/* A second helper takes the name over: the first learns it, and its
	 * close leaves the second's socket alone. */
	assert_int_equal(linger_listen(f->dir, &b, err, sizeof err), 0);
	assert_int_equal(linger_accept(&a, 100, &conn, err, sizeof err), -1);
	assert_non_null(strstr(err, "taken over"));
	linger_close(&a);
	assert_int_equal(access(b.path, F_OK), 0);
	linger_close(&b);
	assert_int_equal(access(b.path, F_OK), -1);
}

static void test_path_too_long(void **state)
{
	char dir[200], err[128], why[256];
	struct linger_listener l;
	int fd;

	(void)state;
	memset(dir, 'd', sizeof dir - 1);
	dir[0] = '/';
	dir[sizeof dir - 1] = '\0';
	assert_int_equal(linger_listen(dir, &l, err, sizeof err), -1);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(linger_connect(dir, "/bin/sh", 100, &fd, why, sizeof why), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_and_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_and_taken_over, setup, teardown),
		cmocka_unit_test(test_path_too_long),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
