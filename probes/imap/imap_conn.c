/* imap_conn.c - an IMAP client connection: tags, sending commands built
 * by encode.c (literals, '+' continuations), reading responses until a
 * tagged completion, capabilities, BYE, pipelining, the trace sink.
 *
 * Reading: bytes from the transport land in a fixed input buffer and are
 * fed to the parser; the parser consumes everything it is given unless it
 * completes a response, so the buffer only holds bytes of responses not yet
 * parsed (imap_conn_buffered()).  The same bytes pass through the trace
 * scanner (trace.c) that builds the trace line (literal data summarized).
 *
 * Writing: a command is rendered as "tag text\r\n" into an output buffer
 * together with any queued commands and written in one go; synchronizing
 * literals split it into segments with a wait for "+" in between.  The
 * output buffer may hold secrets and is wiped after every write. */
#include "config.h"
#include "imap/imap_conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/trace.h"
#include "net/clock.h"

#define CONN_DEFAULT_MAX_UNTAGGED 100000u

/* ---------------------------------------------------------------- types */

/* A growable byte buffer for outgoing data (not bounded: commands are). */
struct obuf {
	char *p;
	size_t len, cap;
	int oom;
};

/* One outstanding command. */
struct conn_cmd {
	unsigned id;            /* 0: slot free */
	int queued;             /* bytes not written yet */
	int done;               /* tagged response recorded in res */
	int delivered;          /* handed out by imap_conn_read */
	char name[32];
	struct imap_result res;
};

struct imap_conn {
	struct transport *t;
	struct imap_parser *p;
	unsigned max_untagged;
	imap_trace_fn trace;
	void *trace_ud;
	imap_untagged_fn handler;
	void *handler_ud;
	int64_t deadline;

	struct imap_caps caps;
	unsigned caps_gen;          /* lists seen (imap_conn_caps_gen) */
	int utf8;

	unsigned seq;                   /* last tag number */
	unsigned next_id;
	char last_tag[16];
	char last_name[32];
	struct conn_cmd cmds[IMAP_CONN_MAX_INFLIGHT];

	char in[IMAP_CONN_INBUF];
	size_t in_off, in_len;
	uint64_t partial;               /* bytes fed for the current response */
	int64_t read_ns;                /* when the last read returned */
	unsigned waits;

	struct obuf out;                /* queued bytes, then the command */
	struct obuf qtrace;             /* trace lines of queued commands */

	struct imap_trace_scan ts;      /* server trace; ts.lastline: the
	                                   last server line, sanitized */

	char ctx[64];                   /* what we are waiting for */
	int await_cont;                 /* a synchronizing literal is pending */
	int expect_bye;
	int bye_seen;
	char bye[256];                  /* sanitized */
	int dead;                       /* sticky error */
	enum imap_err err;
	char errmsg[512];
};

/* ---------------------------------------------------------------- obuf */

