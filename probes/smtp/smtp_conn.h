/* smtp_conn.h - an SMTP client connection (RFC 5321, RFC 3207 STARTTLS,
 * RFC 4954 AUTH) over a struct transport: greeting, EHLO, STARTTLS, AUTH
 * driven by a caller's mechanism, MAIL FROM, RCPT TO, DATA, QUIT.
 *
 * One command at a time (no PIPELINING): every command is written, then
 * its reply read under the one deadline of smtp_conn_set_deadline().  A
 * server that sends anything before the client asked (bytes left over
 * after a reply) breaks the lock-step and is a protocol error; after the
 * 220 to STARTTLS it is a response injection (RFC 3207 5, the USENIX
 * Security 2021 STARTTLS study) and a security error.
 *
 * Errors: functions returning int give 0 when the server answered with the
 * success code the command expects and -1 otherwise; smtp_conn_err()
 * then tells the kind and smtp_conn_errmsg() a sanitized message naming
 * the command and quoting the server's reply ("RCPT TO: 550 5.1.1 <x>:
 * Recipient address rejected"); the reply itself is in the result.
 * TIMEOUT, EOF, IO, PROTOCOL, LIMIT, SECURITY and CLOSING (a 421) are
 * sticky: every later call fails at once with the same error.  REPLY (a
 * 4xx/5xx answer), AUTH (the mechanism gave up; the exchange was
 * cancelled with "*") and LOCAL (a bad argument: nothing was sent) leave
 * the connection usable.  Messages never contain a secret.
 *
 * Timing: a result's sent_ns is taken just before the command's first byte
 * is written, done_ns when the read that delivered the reply's last byte
 * returned. */
#ifndef CIS_SMTP_CONN_H
#define CIS_SMTP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "net/tls.h"
#include "net/transport.h"
#include "smtp/smtp_reply.h"
#include "util/util.h"

enum smtp_err {
	SMTP_E_NONE = 0,
	SMTP_E_TIMEOUT,     /* deadline passed */
	SMTP_E_EOF,         /* server closed the connection */
	SMTP_E_IO,          /* transport error */
	SMTP_E_PROTOCOL,    /* not a reply, an unexpected code, unsolicited data */
	SMTP_E_LIMIT,       /* a reply over a parser limit */
	SMTP_E_SECURITY,    /* STARTTLS not offered or refused, response injection */
	SMTP_E_CLOSING,     /* 421: the server is closing the connection */
	SMTP_E_REPLY,       /* the server refused the command (4xx/5xx) */
	SMTP_E_AUTH,        /* the mechanism failed; exchange cancelled */
	SMTP_E_LOCAL,       /* bad argument or ENOMEM; nothing sent */
};

/* Trace sink: dir "C" or "S", one line without CRLF; secrets show as
 * "<redacted>", the message as "<message: N bytes>". */
typedef void (*smtp_trace_fn)(void *ud, const char *dir, const char *line, size_t len);

struct smtp_conn_opts {
	struct smtp_limits limits;   /* zero fields: defaults */
	smtp_trace_fn trace;
	void *trace_ud;
};

struct smtp_result {
	int code;                    /* reply code, 0 if none arrived */
	char enh[16];                /* enhanced status code or "" */
	char text[768];              /* the reply formatted (smtp_reply_format:
	                                code, enhanced code, lines joined),
	                                sanitized */
	unsigned lines;
	int64_t sent_ns;             /* when the command went out (0: none) */
	int64_t done_ns;             /* when its reply arrived */
};

struct smtp_conn;

/* Takes ownership of t; opts may be NULL.  NULL on ENOMEM (t is then
 * closed). */
struct smtp_conn *smtp_conn_new(struct transport *t, const struct smtp_conn_opts *opts);
void smtp_conn_free(struct smtp_conn *c);   /* NULL-safe; closes the transport */
void smtp_conn_set_deadline(struct smtp_conn *c, int64_t deadline_ns);

/* The 220 greeting.  A 554 (or any 4xx/5xx) is REPLY, a 421 CLOSING. */
int smtp_conn_greeting(struct smtp_conn *c, struct smtp_result *res);

