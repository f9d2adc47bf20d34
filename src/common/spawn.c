/* SPDX-License-Identifier: MIT */
/* spawn: see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int spawn_detached(const char *exe, char *const argv[], char *err, size_t errsize)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int devnull, status;
	pid_t pid;

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		snprintf(err, errsize, "/dev/null: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errsize, "fork: %s", strerror(errno));
		close(devnull);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		closefrom(3);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(exe, argv, envp);
		_exit(127);
	}
	close(devnull);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}
