/* test_http_parse.c - unit tests for the pure HTTP/1.1 response parser of
 * the OAuth token request (probes/oauth/http.c).
 *
 * Every case is fed three ways (whole, byte by byte, seeded random
 * chunks); all must agree on the outcome, the status, the body and, for
 * errors, the message.  Byte by byte, every byte before the last of a
 * complete response must answer HTTP_MORE. */
#include "config.h"
#include "oauth/http.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX 4096

struct outcome {
	int rc;           /* last feed/eof result */
	int status;
	char body[BODY_MAX + 1];
	size_t body_len;
	char err[160];
	char ctype[128];
};

/* mode 0: whole; 1: byte by byte; 2+: random chunks (seed = mode).
 * eof: call http_resp_eof() when the input is used up without DONE. */
static void run(const char *in, size_t n, int mode, int eof, size_t max_body, struct outcome *o)
{
	struct http_resp r;
	size_t i = 0;
	int rc = HTTP_MORE;

	cr_assert_eq(http_resp_init(&r, max_body), 0);
	srand((unsigned)mode);
	while (i < n && rc == HTTP_MORE) {
		size_t step = mode == 0 ? n : mode == 1 ? 1 : 1 + (size_t)rand() % 7;
		size_t used = 0;
		if (step > n - i)
			step = n - i;
		rc = http_resp_feed(&r, in + i, step, &used);
		cr_assert(used <= step);
		if (rc == HTTP_MORE)
			cr_assert_eq(used, step, "MORE must consume everything");
		if (mode == 1 && rc == HTTP_DONE)
			cr_assert_eq(i + used, n, "done before the last byte (at %zu of %zu)", i + used, n);
		i += used;
	}
	if (rc == HTTP_MORE && eof)
		rc = http_resp_eof(&r);
	o->rc = rc;
	o->status = r.status;
	o->body_len = r.body.len;
	memcpy(o->body, r.body.data, r.body.len + 1);
	snprintf(o->err, sizeof(o->err), "%s", r.err);
	snprintf(o->ctype, sizeof(o->ctype), "%s", r.content_type);
	http_resp_free(&r);
}

/* All ways agree; returns the whole-buffer outcome. */
static struct outcome feed(const char *in, size_t n, int eof, size_t max_body)
{
	struct outcome a, b;

	run(in, n, 0, eof, max_body, &a);
	for (int mode = 1; mode < 8; mode++) {
		run(in, n, mode, eof, max_body, &b);
		cr_assert_eq(b.rc, a.rc, "mode %d: rc %d vs %d (%s)", mode, b.rc, a.rc, b.err);
		cr_assert_eq(b.status, a.status);
		cr_assert_str_eq(b.err, a.err);
		if (a.rc == HTTP_ERROR)   /* how much body came before the error varies */
			continue;
		cr_assert_eq(b.body_len, a.body_len);
		cr_assert(memcmp(a.body, b.body, a.body_len) == 0);
	}
	return a;
}

#define FEED(s) feed((s), sizeof(s) - 1, 1, BODY_MAX)

static void expect_error(const char *in, size_t n, size_t max_body, const char *want)
{
	struct outcome o = feed(in, n, 1, max_body);
	cr_assert_eq(o.rc, HTTP_ERROR, "accepted: %.60s", in);
	cr_assert(strstr(o.err, want), "error '%s' lacks '%s'", o.err, want);
}

#define ERR(s, want) expect_error((s), sizeof(s) - 1, BODY_MAX, (want))
#define ERRMAX(s, max, want) expect_error((s), sizeof(s) - 1, (max), (want))

Test(http_parse, content_length)
{
	struct outcome o = FEED("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: 18\r\n\r\n{\"access_token\":1}");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_eq(o.status, 200);
	cr_assert_str_eq(o.body, "{\"access_token\":1}");
	cr_assert_str_eq(o.ctype, "application/json");
}

