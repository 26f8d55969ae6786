/* imap_conn.c - an IMAP client connection: tags, command building and
 * sending (literals, '+' continuations), reading responses until a tagged
 * completion, capabilities, BYE, pipelining, protocol trace.
 *
 * Reading: bytes from the transport land in a fixed input buffer and are
 * fed to the parser; the parser consumes everything it is given unless it
 * completes a response, so the buffer only holds bytes of responses not yet
 * parsed (imap_conn_buffered()).  The same bytes pass through a small
 * scanner that builds the trace line (literal data summarized).
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

#include "net/clock.h"

#define CONN_DEFAULT_MAX_UNTAGGED 100000u
#define CONN_TRACE_MAX 1024     /* raw bytes of one trace line kept */
#define CONN_EXCERPT 120        /* server text quoted in error messages */
#define CONN_TAIL 24            /* "{18446744073709551615+}\r" */
#define REDACTED "<redacted>"

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

	/* server trace scanner */
	char tl[CONN_TRACE_MAX];
	size_t tl_len;
	int tl_trunc;
	char tail[CONN_TAIL];
	size_t tail_len;
	uint64_t lit_left;
	char lastline[CONN_EXCERPT];    /* last server line, sanitized */

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

static int has_crlf_nul(const char *s, size_t n)
{
	return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, '\0', n);
}

static int valid_utf8(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_next(u + i, n - i, &cp);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

/* ---------------------------------------------------------------- capabilities */

static const struct {
	const char *name;
	uint32_t flag;
} cap_names[] = {
	{ "IMAP4REV1", CAP_IMAP4REV1 },
	{ "IMAP4REV2", CAP_IMAP4REV2 },
	{ "STARTTLS", CAP_STARTTLS },
	{ "LOGINDISABLED", CAP_LOGINDISABLED },
	{ "SASL-IR", CAP_SASL_IR },
	{ "LITERAL+", CAP_LITERAL_PLUS },
	{ "LITERAL-", CAP_LITERAL_MINUS },
	{ "IDLE", CAP_IDLE },
	{ "NAMESPACE", CAP_NAMESPACE },
	{ "UIDPLUS", CAP_UIDPLUS },
	{ "QUOTA", CAP_QUOTA },
	{ "ESEARCH", CAP_ESEARCH },
	{ "SEARCHRES", CAP_SEARCHRES },
	{ "SPECIAL-USE", CAP_SPECIAL_USE },
	{ "LIST-STATUS", CAP_LIST_STATUS },
	{ "ENABLE", CAP_ENABLE },
	{ "ID", CAP_ID },
	{ "CONDSTORE", CAP_CONDSTORE },
	{ "UTF8=ACCEPT", CAP_UTF8_ACCEPT },
	{ "STATUS=SIZE", CAP_STATUS_SIZE },
	{ "LIST-EXTENDED", CAP_LIST_EXTENDED },
	{ "MOVE", CAP_MOVE },
	{ "UNSELECT", CAP_UNSELECT },
	{ "BINARY", CAP_BINARY },
};

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void caps_add_auth(struct imap_caps *caps, const char *m, size_t n)
{
	size_t len = strlen(caps->auth);

	if (n == 0 || len + n + 2 > sizeof(caps->auth))
		return;
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if ((unsigned char)ch < 0x21 || (unsigned char)ch > 0x7e)
			ch = '?';
		caps->auth[len++] = ch;
	}
	caps->auth[len++] = ' ';
	caps->auth[len] = '\0';
}

static void caps_add_word(struct imap_caps *caps, const char *w, size_t n)
{
	if (n > 5 && ascii_ieq(w, 5, "AUTH=")) {
		caps_add_auth(caps, w + 5, n - 5);
		return;
	}
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (ascii_ieq(w, n, cap_names[i].name)) {
			caps->flags |= cap_names[i].flag;
			return;
		}
	}
}

void imap_caps_parse(struct imap_caps *caps, const char *s, size_t n)
{
	memset(caps, 0, sizeof(*caps));
	caps->known = 1;
	strcpy(caps->auth, " ");
	if (!s)
		n = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && is_space(s[i]))
			i++;
		size_t start = i;
		while (i < n && !is_space(s[i]))
			i++;
		if (i > start)
			caps_add_word(caps, s + start, i - start);
	}
	sanitize_text(caps->raw, sizeof(caps->raw), s, n);
}