static void ob_put(struct obuf *b, const void *s, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (n > b->cap - b->len) {
		size_t ncap = b->cap ? b->cap : 512;
		while (ncap - b->len < n) {
			if (ncap > SIZE_MAX / 2) {
				b->oom = 1;
				return;
			}
			ncap *= 2;
		}
		char *np = malloc(ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		if (b->len)
			memcpy(np, b->p, b->len);
		secure_zero(b->p, b->cap);
		free(b->p);
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void ob_puts(struct obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void ob_clear(struct obuf *b)
{
	secure_zero(b->p, b->len);
	b->len = 0;
	b->oom = 0;
}

static void ob_free(struct obuf *b)
{
	secure_zero(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- errors */

static void conn_verr(struct imap_conn *c, enum imap_err e, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void conn_verr(struct imap_conn *c, enum imap_err e, const char *fmt, va_list ap)
{
	c->err = e;
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
}

static int conn_error(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_error(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verr(c, e, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error after which the stream cannot be trusted. */
static int conn_fatal(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conn_fatal(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verr(c, e, fmt, ap);
	va_end(ap);
	c->dead = 1;
	return -1;
}

void imap_conn_fail(struct imap_conn *c, enum imap_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_verr(c, e, fmt, ap);
	va_end(ap);
}

/* Start of a public operation: fail at once on a dead connection. */
static int conn_begin(struct imap_conn *c)
{
	if (c->dead)
		return -1;
	c->err = IMAP_E_NONE;
	c->errmsg[0] = '\0';
	return 0;
}

static void conn_ctx(struct imap_conn *c, const char *what, const char *name)
{
	snprintf(c->ctx, sizeof(c->ctx), "%s%s", what, name ? name : "");
}

/* ---------------------------------------------------------------- helpers */

static void copy_raw(char *dst, size_t dstsz, const char *src, size_t n)
{
	if (!src)
		n = 0;
	if (n > dstsz - 1)
		n = dstsz - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---------------------------------------------------------------- trace */

/* A response ended (or broke off): emit its trace line. */
static void trace_flush(struct imap_conn *c, int partial)
{
	char line[IMAP_TRACE_LINE];

	if (imap_trace_end(&c->ts, partial, line, sizeof(line)) && c->trace)
		c->trace(c->trace_ud, "S", line, strlen(line));
}

static void trace_line(struct imap_conn *c, const char *line, size_t len)
{
	if (c->trace)
		c->trace(c->trace_ud, "C", line, len);
}

/* Emit (or, when queued, save) the trace of a command segment. */
static void trace_cmd(struct imap_conn *c, const char *tag, const struct imap_cmd *cmd,
		      size_t start, size_t end, int queued)
{
	char line[IMAP_TRACE_LINE];

	if (!c->trace)
		return;
	imap_trace_render_cmd(tag, cmd, start, end, line, sizeof(line));
	if (queued) {
		ob_puts(&c->qtrace, line);
		ob_put(&c->qtrace, "\n", 1);
	} else {
		trace_line(c, line, strlen(line));
	}
}

static void trace_queued(struct imap_conn *c)
{
	size_t i = 0;

	while (i < c->qtrace.len) {
		const char *nl = memchr(c->qtrace.p + i, '\n', c->qtrace.len - i);
		size_t k = nl ? (size_t)(nl - (c->qtrace.p + i)) : c->qtrace.len - i;
		trace_line(c, c->qtrace.p + i, k);
		i += k + 1;
	}
	ob_clear(&c->qtrace);
}

/* ---------------------------------------------------------------- command table */

static struct conn_cmd *cmd_by_id(struct imap_conn *c, unsigned id)
{
	if (id == 0)
		return NULL;
	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT; i++)
		if (c->cmds[i].id == id)
			return &c->cmds[i];
	return NULL;
}

static struct conn_cmd *cmd_by_tag(struct imap_conn *c, const char *tag, size_t len)
{
	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT; i++) {
		struct conn_cmd *k = &c->cmds[i];
		if (k->id && !k->queued && !k->done && strlen(k->res.tag) == len &&
		    memcmp(k->res.tag, tag, len) == 0)
			return k;
	}
	return NULL;
}

static struct conn_cmd *cmd_alloc(struct imap_conn *c, const struct imap_cmd *cmd)
{
	struct conn_cmd *k = NULL;

	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT && !k; i++)
		if (!c->cmds[i].id)
			k = &c->cmds[i];
	/* reuse a slot whose response imap_conn_read already handed out */
	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT && !k; i++)
		if (c->cmds[i].delivered)
			k = &c->cmds[i];
	if (!k) {
		conn_error(c, IMAP_E_LOCAL, "%s: too many commands in flight (%d)", cmd->name,
			   IMAP_CONN_MAX_INFLIGHT);
		return NULL;
	}
	memset(k, 0, sizeof(*k));
	if (++c->next_id == 0)
		c->next_id = 1;
	k->id = c->next_id;
	strlcpy_s(k->name, cmd->name, sizeof(k->name));
	snprintf(k->res.tag, sizeof(k->res.tag), "a%u", ++c->seq);
	strlcpy_s(c->last_tag, k->res.tag, sizeof(c->last_tag));
	strlcpy_s(c->last_name, k->name, sizeof(c->last_name));
	return k;
}

static void cmd_release(struct conn_cmd *k)
{
	memset(k, 0, sizeof(*k));
}

static void cmd_record(struct imap_conn *c, struct conn_cmd *k, const struct imap_response *r)
{
	struct imap_result *res = &k->res;

	res->status = r->status;
	copy_raw(res->code, sizeof(res->code), r->code, r->code ? r->code_len : 0);
	copy_raw(res->code_arg, sizeof(res->code_arg), r->code_arg, r->code_arg ? r->code_arg_len : 0);
	copy_raw(res->text, sizeof(res->text), r->text, r->text ? r->text_len : 0);
	res->done_ns = c->read_ns;
	k->done = 1;
}

/* ---------------------------------------------------------------- reading */

static int conn_eof(struct imap_conn *c)
{
	int mid = c->partial > 0;

	if (mid)
		trace_flush(c, 1);
	if (c->bye_seen && !c->expect_bye)
		return conn_fatal(c, IMAP_E_BYE, "server closed the connection: BYE %s", c->bye);
	if (mid)
		return conn_fatal(c, IMAP_E_EOF,
				  "connection closed by server in the middle of a response (%s): \"%s\"",
				  c->ctx, c->ts.lastline);
	return conn_fatal(c, IMAP_E_EOF, "connection closed by server (%s)", c->ctx);
}

/* Read more bytes into the input buffer. */
static int conn_fill(struct imap_conn *c)
{
	char msg[256];

	if (c->in_off >= c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == sizeof(c->in))
		return conn_fatal(c, IMAP_E_PROTOCOL, "internal error: input buffer full");

	unsigned w0 = c->t->waits;
	ssize_t n = transport_read(c->t, c->in + c->in_len, sizeof(c->in) - c->in_len, c->deadline);
	c->waits += c->t->waits - w0;
	if (n > 0) {
		c->in_len += (size_t)n;
		c->read_ns = clock_now_ns();
		return 0;
	}
	switch (n) {
	case TR_TIMEOUT:
		if (c->partial)
			trace_flush(c, 1);
		return conn_fatal(c, IMAP_E_TIMEOUT, "timeout (%s)", c->ctx);
	case TR_EOF:
		return conn_eof(c);
	default:
		sanitize_text(msg, sizeof(msg), c->t->err, strnlen(c->t->err, sizeof(c->t->err)));
		return conn_fatal(c, IMAP_E_IO, "read error (%s): %s", c->ctx,
				  msg[0] ? msg : "unknown error");
	}
}

static int conn_parse_error(struct imap_conn *c)
{
	enum imap_parse_error pe = imap_parser_error(c->p);
	const char *pm = imap_parser_errmsg(c->p);

	trace_flush(c, 1);
	if (pe == IMAP_PERR_LIMIT)
		return conn_fatal(c, IMAP_E_LIMIT, "server response too large (%s): %s", c->ctx, pm);
	return conn_fatal(c, IMAP_E_PROTOCOL, "unparseable server response (%s): %s: \"%s\"",
			  c->ctx, pm, c->ts.lastline);
}

/* The next complete response from the server. */
static int conn_next(struct imap_conn *c, const struct imap_response **out)
{
	*out = NULL;
	if (c->dead)
		return -1;
	for (;;) {
		if (c->in_off < c->in_len) {
			size_t used = 0, avail = c->in_len - c->in_off;
			const char *s = c->in + c->in_off;
			int rc = imap_parser_feed(c->p, s, avail, &used);

			if (used > avail)
				used = avail;
			imap_trace_feed(&c->ts, s, used);
			c->in_off += used;
			c->partial += used;
			if (rc == IMAP_PARSE_DONE) {
				trace_flush(c, 0);
				c->partial = 0;
				*out = imap_parser_response(c->p);
				if (!*out)
					return conn_fatal(c, IMAP_E_PROTOCOL, "internal parser error");
				return 0;
			}
			if (rc == IMAP_PARSE_ERROR)
				return conn_parse_error(c);
			if (used < avail && used == 0)
				return conn_fatal(c, IMAP_E_PROTOCOL, "internal error: parser stalled");
			if (c->in_off < c->in_len)
				continue;
		}
		if (conn_fill(c) < 0)
			return -1;
	}
}

/* Bookkeeping for every response: capabilities, BYE, ENABLED, untagged
 * counts, tagged completions.  *done gets the command a tagged response
 * completed. */
static int conn_account(struct imap_conn *c, const struct imap_response *r, struct conn_cmd **done)
{
	*done = NULL;
	if (r->type == IMAP_RESP_CONTINUATION)
		goto count;     /* an endless "+" stream is a flood too */
	if (r->type == IMAP_RESP_TAGGED) {
		struct conn_cmd *k = cmd_by_tag(c, r->tag, r->tag_len);
		if (!k) {
			char tag[40];
			sanitize_text(tag, sizeof(tag), r->tag, r->tag_len);
			return conn_fatal(c, IMAP_E_PROTOCOL,
					  "tagged response with unknown tag \"%s\" (%s): \"%s\"",
					  tag, c->ctx, c->ts.lastline);
		}
		cmd_record(c, k, r);
		if (r->status == IMAP_ST_OK && r->code && ascii_ieq(r->code, r->code_len, "CAPABILITY")) {
			imap_caps_parse(&c->caps, r->code_arg, r->code_arg_len);
			c->caps_gen++;
		}
		*done = k;
		return 0;
	}

	/* untagged */
	if ((r->status == IMAP_ST_OK || r->status == IMAP_ST_PREAUTH) && r->code &&
	    ascii_ieq(r->code, r->code_len, "CAPABILITY")) {
		imap_caps_parse(&c->caps, r->code_arg, r->code_arg_len);
		c->caps_gen++;
	}
	if (r->status == IMAP_ST_BYE) {
		c->bye_seen = 1;
		sanitize_text(c->bye, sizeof(c->bye), r->text, r->text_len);
	}
	if (r->name && ascii_ieq(r->name, r->name_len, "CAPABILITY")) {
		imap_caps_from_response(&c->caps, r);
		c->caps_gen++;
	}
	if (r->name && ascii_ieq(r->name, r->name_len, "ENABLED")) {
		for (size_t i = 0; i < r->ntok; i++)
			if (imap_tok_is(r, &r->tok[i], "UTF8=ACCEPT") ||
			    imap_tok_is(r, &r->tok[i], "IMAP4rev2"))
				c->utf8 = 1;
	}
count:
	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT; i++) {
		struct conn_cmd *k = &c->cmds[i];
		if (!k->id || k->queued || k->done)
			continue;
		if (++k->res.untagged > c->max_untagged)
			return conn_fatal(c, IMAP_E_LIMIT,
					  "more than %u untagged responses to %s", c->max_untagged,
					  k->name);
	}
	return 0;
}

/* Hand an untagged response or an unexpected continuation to the handler. */
static int conn_dispatch(struct imap_conn *c, const struct imap_response *r)
{
	if (r->type == IMAP_RESP_CONTINUATION && !c->handler)
		return conn_fatal(c, IMAP_E_PROTOCOL, "unexpected continuation request (%s): \"%s\"",
				  c->ctx, c->ts.lastline);
	if (!c->handler)
		return 0;
	if (c->handler(c->handler_ud, c, r) == 0)
		return 0;
	if (c->err == IMAP_E_NONE)
		conn_error(c, IMAP_E_PROTOCOL, "unexpected response (%s): \"%s\"", c->ctx, c->ts.lastline);
	return -1;
}

/* ---------------------------------------------------------------- writing */

static int conn_write(struct imap_conn *c)
{
	int rc;
	char msg[256];

	if (c->out.oom) {
		ob_clear(&c->out);
		return conn_fatal(c, IMAP_E_LOCAL, "out of memory");
	}
	if (c->out.len == 0)
		return 0;
	rc = transport_write_all(c->t, c->out.p, c->out.len, c->deadline);
	ob_clear(&c->out);
	if (rc == 0)
		return 0;
	switch (rc) {
	case TR_TIMEOUT:
		return conn_fatal(c, IMAP_E_TIMEOUT, "timeout sending %s", c->last_name);
	case TR_EOF:
		if (c->bye_seen)
			return conn_fatal(c, IMAP_E_BYE, "server closed the connection: BYE %s", c->bye);
		return conn_fatal(c, IMAP_E_EOF, "connection closed by server while sending %s",
				  c->last_name);
	default:
		sanitize_text(msg, sizeof(msg), c->t->err, strnlen(c->t->err, sizeof(c->t->err)));
		return conn_fatal(c, IMAP_E_IO, "write error sending %s: %s", c->last_name,
				  msg[0] ? msg : "unknown error");
	}
}

/* Mark queued commands as sent now and emit their trace. */
static void conn_unqueue(struct imap_conn *c, int64_t now)
{
	for (unsigned i = 0; i < IMAP_CONN_MAX_INFLIGHT; i++) {
		struct conn_cmd *k = &c->cmds[i];
		if (k->id && k->queued) {
			k->queued = 0;
			k->res.sent_ns = now;
		}
	}
	trace_queued(c);
}

static int cmd_check(struct imap_conn *c, const struct imap_cmd *cmd)
{
	switch (cmd->bad) {
	case IMAP_CMD_OK:
		return 0;
	case IMAP_CMD_BAD_CRLF:
		return conn_error(c, IMAP_E_LOCAL, "%s: argument contains CR/LF or NUL", cmd->name);
	case IMAP_CMD_BAD_TOO_MANY:
		return conn_error(c, IMAP_E_LOCAL, "%s: too many literals or secret arguments",
				  cmd->name);
	default:
		return conn_error(c, IMAP_E_LOCAL, "%s: command too long or out of memory", cmd->name);
	}
}

/* Wait for the "+" that lets a synchronizing literal go. */
static int conn_await_continuation(struct imap_conn *c, struct conn_cmd *k)
{
	int rc = 0;

	conn_ctx(c, "continuation for ", k->name);
	c->await_cont = 1;
	for (;;) {
		const struct imap_response *r;
		struct conn_cmd *d;

		if (conn_next(c, &r) < 0 || conn_account(c, r, &d) < 0) {
			rc = -1;
			break;
		}
		if (r->type == IMAP_RESP_CONTINUATION)
			break;
		if (r->type == IMAP_RESP_TAGGED) {
			if (d == k)
				break;
			continue;
		}
		if (conn_dispatch(c, r) < 0) {
			rc = -1;
			break;
		}
	}
	c->await_cont = 0;
	return rc;
}

int imap_conn_send(struct imap_conn *c, struct imap_cmd *cmd, unsigned *id)
{
	struct conn_cmd *k;
	size_t seg;

	if (conn_begin(c) < 0 || cmd_check(c, cmd) < 0)
		return -1;
	k = cmd_alloc(c, cmd);
	if (!k)
		return -1;
	if (id)
		*id = k->id;

	seg = cmd->nsync ? cmd->sync_at[0] : cmd->sb.len;
	ob_puts(&c->out, k->res.tag);
	ob_put(&c->out, " ", 1);
	ob_put(&c->out, cmd->sb.data, seg);
	if (!cmd->nsync)
		ob_put(&c->out, "\r\n", 2);
	k->res.sent_ns = clock_now_ns();
	conn_unqueue(c, k->res.sent_ns);
	trace_cmd(c, k->res.tag, cmd, 0, seg, 0);
	if (conn_write(c) < 0)
		return -1;

	for (unsigned i = 0; i < cmd->nsync; i++) {
		size_t start = cmd->sync_at[i];
		size_t end = i + 1 < cmd->nsync ? cmd->sync_at[i + 1] : cmd->sb.len;

		if (conn_await_continuation(c, k) < 0)
			return -1;
		if (k->done && k->res.status == IMAP_ST_OK)
			/* "completed" without the literal it announced: the
			 * server and we no longer agree on the byte stream */
			return conn_fatal(c, IMAP_E_PROTOCOL,
					  "%s: tagged OK before the literal was sent (no \"+\")", k->name);
		if (k->done)
			break;  /* refused: the rest must not be sent */
		ob_put(&c->out, cmd->sb.data + start, end - start);
		if (i + 1 == cmd->nsync)
			ob_put(&c->out, "\r\n", 2);
		trace_cmd(c, k->res.tag, cmd, start, end, 0);
		if (conn_write(c) < 0)
			return -1;
	}
	return 0;
}

int imap_conn_queue(struct imap_conn *c, struct imap_cmd *cmd, unsigned *id)
{
	struct conn_cmd *k;

	if (conn_begin(c) < 0 || cmd_check(c, cmd) < 0)
		return -1;
	if (cmd->nsync)
		return conn_error(c, IMAP_E_LOCAL,
				  "%s: a command with a synchronizing literal cannot be queued", cmd->name);
	k = cmd_alloc(c, cmd);
	if (!k)
		return -1;
	k->queued = 1;
	if (id)
		*id = k->id;
	ob_puts(&c->out, k->res.tag);
	ob_put(&c->out, " ", 1);
	ob_put(&c->out, cmd->sb.data, cmd->sb.len);
	ob_put(&c->out, "\r\n", 2);
	trace_cmd(c, k->res.tag, cmd, 0, cmd->sb.len, 1);
	return 0;
}

int imap_conn_flush(struct imap_conn *c)
{
	if (conn_begin(c) < 0)
		return -1;
	if (c->out.len == 0 && !c->out.oom)
		return 0;
	conn_unqueue(c, clock_now_ns());
	return conn_write(c);
}

int imap_conn_write_line(struct imap_conn *c, const char *line, size_t len, int secret)
{
	char tl[IMAP_TRACE_MAX + 8];

	if (conn_begin(c) < 0)
		return -1;
	if (imap_has_crlf_nul(line, len))
		return conn_error(c, IMAP_E_LOCAL, "line to send contains CR/LF or NUL");
	ob_put(&c->out, line, len);
	ob_put(&c->out, "\r\n", 2);
	conn_unqueue(c, clock_now_ns());
	if (secret) {
		trace_line(c, IMAP_TRACE_REDACTED, strlen(IMAP_TRACE_REDACTED));
	} else if (c->trace) {
		sanitize_text(tl, sizeof(tl), line, len);
		trace_line(c, tl, strlen(tl));
	}
	return conn_write(c);
}

/* ---------------------------------------------------------------- waiting */

static void result_from(struct imap_result *res, const struct conn_cmd *k)
{
	*res = k->res;
}

int imap_conn_wait(struct imap_conn *c, unsigned id, struct imap_result *res)
{
	struct conn_cmd *k;

	memset(res, 0, sizeof(*res));
	if (conn_begin(c) < 0)
		return -1;
	k = cmd_by_id(c, id);
	if (!k)
		return conn_error(c, IMAP_E_LOCAL, "no outstanding command with id %u", id);
	if (k->queued) {
		conn_unqueue(c, clock_now_ns());
		if (conn_write(c) < 0)
			return -1;
	}
	conn_ctx(c, "response to ", k->name);
	while (!k->done) {
		const struct imap_response *r;
		struct conn_cmd *d;

		if (conn_next(c, &r) < 0) {
			if (c->err == IMAP_E_EOF && c->expect_bye && c->bye_seen && !c->partial) {
				/* LOGOUT: BYE then close, no tagged OK */
				result_from(res, k);
				res->status = IMAP_ST_NONE;
				strlcpy_s(res->text, c->bye, sizeof(res->text));
				cmd_release(k);
				return 0;
			}
			return -1;
		}
		if (conn_account(c, r, &d) < 0)
			return -1;
		if (r->type != IMAP_RESP_TAGGED && conn_dispatch(c, r) < 0)
			return -1;
	}
	result_from(res, k);
	cmd_release(k);
	return 0;
}

int imap_conn_command(struct imap_conn *c, struct imap_cmd *cmd, struct imap_result *res)
{
	unsigned id;

	if (imap_conn_send(c, cmd, &id) < 0) {
		memset(res, 0, sizeof(*res));
		return -1;
	}
	return imap_conn_wait(c, id, res);
}

int imap_conn_read(struct imap_conn *c, const struct imap_response **out)
{
	const struct imap_response *r;
	struct conn_cmd *d;

	*out = NULL;
	if (conn_begin(c) < 0)
		return -1;
	if (c->out.len) {
		conn_unqueue(c, clock_now_ns());
		if (conn_write(c) < 0)
			return -1;
	}
	conn_ctx(c, "response to ", c->last_name[0] ? c->last_name : "nothing");
	if (conn_next(c, &r) < 0 || conn_account(c, r, &d) < 0)
		return -1;
	if (d)
		d->delivered = 1;
	*out = r;
	return 0;
}

int imap_conn_greeting(struct imap_conn *c, struct imap_result *res)
{
	const struct imap_response *r;
	struct conn_cmd *d;
	int64_t start = clock_now_ns();

	memset(res, 0, sizeof(*res));
	if (conn_begin(c) < 0)
		return -1;
	conn_ctx(c, "greeting", NULL);
	if (conn_next(c, &r) < 0)
		return -1;
	if (r->type != IMAP_RESP_UNTAGGED ||
	    (r->status != IMAP_ST_OK && r->status != IMAP_ST_PREAUTH && r->status != IMAP_ST_BYE))
		return conn_fatal(c, IMAP_E_PROTOCOL, "unexpected greeting: \"%s\"", c->ts.lastline);
	if (conn_account(c, r, &d) < 0)
		return -1;
	res->status = r->status;
	copy_raw(res->code, sizeof(res->code), r->code, r->code ? r->code_len : 0);
	copy_raw(res->code_arg, sizeof(res->code_arg), r->code_arg, r->code_arg ? r->code_arg_len : 0);
	copy_raw(res->text, sizeof(res->text), r->text, r->text ? r->text_len : 0);
	res->sent_ns = start;
	res->done_ns = c->read_ns;
	return 0;
}

/* ---------------------------------------------------------------- lifecycle & accessors */

struct imap_conn *imap_conn_new(struct transport *t, const struct imap_conn_opts *opts)
{
	struct imap_conn *c = calloc(1, sizeof(*c));
	struct imap_limits lim, def;

	if (!c)
		return NULL;
	imap_limits_default(&def);
	memset(&lim, 0, sizeof(lim));
	if (opts)
		lim = opts->limits;
	if (!lim.max_text)
		lim.max_text = def.max_text;
	if (!lim.max_literal)
		lim.max_literal = def.max_literal;
	if (!lim.max_literal_keep)
		lim.max_literal_keep = def.max_literal_keep;
	if (!lim.max_tokens)
		lim.max_tokens = def.max_tokens;
	if (!lim.max_depth)
		lim.max_depth = def.max_depth;
	c->p = imap_parser_new(&lim);
	if (!c->p) {
		free(c);
		return NULL;
	}
	c->t = t;
	c->max_untagged = opts && opts->max_untagged ? opts->max_untagged : CONN_DEFAULT_MAX_UNTAGGED;
	if (opts) {
		c->trace = opts->trace;
		c->trace_ud = opts->trace_ud;
	}
	strcpy(c->ctx, "server response");
	return c;
}

void imap_conn_free(struct imap_conn *c)
{
	if (!c)
		return;
	transport_close(c->t);
	imap_parser_free(c->p);
	ob_free(&c->out);
	ob_free(&c->qtrace);
	secure_zero(c, sizeof(*c));
	free(c);
}

void imap_conn_set_deadline(struct imap_conn *c, int64_t deadline_ns)
{
	c->deadline = deadline_ns;
}

void imap_conn_set_handler(struct imap_conn *c, imap_untagged_fn fn, void *ud)
{
	c->handler = fn;
	c->handler_ud = ud;
}

struct transport *imap_conn_transport(struct imap_conn *c)
{
	return c->t;
}

void imap_conn_replace_transport(struct imap_conn *c, struct transport *t)
{
	c->t = t;
}

size_t imap_conn_buffered(const struct imap_conn *c)
{
	return c->in_len - c->in_off;
}

struct imap_caps *imap_conn_caps(struct imap_conn *c)
{
	return &c->caps;
}

void imap_conn_caps_reset(struct imap_conn *c)
{
	memset(&c->caps, 0, sizeof(c->caps));
}

unsigned imap_conn_caps_gen(const struct imap_conn *c)
{
	return c->caps_gen;
}

void imap_conn_set_utf8(struct imap_conn *c, int on)
{
	c->utf8 = on != 0;
}

int imap_conn_utf8(const struct imap_conn *c)
{
	return c->utf8;
}

const char *imap_conn_last_tag(const struct imap_conn *c)
{
	return c->last_tag;
}

void imap_conn_expect_bye(struct imap_conn *c)
{
	c->expect_bye = 1;
}

enum imap_err imap_conn_err(const struct imap_conn *c)
{
	return c->err;
}

const char *imap_conn_errmsg(const struct imap_conn *c)
{
	return c->errmsg;
}

const char *imap_conn_bye_text(const struct imap_conn *c)
{
	return c->bye;
}

unsigned imap_conn_waits(const struct imap_conn *c)
{
	return c->waits;
}

/* ---------------------------------------------------------------- commands */

void imap_cmd_init(struct imap_cmd *cmd, const struct imap_conn *conn, const char *verb)
{
	unsigned enc = 0;

	if (conn) {
		if (conn->caps.flags & CAP_LITERAL_PLUS)
			enc |= IMAP_ENC_LITERAL_PLUS;
		if (conn->caps.flags & CAP_LITERAL_MINUS)
			enc |= IMAP_ENC_LITERAL_MINUS;
		if (conn->utf8)
			enc |= IMAP_ENC_UTF8;
	}
	imap_cmd_begin(cmd, verb, enc);
}
