/* test_thresholds.c - Nagios range syntax, range checks and states. */
#include "config.h"

#include <criterion/criterion.h>
#include <locale.h>
#include <math.h>
#include <string.h>

#include "report/thresholds.h"

static struct range parse_ok(const char *s)
{
	struct range r;
	char err[256] = "";

	memset(&r, 0x5a, sizeof r);
	cr_assert_eq(range_parse(s, &r, err, sizeof err), 0, "'%s' rejected: %s", s, err);
	cr_assert_eq(r.set, 1, "'%s' not marked set", s);
	cr_assert_str_eq(r.text, s);
	return r;
}

/* Parse must fail, leave r untouched, and explain with `want` in err. */
static void parse_bad(const char *s, const char *want)
{
	struct range r = { .set = 7 };
	char err[256] = "";

	cr_assert_eq(range_parse(s, &r, err, sizeof err), -1, "'%s' accepted", s ? s : "(null)");
	cr_assert_eq(r.set, 7, "'%s': range modified on error", s ? s : "(null)");
	cr_assert(strstr(err, "invalid range") != NULL, "no prefix in '%s'", err);
	cr_assert(strstr(err, want) != NULL, "'%s': expected '%s' in '%s'", s ? s : "(null)", want, err);
	cr_assert(strchr(err, '\n') == NULL);
}

/* Check alert(v) for a list of (value, expected) pairs. */
static void check_alerts(const char *s, const double *v, const int *want, size_t n)
{
	struct range r = parse_ok(s);

	for (size_t i = 0; i < n; i++)
		cr_assert_eq(range_alert(&r, v[i]), want[i], "range '%s' value %g: alert should be %d", s,
			     v[i], want[i]);
}

#define CHECK(s, ...)                                                                   \
	do {                                                                            \
		const struct { double v; int a; } c_[] = { __VA_ARGS__ };               \
		double v_[sizeof c_ / sizeof c_[0]];                                    \
		int a_[sizeof c_ / sizeof c_[0]];                                       \
		for (size_t i_ = 0; i_ < sizeof c_ / sizeof c_[0]; i_++) {              \
			v_[i_] = c_[i_].v;                                              \
			a_[i_] = c_[i_].a;                                              \
		}                                                                       \
		check_alerts(s, v_, a_, sizeof c_ / sizeof c_[0]);                      \
	} while (0)

/* ---------------------------------------------------------------- forms */

Test(range, plain_end_means_zero_to_end)
{
	struct range r = parse_ok("10");

	cr_assert_eq(r.start, 0.0);
	cr_assert_eq(r.end, 10.0);
	cr_assert(!r.start_inf && !r.end_inf && !r.inside);
	CHECK("10", { -0.001, 1 }, { 0, 0 }, { 5, 0 }, { 10, 0 }, { 10.0001, 1 }, { -1e9, 1 });
}

Test(range, start_colon_means_at_least)
{
	struct range r = parse_ok("10:");

	cr_assert(r.end_inf);
	cr_assert_eq(r.start, 10.0);
	CHECK("10:", { 9.999, 1 }, { 10, 0 }, { 1e300, 0 }, { -5, 1 });
}

Test(range, tilde_means_at_most)
{
	struct range r = parse_ok("~:10");

	cr_assert(r.start_inf && !r.end_inf);
	CHECK("~:10", { -1e300, 0 }, { 10, 0 }, { 10.001, 1 }, { 0, 0 });
}

Test(range, start_end_outside_alerts)
{
	CHECK("10:20", { 9.99, 1 }, { 10, 0 }, { 15, 0 }, { 20, 0 }, { 20.01, 1 }, { 0, 1 });
}

Test(range, at_inverts_inclusive)
{
	struct range r = parse_ok("@10:20");

	cr_assert(r.inside);
	CHECK("@10:20", { 9.99, 0 }, { 10, 1 }, { 15, 1 }, { 20, 1 }, { 20.01, 0 });
}

