/* mailbox.h - the mailbox read steps. */
#ifndef CIS_SESSION_MAILBOX_H
#define CIS_SESSION_MAILBOX_H

#include "session/state.h"

/* NAMESPACE, LIST, STATUS + EXAMINE/SELECT, GETQUOTAROOT: one flight, or
 * two when the mailbox name needs the namespace first. 0, or -1 recorded. */
int sess_read_mailbox(struct sess *s);
/* The search flight and the fetch flight (unless they went with the
 * EXAMINE), and the age the --age-* thresholds look at. 0, or -1 recorded. */
int sess_read_messages(struct sess *s);

#endif
