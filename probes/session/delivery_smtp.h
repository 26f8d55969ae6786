/* delivery_smtp.h - the SMTP half of --deliver-via: submit the probe
 * message, each protocol step timed (smtp_connect, smtp_tls,
 * smtp_greeting, smtp_ehlo, smtp_starttls, smtp_auth, smtp_mail,
 * smtp_rcpt, smtp_data), then QUIT once the delivery has been seen. */
#ifndef CIS_SESSION_DELIVERY_SMTP_H
#define CIS_SESSION_DELIVERY_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "session/state.h"

struct smtp_conn;

struct smtp_sent {
	int64_t accepted_ns;        /* when the 250 after DATA arrived */
	char reply[256];            /* that reply ("250 2.0.0 Ok: queued as X") */
};

/* The envelope addresses --deliver-via uses: --mail-from/--rcpt-to, or
 * the IMAP user when it is an address.  NULL when there is none. */
const char *delivery_rcpt(const struct probe_config *cfg);
const char *delivery_from(const struct probe_config *cfg);

/* Submit n bytes of msg through cfg->deliver_via.  0: accepted, *conn is
 * the open connection (for delivery_smtp_quit); -1: the failure is
 * recorded (step named, the server's words) and *conn is NULL. */
int delivery_smtp_send(struct sess *s, const char *msg, size_t n, struct smtp_sent *out, struct smtp_conn **conn);
/* QUIT (smtp_quit step) and free the connection; a failure to say goodbye
 * only goes to the long output. */
void delivery_smtp_quit(struct sess *s, struct smtp_conn *conn);

#endif
