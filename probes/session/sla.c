/* sla.c - repeated sessions, availability and latency percentiles. */
#include "config.h"
#include "session/sla.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/clock.h"

#define SLA_MAX_NAMES 24

struct series {
	char name[32];
	double *v;       /* one duration per session in which the step ran */
	size_t n;
	unsigned failed; /* sessions in which it failed or timed out */
	int worst;       /* the worst state it had in one of them */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double sla_percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	/* nearest rank: the smallest value with at least p% at or below it */
	double rank = p / 100.0 * (double)n;
	size_t k = (size_t)rank;
	if ((double)k < rank)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

static struct series *series_get(struct series *s, unsigned *ns, const char *name, unsigned repeat)
{
	for (unsigned i = 0; i < *ns; i++)
		if (!strcmp(s[i].name, name))
			return &s[i];
	if (*ns >= SLA_MAX_NAMES)
		return NULL;
	struct series *x = &s[(*ns)++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->v = calloc(repeat, sizeof(double));
	x->n = 0;
	return x->v ? x : NULL;
}

static int stopped(const struct session_env *env)
{
	return env && env->stop && *env->stop;
}

/* Pause s seconds, less when a signal asks the run to end. */
static void sleep_s(double s, const struct session_env *env)
{
	if (s <= 0)
		return;
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopped(env))
		;
}

/* Add p50/p95/p99/max of one series as a step, perfdata and a line; th
 * (may be NULL): the thresholds that apply to the p95. */
static void add_series(struct report *rep, const struct series *x, double timeout, int is_total,
		       const struct thresholds *th)
{
	double p50 = sla_percentile(x->v, x->n, 50), p95 = sla_percentile(x->v, x->n, 95);
	double p99 = sla_percentile(x->v, x->n, 99), max = x->n ? x->v[x->n - 1] : 0;
	static const char *const sfx[] = { "p50", "p95", "p99", "max" };
	double vals[] = { p50, p95, p99, max };

	if (!is_total) {
		/* a step succeeded only when it worked in every session that
		 * ran it; else it shows as failed, with the worst state it had */
		struct step *st = report_step_begin(rep, x->name, clock_now_ns());
		if (st) {
			char failed[32] = "";
			if (x->failed)
				snprintf(failed, sizeof(failed), ", %u failed", x->failed);
			report_step_end(st, clock_now_ns(), x->failed ? STEP_FAILED : STEP_OK,
					x->failed ? x->worst : STATE_OK,
					"p50 %.6fs p95 %.6fs p99 %.6fs max %.6fs (%zu runs%s)", p50, p95, p99, max, x->n,
					failed);
			st->dur_ns = (int64_t)(p50 * 1e9);
			for (int i = 0; i < 4; i++)
				step_value(st, sfx[i], vals[i], "s");
			step_value(st, "runs", (double)x->n, "");
			step_value(st, "failed", (double)x->failed, "");
		}
	}
	for (int i = 0; i < 4; i++) {
		char label[48];
		snprintf(label, sizeof(label), "%s_%s", x->name, sfx[i]);
		struct perf *p = report_perf(rep, label, vals[i], "s", 6, i == 1 ? th : NULL);
		if (p) {
			p->has_min = p->has_max = 1;
			p->min = 0;
			p->max = timeout;
		}
	}
}

/* A session that timed out (whatever state -t maps a timeout to). */
static int timed_out(const struct report *r)
{
	for (unsigned k = 0; k < r->nsteps && k < REPORT_MAX_STEPS; k++)
		if (r->steps[k].outcome == STEP_TIMEOUT)
			return 1;
	return 0;
}

/* The session's own check items (cert_days, messages, unseen, quota...):
 * everything but the step durations and the session time, which the
 * percentiles replace. */
static int is_check_perf(const struct report *r, const struct perf *p)
{
	if (!strcmp(p->label, "time"))
		return 0;
	if (!strcmp(p->uom, "s"))
		for (unsigned k = 0; k < r->nsteps && k < REPORT_MAX_STEPS; k++)
			if (!strcmp(r->steps[k].name, p->label))
				return 0;
	return 1;
}

/* What the repeated sessions add up to. */
struct sla_acc {
	unsigned n;                         /* sessions to run */
	unsigned done;                      /* ... that ran to their end (not
	                                       cut off by a signal or the
	                                       --total-timeout bound) */
	unsigned ok;                        /* ... that did not fail */
	char why[96];                       /* why the run stopped early, or "" */
	int worst;                          /* worst session state */
	struct series series[SLA_MAX_NAMES];    /* [0] the session time, then
	                                           each step's durations */
	unsigned nseries;
	struct series *total;               /* series[0], NULL without memory */
	struct perf checks[REPORT_MAX_PERF];    /* the latest good session's
	                                           check items */
	unsigned nchecks;
	int checks_state;                   /* worst state of a good session */
	char check_note[512];               /* ... its summary */
	char last_failure[512];             /* the last failed session's summary */
	struct report one;                  /* the session being run */
};

/* A local or configuration problem in run i (options this server cannot
 * serve, TLS set-up, out of memory): repeating cannot change it and it
 * says nothing about availability.  1 (rep is that session's report,
 * failed as "run i: ..."), or 0. */
static int local_problem(struct report *rep, const struct report *one, unsigned i)
{
	if (!one->failed || one->state != STATE_UNKNOWN || timed_out(one))
		return 0;
	int64_t start = rep->start_ns;
	char summary[sizeof(one->summary)];
	memcpy(rep, one, sizeof(*rep));
	rep->start_ns = start;
	memcpy(summary, one->summary, sizeof(summary));
	rep->failed = 0;
	report_fail(rep, STATE_UNKNOWN, one->failed_step[0] ? one->failed_step : NULL, "run %u: %s", i + 1, summary);
	return 1;
}

/* Add run i (acc->one) to the counts, the check items and the series. */
static void add_run(struct sla_acc *acc, struct report *rep, unsigned i)
{
	const struct report *one = &acc->one;

	acc->done++;
	if (!one->failed) {
		acc->ok++;
		/* the check items and states of the latest good session */
		acc->nchecks = 0;
		for (unsigned k = 0; k < one->nperf && k < REPORT_MAX_PERF; k++)
			if (is_check_perf(one, &one->perf[k]))
				acc->checks[acc->nchecks++] = one->perf[k];
		if (one->state != STATE_OK && state_worst(acc->checks_state, one->state) == one->state) {
			acc->checks_state = one->state;
			snprintf(acc->check_note, sizeof(acc->check_note), "run %u: %s", i + 1, one->summary);
		}
	} else {
		snprintf(acc->last_failure, sizeof(acc->last_failure), "run %u: %s", i + 1, one->summary);
	}
	acc->worst = state_worst(acc->worst, one->state);
	if (acc->total)
		acc->total->v[acc->total->n++] = clock_ns_to_s(one->total_ns);
	for (unsigned k = 0; k < one->nsteps; k++) {
		const struct step *st = &one->steps[k];
		if (st->outcome == STEP_SKIPPED)
			continue;
		struct series *x = series_get(acc->series, &acc->nseries, st->name, acc->n);
		if (x && x->n < acc->n) {
			x->v[x->n++] = clock_ns_to_s(st->dur_ns);
			if (st->outcome == STEP_FAILED || st->outcome == STEP_TIMEOUT) {
				x->failed++;
				x->worst = state_worst(x->worst, st->state);
			}
		}
	}
	/* keep the facts of the last run (TLS version, mechanism...) */
	for (unsigned k = 0; k < one->ninfo; k++)
		report_info(rep, one->info[k].key, "%s", one->info[k].value);
}

/* The perfdata: the items that carry the state first, so a full table
 * can only ever drop step percentiles. */
static void add_sla_perf(const struct probe_config *cfg, struct report *rep, struct sla_acc *acc,
			 double availability)
{
	add_series(rep, &acc->series[0], cfg->timeout_s, 1, &cfg->time);
	struct perf *p = report_perf(rep, "availability", availability, "%", 2, &cfg->availability);
	if (p) {
		p->has_min = p->has_max = 1;
		p->min = 0;
		p->max = 100;
	}
	report_perf(rep, "sessions", acc->done, "", 0, NULL);
	report_perf(rep, "sessions_ok", acc->ok, "", 0, NULL);
	for (unsigned i = 0; i < acc->nchecks; i++) {
		const struct perf *k = &acc->checks[i];
		struct perf *c = report_perf(rep, k->label, k->value, k->uom, k->decimals, &k->th);
		if (c) {
			c->has_min = k->has_min;
			c->has_max = k->has_max;
			c->min = k->min;
			c->max = k->max;
		}
	}
	for (unsigned i = 1; i < acc->nseries; i++)
		add_series(rep, &acc->series[i], cfg->timeout_s, 0, NULL);
}

/* The state and the summary from the percentiles and the availability. */
static void sla_verdict(const struct probe_config *cfg, struct report *rep, const struct sla_acc *acc,
			double availability)
{
	const struct series *total = acc->total;
	double p95 = total ? sla_percentile(total->v, total->n, 95) : 0;

	report_raise(rep, thresholds_check(&cfg->availability, availability));
	report_raise(rep, thresholds_check(&cfg->time, p95));
	report_raise(rep, acc->checks_state);
	if (acc->why[0]) {
		/* as the deadline of a single session would: the -t state */
		report_raise(rep, cfg->timeout_state);
		report_line(rep, "%s after %u of %u sessions", acc->why, acc->done, acc->n);
	}
	report_info(rep, "availability", "%.2f", availability);
	report_info(rep, "worst_session_state", "%s", state_name(acc->worst));
	if (acc->last_failure[0])
		report_line(rep, "last failure: %s", acc->last_failure);
	if (acc->check_note[0])
		report_line(rep, "%s session: %s", state_name(acc->checks_state), acc->check_note);
	char prefix[160] = "";
	if (acc->why[0])
		snprintf(prefix, sizeof(prefix), "%s after %u of %u sessions - ", acc->why, acc->done, acc->n);
	report_set_summary(rep, "%savailability %.2f%% (%u of %u sessions OK), session time p50 %.3fs p95 %.3fs max %.3fs%s%s%s%s",
			   prefix, availability, acc->ok, acc->done, total ? sla_percentile(total->v, total->n, 50) : 0, p95,
			   total && total->n ? total->v[total->n - 1] : 0, acc->last_failure[0] ? "; " : "",
			   acc->last_failure, acc->check_note[0] ? "; " : "", acc->check_note);
}

static void sla_free(struct sla_acc *acc)
{
	for (unsigned i = 0; i < acc->nseries; i++)
		free(acc->series[i].v);
	free(acc);
}

/* A run that cannot fit in --total-timeout: UNKNOWN before it starts. */
static int fits(const struct probe_config *cfg, unsigned n, struct report *rep)
{
	double need = n * cfg->timeout_s + (n - 1) * cfg->interval_s;

	if (need <= cfg->total_timeout_s + 1e-9)
		return 1;
	report_fail(rep, STATE_UNKNOWN, NULL,
		    "--repeat %u can take up to %gs (%u x %gs + %u x %gs), more than --total-timeout %gs allows: "
		    "lower --repeat, -t or --interval, or raise --total-timeout (below the scheduler's own limit)",
		    n, need, n, cfg->timeout_s, n - 1, cfg->interval_s, cfg->total_timeout_s);
	return 0;
}

/* Why the run ends before its last session, for the summary. */
static void stop_text(const struct probe_config *cfg, const struct session_env *env, char *buf, size_t len)
{
	char sig[24];

	if (stopped(env))
		snprintf(buf, len, "terminated (%s)", signal_name(*env->stop, sig, sizeof(sig)));
	else
		snprintf(buf, len, "stopped at the --total-timeout bound (%gs)", cfg->total_timeout_s);
}

/* Run i, with a deadline that does not pass the run's bound.  0 when it
 * counts; 1 when a signal or the bound cut it off (neither a success nor
 * a failure of the server: not counted, the run ends here). */
static int run_one(const struct probe_config *cfg, struct probe_config *one_cfg, const struct session_env *env,
		   struct sla_acc *acc, struct report *rep, unsigned i, int64_t run_deadline)
{
	double left = clock_ns_to_s(run_deadline - clock_now_ns());