Test(http_parse, surplus_after_content_length_is_not_consumed)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
	struct http_resp r;
	size_t used = 0;

	cr_assert_eq(http_resp_init(&r, 100), 0);
	cr_assert_eq(http_resp_feed(&r, in, sizeof(in) - 1, &used), HTTP_DONE);
	cr_assert_eq(used, sizeof(in) - 1 - 5);
	cr_assert_str_eq(r.body.data, "ok");
	/* feeding after DONE consumes nothing and stays DONE */
	cr_assert_eq(http_resp_feed(&r, "x", 1, &used), HTTP_DONE);
	cr_assert_eq(used, 0);
	http_resp_free(&r);
}

Test(http_parse, chunked_with_extensions_and_trailer)
{
	struct outcome o = FEED("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
				"5;ext=1\r\n{\"err\r\n"
				"a\r\nor\":\"inval\r\n"
				"000B\r\nid_client\"}\r\n"
				"0\r\nX-Trailer: 1\r\n\r\n");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_eq(o.status, 400);
	cr_assert_str_eq(o.body, "{\"error\":\"invalid_client\"}");
}

Test(http_parse, chunked_overrides_content_length)
{
	struct outcome o = FEED("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
				"2\r\nok\r\n0\r\n\r\n");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_str_eq(o.body, "ok");
}

Test(http_parse, body_until_close)
{
	struct outcome o = FEED("HTTP/1.0 200 OK\r\n\r\n{\"a\":1}");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_str_eq(o.body, "{\"a\":1}");
	/* without the close it is not finished */
	static const char open_body[] = "HTTP/1.0 200 OK\r\n\r\n{}";
	o = feed(open_body, sizeof(open_body) - 1, 0, BODY_MAX);
	cr_assert_eq(o.rc, HTTP_MORE);
}

Test(http_parse, bare_lf_and_interim_responses)
{
	struct outcome o = FEED("HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
				"HTTP/1.1 200 OK\nContent-Length: 0\n\n");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_eq(o.status, 200);
	cr_assert_eq(o.body_len, 0);
}

Test(http_parse, no_content)
{
	struct outcome o = FEED("HTTP/1.1 204 No Content\r\n\r\n");
	cr_assert_eq(o.rc, HTTP_DONE);
	cr_assert_eq(o.status, 204);
}

Test(http_parse, reason_and_headers_sanitized)
{
	static const char in[] = "HTTP/1.1 503 Busy |\x1b[31m now\r\nContent-Type: text/html|\x07\r\n"
				 "Content-Length: 0\r\n\r\n";
	struct http_resp r;

	cr_assert_eq(http_resp_init(&r, 10), 0);
	cr_assert_eq(http_resp_feed(&r, in, sizeof(in) - 1, NULL), HTTP_DONE);
	cr_assert_null(strchr(r.reason, '|'));
	cr_assert_null(strchr(r.reason, '\x1b'));
	cr_assert_null(strchr(r.content_type, '|'));
	cr_assert(strncmp(r.reason, "Busy", 4) == 0, "%s", r.reason);
	http_resp_free(&r);
}

