/* sla.h - SLA measurement: run the session N times (--repeat) with a pause
 * between runs (--interval) and report availability and per-step latency
 * percentiles in one report. */
#ifndef CIS_SLA_H
#define CIS_SLA_H

#include <stddef.h>

#include "probe.h"
#include "report.h"
#include "session.h"

/* Percentile p (0..100) of n sorted values, nearest-rank method. */
double sla_percentile(const double *sorted, size_t n, double p);

/* Run cfg->repeat sessions and fill rep with the aggregate; returns the
 * overall state: availability thresholds (default: WARNING below 100%,
 * CRITICAL at 0%) and -w/-c applied to the p95 session time. */
int sla_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep);

#endif
