/* SPDX-License-Identifier: MIT */
/* pam_glue_probe.so: a PAM module for tests/test_pam_glue that stands in
 * one line of the stack for the module it names, so that the test can see
 * that module's return code in each phase of pam_chauthtok (Linux-PAM only
 * tells the application the result of the whole stack, and folds the two
 * phases into one).
 *
 *   password required /path/pam_glue_probe.so /path/pam_isc.so ARGS...
 *
 * It loads the named module (once, never unloaded: its PAM data cleanups
 * run at pam_end), calls its pam_sm_chauthtok with the real PAM handle,
 * flags and ARGS, hands (flags, return code) to the test program's
 * pam_glue_probe_record (found in the program, which exports it), and
 * returns that code unchanged. Everything else (the conversation, items,
 * data, pam_get_authtok) is Linux-PAM's own: the handle is the one
 * pam_chauthtok dispatches with. */
#include <dlfcn.h>
#include <stddef.h>

#include <security/pam_modules.h>

#include "pam_glue_probe.h"

typedef int (*chauthtok_fn)(pam_handle_t *, int, int, const char **);

__attribute__((visibility("default"))) int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
							    const char **argv)
{
	void *mod, *rec;
	chauthtok_fn fn;
	int rc;

	if (argc < 1)
		return PAM_MODULE_UNKNOWN;
	mod = dlopen(argv[0], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!mod)
		return PAM_MODULE_UNKNOWN;
	fn = (chauthtok_fn)dlsym(mod, "pam_sm_chauthtok");
	if (!fn)
		return PAM_SYMBOL_ERR;
	rc = fn(pamh, flags, argc - 1, argv + 1);
	rec = dlsym(RTLD_DEFAULT, PAM_GLUE_PROBE_RECORD);
	if (rec)
		((pam_glue_probe_record_fn)rec)(flags, rc);
	return rc;
}
