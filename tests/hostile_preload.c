/* SPDX-License-Identifier: MIT */
/* hostile_preload: a harmless LD_PRELOAD library that says where it got
 * loaded. tests/integration/env_hostile.sh puts it into the LD_PRELOAD of
 * the process that calls the PAM stack: it must show up there (pamtester)
 * and never in pam_isc_helper, which gets a clean environment. It reports
 * through syslog, which the tests capture whatever environment a process
 * has. */
#include <errno.h>
#include <syslog.h>

__attribute__((constructor)) static void hostile_preload_loaded(void)
{
	syslog(LOG_AUTHPRIV | LOG_WARNING, "hostile_preload: loaded into %s",
	       program_invocation_short_name);
	closelog();
}
