/* SPDX-License-Identifier: MIT */
/* pam_glue_probe.h: how tests/pam_glue_probe.so reports each phase's
 * return code to tests/test_pam_glue (see pam_glue_probe.c). */
#ifndef PAM_ISC_TEST_PAM_GLUE_PROBE_H
#define PAM_ISC_TEST_PAM_GLUE_PROBE_H

/* Exported by the test program; flags as pam_sm_chauthtok got them. */
#define PAM_GLUE_PROBE_RECORD "pam_glue_probe_record"
typedef void (*pam_glue_probe_record_fn)(int flags, int rc);

#endif
