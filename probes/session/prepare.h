/* prepare.h - what is checked and parsed before connecting. */
#ifndef CIS_SESSION_PREPARE_H
#define CIS_SESSION_PREPARE_H

#include "session/state.h"

/* Before connecting: check the mailbox options, parse --search criteria
 * and --script; 0, or -1 after recording an UNKNOWN failure. */
int sess_mailbox_prepare(struct sess *s);
/* Free what prepare allocated. */
void sess_mailbox_release(struct sess *s);

#endif
