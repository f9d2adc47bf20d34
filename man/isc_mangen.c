/* SPDX-License-Identifier: MIT */
/* isc_mangen: writes the parts of the manual pages that come from the code.
 *
 * The configuration keys of pam_isc.conf(5) and the module arguments of
 * pam_isc(8) are not written by hand: they are printed here from
 * config_options[] (config.c) and module_arg_descs[] (module_args.c), the
 * same tables the parsers use, so a key added to a table is in the manual
 * page of the next build.
 *
 *   isc_mangen [--examples FILE] < man/PAGE.scd > PAGE.scd.tmp
 *       Copy the scdoc source, replacing a line that is exactly
 *       @CONFIG_OPTIONS@ or @MODULE_ARGS@ with the generated section text;
 *       FILE (man/pam_isc.conf.examples) has an example for each key.
 *   isc_mangen --list
 *       Print "key NAME" for every configuration key, "arg NAME" for every
 *       module argument (config= with its '='), and "path PATH" for each
 *       configured path written as a placeholder: what the manual page test
 *       looks for in the installed pages.
 *   isc_mangen --parse FILE
 *       Parse FILE as pam_isc.conf with the real parser (config_load); exit 1
 *       with its error message when it is refused: the test runs the example
 *       file of pam_isc.conf(5) through it.
 *   isc_mangen --check [--examples FILE]
 *       Exit 1 with a message for every problem in the tables and the
 *       examples: a description whose closing "Default: X." disagrees with
 *       the table's default, an example for a key that does not exist, a key
 *       with neither an example nor a default to show instead.
 *
 * Paths that depend on ./configure (the default configuration file, the
 * helper) are written as {{CONFFILE}} and {{HELPER}}: the generated roff is
 * then the same for every prefix, and make fills them in (see Makefile.am).
 *
 * Build-time tool only (noinst): it never sees a password or a secret. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "module_args.h"

#define LINE_MAX_LEN 4096
#define MAX_EXAMPLES 256

struct example {
	char key[64];
	char line[512]; /* "key = value", as written in the examples file */
};

struct examples {
	struct example items[MAX_EXAMPLES];
	size_t n;
};

static int problems;

__attribute__((format(printf, 1, 2))) static void problem(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "isc_mangen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	problems++;
}

/* ---- text ------------------------------------------------------------- */

/* Configure-dependent paths, as placeholders the build substitutes. */
static const struct {
	const char *value;
	const char *placeholder;
} path_placeholders[] = {
	{ CONFIG_DEFAULT_PATH, "{{CONFFILE}}" },
	{ PAM_ISC_HELPER, "{{HELPER}}" },
};
#define N_PLACEHOLDERS (sizeof path_placeholders / sizeof path_placeholders[0])

/* Print n bytes of s as scdoc text: the characters scdoc gives a meaning
 * (\ * _) are escaped, the configured paths become placeholders. */
static void put_text_n(FILE *out, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		bool replaced = false;

		for (size_t p = 0; p < N_PLACEHOLDERS; p++) {
			size_t len = strlen(path_placeholders[p].value);

			if (len > 0 && len <= n - i &&
			    memcmp(s + i, path_placeholders[p].value, len) == 0) {
				fputs(path_placeholders[p].placeholder, out);
				i += len;
				replaced = true;
				break;
			}
		}
		if (replaced)
			continue;
		if (s[i] == '\\' || s[i] == '*' || s[i] == '_')
			fputc('\\', out);
		fputc(s[i], out);
		i++;
	}
}

