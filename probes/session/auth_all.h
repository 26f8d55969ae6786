/* auth_all.h - --auth all: every advertised mechanism on a connection of its own. */
#ifndef CIS_SESSION_AUTH_ALL_H
#define CIS_SESSION_AUTH_ALL_H

#include "session/state.h"

/* One connection per advertised mechanism, in a stable order. */
void sess_auth_all(struct sess *s);

#endif
