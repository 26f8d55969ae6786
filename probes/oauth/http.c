/* http.c - https URL parser, form encoding, request writer and the pure,
 * bounded HTTP/1.1 response parser of the token request (see http.h). */
#include "config.h"
#include "oauth/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

/* ------------------------------------------------------------ URL */

static int url_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#' && c != '\\';
}

static int host_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int parse_port(const char *p, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* host[:port] between p and end; IPv6 literals in brackets. */
static int parse_authority(const char *p, const char *end, struct http_url *u, char *err, size_t errlen)
{
	const char *hs = p, *he, *colon = NULL;
	int v6 = 0;

	if (p < end && *p == '[') {
		he = memchr(p, ']', (size_t)(end - p));
		if (!he) {
			snprintf(err, errlen, "unterminated IPv6 address in the URL");
			return -1;
		}
		hs = p + 1;
		v6 = 1;
		if (he + 1 < end) {
			if (he[1] != ':') {
				snprintf(err, errlen, "garbage after the IPv6 address in the URL");
				return -1;
			}
			colon = he + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		he = colon ? colon : end;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(u->host)) {
		snprintf(err, errlen, hl ? "host name in the URL too long" : "no host in the URL");
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)hs[i];
		if (!(host_char_ok(c) || (v6 && (c == ':' || c == '%')))) {
			snprintf(err, errlen, "invalid character in the URL's host");
			return -1;
		}
		u->host[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	u->host[hl] = '\0';
	u->port = 443;
	if (colon && parse_port(colon + 1, (size_t)(end - colon - 1), &u->port) < 0) {
		snprintf(err, errlen, "invalid port in the URL");
		return -1;
	}
	if (u->port == 443)
		snprintf(u->authority, sizeof(u->authority), v6 ? "[%s]" : "%s", u->host);
	else
		snprintf(u->authority, sizeof(u->authority), v6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
	return 0;
}

int http_url_parse(const char *url, struct http_url *u, char *err, size_t errlen)
{
	static const char scheme[] = "https://";
	const size_t sl = sizeof(scheme) - 1;

	memset(u, 0, sizeof(*u));
	if (!url || !*url) {
		snprintf(err, errlen, "empty URL");
		return -1;
	}
	size_t n = strlen(url);
	if (n >= HTTP_PATH_MAX + HTTP_HOST_MAX) {
		snprintf(err, errlen, "URL too long (%zu bytes)", n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!url_char_ok((unsigned char)url[i])) {
			snprintf(err, errlen, "URL contains a space, control byte, '#', '\\' or non-ASCII byte");
			return -1;
		}
	}
	if (n < sl || strncasecmp(url, scheme, sl) != 0) {
		snprintf(err, errlen, "the token URL must start with https://");
		return -1;
	}
	const char *a = url + sl, *end = url + n;
	const char *slash = a;
	while (slash < end && *slash != '/' && *slash != '?')
		slash++;
	if (memchr(a, '@', (size_t)(slash - a))) {
		snprintf(err, errlen, "user information in the URL is not allowed (use the client secret options)");
		return -1;
	}
	if (parse_authority(a, slash, u, err, errlen) < 0)
		return -1;
	if (slash == end || *slash == '?')
		snprintf(u->path, sizeof(u->path), "/%s", slash);
	else
		snprintf(u->path, sizeof(u->path), "%s", slash);
	return 0;
}

/* ------------------------------------------------------------ form */

static void form_encode(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '*' || c == '-' || c == '.' || c == '_') {
			sb_putc(sb, (char)c);
		} else if (c == ' ') {
			sb_putc(sb, '+');
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sb_append(sb, e, 3);
		}
	}
}

void http_form_add(struct sbuf *sb, const char *name, const char *value)
{
	if (sb->len)
		sb_putc(sb, '&');
	form_encode(sb, name);
	sb_putc(sb, '=');
	form_encode(sb, value);
}

/* ------------------------------------------------------------ request */

/* Append the base64 of n bytes (util/base64.h) to sb; the scratch copy is
 * wiped (it holds the client secret). */
static void base64_put(struct sbuf *sb, const unsigned char *in, size_t n)
{
	size_t cap = base64_enc_len(n);
	char *b64 = malloc(cap);

	if (!b64) {
		sb->truncated = 1;
		return;
	}
	size_t len = base64_encode(in, n, b64);
	sb_append(sb, b64, len);
	secure_zero(b64, cap);
	free(b64);
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

int http_request_write(struct sbuf *out, const struct http_request *rq)
{
	sb_reset(out);
	if (has_crlf(rq->content_type) || has_crlf(rq->url->path) || has_crlf(rq->url->authority))
		return -1;
	sb_printf(out, "POST %s HTTP/1.1\r\nHost: %s\r\n", rq->url->path, rq->url->authority);
	sb_puts(out, "User-Agent: check_imap_session/" PACKAGE_VERSION "\r\n");
	sb_puts(out, "Accept: application/json\r\n");
	if (rq->basic_user && rq->basic_pass) {
		/* RFC 6749 2.3.1: id and secret are form-encoded before Basic */
		struct sbuf cred;
		if (sb_init_alloc(&cred, 4096) < 0)
			return -1;
		form_encode(&cred, rq->basic_user);
		sb_putc(&cred, ':');
		form_encode(&cred, rq->basic_pass);
		sb_puts(out, "Authorization: Basic ");
		if (rq->redact_auth)
			sb_puts(out, "<redacted>");
		else
			base64_put(out, (const unsigned char *)cred.data, cred.len);
		sb_puts(out, "\r\n");
		int bad = cred.truncated;
		sb_free(&cred);
		if (bad)
			return -1;
	}
	if (rq->content_type)
		sb_printf(out, "Content-Type: %s\r\n", rq->content_type);
	sb_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", rq->body_len);
	if (rq->body_len)
		sb_append(out, rq->body, rq->body_len);
	return out->truncated ? -1 : 0;
}

/* ------------------------------------------------------------ response */

enum {
	RS_STATUS,
	RS_HEADER,
	RS_BODY_LEN,
	RS_CHUNK_SIZE,
	RS_CHUNK_DATA,
	RS_CHUNK_CRLF,
	RS_TRAILER,
	RS_BODY_EOF,
	RS_DONE,
	RS_ERROR,
};

int http_resp_init(struct http_resp *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	r->max_body = max_body;
	return sb_init_alloc(&r->body, max_body + 1);
}

void http_resp_free(struct http_resp *r)
{
	sb_free(&r->body);
	secure_zero(r->line, sizeof(r->line));
}

static int fail(struct http_resp *r, const char *msg)
{
	snprintf(r->err, sizeof(r->err), "%s", msg);
	r->state = RS_ERROR;
	return HTTP_ERROR;
}

static int tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int parse_status(struct http_resp *r, const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
		return fail(r, "not an HTTP/1.x status line");
	if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return fail(r, "malformed HTTP status code");
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (n > 13)
		sanitize_text(r->reason, sizeof(r->reason), l + 13, n - 13);
	else
		r->reason[0] = '\0';
	r->state = RS_HEADER;
	return HTTP_MORE;
}

static int parse_length(struct http_resp *r, const char *v, size_t n)
{
	unsigned long long len = 0;

	if (n == 0 || n > 18)
		return fail(r, "invalid Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(r, "invalid Content-Length");
		len = len * 10 + (unsigned)(v[i] - '0');
	}
	if (r->content_length >= 0 && (unsigned long long)r->content_length != len)
		return fail(r, "conflicting Content-Length headers");
	r->content_length = (long long)len;
	return HTTP_MORE;
}

/* The value's last transfer coding must be chunked (RFC 9112 6.3). */
static int parse_te(struct http_resp *r, const char *v, size_t n)
{
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	size_t start = n;
	while (start && v[start - 1] != ',' && v[start - 1] != ' ')
		start--;
	if (!ascii_ieq(v + start, n - start, "chunked") || start != 0)
		return fail(r, "unsupported Transfer-Encoding (only chunked is understood)");
	r->chunked = 1;
	return HTTP_MORE;
}

static int parse_header(struct http_resp *r, const char *l, size_t n)
{
	if (++r->header_count > HTTP_MAX_HEADERS)
		return fail(r, "too many header fields");
	if (l[0] == ' ' || l[0] == '\t')
		return fail(r, "obsolete header line folding");
	size_t k = 0;
	while (k < n && tchar((unsigned char)l[k]))
		k++;
	if (k == 0 || k == n || l[k] != ':')
		return fail(r, "malformed header field");
	const char *v = l + k + 1;
	size_t vn = n - k - 1;
	while (vn && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
		vn--;
	if (ascii_ieq(l, k, "Content-Length"))
		return parse_length(r, v, vn);
	if (ascii_ieq(l, k, "Transfer-Encoding"))
		return parse_te(r, v, vn);
	if (ascii_ieq(l, k, "Content-Encoding") && !ascii_ieq(v, vn, "identity"))
		return fail(r, "compressed response (Content-Encoding) not asked for");
	if (ascii_ieq(l, k, "Content-Type"))
		sanitize_text(r->content_type, sizeof(r->content_type), v, vn);
	else if (ascii_ieq(l, k, "WWW-Authenticate"))
		sanitize_text(r->www_authenticate, sizeof(r->www_authenticate), v, vn);
	return HTTP_MORE;
}

/* The blank line after the headers: decide how the body is delimited. */
static int end_of_headers(struct http_resp *r)
{
	if (r->status < 200) {
		if (++r->interim > HTTP_MAX_INTERIM)
			return fail(r, "too many interim (1xx) responses");
		r->content_length = -1;
		r->chunked = 0;
		r->header_count = 0;
		r->state = RS_STATUS;
		return HTTP_MORE;
	}
	r->headers_done = 1;
	if (r->status == 204 || r->status == 304) {
		r->state = RS_DONE;
		return HTTP_DONE;
	}
	if (r->chunked) {
		r->content_length = -1;
		r->state = RS_CHUNK_SIZE;
		return HTTP_MORE;
	}
	if (r->content_length >= 0) {
		if ((unsigned long long)r->content_length > r->max_body)
			return fail(r, "response body larger than allowed");
		r->body_left = (unsigned long long)r->content_length;
		r->state = r->body_left ? RS_BODY_LEN : RS_DONE;
		return r->body_left ? HTTP_MORE : HTTP_DONE;
	}
	r->state = RS_BODY_EOF;
	return HTTP_MORE;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_chunk_size(struct http_resp *r, const char *l, size_t n)
{
	unsigned long long v = 0;
	size_t i = 0;

	if (++r->chunks > HTTP_MAX_CHUNKS)
		return fail(r, "too many chunks");
	for (; i < n && hexdigit(l[i]) >= 0; i++) {
		if (i >= 15)
			return fail(r, "chunk size too large");
		v = v << 4 | (unsigned)hexdigit(l[i]);
	}
	if (i == 0 || (i < n && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
		return fail(r, "malformed chunk size");
	if (v > r->max_body - r->body.len)
		return fail(r, "response body larger than allowed");
	r->chunk_left = v;
	r->state = v ? RS_CHUNK_DATA : RS_TRAILER;
	return HTTP_MORE;
}

/* A complete line (CRLF or bare LF stripped) in r->line. */
static int on_line(struct http_resp *r)
{
	const char *l = r->line;
	size_t n = r->line_len;

	r->line_len = 0;
	switch (r->state) {
	case RS_STATUS:
		return parse_status(r, l, n);
	case RS_HEADER:
		return n == 0 ? end_of_headers(r) : parse_header(r, l, n);
	case RS_CHUNK_SIZE:
		return parse_chunk_size(r, l, n);
	case RS_CHUNK_CRLF:
		if (n != 0)
			return fail(r, "chunk not followed by CRLF");
		r->state = RS_CHUNK_SIZE;
		return HTTP_MORE;
	case RS_TRAILER:
		if (n == 0) {
			r->state = RS_DONE;
			return HTTP_DONE;
		}
		if (++r->header_count > HTTP_MAX_HEADERS)
			return fail(r, "too many trailer fields");
		return HTTP_MORE;
	default:
		return fail(r, "internal parser state");
	}
}

/* Collect one line; bounded by HTTP_MAX_LINE and, in the header block,
 * by HTTP_MAX_HEADER_BYTES. */
static int feed_line(struct http_resp *r, const unsigned char *p, size_t len, size_t *i)
{
	while (*i < len) {
		unsigned char c = p[(*i)++];
		if (r->state == RS_STATUS || r->state == RS_HEADER || r->state == RS_TRAILER) {
			if (++r->header_bytes > HTTP_MAX_HEADER_BYTES)
				return fail(r, "response header too large");
		}
		if (c == '\n') {
			if (r->line_len && r->line[r->line_len - 1] == '\r')
				r->line_len--;
			return on_line(r);
		}
		if (c == '\0')
			return fail(r, "NUL byte in the response header");
		if (r->line_len + 1 >= sizeof(r->line))
			return fail(r, "response line too long");
		r->line[r->line_len++] = (char)c;
	}
	return HTTP_MORE;
}

static size_t take(struct http_resp *r, const unsigned char *p, size_t avail, unsigned long long *left)
{
	size_t n = avail;
	if (left && (unsigned long long)n > *left)
		n = (size_t)*left;
	sb_append(&r->body, (const char *)p, n);
	if (left)
		*left -= n;
	return n;
}

int http_resp_feed(struct http_resp *r, const void *buf, size_t len, size_t *used)
{
	const unsigned char *p = buf;
	size_t i = 0;
	int rc = HTTP_MORE;

	while (i < len && rc == HTTP_MORE) {
		switch (r->state) {
		case RS_BODY_LEN:
			i += take(r, p + i, len - i, &r->body_left);
			if (r->body_left == 0) {
				r->state = RS_DONE;
				rc = HTTP_DONE;
			}
			break;
		case RS_CHUNK_DATA:
			i += take(r, p + i, len - i, &r->chunk_left);
			if (r->chunk_left == 0)
				r->state = RS_CHUNK_CRLF;
			break;
		case RS_BODY_EOF:
			if (len - i > r->max_body - r->body.len) {
				rc = fail(r, "response body larger than allowed");
				break;
			}
			i += take(r, p + i, len - i, NULL);
			break;
		case RS_DONE:
			rc = HTTP_DONE;
			break;
		case RS_ERROR:
			rc = HTTP_ERROR;
			break;
		default:
			rc = feed_line(r, p, len, &i);
			break;
		}
	}
	if (r->state == RS_DONE)
		rc = HTTP_DONE;
	else if (r->state == RS_ERROR)
		rc = HTTP_ERROR;
	if (used)
		*used = i;
	return rc;
}

int http_resp_eof(struct http_resp *r)
{
	if (r->state == RS_DONE)
		return HTTP_DONE;
	if (r->state == RS_BODY_EOF) {
		r->state = RS_DONE;
		return HTTP_DONE;
	}
	if (r->state == RS_ERROR)
		return HTTP_ERROR;
	return fail(r, r->state == RS_STATUS && r->status == 0 && r->line_len == 0
			       ? "connection closed without a response"
			       : "connection closed before the end of the response");
}
