/* SPDX-License-Identifier: MIT */
/* bench_run: run one command N times, one process per run, and record what
 * each run cost: wall time, user and system CPU of the whole process tree
 * it waited for (wait4: the child and every descendant it reaped, so for
 * pamtester that is pamtester, the PAM modules in it and pam_isc_helper),
 * and the peak RSS of the largest of them.
 *
 *   bench_run -n N -o OUT.tsv [-O CHILD_OUTPUT] [-u UNLINK_PATH] -- CMD [ARG...]
 *
 * stdin is read once (at most 64 KiB: the password lines pamtester asks
 * for) and fed to every run through a pipe, so no password is in an argv
 * or in the environment. -u removes a file before each run, outside the
 * timed part (the token cache, for cold changes). CHILD_OUTPUT gets every
 * run's stdout and stderr appended. OUT gets one line per run:
 *   run wall_us user_us sys_us maxrss_kib exit_status
 * Stops at the first run that fails (exit status 1), so a broken setup is
 * not timed 200 times. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INPUT_MAX (64 * 1024)

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_run -n N -o OUT.tsv [-O CHILD_OUTPUT] [-u UNLINK_PATH] -- "
			"CMD [ARG...]\n");
}

int main(int argc, char **argv)
{
	const char *out_path = NULL, *child_out = NULL, *unlink_path = NULL;
	static char input[INPUT_MAX];
	size_t input_len = 0;
	long runs = 0;
	FILE *out;
	int c, ret = 0;

	while ((c = getopt(argc, argv, "+n:o:O:u:")) != -1) {
		switch (c) {
		case 'n':
			runs = strtol(optarg, NULL, 10);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'O':
			child_out = optarg;
			break;
		case 'u':
			unlink_path = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (runs <= 0 || runs > 1000000 || !out_path || optind >= argc) {
		usage();
		return 2;
	}
	for (;;) {
		ssize_t n = read(STDIN_FILENO, input + input_len, sizeof input - input_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("bench_run: stdin");
			return 2;
		}
		if (n == 0)
			break;
		input_len += (size_t)n;
		if (input_len == sizeof input) {
			fprintf(stderr, "bench_run: stdin larger than %d bytes\n", INPUT_MAX);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	out = fopen(out_path, "we");
	if (!out) {
		perror(out_path);
		return 2;
	}
	for (long i = 1; i <= runs && ret == 0; i++) {
		struct rusage ru;
		long long start, wall;
		int pipefd[2], status = 0;
		pid_t pid;

		if (unlink_path && unlink(unlink_path) < 0 && errno != ENOENT) {
			perror(unlink_path);
			ret = 1;
			break;
		}
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			perror("pipe");
			ret = 1;
			break;
		}
		start = now_us();
		pid = fork();
		if (pid < 0) {
			perror("fork");
			ret = 1;
			break;
		}
		if (pid == 0) {
			dup2(pipefd[0], STDIN_FILENO);
			if (child_out) {
				int fd = open(child_out, O_WRONLY | O_CREAT | O_APPEND, 0600);
				if (fd < 0)
					_exit(126);
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		close(pipefd[0]);
		/* A few dozen bytes: fits in the pipe, no deadlock with the
		 * child. A child that does not read gets EPIPE, not us. */
		write_all(pipefd[1], input, input_len);
		close(pipefd[1]);
		while (wait4(pid, &status, 0, &ru) < 0) {
			if (errno != EINTR) {
				perror("wait4");
				ret = 1;
				break;
			}
		}
		wall = now_us() - start;
		fprintf(out, "%ld %lld %lld %lld %ld %d\n", i, wall, tv_us(ru.ru_utime),
			tv_us(ru.ru_stime), ru.ru_maxrss,
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench_run: run %ld of %s exited with status %d\n", i,
				argv[optind], status);
			ret = 1;
		}
	}
	explicit_bzero(input, sizeof input);
	if (fclose(out) != 0)
		ret = 1;
	return ret;
}