Test(range, at_with_plain_end)
{
	CHECK("@5", { -0.1, 0 }, { 0, 1 }, { 5, 1 }, { 5.1, 0 });
}

Test(range, negatives)
{
	CHECK("-10:-5", { -10.5, 1 }, { -10, 0 }, { -7, 0 }, { -5, 0 }, { -4.9, 1 });
	CHECK("~:-5", { -6, 0 }, { -5, 0 }, { -4, 1 });
	CHECK("-3:", { -3.5, 1 }, { -3, 0 }, { 100, 0 });
	CHECK("@-1:1", { -1, 1 }, { 0, 1 }, { 1.5, 0 });
}

Test(range, decimals_and_exponents)
{
	struct range r = parse_ok("0.5:1.25");

	cr_assert_eq(r.start, 0.5);
	cr_assert_eq(r.end, 1.25);
	cr_assert_eq(parse_ok(".5").end, 0.5);
	cr_assert_eq(parse_ok("5.").end, 5.0);
	cr_assert_eq(parse_ok("+7").end, 7.0);
	cr_assert_eq(parse_ok("1e3").end, 1000.0);
	cr_assert_eq(parse_ok("2.5E-1").end, 0.25);
	cr_assert_eq(parse_ok("0.1").end, 0.1, "0.1 must be the nearest double");
	cr_assert_eq(parse_ok("123.456").end, 123.456);
	cr_assert_eq(parse_ok("-0.3:0").start, -0.3);
	cr_assert_eq(parse_ok("0.000001").end, 1e-6);
	double big = parse_ok("12345678901234567890").end / 12345678901234567890.0 - 1;

	cr_assert(big < 1e-15 && big > -1e-15);
	cr_assert_eq(parse_ok("1e-400").end, 0.0);
	CHECK("0.5:1.25", { 0.49, 1 }, { 0.5, 0 }, { 1.25, 0 }, { 1.26, 1 });
}

Test(range, infinite_both_ends)
{
	struct range r = parse_ok("~:");

	cr_assert(r.start_inf && r.end_inf);
	CHECK("~:", { -1e308, 0 }, { 0, 0 }, { 1e308, 0 });
	CHECK("@~:", { -1e308, 1 }, { 0, 1 }, { 1e308, 1 });
	CHECK("@10:", { 9, 0 }, { 10, 1 }, { 11, 1 });
}

Test(range, empty_start_is_zero)
{
	struct range r = parse_ok(":10");

	cr_assert_eq(r.start, 0.0);
	cr_assert(!r.start_inf);
	CHECK(":10", { -1, 1 }, { 0, 0 }, { 10, 0 }, { 11, 1 });
}

Test(range, equal_ends_allowed)
{
	CHECK("10:10", { 9.9, 1 }, { 10, 0 }, { 10.1, 1 });
	CHECK("@0:0", { 0, 1 }, { 0.001, 0 });
}

/* ---------------------------------------------------------------- errors */

Test(range, rejects_reversed)
{
	parse_bad("20:10", "start is greater than the end");
	parse_bad("@-1:-2", "start is greater");
	parse_bad("-5", "start is greater");  /* 0:-5 */
}

Test(range, rejects_empty_and_lone_symbols)
{
	parse_bad("", "empty range");
	parse_bad(NULL, "empty range");
	parse_bad("@", "no number after '@'");
	parse_bad(":", "neither start nor end");
	parse_bad("@:", "neither start nor end");
	parse_bad("~", "must be followed by ':'");
}

Test(range, rejects_junk)
{
	parse_bad("abc", "the end is not a number");
	parse_bad("10:abc", "the end is not a number");
	parse_bad("abc:10", "the start is not a number");
	parse_bad("10x", "not a number");
	parse_bad("10:20:30", "the end is not a number");
	parse_bad("--5", "not a number");
	parse_bad("1e", "not a number");
	parse_bad("1e+", "not a number");
	parse_bad(".", "not a number");
	parse_bad("-", "not a number");
	parse_bad("0x10", "not a number");
	parse_bad("10:~", "the end is not a number");
	parse_bad("~~:1", "the start is not a number");
	parse_bad("@@1", "not a number");
}

