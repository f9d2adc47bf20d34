/* SPDX-License-Identifier: MIT */
/* syslog_listener: a minimal syslog sink for the integration tests.
 *
 *   syslog_listener SOCKET_PATH OUTPUT_FILE
 *
 * Binds an AF_UNIX datagram socket at SOCKET_PATH (mode 0666, as /dev/log
 * is), appends every datagram it receives to OUTPUT_FILE as one line
 * (embedded CR/LF become spaces, a trailing one is dropped), flushed per
 * line, and prints "ready" on stdout once bound. SIGTERM, SIGINT or SIGHUP
 * end it cleanly; it removes the socket on the way out.
 *
 * A stale SOCKET_PATH is removed first only when it is a socket: the
 * listener never deletes a regular file or anything else by mistake.
 *
 * The lines are kept raw, "<PRI>TIMESTAMP TAG[PID]: MESSAGE", so that tests
 * can check the facility in PRI. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sigaction, SOCK_CLOEXEC under -std=c11 */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* syslog(3) datagrams are small; pam_isc lines are at most ~1 KiB. Anything
 * longer than this is truncated (and still written as one line). */
#define DGRAM_MAX 65536

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: recv() must return EINTR */
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[DGRAM_MAX + 1];
	struct sockaddr_un addr;
	struct stat st;
	const char *sock_path, *out_path;
	FILE *out;
	int fd, rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SOCKET_PATH OUTPUT_FILE\n", argv[0]);
		return 2;
	}
	sock_path = argv[1];
	out_path = argv[2];

	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof addr.sun_path) {
		fprintf(stderr, "syslog_listener: socket path too long: %s\n", sock_path);
		return 2;
	}
	strcpy(addr.sun_path, sock_path);

	if (install_handlers() < 0) {
		perror("syslog_listener: sigaction");
		return 1;
	}

	out = fopen(out_path, "a");
	if (!out) {
		fprintf(stderr, "syslog_listener: cannot open %s: %s\n", out_path, strerror(errno));
		return 1;
	}

	if (lstat(sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "syslog_listener: %s exists and is not a socket\n",
				sock_path);
			fclose(out);
			return 1;
		}
		if (unlink(sock_path) < 0) {
			fprintf(stderr, "syslog_listener: cannot remove stale %s: %s\n", sock_path,
				strerror(errno));
			fclose(out);
			return 1;
		}
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("syslog_listener: socket");
		fclose(out);
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		fprintf(stderr, "syslog_listener: cannot bind %s: %s\n", sock_path,
			strerror(errno));
		close(fd);
		fclose(out);
		return 1;
	}
	if (chmod(sock_path, 0666) < 0) {
		fprintf(stderr, "syslog_listener: chmod %s: %s\n", sock_path, strerror(errno));
		rc = 1;
		goto done;
	}

	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		ssize_t n = recv(fd, buf, DGRAM_MAX, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("syslog_listener: recv");
			rc = 1;
			break;
		}
		/* Drop trailing line ends, turn inner ones (and NULs) into spaces. */
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '\0'))
			n--;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\n';
		if (fwrite(buf, 1, (size_t)n + 1, out) != (size_t)n + 1 || fflush(out) != 0) {
			perror("syslog_listener: write");
			rc = 1;
			break;
		}
	}

done:
	close(fd);
	unlink(sock_path);
	if (fclose(out) != 0)
		rc = 1;
	return rc;
}
