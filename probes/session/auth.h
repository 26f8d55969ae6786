/* auth.h - the auth step: which mechanism, and the login itself. */
#ifndef CIS_SESSION_AUTH_H
#define CIS_SESSION_AUTH_H

#include "session/state.h"

struct sasl_mech;

/* The auth step on s's connection (after the greeting): 0 logged in (or
 * no login wanted, or deferred into the first flight), -1 recorded. */
int sess_auth(struct sess *s);
/* m can be used with these credentials on this connection; explicit: the
 * user named it (then a plaintext mechanism may go unencrypted). */
int sess_mech_usable(struct sess *s, const struct sasl_mech *m, int explicit);
/* Channel binding for this TLS connection: 1 and the outputs (when
 * non-NULL), or 0 (why in s->cb_why). */
int sess_cb_get(struct sess *s, const char **type, unsigned char *data, size_t *len);

#endif