	if (stopped(env) || left <= 0)
		return 1;
	int clipped = left < cfg->timeout_s;
	one_cfg->timeout_s = clipped ? left : cfg->timeout_s;
	report_init(&acc->one, one_cfg->timeout_s);
	session_run(one_cfg, env, &acc->one);
	if (acc->one.failed && timed_out(&acc->one) && (stopped(env) || clipped)) {
		report_line(rep, "run %u %s: %s", i + 1, stopped(env) ? "interrupted" : "cut off by --total-timeout",
			    acc->one.summary);
		return 1;
	}
	return 0;
}

int sla_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep)
{
	/* -w/-c apply to the p95 session time here, not to each session; the
	 * other thresholds (-D, message counts, quota, age...) stay per session */
	struct probe_config one_cfg = *cfg;
	struct sla_acc *acc = calloc(1, sizeof(*acc));   /* too big for the stack */

	rep->start_ns = clock_now_ns();
	if (!acc) {
		report_fail(rep, STATE_UNKNOWN, NULL, "out of memory");
		return rep->state;
	}
	acc->n = cfg->repeat ? cfg->repeat : 1;
	if (!fits(cfg, acc->n, rep)) {
		sla_free(acc);
		return rep->state;
	}
	/* the whole run's bound: no session's deadline goes past it */
	int64_t run_deadline = rep->start_ns + (int64_t)(cfg->total_timeout_s * 1e9);
	memset(&one_cfg.time, 0, sizeof(one_cfg.time));
	acc->worst = acc->checks_state = STATE_OK;
	acc->total = series_get(acc->series, &acc->nseries, "time", acc->n);
	for (unsigned i = 0; i < acc->n; i++) {
		if (i) {
			/* the pause too stays inside the bound */
			double left = clock_ns_to_s(run_deadline - clock_now_ns());
			sleep_s(cfg->interval_s < left ? cfg->interval_s : left, env);
		}
		if (run_one(cfg, &one_cfg, env, acc, rep, i, run_deadline)) {
			stop_text(cfg, env, acc->why, sizeof(acc->why));
			break;
		}
		if (local_problem(rep, &acc->one, i)) {
			sla_free(acc);
			return rep->state;
		}
		add_run(acc, rep, i);
	}
	report_info(rep, "sessions_planned", "%u", acc->n);
	if (acc->done == 0) {
		/* nothing measured: no availability to speak of */
		report_fail(rep, cfg->timeout_state, NULL, "%s before the first of %u sessions finished", acc->why,
			    acc->n);
		report_finish(rep, clock_now_ns());
		sla_free(acc);
		return rep->state;
	}
	for (unsigned i = 0; i < acc->nseries; i++)
		qsort(acc->series[i].v, acc->series[i].n, sizeof(double), cmp_double);
	double availability = 100.0 * acc->ok / acc->done;
	add_sla_perf(cfg, rep, acc, availability);
	sla_verdict(cfg, rep, acc, availability);
	report_finish(rep, clock_now_ns());
	sla_free(acc);
	return rep->state;
}
