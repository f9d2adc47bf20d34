/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_main.c: the libFuzzer entry point of one target; the build
 * names the target with -DFUZZ_TARGET_NAME="..." (see Makefile.am). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_target *target;

	if (!target) {
		target = fuzz_target_find(FUZZ_TARGET_NAME);
		if (!target)
			abort();
	}
	target->run(data, size);
	return 0;
}