int imap_caps_has_auth(const struct imap_caps *caps, const char *mech)
{
	char pat[64];
	size_t n = mech ? strlen(mech) : 0;

	if (n == 0 || n + 3 > sizeof(pat))
		return 0;
	pat[0] = ' ';
	for (size_t i = 0; i < n; i++) {
		char ch = mech[i];
		if (ch == ' ')
			return 0;
		pat[i + 1] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
	}
	pat[n + 1] = ' ';
	pat[n + 2] = '\0';
	return strstr(caps->auth, pat) != NULL;
}

/* "* CAPABILITY a b c": the tokens joined by spaces. */
static void caps_from_tokens(struct imap_caps *caps, const struct imap_response *r)
{
	char buf[4096];
	size_t len = 0;

	for (size_t i = 0; i < r->ntok; i++) {
		const struct imap_token *t = &r->tok[i];
		if (t->type != IMAP_TOK_ATOM && t->type != IMAP_TOK_QUOTED)
			continue;
		if (len + t->len + 1 >= sizeof(buf))
			break;
		if (len)
			buf[len++] = ' ';
		memcpy(buf + len, imap_tok_data(r, t), t->len);
		len += t->len;
	}
	imap_caps_parse(caps, buf, len);
}

/* ---------------------------------------------------------------- trace: server side */

static void tl_append(struct imap_conn *c, const char *s, size_t n)
{
	size_t room = sizeof(c->tl) - c->tl_len;

	if (n > room) {
		c->tl_trunc = 1;
		memcpy(c->tl + c->tl_len, s, room);
		c->tl_len += room;
	} else {
		memcpy(c->tl + c->tl_len, s, n);
		c->tl_len += n;
	}
	if (n >= CONN_TAIL) {
		memcpy(c->tail, s + n - CONN_TAIL, CONN_TAIL);
		c->tail_len = CONN_TAIL;
	} else {
		size_t keep = c->tail_len + n > CONN_TAIL ? CONN_TAIL - n : c->tail_len;
		memmove(c->tail, c->tail + c->tail_len - keep, keep);
		memcpy(c->tail + keep, s, n);
		c->tail_len = keep + n;
	}
}

/* Does the wire line (tail, before its LF) end in a literal header
 * "{n}\r" / "{n+}\r"?  Returns the header length and sets *size. */
