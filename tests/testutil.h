/* testutil.h - helpers shared by the test programs: time bounds, state
 * words, value lookups, base64, UTF-8, Prometheus text checks, files and
 * subprocesses, JSON through python3.  (Running the probe and building its
 * command line: runprobe.h; a probe run against the fake server:
 * fakeserver.h.)  Everything but cis_time_factor() is in testutil.c, which
 * a test program using it lists in its _SOURCES (every program with
 * runprobe.c does).
 *
 * cis_time_factor(): wall-time bounds in tests are written for a normal
 * build on an idle machine.  Under valgrind (tools/valgrind.sh) or the
 * sanitizers (tools/sanitize.sh) the probe starts up to a second later and
 * runs several times slower, so those scripts set CIS_TEST_TIME_FACTOR and
 * every test multiplies its upper wall-time bounds (and hard kill limits)
 * by this factor.  Lower bounds ("took at least N s", e.g. a timeout that
 * must not fire early) stay as they are. */
#ifndef CIS_TEST_TESTUTIL_H
#define CIS_TEST_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

/* CIS_TEST_TIME_FACTOR as a number >= 1 (default and anything invalid: 1). */
static inline double cis_time_factor(void)
{
	const char *e = getenv("CIS_TEST_TIME_FACTOR");
	char *end;
	double f;

	if (!e || !*e)
		return 1.0;
	f = strtod(e, &end);
	return (*end == '\0' && f >= 1.0 && f <= 1000.0) ? f : 1.0;
}

/* ---------------------------------------------------------------- basics */

/* The plugin's state words, indexed by exit code 0..3. */
extern const char *const tu_state_name[4];

/* CLOCK_MONOTONIC in seconds. */
double tu_now_s(void);

/* Occurrences of NEEDLE in HAY (not overlapping). */
int tu_count(const char *hay, const char *needle);

/* Nagios perfdata in LINE (after its '|'): the value field of LABEL
 * ("0.0012s;1;2;0;10") into out; 0 if absent. */
int tu_perf_field(const char *line, const char *label, char *out, size_t outsz);

/* What follows PRE NAME POST in TEXT, up to the first character of STOP,
 * into out ("" if the key is absent). */
void tu_find_value(const char *text, const char *pre, const char *name, const char *post, const char *stop,
                   char *out, size_t len);

/* The arguments in AP up to NULL into out[] (at most max - 1 of them),
 * NULL-terminated; returns how many. */
size_t tu_va_args(const char **out, size_t max, va_list ap);

/* Base64 of IN (with padding) into OUT, which holds 4 * ((n + 2) / 3) + 1
 * bytes; returns the length written.  tu_b64_dup: the same, malloc'd. */
size_t tu_b64(const void *in, size_t n, char *out);
char *tu_b64_dup(const void *in, size_t n);

/* UTF-8 (Unicode table 3-7: no overlongs, surrogates or code points past
 * U+10FFFF), checked independently of the probe's validator:
 * tu_utf8_len: the length of the valid sequence at P (N bytes left), 0 if
 * there is none; tu_utf8_valid: all N bytes at S are valid UTF-8. */
size_t tu_utf8_len(const unsigned char *p, size_t n);
int tu_utf8_valid(const unsigned char *s, size_t n);

/* A printable copy of N possibly binary bytes (newlines kept, anything
 * else outside ASCII 0x20..0x7e as \xHH), for failure messages; malloc'd. */
char *tu_printable(const void *b, size_t n);

/* ---------------------------------------------------------------- Prometheus text format */

/* The N bytes at S are a metric name (METRIC set: [a-zA-Z_:][a-zA-Z0-9_:]*)
 * or a label name (no ':'). */
int tu_prom_name_ok(const char *s, size_t n, int metric);
/* S is a sample value as the Go parser takes it: a float, NaN, +Inf or
 * -Inf; its value into *v (may be NULL). */
int tu_prom_value_ok(const char *s, double *v);
/* A label set {name="value",...} at l[i] (N bytes in all): names valid,
 * none twice, none reserved ("__..."), values with only \\ \" \n
 * escapes.  Returns the index after its '}', or 0. */
size_t tu_prom_labels(const char *l, size_t i, size_t n);

/* A strict check of the text exposition format (0.0.4) as the probe writes
 * it: UTF-8 without control bytes, every family "# HELP" then "# TYPE"
 * then its samples, no family or series twice, no timestamps, a newline at
 * the end.  Returns NULL or what is wrong; the series into p. */
struct tu_prom_series {
	char key[256]; /* name{labels} exactly as written */
	double value;
};
struct tu_prom {
	struct tu_prom_series s[256];
	int n;
};
const char *tu_prom_parse(struct tu_prom *p, const char *text, size_t len);

/* ---------------------------------------------------------------- files, processes */

/* The whole file, NUL-terminated and malloc'd; "" if it cannot be read. */
char *tu_read_file(const char *path);

/* A new file DIR/cis-TAG-XXXXXX (DIR NULL: $TMPDIR or /tmp) holding the
 * LEN bytes of DATA; returns its path, malloc'd.  The caller unlinks it. */
char *tu_temp_file(const char *dir, const char *tag, const void *data, size_t len);

/* Remove DIR and everything below it (no assertions: usable outside a
 * test).  0, or -1 if something stayed. */
int tu_rm_tree(const char *dir);

/* Run ARGV (argv[0] looked up in PATH) and wait: its exit status, or -1. */
int tu_run_argv(const char *const *argv);

/* Run SHELL_CMD with popen and return its stdout (malloc'd); *status gets
 * pclose()'s status. */
char *tu_capture(const char *shell_cmd, int *status);

/* Parse the N bytes of JSON with python3's json module (NaN and Infinity
 * rejected) and print ascii(EXPR) evaluated with the document as d into
 * out (trailing newline dropped).  Returns python's exit status: 0 parsed
 * and evaluated, 127 python3 missing, anything else failed. */
int tu_python_json(const char *json, size_t n, const char *expr, char *out, size_t outsz);

#endif
