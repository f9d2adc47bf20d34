/* SPDX-License-Identifier: MIT */
/* fuzz/targets.h: the fuzzed entry points, one function per parser.
 *
 * Each takes arbitrary bytes, runs one parser on them and checks what it can
 * about the result (NUL-terminated fields, round trips); a violated check
 * aborts. Used by the libFuzzer drivers (fuzz/fuzz_main.c, one binary per
 * target, --enable-fuzzing) and by tests/test_fuzz_regress.c, which feeds the
 * committed seed corpora and the crash regressions to them in `make check`. */
#ifndef PAM_ISC_FUZZ_TARGETS_H
#define PAM_ISC_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_target {
	const char *name; /* also the corpus directory name: fuzz/corpus/NAME */
	void (*run)(const uint8_t *data, size_t size);
};

extern const struct fuzz_target fuzz_targets[]; /* ends with name NULL */
const struct fuzz_target *fuzz_target_find(const char *name);

#endif