static size_t tail_literal(const struct imap_conn *c, uint64_t *size)
{
	const char *t = c->tail;
	size_t n = c->tail_len, i;
	uint64_t v = 0;

	if (n && t[n - 1] == '\r')
		n--;
	if (n < 3 || t[n - 1] != '}')
		return 0;
	i = n - 1;
	if (t[i - 1] == '+')
		i--;
	size_t end = i;
	while (i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9')
		i--;
	if (i == 0 || i == end || t[i - 1] != '{' || end - i > 19)
		return 0;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (uint64_t)(t[k] - '0');
	*size = v;
	return c->tail_len - (i - 1);
}

static void trace_eol(struct imap_conn *c)
{
	uint64_t size;
	size_t hl = tail_literal(c, &size);

	if (hl && size > 0) {
		char sum[40];
		int n = snprintf(sum, sizeof(sum), "{%llu bytes}", (unsigned long long)size);
		if (!c->tl_trunc && hl <= c->tl_len)
			c->tl_len -= hl;
		c->lit_left = size;
		tl_append(c, sum, (size_t)n);
	} else {
		tl_append(c, " ", 1);
	}
	c->tail_len = 0;
}

/* Bytes the parser consumed: remember the line, skip literal data. */
static void trace_feed(struct imap_conn *c, const char *s, size_t n)
{
	while (n > 0) {
		if (c->lit_left) {
			size_t k = n < c->lit_left ? n : (size_t)c->lit_left;
			s += k;
			n -= k;
			c->lit_left -= k;
			continue;
		}
		const char *nl = memchr(s, '\n', n);
		size_t k = nl ? (size_t)(nl - s) : n;
		tl_append(c, s, k);
		s += k;
		n -= k;
		if (nl) {
			s++;
			n--;
			trace_eol(c);
		}
	}
}

/* A response ended (or broke off): emit its trace line. */
static void trace_flush(struct imap_conn *c, int partial)
{
	char line[CONN_TRACE_MAX + 32];

	sanitize_text(line, sizeof(line) - 16, c->tl, c->tl_len);
	if (c->tl_trunc)
		strcat(line, "...");
	if (partial)
		strcat(line, " [incomplete]");
	sanitize_text(c->lastline, sizeof(c->lastline), line, strlen(line));
	if (c->trace && (c->tl_len || partial))
		c->trace(c->trace_ud, "S", line, strlen(line));
	c->tl_len = 0;
	c->tl_trunc = 0;
	c->tail_len = 0;
	c->lit_left = 0;
}

/* ---------------------------------------------------------------- trace: client side */

static void trace_line(struct imap_conn *c, const char *line, size_t len)
{
	if (c->trace)
		c->trace(c->trace_ud, "C", line, len);
}

/* Render bytes [start, end) of a command for the trace, secrets replaced;
 * the tag goes first when start is 0.  out gets a sanitized line. */
static void render_cmd(const char *tag, const struct imap_cmd *cmd, size_t start, size_t end,
		       char *out, size_t outsz)
{
	char raw[CONN_TRACE_MAX];
	struct sbuf sb;
	size_t pos = start;

	sb_init(&sb, raw, sizeof(raw));
	if (start == 0) {
		sb_puts(&sb, tag);
		sb_putc(&sb, ' ');
	}
	while (pos < end && !sb.truncated) {
		size_t next = end;
		int in_secret = 0;
		for (unsigned i = 0; i < cmd->nsecret; i++) {
			size_t so = cmd->secret[i].off, se = so + cmd->secret[i].len;
			if (pos >= so && pos < se) {
				in_secret = 1;
				next = se < end ? se : end;
				break;
			}
			if (so > pos && so < next)
				next = so;
		}
		if (in_secret)
			sb_puts(&sb, REDACTED);
		else
			sb_append(&sb, cmd->sb.data + pos, next - pos);
		pos = next;
	}
	sanitize_text(out, outsz - 4, raw, sb.len);
	if (sb.truncated)
		strcat(out, "...");
}

/* Emit (or, when queued, save) the trace of a command segment. */
static void trace_cmd(struct imap_conn *c, const char *tag, const struct imap_cmd *cmd,
		      size_t start, size_t end, int queued)
{
	char line[CONN_TRACE_MAX + 32];

	if (!c->trace)
		return;
	render_cmd(tag, cmd, start, end, line, sizeof(line));
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
				  c->ctx, c->lastline);
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
			  c->ctx, pm, c->lastline);
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
			trace_feed(c, s, used);
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
					  tag, c->ctx, c->lastline);
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
		caps_from_tokens(&c->caps, r);
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
				  c->ctx, c->lastline);
	if (!c->handler)
		return 0;
	if (c->handler(c->handler_ud, c, r) == 0)
		return 0;
	if (c->err == IMAP_E_NONE)
		conn_error(c, IMAP_E_PROTOCOL, "unexpected response (%s): \"%s\"", c->ctx, c->lastline);
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
	char tl[CONN_TRACE_MAX + 8];

	if (conn_begin(c) < 0)
		return -1;
	if (has_crlf_nul(line, len))
		return conn_error(c, IMAP_E_LOCAL, "line to send contains CR/LF or NUL");
	ob_put(&c->out, line, len);
	ob_put(&c->out, "\r\n", 2);
	conn_unqueue(c, clock_now_ns());
	if (secret) {
		trace_line(c, REDACTED, strlen(REDACTED));
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
		return conn_fatal(c, IMAP_E_PROTOCOL, "unexpected greeting: \"%s\"", c->lastline);
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

/* ---------------------------------------------------------------- command building */

/* Characters that may not appear in an atom (RFC 3501 atom-specials, plus
 * ']' which is legal in an astring but not everywhere). */
static int atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return 0;
	return !strchr("(){%*\"\\]", ch);
}

enum enc { ENC_ATOM, ENC_QUOTED, ENC_LITERAL };

static enum enc classify(const struct imap_cmd *cmd, const char *s, size_t n, int allow_atom)
{
	int atom = allow_atom && n > 0 && !(n == 3 && ascii_ieq(s, 3, "NIL"));
	int eight = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0 || ch == '\r' || ch == '\n')
			return ENC_LITERAL;
		if (ch >= 0x80)
			eight = 1;
		if (!atom_char(ch))
			atom = 0;
	}
	if (eight && (!cmd->utf8_ok || !valid_utf8(s, n)))
		return ENC_LITERAL;
	return atom ? ENC_ATOM : ENC_QUOTED;
}

static void cmd_set_bad(struct imap_cmd *cmd, int why)
{
	if (!cmd->bad)
		cmd->bad = why;
}

static void cmd_put(struct imap_cmd *cmd, const char *s, size_t n)
{
	sb_append(&cmd->sb, s, n);
	if (cmd->sb.truncated)
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_LONG);
}

