/* imap_parse.c - an incremental IMAP server-response parser with no I/O.
 *
 * One byte-driven state machine; literal data is the only thing handled in
 * bulk.  Every byte is processed exactly once whatever the chunking, so the
 * result (and the position of an error) never depends on how the input was
 * split.  All storage is one allocation made by imap_parser_new(): the
 * parser struct, the token array and the text arena. */
#include "config.h"
#include "imap/imap_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pstate {
	S_START,        /* first byte of a response */
	S_CONT,         /* after '+' */
	S_CONT_TEXT,
	S_STAR,         /* after '*', want SP */
	S_UWORD,        /* first word after "* ": number, status or name */
	S_NAME,         /* name after "* <number> " */
	S_TAG,
	S_STATUS,       /* status word after the tag */
	S_TEXT_START,   /* after "<status> ": '[' or text */
	S_CODE_NAME,
	S_CODE_ARG,
	S_AFTER_CODE,   /* after ']' */
	S_TEXT,
	S_TOKENS,       /* between tokens of a data response */
	S_ATOM,
	S_QUOTED,
	S_QUOTED_ESC,
	S_LIT_SIZE,     /* digits after '{' */
	S_LIT_CLOSE,    /* after "{n+", want '}' */
	S_LIT_CR,       /* after '}', want CRLF */
	S_LIT_LF,
	S_LIT_DATA,
	S_EOL_LF,       /* the line's CR seen, want LF */
	S_DONE,
	S_ERROR,
};

struct imap_parser {
	struct imap_limits lim;
	enum pstate state;
	enum imap_parse_error err;
	char errmsg[128];

	char *arena;            /* cap bytes; arena[0] is a shared "" */
	size_t cap;
	size_t used;
	size_t str_off;         /* start of the string being built */
	struct imap_token *toks;
	size_t ntok;
	size_t cur;             /* index of the token being built */
	unsigned depth;

	uint64_t pending;       /* bytes of this response so far */
	uint64_t line_bytes;    /* of those, bytes outside literal data */

	char word[8];           /* first bytes of a status/number word, upcased */
	size_t wlen;
	int wdigits;

	size_t brk, par;        /* [ ] and ( ) nesting in atoms / code args */
	int inq, qesc;          /* quoted string inside a code argument */

	uint64_t lit_val;       /* announced literal size */
	int lit_ndig;
	uint64_t lit_left;      /* literal bytes still to come */
	size_t lit_keep;        /* literal bytes to store */
	size_t lit_got;         /* literal bytes stored so far */

	struct imap_response r;
};

#define TRY(x) do { if ((x) < 0) return -1; } while (0)

void imap_limits_default(struct imap_limits *lim)
{
	*lim = (struct imap_limits){
		.max_text = 1024 * 1024,
		.max_literal = 256 * 1024 * 1024,
		.max_literal_keep = 256 * 1024,
		.max_tokens = 65536,
		.max_depth = 32,
	};
}

static inline unsigned char upc(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* ------------------------------------------------------------ errors */

/* Printable ASCII only (no '|'), so the message can go anywhere. */
static void excerpt(char *dst, size_t dstsz, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < dstsz; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c >= 0x20 && c < 0x7f && c != '|' ? (char)c : '?';
	}
	dst[i] = '\0';
}

__attribute__((format(printf, 3, 4)))
static int fail(struct imap_parser *p, enum imap_parse_error e, const char *fmt, ...)
{
	static const char *const kind[] = {
		[IMAP_PERR_SYNTAX] = "syntax error",
		[IMAP_PERR_LIMIT] = "limit exceeded",
		[IMAP_PERR_NUL] = "NUL byte",
	};
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->errmsg, sizeof(p->errmsg), "%s at byte %llu: %s", kind[e],
		 (unsigned long long)p->pending, what);
	p->err = e;
	p->state = S_ERROR;
	return -1;
}

