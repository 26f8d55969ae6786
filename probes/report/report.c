/* report.c - filling a report: steps, perfdata, facts, long-output lines
 * and the overall state, every text sanitized; times come from the caller. */
#include "config.h"
#include "report/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "util/util.h"

/* Format, then sanitize into dst (dstsz bytes). */
__attribute__((format(printf, 3, 0)))
static void set_text_v(char *dst, size_t dstsz, const char *fmt, va_list ap)
{
	char tmp[4096];
	int n;

	if (!fmt) {
		dst[0] = '\0';
		return;
	}
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	if (n < 0)
		n = 0;
	sanitize_text(dst, dstsz, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void set_text(char *dst, size_t dstsz, const char *s)
{
	sanitize_text(dst, dstsz, s, s ? strlen(s) : 0);
}

/* ---------------------------------------------------------------- report */

void report_init(struct report *r, double timeout_s)
{
	/* Only the header: every table entry is written when it is added.
	 * (Zeroing all of it touched 184 kB of a static: RSS and page faults.) */
	memset(r, 0, offsetof(struct report, steps));
	r->nperf = r->ninfo = r->nlines = 0;
	r->state = STATE_OK;
	r->timeout_s = timeout_s;
}

void report_finish(struct report *r, int64_t now_ns)
{
	r->total_ns = now_ns - r->start_ns;
	if (r->total_ns < 0)
		r->total_ns = 0;
}

void report_raise(struct report *r, int state)
{
	r->state = state_worst(r->state, state);
}

void report_fail(struct report *r, int state, const char *step, const char *fmt, ...)
{
	va_list ap;

	report_raise(r, state);
	if (r->failed)
		return;
	r->failed = 1;
	set_text(r->failed_step, sizeof r->failed_step, step);
	va_start(ap, fmt);
	set_text_v(r->summary, sizeof r->summary, fmt, ap);
	va_end(ap);
}

void report_set_summary(struct report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	va_start(ap, fmt);
	set_text_v(r->summary, sizeof r->summary, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- steps */

struct step *report_step_begin(struct report *r, const char *name, int64_t now_ns)
{
	struct step *s;

	if (r->nsteps >= REPORT_MAX_STEPS)
		return NULL;
	s = &r->steps[r->nsteps++];
	memset(s, 0, sizeof *s);
	set_text(s->name, sizeof s->name, name);
	s->outcome = STEP_OK;
	s->state = STATE_OK;
	s->start_ns = now_ns;
	return s;
}

void report_step_end(struct step *s, int64_t now_ns, int outcome, int state, const char *fmt, ...)
{
	va_list ap;

	if (!s)
		return;
	s->dur_ns = now_ns - s->start_ns;
	if (s->dur_ns < 0)
		s->dur_ns = 0;
	s->outcome = outcome;
	s->state = state;
	va_start(ap, fmt);
	set_text_v(s->msg, sizeof s->msg, fmt, ap);
	va_end(ap);
}

/* Keep letters and '%' only: a unit must not break perfdata syntax. */
static void set_uom(char *dst, size_t dstsz, const char *uom)
{
	size_t o = 0;

	for (; uom && *uom && o + 1 < dstsz; uom++) {
		char c = *uom;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '%')
			dst[o++] = c;
	}
	dst[o] = '\0';
}

void step_value(struct step *s, const char *key, double value, const char *uom)
{
	char k[sizeof s->vals[0].key];
	struct step_value *v = NULL;

	if (!s)
		return;
	set_text(k, sizeof k, key);
	if (!k[0])
		return;
	for (unsigned i = 0; i < s->nvals && !v; i++)
		if (strcmp(s->vals[i].key, k) == 0)
			v = &s->vals[i];
	if (!v) {
		if (s->nvals >= STEP_MAX_VALUES)
			return;
		v = &s->vals[s->nvals++];
	}
	memcpy(v->key, k, sizeof k);
	v->value = value;
	set_uom(v->uom, sizeof v->uom, uom);
}

struct step *report_find_step(struct report *r, const char *name)
{
	if (!name)
		return NULL;
	for (unsigned i = r->nsteps; i-- > 0;)
		if (strcmp(r->steps[i].name, name) == 0)
			return &r->steps[i];
	return NULL;
}

/* ---------------------------------------------------------------- perfdata */

struct perf *report_perf(struct report *r, const char *label, double value, const char *uom,
			 int decimals, const struct thresholds *th)
{
	char l[sizeof r->perf[0].label];
	struct perf *p = NULL;

	set_text(l, sizeof l, label);
	for (char *c = l; *c; c++)
		if (*c == '=')
			*c = '_';
	if (!l[0])
		return NULL;
	for (unsigned i = 0; i < r->nperf && !p; i++)
		if (strcmp(r->perf[i].label, l) == 0)
			p = &r->perf[i];
	if (!p) {
		if (r->nperf >= REPORT_MAX_PERF)
			return NULL;
		p = &r->perf[r->nperf++];
	}
	memset(p, 0, sizeof *p);
	memcpy(p->label, l, sizeof l);
	p->value = value;
	set_uom(p->uom, sizeof p->uom, uom);
	p->decimals = decimals < 0 ? 0 : decimals > 9 ? 9 : decimals;
	if (th)
		p->th = *th;
	if (strcmp(p->uom, "s") == 0) {
		p->has_min = 1;
		p->min = 0;
		p->has_max = r->timeout_s > 0 && isfinite(r->timeout_s);
		p->max = p->has_max ? r->timeout_s : 0;
	}
	return p;
}

/* ---------------------------------------------------------------- facts, lines */

void report_info(struct report *r, const char *key, const char *fmt, ...)
{
	char k[sizeof r->info[0].key];
	struct info *f = NULL;
	va_list ap;

	set_text(k, sizeof k, key);
	if (!k[0])
		return;
	for (unsigned i = 0; i < r->ninfo && !f; i++)
		if (strcmp(r->info[i].key, k) == 0)
			f = &r->info[i];
	if (!f) {
		if (r->ninfo >= REPORT_MAX_INFO)
			return;
		f = &r->info[r->ninfo++];
	}
	memcpy(f->key, k, sizeof k);
	va_start(ap, fmt);
	set_text_v(f->value, sizeof f->value, fmt, ap);
	va_end(ap);
}

const char *report_get_info(const struct report *r, const char *key)
{
	if (!key)
		return NULL;
	for (unsigned i = 0; i < r->ninfo; i++)
		if (strcmp(r->info[i].key, key) == 0)
			return r->info[i].value;
	return NULL;
}

void report_line(struct report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nlines >= REPORT_MAX_LINES) {
		set_text(r->lines[REPORT_MAX_LINES - 1], sizeof r->lines[0], "(more lines omitted)");
		return;
	}
	va_start(ap, fmt);
	set_text_v(r->lines[r->nlines++], sizeof r->lines[0], fmt, ap);
	va_end(ap);
}