static void put_text(FILE *out, const char *s)
{
	put_text_n(out, s, strlen(s));
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* The length of opt's description without a closing sentence that only
 * repeats the table ("Required." of a required key, "Default: X." with X the
 * table's default): the generated summary line says those. A closing
 * "Default:" sentence that disagrees with the table is kept, and reported. */
static size_t description_len(const struct config_option *opt)
{
	const char *d = opt->description;
	size_t len = strlen(d);
	const char *def;

	if (opt->required && ends_with(d, len, " Required."))
		return len - strlen(" Required.");
	def = strstr(d, "Default: ");
	if (!def)
		return len;
	while (strstr(def + 1, "Default: "))
		def = strstr(def + 1, "Default: ");
	if (opt->default_value) {
		const char *value = def + strlen("Default: ");
		size_t vlen = strlen(opt->default_value);
		bool same = strncmp(value, opt->default_value, vlen) == 0;

		if (same && strcmp(value + vlen, ".") == 0 && def > d && def[-1] == ' ')
			return (size_t)(def - 1 - d);
		/* "Default: X (...)." says more than the summary: kept. A last
		 * sentence that names another default is a mistake. */
		if (same && (value[vlen] == ' ' || value[vlen] == '.' || value[vlen] == ','))
			return len;
		if (!strstr(value, ". "))
			problem("key %s: the description says \"%s\", the table's default is %s",
				opt->name, def, opt->default_value);
	}
	return len;
}

/* ---- the configuration keys ------------------------------------------- */

/* How a value of this type is written in the synopsis line of a key. */
static const char *type_placeholder(const struct config_option *opt)
{
	switch (opt->type) {
	case CONFIG_T_STRING:
		return "STRING";
	case CONFIG_T_URL:
		return "URL";
	case CONFIG_T_VERSION:
		return "VERSION";
	case CONFIG_T_UINT:
		return "NUMBER";
	case CONFIG_T_FORMAT:
		return "FORMAT";
	case CONFIG_T_PATH:
		return "PATH";
	case CONFIG_T_LIST:
		return "NAME,...";
	case CONFIG_T_SECRET:
		return "SECRET";
	case CONFIG_T_CHOICE:
		return "WORD";
	case CONFIG_T_PROXY:
		return "URL";
	case CONFIG_T_PIN:
		return "PINS";
	case CONFIG_T_LOGINS:
		return "LOGIN,...";
	case CONFIG_T_RATE:
		return "REQUESTS/SECONDS";
	default: /* a type newer than this generator */
		return "VALUE";
	}
}

/* "Type: ... " (with a blank after it), or nothing for an unknown type. */
static void put_type(FILE *out, const struct config_option *opt)
{
	switch (opt->type) {
	case CONFIG_T_STRING:
		fputs("Type: string. ", out);
		break;
	case CONFIG_T_URL:
		fputs("Type: https:// URL. ", out);
		break;
	case CONFIG_T_VERSION:
		fputs("Type: API version name. ", out);
		break;
	case CONFIG_T_UINT:
		fprintf(out, "Type: whole number from %lu to %lu. ", opt->min, opt->max);
		break;
	case CONFIG_T_FORMAT:
		fputs("Type: name format (%u and %%). ", out);
		break;
	case CONFIG_T_PATH:
		fputs("Type: absolute path. ", out);
		break;
	case CONFIG_T_LIST:
		fputs("Type: comma-separated list of names. ", out);
		break;
	case CONFIG_T_SECRET:
		fputs("Type: string (secret). ", out);
		break;
	case CONFIG_T_PROXY:
		fputs("Type: proxy URL (http, https, socks5, socks5h). ", out);
		break;
	case CONFIG_T_PIN:
		fputs("Type: list of sha256// public key pins. ", out);
		break;
	case CONFIG_T_LOGINS:
		fputs("Type: comma-separated list of login names and uids. ", out);
		break;
	case CONFIG_T_RATE:
		fputs("Type: REQUESTS/SECONDS, or 0. ", out);
		break;
	case CONFIG_T_CHOICE:
		fputs("Type: one of", out);
		for (size_t i = 0; opt->choices && opt->choices[i]; i++) {
			fputs(i ? ", *" : " *", out);
			put_text(out, opt->choices[i]);
			fputc('*', out);
		}
		fputs(". ", out);
		break;
	default: /* a type newer than this generator: the description says it */
		break;
	}
}

static const struct example *find_example(const struct examples *ex, const char *key)
{
	for (size_t i = 0; i < ex->n; i++)
		if (strcmp(ex->items[i].key, key) == 0)
			return &ex->items[i];
	return NULL;
}

static void put_config_options(FILE *out, const struct examples *ex)
{
	for (const struct config_option *opt = config_options; opt->name; opt++) {
		const struct example *e = find_example(ex, opt->name);

		fputc('*', out);
		put_text(out, opt->name);
		fputs("* = _", out);
		put_text(out, type_placeholder(opt));
		fputs("_\n\t", out);
		put_text_n(out, opt->description, description_len(opt));
		fputs("\n\n\t", out);
		put_type(out, opt);
		if (opt->required)
			fputs("Required.", out);
		else if (opt->default_value && opt->default_value[0]) {
			fputs("Default: *", out);
			put_text(out, opt->default_value);
			fputs("*.", out);
		} else if (opt->default_value)
			fputs("Default: empty.", out);
		else
			fputs("Default: not set.", out);
		if (e) {
			fputs("++\nExample: *", out);
			put_text(out, e->line);
			fputs("*", out);
		} else if (opt->default_value && opt->default_value[0]) {
			fputs("++\nExample: *", out);
			put_text(out, opt->name);
			fputs(" = ", out);
			put_text(out, opt->default_value);
			fputs("*", out);
		}
		fputs("\n\n", out);
	}
}

/* ---- the module arguments --------------------------------------------- */

static void put_module_args(FILE *out)
{
	for (const struct module_arg_desc *d = module_arg_descs; d->name; d++) {
		size_t len = strlen(d->name);

		fputc('*', out);
		put_text(out, d->name);
		fputc('*', out);
		if (len > 0 && d->name[len - 1] == '=') {
			bool path = strncmp(d->description, "Absolute path", 13) == 0;
			fputs(path ? "_PATH_" : "_VALUE_", out);
		}
		fputs("\n\t", out);
		put_text(out, d->description);
		fputs("\n\n", out);
	}
}

/* ---- the examples file ------------------------------------------------ */

static bool is_key(const char *name)
{
	for (const struct config_option *opt = config_options; opt->name; opt++)
		if (strcmp(opt->name, name) == 0)
			return true;
	return false;
}

/* "key = value" lines; '#' comments and blank lines are skipped. */
static int read_examples(const char *path, struct examples *ex)
{
	char line[LINE_MAX_LEN];
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		struct example *e;
		size_t len = strcspn(line, "\r\n"), klen;

		line[len] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		klen = strcspn(line, " \t=");
		if (klen == 0 || klen >= sizeof e->key || !strchr(line, '=') ||
		    len >= sizeof e->line || ex->n >= MAX_EXAMPLES) {
			problem("%s: bad line \"%s\"", path, line);
			continue;
		}
		e = &ex->items[ex->n++];
		memcpy(e->key, line, klen);
		e->key[klen] = '\0';
		memcpy(e->line, line, len + 1);
		if (!is_key(e->key))
			problem("%s: example for \"%s\", which is not a configuration key", path,
				e->key);
	}
	fclose(f);
	return 0;
}

/* ---- main -------------------------------------------------------------- */

static int parse_file(const char *path)
{
	struct config cfg;
	struct config_error err;
	char text[1024];

	if (config_load(path, &cfg, &err) < 0) {
		config_error_format(&err, text, sizeof text);
		fprintf(stderr, "isc_mangen: %s\n", text);
		return 1;
	}
	config_free(&cfg);
	return 0;
}

static void usage(void)
{
	fputs("usage: isc_mangen [--examples FILE] < TEMPLATE > OUTPUT\n"
	      "       isc_mangen --list\n"
	      "       isc_mangen --parse FILE\n"
	      "       isc_mangen --check [--examples FILE]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	static struct examples ex;
	bool list = false, check = false;
	char line[LINE_MAX_LEN];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc) {
			if (read_examples(argv[++i], &ex) < 0)
				return 2;
		} else if (strcmp(argv[i], "--list") == 0) {
			list = true;
		} else if (strcmp(argv[i], "--parse") == 0 && i + 1 < argc) {
			return parse_file(argv[++i]);
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else {
			usage();
			return 2;
		}
	}

	if (list) {
		for (const struct config_option *opt = config_options; opt->name; opt++)
			printf("key %s\n", opt->name);
		for (const struct module_arg_desc *d = module_arg_descs; d->name; d++)
			printf("arg %s\n", d->name);
		for (size_t p = 0; p < N_PLACEHOLDERS; p++)
			printf("path %s\n", path_placeholders[p].value);
		return 0;
	}
	if (check) {
		for (const struct config_option *opt = config_options; opt->name; opt++) {
			(void)description_len(opt);
			/* Without an example the default serves as one. */
			if (find_example(&ex, opt->name))
				continue;
			if (opt->default_value && opt->default_value[0])
				fprintf(stderr,
					"isc_mangen: note: key %s has no example; "
					"its default is shown instead\n",
					opt->name);
			else
				problem("key %s has neither an example nor a default", opt->name);
		}
		return problems ? 1 : 0;
	}

	while (fgets(line, sizeof line, stdin)) {
		if (strcmp(line, "@CONFIG_OPTIONS@\n") == 0)
			put_config_options(stdout, &ex);
		else if (strcmp(line, "@MODULE_ARGS@\n") == 0)
			put_module_args(stdout);
		else
			fputs(line, stdout);
	}
	if (ferror(stdin) || fflush(stdout) != 0 || ferror(stdout)) {
		fputs("isc_mangen: read or write error\n", stderr);
		return 1;
	}
	return 0;
}
