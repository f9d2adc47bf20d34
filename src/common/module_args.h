/* SPDX-License-Identifier: MIT */
/* module_args: the arguments on the pam_isc.so line of a pam.d file. */
#ifndef PAM_ISC_MODULE_ARGS_H
#define PAM_ISC_MODULE_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct module_args {
	const char *config_path; /* points into argv, or the default */
	const char *helper_path; /* points into argv, or the default */
	bool debug;
	bool use_authtok; /* honoured by pam_get_authtok itself */
};

struct module_arg_desc {
	const char *name;        /* "config=" style names end in '=' */
	const char *description; /* man-page ready */
};
extern const struct module_arg_desc module_arg_descs[]; /* ends with NULL */

/* Returns 0, or -1 with a message naming the bad argument in err. */
int module_args_parse(int argc, const char **argv, struct module_args *out, char *err,
		      size_t errsize);

#endif