static void cmd_secret(struct imap_cmd *cmd, size_t off)
{
	if (cmd->nsecret >= IMAP_CMD_MAX_SECRETS) {
		cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_MANY);
		return;
	}
	cmd->secret[cmd->nsecret].off = off;
	cmd->secret[cmd->nsecret].len = cmd->sb.len - off;
	cmd->nsecret++;
}

void imap_cmd_init(struct imap_cmd *cmd, const struct imap_conn *conn, const char *verb)
{
	memset(cmd, 0, sizeof(*cmd));
	if (sb_init_alloc(&cmd->sb, IMAP_CMD_MAX_BYTES + 1) < 0)
		cmd->bad = IMAP_CMD_BAD_TOO_LONG;
	if (conn) {
		cmd->nonsync_ok = (conn->caps.flags & CAP_LITERAL_PLUS) != 0;
		cmd->nonsync_small = (conn->caps.flags & CAP_LITERAL_MINUS) != 0;
		cmd->utf8_ok = conn->utf8;
	}
	if (!verb)
		verb = "";
	strlcpy_s(cmd->name, verb, sizeof(cmd->name));
	if (has_crlf_nul(verb, strlen(verb)))
		cmd_set_bad(cmd, IMAP_CMD_BAD_CRLF);
	cmd_put(cmd, verb, strlen(verb));
}

void imap_cmd_free(struct imap_cmd *cmd)
{
	sb_free(&cmd->sb);      /* wipes */
	cmd->nsecret = 0;
	cmd->nsync = 0;
}

void imap_cmd_atom(struct imap_cmd *cmd, const char *s)
{
	size_t n = strlen(s);

	if (has_crlf_nul(s, n))
		cmd_set_bad(cmd, IMAP_CMD_BAD_CRLF);
	cmd_put(cmd, " ", 1);
	cmd_put(cmd, s, n);
}

void imap_cmd_raw_checked(struct imap_cmd *cmd, const char *s)
{
	imap_cmd_atom(cmd, s);
}

static void put_quoted(struct imap_cmd *cmd, const char *s, size_t n)
{
	size_t i = 0;

	cmd_put(cmd, "\"", 1);
	while (i < n) {
		size_t k = i;
		while (k < n && s[k] != '"' && s[k] != '\\')
			k++;
		cmd_put(cmd, s + i, k - i);
		if (k < n) {
			char esc[2] = { '\\', s[k] };
			cmd_put(cmd, esc, 2);
			k++;
		}
		i = k;
	}
	cmd_put(cmd, "\"", 1);
}

static void put_literal(struct imap_cmd *cmd, const void *data, size_t n)
{
	char hdr[32];
	int sync = !(cmd->nonsync_ok || (cmd->nonsync_small && n <= 4096));

	snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", n, sync ? "" : "+");
	cmd_put(cmd, hdr, strlen(hdr));
	if (sync) {
		if (cmd->nsync >= IMAP_CMD_MAX_LITERALS)
			cmd_set_bad(cmd, IMAP_CMD_BAD_TOO_MANY);
		else
			cmd->sync_at[cmd->nsync++] = cmd->sb.len;
	}
	cmd_put(cmd, data, n);
}

static void cmd_string(struct imap_cmd *cmd, const char *s, size_t n, int secret, int allow_atom)
{
	size_t off;

	cmd_put(cmd, " ", 1);
	off = cmd->sb.len;
	switch (classify(cmd, s, n, allow_atom)) {
	case ENC_ATOM:
		cmd_put(cmd, s, n);
		break;
	case ENC_QUOTED:
		put_quoted(cmd, s, n);
		break;
	default:
		put_literal(cmd, s, n);
		break;
	}
	if (secret)
		cmd_secret(cmd, off);
}

void imap_cmd_astring(struct imap_cmd *cmd, const char *s, size_t n, int secret)
{
	cmd_string(cmd, s, n, secret, 1);
}

void imap_cmd_string(struct imap_cmd *cmd, const char *s, size_t n, int secret)
{
	cmd_string(cmd, s, n, secret, 0);
}

void imap_cmd_literal(struct imap_cmd *cmd, const void *data, size_t n, int secret)
{
	size_t off;

	cmd_put(cmd, " ", 1);
	off = cmd->sb.len;
	put_literal(cmd, data, n);
	if (secret)
		cmd_secret(cmd, off);
}

/* ---------------------------------------------------------------- modified UTF-7 */

static const char b64_mod[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_mod_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == ',')
		return 63;
	return -1;
}

struct outp {
	char *p;
	size_t len, cap;
	int full;
};

