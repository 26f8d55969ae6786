/* smtp_reply.h - SMTP replies (RFC 5321 4.2) and EHLO capabilities, parsed
 * with no I/O and no clock: the caller feeds bytes, the parser says "need
 * more", "done" or "error".
 *
 * A reply is one or more lines "ddd-text" ending in one "ddd text" (or a
 * bare "ddd"), all with the same code.  Memory is bounded by the limits
 * given at creation: the length of one line, the number of lines and the
 * bytes of text kept for the whole reply; exceeding one is an error at
 * once (the parser never waits for the end of a huge line).
 *
 * Enhanced status codes (RFC 2034/3463, "5.1.1") are recognised at the
 * start of the first line when their class matches the reply code's first
 * digit (2, 4 or 5), kept in enh, and left out of the formatted text.
 *
 * Ownership: the reply returned by smtp_parser_reply() points into the
 * parser and is valid until the next feed or reset.  Error messages never
 * quote more than a sanitized excerpt of what the server sent. */
#ifndef CIS_SMTP_REPLY_H
#define CIS_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct smtp_limits {
	size_t max_line;     /* bytes of one line without CRLF; default 2048
	                        (RFC 5321 asks for 512 with CRLF) */
	unsigned max_lines;  /* lines of one reply; default 128 */
	size_t max_text;     /* text bytes kept for one reply (line texts
	                        plus one separator each); default 16384 */
};

#define SMTP_DEFAULT_MAX_LINE 2048u
#define SMTP_DEFAULT_MAX_LINES 128u
#define SMTP_DEFAULT_MAX_TEXT 16384u

/* Fill every field with its default. */
void smtp_limits_default(struct smtp_limits *lim);

struct smtp_reply {
	int code;            /* 200..559 (first digit 2-5, second 0-5) */
	char enh[16];        /* enhanced status code of the first line
	                        ("5.1.1"), "" if none */
	unsigned nlines;     /* >= 1 */
	const char *text;    /* the lines' texts (after "ddd-" / "ddd "), raw
	                        server bytes, separated by '\n', NUL-terminated;
	                        never contains NUL itself */
	size_t text_len;
};

enum smtp_parse_rc {
	SMTP_PARSE_ERROR = -1,
	SMTP_PARSE_NEED_MORE = 0,
	SMTP_PARSE_DONE = 1,
};

enum smtp_parse_error {
	SMTP_PERR_NONE = 0,
	SMTP_PERR_SYNTAX,    /* not a reply line, or the code changed */
	SMTP_PERR_LIMIT,     /* a limit in struct smtp_limits was exceeded */
};

struct smtp_parser;

/* lim NULL or zero fields: defaults.  NULL on ENOMEM. */
struct smtp_parser *smtp_parser_new(const struct smtp_limits *lim);
void smtp_parser_free(struct smtp_parser *p);   /* NULL-safe */
/* Forget everything, errors included. */
void smtp_parser_reset(struct smtp_parser *p);

/* Feed up to len bytes; *used (may be NULL) gets how many were consumed.
 * On SMTP_PARSE_DONE the parser stops right after the final line's LF and
 * the rest of buf belongs to whatever comes next.  After DONE the next
 * feed starts a new reply.  After ERROR the parser stays in error until
 * smtp_parser_reset().  Lines may end in CRLF or a bare LF (a trailing CR
 * is dropped); a NUL byte is a syntax error. */
int smtp_parser_feed(struct smtp_parser *p, const char *buf, size_t len, size_t *used);

/* The completed reply after SMTP_PARSE_DONE, else NULL. */
const struct smtp_reply *smtp_parser_reply(const struct smtp_parser *p);
enum smtp_parse_error smtp_parser_error(const struct smtp_parser *p);
const char *smtp_parser_errmsg(const struct smtp_parser *p);
/* Bytes of the reply in progress consumed so far (0 between replies). */
size_t smtp_parser_partial(const struct smtp_parser *p);
/* The line in progress (raw, without its code), for "[incomplete]"
 * traces; *len gets its length. */
const char *smtp_parser_partial_line(const struct smtp_parser *p, size_t *len);

/* Line i (0-based) of a reply: its text, raw, without the code. */
int smtp_reply_line(const struct smtp_reply *r, unsigned i, const char **s, size_t *len);
/* "550 5.1.1 text of line one text of line two": the code, the enhanced
 * code if any, then every line's text (its own enhanced code left out when
 * it repeats the first line's) joined by single spaces, sanitized for a
 * status line (util.h sanitize_text).  Returns buf. */
char *smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len);

/* Recognise an enhanced status code "c.s.d" at the start of n bytes of s
 * (c one of 2/4/5, s and d 1-3 digits, then a space or the end).  Returns
 * its length (without the space) and copies it into out (size >= 12), or
 * 0 if there is none. */
size_t smtp_enh_code(const char *s, size_t n, char *out, size_t outlen);

/* ---------------------------------------------------------------- EHLO */

enum smtp_cap {
	SMTP_CAP_STARTTLS            = 1u << 0,
	SMTP_CAP_AUTH                = 1u << 1,
	SMTP_CAP_PIPELINING          = 1u << 2,
	SMTP_CAP_SIZE                = 1u << 3,
	SMTP_CAP_8BITMIME            = 1u << 4,
	SMTP_CAP_ENHANCEDSTATUSCODES = 1u << 5,
	SMTP_CAP_SMTPUTF8            = 1u << 6,
	SMTP_CAP_CHUNKING            = 1u << 7,
	SMTP_CAP_DSN                 = 1u << 8,
};

struct smtp_caps {
	int known;            /* an EHLO reply has been parsed */
	unsigned flags;       /* enum smtp_cap bits */
	uint64_t size;        /* SIZE limit in bytes, 0 if none announced */
	char auth[512];       /* " PLAIN LOGIN " (upper case, space-separated,
	                         with a leading and a trailing space); from
	                         "AUTH ..." and the old "AUTH=..." form */
	char domain[256];     /* the server's name from the first line
	                         (sanitized) */
	char raw[1024];       /* keywords as sent, space-separated, sanitized */
};

/* Replace caps with what the 250 reply to EHLO announces: line 0 is the
 * server's name, every further line a keyword and its parameters. */
void smtp_caps_parse(struct smtp_caps *caps, const struct smtp_reply *r);
/* 1 if AUTH lists mech (case-insensitive). */
int smtp_caps_has_auth(const struct smtp_caps *caps, const char *mech);

#endif
