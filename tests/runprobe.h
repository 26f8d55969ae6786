/* runprobe.h - run the real check_imap_session binary from a test and
 * capture what it did.  The binary is $PROBE (set by the test harness) or
 * TOP_BUILDDIR/check_imap_session. */
#ifndef CIS_TEST_RUNPROBE_H
#define CIS_TEST_RUNPROBE_H

#include <stddef.h>

struct probe_run {
	int exit_code;       /* 0..3 as the plugin returned; -1 if it died */
	int signal;          /* terminating signal, 0 if none */
	double wall_s;       /* wall time */
	long maxrss_kb;      /* peak RSS from wait4 */
	char *out;           /* stdout, NUL-terminated (malloc'd) */
	size_t out_len;
	char *err;           /* stderr, NUL-terminated (malloc'd) */
	size_t err_len;
	char first_line[2048];
};

/* Run the probe with the NULL-terminated argument list (argv[0] is added)
 * and optional extra environment entries ("NAME=value", NULL-terminated,
 * may be NULL).  Kills it after hard_timeout_s (a test failure in itself).
 * Returns 0, or -1 if it could not be started. */
int probe_run(struct probe_run *r, double hard_timeout_s, const char *const *env, const char *const *argv);
/* Convenience: varargs list ending with NULL. */
int probe_runl(struct probe_run *r, const char *arg0, ...);
void probe_run_free(struct probe_run *r);

/* Value of an environment variable set by the Dovecot fixture (e.g.
 * "DOVECOT_IMAP_PORT"); aborts the test with a clear message if unset. */
const char *fixture_env(const char *name);

#endif
