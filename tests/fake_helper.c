/* SPDX-License-Identifier: MIT */
/* fake_helper: stands in for pam_isc_helper in tests/test_pam_glue.
 *
 * pam_isc.so starts it from helper=PATH exactly as it starts the real
 * helper (argv "pam_isc_helper chauthtok", PATH only in the environment,
 * the request socket on stdin and stdout, stderr on /dev/null). It reads
 * the module's requests with the real parser (proto_read_request: a
 * request the real helper would refuse is recorded as bad_request),
 * records what it got, and answers each phase as the script next to it
 * says: see fake_helper.h for both files. It never writes the password,
 * only its length and hash. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_helper.h"
#include "proto.h"
#include "secret.h"

extern char **environ;

static char dir[PATH_MAX];
static int record_fd = -1;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write per line, O_APPEND: lines of helpers started one after
	 * the other never mix. */
	if (record_fd >= 0 && write(record_fd, line, (size_t)n) < 0)
		_exit(4);
}

/* The descriptors open at start, as "0,1,2,3" (the one reading the list
 * left out). */
static void open_fds(char *out, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t len = 0;
	int nums[64], n = 0;

	out[0] = '\0';
	if (!d) {
		snprintf(out, size, "?");
		return;
	}
	while ((e = readdir(d)) != NULL && n < 64) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		nums[n++] = fd;
	}
	closedir(d);
	/* readdir's order is the kernel's; sort for a stable record. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
			int t = nums[j];
			nums[j] = nums[j - 1];
			nums[j - 1] = t;
		}
	for (int i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%d", i ? "," : "", nums[i]);
}

/* The environment's variable names, comma-separated. */
static void env_names(char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (char **e = environ; *e && len < size; e++) {
		const char *eq = strchr(*e, '=');
		int n = eq ? (int)(eq - *e) : (int)strlen(*e);
		len += (size_t)snprintf(out + len, size - len, "%s%.*s", len ? "," : "", n, *e);
	}
}

static const char *stdin_kind(void)
{
	struct stat st;

	if (fstat(0, &st) < 0)
		return "closed";
	return S_ISSOCK(st.st_mode) ? "socket" : "other";
}

static const char *stderr_kind(void)
{
	struct stat st, null;

	if (fstat(2, &st) < 0)
		return "closed";
	if (stat("/dev/null", &null) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev)
		return "null";
	return "other";
}

/* The script's action for phase ("prelim" or "update"), copied into out:
 * 0, or -1 when the script has none. */
static int script_action(const char *phase, char *out, size_t size)
{
	char path[PATH_MAX + 16], line[512];
	size_t plen = strlen(phase);
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof path, "%s/%s", dir, FAKE_HELPER_SCRIPT);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, phase, plen) == 0 && line[plen] == ' ') {
			snprintf(out, size, "%s", line + plen + 1);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char fds[256], env[512], path[PATH_MAX + 16];
	ssize_t n;

	/* Before anything else is opened. */
	open_fds(fds, sizeof fds);
	env_names(env, sizeof env);

	n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0)
		return 5;
	dir[n] = '\0';
	*strrchr(dir, '/') = '\0';
	snprintf(path, sizeof path, "%s/%s", dir, FAKE_HELPER_RECORD);
	record_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (record_fd < 0)
		return 5;

	record("start argv1=%s env=%s fds=%s stdin=%s stderr=%s", argc > 1 ? argv[1] : "-",
	       env[0] ? env : "-", fds, stdin_kind(), stderr_kind());

	for (;;) {
		struct proto_request req;
		char err[256], action[512];
		int rc = proto_read_request(0, 20000, &req, err, sizeof err);
		const char *phase;

		if (rc == 1) {
			record("eof");
			return 0;
		}
		if (rc < 0) {
			/* err is the parser's own text: never request bytes. */
			record("bad_request %s", err);
			return 2;
		}
		phase = req.phase == PROTO_PHASE_PRELIM ? "prelim" : "update";
		record("request phase=%s user=%s service=%s config=%s debug=%d caller=%u "
		       "deadline_left=%lld authtok_len=%zu authtok_hash=%016llx",
		       phase, req.user, req.service, req.config_path, req.debug ? 1 : 0,
		       (unsigned)req.caller_uid, req.deadline_ms - io_now_ms(), req.authtok.len,
		       fake_helper_hash(req.authtok.data, req.authtok.len));
		secret_clear(&req.authtok);

		if (script_action(phase, action, sizeof action) < 0) {
			record("unexpected phase=%s", phase);
			return 2;
		}
		if (strncmp(action, "say ", 4) == 0) {
			char line[520];
			int len = snprintf(line, sizeof line, "%s\n", action + 4);
			if (write_all(1, line, (size_t)len) < 0) {
				record("write_failed");
				return 2;
			}
		} else if (strncmp(action, "sayraw ", 7) == 0) {
			/* Recorded first: the module acts as soon as it reads. */
			record("died");
			if (write_all(1, action + 7, strlen(action + 7)) < 0)
				record("write_failed");
			return 3;
		} else if (strncmp(action, "garbage ", 8) == 0) {
			/* A line that is no verdict, then silence: the module
			 * gives up on it and kills it right away. */
			char line[520];
			int len = snprintf(line, sizeof line, "%s\n", action + 8);
			record("hang");
			if (write_all(1, line, (size_t)len) < 0)
				record("write_failed");
			for (;;)
				pause();
		} else if (strncmp(action, "sayexit ", 8) == 0) {
			/* Answer, then go away as a helper does that waited too
			 * long for the update request: the socket is closed
			 * before "gone" is recorded. */
			char line[520];
			int len = snprintf(line, sizeof line, "%s\n", action + 8);
			if (write_all(1, line, (size_t)len) < 0)
				record("write_failed");
			close(0);
			close(1);
			record("gone");
			return 0;
		} else if (strcmp(action, "die") == 0) {
			record("died");
			return 3;
		} else if (strcmp(action, "hang") == 0) {
			record("hang");
			for (;;)
				pause();
		} else {
			record("bad_script %s", action);
			return 2;
		}
	}
}