/* A syntax error naming the offending byte. */
static int syntax_c(struct imap_parser *p, const char *what, unsigned char c)
{
	if (c >= 0x21 && c < 0x7f && c != '|')
		return fail(p, IMAP_PERR_SYNTAX, "%s ('%c')", what, c);
	return fail(p, IMAP_PERR_SYNTAX, "%s (0x%02x)", what, c);
}

static int syntax(struct imap_parser *p, const char *what)
{
	return fail(p, IMAP_PERR_SYNTAX, "%s", what);
}

/* ------------------------------------------------------------ arena */

static void str_begin(struct imap_parser *p)
{
	p->str_off = p->used;
}

/* Appends always leave room for the terminating NUL. */
static int str_putc(struct imap_parser *p, unsigned char c)
{
	if (p->cap - p->used < 2)
		return fail(p, IMAP_PERR_LIMIT, "response larger than max_text");
	p->arena[p->used++] = (char)c;
	return 0;
}

static int str_end(struct imap_parser *p, size_t *len)
{
	*len = p->used - p->str_off;
	if (p->cap - p->used < 1)
		return fail(p, IMAP_PERR_LIMIT, "response larger than max_text");
	p->arena[p->used++] = '\0';
	return 0;
}

static int new_tok(struct imap_parser *p, enum imap_tok_type type)
{
	struct imap_token *t;

	if (p->ntok >= p->lim.max_tokens)
		return fail(p, IMAP_PERR_LIMIT, "more than %zu tokens",
			    p->lim.max_tokens);
	p->cur = p->ntok++;
	t = &p->toks[p->cur];
	*t = (struct imap_token){
		.type = (uint8_t)type,
		.depth = (uint8_t)p->depth,
		.off = (uint32_t)p->used,
	};
	if (type == IMAP_TOK_LIST_OPEN || type == IMAP_TOK_LIST_CLOSE)
		t->off = 0;
	str_begin(p);
	return 0;
}

/* Finish an atom or quoted string built with str_putc(). */
static int tok_end(struct imap_parser *p)
{
	struct imap_token *t = &p->toks[p->cur];
	size_t len;

	TRY(str_end(p, &len));
	t->len = (uint32_t)len;
	t->full_len = len;
	if (t->type == IMAP_TOK_ATOM && len == 3 &&
	    upc((unsigned char)p->arena[t->off]) == 'N' &&
	    upc((unsigned char)p->arena[t->off + 1]) == 'I' &&
	    upc((unsigned char)p->arena[t->off + 2]) == 'L')
		t->type = IMAP_TOK_NIL;
	return 0;
}

/* ------------------------------------------------------------ words */

static void word_reset(struct imap_parser *p)
{
	p->wlen = 0;
	p->wdigits = 1;
}

static void word_add(struct imap_parser *p, unsigned char c)
{
	if (p->wlen < sizeof(p->word))
		p->word[p->wlen] = (char)upc(c);
	if (c < '0' || c > '9')
		p->wdigits = 0;
	p->wlen++;
}

static enum imap_status status_word(const struct imap_parser *p, int tagged)
{
	static const struct {
		const char *s;
		enum imap_status st;
		int untagged_only;
	} tbl[] = {
		{ "OK", IMAP_ST_OK, 0 },
		{ "NO", IMAP_ST_NO, 0 },
		{ "BAD", IMAP_ST_BAD, 0 },
		{ "PREAUTH", IMAP_ST_PREAUTH, 1 },
		{ "BYE", IMAP_ST_BYE, 1 },
	};

	for (size_t i = 0; i < sizeof(tbl) / sizeof(tbl[0]); i++) {
		size_t n = strlen(tbl[i].s);
		if (p->wlen == n && !memcmp(p->word, tbl[i].s, n))
			return tagged && tbl[i].untagged_only ? IMAP_ST_NONE : tbl[i].st;
	}
	return IMAP_ST_NONE;
}

/* End of the first word after "* ".  delim is the byte that ended it
 * (SP, '(' ')' '"'), or '\n' for the end of the line. */
