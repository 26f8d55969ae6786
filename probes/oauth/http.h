/* http.h - the minimal, bounded HTTP/1.1 client pieces the OAuth 2 token
 * request needs: an https URL parser, application/x-www-form-urlencoded
 * encoding, a request writer and a pure response parser (no I/O: the
 * caller feeds bytes, as with the IMAP parser).
 *
 * Error strings: every function that fails writes a readable message into
 * a caller buffer (or the parser's err field); messages never contain a
 * secret (request values are never quoted back). */
#ifndef CIS_HTTP_H
#define CIS_HTTP_H

#include <stddef.h>

#include "util/util.h"

#define HTTP_HOST_MAX 256
#define HTTP_PATH_MAX 2048

/* ------------------------------------------------------------ URL */

struct http_url {
	char host[HTTP_HOST_MAX];   /* name or IP literal, no brackets, lower case */
	unsigned port;              /* 443 unless given */
	char path[HTTP_PATH_MAX];   /* origin-form: "/path?query" ("/" if empty) */
	char authority[HTTP_HOST_MAX + 8]; /* Host header: "host", "[::1]:8443" */
};

/* Parse an absolute https URL: https://host[:port][/path][?query].  No
 * user info, no fragment, no control bytes, spaces or non-ASCII; bounded
 * lengths.  Only https (the token request carries secrets).  0, or -1
 * with err filled. */
int http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen);

/* ------------------------------------------------------------ form */

/* Append "name=value" to a form body, '&'-separated from what is already
 * in sb, both percent-encoded per the WHATWG urlencoded serializer (ALPHA
 * DIGIT * - . _ kept, space as '+', every other byte as %XX). */
void http_form_add(struct sbuf *sb, const char *name, const char *value);

/* ------------------------------------------------------------ request */

struct http_request {
	const struct http_url *url;
	const char *content_type;   /* e.g. "application/x-www-form-urlencoded" */
	const char *body;
	size_t body_len;
	/* RFC 6749 2.3.1 client_secret_basic: both set -> an Authorization:
	 * Basic header with the form-encoded id and secret; NULL: none. */
	const char *basic_user;
	const char *basic_pass;
	int redact_auth;            /* write "Basic <redacted>" (for traces) */
};

/* Write "POST path HTTP/1.1" with Host, Accept: application/json,
 * Content-Type, Content-Length, Connection: close (and Authorization when
 * asked) and the body into out (reset first).  0, or -1 when out is too
 * small (out->truncated) or a header value holds CR/LF. */
int http_request_write(struct sbuf *out, const struct http_request *rq);

/* ------------------------------------------------------------ response */

#define HTTP_MAX_LINE 8192          /* status line or one header line */
#define HTTP_MAX_HEADER_BYTES 32768 /* all header lines of one response */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_INTERIM 8          /* 1xx responses before the final one */
#define HTTP_MAX_CHUNKS 4096

enum http_rc {
	HTTP_MORE = 0,   /* fed bytes consumed, need more */
	HTTP_DONE = 1,   /* the whole response is in */
	HTTP_ERROR = -1, /* malformed or over a bound: message in err */
};

/* One response being parsed.  All fields are valid once http_resp_feed()
 * returned HTTP_DONE; status and headers as soon as the header block ended
 * (headers_done). */
struct http_resp {
	int state;                  /* internal */
	int status;                 /* 200, 400...; 0 before the status line */
	char reason[128];           /* sanitized reason phrase */
	char content_type[128];     /* sanitized, "" if none */
	char www_authenticate[256]; /* sanitized, "" if none */
	int headers_done;
	int chunked;
	long long content_length;   /* -1: not given */
	size_t max_body;            /* bound on the body */
	struct sbuf body;           /* owned, NUL-terminated, wiped on free */
	char line[HTTP_MAX_LINE];   /* the line being assembled */
	size_t line_len;
	size_t header_bytes, header_count, interim, chunks;
	unsigned long long chunk_left, body_left;
	char err[160];
};

/* Prepare r for a response whose body may hold at most max_body bytes.
 * 0, or -1 on ENOMEM. */
int http_resp_init(struct http_resp *r, size_t max_body);
/* Wipe and release the body. */
void http_resp_free(struct http_resp *r);
/* Feed len bytes.  Returns an enum http_rc; *used (may be NULL) gets the
 * bytes consumed (after HTTP_DONE, any rest is surplus the caller
 * ignores: the request said Connection: close). */
int http_resp_feed(struct http_resp *r, const void *buf, size_t len, size_t *used);
/* The peer closed the connection: HTTP_DONE when the body was delimited by
 * the close, else HTTP_ERROR ("closed before the end of the response"). */
int http_resp_eof(struct http_resp *r);

#endif