Test(http_parse, closed_early)
{
	ERR("", "without a response");
	ERR("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "before the end");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "before the end");
	ERR("HTTP/1.1 200 OK\r\nContent-Le", "before the end");
}

Test(http_parse, malformed)
{
	ERR("SSH-2.0-OpenSSH\r\n", "not an HTTP/1.x status line");
	ERR("HTTP/2 200 OK\r\n\r\n", "not an HTTP/1.x status line");
	ERR("HTTP/1.1 20 OK\r\n\r\n", "status");
	ERR("HTTP/1.1 600 Huh\r\n\r\n", "status");
	ERR("HTTP/1.1 2x0 OK\r\n\r\n", "status");
	ERR("HTTP/1.1 200OK\r\n\r\n", "status");
	ERR("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed header");
	ERR("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "malformed header");
	ERR("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "folding");
	ERR("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length");
	ERR("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "Content-Length");
	ERR("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "conflicting");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "Transfer-Encoding");
	ERR("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", "compressed");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size");
	ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n", "CRLF");
	ERR("HTTP/1.1 200 OK\r\nA: \0\r\n\r\n", "NUL");
}

Test(http_parse, bounds)
{
	/* body over the cap: declared, chunked, or until close */
	ERRMAX("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10, "larger than allowed");
	ERRMAX("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 10, "Content-Length");
	ERRMAX("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n123456\r\n5\r\n", 10, "larger than allowed");
	ERRMAX("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", 10, "too large");
	ERRMAX("HTTP/1.1 200 OK\r\n\r\n12345678901", 10, "larger than allowed");
	/* exactly the cap is fine */
	static const char exact[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234567890";
	struct outcome o = feed(exact, sizeof(exact) - 1, 1, 10);
	cr_assert_eq(o.rc, HTTP_DONE);
}

Test(http_parse, hostile_sizes)
{
	size_t n = HTTP_MAX_LINE + 100;
	char *big = malloc(n + 64);
	struct outcome *o = malloc(sizeof(*o));

	/* one endless header line */
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', n - 20);
	run(big, n, 0, 1, BODY_MAX, o);
	cr_assert_eq(o->rc, HTTP_ERROR);
	cr_assert(strstr(o->err, "too long"), "%s", o->err);

	/* too many headers */
	size_t len = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		len += (size_t)sprintf(big + len, "A%d: b\r\n", i % 10);
	run(big, len, 1, 1, BODY_MAX, o);
	cr_assert_eq(o->rc, HTTP_ERROR);
	cr_assert(strstr(o->err, "too many header"), "%s", o->err);
	free(big);

	/* header block over the byte cap, in lines each under the line cap */
	size_t hn = HTTP_MAX_HEADER_BYTES + 4096;
	char *h = malloc(hn);
	len = (size_t)sprintf(h, "HTTP/1.1 200 OK\r\n");
	while (len + 4100 < hn) {
		len += (size_t)sprintf(h + len, "X: ");
		memset(h + len, 'x', 4000);
		len += 4000;
		len += (size_t)sprintf(h + len, "\r\n");
	}
	run(h, len, 0, 1, BODY_MAX, o);
	cr_assert_eq(o->rc, HTTP_ERROR);
	cr_assert(strstr(o->err, "header too large"), "%s", o->err);
	free(h);

	/* endless interim responses */
	char inter[400];
	len = 0;
	for (int i = 0; i <= HTTP_MAX_INTERIM; i++)
		len += (size_t)sprintf(inter + len, "HTTP/1.1 100 Continue\r\n\r\n");
	run(inter, len, 1, 1, BODY_MAX, o);
	cr_assert_eq(o->rc, HTTP_ERROR);
	cr_assert(strstr(o->err, "interim"), "%s", o->err);
	free(o);
}

Test(http_parse, endless_empty_chunks_capped)
{
	/* "1\r\nx\r\n" over and over: bounded by the chunk count even when the
	 * body cap is large */
	size_t per = 6, count = HTTP_MAX_CHUNKS + 10;
	size_t head = 47;
	char *in = malloc(head + per * count + 1);
	struct outcome *o = malloc(sizeof(*o));
	memcpy(in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head);
	for (size_t i = 0; i < count; i++)
		memcpy(in + head + i * per, "1\r\nx\r\n", per);
	struct http_resp r;
	cr_assert_eq(http_resp_init(&r, 1 << 20), 0);
	int rc = http_resp_feed(&r, in, head + per * count, NULL);
	cr_assert_eq(rc, HTTP_ERROR);
	cr_assert(strstr(r.err, "too many chunks"), "%s", r.err);
	http_resp_free(&r);
	free(in);
	free(o);
}

Test(http_parse, error_is_sticky)
{
	struct http_resp r;
	cr_assert_eq(http_resp_init(&r, 10), 0);
	cr_assert_eq(http_resp_feed(&r, "garbage\r\n", 9, NULL), HTTP_ERROR);
	cr_assert_eq(http_resp_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19, NULL), HTTP_ERROR);
	cr_assert_eq(http_resp_eof(&r), HTTP_ERROR);
	http_resp_free(&r);
}
