/* sla.h - SLA measurement: run the session N times (--repeat) with a pause
 * between runs (--interval) and report availability and per-step latency
 * percentiles in one report. */
#ifndef CIS_SLA_H
#define CIS_SLA_H

#include <stddef.h>

#include "session/probe.h"
#include "report/report.h"
#include "session/session.h"

/* Percentile p (0..100) of n sorted values, nearest-rank method. */
double sla_percentile(const double *sorted, size_t n, double p);

/* Run cfg->repeat sessions and fill rep with the aggregate; returns the
 * overall state: availability thresholds (default: WARNING below 100%,
 * CRITICAL at 0%), -w/-c applied to the p95 session time (not to each
 * session), and the worst state the other checks (-D, counts, quota, age)
 * gave a session that worked.  A session that fails UNKNOWN without a
 * timeout (options this server cannot serve, local TLS set-up...) ends the
 * run at once with that session's report: repeating cannot change it.
 * Each session has its own -t deadline, and the whole run is bounded by
 * cfg->total_timeout_s (--total-timeout): a run whose repeat * timeout +
 * (repeat - 1) * interval exceeds it is UNKNOWN before it starts; no
 * session's deadline passes the bound.  A session cut off by the bound or
 * by a signal (env->stop) ends the run: it counts neither way, and the
 * report covers the sessions that finished ("terminated (SIGTERM) after 2
 * of 5 sessions"), in the -t state.  A step counts as OK only when it
 * worked in every session that ran it. */
int sla_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep);

#endif