static int uword_end(struct imap_parser *p, unsigned char delim)
{
	enum imap_status st;
	size_t len;

	TRY(str_end(p, &len));
	if (p->wdigits) {
		uint64_t v = 0;

		for (size_t i = 0; i < len; i++) {
			v = v * 10 + (uint64_t)(p->arena[p->str_off + i] - '0');
			if (v > UINT32_MAX)
				return syntax(p, "message number too large");
		}
		if (delim != ' ')
			return syntax(p, "missing response name after number");
		p->r.has_number = 1;
		p->r.number = (uint32_t)v;
		p->used = p->str_off;
		str_begin(p);
		word_reset(p);
		p->state = S_NAME;
		return 0;
	}
	st = status_word(p, 0);
	if (st != IMAP_ST_NONE) {
		if (delim != ' ' && delim != '\n')
			return syntax_c(p, "bad character after status", delim);
		p->r.status = st;
		p->used = p->str_off;
		p->state = S_TEXT_START;
		return 0;
	}
	p->r.name = p->arena + p->str_off;
	p->r.name_len = len;
	p->state = S_TOKENS;
	return 0;
}

static int name_end(struct imap_parser *p)
{
	size_t len;

	TRY(str_end(p, &len));
	p->r.name = p->arena + p->str_off;
	p->r.name_len = len;
	p->state = S_TOKENS;
	return 0;
}

static int status_end(struct imap_parser *p)
{
	char ex[sizeof(p->word) + 1];

	p->r.status = status_word(p, 1);
	if (p->r.status == IMAP_ST_NONE) {
		excerpt(ex, sizeof(ex), p->word,
			p->wlen < sizeof(p->word) ? p->wlen : sizeof(p->word));
		return fail(p, IMAP_PERR_SYNTAX, "bad tagged status '%s%s'", ex,
			    p->wlen > sizeof(p->word) ? "..." : "");
	}
	p->state = S_TEXT_START;
	return 0;
}

static int set_text(struct imap_parser *p)
{
	size_t len;

	TRY(str_end(p, &len));
	p->r.text = p->arena + p->str_off;
	p->r.text_len = len;
	return 0;
}

/* ------------------------------------------------------------ literals */

static void lit_end(struct imap_parser *p)
{
	struct imap_token *t = &p->toks[p->cur];

	t->len = (uint32_t)p->lit_got;
	t->truncated = p->lit_got < p->lit_val;
	p->arena[p->used + p->lit_got] = '\0';
	p->used += p->lit_got + 1;
	p->state = S_TOKENS;
}

/* The CRLF after "{n}" has been read: n bytes of data follow.  The bytes
 * kept are bounded by max_literal_keep and by what the arena has left. */
static int lit_start(struct imap_parser *p)
{
	struct imap_token *t = &p->toks[p->cur];
	size_t avail = p->cap - p->used;
	uint64_t keep = p->lit_val;

	if (avail < 1)
		return fail(p, IMAP_PERR_LIMIT, "response larger than max_text");
	if (keep > p->lim.max_literal_keep)
		keep = p->lim.max_literal_keep;
	if (keep > avail - 1)
		keep = avail - 1;
	t->off = (uint32_t)p->used;
	t->full_len = p->lit_val;
	p->lit_keep = (size_t)keep;
	p->lit_got = 0;
	p->lit_left = p->lit_val;
	if (p->lit_left == 0)
		lit_end(p);
	else
		p->state = S_LIT_DATA;
	return 0;
}

/* ------------------------------------------------------------ lines */

/* The line ends (CR or bare LF) in the current state: finish whatever was
 * being built, or fail if the line may not end here. */
