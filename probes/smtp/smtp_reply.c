/* smtp_reply.c - the bounded SMTP reply parser and the EHLO capability
 * parser (pure: no I/O, no clock). */
#include "config.h"
#include "smtp/smtp_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define EXCERPT 60   /* server bytes quoted in an error message */

struct smtp_parser {
	struct smtp_limits lim;
	char *line;          /* max_line + 1 bytes: the line in progress */
	size_t line_len;
	char *text;          /* max_text + 1 bytes: texts of finished lines */
	size_t text_len;
	unsigned nlines;
	int code;            /* of the first line, 0 before it */
	size_t partial;      /* bytes of this reply consumed */
	int done;            /* a reply is complete (reset by the next feed) */
	int err;             /* enum smtp_parse_error, sticky */
	char errmsg[256];
	struct smtp_reply reply;
};

void smtp_limits_default(struct smtp_limits *lim)
{
	lim->max_line = SMTP_DEFAULT_MAX_LINE;
	lim->max_lines = SMTP_DEFAULT_MAX_LINES;
	lim->max_text = SMTP_DEFAULT_MAX_TEXT;
}

struct smtp_parser *smtp_parser_new(const struct smtp_limits *lim)
{
	struct smtp_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	smtp_limits_default(&p->lim);
	if (lim) {
		if (lim->max_line)
			p->lim.max_line = lim->max_line;
		if (lim->max_lines)
			p->lim.max_lines = lim->max_lines;
		if (lim->max_text)
			p->lim.max_text = lim->max_text;
	}
	/* a line needs room for its code at least */
	if (p->lim.max_line < 3)
		p->lim.max_line = 3;
	p->line = malloc(p->lim.max_line + 1);   /* + the CR of CRLF */
	p->text = malloc(p->lim.max_text + 1);
	if (!p->line || !p->text) {
		smtp_parser_free(p);
		return NULL;
	}
	p->text[0] = '\0';
	return p;
}

void smtp_parser_free(struct smtp_parser *p)
{
	if (!p)
		return;
	free(p->line);
	free(p->text);
	free(p);
}

static void start_reply(struct smtp_parser *p)
{
	p->line_len = 0;
	p->text_len = 0;
	p->text[0] = '\0';
	p->nlines = 0;
	p->code = 0;
	p->partial = 0;
	p->done = 0;
}

void smtp_parser_reset(struct smtp_parser *p)
{
	start_reply(p);
	p->err = SMTP_PERR_NONE;
	p->errmsg[0] = '\0';
}

static int perr(struct smtp_parser *p, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct smtp_parser *p, int kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	p->err = kind;
	return SMTP_PARSE_ERROR;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

size_t smtp_enh_code(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i = 0, k;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (k = 0; i < n && is_digit(s[i]) && k < 4; k++)
			i++;
		if (k == 0 || k > 3)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	if (out && outlen > i) {
		memcpy(out, s, i);
		out[i] = '\0';
	} else if (out && outlen) {
		out[0] = '\0';
	}
	return i;
}

/* A whole line (without CRLF) is in p->line: check it and keep its text. */
static int end_line(struct smtp_parser *p)
{
	const char *l = p->line;
	size_t n = p->line_len;
	char ex[EXCERPT + 8];

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2]) || l[0] < '2' ||
	    l[0] > '5' || l[1] > '5' || (n > 3 && l[3] != ' ' && l[3] != '-'))
		return perr(p, SMTP_PERR_SYNTAX, "not an SMTP reply line: \"%s\"",
			    sanitize_text(ex, sizeof(ex), l, n < EXCERPT ? n : EXCERPT));
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (p->nlines > 0 && code != p->code)
		return perr(p, SMTP_PERR_SYNTAX, "reply code changed from %d to %d inside a multi-line reply",
			    p->code, code);
	if (p->nlines >= p->lim.max_lines)
		return perr(p, SMTP_PERR_LIMIT, "reply longer than %u lines", p->lim.max_lines);
	size_t tlen = n > 4 ? n - 4 : 0;
	size_t need = tlen + (p->nlines > 0 ? 1 : 0);
	if (need > p->lim.max_text - p->text_len)
		return perr(p, SMTP_PERR_LIMIT, "reply text longer than %zu bytes", p->lim.max_text);
	if (p->nlines > 0)
		p->text[p->text_len++] = '\n';
	if (tlen)
		memcpy(p->text + p->text_len, l + 4, tlen);
	p->text_len += tlen;
	p->text[p->text_len] = '\0';
	p->code = code;
	p->nlines++;
	p->line_len = 0;
	if (n > 3 && l[3] == '-')
		return SMTP_PARSE_NEED_MORE;

	struct smtp_reply *r = &p->reply;
	memset(r, 0, sizeof(*r));
	r->code = code;
	r->nlines = p->nlines;
	r->text = p->text;
	r->text_len = p->text_len;
	if (code / 100 != 3) {
		size_t first = strcspn(p->text, "\n");
		if (smtp_enh_code(p->text, first, r->enh, sizeof(r->enh)) &&
		    r->enh[0] - '0' != code / 100)
			r->enh[0] = '\0';
	}
	p->done = 1;
	return SMTP_PARSE_DONE;
}

