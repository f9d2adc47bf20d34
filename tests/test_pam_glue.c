/* SPDX-License-Identifier: MIT */
/* test_pam_glue: the PAM glue (src/module/pam_isc.c, helper_link.c) in
 * process, through real Linux-PAM under pam_wrapper, one row of data per
 * case.
 *
 * How it runs: the program re-executes itself with pam_wrapper and
 * nss_wrapper preloaded (PAM_WRAPPER_SERVICE_DIR: a pam.d directory of its
 * own; the users of NSS_WRAPPER_PASSWD), in a 0700 directory under /tmp
 * that holds a copy of tests/fake_helper (helper_link.c starts only a
 * program that nobody else may have written: /tmp is sticky, the directory
 * ours, the file 0755) and a pam.d service per row, "glue<N>" (written
 * before the re-execution: pam_wrapper copies the directory when the
 * program starts). Each row then writes the configuration and the fake
 * helper's script, and runs pam_chauthtok through libpamtest with a
 * conversation function that follows the row's script. The service is
 *
 *     [a module of the row, e.g. pam_matrix, for use_authtok]
 *     password required pam_glue_probe.so .libs/pam_isc.so config=... helper=... ARGS
 *     password required pam_permit.so        (the rest of a stack: pam_unix)
 *
 * where pam_glue_probe.so passes the real handle to pam_isc.so and tells
 * this program what pam_isc returned in each phase.
 *
 * What a row says: the module arguments, the configuration, the PAM flags,
 * the password, what the fake helper answers in each phase, the
 * conversation (every prompt and message, in order, exactly; nothing else
 * may come), the return code of each phase and of pam_chauthtok, what the
 * fake helper saw (which phases, in how many helpers), and log lines. Every
 * row also checks: the requests carry the user, service, configuration,
 * caller and a deadline within `timeout`; the password only in the update
 * request, whole (length and hash); the helper started with PATH only and
 * no other descriptors; no message at all under PAM_SILENT; the password in
 * no log line, message or file.
 *
 * Log lines never reach syslog: this program defines pam_syslog and
 * pam_vsyslog, which take precedence over libpam's for the modules it
 * loads, and keeps the lines in memory.
 *
 * Passwords are never in an argv, the environment, a file of the test or
 * its output; a failing check names the row and what differed, never a
 * password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <libpamtest.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h> /* PAM_PRELIM_CHECK */

#include "fake_helper.h"
#include "pam_glue_probe.h"

#ifndef GLUE_BUILDDIR
#define GLUE_BUILDDIR "."
#endif
#ifndef GLUE_PAM_WRAPPER_LIB
#define GLUE_PAM_WRAPPER_LIB ""
#endif
#ifndef GLUE_NSS_WRAPPER_LIB
#define GLUE_NSS_WRAPPER_LIB ""
#endif
#ifndef GLUE_PAM_WRAPPER_MODULES
#define GLUE_PAM_WRAPPER_MODULES ""
#endif

#define EXPORT __attribute__((visibility("default")))

/* The child's environment: the directory it works in. */
#define ENV_DIR "PAM_ISC_GLUE_DIR"

#define SERVICE "glue"
#define NOT_CALLED (-1)
#define DEFAULT_TIMEOUT 5

/* What pam_isc.c says (its exact texts: a changed message fails here). */
#define MSG_SENT "New password sent to Identity Security Cloud."
#define MSG_QUEUED \
	"Identity Security Cloud is unreachable; your new password will be sent when it is back."
#define MSG_LOCAL_UNREACHABLE                                                                     \
	"Identity Security Cloud is unreachable; the new password was set here only and was not " \
	"sent there."
#define MSG_LOCAL_REFUSED \
	"Identity Security Cloud did not accept the new password; it was set here only."
#define MSG_UNREACHABLE \
	"Identity Security Cloud is unreachable; the new password was not sent there."
#define MSG_REJECTED "Identity Security Cloud did not accept the password change for this account."
#define MSG_TOO_LONG "The new password is too long for Identity Security Cloud."
#define MSG_FAILED "Identity Security Cloud refused the new password."
#define MSG_MISCONFIGURED \
	"Password sync with Identity Security Cloud is misconfigured; contact your administrator."
#define MSG_BUSY "Too many password changes are under way; try again in a few minutes."
#define MSG_NOT_SENT "The new password could not be sent to Identity Security Cloud."
#define MSG_PRELIM_CONFIG                                                                    \
	"Password sync with Identity Security Cloud is misconfigured; the password was not " \
	"changed. Contact your administrator."
#define MSG_PRELIM_BUSY                                                                          \
	"Too many password changes are under way; the password was not changed. Try again in a " \
	"few minutes."
#define MSG_PRELIM_UNREACHABLE \
	"Identity Security Cloud is unreachable; the password was not changed. Try again later."
#define MSG_PRELIM_REFUSED                                                                       \
	"Identity Security Cloud cannot take a new password for this account; the password was " \
	"not changed."

/* --- the rows ------------------------------------------------------------ */

enum answer { ANS_NONE, ANS_PW, ANS_OTHER, ANS_OLD };

/* One step of the conversation: a message of this style and exactly this
 * text, answered (prompts) with the row's password, another one, or the
 * old one. style 0 ends the script. */
struct conv_step {
	int style;
	const char *text;
	enum answer answer;
};

#define ASK_NEW                                               \
	{                                                     \
		PAM_PROMPT_ECHO_OFF, "New password: ", ANS_PW \
	}
#define ASK_RETYPE                                                   \
	{                                                            \
		PAM_PROMPT_ECHO_OFF, "Retype new password: ", ANS_PW \
	}
#define ERR(t)                             \
	{                                  \
		PAM_ERROR_MSG, t, ANS_NONE \
	}
#define INFO(t)                            \
	{                                  \
		PAM_TEXT_INFO, t, ANS_NONE \
	}

enum pw_kind {
	PW_NORMAL,   /* an ordinary password, UTF-8 and a blank in it */
	PW_MAX,      /* PAM_MAX_RESP_SIZE (512) bytes: the longest the module passes on */
	PW_TOO_LONG, /* one byte more */
	PW_EMPTY,    /* the person just pressed return */
};

