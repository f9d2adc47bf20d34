/* SPDX-License-Identifier: MIT */
/* Unit tests: the per-host service's socket, both sides (the module's
 * service_link.c and the service's service_socket.c), in a private
 * temporary directory. The listening side is this test program itself, so
 * the "helper program" a client expects is /proc/self/exe. */
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

#include <sched.h>

#include "service_link.h"
#include "service_socket.h"

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

	snprintf(path, sizeof path, "%s/" SERVICE_SOCKET, f->dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/service.lock", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Serve one client in a child: accept (greeting), then echo one byte back. */
static pid_t serve_one(struct service_socket *l)
{
	pid_t pid = fork();

	if (pid == 0) {
		char err[128], c;
		enum service_accept rc = SERVICE_ACCEPT_NONE;
		int conn = -1;
		for (int i = 0; i < 500 && rc == SERVICE_ACCEPT_NONE; i++) {
			rc = service_socket_accept(l, &conn, err, sizeof err);
			if (rc == SERVICE_ACCEPT_NONE)
				usleep(10000);
		}
		if (rc != SERVICE_ACCEPT_CLIENT)
			_exit(10 + (int)rc);
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

static void open_ok(const char *dir, struct service_socket *l)
{
	char err[128];

	assert_int_equal(service_socket_open(dir, l, err, sizeof err), SERVICE_SOCKET_OK);
}

static void test_no_socket(void **state)
{
	struct fixture *f = *state;
	char why[256];
	int fd = 7;

	assert_int_equal(service_link_connect(f->dir, f->self, 200, &fd, why, sizeof why),
			 SERVICE_LINK_NONE);
	assert_int_equal(fd, -1);
	assert_string_equal(why, "");
}

static void test_connect_and_serve(void **state)
{
	struct fixture *f = *state;
	struct service_socket l;
	char why[256], path[128], c = 'x';
	struct stat st;
	pid_t pid;
	int fd;

	open_ok(f->dir, &l);
	snprintf(path, sizeof path, "%s/" SERVICE_SOCKET, f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	pid = serve_one(&l);
	assert_int_equal(service_link_connect(f->dir, f->self, 5000, &fd, why, sizeof why),
			 SERVICE_LINK_OK);
	/* The greeting was consumed, nothing more: the session is ours. */
	assert_int_equal(write(fd, &c, 1), 1);
	c = 0;
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fd);
	assert_int_equal(child_status(pid), 0);
	service_socket_close(&l);
	assert_int_equal(lstat(path, &st), -1);
}

/* A service in another network namespace (a sandboxed or containerised
 * caller's) is not the host's: refused, and said why. The peer a client
 * sees is the process that listens, so the child listens itself. */
static void test_other_namespace(void **state)
{
	struct fixture *f = *state;
	char why[256], path[128];
	pid_t pid;
	int fd, i;

	if (geteuid() != 0) {
		skip();
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct service_socket l;
		char err[128];
		enum service_accept rc = SERVICE_ACCEPT_NONE;
		int conn = -1;
		if (unshare(CLONE_NEWNET) < 0 ||
		    service_socket_open(f->dir, &l, err, sizeof err) != SERVICE_SOCKET_OK)
			_exit(1);
		while (rc == SERVICE_ACCEPT_NONE) {
			rc = service_socket_accept(&l, &conn, err, sizeof err);
			usleep(10000);
		}
		pause();
		_exit(0);
	}
	snprintf(path, sizeof path, "%s/" SERVICE_SOCKET, f->dir);
	for (i = 0; i < 200 && access(path, F_OK) < 0; i++)
		usleep(10000);
	assert_int_equal(service_link_connect(f->dir, f->self, 2000, &fd, why, sizeof why),
			 SERVICE_LINK_UNTRUSTED);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "net namespace"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(path);
}

static void test_other_program(void **state)
{
	struct fixture *f = *state;
	struct service_socket l;
	char why[256];
	int fd;

	pid_t pid;

	open_ok(f->dir, &l);
	pid = serve_one(&l);
	/* Someone else's program behind the socket: not used, and said why. */
	assert_int_equal(service_link_connect(f->dir, "/bin/sh", 2000, &fd, why, sizeof why),
			 SERVICE_LINK_NONE);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "runs"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	service_socket_close(&l);
}

static void test_untrusted_directory(void **state)
{
	struct fixture *f = *state;
	struct service_socket l;
	char why[256];
	int fd;

	open_ok(f->dir, &l);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(service_link_connect(f->dir, f->self, 200, &fd, why, sizeof why),
			 SERVICE_LINK_UNTRUSTED);
	assert_non_null(strstr(why, "private directory"));
	assert_int_equal(chmod(f->dir, 0700), 0);
	service_socket_close(&l);
}

static void test_silent_listener(void **state)
{
	struct fixture *f = *state;
	struct service_socket l;
	char why[256];
	int fd;

	/* Listening but never accepting (busy, or about to exit): no greeting
	 * within greet_ms, so the client starts a helper of its own. */
	open_ok(f->dir, &l);
	assert_int_equal(service_link_connect(f->dir, f->self, 150, &fd, why, sizeof why),
			 SERVICE_LINK_NONE);
	assert_int_equal(fd, -1);
	service_socket_close(&l);
}

/* One service per host: a second one finds the lock (or, for systemd's
 * socket, a listener) and leaves the socket alone. */
static void test_one_service(void **state)
{
	struct fixture *f = *state;
	struct service_socket a, b;
	char err[128];

	open_ok(f->dir, &a);
	assert_int_equal(service_socket_open(f->dir, &b, err, sizeof err), SERVICE_SOCKET_TAKEN);
	assert_true(service_socket_still_ours(&a));
	/* Someone removed our socket: we learn it, and our close leaves
	 * whatever is there alone. */
	assert_int_equal(unlink(a.path), 0);
	assert_false(service_socket_still_ours(&a));
	service_socket_close(&a);
}

static void test_path_too_long(void **state)
{
	char dir[200], err[128], why[256];
	struct service_socket l;
	int fd;

	(void)state;
	memset(dir, 'd', sizeof dir - 1);
	dir[0] = '/';
	dir[sizeof dir - 1] = '\0';
	assert_int_equal(service_socket_open(dir, &l, err, sizeof err), SERVICE_SOCKET_ERROR);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(service_link_connect(dir, "/bin/sh", 100, &fd, why, sizeof why),
			 SERVICE_LINK_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_and_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_service, setup, teardown),
		cmocka_unit_test(test_path_too_long),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
