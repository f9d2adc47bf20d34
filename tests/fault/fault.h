/* SPDX-License-Identifier: MIT */
/* tests/fault: fault injection through link-time wrappers.
 *
 * Test programs of `make check-faults` are linked with
 * -Wl,--wrap=malloc,--wrap=read,... (FAULT_WRAP_LDFLAGS in Makefile.am), so
 * every call the product code (and the test) makes to one of those functions
 * goes to __wrap_NAME here, which either passes it on to the real function or
 * fails it the way the system could: NULL + ENOMEM for an allocation, -1 with
 * EIO, ENOSPC, EMFILE, ... for a file or socket call, and "soft" faults that
 * correct code must absorb: EINTR and short transfers for read, write, send,
 * recv, EINTR for poll, flock, accept4.
 *
 * Nothing fails until the test arms the injector (fault_arm), and only
 * between fault_arm and fault_disarm, so a test's own set-up and checks are
 * never hit. The product code knows nothing of this (no #ifdef in src/).
 *
 * What fails is set by the test process's environment, read at fault_arm:
 *   FAULT_NTH=N      fail exactly the Nth counted call after fault_arm (1 = first)
 *   FAULT_RATE=R     fail each counted call with probability R per mille ...
 *   FAULT_SEED=S     ... drawn from a PRNG seeded with S (reproducible); with
 *                    FAULT_NTH alone, S picks which of the function's faults
 *                    (S modulo their number: 0 the first, e.g. EIO for read)
 *   FAULT_FUNCS=a,b  count only these functions (default: all wrapped ones)
 *   FAULT_SOFT=1     inject soft faults only (EINTR, short transfers)
 *   FAULT_VERBOSE=1  print each injected fault to stderr
 * or by the test itself through fault_set (the queue test's N = 1, 2, ...). */
#ifndef PAM_ISC_TESTS_FAULT_H
#define PAM_ISC_TESTS_FAULT_H

#include <stdbool.h>
#include <stddef.h>

struct fault_plan {
	unsigned long nth;       /* 0: no Nth-call fault */
	unsigned rate_permille;  /* 0: no random faults */
	unsigned long long seed; /* for the random faults and the choice of errno */
	const char *funcs;       /* comma-separated names, NULL: all */
	bool soft;               /* only faults correct code retries */
	bool verbose;
};

/* The plan from the FAULT_* variables (unset ones: 0, NULL, false). */
void fault_plan_from_env(struct fault_plan *p);

/* Start injecting by plan p (copied; funcs must outlive the armed window);
 * resets the counters and the trace. */
void fault_arm(const struct fault_plan *p);
void fault_disarm(void);

/* Pause and resume injection inside an armed window (nesting), e.g. while
 * a fuzz target checks a result; weak references in fuzz/targets.c. */
void fault_hold(void);
void fault_release(void);

/* Since the last fault_arm: calls counted, faults injected. */
unsigned long fault_calls(void);
unsigned long fault_injected(void);

/* The counted calls of the armed window, in order (the first
 * FAULT_TRACE_MAX): name, and whether it was failed. */
#define FAULT_TRACE_MAX 4096
size_t fault_trace_len(void);
const char *fault_trace_name(size_t i, bool *failed);
/* The destination of a traced rename (cut to 127 bytes), else "". */
const char *fault_trace_path(size_t i);

#endif
