/* session.h - run one scripted IMAP session under one deadline and record
 * every step in a report.  Never prints (except the -vvv protocol trace,
 * which goes to the trace sink given in the config's trace callback). */
#ifndef CIS_SESSION_H
#define CIS_SESSION_H

#include <signal.h>

#include "session/probe.h"
#include "report/report.h"
#include "util/util.h"

/* Protocol trace sink for -vvv: dir is "C" (client) or "S" (server);
 * the text is one line without CRLF, secrets already redacted. */
typedef void (*trace_fn)(void *ud, const char *dir, const char *line, size_t len);

struct session_env {
	trace_fn trace;     /* NULL: no trace */
	void *trace_ud;
	/* NULL, or a flag the caller's signal handler sets (to the signal's
	 * number) to end the run now: the session treats it as its deadline
	 * passing at that moment (every wait gives up, the step it was in is
	 * reported as "terminated during <step> (<signal>)" with the -t
	 * state), then tries a LOGOUT bounded to a few hundred milliseconds;
	 * sla_run stops and reports the sessions that finished. */
	const volatile sig_atomic_t *stop;
};

/* Run the session described by cfg; fills rep (report_init'ed by the
 * caller) and returns rep->state. */
int session_run(const struct probe_config *cfg, const struct session_env *env, struct report *rep);

#endif
