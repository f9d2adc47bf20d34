/* SPDX-License-Identifier: MIT */
/* host_context: see host_context.h. */
#include "host_context.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void first_error(char *err, size_t errsize, int *rc, const char *what)
{
	if (*rc == 0)
		snprintf(err, errsize, "%s: %s", what, strerror(errno));
	*rc = -1;
}

/* ioprio_get/ioprio_set have no glibc wrapper. */
#define IOPRIO_WHO_PROCESS 1

int host_context_reset(char *err, size_t errsize)
{
	static const int limits[] = {
		RLIMIT_AS,      RLIMIT_CPU,      RLIMIT_DATA,   RLIMIT_FSIZE,      RLIMIT_LOCKS,
		RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_NICE,   RLIMIT_NOFILE,     RLIMIT_NPROC,
		RLIMIT_RSS,     RLIMIT_RTPRIO,   RLIMIT_RTTIME, RLIMIT_SIGPENDING, RLIMIT_STACK,
	};
	struct rlimit no_core = { 0, 0 };
	struct sched_param sp = { .sched_priority = 0 };
	cpu_set_t cpus;
	int rc = 0, fd;
	long prio;

	err[0] = '\0';
	if (setgroups(0, NULL) < 0)
		first_error(err, errsize, &rc, "setgroups");
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		struct rlimit lim;
		if (prlimit(1, (enum __rlimit_resource)limits[i], NULL, &lim) < 0 ||
		    setrlimit((enum __rlimit_resource)limits[i], &lim) < 0)
			first_error(err, errsize, &rc, "rlimit");
	}
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		first_error(err, errsize, &rc, "rlimit core");
	if (sched_setscheduler(0, SCHED_OTHER, &sp) < 0)
		first_error(err, errsize, &rc, "sched_setscheduler");
	if (setpriority(PRIO_PROCESS, 0, 0) < 0)
		first_error(err, errsize, &rc, "setpriority");
	CPU_ZERO(&cpus);
	if (sched_getaffinity(1, sizeof cpus, &cpus) < 0 ||
	    sched_setaffinity(0, sizeof cpus, &cpus) < 0)
		first_error(err, errsize, &rc, "CPU affinity");
	prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 1);
	if (prio < 0 || syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, (int)prio) < 0)
		first_error(err, errsize, &rc, "I/O priority");
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		first_error(err, errsize, &rc, "oom_score_adj");
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The whole of a small /proc file, NUL-terminated; 0 or -1. */
static int read_proc(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return 0;
}

/* The value of "Name:" in a /proc/PID/status text, up to its newline. */
static int status_field(const char *status, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name), vlen;
	const char *p = status;

	while (p && *p) {
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			p += strspn(p, " \t");
			vlen = strcspn(p, "\n");
			if (vlen >= size)
				return -1;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

bool host_context_is_hosts(char *why, size_t why_size)
{
	static const char *const kinds[] = { "cgroup", "ipc",  "mnt",  "net",
					     "pid",    "time", "user", "uts" };
	char self_status[4096], init_status[4096], a[256], b[256];
	char self_cg[1024], init_cg[1024];

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char p1[64], ps[64];
		struct stat s1, ss;
		snprintf(p1, sizeof p1, "/proc/1/ns/%s", kinds[i]);
		snprintf(ps, sizeof ps, "/proc/self/ns/%s", kinds[i]);
		if (stat(ps, &ss) < 0 && errno == ENOENT)
			continue; /* the kernel has no such namespace */
		if (stat(p1, &s1) < 0 || stat(ps, &ss) < 0 || s1.st_dev != ss.st_dev ||
		    s1.st_ino != ss.st_ino) {
			snprintf(why, why_size, "not in the %s namespace of PID 1", kinds[i]);
			return false;
		}
	}
	if (read_proc("/proc/self/cgroup", self_cg, sizeof self_cg) < 0 ||
	    read_proc("/proc/1/cgroup", init_cg, sizeof init_cg) < 0 ||
	    strcmp(self_cg, init_cg) != 0) {
		snprintf(why, why_size, "not in the cgroup of PID 1");
		return false;
	}
	if (read_proc("/proc/self/status", self_status, sizeof self_status) < 0 ||
	    read_proc("/proc/1/status", init_status, sizeof init_status) < 0) {
		snprintf(why, why_size, "cannot read /proc/PID/status");
		return false;
	}
	if (status_field(self_status, "NoNewPrivs", a, sizeof a) == 0 && strcmp(a, "0") != 0) {
		snprintf(why, why_size, "no_new_privs is set");
		return false;
	}
	if (status_field(self_status, "Seccomp", a, sizeof a) == 0 && strcmp(a, "0") != 0) {
		snprintf(why, why_size, "a seccomp filter is in place");
		return false;
	}
	if (status_field(self_status, "CapBnd", a, sizeof a) < 0 ||
	    status_field(init_status, "CapBnd", b, sizeof b) < 0 || strcmp(a, b) != 0) {
		snprintf(why, why_size, "the capability bounding set is not PID 1's");
		return false;
	}
	return true;
}
