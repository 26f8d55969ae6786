/* idle.h - the --idle steps. */
#ifndef CIS_SESSION_IDLE_H
#define CIS_SESSION_IDLE_H

#include "session/state.h"

/* IDLE here, APPEND through a second connection, time the push; 0 or -1
 * recorded. */
int sess_idle_push(struct sess *s);

#endif
