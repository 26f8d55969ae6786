/* trace.h - the -vvv protocol trace of a connection, rendered without I/O:
 * server lines rebuilt from the bytes the parser consumed (literal data
 * summarized as "{n bytes}"), client commands with their secret parts
 * replaced by "<redacted>".  Every line is sanitized (sanitize_text); the
 * connection (imap_conn.c) hands them to its trace sink. */
#ifndef CIS_IMAP_TRACE_H
#define CIS_IMAP_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "imap/encode.h"

#define IMAP_TRACE_MAX 1024     /* raw bytes of one trace line kept */
#define IMAP_TRACE_LINE (IMAP_TRACE_MAX + 32)   /* a rendered line's buffer */
#define IMAP_TRACE_EXCERPT 120  /* server text quoted in error messages */
#define IMAP_TRACE_TAIL 24      /* "{18446744073709551615+}\r" */
#define IMAP_TRACE_REDACTED "<redacted>"

/* The server side: the response being read.  Zero-initialised = empty. */
struct imap_trace_scan {
	char tl[IMAP_TRACE_MAX];        /* the line so far (raw) */
	size_t tl_len;
	int tl_trunc;                   /* longer than tl */
	char tail[IMAP_TRACE_TAIL];     /* last wire bytes: a literal header? */
	size_t tail_len;
	uint64_t lit_left;              /* literal bytes still to skip */
	char lastline[IMAP_TRACE_EXCERPT]; /* the last line ended, sanitized */
};

/* Bytes the parser consumed (in order): kept for the line, literal data
 * skipped. */
void imap_trace_feed(struct imap_trace_scan *ts, const char *s, size_t n);
/* A response ended (partial 0) or broke off (partial 1): its line into
 * line (IMAP_TRACE_LINE bytes; "..." when cut, " [incomplete]" when
 * partial), also kept as ts->lastline; the scanner is reset.  Returns 1
 * when the line is worth a trace entry (not empty, or partial). */
int imap_trace_end(struct imap_trace_scan *ts, int partial, char *line, size_t linesz);

/* The client side: bytes [start, end) of a command for the trace, secret
 * ranges replaced by "<redacted>"; "tag " goes first when start is 0.
 * out (outsz bytes, at least 8) gets a sanitized line. */
void imap_trace_render_cmd(const char *tag, const struct imap_cmd *cmd, size_t start, size_t end,
			   char *out, size_t outsz);

#endif