/* A log line (substring) the row expects exactly `times` times. */
struct log_expect {
	const char *text;
	int times;
};

struct glue_case {
	const char *name;
	const char *user;   /* NULL: alice */
	const char *args;   /* pam.d arguments after config= and helper= */
	const char *helper; /* what helper= names in the temp dir; NULL: fake_helper */
	const char *conf;   /* lines on top of the defaults, '\n'-separated; a key
			     * given here replaces the default line */
	bool no_conf;       /* config= names a file that does not exist */
	bool matrix_before; /* pam_matrix (passdb of the row) before pam_isc */
	int flags;          /* PAM_SILENT, PAM_CHANGE_EXPIRED_AUTHTOK */
	int timeout;        /* the configuration's timeout; 0: DEFAULT_TIMEOUT */
	enum pw_kind pw;
	const char *prelim; /* the fake helper's action for phase=prelim; NULL: not expected */
	const char *update;
	struct conv_step conv[8];
	int prelim_rc; /* pam_isc's return code in each phase, or NOT_CALLED */
	int update_rc;
	int chauthtok_rc;       /* pam_chauthtok's */
	bool wait_gone;         /* the first prompt waits until the fake helper is gone */
	bool again;             /* pam_chauthtok runs twice on the same handle, the first */
	int first_rc;           /* time returning this; the rcs above are the second's */
	const char *helper_saw; /* the fake helpers' record, summarised; "": never started */
	struct log_expect logs[4];
};

#define CHECKED "say OK state=CHECKED"

