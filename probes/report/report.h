/* report.h - what a session found: steps, perfdata, facts and the overall
 * state.  Filled by the session runner, rendered by output.c.  Everything
 * in a report is already sanitized (no control bytes, no '|') and holds no
 * secrets, so renderers may print any field as is (JSON still escapes).
 *
 * Every function here is NULL-safe where it takes a struct step * (so the
 * NULL from a full step table needs no check) and silently drops what does
 * not fit (a full table, an over-long text cut with "...").
 *
 * The printf-style functions format with the process locale: %f would
 * print a decimal comma after setlocale(LC_ALL, "") in such a locale, so
 * put numbers in values and perfdata (rendered in the C locale), or keep
 * the process in the C locale. */
#ifndef CIS_REPORT_H
#define CIS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "report/thresholds.h"

#define REPORT_MAX_STEPS 160
#define REPORT_MAX_PERF   64
#define REPORT_MAX_INFO   32
#define REPORT_MAX_LINES  64
#define STEP_MAX_VALUES    8

enum step_outcome {
	STEP_OK = 0,
	STEP_FAILED,     /* server said no, protocol error, verify failure... */
	STEP_TIMEOUT,    /* the session deadline ran out inside this step */
	STEP_SKIPPED,    /* not needed (e.g. capability already known) */
};

struct step_value {
	char key[24];
	double value;
	char uom[4];
};

struct step {
	char name[32];          /* perfdata label, e.g. "connect", "auth" */
	int outcome;            /* enum step_outcome */
	int state;              /* STATE_* this step contributes */
	int64_t start_ns;       /* CLOCK_MONOTONIC */
	int64_t dur_ns;
	char msg[512];          /* short, sanitized: what it saw or why it failed */
	unsigned nvals;
	struct step_value vals[STEP_MAX_VALUES];
};

struct perf {
	char label[32];
	double value;
	char uom[4];            /* "s", "B", "%", "" */
	int decimals;           /* digits after the point */
	struct thresholds th;   /* warn/crit printed as given */
	int has_min, has_max;
	double min, max;
};

struct info {
	char key[32];           /* "tls_version", "mechanism", ... */
	char value[256];
};

struct report {
	int state;              /* overall STATE_* */
	int failed;             /* report_fail() was called */
	char summary[1024];     /* status-line text after "IMAP STATE - " */
	char failed_step[32];   /* name of the step that failed, or "" */
	double timeout_s;       /* max for duration perfdata */
	int64_t start_ns, total_ns;

	unsigned nsteps;
	struct step steps[REPORT_MAX_STEPS];
	unsigned nperf;
	struct perf perf[REPORT_MAX_PERF];
	unsigned ninfo;
	struct info info[REPORT_MAX_INFO];
	unsigned nlines;
	char lines[REPORT_MAX_LINES][256]; /* extra long-output lines */
};

/* Zero everything, state OK.  The runner sets start_ns when the session
 * starts (the report reads no clock: every time comes from the caller). */
void report_init(struct report *r, double timeout_s);
/* Stamp total_ns = now_ns - start_ns (call once the session is over). */
void report_finish(struct report *r, int64_t now_ns);

/* Start a step at now_ns (CLOCK_MONOTONIC): outcome STEP_OK, state OK,
 * empty message; returns NULL only when the table is full (then the step
 * is silently not recorded).  The name is sanitized and cut to fit. */
struct step *report_step_begin(struct report *r, const char *name, int64_t now_ns);
/* Finish a step at now_ns: its duration, outcome/state and a message
 * (printf-style; the result is sanitized). */
void report_step_end(struct step *s, int64_t now_ns, int outcome, int state, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Add or replace (by key) a measured value; dropped when the step already
 * has STEP_MAX_VALUES.  uom may be NULL. */
void step_value(struct step *s, const char *key, double value, const char *uom);
/* Look up a step by name (the most recent one if the name repeats); NULL if
 * none. */
struct step *report_find_step(struct report *r, const char *name);

/* Add (or replace, by label) a perfdata item; th may be NULL.  The label is
 * sanitized, '=' becomes '_' (perfdata syntax); uom keeps only letters and
 * '%' (3 at most); decimals are clamped to 0..9.  A uom of "s" gets min 0
 * and max timeout_s (when > 0); change them through the returned pointer.
 * Returns NULL when the label is empty or the table is full. */
struct perf *report_perf(struct report *r, const char *label, double value, const char *uom,
			 int decimals, const struct thresholds *th);
/* Add or replace a fact; key and value are sanitized. */
void report_info(struct report *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *report_get_info(const struct report *r, const char *key);
/* Append an extra long-output line (sanitized).  When the table fills up,
 * the last line becomes "(more lines omitted)". */
void report_line(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Raise the overall state to at least `state` (state_worst). */
void report_raise(struct report *r, int state);
/* Record a failure: raises the state, and unless a failure was already
 * recorded (the first one names the problem), sets failed, names the step
 * (NULL: none) and sets the summary (sanitized). */
void report_fail(struct report *r, int state, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Set the summary (sanitized) unless a failure was recorded: for the
 * success text, e.g. "INBOX: 12 messages, 3 unseen". */
void report_set_summary(struct report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
