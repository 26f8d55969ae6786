/* delivery.h - --deliver-via: the end-to-end delivery check. */
#ifndef CIS_SESSION_DELIVERY_H
#define CIS_SESSION_DELIVERY_H

#include "session/state.h"

/* On the logged-in connection of s with the mailbox selected read-write
 * (and UIDPLUS offered): wait on the mailbox (IDLE, or NOOP polling where
 * IDLE is not offered), submit a probe message by SMTP
 * (delivery_smtp.c), time its arrival (the "delivery" step, from the 250
 * after DATA to the EXISTS), find it by its token, fetch its headers (the
 * Received: path goes to the long output), and delete exactly that UID
 * together with probe messages left behind by earlier runs.  0, or -1
 * with the failure recorded. */
int sess_delivery(struct sess *s);

#endif