static const struct glue_case cases[] = {
	/* --- accepted ---------------------------------------------------- */
	{
		.name = "accepted IN_PROGRESS: New password sent",
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=089899f13a8f4da7824996191587bab9",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=error", 0 }, { "event=local_only", 0 } },
	},
	{
		.name = "accepted FINISHED: New password sent",
		.prelim = CHECKED,
		.update = "say OK state=FINISHED request=-",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "PAM_CHANGE_EXPIRED_AUTHTOK: the same change",
		.flags = PAM_CHANGE_EXPIRED_AUTHTOK,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "debug argument: passed on in the requests",
		.args = "debug",
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "prelim_check = no: one helper, update phase only",
		.conf = "prelim_check = no",
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start update eof",
	},
	{
		.name = "password of PAM_MAX_RESP_SIZE bytes: passed on whole",
		.pw = PW_MAX,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},

	/* --- PAM_SILENT: prompts, but no message at all ------------------- */
	{
		.name = "silent: accepted, no message",
		.flags = PAM_SILENT,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "silent: preliminary refusal, no message",
		.flags = PAM_SILENT,
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=unreachable",
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
		.logs = { { "event=refused", 1 } },
	},
	{
		.name = "silent: unreachable under fail, no message",
		.flags = PAM_SILENT,
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable",
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "silent: local only under queue, no message",
		.flags = PAM_SILENT,
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable",
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only", 1 } },
	},
	{
		.name = "silent: queued, no message",
		.flags = PAM_SILENT,
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable queued=1",
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "silent: broken configuration, no message",
		.flags = PAM_SILENT,
		.no_conf = true,
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "",
		.logs = { { "event=config_error", 1 } },
	},
	{
		.name = "silent: password too long, no message",
		.flags = PAM_SILENT,
		.pw = PW_TOO_LONG,
		.prelim = CHECKED,
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim eof",
	},
	{
		.name = "silent: helper died, no message",
		.flags = PAM_SILENT,
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "die",
		.conv = { ASK_NEW, ASK_RETYPE },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update died",
	},

	/* --- the preliminary phase under on_error = fail: a refusal there
	 * is PAM_TRY_AGAIN and the update phase never runs ---------------- */
	{
		.name = "prelim unreachable, fail: TRY_AGAIN, no update",
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=unreachable",
		.conv = { ERR(MSG_PRELIM_UNREACHABLE) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
		.logs = { { "event=refused user=alice phase=prelim reason=unreachable policy=fail",
			    1 } },
	},
	{
		.name = "prelim rejected, fail: TRY_AGAIN, no update",
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=rejected",
		.conv = { ERR(MSG_PRELIM_REFUSED) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
		.logs = { { "reason=rejected", 1 } },
	},
	{
		.name = "prelim no account, fail: TRY_AGAIN",
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=account",
		.conv = { ERR(MSG_PRELIM_REFUSED) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
	},
	{
		.name = "prelim secret unusable, fail: TRY_AGAIN",
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=config",
		.conv = { ERR(MSG_PRELIM_CONFIG) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
	},
	{
		.name = "prelim busy, fail: TRY_AGAIN, try again later",
		.conf = "on_error = fail",
		.prelim = "say FAIL reason=busy",
		.conv = { ERR(MSG_PRELIM_BUSY) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
		.logs = { { "reason=busy", 1 } },
	},
	{
		.name = "prelim helper died, fail: TRY_AGAIN",
		.conf = "on_error = fail",
		.prelim = "die",
		.conv = { ERR(MSG_PRELIM_UNREACHABLE) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim died",
		.logs = { { "the helper ended without a valid verdict", 1 } },
	},
	{
		.name = "prelim garbage, fail: TRY_AGAIN",
		.conf = "on_error = fail",
		.prelim = "garbage HELLO state=CHECKED",
		.conv = { ERR(MSG_PRELIM_UNREACHABLE) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim hang",
		.logs = { { "the helper ended without a valid verdict", 1 } },
	},
	{
		.name = "prelim busy, queue: the update phase decides",
		.prelim = "say FAIL reason=busy",
		.update = "say FAIL reason=busy",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only user=alice reason=busy policy=queue", 1 } },
	},
	{
		.name = "prelim unreachable, queue: queued in the update phase",
		.prelim = "say FAIL reason=unreachable",
		.update = "say FAIL reason=unreachable queued=1",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_QUEUED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "prelim garbage, queue: a new helper for the update",
		.prelim = "garbage OK state=NONSENSE",
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim hang start update eof",
	},

	/* --- a broken configuration: ignored in the preliminary phase (the
	 * stack goes on), refused in the update phase, logged once --------- */
	{
		.name = "config missing: IGNORE, then AUTHTOK_ERR, logged once",
		.no_conf = true,
		.conv = { ERR(MSG_MISCONFIGURED) },
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "",
		.logs = { { "event=config_error", 1 } },
	},
	{
		.name = "config unknown key: IGNORE, then AUTHTOK_ERR, logged once",
		.conf = "bogus_key = 1",
		.conv = { ERR(MSG_MISCONFIGURED) },
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "",
		.logs = { { "event=config_error", 1 }, { "key=bogus_key", 1 } },
	},
	{
		.name = "config bad value: IGNORE, then AUTHTOK_ERR, logged once",
		.conf = "on_error = sometimes",
		.conv = { ERR(MSG_MISCONFIGURED) },
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "",
		.logs = { { "event=config_error", 1 }, { "key=on_error", 1 } },
	},

	/* --- module arguments it does not understand: a broken pam.d line is
	 * the administrator's error, PAM_SERVICE_ERR, nothing started ------- */
	{
		.name = "unknown module argument: SERVICE_ERR, no helper",
		.args = "no_such_argument",
		.prelim = CHECKED,
		.prelim_rc = PAM_SERVICE_ERR,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_SERVICE_ERR,
		.helper_saw = "",
		.logs = { { "event=arg_error", 1 }, { "no_such_argument", 1 } },
	},
	{
		.name = "relative config= path: SERVICE_ERR, no helper",
		.args = "config=pam_isc.conf",
		.prelim = CHECKED,
		.prelim_rc = PAM_SERVICE_ERR,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_SERVICE_ERR,
		.helper_saw = "",
		.logs = { { "event=arg_error", 1 }, { "path must be absolute", 1 } },
	},

	/* --- users out of scope: IGNORE, silently, no helper --------------- */
	{
		.name = "below min_uid: IGNORE, no helper",
		.user = "sysuser",
		.args = "debug",
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=min_uid", 2 } },
	},
	{
		.name = "in skip_users: IGNORE, no helper",
		.user = "bob",
		.args = "debug",
		.conf = "skip_users = root, bob",
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=skip_users", 2 } },
	},
	{
		.name = "root (default skip_users, uid 0): IGNORE, no helper",
		.user = "root",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
	},
	{
		.name = "unknown to NSS: IGNORE, no helper",
		.user = "nobody_known",
		.args = "debug",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=unknown_user", 2 } },
	},
	{
		.name = "invalid user name with '/': IGNORE, no helper",
		.user = "../alice",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=invalid_name", 2 } },
	},
	{
		.name = "invalid user name '..': IGNORE, no helper",
		.user = "..",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=invalid_name", 2 } },
	},
	{
		.name = "invalid user name with a control character: IGNORE, no helper",
		.user = "ali\x1b[2Jce",
		.prelim_rc = PAM_IGNORE,
		.update_rc = PAM_IGNORE,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "reason=invalid_name", 2 }, { "\x1b", 0 } },
	},

	/* --- the update phase's verdicts (the preliminary one passed) ------ */
	{
		.name = "update unreachable, queued=1: SUCCESS, will be sent",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable queued=1",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_QUEUED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only", 0 } },
	},
	{
		.name = "update unreachable, queue, not kept: SUCCESS, local only",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only user=alice reason=unreachable policy=queue", 1 } },
	},
	{
		.name = "update unreachable, ignore: SUCCESS, local only",
		.conf = "on_error = ignore",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only user=alice reason=unreachable policy=ignore", 1 } },
	},
	{
		.name = "update unreachable, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only", 0 } },
	},
	{
		.name = "update queued=1 under fail: still AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=unreachable queued=1",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update rejected, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=rejected",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_REJECTED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update rejected, queue: SUCCESS, local only",
		.prelim = CHECKED,
		.update = "say FAIL reason=rejected",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_REFUSED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "event=local_only user=alice reason=rejected policy=queue", 1 } },
	},
	{
		.name = "update no account, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=account",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_REJECTED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update too_long, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=too_long",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_TOO_LONG) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update too_long, queue: SUCCESS, local only",
		.prelim = CHECKED,
		.update = "say FAIL reason=too_long",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_REFUSED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "reason=too_long", 1 } },
	},
	{
		.name = "update FAILED, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=failed state=FAILED",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_FAILED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update FAILED, ignore: SUCCESS, local only",
		.conf = "on_error = ignore",
		.prelim = CHECKED,
		.update = "say FAIL reason=failed state=FAILED",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_REFUSED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
		.logs = { { "reason=failed policy=ignore", 1 } },
	},
	{
		.name = "update config, queue: AUTHTOK_ERR whatever the policy",
		.prelim = CHECKED,
		.update = "say FAIL reason=config",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_MISCONFIGURED) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update busy, fail: AUTHTOK_ERR, try again",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=busy",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_BUSY) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update internal, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "say FAIL reason=internal",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update answered CHECKED: not taken for sent",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = CHECKED,
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "update helper died, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "die",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update died",
		.logs = { { "the helper ended without a valid verdict", 1 } },
	},
	{
		.name = "update helper died, queue: SUCCESS, local only",
		.prelim = CHECKED,
		.update = "die",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update died",
		.logs = { { "event=local_only user=alice reason=internal policy=queue", 1 } },
	},
	{
		.name = "update garbage, fail: AUTHTOK_ERR",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "garbage OK state=IN_PROGRESS request=../../x",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update hang",
		.logs = { { "the helper ended without a valid verdict", 1 } },
	},
	{
		.name = "update verdict cut short (no newline): not accepted",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.update = "sayraw OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update died",
	},
	{
		.name = "update helper silent past timeout: killed, AUTHTOK_ERR",
		.conf = "on_error = fail",
		.timeout = 1,
		.prelim = CHECKED,
		.update = "hang",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim update hang",
		.logs = { { "no answer from the helper within timeout; killed", 1 } },
	},

	{
		.name = "helper gone before the update: a new one serves it",
		.wait_gone = true,
		.prelim = "sayexit OK state=CHECKED",
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim gone start update eof",
		.logs = { { "event=helper_gone user=alice", 1 } },
	},

	/* --- a helper program nobody else may have written, or none ------- */
	{
		.name = "helper writable by group, fail: TRY_AGAIN, never started",
		.helper = "fake_helper_gw",
		.conf = "on_error = fail",
		.prelim = CHECKED,
		.conv = { ERR(MSG_PRELIM_UNREACHABLE) },
		.prelim_rc = PAM_TRY_AGAIN,
		.update_rc = NOT_CALLED,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "",
		.logs = { { "writable by group or others", 1 } },
	},
	{
		.name = "helper through a symbolic link, queue: local only, never started",
		.helper = "fake_helper_link",
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_LOCAL_UNREACHABLE) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "",
		.logs = { { "symbolic link", 2 }, { "event=local_only", 1 } },
	},

	/* --- where the password comes from -------------------------------- */
	{
		.name = "use_authtok: the password pam_matrix set, no prompt of ours",
		.args = "use_authtok",
		.matrix_before = true,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { { PAM_PROMPT_ECHO_OFF, "Old password: ", ANS_OLD },
			  { PAM_PROMPT_ECHO_OFF, "New Password :", ANS_PW },
			  { PAM_PROMPT_ECHO_OFF, "Verify New Password :", ANS_PW },
			  INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "no use_authtok, pam_matrix set the password: taken, no prompt",
		.matrix_before = true,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { { PAM_PROMPT_ECHO_OFF, "Old password: ", ANS_OLD },
			  { PAM_PROMPT_ECHO_OFF, "New Password :", ANS_PW },
			  { PAM_PROMPT_ECHO_OFF, "Verify New Password :", ANS_PW },
			  INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		.helper_saw = "start prelim update eof",
	},
	{
		.name = "use_authtok and no earlier module: no prompt, nothing sent",
		.args = "use_authtok",
		.prelim = CHECKED,
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim eof",
		.logs = { { "step=authtok", 1 } },
	},
	{
		.name = "password longer than PAM_MAX_RESP_SIZE: refused, nothing sent",
		.pw = PW_TOO_LONG,
		.prelim = CHECKED,
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_TOO_LONG) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim eof",
		.logs = { { "password longer than PAM_MAX_RESP_SIZE", 1 } },
	},
	{
		.name = "pam_chauthtok again after a differing retype: a new helper",
		.again = true,
		.first_rc = PAM_TRY_AGAIN,
		.prelim = CHECKED,
		.update = "say OK state=IN_PROGRESS request=abc",
		.conv = { ASK_NEW,
			  { PAM_PROMPT_ECHO_OFF, "Retype new password: ", ANS_OTHER },
			  ERR("Sorry, passwords do not match."),
			  ASK_NEW,
			  ASK_RETYPE,
			  INFO(MSG_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_SUCCESS,
		.chauthtok_rc = PAM_SUCCESS,
		/* the first helper is let go when the second one has answered */
		.helper_saw = "start prelim start prelim eof update eof",
	},
	{
		.name = "empty password: nothing sent",
		.pw = PW_EMPTY,
		.prelim = CHECKED,
		.conv = { ASK_NEW, ASK_RETYPE, ERR(MSG_NOT_SENT) },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_AUTHTOK_ERR,
		.chauthtok_rc = PAM_AUTHTOK_ERR,
		.helper_saw = "start prelim eof",
		.logs = { { "empty password", 1 } },
	},
	{
		.name = "retyped password differs: nothing sent",
		.prelim = CHECKED,
		.conv = { ASK_NEW,
			  { PAM_PROMPT_ECHO_OFF, "Retype new password: ", ANS_OTHER },
			  ERR("Sorry, passwords do not match.") },
		.prelim_rc = PAM_SUCCESS,
		.update_rc = PAM_TRY_AGAIN,
		.chauthtok_rc = PAM_TRY_AGAIN,
		.helper_saw = "start prelim eof",
	},
};

/* --- what this program collects while a row runs ------------------------- */

#define MAX_LOGS 64
static struct {
	int priority;
	char text[1024];
} logs[MAX_LOGS];
static size_t n_logs, n_logs_lost;

/* Every pam_syslog of the modules this program loads lands here, not in
 * syslog (see the comment at the top). */
EXPORT void pam_vsyslog(const pam_handle_t *pamh, int priority, const char *fmt, va_list args)
{
	(void)pamh;
	if (n_logs >= MAX_LOGS) {
		n_logs_lost++;
		return;
	}
	logs[n_logs].priority = priority;
	vsnprintf(logs[n_logs].text, sizeof logs[n_logs].text, fmt, args);
	n_logs++;
}

EXPORT void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pam_vsyslog(pamh, priority, fmt, ap);
	va_end(ap);
}

/* pam_isc's return code per phase, from pam_glue_probe.so. */
static int probe_rc[2];
static int probe_calls[2];

void pam_glue_probe_record(int flags, int rc);
EXPORT void pam_glue_probe_record(int flags, int rc)
{
	int phase = (flags & PAM_PRELIM_CHECK) ? 0 : 1;

	probe_rc[phase] = rc;
	probe_calls[phase]++;
}

/* --- files of a row ------------------------------------------------------- */

static char dir[256];
static char conf_path[300], record_path[300], script_path[300], passdb_path[300];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file, NUL-terminated (empty when absent). */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &size, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

/* --- the conversation ----------------------------------------------------- */

struct conv_state {
	const struct conv_step *script;
	bool wait_gone;
	size_t next;
	const char *pw, *other, *old;
	int messages; /* PAM_ERROR_MSG and PAM_TEXT_INFO received */
	char failure[1024];
	char transcript[4096]; /* styles and texts received; never an answer */
};

static const char *style_name(int style)
{
	switch (style) {
	case PAM_PROMPT_ECHO_OFF:
		return "prompt(echo off)";
	case PAM_PROMPT_ECHO_ON:
		return "prompt(echo on)";
	case PAM_ERROR_MSG:
		return "error message";
	case PAM_TEXT_INFO:
		return "info message";
	case 0:
		return "(end of script)";
	}
	return "other message";
}

/* Does text hold pw, or the start of it? A log line escapes and cuts
 * long values, so the whole password need not be there when a piece of it
 * is: the rows' passwords start with 10 plain ASCII bytes, found as they
 * are in an escaped value too. (Very short ones would match innocent
 * text; the rows' passwords are long but for the empty one.) */
static bool holds(const char *text, const char *pw)
{
	size_t len = pw ? strlen(pw) : 0;

	if (len < 4)
		return false;
	return memmem(text, strlen(text), pw, len < 10 ? len : 10) != NULL;
}

/* A text as it may appear in the test's output: never one that holds a
 * password. */
static const char *shown(const struct conv_state *st, const char *text)
{
	if (!text)
		return "(null)";
	if (holds(text, st->pw) || holds(text, st->other) || holds(text, st->old))
		return "<a text containing a password>";
	return text;
}

static int script_conv(int n, const struct pam_message **msg, struct pam_response **resp,
		       void *data)
{
	struct conv_state *st = data;
	struct pam_response *r;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof *r);
	if (!r)
		return PAM_BUF_ERR;
	/* The person takes a while to type: long enough for a helper that
	 * goes away after the preliminary phase to be gone (3 s at most). */
	for (int tries = 0; st->wait_gone && tries < 300; tries++) {
		char *rec = read_text(record_path);
		bool gone = strstr(rec, "\ngone\n") != NULL;
		free(rec);
		if (gone)
			break;
		usleep(10000);
	}
	st->wait_gone = false;
	for (int i = 0; i < n; i++) {
		const struct conv_step *want = &st->script[st->next];
		int style = msg[i]->msg_style;
		size_t tl = strlen(st->transcript);

		snprintf(st->transcript + tl, sizeof st->transcript - tl, "  %s \"%s\"\n",
			 style_name(style), shown(st, msg[i]->msg));
		if (style == PAM_ERROR_MSG || style == PAM_TEXT_INFO)
			st->messages++;
		if (st->failure[0])
			continue;
		if (want->style != style || !msg[i]->msg || strcmp(want->text, msg[i]->msg) != 0) {
			snprintf(st->failure, sizeof st->failure,
				 "conversation step %zu: expected %s \"%s\", got %s \"%s\"",
				 st->next + 1, style_name(want->style),
				 want->text ? want->text : "", style_name(style),
				 shown(st, msg[i]->msg));
			continue;
		}
		st->next++;
		if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
			const char *a = want->answer == ANS_PW      ? st->pw
					: want->answer == ANS_OTHER ? st->other
					: want->answer == ANS_OLD   ? st->old
								    : "";
			r[i].resp = strdup(a);
		}
	}
	if (st->failure[0]) {
		for (int i = 0; i < n; i++)
			if (r[i].resp) {
				explicit_bzero(r[i].resp, strlen(r[i].resp));
				free(r[i].resp);
			}
		free(r);
		return PAM_CONV_ERR;
	}
	*resp = r;
	return PAM_SUCCESS;
}

