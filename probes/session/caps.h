/* caps.h - the server's capabilities as the session knows them, and the
 * login deferred into the first flight (--pipeline), whose answer decides
 * which capabilities are in force. */
#ifndef CIS_SESSION_CAPS_H
#define CIS_SESSION_CAPS_H

#include "session/state.h"

/* Make sure capabilities are known: settle a deferred login, then the
 * CAPABILITY step if the server has not listed them since. */
int sess_ensure_caps(struct sess *s);
/* The server listed flag, or (while the login is in flight) the cache
 * entry says it will; a use of the latter is recorded. */
int sess_caps_have(struct sess *s, uint32_t flag);
/* A list is known and does not have flag. */
int sess_caps_lack(struct sess *s, uint32_t flag);
/* The server has the last message of the login: the pre-login
 * capabilities are stale from here on. */
void sess_forget_caps(struct sess *s);
/* --pipeline: queue the login command cmd (its bytes go out with the
 * first mailbox flight) instead of waiting for its answer now; the auth
 * step st stays open until sess_auth_settle().  0, or -1 recorded. */
int sess_defer_login(struct sess *s, struct step *st, struct imap_cmd *cmd, const char *cmdname);
/* A login deferred into the first flight: read its result and finish the
 * auth step.  0 when nothing was pending or it succeeded, -1 after
 * recording the failure (auth failed, as in the sequential mode). */
int sess_auth_settle(struct sess *s);

#endif
