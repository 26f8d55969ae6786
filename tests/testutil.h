/* testutil.h - small helpers shared by test programs.
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

#endif
