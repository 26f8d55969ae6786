/* imap_parse.h - an IMAP server-response parser with no I/O.
 *
 * The caller feeds bytes as they arrive (one at a time or in any chunking);
 * the parser says "need more", "one response complete" or "error".  A
 * response is one line plus any literals it announces ({n} / {n+}) and the
 * line continuation after each literal.
 *
 * Memory: everything lives in one arena allocated by imap_parser_new() and
 * sized by the limits; nothing is allocated per token or per response.
 * Exceeding a limit is an error (IMAP_PERR_LIMIT), never a reallocation.
 * Literal bytes beyond `max_literal_keep` are counted but not stored, so a
 * large message body can be measured without being held.
 *
 * Pointers in struct imap_response point into the parser's arena: they are
 * valid until the next imap_parser_feed() or imap_parser_reset().  Token
 * bytes are stored unescaped (quoted strings) and NUL-terminated, but may
 * contain NUL themselves when they came from a literal: use len.
 *
 * Input rules (lenient where real servers are sloppy, strict where it
 * matters for safety):
 *  - A line ends with CRLF; a bare LF is accepted as a line end too.  A CR
 *    not followed by LF is a syntax error.  A NUL byte anywhere outside
 *    literal data is IMAP_PERR_NUL.
 *  - Runs of spaces count as one separator; spaces before a status text
 *    are dropped; tokens may also abut: (a)(b) or "x"y.
 *  - A status response may have no text at all ("a1 OK", "a1 OK ").  Its
 *    text is free text: no literals, no quoting.  A tagged status other
 *    than OK/NO/BAD is a syntax error.  Status words are case-insensitive.
 *  - Atoms are any bytes but SP, CR, LF, '(', ')', '"' (and '{' as the
 *    first byte).  A '[' in an atom opens a section, closed by the
 *    matching ']', in which SP, parens and quotes are atom bytes:
 *    BODY[HEADER.FIELDS (DATE)]<0> is one atom.
 *  - In quoted strings \" and \\ are unescaped; any other backslash pair
 *    is kept as sent; CR or LF inside quotes is a syntax error.
 *  - After a literal's "}" must come CRLF (or a bare LF).  A size above
 *    max_literal, or one that overflows 64 bits, is IMAP_PERR_LIMIT as
 *    soon as the offending digit arrives.
 *  - Every stored string costs its length + 1 (NUL) arena bytes.
 *  - Bytes of a response outside literal data, CRLFs included, count
 *    against max_text too, so an endless line fails at about max_text
 *    bytes even when it is only spaces.
 *  - Literal bytes kept are bounded by max_literal_keep and by what is
 *    left in the arena: a literal is truncated (truncated=1) rather than
 *    failing the response; only later text that no longer fits fails.
 *  - imap_parser_new() clamps max_text to 4 GiB - 2 (32-bit offsets),
 *    max_literal_keep to max_text, and max_depth to 255 (8-bit depths). */
#ifndef CIS_IMAP_PARSE_H
#define CIS_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct imap_limits {
	size_t max_text;          /* arena bytes for one response (line text,
	                             tokens' bytes, retained literal bytes);
	                             default 1 MiB */
	uint64_t max_literal;     /* largest literal size accepted; bigger (or
	                             overflowing) announcements are an error;
	                             default 256 MiB */
	size_t max_literal_keep;  /* literal bytes stored per literal; the rest
	                             is counted in full_len; default 256 KiB */
	size_t max_tokens;        /* tokens per response; default 65536 */
	unsigned max_depth;       /* parenthesis nesting; default 32 */
};

/* Fill with the defaults above. */
void imap_limits_default(struct imap_limits *lim);

enum imap_resp_type {
	IMAP_RESP_UNTAGGED,      /* "* ..." */
	IMAP_RESP_TAGGED,        /* "a1 OK ..." */
	IMAP_RESP_CONTINUATION,  /* "+ ..." or a bare "+" */
};

enum imap_status {
	IMAP_ST_NONE = 0,        /* not a status response (data, continuation) */
	IMAP_ST_OK,
	IMAP_ST_NO,
	IMAP_ST_BAD,
	IMAP_ST_PREAUTH,         /* untagged only */
	IMAP_ST_BYE,             /* untagged only */
};

enum imap_tok_type {
	IMAP_TOK_ATOM,        /* includes numbers, flags (\Seen), and atoms with
	                         a bracketed section such as
	                         BODY[HEADER.FIELDS (SUBJECT)]<0> kept whole */
	IMAP_TOK_QUOTED,      /* "..." with \" and \\ unescaped */
	IMAP_TOK_LITERAL,     /* {n} or {n+} followed by n bytes */
	IMAP_TOK_NIL,         /* the atom NIL (any case) */
	IMAP_TOK_LIST_OPEN,   /* "(" */
	IMAP_TOK_LIST_CLOSE,  /* ")" */
};