static int line_end(struct imap_parser *p)
{
	switch (p->state) {
	case S_START:
		return syntax(p, "empty line");
	case S_STAR:
		return syntax(p, "nothing after '*'");
	case S_CONT:
	case S_TEXT_START:
	case S_AFTER_CODE:
		return 0;               /* text stays "" */
	case S_CONT_TEXT:
	case S_TEXT:
		return set_text(p);
	case S_UWORD:
		if (p->wlen == 0)
			return syntax(p, "missing response name");
		return uword_end(p, '\n');
	case S_NAME:
		if (p->wlen == 0)
			return syntax(p, "missing response name after number");
		return name_end(p);
	case S_TAG:
		return syntax(p, "tag without status");
	case S_STATUS:
		if (p->wlen == 0)
			return syntax(p, "tag without status");
		return status_end(p);
	case S_CODE_NAME:
	case S_CODE_ARG:
		return syntax(p, "unterminated response code");
	case S_ATOM:
		TRY(tok_end(p));
		/* fall through */
	case S_TOKENS:
		if (p->depth)
			return syntax(p, "unbalanced '(' at end of line");
		return 0;
	default:
		return syntax(p, "unexpected end of line");
	}
}

static int complete(struct imap_parser *p)
{
	p->r.base = p->arena;
	p->r.tok = p->toks;
	p->r.ntok = p->ntok;
	p->r.raw_len = (size_t)p->pending;
	p->state = S_DONE;
	return 1;
}

/* c is CR or LF ending the line. */
static int eol(struct imap_parser *p, unsigned char c)
{
	TRY(line_end(p));
	if (c == '\r') {
		p->state = S_EOL_LF;
		return 0;
	}
	return complete(p);
}

/* ------------------------------------------------------------ tokens */

static int tokens(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		return 0;
	case '\r':
	case '\n':
		return eol(p, c);
	case '(':
		if (p->depth + 1 > p->lim.max_depth)
			return fail(p, IMAP_PERR_LIMIT, "lists nested deeper than %u",
				    p->lim.max_depth);
		TRY(new_tok(p, IMAP_TOK_LIST_OPEN));
		p->depth++;
		return 0;
	case ')':
		if (!p->depth)
			return syntax(p, "unbalanced ')'");
		p->depth--;
		return new_tok(p, IMAP_TOK_LIST_CLOSE);
	case '"':
		TRY(new_tok(p, IMAP_TOK_QUOTED));
		p->state = S_QUOTED;
		return 0;
	case '{':
		TRY(new_tok(p, IMAP_TOK_LITERAL));
		p->lit_val = 0;
		p->lit_ndig = 0;
		p->state = S_LIT_SIZE;
		return 0;
	}
	TRY(new_tok(p, IMAP_TOK_ATOM));
	p->brk = c == '[';
	p->state = S_ATOM;
	return str_putc(p, c);
}

static int atom(struct imap_parser *p, unsigned char c)
{
	if (c == '\r' || c == '\n')
		return eol(p, c);
	if (p->brk) {
		/* inside BODY[...]: spaces, parens and quotes are atom bytes */
		if (c == '[')
			p->brk++;
		else if (c == ']')
			p->brk--;
		return str_putc(p, c);
	}
	switch (c) {
	case ' ':
		TRY(tok_end(p));
		p->state = S_TOKENS;
		return 0;
	case '(':
	case ')':
	case '"':
		TRY(tok_end(p));
		p->state = S_TOKENS;
		return tokens(p, c);
	case '[':
		p->brk = 1;
		break;
	}
	return str_putc(p, c);
}

static int literal_size(struct imap_parser *p, unsigned char c)
{
	if (c >= '0' && c <= '9') {
		unsigned d = c - '0';

		if (p->lit_val > (UINT64_MAX - d) / 10)
			return fail(p, IMAP_PERR_LIMIT, "literal size overflows");
		p->lit_val = p->lit_val * 10 + d;
		if (p->lit_val > p->lim.max_literal)
			return fail(p, IMAP_PERR_LIMIT, "literal larger than %llu bytes",
				    (unsigned long long)p->lim.max_literal);
		p->lit_ndig = 1;
		return 0;
	}
	if (!p->lit_ndig)
		return syntax_c(p, "bad literal size", c);
	if (c == '+') {
		p->state = S_LIT_CLOSE;
		return 0;
	}
	if (c == '}') {
		p->state = S_LIT_CR;
		return 0;
	}
	return syntax_c(p, "bad literal size", c);
}

/* ------------------------------------------------------------ status */

