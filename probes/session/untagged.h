/* untagged.h - the untagged-response handler of a session's connections. */
#ifndef CIS_SESSION_UNTAGGED_H
#define CIS_SESSION_UNTAGGED_H

#include "session/state.h"

/* imap_untagged_fn for a connection of s (ud = s): updates s->mb. */
int sess_on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r);
/* The --expect-folder names resolved against the personal namespace. */
void sess_resolve_expected(struct sess *s);

#endif