static bool key_given(const char *conf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = conf; p && *p;) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '='))
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static void write_config(const struct glue_case *c)
{
	char text[4096], line[512];
	int timeout = c->timeout ? c->timeout : DEFAULT_TIMEOUT;
	const char *defaults[][2] = {
		{ "api_url", "https://isc.invalid" },
		{ "client_id", "glue-test" },
		{ "client_secret_file", NULL }, /* in dir */
		{ "source_name", "Linux Hosts" },
		{ "runtime_dir", NULL },
		{ "state_dir", NULL },
		{ "helper_linger", "0" },
		{ "timeout", NULL },
		{ "min_uid", "1000" },
		{ "skip_users", "root" },
	};

	snprintf(text, sizeof text, "# written by tests/test_pam_glue\n");
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		const char *key = defaults[i][0], *value = defaults[i][1];
		char buf[300];

		if (key_given(c->conf, key))
			continue;
		if (strcmp(key, "client_secret_file") == 0)
			snprintf(buf, sizeof buf, "%s/secret", dir);
		else if (strcmp(key, "runtime_dir") == 0)
			snprintf(buf, sizeof buf, "%s/run", dir);
		else if (strcmp(key, "state_dir") == 0)
			snprintf(buf, sizeof buf, "%s/state", dir);
		else if (strcmp(key, "timeout") == 0)
			snprintf(buf, sizeof buf, "%d", timeout);
		else
			snprintf(buf, sizeof buf, "%s", value);
		snprintf(line, sizeof line, "%s = %s\n", key, buf);
		strncat(text, line, sizeof text - strlen(text) - 1);
	}
	if (c->conf) {
		strncat(text, c->conf, sizeof text - strlen(text) - 1);
		strncat(text, "\n", sizeof text - strlen(text) - 1);
	}
	write_file(conf_path, text, 0600);
}

