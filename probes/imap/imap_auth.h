/* imap_auth.h - the AUTHENTICATE exchange on an IMAP connection (RFC 3501
 * 6.2.2 / RFC 9051, SASL-IR RFC 4959), for any SASL mechanism.
 *
 * The mechanism is a callback (decoded challenge in, response out), so this
 * layer knows nothing of SASL: it does the IMAP framing - the initial
 * response inline when the server offers SASL-IR ("=" when empty), base64
 * both ways, "+" continuations (a bare "+" without a space is an empty
 * challenge), "*" to cancel when the mechanism refuses a challenge - and
 * hands untagged data to the caller's handler.
 *
 * Capabilities: the server may list new ones once the login is done, so
 * the list in force is forgotten (imap_conn_caps_reset) as soon as the
 * server has the command, and again after each response sent: a list that
 * arrives with (or just before) the tagged OK fills it in again. */
#ifndef CIS_IMAP_AUTH_H
#define CIS_IMAP_AUTH_H

#include <stddef.h>

#include "imap/imap_conn.h"
#include "util/util.h"

/* Answer one decoded server challenge into out (empty on entry).  0 to
 * send it, -1 when the mechanism refuses the challenge (the exchange is
 * then cancelled with "*"; the reason stays with the caller). */
typedef int (*imap_auth_step_fn)(void *ud, const unsigned char *in, size_t inlen, struct sbuf *out);

struct imap_auth {
	const char *mech;               /* IMAP name: "SCRAM-SHA-256" */
	const struct sbuf *initial;     /* the initial response (may be empty,
	                                   and hold a secret); NULL for a
	                                   server-first mechanism */
	imap_auth_step_fn step;         /* answers every later challenge */
	void *step_ud;
	imap_untagged_fn untagged;      /* untagged data meanwhile (may be NULL) */
	void *untagged_ud;
	unsigned max_rounds;            /* challenges before giving up; 0: 16 */
};

/* What imap_authenticate() ended with. */
enum imap_auth_end {
	IMAP_AUTH_DONE = 0,     /* the tagged response is in res (any status) */
	IMAP_AUTH_CONN = -1,    /* the connection failed: imap_conn_err/errmsg */
	IMAP_AUTH_MECH = -2,    /* the step callback refused a challenge: "*" sent */
	IMAP_AUTH_BASE64 = -3,  /* a challenge was not valid base64: "*" sent */
	IMAP_AUTH_ROUNDS = -4,  /* more than max_rounds challenges */
	IMAP_AUTH_TAG = -5,     /* a tagged reply to another command */
	IMAP_AUTH_NOMEM = -6,   /* out of memory (nothing sent, or "*" sent) */
	IMAP_AUTH_SEND = -7,    /* the command itself could not be sent:
	                           imap_conn_err/errmsg */
};

/* Build "AUTHENTICATE <mech> [initial-response]" in cmd (imap_cmd_init'ed
 * here; the caller frees it); cmd->name is "AUTHENTICATE <mech>".  The
 * initial response goes inline when the connection lists SASL-IR.
 * Returns 1 when it went inline (or there is none), 0 when it must wait
 * for the server's first continuation, -1 out of memory (cmd freed).
 * For a caller that queues the command itself (pipelining). */
int imap_auth_command(struct imap_cmd *cmd, struct imap_conn *c, const char *mech, const struct sbuf *initial);

/* Run the whole exchange: send the command, answer each continuation, and
 * return at the tagged response (res filled, as imap_conn_wait does) or
 * at the first failure (enum imap_auth_end). */
int imap_authenticate(struct imap_conn *c, const struct imap_auth *a, struct imap_result *res);

#endif
