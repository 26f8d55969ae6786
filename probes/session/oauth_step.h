/* oauth_step.h - the session's oauth_token step (oauth_step.c): the access
 * token for XOAUTH2 / OAUTHBEARER from the token endpoint or the cache. */
#ifndef CIS_OAUTH_STEP_H
#define CIS_OAUTH_STEP_H

struct sess;

/* --oauth-token-url is set and the session logs in. */
int sess_oauth_wanted(const struct sess *s);
/* Run the step: 0 with the token in the session, -1 after reporting the
 * failure (CRITICAL for the endpoint, UNKNOWN for local configuration,
 * the -t state on a timeout).  fresh: skip the cache. */
int sess_oauth_token(struct sess *s, int fresh);
/* The server refused the token: drop its cache entry. */
void sess_oauth_forget(struct sess *s);
/* Wipe and release the session's token; safe twice.  (The login reads it
 * with sess_token(), state.h.) */
void sess_oauth_release(struct sess *s);

#endif
