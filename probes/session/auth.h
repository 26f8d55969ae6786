/* auth.h - the auth step: which mechanism, and the login itself. */
#ifndef CIS_SESSION_AUTH_H
#define CIS_SESSION_AUTH_H

#include "session/state.h"

struct sasl_mech;

/* The auth step on s's connection (after the greeting): 0 logged in (or
 * no login wanted, or deferred into the first flight), -1 recorded. */
int sess_auth(struct sess *s);
/* The server's AUTH= list for messages: " PLAIN XOAUTH2" (one leading
 * space, none at the end), or " none"; in buf (len bytes) or static. */
const char *sess_auth_offers(const struct imap_caps *caps, char *buf, size_t len);
/* m can be used with these credentials on this connection; explicit: the
 * user named it (then a mechanism that sends a password or bearer token
 * readable, SASL_F_PLAINTEXT, may go unencrypted). */
int sess_mech_usable(struct sess *s, const struct sasl_mech *m, int explicit);
/* Channel binding for this TLS connection: 1 and the outputs (when
 * non-NULL), or 0 (why in s->cb_why). */
int sess_cb_get(struct sess *s, const char **type, unsigned char *data, size_t *len);

#endif