static int code_arg(struct imap_parser *p, unsigned char c)
{
	size_t len;

	if (c == '\r' || c == '\n')
		return eol(p, c);
	if (p->inq) {
		if (p->qesc)
			p->qesc = 0;
		else if (c == '\\')
			p->qesc = 1;
		else if (c == '"')
			p->inq = 0;
		return str_putc(p, c);
	}
	switch (c) {
	case ' ':
		if (p->used == p->str_off)
			return 0;       /* leading space */
		break;
	case '"':
		p->inq = 1;
		break;
	case '(':
		p->par++;
		break;
	case ')':
		if (p->par)
			p->par--;
		break;
	case '[':
		p->brk++;
		break;
	case ']':
		if (!p->brk && !p->par) {
			TRY(str_end(p, &len));
			p->r.code_arg = p->arena + p->str_off;
			p->r.code_arg_len = len;
			p->state = S_AFTER_CODE;
			return 0;
		}
		if (p->brk)
			p->brk--;
		break;
	}
	return str_putc(p, c);
}

/* ------------------------------------------------------------ one byte */

/* Returns 0 to go on, 1 when the response is complete, -1 on error. */
static int step(struct imap_parser *p, unsigned char c)
{
	size_t len;

	if (c == '\0')
		return fail(p, IMAP_PERR_NUL, "outside a literal");
	if (++p->line_bytes > p->lim.max_text)
		return fail(p, IMAP_PERR_LIMIT, "line longer than %zu bytes",
			    p->lim.max_text);

	switch (p->state) {
	case S_START:
		switch (c) {
		case '+':
			p->r.type = IMAP_RESP_CONTINUATION;
			p->state = S_CONT;
			return 0;
		case '*':
			p->r.type = IMAP_RESP_UNTAGGED;
			p->state = S_STAR;
			return 0;
		case '\r':
		case '\n':
			return eol(p, c);
		case ' ':
		case '(':
		case ')':
		case '"':
		case '{':
			return syntax_c(p, "bad tag", c);
		}
		p->r.type = IMAP_RESP_TAGGED;
		str_begin(p);
		p->state = S_TAG;
		return str_putc(p, c);

	case S_CONT:
		if (c == '\r' || c == '\n')
			return eol(p, c);
		str_begin(p);
		p->state = S_CONT_TEXT;
		return c == ' ' ? 0 : str_putc(p, c);

	case S_CONT_TEXT:
	case S_TEXT:
		if (c == '\r' || c == '\n')
			return eol(p, c);
		return str_putc(p, c);

	case S_STAR:
		if (c != ' ')
			return syntax_c(p, "expected SP after '*'", c);
		str_begin(p);
		word_reset(p);
		p->state = S_UWORD;
		return 0;

	case S_UWORD:
	case S_NAME:
		switch (c) {
		case ' ':
			if (!p->wlen)
				return 0;
			return p->state == S_UWORD ? uword_end(p, c) : name_end(p);
		case '\r':
		case '\n':
			return eol(p, c);
		case '(':
		case ')':
		case '"':
			if (!p->wlen)
				return syntax_c(p, "missing response name", c);
			TRY(p->state == S_UWORD ? uword_end(p, c) : name_end(p));
			return tokens(p, c);
		case '{':
			if (!p->wlen)
				return syntax_c(p, "missing response name", c);
			break;
		}
		word_add(p, c);
		return str_putc(p, c);

	case S_TAG:
		switch (c) {
		case ' ':
			TRY(str_end(p, &len));
			p->r.tag = p->arena + p->str_off;
			p->r.tag_len = len;
			word_reset(p);
			p->state = S_STATUS;
			return 0;
		case '\r':
		case '\n':
			return eol(p, c);
		case '(':
		case ')':
		case '"':
			return syntax_c(p, "bad character in tag", c);
		}
		return str_putc(p, c);

	case S_STATUS:
		switch (c) {
		case ' ':
			return p->wlen ? status_end(p) : 0;
		case '\r':
		case '\n':
			return eol(p, c);
		}
		word_add(p, c);
		return 0;

	case S_TEXT_START:
	case S_AFTER_CODE:
		switch (c) {
		case ' ':
			return 0;
		case '\r':
		case '\n':
			return eol(p, c);
		case '[':
			if (p->state == S_TEXT_START) {
				str_begin(p);
				p->state = S_CODE_NAME;
				return 0;
			}
			break;
		}
		str_begin(p);
		p->state = S_TEXT;
		return str_putc(p, c);

	case S_CODE_NAME:
		switch (c) {
		case ']':
		case ' ':
			TRY(str_end(p, &len));
			if (!len)
				return syntax(p, "empty response code");
			p->r.code = p->arena + p->str_off;
			p->r.code_len = len;
			if (c == ']') {
				p->state = S_AFTER_CODE;
				return 0;
			}
			str_begin(p);
			p->brk = p->par = 0;
			p->inq = p->qesc = 0;
			p->state = S_CODE_ARG;
			return 0;
		case '\r':
		case '\n':
			return eol(p, c);
		}
		return str_putc(p, c);

	case S_CODE_ARG:
		return code_arg(p, c);

	case S_TOKENS:
		return tokens(p, c);

	case S_ATOM:
		return atom(p, c);

	case S_QUOTED:
		switch (c) {
		case '"':
			TRY(tok_end(p));
			p->state = S_TOKENS;
			return 0;
		case '\\':
			p->state = S_QUOTED_ESC;
			return 0;
		case '\r':
		case '\n':
			return syntax_c(p, "line break in quoted string", c);
		}
		return str_putc(p, c);

	case S_QUOTED_ESC:
		if (c == '\r' || c == '\n')
			return syntax_c(p, "line break in quoted string", c);
		p->state = S_QUOTED;
		if (c != '"' && c != '\\')
			TRY(str_putc(p, '\\'));     /* lenient: keep "\x" */
		return str_putc(p, c);

	case S_LIT_SIZE:
		return literal_size(p, c);

	case S_LIT_CLOSE:
		if (c != '}')
			return syntax_c(p, "bad literal size", c);
		p->state = S_LIT_CR;
		return 0;

	case S_LIT_CR:
		if (c == '\n')
			return lit_start(p);
		if (c != '\r')
			return syntax_c(p, "no CRLF after literal size", c);
		p->state = S_LIT_LF;
		return 0;

	case S_LIT_LF:
		if (c != '\n')
			return syntax_c(p, "no CRLF after literal size", c);
		return lit_start(p);

	case S_EOL_LF:
		if (c != '\n')
			return syntax_c(p, "CR not followed by LF", c);
		return complete(p);

	case S_LIT_DATA:
	case S_DONE:
	case S_ERROR:
		break;
	}
	return fail(p, IMAP_PERR_SYNTAX, "internal state error");
}