/* The pam.d service of row i, "glue<i>". pam_wrapper copies the service
 * directory when the program starts, so the parent writes them all. */
static void service_name(size_t i, char *out, size_t size)
{
	snprintf(out, size, "%s%02zu", SERVICE, i);
}

static int write_service(size_t i, const char *probe, const char *module, const char *matrix)
{
	const struct glue_case *c = &cases[i];
	char text[4096], path[512], name[32];
	int len = 0, fd;

	if (c->matrix_before)
		len += snprintf(text + len, sizeof text - (size_t)len,
				"password required %s passdb=%s\n", matrix, passdb_path);
	len += snprintf(
		text + len, sizeof text - (size_t)len,
		"password required %s %s config=%s%s helper=%s/%s%s%s\n"
		"password required pam_permit.so\n",
		probe, module, c->no_conf ? dir : conf_path, c->no_conf ? "/missing.conf" : "", dir,
		c->helper ? c->helper : "fake_helper", c->args ? " " : "", c->args ? c->args : "");
	if (len <= 0 || (size_t)len >= sizeof text)
		return -1;
	service_name(i, name, sizeof name);
	snprintf(path, sizeof path, "%s/pam.d/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void write_script(const struct glue_case *c)
{
	char text[2048];

	snprintf(text, sizeof text, "%s%s%s%s%s%s", c->prelim ? "prelim " : "",
		 c->prelim ? c->prelim : "", c->prelim ? "\n" : "", c->update ? "update " : "",
		 c->update ? c->update : "", c->update ? "\n" : "");
	write_file(script_path, text, 0600);
}

/* --- checks --------------------------------------------------------------- */

static const char *rc_name(int rc)
{
	static char other[32];

	switch (rc) {
	case NOT_CALLED:
		return "not called";
	case PAM_SUCCESS:
		return "PAM_SUCCESS";
	case PAM_IGNORE:
		return "PAM_IGNORE";
	case PAM_TRY_AGAIN:
		return "PAM_TRY_AGAIN";
	case PAM_AUTHTOK_ERR:
		return "PAM_AUTHTOK_ERR";
	case PAM_SERVICE_ERR:
		return "PAM_SERVICE_ERR";
	case PAM_USER_UNKNOWN:
		return "PAM_USER_UNKNOWN";
	case PAM_CONV_ERR:
		return "PAM_CONV_ERR";
	case PAM_BUF_ERR:
		return "PAM_BUF_ERR";
	case PAM_PERM_DENIED:
		return "PAM_PERM_DENIED";
	case PAM_AUTHTOK_RECOVERY_ERR:
		return "PAM_AUTHTOK_RECOVERY_ERR";
	}
	snprintf(other, sizeof other, "PAM code %d", rc);
	return other;
}

static void show_logs(const struct conv_state *st)
{
	for (size_t i = 0; i < n_logs; i++)
		print_message("    log <%d> %s\n", logs[i].priority, shown(st, logs[i].text));
}

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			print_error("[%s] ", c->name);                       \
			print_error(__VA_ARGS__);                            \
			print_error("\n  conversation:\n%s", st.transcript); \
			show_logs(&st);                                      \
			fail();                                              \
		}                                                            \
	} while (0)

