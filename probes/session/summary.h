/* summary.h - perfdata, thresholds and the OK summary of a session. */
#ifndef CIS_SESSION_SUMMARY_H
#define CIS_SESSION_SUMMARY_H

#include "session/state.h"

/* After the session: perfdata for every step and count, then (unless a
 * step failed) the threshold checks and the one-line summary. */
void sess_summarize(struct sess *s);

#endif
