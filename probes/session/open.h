/* open.h - opening and closing one connection of a session. */
#ifndef CIS_SESSION_OPEN_H
#define CIS_SESSION_OPEN_H

#include "session/state.h"

/* Connect, TLS, greeting, STARTTLS and login for s (s->conn is set as soon
 * as there is a connection, also on failure).  Returns 1 when the session
 * is authenticated (or PREAUTH), 0 when no login was wanted (--auth none,
 * no user), -1 after a failure (recorded).  Used for the main connection
 * and for the --idle second connection. */
int sess_open(struct sess *s);
/* LOGOUT when the connection is still usable (keeps s->failed as it was). */
void sess_close(struct sess *s);

#endif
