/* thresholds.c - Nagios ranges (-w/-c syntax) parsed and checked. */
#include "config.h"
#include "report/thresholds.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* ---------------------------------------------------------------- states */

const char *state_name(int state)
{
	switch (state) {
	case STATE_OK:
		return "OK";
	case STATE_WARNING:
		return "WARNING";
	case STATE_CRITICAL:
		return "CRITICAL";
	default:
		return "UNKNOWN";
	}
}

static int state_rank(int s)
{
	switch (s) {
	case STATE_OK:
		return 0;
	case STATE_WARNING:
		return 2;
	case STATE_CRITICAL:
		return 3;
	default:
		return 1;
	}
}

int state_worst(int a, int b)
{
	int w = state_rank(b) > state_rank(a) ? b : a;
	return state_rank(w) == 1 ? STATE_UNKNOWN : w;
}

int state_parse(const char *s)
{
	static const struct {
		const char *word;
		int state;
	} words[] = {
		{ "ok", STATE_OK },             { "0", STATE_OK },
		{ "warning", STATE_WARNING },   { "warn", STATE_WARNING },
		{ "1", STATE_WARNING },         { "critical", STATE_CRITICAL },
		{ "crit", STATE_CRITICAL },     { "2", STATE_CRITICAL },
		{ "unknown", STATE_UNKNOWN },   { "3", STATE_UNKNOWN },
	};

	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (ascii_ieq(s, strlen(s), words[i].word))
			return words[i].state;
	return -1;
}

/* ---------------------------------------------------------------- numbers */

/* Powers of ten that are exact doubles. */
static const double exact_p10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* m * 10^e; exact (correctly rounded) when m <= 2^53 and |e| <= 22. */
static double scale10(uint64_t m, long e)
{
	double v = (double)m;

	if (m == 0)
		return 0.0;
	for (; e > 22; e -= 22)
		if (isinf(v *= 1e22))
			return v;
	for (; e < -22; e += 22)
		if ((v /= 1e22) == 0.0)
			return v;
	return e >= 0 ? v * exact_p10[e] : v / exact_p10[-e];
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits of a mantissa into *m (first 19 significant ones), adjusting *e
 * for dropped or fractional digits.  Returns the number of digits read. */
static size_t read_digits(const char *s, size_t n, int frac, uint64_t *m, long *e, unsigned *sig)
{
	size_t i = 0;

	for (; i < n && is_digit(s[i]); i++) {
		if (*sig < 19) {
			*m = *m * 10 + (uint64_t)(s[i] - '0');
			if (*m != 0)
				(*sig)++;
			if (frac)
				(*e)--;
		} else if (!frac) {
			(*e)++;
		}
	}
	return i;
}

/* Strict C-locale number: [+-]? (d+ (. d*)? | . d+) ([eE] [+-]? d+)?
 * over exactly n bytes.  0 on success, -1 on bad syntax, -2 if too big. */
static int parse_number(const char *s, size_t n, double *out)
{
	uint64_t m = 0;
	long e = 0, x = 0;
	unsigned sig = 0;
	size_t i = 0, nd;
	int neg = 0, xneg = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	nd = read_digits(s + i, n - i, 0, &m, &e, &sig);
	i += nd;
	if (i < n && s[i] == '.') {
		size_t fd = read_digits(s + i + 1, n - i - 1, 1, &m, &e, &sig);
		i += 1 + fd;
		nd += fd;
	}
	if (nd == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			xneg = s[i++] == '-';
		if (i >= n || !is_digit(s[i]))
			return -1;
		for (; i < n && is_digit(s[i]); i++)
			if (x < 100000)
				x = x * 10 + (s[i] - '0');
	}
	if (i != n)
		return -1;
	double v = scale10(m, e + (xneg ? -x : x));
	if (isinf(v))
		return -2;
	*out = neg ? -v : v;
	return 0;
}

/* ---------------------------------------------------------------- ranges */

static int range_error(char *err, size_t errlen, const char *s, const char *why)
{
	char shown[64];

	if (err && errlen > 0) {
		sanitize_text(shown, sizeof shown, s, strlen(s));
		snprintf(err, errlen, "invalid range '%s': %s", shown, why);
	}
	return -1;
}

/* Parse one end of a range (n bytes at p) into *v, or explain why not. */
static int range_number(const char *s, const char *p, size_t n, double *v, const char *which,
			char *err, size_t errlen)
{
	char why[128];
	int rc = parse_number(p, n, v);

	if (rc == 0)
		return 0;
	if (rc == -2)
		snprintf(why, sizeof why, "%s is out of range", which);
	else if (memchr(p, ',', n))
		snprintf(why, sizeof why, "%s is not a number (use '.' as the decimal point)", which);
	else
		snprintf(why, sizeof why, "%s is not a number", which);
	return range_error(err, errlen, s, why);
}

int range_parse(const char *s, struct range *r, char *err, size_t errlen)
{
	struct range t = { 0 };
	const char *p, *colon;

	if (!s || !*s)
		return range_error(err, errlen, "", "empty range");
	if (strlen(s) >= sizeof t.text)
		return range_error(err, errlen, s, "too long");
	p = s;
	if (*p == '@') {
		t.inside = 1;
		p++;
	}
	colon = strchr(p, ':');
	if (!colon) {
		if (!*p)
			return range_error(err, errlen, s, "no number after '@'");
		if (strcmp(p, "~") == 0)
			return range_error(err, errlen, s, "'~' (minus infinity) must be followed by ':'");
		if (range_number(s, p, strlen(p), &t.end, "the end", err, errlen) < 0)
			return -1;
	} else {
		const char *e = colon + 1;
		if (colon == p && !*e)
			return range_error(err, errlen, s, "neither start nor end given");
		if (colon - p == 1 && *p == '~')
			t.start_inf = 1;
		else if (colon > p &&
			 range_number(s, p, (size_t)(colon - p), &t.start, "the start", err, errlen) < 0)
			return -1;
		if (!*e)
			t.end_inf = 1;
		else if (range_number(s, e, strlen(e), &t.end, "the end", err, errlen) < 0)
			return -1;
	}
	if (!t.start_inf && !t.end_inf && t.start > t.end)
		return range_error(err, errlen, s, "the start is greater than the end");
	t.set = 1;
	strlcpy_s(t.text, s, sizeof t.text);
	*r = t;
	return 0;
}

int range_alert(const struct range *r, double v)
{
	int in;

	if (!r || !r->set)
		return 0;
	if (isnan(v))
		return 1;
	in = (r->start_inf || v >= r->start) && (r->end_inf || v <= r->end);
	return r->inside ? in : !in;
}

int thresholds_check(const struct thresholds *t, double v)
{
	if (!t)
		return STATE_OK;
	if (range_alert(&t->crit, v))
		return STATE_CRITICAL;
	if (range_alert(&t->warn, v))
		return STATE_WARNING;
	return STATE_OK;
}
