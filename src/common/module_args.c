/* SPDX-License-Identifier: MIT */
/* module_args: see module_args.h. */
#include "module_args.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "text.h"

/* How much of a bad argument is quoted back in a message. */
#define QUOTED_ARG_MAX 64

const struct module_arg_desc module_arg_descs[] = {
	{ "config=", "Absolute path of the configuration file. Default: " CONFIG_DEFAULT_PATH "." },
	{ "helper=", "Absolute path of the helper program that talks to Identity Security "
		     "Cloud; for tests and relocated installs. Default: " PAM_ISC_HELPER "." },
	{ "debug", "Also log debug lines (lookups, HTTP status codes and timings) to the "
		   "authpriv syslog facility. Passwords and secrets are never logged." },
	{ "use_authtok", "Send the new password an earlier module in the stack already "
			 "asked for, instead of prompting. pam_isc then never prompts; without "
			 "an earlier password the change fails." },
	{ NULL, NULL },
};

/* arg for a message: cut to QUOTED_ARG_MAX bytes (marked "..."), and
 * anything but printable ASCII as '?' so the message stays one clean line. */
static void quote_arg(const char *arg, char *out, size_t size)
{
	size_t n = strnlen(arg, QUOTED_ARG_MAX + 1);
	bool cut = n > QUOTED_ARG_MAX;
	size_t i;

	if (cut)
		n = QUOTED_ARG_MAX;
	for (i = 0; i < n && i + 1 < size; i++)
		out[i] = (arg[i] >= ' ' && arg[i] < 0x7f) ? arg[i] : '?';
	out[i] = '\0';
	if (cut)
		snprintf(out + i, size - i, "...");
}

static int arg_error(char *err, size_t errsize, const char *arg, const char *what)
{
	char quoted[QUOTED_ARG_MAX + 4];

	quote_arg(arg, quoted, sizeof quoted);
	if (err && errsize)
		snprintf(err, errsize, "%s '%s'", what, quoted);
	return -1;
}

/* A path argument: present, absolute, one line, short enough for PATH_MAX
 * (and so for the request the module sends the helper). */
static int path_value(const char *arg, const char *value, const char **out, char *err,
		      size_t errsize)
{
	if (value[0] == '\0')
		return arg_error(err, errsize, arg, "empty value in module argument");
	if (value[0] != '/')
		return arg_error(err, errsize, arg, "path must be absolute in module argument");
	if (text_has_control(value, 0))
		return arg_error(err, errsize, arg, "control character in module argument");
	if (strlen(value) >= PATH_MAX)
		return arg_error(err, errsize, arg, "path too long in module argument");
	*out = value;
	return 0;
}

/* A later config= or helper= overrides an earlier one, as in most modules. */
int module_args_parse(int argc, const char **argv, struct module_args *out, char *err,
		      size_t errsize)
{
	static const char config_prefix[] = "config=", helper_prefix[] = "helper=";

	out->config_path = CONFIG_DEFAULT_PATH;
	out->helper_path = PAM_ISC_HELPER;
	out->debug = false;
	out->use_authtok = false;
	if (err && errsize)
		err[0] = '\0';

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (!arg)
			return arg_error(err, errsize, "(null)", "unknown module argument");
		if (strcmp(arg, "debug") == 0) {
			out->debug = true;
		} else if (strcmp(arg, "use_authtok") == 0) {
			out->use_authtok = true;
		} else if (strncmp(arg, config_prefix, strlen(config_prefix)) == 0) {
			if (path_value(arg, arg + strlen(config_prefix), &out->config_path, err,
				       errsize) < 0)
				return -1;
		} else if (strncmp(arg, helper_prefix, strlen(helper_prefix)) == 0) {
			if (path_value(arg, arg + strlen(helper_prefix), &out->helper_path, err,
				       errsize) < 0)
				return -1;
		} else {
			return arg_error(err, errsize, arg, "unknown module argument");
		}
	}
	return 0;
}