struct imap_token {
	uint8_t type;         /* enum imap_tok_type */
	uint8_t depth;        /* nesting depth: 0 at top level; the tokens
	                         inside "( ... )" have depth+1 of the parens */
	uint16_t truncated;   /* literal: 1 if len < full_len */
	uint32_t off;         /* bytes at imap_response.base + off */
	uint32_t len;         /* bytes stored (0 for list open/close) */
	uint64_t full_len;    /* literal: announced size; otherwise == len */
};

struct imap_response {
	enum imap_resp_type type;
	const char *base;          /* arena; token bytes at base + tok[i].off */

	const char *tag;           /* tagged: the tag; else NULL */
	size_t tag_len;

	enum imap_status status;   /* tagged, and untagged OK/NO/BAD/PREAUTH/BYE */

	int has_number;            /* "* 23 EXISTS", "* 5 FETCH (...)" */
	uint32_t number;

	const char *name;          /* untagged data: "EXISTS", "CAPABILITY",
	                              "FETCH", "SEARCH", "LIST"... as sent
	                              (compare case-insensitively); NULL for
	                              status responses and continuations */
	size_t name_len;

	const char *code;          /* response code name inside [...], e.g.
	                              "CAPABILITY", "UIDVALIDITY", "ALERT"; NULL
	                              if none */
	size_t code_len;
	const char *code_arg;      /* raw text after the code name up to the
	                              closing ']', leading space removed; ""
	                              (never NULL) when there is no argument
	                              or no code */
	size_t code_arg_len;

	const char *text;          /* status responses: human text after the
	                              code; continuation: everything after "+ "
	                              (may be empty); NUL-terminated;
	                              "" (never NULL) for data responses */
	size_t text_len;

	const struct imap_token *tok;  /* untagged data: tokens after the name */
	size_t ntok;

	size_t raw_len;            /* bytes this response took on the wire */
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,
	IMAP_PARSE_NEED_MORE = 0,
	IMAP_PARSE_DONE = 1,
};

enum imap_parse_error {
	IMAP_PERR_NONE = 0,
	IMAP_PERR_SYNTAX,        /* malformed response */
	IMAP_PERR_LIMIT,         /* a limit in struct imap_limits was exceeded */
	IMAP_PERR_NUL,           /* NUL byte outside a literal */
};

struct imap_parser;

/* lim may be NULL for the defaults.  Returns NULL on ENOMEM. */
struct imap_parser *imap_parser_new(const struct imap_limits *lim);
void imap_parser_free(struct imap_parser *p);

/* Feed up to len bytes.  *consumed (may be NULL) gets how many were used
 * (on ERROR: up to and including the offending byte): after
 * IMAP_PARSE_DONE the parser stops right after the response's final CRLF,
 * and the rest of buf belongs to the next response.  After DONE, the next
 * feed starts a new response (implicit reset).  After ERROR the parser
 * stays in error until imap_parser_reset(). */
int imap_parser_feed(struct imap_parser *p, const char *buf, size_t len, size_t *consumed);

/* The completed response; valid after IMAP_PARSE_DONE until the next
 * feed or reset.  NULL when no response is complete. */
const struct imap_response *imap_parser_response(const struct imap_parser *p);

void imap_parser_reset(struct imap_parser *p);

/* After IMAP_PARSE_ERROR: the kind and a static-lifetime-of-parser message
 * (no server bytes in it beyond a sanitized excerpt). */
enum imap_parse_error imap_parser_error(const struct imap_parser *p);
const char *imap_parser_errmsg(const struct imap_parser *p);

/* Bytes of the current (incomplete) response seen so far. */
uint64_t imap_parser_pending(const struct imap_parser *p);

/* Helpers for consumers. */
static inline const char *imap_tok_data(const struct imap_response *r, const struct imap_token *t)
{
	return r->base + t->off;
}
/* Parse a token as an unsigned 32/64-bit number; 0 on success, -1 if not a
 * plain decimal number or it overflows. */
int imap_tok_u64(const struct imap_response *r, const struct imap_token *t, uint64_t *out);
/* Index of the token after the one at i, skipping a whole list if tok[i]
 * opens one. */
size_t imap_tok_skip(const struct imap_response *r, size_t i);
/* Case-insensitive compare of a token (atom) with a C string: 1 if the
 * token is an atom (or NIL) equal to s, else 0. */
int imap_tok_is(const struct imap_response *r, const struct imap_token *t, const char *s);

/* The status word for messages: "OK", "NO", "BAD", "PREAUTH", "BYE";
 * "?" for IMAP_ST_NONE (no status: e.g. a LOGOUT answered by BYE alone). */
const char *imap_status_str(enum imap_status st);

#endif
