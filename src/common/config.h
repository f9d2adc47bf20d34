/* SPDX-License-Identifier: MIT */
/* config: /etc/security/pam_isc.conf.
 *
 * The option table (config_options[]) is the single description of every
 * key: the parser, the defaults, the validation and the manual page all come
 * from it. Lines are "key = value", '#' starts a comment line, blank lines
 * are ignored. Every error names the file, the line and the key.
 *
 * This unit is linked into the PAM module, so it does no network and uses no
 * TLS/JSON library. Reading client_secret_file is a separate call made only
 * by the helper. */
#ifndef PAM_ISC_CONFIG_H
#define PAM_ISC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "secret.h"

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/security/pam_isc.conf"

/* One entry of ignore_changes_by: a login name, looked up when a change is
 * made, or a uid. */
struct config_login {
	char *name; /* NULL: the entry is uid */
	uid_t uid;
};

struct config_logins {
	struct config_login *items;
	size_t n;
};

/* rate_limit: at most `requests` API requests in any `seconds`-second
 * window; requests 0: no limit. */
struct config_rate {
	unsigned requests;
	unsigned seconds;
};

enum config_api_form {
	CONFIG_API_PREFIX,  /* /v3/set-password, /beta/..., /v2024/... */
	CONFIG_API_SERVICE, /* /set-password/v1 */
};

struct config {
	char *api_url;     /* https://..., no trailing slash */
	char *api_version; /* v3 beta v2024 v2025 v2026 v1 */
	enum config_api_form api_form;
	char *client_id;
	char *client_secret_file;
	struct secret client_secret; /* inline client_secret, if given */
	char *source_name;
	char *user_name_format;    /* %u, %% */
	char *account_name_format; /* %u, %% */
	char *ca_file;             /* NULL: system store */
	unsigned timeout;          /* seconds, 1..300 */
	unsigned status_timeout;   /* seconds, 1..604800 */
	unsigned status_interval;  /* first poll delay, seconds; doubles, capped */
	unsigned long min_uid;
	char **skip_users; /* NULL-terminated */
	char *runtime_dir;
	unsigned helper_linger; /* seconds, 0: no lingering helper */
	/* failure policy and offline queue */
	unsigned on_error;     /* enum config_on_error */
	unsigned prelim_check; /* 1: yes, 0: no */
	char *state_dir;
	unsigned long queue_max_age; /* seconds */
	/* TLS and proxy */
	char *proxy;             /* NULL: no proxy at all */
	char *pinned_public_key; /* NULL: no pin; else "sha256//B64[;sha256//B64...]" */
	/* password sync groups */
	struct config_logins ignore_changes_by; /* empty: every change is sent */
	/* request budget and what the admin sees */
	struct config_rate rate_limit; /* the host's share of ISC's limit */
	unsigned queue_warn;           /* warn when the queue holds more entries */
	char *metrics_file;            /* NULL: none */
};

/* What a change does when ISC cannot take it (config key on_error). */
enum config_on_error {
	CONFIG_ON_ERROR_FAIL = 0,   /* refuse the change */
	CONFIG_ON_ERROR_IGNORE = 1, /* the local change stands, ISC is not told */
	CONFIG_ON_ERROR_QUEUE = 2,  /* the local change stands, queued for ISC */
};

enum config_type {
	CONFIG_T_STRING,
	CONFIG_T_URL,     /* https:// only */
	CONFIG_T_VERSION, /* api_version values */
	CONFIG_T_UINT,    /* with min/max */
	CONFIG_T_FORMAT,  /* %u and %% only */
	CONFIG_T_PATH,    /* absolute path */
	CONFIG_T_LIST,    /* comma-separated names */
	CONFIG_T_SECRET,  /* stored in struct secret */
	CONFIG_T_CHOICE,  /* one of .choices; the index is stored as unsigned */
	CONFIG_T_PROXY,   /* http://, https://, socks5://, socks5h:// URL */
	CONFIG_T_PIN,     /* sha256//BASE64 list */
	CONFIG_T_LOGINS,  /* comma-separated login names or uids (struct config_logins) */
	CONFIG_T_RATE,    /* REQUESTS/SECONDS or 0 (struct config_rate) */
};

struct config_option {
	const char *name;
	enum config_type type;
	const char *default_value;  /* NULL: no default */
	bool required;              /* see also the secret rule below */
	unsigned long min, max;     /* CONFIG_T_UINT only */
	size_t offset;              /* into struct config */
	size_t size;                /* of that field: CONFIG_T_UINT is unsigned or unsigned long */
	const char *description;    /* one paragraph, man-page ready */
	const char *const *choices; /* CONFIG_T_CHOICE only: NULL-terminated */
};

extern const struct config_option config_options[]; /* ends with name NULL */

struct config_error {
	char file[256];
	unsigned line; /* 0: not tied to a line (e.g. missing key, open failure) */
	char key[64];  /* may be empty */
	char message[256];
};

/* Render "FILE:LINE: key KEY: MESSAGE" (parts omitted when empty). */
size_t config_error_format(const struct config_error *err, char *buf, size_t size);

/* Parse text (name is used in errors). On success fills cfg (defaults
 * applied, all required keys present: api_url, client_id, source_name, and
 * exactly one of client_secret / client_secret_file) and returns 0. On error
 * returns -1, fills err, and leaves cfg freed/zeroed. */
int config_parse_buffer(const char *name, const char *text, size_t len, struct config *cfg,
			struct config_error *err);

/* Read and parse a file (at most 64 KiB; O_NOFOLLOW|O_CLOEXEC). */
int config_load(const char *path, struct config *cfg, struct config_error *err);

/* Release everything, wiping the inline secret. Safe on a zeroed cfg. */
void config_free(struct config *cfg);

/* The client secret: the inline one, or the first line of
 * client_secret_file (trailing CR/LF stripped, empty refused). */
int config_client_secret(const struct config *cfg, struct secret *out, struct config_error *err);

/* true when user is listed in skip_users. */
bool config_user_skipped(const struct config *cfg, const char *user);
/* Is this user one whose password goes to ISC? false, with *why set to
 * "unknown_user", "min_uid" or "skip_users", for users the name service does
 * not know, users below min_uid and users in skip_users. The module asks
 * before a change, the queue's delivery again before it sends one. */
bool config_user_in_scope(const struct config *cfg, const char *user, const char **why);

/* Does login (an entry of ignore_changes_by) name the account whose uid is
 * uid? A uid entry is compared as it is; a name is looked up now
 * (getpwnam_r), so that an account renumbered since the configuration was
 * written is still recognised. */
enum config_login_match {
	CONFIG_LOGIN_OTHER,   /* another account */
	CONFIG_LOGIN_MATCH,   /* this one */
	CONFIG_LOGIN_UNKNOWN, /* a name the name service does not know now */
};
enum config_login_match config_login_match(const struct config_login *login, uid_t uid);

/* Expand a %u/%% format for user into out. Returns 0, or -1 when out is too
 * small or the format is invalid. */
int config_expand_format(const char *fmt, const char *user, char *out, size_t size);

#endif
