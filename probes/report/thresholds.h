/* thresholds.h - Nagios plugin range syntax and states.
 *
 *   10      alert if < 0 or > 10
 *   10:     alert if < 10
 *   ~:10    alert if > 10
 *   10:20   alert if < 10 or > 20
 *   @10:20  alert if >= 10 and <= 20
 *   :10     same as 0:10 (Monitoring Plugins compatibility)
 *   ~:      never alerts (and @~: always does)
 * Range ends are inclusive: a value equal to an end does not alert for a
 * normal range and does alert for an "@" range.
 * Numbers may be negative and fractional, with an optional exponent
 * ("-1.5", ".5", "2e3"), always with '.' whatever the locale.  Rejected with
 * a message: empty text, start > end, "inf"/"nan" words, hex, blanks,
 * decimal commas, anything after the number.  Pure: no locale, no I/O. */
#ifndef CIS_THRESHOLDS_H
#define CIS_THRESHOLDS_H

#include <stddef.h>

enum state {
	STATE_OK = 0,
	STATE_WARNING = 1,
	STATE_CRITICAL = 2,
	STATE_UNKNOWN = 3,
};

/* "OK", "WARNING", "CRITICAL", "UNKNOWN"; any other number is "UNKNOWN".
 * Static string. */
const char *state_name(int state);
/* Worse of two states: CRITICAL > WARNING > UNKNOWN > OK.  A number that
 * is not a state counts as UNKNOWN (and is returned as STATE_UNKNOWN). */
int state_worst(int a, int b);
/* "ok"/"warning"/"critical"/"unknown" (any case; "warn"/"crit" too) or
 * "0"-"3"; -1 if invalid or NULL. */
int state_parse(const char *s);

struct range {
	int set;              /* 0: no range given */
	double start, end;
	int start_inf;        /* start is -infinity ("~") */
	int end_inf;          /* end is +infinity ("10:") */
	int inside;           /* "@": alert inside the range */
	char text[48];        /* as given, for perfdata */
};

/* Parse s (at most 47 characters); 0 on success, -1 with a one-line message
 * in err (which quotes the sanitized input) and *r left unchanged. */
int range_parse(const char *s, struct range *r, char *err, size_t errlen);

/* 1 if value v triggers the range's alert, 0 if not (or r is NULL / not
 * set).  A NaN value always alerts when the range is set. */
int range_alert(const struct range *r, double v);

struct thresholds {
	struct range warn, crit;
};

/* STATE_CRITICAL if crit alerts, else STATE_WARNING if warn alerts, else
 * STATE_OK (also when t is NULL). */
int thresholds_check(const struct thresholds *t, double v);

#endif