/* ------------------------------------------------------------ API */

static void begin_response(struct imap_parser *p)
{
	p->state = S_START;
	p->arena[0] = '\0';
	p->used = 1;
	p->str_off = 1;
	p->ntok = 0;
	p->depth = 0;
	p->pending = 0;
	p->line_bytes = 0;
	p->r = (struct imap_response){
		.base = p->arena,
		.text = p->arena,
		.code_arg = p->arena,
		.tok = p->toks,
	};
}

struct imap_parser *imap_parser_new(const struct imap_limits *lim)
{
	const size_t align = _Alignof(struct imap_token);
	struct imap_parser *p;
	struct imap_limits l;
	size_t hdr, cap;

	if (lim)
		l = *lim;
	else
		imap_limits_default(&l);
	/* token offsets and lengths are 32-bit, depths 8-bit */
	if (l.max_text > UINT32_MAX - 1)
		l.max_text = UINT32_MAX - 1;
	if (l.max_literal_keep > l.max_text)
		l.max_literal_keep = l.max_text;
	if (l.max_depth > UINT8_MAX)
		l.max_depth = UINT8_MAX;

	cap = l.max_text + 1;
	hdr = (sizeof(*p) + align - 1) / align * align;
	if (l.max_tokens > (SIZE_MAX - hdr - cap) / sizeof(struct imap_token))
		return NULL;
	p = malloc(hdr + l.max_tokens * sizeof(struct imap_token) + cap);
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->lim = l;
	p->toks = (struct imap_token *)((char *)p + hdr);
	p->arena = (char *)(p->toks + l.max_tokens);
	p->cap = cap;
	imap_parser_reset(p);
	return p;
}