Test(range, rejects_blanks_and_trailing_garbage)
{
	parse_bad(" 10", "not a number");
	parse_bad("10 ", "not a number");
	parse_bad("10: 20", "not a number");
	parse_bad("10\n", "not a number");
	parse_bad("10;20", "not a number");
}

Test(range, rejects_words_for_infinity_and_nan)
{
	parse_bad("inf", "not a number");
	parse_bad("-inf:0", "not a number");
	parse_bad("INF", "not a number");
	parse_bad("nan", "not a number");
	parse_bad("0:NaN", "not a number");
	parse_bad("infinity", "not a number");
	parse_bad("1e400", "the end is out of range");
	parse_bad("-1e999:0", "the start is out of range");
}

Test(range, decimal_comma_gets_a_hint)
{
	parse_bad("1,5", "use '.' as the decimal point");
	parse_bad("0:2,5", "use '.' as the decimal point");
}

Test(range, too_long_rejected_and_message_bounded)
{
	char s[200];
	char err[64];
	struct range r;

	memset(s, '1', sizeof s - 1);
	s[sizeof s - 1] = '\0';
	cr_assert_eq(range_parse(s, &r, err, sizeof err), -1);
	cr_assert(strlen(err) < sizeof err);
	cr_assert(strstr(err, "invalid range") == err);
	/* 47 characters still fit the text field */
	s[47] = '\0';
	cr_assert_eq(range_parse(s, &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(strlen(r.text), 47);
}

Test(range, error_message_sanitizes_input)
{
	char err[256];
	struct range r;

	cr_assert_eq(range_parse("1|\x1b[2J", &r, err, sizeof err), -1);
	cr_assert(strchr(err, '|') == NULL, "%s", err);
	cr_assert(strchr(err, '\x1b') == NULL, "%s", err);
	cr_assert(strstr(err, "'1??[2J'") != NULL, "%s", err);
	/* NULL or zero-sized err buffers are fine */
	cr_assert_eq(range_parse("x", &r, NULL, 0), -1);
	err[0] = 'Z';
	cr_assert_eq(range_parse("x", &r, err, 0), -1);
	cr_assert_eq(err[0], 'Z');
}

Test(range, parsing_ignores_the_process_locale)
{
	const char *names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" };
	int ok = 0;

	for (size_t i = 0; i < 4 && !ok; i++)
		ok = setlocale(LC_ALL, names[i]) != NULL && strcmp(localeconv()->decimal_point, ",") == 0;
	if (!ok)
		cr_skip_test("no decimal-comma locale (localedef -i de_DE -f UTF-8 de_DE.UTF-8)");
	cr_assert_eq(parse_ok("1.5:2.25").start, 1.5);
	cr_assert_eq(parse_ok("1.5:2.25").end, 2.25);
	parse_bad("1,5", "not a number");
}

/* ---------------------------------------------------------------- checks */

Test(range, unset_and_null_never_alert)
{
	struct range r = { 0 };

	cr_assert_eq(range_alert(&r, 1e9), 0);
	cr_assert_eq(range_alert(NULL, -1), 0);
	cr_assert_eq(range_alert(&r, NAN), 0);
}

Test(range, nan_always_alerts_when_set)
{
	struct range r = parse_ok("~:");
	struct range in = parse_ok("@0:10");

	cr_assert_eq(range_alert(&r, NAN), 1);
	cr_assert_eq(range_alert(&in, NAN), 1);
}

Test(range, infinite_values)
{
	CHECK("10", { INFINITY, 1 }, { -INFINITY, 1 });
	CHECK("10:", { INFINITY, 0 });
	CHECK("@~:10", { -INFINITY, 1 }, { INFINITY, 0 });
}

Test(thresholds, critical_wins_over_warning)
{
	struct thresholds t = { 0 };
	char err[128];

	cr_assert_eq(range_parse("1", &t.warn, err, sizeof err), 0);
	cr_assert_eq(range_parse("5", &t.crit, err, sizeof err), 0);
	cr_assert_eq(thresholds_check(&t, 0.5), STATE_OK);
	cr_assert_eq(thresholds_check(&t, 1), STATE_OK);
	cr_assert_eq(thresholds_check(&t, 1.001), STATE_WARNING);
	cr_assert_eq(thresholds_check(&t, 5), STATE_WARNING);
	cr_assert_eq(thresholds_check(&t, 5.001), STATE_CRITICAL);
	cr_assert_eq(thresholds_check(&t, -1), STATE_CRITICAL);
}

Test(thresholds, only_one_side_and_none)
{
	struct thresholds t = { 0 };
	char err[128];

	cr_assert_eq(thresholds_check(&t, 1e9), STATE_OK);
	cr_assert_eq(thresholds_check(NULL, 1e9), STATE_OK);
	cr_assert_eq(range_parse("@0", &t.crit, err, sizeof err), 0);
	cr_assert_eq(thresholds_check(&t, 0), STATE_CRITICAL);
	cr_assert_eq(thresholds_check(&t, 3), STATE_OK);
	memset(&t, 0, sizeof t);
	cr_assert_eq(range_parse("10:", &t.warn, err, sizeof err), 0);
	cr_assert_eq(thresholds_check(&t, 9), STATE_WARNING);
	cr_assert_eq(thresholds_check(&t, 10), STATE_OK);
}

/* ---------------------------------------------------------------- states */

Test(state, names)
{
	cr_assert_str_eq(state_name(STATE_OK), "OK");
	cr_assert_str_eq(state_name(STATE_WARNING), "WARNING");
	cr_assert_str_eq(state_name(STATE_CRITICAL), "CRITICAL");
	cr_assert_str_eq(state_name(STATE_UNKNOWN), "UNKNOWN");
	cr_assert_str_eq(state_name(-1), "UNKNOWN");
	cr_assert_str_eq(state_name(42), "UNKNOWN");
}

Test(state, worst_order)
{
	const int order[] = { STATE_OK, STATE_UNKNOWN, STATE_WARNING, STATE_CRITICAL };

	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			int w = order[i > j ? i : j];
			cr_assert_eq(state_worst(order[i], order[j]), w, "worst(%d,%d)", order[i], order[j]);
		}
}

Test(state, worst_treats_garbage_as_unknown)
{
	cr_assert_eq(state_worst(STATE_OK, 9), STATE_UNKNOWN);
	cr_assert_eq(state_worst(-4, STATE_OK), STATE_UNKNOWN);
	cr_assert_eq(state_worst(9, STATE_WARNING), STATE_WARNING);
	cr_assert_eq(state_worst(STATE_CRITICAL, -1), STATE_CRITICAL);
}

Test(state, parse)
{
	cr_assert_eq(state_parse("ok"), STATE_OK);
	cr_assert_eq(state_parse("OK"), STATE_OK);
	cr_assert_eq(state_parse("Warning"), STATE_WARNING);
	cr_assert_eq(state_parse("warn"), STATE_WARNING);
	cr_assert_eq(state_parse("CRITICAL"), STATE_CRITICAL);
	cr_assert_eq(state_parse("crit"), STATE_CRITICAL);
	cr_assert_eq(state_parse("unknown"), STATE_UNKNOWN);
	cr_assert_eq(state_parse("0"), STATE_OK);
	cr_assert_eq(state_parse("1"), STATE_WARNING);
	cr_assert_eq(state_parse("2"), STATE_CRITICAL);
	cr_assert_eq(state_parse("3"), STATE_UNKNOWN);
	cr_assert_eq(state_parse("4"), -1);
	cr_assert_eq(state_parse(""), -1);
	cr_assert_eq(state_parse("critical "), -1);
	cr_assert_eq(state_parse("okay"), -1);
	cr_assert_eq(state_parse("o"), -1);
	cr_assert_eq(state_parse(NULL), -1);
}
