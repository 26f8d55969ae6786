/* fuzz_range.c - the Nagios range parser (thresholds.h) and the state
 * helpers.
 *
 * Input: the text of a range (a NUL ends it early, as it would on a
 * command line).  Invariants: a failure leaves the range unchanged and
 * gives a printable one-line message; a success has start <= end, keeps
 * the text, parses again to the same range, and range_alert() agrees with
 * the documented inclusive ends ("10:20" does not alert at 10 or 20,
 * "@10:20" does) and always alerts on NaN. */
#include "config.h"

#include <math.h>

#include "fuzz_util.h"
#include "report/thresholds.h"

static int same(const struct range *a, const struct range *b)
{
	return a->set == b->set && a->start_inf == b->start_inf && a->end_inf == b->end_inf &&
	       a->inside == b->inside && (a->start_inf || a->start == b->start) &&
	       (a->end_inf || a->end == b->end) && !strcmp(a->text, b->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[128], err[160];
	struct range r, before;

	if (size > sizeof(text) - 1)
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(&r, 0x5a, sizeof(r));
	before = r;
	if (range_parse(text, &r, err, sizeof(err)) < 0) {
		FUZZ_CHECK(!memcmp(&r, &before, sizeof(r)), "failed parse changed the range");
		FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof(err), "no message");
		for (const char *p = err; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f && *p != '|',
				   "unsafe byte 0x%02x in message: %s", (unsigned char)*p, err);
		(void)state_parse(text);
		return 0;
	}
	FUZZ_CHECK(r.set, "parsed range not set");
	FUZZ_CHECK(memchr(r.text, '\0', sizeof(r.text)) != NULL, "text not terminated");
	FUZZ_CHECK(!strcmp(r.text, text), "text '%s' != input '%s'", r.text, text);
	FUZZ_CHECK(r.start_inf || !isnan(r.start), "start is NaN");
	FUZZ_CHECK(r.end_inf || !isnan(r.end), "end is NaN");
	if (!r.start_inf && !r.end_inf)
		FUZZ_CHECK(r.start <= r.end, "start %g > end %g in '%s'", r.start, r.end, text);

	struct range again;
	FUZZ_CHECK(range_parse(r.text, &again, err, sizeof(err)) == 0, "re-parse of '%s' failed: %s", r.text, err);
	FUZZ_CHECK(same(&r, &again), "re-parse of '%s' differs", r.text);

	FUZZ_CHECK(range_alert(&r, NAN) == 1, "NaN does not alert for '%s'", text);
	if (!r.start_inf && isfinite(r.start))
		FUZZ_CHECK(range_alert(&r, r.start) == r.inside, "start %g of '%s': alert %d", r.start, text,
			   range_alert(&r, r.start));
	if (!r.end_inf && isfinite(r.end))
		FUZZ_CHECK(range_alert(&r, r.end) == r.inside, "end %g of '%s': alert %d", r.end, text,
			   range_alert(&r, r.end));
	if (!r.start_inf && isfinite(r.start) && r.start > -INFINITY) {
		double below = nextafter(r.start, -INFINITY);
		if (isfinite(below))
			FUZZ_CHECK(range_alert(&r, below) == !r.inside, "just below start of '%s'", text);
	}
	if (!r.end_inf && isfinite(r.end)) {
		double above = nextafter(r.end, INFINITY);
		if (isfinite(above))
			FUZZ_CHECK(range_alert(&r, above) == !r.inside, "just above end of '%s'", text);
	}

	struct thresholds t = { .warn = r, .crit = r };
	int st = thresholds_check(&t, 1.0);
	FUZZ_CHECK(st == STATE_OK || st == STATE_CRITICAL, "thresholds_check %d", st);
	(void)state_name(st);
	FUZZ_CHECK(state_worst(st, STATE_WARNING) != STATE_OK, "state_worst");
	return 0;
}