void imap_parser_free(struct imap_parser *p)
{
	free(p);
}

void imap_parser_reset(struct imap_parser *p)
{
	begin_response(p);
	p->err = IMAP_PERR_NONE;
	p->errmsg[0] = '\0';
}

int imap_parser_feed(struct imap_parser *p, const char *buf, size_t len, size_t *consumed)
{
	size_t i = 0, dummy;

	if (!consumed)
		consumed = &dummy;
	*consumed = 0;
	if (p->state == S_ERROR)
		return IMAP_PARSE_ERROR;
	if (p->state == S_DONE)
		begin_response(p);

	while (i < len) {
		int rc;

		if (p->state == S_LIT_DATA) {
			uint64_t n = len - i;
			size_t room = p->lit_keep - p->lit_got;

			if (n > p->lit_left)
				n = p->lit_left;
			if (room) {
				size_t cp = n < room ? (size_t)n : room;
				memcpy(p->arena + p->toks[p->cur].off + p->lit_got, buf + i, cp);
				p->lit_got += cp;
			}
			i += (size_t)n;
			p->pending += n;
			p->lit_left -= n;
			if (!p->lit_left)
				lit_end(p);
			continue;
		}
		p->pending++;
		rc = step(p, (unsigned char)buf[i++]);
		if (rc) {
			*consumed = i;
			return rc > 0 ? IMAP_PARSE_DONE : IMAP_PARSE_ERROR;
		}
	}
	*consumed = i;
	return IMAP_PARSE_NEED_MORE;
}

const struct imap_response *imap_parser_response(const struct imap_parser *p)
{
	return p->state == S_DONE ? &p->r : NULL;
}

enum imap_parse_error imap_parser_error(const struct imap_parser *p)
{
	return p->err;
}

const char *imap_parser_errmsg(const struct imap_parser *p)
{
	return p->errmsg;
}

uint64_t imap_parser_pending(const struct imap_parser *p)
{
	return p->pending;
}

const char *imap_status_str(enum imap_status st)
{
	switch (st) {
	case IMAP_ST_OK: return "OK";
	case IMAP_ST_NO: return "NO";
	case IMAP_ST_BAD: return "BAD";
	case IMAP_ST_PREAUTH: return "PREAUTH";
	case IMAP_ST_BYE: return "BYE";
	case IMAP_ST_NONE: break;
	}
	return "?";
}

/* ------------------------------------------------------------ helpers */

int imap_tok_u64(const struct imap_response *r, const struct imap_token *t, uint64_t *out)
{
	const char *s = imap_tok_data(r, t);
	uint64_t v = 0;

	if (t->type != IMAP_TOK_ATOM || t->len == 0)
		return -1;
	for (uint32_t i = 0; i < t->len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

size_t imap_tok_skip(const struct imap_response *r, size_t i)
{
	if (i >= r->ntok)
		return r->ntok;
	if (r->tok[i].type != IMAP_TOK_LIST_OPEN)
		return i + 1;
	for (size_t j = i + 1; j < r->ntok; j++)
		if (r->tok[j].type == IMAP_TOK_LIST_CLOSE &&
		    r->tok[j].depth == r->tok[i].depth)
			return j + 1;
	return r->ntok;
}

int imap_tok_is(const struct imap_response *r, const struct imap_token *t, const char *s)
{
	const char *d = imap_tok_data(r, t);
	size_t n = strlen(s);

	if ((t->type != IMAP_TOK_ATOM && t->type != IMAP_TOK_NIL) || t->len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (upc((unsigned char)d[i]) != upc((unsigned char)s[i]))
			return 0;
	return 1;
}