static void out_c(struct outp *o, char ch)
{
	if (o->len + 1 >= o->cap) {
		o->full = 1;
		return;
	}
	o->p[o->len++] = ch;
}

/* Flush a base64 run: remaining bits (zero-padded) and the closing '-'. */
static void utf7_close(struct outp *o, uint32_t *bits, int *nbits)
{
	if (*nbits)
		out_c(o, b64_mod[(*bits << (6 - *nbits)) & 63]);
	out_c(o, '-');
	*bits = 0;
	*nbits = 0;
}

static void utf7_unit(struct outp *o, uint32_t u, uint32_t *bits, int *nbits)
{
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		out_c(o, b64_mod[(*bits >> *nbits) & 63]);
	}
	*bits &= (1u << *nbits) - 1;
}

int imap_utf7_encode(const char *utf8, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t n = strlen(utf8), i = 0;
	struct outp o = { out, 0, outlen, 0 };
	uint32_t bits = 0;
	int nbits = 0, shifted = 0;

	if (outlen == 0)
		return -1;
	while (i < n) {
		uint32_t cp;
		size_t l = utf8_next(s + i, n - i, &cp);
		if (l == 0)
			goto fail;
		i += l;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted)
				utf7_close(&o, &bits, &nbits);
			shifted = 0;
			out_c(&o, (char)cp);
			if (cp == '&')
				out_c(&o, '-');
			continue;
		}
		if (!shifted)
			out_c(&o, '&');
		shifted = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			utf7_unit(&o, 0xd800 + (cp >> 10), &bits, &nbits);
			utf7_unit(&o, 0xdc00 + (cp & 0x3ff), &bits, &nbits);
		} else {
			utf7_unit(&o, cp, &bits, &nbits);
		}
	}
	if (shifted)
		utf7_close(&o, &bits, &nbits);
	if (o.full)
		goto fail;
	out[o.len] = '\0';
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

static void out_utf8(struct outp *o, uint32_t cp)
{
	if (cp < 0x80) {
		out_c(o, (char)cp);
	} else if (cp < 0x800) {
		out_c(o, (char)(0xc0 | (cp >> 6)));
		out_c(o, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		out_c(o, (char)(0xe0 | (cp >> 12)));
		out_c(o, (char)(0x80 | ((cp >> 6) & 0x3f)));
		out_c(o, (char)(0x80 | (cp & 0x3f)));
	} else {
		out_c(o, (char)(0xf0 | (cp >> 18)));
		out_c(o, (char)(0x80 | ((cp >> 12) & 0x3f)));
		out_c(o, (char)(0x80 | ((cp >> 6) & 0x3f)));
		out_c(o, (char)(0x80 | (cp & 0x3f)));
	}
}

/* Decode one base64 run starting after '&'; *i ends after the '-'. */
static int utf7_run(const char *s, size_t n, size_t *i, struct outp *o)
{
	uint32_t bits = 0, hi = 0;
	int nbits = 0;
	unsigned units = 0;

	for (;;) {
		if (*i >= n)
			return -1;              /* unterminated */
		char ch = s[(*i)++];
		if (ch == '-')
			break;
		int v = b64_mod_val(ch);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (hi) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			out_utf8(o, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || u == 0 || (u >= 0x20 && u <= 0x7e)) {
			return -1;              /* lone low surrogate, NUL, or direct */
		} else {
			out_utf8(o, u);
		}
	}
	if (hi || units == 0 || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

int imap_utf7_decode(const char *mutf7, size_t n, char *out, size_t outlen)
{
	struct outp o = { out, 0, outlen, 0 };
	size_t i = 0;

	if (outlen == 0)
		return -1;
	while (i < n) {
		unsigned char ch = (unsigned char)mutf7[i++];
		if (ch < 0x20 || ch > 0x7e)
			goto fail;
		if (ch != '&') {
			out_c(&o, (char)ch);
			continue;
		}
		if (i < n && mutf7[i] == '-') {
			i++;
			out_c(&o, '&');
			continue;
		}
		if (utf7_run(mutf7, n, &i, &o) < 0)
			goto fail;
		/* "-&" straight after a run is a null shift (RFC 3501 5.1.3):
		 * "&AOQ-&AOQ-" must be written "&AOQA5A-"; "&-" is still '&' */
		if (i < n && mutf7[i] == '&' && !(i + 1 < n && mutf7[i + 1] == '-'))
			goto fail;
	}
	if (o.full)
		goto fail;
	out[o.len] = '\0';
	return 0;
fail:
	out[0] = '\0';
	return -1;
}
