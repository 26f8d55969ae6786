/* smtp_cmd.h - SMTP command encoding (RFC 5321, RFC 4954 AUTH), pure: each
 * function appends one command line with its CRLF to a caller's buffer,
 * or, for the message, the DATA payload with its final ".".
 *
 * Every function returns SMTP_ENC_OK or why it refused (nothing useful is
 * in out then: the caller resets it).  Arguments that end up on the wire
 * are checked so that no user input can inject a line: CR, LF and NUL are
 * refused everywhere, '<' and '>' in addresses.
 *
 * Secrets: smtp_enc_auth() reports where the secret part of its line
 * starts, so a trace can show "AUTH PLAIN <redacted>"; the buffer of an
 * AUTH line or a SASL response holds a secret and is the caller's to wipe
 * (sb_reset / sb_free do). */
#ifndef CIS_SMTP_CMD_H
#define CIS_SMTP_CMD_H

#include <stddef.h>

#include "util/util.h"

enum smtp_enc {
	SMTP_ENC_OK = 0,
	SMTP_ENC_BAD_ARG,    /* empty, CR/LF/NUL, space, '<>' or 8-bit where
	                        not allowed */
	SMTP_ENC_TOO_LONG,   /* an argument or the line is over its limit, or
	                        out is full */
};

#define SMTP_MAX_ADDR 254     /* RFC 5321 4.5.3.1.3: path 256 with "<>" */
#define SMTP_MAX_DOMAIN 255
#define SMTP_MAX_CMD_LINE 512 /* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_MAX_AUTH_LINE 12288  /* RFC 4954 4: AUTH lines may be longer */

/* Readable reason for an enum smtp_enc. */
const char *smtp_enc_strerror(int rc);

/* "EHLO domain": a host name or an address literal ("[192.0.2.1]");
 * printable ASCII without spaces. */
int smtp_enc_ehlo(struct sbuf *out, const char *domain);
int smtp_enc_starttls(struct sbuf *out);
int smtp_enc_quit(struct sbuf *out);
int smtp_enc_data(struct sbuf *out);
int smtp_enc_rset(struct sbuf *out);

/* "AUTH MECH", or with an initial response (has_ir): "AUTH MECH base64",
 * "AUTH MECH =" when the response is empty (RFC 4954 4).  *secret_off
 * (may be NULL) gets the offset in out where the secret part starts
 * (out->len when there is none).  mech: 1-20 of A-Z 0-9 - _ (any case). */
int smtp_enc_auth(struct sbuf *out, const char *mech, const unsigned char *ir, size_t irlen,
		  int has_ir, size_t *secret_off);
/* A response to a 334 challenge: base64 (an empty line for an empty
 * response). */
int smtp_enc_auth_response(struct sbuf *out, const unsigned char *resp, size_t len);
/* "*": cancel the exchange (RFC 4954 4). */
int smtp_enc_auth_cancel(struct sbuf *out);

/* Validate a mailbox for MAIL FROM / RCPT TO: printable ASCII (0x21-0x7e)
 * without '<' or '>', at most SMTP_MAX_ADDR bytes; empty only where
 * empty_ok (the null reverse-path "<>"). */
int smtp_addr_check(const char *addr, int empty_ok);
/* "MAIL FROM:<addr>" (addr may be "" for the null reverse-path); params
 * (may be NULL) e.g. "BODY=8BITMIME SIZE=1234": printable ASCII and
 * spaces. */
int smtp_enc_mail_from(struct sbuf *out, const char *addr, const char *params);
/* "RCPT TO:<addr>". */
int smtp_enc_rcpt_to(struct sbuf *out, const char *addr);

/* The DATA payload for n bytes of msg: line ends normalised to CRLF (a
 * lone LF or a lone CR becomes CRLF), a '.' starting a line doubled
 * (RFC 5321 4.5.2), a CRLF added after a last line without one, then
 * ".\r\n".  NUL bytes are refused. */
int smtp_enc_message(struct sbuf *out, const char *msg, size_t n);

#endif
