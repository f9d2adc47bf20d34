/* SPDX-License-Identifier: MIT */
/* bench_poll_schedule: what the follower spends on a change that ISC
 * finishes after T seconds, computed from the follower's own schedule
 * (follower_poll_delay in src/state/follower.c, linked, not copied) instead of
 * waited for: a two-hour change cannot be measured in a benchmark run.
 *
 *   bench_poll_schedule [-i STATUS_INTERVAL] [-t STATUS_TIMEOUT] T...
 *
 * Defaults are the configuration defaults (2 and 7200). It models the
 * follower's loop: the first poll is due status_interval after the change,
 * poll n+1 follower_poll_delay(n) after poll n, but no poll later than the
 * status_timeout deadline: the last one is at the deadline, and a change
 * still IN_PROGRESS then is given up (state UNKNOWN).
 * The real follower polls up to about a second late (it wakes once a
 * second), which can only shift polls later, never add one. For each T one
 * line: T=.. polls=.. last_poll_s=.. outcome=FINISHED|UNKNOWN */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "follower.h"

int main(int argc, char **argv)
{
	struct config cfg = { .status_interval = 2, .status_timeout = 7200 };
	int first, c;

	while ((c = getopt(argc, argv, "i:t:")) != -1) {
		if (c == 'i')
			cfg.status_interval = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 't')
			cfg.status_timeout = (unsigned)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	first = optind;
	if (first >= argc || cfg.status_interval == 0) {
		fprintf(stderr, "usage: bench_poll_schedule [-i STATUS_INTERVAL] [-t STATUS_TIMEOUT] T...\n");
		return 2;
	}
	for (int a = first; a < argc; a++) {
		unsigned long t_final = strtoul(argv[a], NULL, 10), due, last = 0;
		unsigned polls = 0;
		const char *outcome = "UNKNOWN";

		due = follower_poll_delay(&cfg, 0);
		if (due > cfg.status_timeout)
			due = cfg.status_timeout;
		for (;;) {
			polls++;
			last = due;
			if (due >= t_final) {
				outcome = "FINISHED";
				break;
			}
			if (due >= cfg.status_timeout)
				break; /* the poll at the deadline said IN_PROGRESS */
			due += follower_poll_delay(&cfg, polls);
			if (due > cfg.status_timeout)
				due = cfg.status_timeout; /* the last poll at the deadline */
		}
		printf("T=%lu polls=%u last_poll_s=%lu outcome=%s\n", t_final, polls, last, outcome);
	}
	return 0;
}
