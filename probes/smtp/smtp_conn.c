/* smtp_conn.c - the SMTP client connection: lock-step commands and replies
 * under one deadline, STARTTLS with the injection check, the AUTH exchange
 * (base64 framing, SASL-IR, "*" cancel), the message, a redacting trace. */
#include "config.h"
#include "smtp/smtp_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/clock.h"
#include "util/base64.h"
#include "smtp/smtp_cmd.h"

#define SMTP_INBUF 4096
#define SMTP_OUT_MAX (64u * 1024 * 1024)   /* the message, encoded */
#define TRACE_MAX 1024
#define REDACTED "<redacted>"

struct smtp_conn {
	struct transport *t;
	struct smtp_parser *p;
	smtp_trace_fn trace;
	void *trace_ud;
	int64_t deadline;
	int encrypted;

	struct smtp_caps caps;

	char in[SMTP_INBUF];
	size_t in_off, in_len;
	int64_t read_ns;                /* when the last read returned */
	unsigned waits;

	char cmd[32];                   /* the command in progress, for messages */
	int dead;                       /* sticky error */
	enum smtp_err err;
	char errmsg[1024];
};

/* ---------------------------------------------------------------- errors */

static int conn_verr(struct smtp_conn *c, enum smtp_err e, int fatal, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static int conn_verr(struct smtp_conn *c, enum smtp_err e, int fatal, const char *fmt, va_list ap)
{
	c->err = e;
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	if (fatal)
		c->dead = 1;
	return -1;
}

static int conn_error(struct smtp_conn *c, enum smtp_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_error(struct smtp_conn *c, enum smtp_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verr(c, e, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error after which the stream cannot be trusted. */
static int conn_fatal(struct smtp_conn *c, enum smtp_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_fatal(struct smtp_conn *c, enum smtp_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verr(c, e, 1, fmt, ap);
	va_end(ap);
	return -1;
}

static int conn_begin(struct smtp_conn *c, const char *cmd, struct smtp_result *res)
{
	memset(res, 0, sizeof(*res));
	strlcpy_s(c->cmd, cmd, sizeof(c->cmd));
	if (c->dead)
		return -1;
	c->err = SMTP_E_NONE;
	c->errmsg[0] = '\0';
	return 0;
}

enum smtp_err smtp_conn_err(const struct smtp_conn *c) { return c->err; }
const char *smtp_conn_errmsg(const struct smtp_conn *c) { return c->errmsg; }
unsigned smtp_conn_waits(const struct smtp_conn *c) { return c->waits; }

/* ---------------------------------------------------------------- life */

struct smtp_conn *smtp_conn_new(struct transport *t, const struct smtp_conn_opts *opts)
{
	struct smtp_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		transport_close(t);
		return NULL;
	}
	c->p = smtp_parser_new(opts ? &opts->limits : NULL);
	if (!c->p) {
		free(c);
		transport_close(t);
		return NULL;
	}
	c->t = t;
	if (opts) {
		c->trace = opts->trace;
		c->trace_ud = opts->trace_ud;
	}
	return c;
}

void smtp_conn_free(struct smtp_conn *c)
{
	if (!c)
		return;
	transport_close(c->t);
	smtp_parser_free(c->p);
	free(c);
}

void smtp_conn_set_deadline(struct smtp_conn *c, int64_t deadline_ns) { c->deadline = deadline_ns; }
const struct smtp_caps *smtp_conn_caps(const struct smtp_conn *c) { return &c->caps; }
struct transport *smtp_conn_transport(struct smtp_conn *c) { return c->t; }
int smtp_conn_encrypted(const struct smtp_conn *c) { return c->encrypted; }
void smtp_conn_set_encrypted(struct smtp_conn *c, int on) { c->encrypted = on; }

void smtp_conn_replace_transport(struct smtp_conn *c, struct transport *t)
{
	c->t = t;
	c->in_off = c->in_len = 0;
	memset(&c->caps, 0, sizeof(c->caps));
}

/* ---------------------------------------------------------------- trace */

static void trace_out(struct smtp_conn *c, const char *dir, const char *s, size_t n)
{
	char line[TRACE_MAX + 8];

	if (!c->trace)
		return;
	sanitize_text(line, sizeof(line), s, n);
	c->trace(c->trace_ud, dir, line, strlen(line));
}

/* A command line as it goes out; bytes from secret_off on are redacted. */
static void trace_cmd(struct smtp_conn *c, const char *s, size_t n, size_t secret_off)
{
	char line[TRACE_MAX];
	struct sbuf sb;

	if (!c->trace)
		return;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	sb_init(&sb, line, sizeof(line));
	if (secret_off < n) {
		sb_append(&sb, s, secret_off);
		sb_puts(&sb, REDACTED);
	} else {
		sb_append(&sb, s, n);
	}
	trace_out(c, "C", sb.data, sb.len);
}

static void trace_reply(struct smtp_conn *c, const struct smtp_reply *r)
{
	for (unsigned i = 0; c->trace && i < r->nlines; i++) {
		char line[TRACE_MAX];
		const char *s;
		size_t n;
		if (smtp_reply_line(r, i, &s, &n) < 0)
			break;
		struct sbuf sb;
		sb_init(&sb, line, sizeof(line));
		sb_printf(&sb, "%03d%c", r->code, i + 1 < r->nlines ? '-' : ' ');
		sb_append(&sb, s, n);
		trace_out(c, "S", sb.data, sb.len);
	}
}

static void trace_partial(struct smtp_conn *c)
{
	size_t n;
	const char *s = smtp_parser_partial_line(c->p, &n);
	char line[TRACE_MAX];
	struct sbuf sb;

	if (!c->trace || (n == 0 && smtp_parser_partial(c->p) == 0))
		return;
	sb_init(&sb, line, sizeof(line));
	sb_append(&sb, s, n > 200 ? 200 : n);
	sb_puts(&sb, n > 200 ? "... [incomplete]" : " [incomplete]");
	trace_out(c, "S", sb.data, sb.len);
}

/* ---------------------------------------------------------------- reading */

static int conn_fill(struct smtp_conn *c)
{
	char msg[256];

	c->in_off = c->in_len = 0;
	unsigned w0 = c->t->waits;
	ssize_t n = transport_read(c->t, c->in, sizeof(c->in), c->deadline);
	c->waits += c->t->waits - w0;
	if (n > 0) {
		c->in_len = (size_t)n;
		c->read_ns = clock_now_ns();
		return 0;
	}
	int mid = smtp_parser_partial(c->p) > 0;
	if (mid)
		trace_partial(c);
	switch (n) {
	case TR_TIMEOUT:
		return conn_fatal(c, SMTP_E_TIMEOUT, "%s: timeout waiting for the server's reply%s", c->cmd,
				  mid ? " (it sent part of one)" : "");
	case TR_EOF:
		return conn_fatal(c, SMTP_E_EOF, "%s: connection closed by the server%s", c->cmd,
				  mid ? " in the middle of a reply" : "");
	default:
		sanitize_text(msg, sizeof(msg), c->t->err, strnlen(c->t->err, sizeof(c->t->err)));
		return conn_fatal(c, SMTP_E_IO, "%s: read error: %s", c->cmd, msg[0] ? msg : "unknown error");
	}
}

/* The next complete reply. */
static int conn_reply(struct smtp_conn *c, const struct smtp_reply **out)
{
	*out = NULL;
	for (;;) {
		if (c->in_off < c->in_len) {
			size_t used = 0, avail = c->in_len - c->in_off;
			int rc = smtp_parser_feed(c->p, c->in + c->in_off, avail, &used);
			c->in_off += used <= avail ? used : avail;
			if (rc == SMTP_PARSE_DONE) {
				*out = smtp_parser_reply(c->p);
				trace_reply(c, *out);
				return 0;
			}
			if (rc == SMTP_PARSE_ERROR) {
				trace_partial(c);
				int lim = smtp_parser_error(c->p) == SMTP_PERR_LIMIT;
				return conn_fatal(c, lim ? SMTP_E_LIMIT : SMTP_E_PROTOCOL, "%s: %s%s", c->cmd,
						  lim ? "server reply too large: " : "", smtp_parser_errmsg(c->p));
			}
			continue;
		}
		if (conn_fill(c) < 0)
			return -1;
	}
}

static void fill_result(struct smtp_conn *c, const struct smtp_reply *r, struct smtp_result *res)
{
	res->code = r->code;
	strlcpy_s(res->enh, r->enh, sizeof(res->enh));
	smtp_reply_format(r, res->text, sizeof(res->text));
	res->lines = r->nlines;
	res->done_ns = c->read_ns;
}

/* Read the reply to the current command and judge it: 0 when its code is
 * one of the two expected (ok2 0: only ok1). */
static int conn_expect(struct smtp_conn *c, struct smtp_result *res, int ok1, int ok2)
{
	const struct smtp_reply *r;

	if (conn_reply(c, &r) < 0 || !r)
		return -1;
	fill_result(c, r, res);
	if (r->code == ok1 || (ok2 && r->code == ok2))
		return 0;
	if (r->code == 421)
		return conn_fatal(c, SMTP_E_CLOSING, "%s: server is closing the connection: %s", c->cmd,
				  res->text);
	if (r->code >= 400)
		return conn_error(c, SMTP_E_REPLY, "%s: %s", c->cmd, res->text);
	return conn_fatal(c, SMTP_E_PROTOCOL, "%s: unexpected reply (expected %d): %s", c->cmd, ok1,
			  res->text);
}

/* Anything the server sent that is not read yet, found by one
 * non-blocking read (a second one after a "would block": some transports
 * report one before data; a TLS transport returns what it has decrypted
 * already).  What it read goes to buf: the caller gives up the connection
 * then anyway.  Returns the bytes read (0: none; EOF and errors are left
 * for the next real read to report). */
static size_t injected_input(struct transport *t, char *buf, size_t len)
{
	for (int i = 0; i < 2; i++) {
		ssize_t n = t->ops->read(t, buf, len);
		if (n > 0)
			return (size_t)n;
		if (n != TR_WANT_READ)
			break;
	}
	return 0;
}

/* Send n bytes of a command: nothing may be waiting from the server (no
 * pipelining: a reply nobody asked for would answer the wrong command).
 * The trace shows the bytes before secret_off, then "<redacted>". */
static int conn_send(struct smtp_conn *c, const char *s, size_t n, size_t secret_off,
		     struct smtp_result *res)
{
	char msg[256];

	if (c->in_off == c->in_len) {
		size_t late = injected_input(c->t, c->in, sizeof(c->in));
		if (late) {
			c->in_off = 0;
			c->in_len = late;
		}
	}
	if (c->in_off < c->in_len) {
		char ex[80];
		sanitize_text(ex, sizeof(ex), c->in + c->in_off, c->in_len - c->in_off);
		return conn_fatal(c, SMTP_E_PROTOCOL, "%s: server sent data nobody asked for: \"%s\"",
				  c->cmd, ex);
	}
	trace_cmd(c, s, n, secret_off);
	if (res && !res->sent_ns)
		res->sent_ns = clock_now_ns();
	int rc = transport_write_all(c->t, s, n, c->deadline);
	if (rc == 0)
		return 0;
	if (rc == TR_TIMEOUT)
		return conn_fatal(c, SMTP_E_TIMEOUT, "%s: timeout sending the command", c->cmd);
	if (rc == TR_EOF)
		return conn_fatal(c, SMTP_E_EOF, "%s: connection closed by the server", c->cmd);
	sanitize_text(msg, sizeof(msg), c->t->err, strnlen(c->t->err, sizeof(c->t->err)));
	return conn_fatal(c, SMTP_E_IO, "%s: write error: %s", c->cmd, msg[0] ? msg : "unknown error");
}

/* Encode with enc (rc from it), send, expect ok1/ok2. */
static int conn_simple(struct smtp_conn *c, struct sbuf *sb, int enc_rc, struct smtp_result *res,
		       int ok1, int ok2)
{
	if (enc_rc != SMTP_ENC_OK)
		return conn_error(c, SMTP_E_LOCAL, "%s: %s", c->cmd, smtp_enc_strerror(enc_rc));
	if (conn_send(c, sb->data, sb->len, sb->len, res) < 0)
		return -1;
	return conn_expect(c, res, ok1, ok2);
}

/* ---------------------------------------------------------------- commands */

int smtp_conn_greeting(struct smtp_conn *c, struct smtp_result *res)
{
	if (conn_begin(c, "greeting", res) < 0)
		return -1;
	return conn_expect(c, res, 220, 0);
}

int smtp_conn_ehlo(struct smtp_conn *c, const char *domain, struct smtp_result *res)
{
	char mem[SMTP_MAX_CMD_LINE + 1];
	struct sbuf sb;
	const struct smtp_reply *r;

	if (conn_begin(c, "EHLO", res) < 0)
		return -1;
	sb_init(&sb, mem, sizeof(mem));
	int enc = smtp_enc_ehlo(&sb, domain);
	if (enc != SMTP_ENC_OK)
		return conn_error(c, SMTP_E_LOCAL, "EHLO: %s", smtp_enc_strerror(enc));
	if (conn_send(c, sb.data, sb.len, sb.len, res) < 0)
		return -1;
	if (conn_reply(c, &r) < 0 || !r)
		return -1;
	fill_result(c, r, res);
	if (r->code == 250) {
		smtp_caps_parse(&c->caps, r);
		return 0;
	}
	if (r->code == 421)
		return conn_fatal(c, SMTP_E_CLOSING, "EHLO: server is closing the connection: %s", res->text);
	if (r->code >= 400)
		return conn_error(c, SMTP_E_REPLY, "EHLO: %s", res->text);
	return conn_fatal(c, SMTP_E_PROTOCOL, "EHLO: unexpected reply (expected 250): %s", res->text);
}

int smtp_conn_starttls(struct smtp_conn *c, struct smtp_result *res)
{
	char mem[64];
	struct sbuf sb;

	if (conn_begin(c, "STARTTLS", res) < 0)
		return -1;
	if (!c->caps.known || !(c->caps.flags & SMTP_CAP_STARTTLS))
		return conn_fatal(c, SMTP_E_SECURITY,
				  "STARTTLS: the server does not offer STARTTLS (EHLO: %s); refusing to go on in plaintext",
				  c->caps.known ? (c->caps.raw[0] ? c->caps.raw : "no extensions") : "not sent");
	sb_init(&sb, mem, sizeof(mem));
	(void)smtp_enc_starttls(&sb);
	if (conn_send(c, sb.data, sb.len, sb.len, res) < 0)
		return -1;
	if (conn_expect(c, res, 220, 0) < 0) {
		if (c->err == SMTP_E_REPLY || c->err == SMTP_E_PROTOCOL)
			return conn_fatal(c, SMTP_E_SECURITY,
					  "STARTTLS: refused by the server (%s); refusing to go on in plaintext",
					  res->text);
		return -1;
	}
	size_t late = 0;
	char extra[64];
	if (c->in_off == c->in_len)
		late = injected_input(c->t, extra, sizeof(extra));
	if (c->in_off < c->in_len || late) {
		char ex[80];
		if (c->in_off < c->in_len)
			sanitize_text(ex, sizeof(ex), c->in + c->in_off, c->in_len - c->in_off);
		else
			sanitize_text(ex, sizeof(ex), extra, late);
		return conn_fatal(c, SMTP_E_SECURITY,
				  "STARTTLS: the server sent data after its 220 before the TLS handshake "
				  "(response injection?)%s%s%s", ex[0] ? ": \"" : "", ex, ex[0] ? "\"" : "");
	}
	memset(&c->caps, 0, sizeof(c->caps));
	return 0;
}

int smtp_conn_tls(struct smtp_conn *c, const struct tls_options *opt, struct tls_info *info,
		  char *err, size_t errlen)
{
	struct transport *out = NULL;

	if (c->dead) {
		snprintf(err, errlen, "%s", c->errmsg);
		return TLS_ERR_INTERNAL;
	}
	int rc = tls_start(c->t, opt, c->deadline, &out, info, err, errlen);
	if (rc != TLS_OK) {
		c->dead = 1;
		c->err = rc == TLS_ERR_TIMEOUT ? SMTP_E_TIMEOUT : SMTP_E_IO;
		snprintf(c->errmsg, sizeof(c->errmsg), "TLS: %s", err);
		return rc;
	}
	smtp_conn_replace_transport(c, out);
	c->encrypted = 1;
	return TLS_OK;
}

/* ---------------------------------------------------------------- AUTH */

/* Cancel a running exchange with "*" and read the server's answer (a
 * 501 normally); the AUTH error stays the caller's message. */
static int auth_cancel(struct smtp_conn *c, struct smtp_result *res, const char *why)
{
	char keep[sizeof(c->errmsg)];
	const struct smtp_reply *r;

	snprintf(keep, sizeof(keep), "AUTH: %s; exchange cancelled", why);
	if (conn_send(c, "*\r\n", 3, 3, res) < 0 || conn_reply(c, &r) < 0 || !r)
		return -1;
	fill_result(c, r, res);
	if (r->code == 334)
		return conn_fatal(c, SMTP_E_PROTOCOL, "AUTH: the server went on after \"*\": %s", res->text);
	if (r->code == 235)
		return conn_fatal(c, SMTP_E_PROTOCOL,
				  "AUTH: the server accepted a cancelled exchange: %s", res->text);
	return conn_error(c, SMTP_E_AUTH, "%s", keep);
}

/* Ask the mechanism for a message and send it, base64-framed.  line_ir:
 * the AUTH command itself (initial response). */
static int auth_send(struct smtp_conn *c, const char *mech, const unsigned char *chal, size_t clen,
		     int first, int initial, smtp_auth_fn fn, void *ud, struct smtp_result *res)
{
	struct sbuf msg, line;
	char err[256] = "";
	int rc = 0;

	if (sb_init_alloc(&msg, SMTP_MAX_AUTH_LINE) < 0 || sb_init_alloc(&line, SMTP_MAX_AUTH_LINE + 64) < 0) {
		sb_free(&msg);
		return conn_error(c, SMTP_E_LOCAL, "AUTH: out of memory");
	}
	if ((!first || initial) && fn(ud, chal, clen, &msg, err, sizeof(err)) < 0) {
		sb_free(&msg);
		sb_free(&line);
		if (first)   /* nothing sent yet: no exchange to cancel */
			return conn_error(c, SMTP_E_AUTH, "AUTH %s: %s", mech, err[0] ? err : "mechanism failed");
		return auth_cancel(c, res, err[0] ? err : "mechanism failed");
	}
	size_t secret_off = 0;
	int enc = msg.truncated ? SMTP_ENC_TOO_LONG
		: first ? smtp_enc_auth(&line, mech, (const unsigned char *)msg.data, msg.len, initial, &secret_off)
			: smtp_enc_auth_response(&line, (const unsigned char *)msg.data, msg.len);
	if (enc != SMTP_ENC_OK) {
		rc = first ? conn_error(c, SMTP_E_LOCAL, "AUTH %s: %s", mech, smtp_enc_strerror(enc))
			   : auth_cancel(c, res, smtp_enc_strerror(enc));
	} else {
		/* every response line is secret; an empty one shows as such */
		if (!first && line.len == 2)
			secret_off = 2;
		rc = conn_send(c, line.data, line.len, secret_off, res);
	}
	sb_free(&msg);
	sb_free(&line);
	return rc;
}

int smtp_conn_auth(struct smtp_conn *c, const char *mech, int initial, smtp_auth_fn fn, void *ud,
		   struct smtp_result *res)
{
	const struct smtp_reply *r;

	if (conn_begin(c, "AUTH", res) < 0)
		return -1;
	if (auth_send(c, mech, NULL, 0, 1, initial, fn, ud, res) < 0)
		return -1;
	for (unsigned round = 0;; round++) {
		if (conn_reply(c, &r) < 0 || !r)
			return -1;
		fill_result(c, r, res);
		if (r->code == 235)
			return 0;
		if (r->code == 421)
			return conn_fatal(c, SMTP_E_CLOSING, "AUTH %s: server is closing the connection: %s",
					  mech, res->text);
		if (r->code >= 400)
			return conn_error(c, SMTP_E_REPLY, "AUTH %s: %s", mech, res->text);
		if (r->code != 334)
			return conn_fatal(c, SMTP_E_PROTOCOL, "AUTH %s: unexpected reply: %s", mech, res->text);
		if (round >= SMTP_AUTH_MAX_ROUNDS)
			return auth_cancel(c, res, "too many challenges");
		if (r->nlines != 1)
			return auth_cancel(c, res, "multi-line 334 challenge");
		size_t tl = r->text_len;
		unsigned char *chal = malloc(tl + 1);
		if (!chal)
			return conn_error(c, SMTP_E_LOCAL, "AUTH: out of memory");
		long n = tl ? base64_decode(r->text, tl, chal, tl + 1) : 0;
		int rc;
		if (n < 0)
			rc = auth_cancel(c, res, "the server's challenge is not base64");
		else
			rc = auth_send(c, mech, chal, (size_t)n, 0, initial, fn, ud, res);
		secure_zero(chal, tl + 1);
		free(chal);
		if (rc < 0)
			return -1;
	}
}

/* ---------------------------------------------------------------- mail */

int smtp_conn_mail(struct smtp_conn *c, const char *from, const char *params, struct smtp_result *res)
{
	char mem[SMTP_MAX_CMD_LINE + 1];
	struct sbuf sb;

	if (conn_begin(c, "MAIL FROM", res) < 0)
		return -1;
	sb_init(&sb, mem, sizeof(mem));
	return conn_simple(c, &sb, smtp_enc_mail_from(&sb, from, params), res, 250, 0);
}

int smtp_conn_rcpt(struct smtp_conn *c, const char *to, struct smtp_result *res)
{
	char mem[SMTP_MAX_CMD_LINE + 1];
	struct sbuf sb;

	if (conn_begin(c, "RCPT TO", res) < 0)
		return -1;
	sb_init(&sb, mem, sizeof(mem));
	return conn_simple(c, &sb, smtp_enc_rcpt_to(&sb, to), res, 250, 251);
}

int smtp_conn_rset(struct smtp_conn *c, struct smtp_result *res)
{
	char mem[16];
	struct sbuf sb;

	if (conn_begin(c, "RSET", res) < 0)
		return -1;
	sb_init(&sb, mem, sizeof(mem));
	return conn_simple(c, &sb, smtp_enc_rset(&sb), res, 250, 0);
}

int smtp_conn_data(struct smtp_conn *c, const char *msg, size_t len, struct smtp_result *res)
{
	char mem[16];
	struct sbuf sb, body;

	if (conn_begin(c, "DATA", res) < 0)
		return -1;
	if (sb_init_alloc(&body, SMTP_OUT_MAX) < 0)
		return conn_error(c, SMTP_E_LOCAL, "DATA: out of memory");
	int enc = smtp_enc_message(&body, msg, len);
	if (enc != SMTP_ENC_OK) {
		sb_free(&body);
		return conn_error(c, SMTP_E_LOCAL, "DATA: the message: %s", smtp_enc_strerror(enc));
	}
	sb_init(&sb, mem, sizeof(mem));
	if (conn_simple(c, &sb, smtp_enc_data(&sb), res, 354, 0) < 0) {
		sb_free(&body);
		return -1;
	}
	strlcpy_s(c->cmd, "end of DATA", sizeof(c->cmd));
	if (c->trace) {
		char note[64];
		int k = snprintf(note, sizeof(note), "<message: %zu bytes>", body.len);
		c->trace(c->trace_ud, "C", note, (size_t)k);
	}
	int64_t sent = res->sent_ns;
	memset(res, 0, sizeof(*res));
	res->sent_ns = sent;
	smtp_trace_fn saved = c->trace;
	c->trace = NULL;    /* the message is summarised above */
	int rc = conn_send(c, body.data, body.len, body.len, res);
	c->trace = saved;
	sb_free(&body);
	if (rc < 0)
		return -1;
	return conn_expect(c, res, 250, 0);
}

int smtp_conn_quit(struct smtp_conn *c, struct smtp_result *res)
{
	char mem[16];
	struct sbuf sb;
	const struct smtp_reply *r;

	if (conn_begin(c, "QUIT", res) < 0)
		return -1;
	sb_init(&sb, mem, sizeof(mem));
	(void)smtp_enc_quit(&sb);
	if (conn_send(c, sb.data, sb.len, sb.len, res) < 0)
		return -1;
	if (conn_reply(c, &r) < 0 || !r) {
		if (c->err == SMTP_E_EOF && smtp_parser_partial(c->p) == 0) {
			c->err = SMTP_E_NONE;
			c->errmsg[0] = '\0';
			return 0;
		}
		return -1;
	}
	fill_result(c, r, res);
	if (r->code == 221)
		return 0;
	return conn_error(c, r->code >= 400 ? SMTP_E_REPLY : SMTP_E_PROTOCOL, "QUIT: %s", res->text);
}