/* The value of " key=" in a record line, up to the next blank. */
static bool field(const char *line, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	n = strcspn(p, " \n");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void run_case(void **state)
{
	const struct glue_case *c = *state;
	const char *user = c->user ? c->user : "alice";
	char pw[PAM_MAX_RESP_SIZE + 2], summary[256] = "", value[4200], *record, *line, *save;
	const char *old = "Glue-old-Passwort-0";
	const char *other = "Glue-other-password-9";
	char service[32];
	int timeout = c->timeout ? c->timeout : DEFAULT_TIMEOUT;
	bool debug = c->args && strstr(c->args, "debug");
	struct conv_state st = {
		.script = c->conv, .wait_gone = c->wait_gone, .other = other, .old = old
	};
	struct pam_testcase tests[] = {
		pam_test_flags(PAMTEST_CHAUTHTOK, c->again ? c->first_rc : c->chauthtok_rc,
			       c->flags),
		pam_test_flags(PAMTEST_CHAUTHTOK, c->chauthtok_rc, c->flags),
	};
	size_t n_tests = c->again ? 2 : 1;
	enum pamtest_err perr;

	switch (c->pw) {
	case PW_NORMAL:
		snprintf(pw, sizeof pw, "%s", "Glue-new-P\xc3\xa4sswort 1");
		break;
	case PW_EMPTY:
		pw[0] = '\0';
		break;
	case PW_MAX:
	case PW_TOO_LONG: {
		size_t len = c->pw == PW_MAX ? PAM_MAX_RESP_SIZE : PAM_MAX_RESP_SIZE + 1;
		for (size_t i = 0; i < len; i++)
			pw[i] = (char)('a' + i % 26);
		pw[len] = '\0';
		break;
	}
	}
	st.pw = pw;

	/* A clean slate: nothing of the previous row. */
	unlink(record_path);
	unlink(passdb_path);
	unlink(conf_path);
	memset(logs, 0, sizeof logs);
	n_logs = n_logs_lost = 0;
	probe_rc[0] = probe_rc[1] = NOT_CALLED;
	probe_calls[0] = probe_calls[1] = 0;

	if (!c->no_conf)
		write_config(c);
	write_script(c);
	if (c->matrix_before) {
		char db[256];
		/* pam_matrix's database: the old password, which it checks in
		 * the preliminary phase (a test file in our 0700 directory). */
		snprintf(db, sizeof db, "%s:%s:%s\n", user, old, service);
		write_file(passdb_path, db, 0600);
		explicit_bzero(db, sizeof db);
	}

	service_name((size_t)(c - cases), service, sizeof service);
	perr = _pamtest_conv(service, user, script_conv, &st, tests, n_tests, NULL);

	CHECK(perr == PAMTEST_ERR_OK || perr == PAMTEST_ERR_CASE, "libpamtest: %s",
	      pamtest_strerror(perr));
	CHECK(st.failure[0] == '\0', "%s", st.failure);
	CHECK(c->conv[st.next].style == 0,
	      "the conversation ended before step %zu: %s \"%s\" never came", st.next + 1,
	      style_name(c->conv[st.next].style), c->conv[st.next].text);
	if (c->flags & PAM_SILENT)
		CHECK(st.messages == 0, "PAM_SILENT, yet %d message(s) reached the person",
		      st.messages);
	CHECK(probe_calls[0] <= (int)n_tests && probe_calls[1] <= (int)n_tests,
	      "a phase ran more than once per pam_chauthtok");
	if (c->again)
		CHECK(tests[0].op_rv == c->first_rc, "first pam_chauthtok: expected %s, got %s",
		      rc_name(c->first_rc), rc_name(tests[0].op_rv));
	CHECK(probe_rc[0] == c->prelim_rc, "preliminary phase: expected %s, got %s",
	      rc_name(c->prelim_rc), rc_name(probe_rc[0]));
	CHECK(probe_rc[1] == c->update_rc, "update phase: expected %s, got %s",
	      rc_name(c->update_rc), rc_name(probe_rc[1]));
	CHECK(tests[n_tests - 1].op_rv == c->chauthtok_rc, "pam_chauthtok: expected %s, got %s",
	      rc_name(c->chauthtok_rc), rc_name(tests[n_tests - 1].op_rv));
	CHECK(n_logs_lost == 0, "more than %d log lines", MAX_LOGS);

	/* What the fake helpers saw, and how they were started. */
	record = read_text(record_path);
	CHECK(strcmp(shown(&st, record), record) == 0, "the fake helper's record holds a password");
	for (line = strtok_r(record, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char word[32];
		size_t wl = strcspn(line, " ");

		snprintf(word, sizeof word, "%.*s", (int)(wl < 31 ? wl : 31), line);
		if (strcmp(word, "request") == 0) {
			long long left;
			unsigned long len;
			bool prelim;

			CHECK(field(line, "phase", value, sizeof value), "record: %s", line);
			prelim = strcmp(value, "prelim") == 0;
			strncat(summary, summary[0] ? " " : "",
				sizeof summary - strlen(summary) - 1);
			strncat(summary, value, sizeof summary - strlen(summary) - 1);
			CHECK(field(line, "user", value, sizeof value) && strcmp(value, user) == 0,
			      "request for another user: %s", line);
			CHECK(field(line, "service", value, sizeof value) &&
				      strcmp(value, service) == 0,
			      "request with another service: %s", line);
			CHECK(field(line, "config", value, sizeof value) &&
				      strcmp(value, conf_path) == 0,
			      "request with another config: %s", line);
			CHECK(field(line, "debug", value, sizeof value) &&
				      strcmp(value, debug ? "1" : "0") == 0,
			      "request with debug=%s: %s", value, line);
			CHECK(field(line, "caller", value, sizeof value) &&
				      strtoul(value, NULL, 10) == (unsigned long)getuid(),
			      "request with another caller uid: %s", line);
			CHECK(field(line, "deadline_left", value, sizeof value), "record: %s",
			      line);
			left = strtoll(value, NULL, 10);
			/* At most timeout ahead of when the helper read it; a
			 * loaded machine may take a while to start the helper,
			 * hence the slack below zero. */
			CHECK(left > -10000 && left <= timeout * 1000LL,
			      "deadline %lld ms ahead, timeout is %d s", left, timeout);
			CHECK(field(line, "authtok_len", value, sizeof value), "record: %s", line);
			len = strtoul(value, NULL, 10);
			if (prelim) {
				CHECK(len == 0, "a password in the preliminary request");
			} else {
				char want[32];
				snprintf(want, sizeof want, "%016llx",
					 fake_helper_hash(pw, strlen(pw)));
				CHECK(len == strlen(pw),
				      "update request: a password of %lu bytes, not %zu", len,
				      strlen(pw));
				CHECK(field(line, "authtok_hash", value, sizeof value) &&
					      strcmp(value, want) == 0,
				      "update request: another password than the row's");
			}
			continue;
		}
		if (strcmp(word, "start") == 0)
			CHECK(strcmp(line,
				     "start argv1=chauthtok env=PATH fds=0,1,2,3 stdin=socket "
				     "stderr=null") == 0,
			      "helper started otherwise: %s", line);
		strncat(summary, summary[0] ? " " : "", sizeof summary - strlen(summary) - 1);
		strncat(summary, word, sizeof summary - strlen(summary) - 1);
	}
	free(record);
	CHECK(strcmp(summary, c->helper_saw) == 0, "the fake helper saw \"%s\", expected \"%s\"",
	      summary, c->helper_saw);

	/* Log lines: the row's, and never a password. */
	for (size_t i = 0; i < n_logs; i++)
		CHECK(strcmp(shown(&st, logs[i].text), logs[i].text) == 0,
		      "a log line holds a password");
	for (size_t k = 0; k < sizeof c->logs / sizeof c->logs[0] && c->logs[k].text; k++) {
		int times = 0;
		for (size_t i = 0; i < n_logs; i++)
			if (strstr(logs[i].text, c->logs[k].text))
				times++;
		CHECK(times == c->logs[k].times, "log lines with \"%s\": %d, expected %d",
		      c->logs[k].text, times, c->logs[k].times);
	}
	explicit_bzero(pw, sizeof pw);
}

/* --- setup: the child under pam_wrapper, the parent around it ------------- */

static void set_paths(const char *d)
{
	snprintf(dir, sizeof dir, "%s", d);
	snprintf(conf_path, sizeof conf_path, "%s/pam_isc.conf", dir);
	snprintf(record_path, sizeof record_path, "%s/%s", dir, FAKE_HELPER_RECORD);
	snprintf(script_path, sizeof script_path, "%s/%s", dir, FAKE_HELPER_SCRIPT);
	snprintf(passdb_path, sizeof passdb_path, "%s/passdb", dir);
}

static int run_rows(void)
{
	struct CMUnitTest tests[sizeof cases / sizeof cases[0]];

	set_paths(getenv(ENV_DIR));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		tests[i] = (struct CMUnitTest){
			.name = cases[i].name,
			.test_func = run_case,
			.initial_state = (void *)&cases[i],
		};
	return _cmocka_run_group_tests("pam_glue", tests, sizeof tests / sizeof tests[0], NULL,
				       NULL);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (fchmod(out, mode) < 0)
		n = -1;
	if (close(out) < 0)
		n = -1;
	return n < 0 ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && v[0] ? v : fallback;
}

/* Trim blanks around a pkg-config answer (the build passes them as is). */
static void trimmed(const char *in, char *out, size_t size)
{
	size_t len;

	while (*in == ' ' || *in == '\t')
		in++;
	snprintf(out, size, "%s", in);
	len = strlen(out);
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t' || out[len - 1] == '\n'))
		out[--len] = '\0';
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/pam_isc_glue.XXXXXX", path[512], module[512], probe[512], fake[512],
	     matrix[512], mods[256], pam_wrapper[512], nss_wrapper[512], preload[2048], lock[512];
	const char *builddir, *extra_preload;
	int lockfd, status;
	pid_t pid;

	(void)argc;
	if (getenv(ENV_DIR))
		return run_rows();

	builddir = env_or("top_builddir", GLUE_BUILDDIR);
	trimmed(env_or("PAM_WRAPPER_LIB", GLUE_PAM_WRAPPER_LIB), pam_wrapper, sizeof pam_wrapper);
	trimmed(env_or("NSS_WRAPPER_LIB", GLUE_NSS_WRAPPER_LIB), nss_wrapper, sizeof nss_wrapper);
	trimmed(env_or("PAM_WRAPPER_MODULES", GLUE_PAM_WRAPPER_MODULES), mods, sizeof mods);
	snprintf(matrix, sizeof matrix, "%s/pam_matrix.so", mods);
	snprintf(module, sizeof module, "%s/.libs/pam_isc.so", builddir);
	snprintf(probe, sizeof probe, "%s/tests/.libs/pam_glue_probe.so", builddir);
	snprintf(fake, sizeof fake, "%s/tests/fake_helper", builddir);
	{
		const char *need[] = { module, probe, fake, pam_wrapper, nss_wrapper, matrix };
		for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
			if (access(need[i], R_OK) != 0) {
				fprintf(stderr, "test_pam_glue: %s: %s\n",
					need[i][0] ? need[i] : "(empty path)", strerror(errno));
				return 99;
			}
	}
	if (module[0] != '/' || probe[0] != '/') {
		fprintf(stderr, "test_pam_glue: top_builddir must be absolute (%s)\n", builddir);
		return 99;
	}

	/* The 0700 directory under /tmp (sticky): helper_link.c trusts the
	 * fake helper there. */
	if (!mkdtemp(tmp)) {
		perror("test_pam_glue: mkdtemp");
		return 99;
	}
	snprintf(path, sizeof path, "%s/fake_helper", tmp);
	status = copy_file(fake, path, 0755);
	/* Two that helper_link.c must refuse to start: a copy others may
	 * write, and a symbolic link to the good one. */
	snprintf(path, sizeof path, "%s/fake_helper_gw", tmp);
	if (status == 0)
		status = copy_file(fake, path, 0775);
	snprintf(path, sizeof path, "%s/fake_helper_link", tmp);
	if (status == 0)
		status = symlink("fake_helper", path);
	snprintf(path, sizeof path, "%s/pam.d", tmp);
	if (status == 0)
		status = mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/secret", tmp);
	if (status == 0) {
		FILE *f = fopen(path, "wx");
		status = f && fputs("glue-test-secret\n", f) >= 0 && fclose(f) == 0 ? 0 : -1;
		if (status == 0)
			status = chmod(path, 0600);
	}
	snprintf(path, sizeof path, "%s/passwd", tmp);
	if (status == 0) {
		FILE *f = fopen(path, "wx");
		status = f &&
					 fprintf(f,
						 "alice:x:1001:1001:alice:/nonexistent:/bin/sh\n"
						 "bob:x:1002:1002:bob:/nonexistent:/bin/sh\n"
						 "sysuser:x:999:999:sysuser:/nonexistent:/bin/sh\n"
						 "root:x:0:0:root:/root:/bin/sh\n") > 0 &&
					 fclose(f) == 0
				 ? 0
				 : -1;
	}
	snprintf(path, sizeof path, "%s/group", tmp);
	if (status == 0) {
		FILE *f = fopen(path, "wx");
		status =
			f && fprintf(f, "alice:x:1001:\nbob:x:1002:\nsysuser:x:999:\nroot:x:0:\n") > 0 &&
					fclose(f) == 0
				? 0
				: -1;
	}
	/* libpam reads "other" whenever it starts a service: one that denies,
	 * so that nothing is logged about its absence. */
	snprintf(path, sizeof path, "%s/pam.d/other", tmp);
	if (status == 0) {
		FILE *f = fopen(path, "wx");
		status = f && fputs("password required pam_deny.so\n", f) >= 0 && fclose(f) == 0
				 ? 0
				 : -1;
	}
	set_paths(tmp);
	for (size_t i = 0; status == 0 && i < sizeof cases / sizeof cases[0]; i++)
		status = write_service(i, probe, module, matrix);
	if (status != 0) {
		perror("test_pam_glue: setting up the temp dir");
		nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 99;
	}

	/* pam_wrapper copies libpam into /tmp/pam.X, a name it picks without
	 * locking: one user of pam_wrapper at a time across the test suite
	 * (the same lock as tests/lib.sh's). */
	snprintf(lock, sizeof lock, "%s/pam_isc-tests.pam_wrapper.lock", env_or("TMPDIR", "/tmp"));
	lockfd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0)
		fprintf(stderr, "test_pam_glue: %s: %s (going on without the lock)\n", lock,
			strerror(errno));
	else if (flock(lockfd, LOCK_EX) < 0) {
		perror("test_pam_glue: pam_wrapper lock");
		nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 99;
	}

	/* A sanitizer runtime of an instrumented build must come first. */
	extra_preload = env_or("ISC_TEST_PAMTESTER_PRELOAD", "");
	snprintf(preload, sizeof preload, "%s%s%s %s", extra_preload, extra_preload[0] ? " " : "",
		 pam_wrapper, nss_wrapper);
	pid = fork();
	if (pid == 0) {
		snprintf(path, sizeof path, "%s/pam.d", tmp);
		setenv("PAM_WRAPPER", "1", 1);
		setenv("PAM_WRAPPER_SERVICE_DIR", path, 1);
		snprintf(path, sizeof path, "%s/passwd", tmp);
		setenv("NSS_WRAPPER_PASSWD", path, 1);
		snprintf(path, sizeof path, "%s/group", tmp);
		setenv("NSS_WRAPPER_GROUP", path, 1);
		setenv("LD_PRELOAD", preload, 1);
		setenv(ENV_DIR, tmp, 1);
		execv("/proc/self/exe", argv);
		perror("test_pam_glue: re-executing under pam_wrapper");
		_exit(99);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	if (lockfd >= 0)
		close(lockfd);
	if (nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "test_pam_glue: could not remove %s\n", tmp);
	if (status == -1)
		return 99;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "test_pam_glue: killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status);
}