int smtp_parser_feed(struct smtp_parser *p, const char *buf, size_t len, size_t *used)
{
	size_t i = 0;
	int rc = SMTP_PARSE_NEED_MORE;

	if (used)
		*used = 0;
	if (p->err)
		return SMTP_PARSE_ERROR;
	if (p->done)
		start_reply(p);
	while (i < len) {
		char c = buf[i++];
		p->partial++;
		if (c == '\0') {
			rc = perr(p, SMTP_PERR_SYNTAX, "NUL byte in a reply line");
			break;
		}
		if (c == '\n') {
			rc = end_line(p);
			if (rc != SMTP_PARSE_NEED_MORE)
				break;
			continue;
		}
		/* max_line bytes of text, plus the CR of a CRLF */
		if (p->line_len > p->lim.max_line || (p->line_len == p->lim.max_line && c != '\r')) {
			rc = perr(p, SMTP_PERR_LIMIT, "reply line longer than %zu bytes", p->lim.max_line);
			break;
		}
		p->line[p->line_len++] = c;
	}
	if (used)
		*used = i;
	return rc;
}

const struct smtp_reply *smtp_parser_reply(const struct smtp_parser *p)
{
	return p->done && !p->err ? &p->reply : NULL;
}

enum smtp_parse_error smtp_parser_error(const struct smtp_parser *p)
{
	return (enum smtp_parse_error)p->err;
}

const char *smtp_parser_errmsg(const struct smtp_parser *p)
{
	return p->errmsg;
}

size_t smtp_parser_partial(const struct smtp_parser *p)
{
	return p->done ? 0 : p->partial;
}

const char *smtp_parser_partial_line(const struct smtp_parser *p, size_t *len)
{
	*len = p->done ? 0 : p->line_len;
	return p->line;
}

int smtp_reply_line(const struct smtp_reply *r, unsigned i, const char **s, size_t *len)
{
	const char *t = r->text, *end = r->text + r->text_len;

	for (unsigned k = 0; k < i; k++) {
		const char *nl = memchr(t, '\n', (size_t)(end - t));
		if (!nl)
			return -1;
		t = nl + 1;
	}
	const char *nl = memchr(t, '\n', (size_t)(end - t));
	*s = t;
	*len = nl ? (size_t)(nl - t) : (size_t)(end - t);
	return 0;
}

char *smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len)
{
	struct sbuf sb;
	char raw[1024];

	if (len == 0)
		return buf;
	sb_init(&sb, raw, sizeof(raw));
	sb_printf(&sb, "%d", r->code);
	if (r->enh[0])
		sb_printf(&sb, " %s", r->enh);
	for (unsigned i = 0; i < r->nlines; i++) {
		const char *s;
		size_t n;
		char enh[16];
		if (smtp_reply_line(r, i, &s, &n) < 0)
			break;
		size_t el = r->enh[0] ? smtp_enh_code(s, n, enh, sizeof(enh)) : 0;
		if (el && !strcmp(enh, r->enh)) {
			s += el;
			n -= el;
		}
		sb_putc(&sb, ' ');
		sb_append(&sb, s, n);
	}
	sanitize_text(buf, len, raw, sb.len);
	return buf;
}

/* ---------------------------------------------------------------- EHLO */

static void caps_add_auth(struct smtp_caps *caps, const char *m, size_t n)
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

/* Words of [s, s+n) separated by spaces/tabs, each to caps_add_auth. */
static void caps_auth_list(struct smtp_caps *caps, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		if (i > start)
			caps_add_auth(caps, s + start, i - start);
	}
}

static const struct {
	const char *name;
	unsigned flag;
} cap_names[] = {
	{ "STARTTLS", SMTP_CAP_STARTTLS },
	{ "PIPELINING", SMTP_CAP_PIPELINING },
	{ "8BITMIME", SMTP_CAP_8BITMIME },
	{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCEDSTATUSCODES },
	{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 },
	{ "CHUNKING", SMTP_CAP_CHUNKING },
	{ "DSN", SMTP_CAP_DSN },
};

static void caps_line(struct smtp_caps *caps, const char *s, size_t n)
{
	size_t kw = 0;

	while (kw < n && s[kw] != ' ' && s[kw] != '=' && s[kw] != '\t')
		kw++;
	const char *arg = s + kw + (kw < n ? 1 : 0);
	size_t alen = kw < n ? n - kw - 1 : 0;

	if (ascii_ieq(s, kw, "AUTH")) {
		caps->flags |= SMTP_CAP_AUTH;
		caps_auth_list(caps, arg, alen);
		return;
	}
	if (ascii_ieq(s, kw, "SIZE")) {
		uint64_t v = 0;
		size_t i = 0;
		caps->flags |= SMTP_CAP_SIZE;
		while (i < alen && is_digit(arg[i]) && v < UINT64_MAX / 10 - 10)
			v = v * 10 + (uint64_t)(arg[i++] - '0');
		if (i == alen)
			caps->size = v;
		return;
	}
	if (kw != n)
		return;   /* the keywords below take no parameters */
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (ascii_ieq(s, kw, cap_names[i].name))
			caps->flags |= cap_names[i].flag;
}

void smtp_caps_parse(struct smtp_caps *caps, const struct smtp_reply *r)
{
	char raw[1024];
	struct sbuf sb;

	memset(caps, 0, sizeof(*caps));
	caps->known = 1;
	strcpy(caps->auth, " ");
	sb_init(&sb, raw, sizeof(raw));
	for (unsigned i = 0; i < r->nlines; i++) {
		const char *s;
		size_t n;
		if (smtp_reply_line(r, i, &s, &n) < 0)
			break;
		if (i == 0) {
			size_t d = strcspn(s, " \n");
			sanitize_text(caps->domain, sizeof(caps->domain), s, d < n ? d : n);
			continue;
		}
		caps_line(caps, s, n);
		if (sb.len)
			sb_putc(&sb, ' ');
		sb_append(&sb, s, n);
	}
	sanitize_text(caps->raw, sizeof(caps->raw), raw, sb.len);
}

int smtp_caps_has_auth(const struct smtp_caps *caps, const char *mech)
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