/* EHLO domain; on 250 the capabilities are replaced by its answer. */
int smtp_conn_ehlo(struct smtp_conn *c, const char *domain, struct smtp_result *res);
/* The capabilities of the last successful EHLO (known = 0 before one and
 * after STARTTLS). */
const struct smtp_caps *smtp_conn_caps(const struct smtp_conn *c);

/* STARTTLS: needs an EHLO answer that offers it (else SECURITY, nothing
 * sent); a refusal is SECURITY; so is any byte the server sent after its
 * 220, whether already read or still waiting on the socket.  On success
 * the capabilities are forgotten: run the TLS handshake (smtp_conn_tls),
 * then EHLO again. */
int smtp_conn_starttls(struct smtp_conn *c, struct smtp_result *res);
/* tls_start() over the connection's transport, which the TLS transport
 * replaces on success.  Returns an enum tls_err (TLS_OK: 0); err is filled
 * on failure and the connection is then unusable (nothing may be sent in
 * the clear after STARTTLS). */
int smtp_conn_tls(struct smtp_conn *c, const struct tls_options *opt, struct tls_info *info,
		  char *err, size_t errlen);
/* The transport in use; replace hands over a new one (the old one was
 * taken over by it, and is not closed) and forgets the capabilities. */
struct transport *smtp_conn_transport(struct smtp_conn *c);
void smtp_conn_replace_transport(struct smtp_conn *c, struct transport *t);
/* 1 once the transport came from smtp_conn_tls (or was said to be TLS). */
int smtp_conn_encrypted(const struct smtp_conn *c);
void smtp_conn_set_encrypted(struct smtp_conn *c, int on);

/* The mechanism side of AUTH: produce the next client message into out.
 * chal is NULL for the initial response (SASL-IR), else the decoded 334
 * challenge (may be empty).  Return 0 to send out (may be empty), or -1
 * when the mechanism cannot go on (message in err, never a secret): the
 * exchange is then cancelled with "*".  out may hold a secret: it is
 * wiped after sending. */
typedef int (*smtp_auth_fn)(void *ud, const unsigned char *chal, size_t chal_len,
			    struct sbuf *out, char *err, size_t errlen);

#define SMTP_AUTH_MAX_ROUNDS 16

/* AUTH mech; initial: send the first client message with the command
 * (SASL-IR, "=" when empty); else wait for the first 334.  Success is 235.
 * Challenges that are not base64, a mechanism error and more than
 * SMTP_AUTH_MAX_ROUNDS challenges cancel with "*" (AUTH error; the
 * server's answer to the cancel is read).  A 4xx/5xx is REPLY (535 bad
 * credentials, 534, 538...), a 421 CLOSING. */
int smtp_conn_auth(struct smtp_conn *c, const char *mech, int initial, smtp_auth_fn fn, void *ud,
		   struct smtp_result *res);

/* MAIL FROM:<from> (params may be NULL), RCPT TO:<to> (250 or 251). */
int smtp_conn_mail(struct smtp_conn *c, const char *from, const char *params,
		   struct smtp_result *res);
int smtp_conn_rcpt(struct smtp_conn *c, const char *to, struct smtp_result *res);
/* DATA, the 354, the message (smtp_enc_message: CRLF, dot-stuffing, the
 * final "."), its 250.  res gets the final reply (or the refusal of DATA);
 * res->done_ns is when the message was accepted. */
int smtp_conn_data(struct smtp_conn *c, const char *msg, size_t len, struct smtp_result *res);
/* RSET (250). */
int smtp_conn_rset(struct smtp_conn *c, struct smtp_result *res);
/* QUIT; a 221, or the server closing the connection right away, is
 * success.  Also fine on a connection after a REPLY error. */
int smtp_conn_quit(struct smtp_conn *c, struct smtp_result *res);

enum smtp_err smtp_conn_err(const struct smtp_conn *c);
const char *smtp_conn_errmsg(const struct smtp_conn *c);
/* Reads that had to wait for the server (a round-trip measure). */
unsigned smtp_conn_waits(const struct smtp_conn *c);

#endif
