/* runprobe.h - run the real check_imap_session binary from a test and
 * capture what it did.  The binary is $PROBE (set by the test harness) or
 * TOP_BUILDDIR/check_imap_session.  struct cmd builds a command line,
 * runs it and checks what came out (state, summary, output, perfdata). */
#ifndef CIS_TEST_RUNPROBE_H
#define CIS_TEST_RUNPROBE_H

#include <stdarg.h>
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

/* Run the probe against 127.0.0.1:PORT (a fake server): -H 127.0.0.1 -p
 * PORT, then the NULL-terminated FIXED arguments (may be NULL), then the
 * NULL-terminated EXTRA ones (may be NULL); killed after hard_s.  The
 * probe must start. */
void probe_run_local(struct probe_run *r, double hard_s, const char *port, const char *const *fixed,
                     const char *const *extra);

/* R did not die of a signal, exited CODE, and its first line starts with
 * "IMAP <STATE> - ".  DIAG (what happened) ends every message. */
void probe_expect_state(const struct probe_run *r, int code, const char *diag);
/* Every needle in AP (up to NULL) is in R's summary, the first line after
 * "IMAP <STATE> - " up to the perfdata; icase: ignoring case. */
void probe_expect_summary_va(const struct probe_run *r, int icase, const char *diag, va_list ap);
/* Nothing on stderr (unless CIS_TEST_ALLOW_STDERR is set: a wrapper such
 * as valgrind writes there). */
void probe_expect_no_stderr(const struct probe_run *r, const char *diag);

/* Value of an environment variable set by the Dovecot fixture (e.g.
 * "DOVECOT_IMAP_PORT"); aborts the test with a clear message if unset. */
const char *fixture_env(const char *name);
/* A fresh fixture user (`fixture.sh adduser`, name t-TAG-PID-N into buf)
 * with password PASS and the standard seeded mailbox. */
const char *fixture_adduser(char *buf, size_t bufsz, const char *tag, const char *pass);
/* A new file in the fixture's state directory holding TEXT; its path
 * (cis-TAG-XXXXXX) into path. */
const char *fixture_file(char *path, size_t pathsz, const char *tag, const char *text);

/* ---------------------------------------------------------------- probe commands */

/* A command line for the probe, its environment and what the run did. */
struct cmd {
	const char *argv[96];
	int argc;
	const char *env[16]; /* extra "NAME=value" entries */
	int envc;
	char arena[16384];
	size_t used;
	char line[4096]; /* printable command line, for messages */
	struct probe_run r;
	int ran;
};

/* Every message names the command and the probe's whole output. */
#define DUMP_FMT "\ncommand: %s\n--- stdout:\n%s\n--- stderr:\n%s"
#define DUMP_ARGS(c) (c)->line, (c)->r.out, (c)->r.err

struct cmd *cmd_new(void);
void cmd_free(struct cmd *c);
void cmd_add(struct cmd *c, const char *arg);
/* Every argument up to NULL. */
void cmd_addl(struct cmd *c, ...) __attribute__((sentinel));
void cmd_addf(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Extra environment for the probe, "NAME=value". */
void cmd_env(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The connection to the Dovecot fixture: -H $DOVECOT_HOST -p PORT (NULL:
 * the fixture's port for the mode), and --ssl or --starttls with --cafile
 * $DOVECOT_CA. */
enum fixture_mode { FIXTURE_PLAIN, FIXTURE_STARTTLS, FIXTURE_IMPLICIT };
void cmd_fixture_conn(struct cmd *c, enum fixture_mode m, const char *port);
/* -U $USER_VAR --password-env PASS_VAR: the password is never in argv. */
void cmd_fixture_user(struct cmd *c, const char *user_var, const char *pass_var);
/* Run the command (again), killing it after hard_s; it must start and not
 * die of a signal. */
void cmd_run_for(struct cmd *c, double hard_s);

/* Exit code and "IMAP <STATE> - " at the start of the first line agree. */
void cmd_expect_state(struct cmd *c, int state);
/* The summary: the first line after "IMAP <STATE> - ", up to the perfdata. */
void cmd_summary(struct cmd *c, char *out, size_t outsz);
/* The summary contains TEXT (_i: ignoring case). */
void cmd_expect_summary(struct cmd *c, const char *text);
void cmd_expect_summary_i(struct cmd *c, const char *text);
/* stdout contains (lacks) TEXT. */
void cmd_expect_out(struct cmd *c, const char *text);
void cmd_expect_no_out(struct cmd *c, const char *text);

/* The perfdata value field of LABEL in the first line (tu_perf_field). */
int cmd_perf_field(struct cmd *c, const char *label, char *out, size_t outsz);
int cmd_perf_has(struct cmd *c, const char *label);
void cmd_expect_perf(struct cmd *c, const char *label);
void cmd_expect_no_perf(struct cmd *c, const char *label);
/* The numeric value of LABEL (it must be there and be a number), its unit
 * into uom (may be NULL). */
double cmd_perf_value(struct cmd *c, const char *label, char *uom, size_t uomsz);
/* Field INDEX (1 warn, 2 crit, 3 min, 4 max) of LABEL ("" if empty). */
void cmd_perf_part(struct cmd *c, const char *label, int index, char *out, size_t outsz);

#endif
