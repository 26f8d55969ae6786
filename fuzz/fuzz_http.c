/* fuzz_http.c - the HTTP/1.1 response parser of the OAuth token request
 * (oauth/http.h) and the token endpoint's JSON answer (oauth/oauth.h).
 *
 * Input: first byte = body cap selector and chunking seed, then the bytes
 * a token endpoint sends.  Invariants: the parser consumes what it is fed
 * unless it is done or failed, an error is sticky, the body never exceeds
 * its cap and stays NUL-terminated, whole-buffer and byte-by-byte feeding
 * agree (outcome, status, body, error text), messages are printable one-
 * liners, and the body parsed as a token answer yields either a bearer
 * token of printable ASCII or a printable message; the redacted body
 * never contains the access token. */
#include "config.h"

#include "fuzz_util.h"
#include "oauth/http.h"
#include "oauth/oauth.h"

static void check_text(const char *what, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	FUZZ_CHECK(n < cap, "%s not terminated", what);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f && s[i] != '|', "%s: unsafe byte 0x%02x", what,
			   (unsigned char)s[i]);
}

struct run {
	int rc, status;
	uint64_t body_hash;
	size_t body_len;
	char err[160];
};

static void feed(const uint8_t *data, size_t size, size_t cap, size_t step, struct run *o, struct http_resp *keep)
{
	struct http_resp r;
	size_t i = 0;
	int rc = HTTP_MORE;

	FUZZ_CHECK(http_resp_init(&r, cap) == 0, "init");
	while (i < size && rc == HTTP_MORE) {
		size_t n = step && step < size - i ? step : size - i, used = 0;
		rc = http_resp_feed(&r, data + i, n, &used);
		FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
		if (rc == HTTP_MORE)
			FUZZ_CHECK(used == n, "MORE left %zu bytes", n - used);
		i += used;
		FUZZ_CHECK(r.body.len <= cap, "body %zu over cap %zu", r.body.len, cap);
	}
	if (rc == HTTP_MORE)
		rc = http_resp_eof(&r);
	FUZZ_CHECK(rc == HTTP_DONE || rc == HTTP_ERROR, "eof left rc %d", rc);
	if (rc == HTTP_ERROR) {
		FUZZ_CHECK(r.err[0], "error without a message");
		FUZZ_CHECK(http_resp_feed(&r, "x", 1, NULL) == HTTP_ERROR, "error not sticky");
	}
	FUZZ_CHECK(r.body.data[r.body.len] == '\0', "body not terminated");
	check_text("reason", r.reason, sizeof(r.reason));
	check_text("content type", r.content_type, sizeof(r.content_type));
	check_text("error", r.err, sizeof(r.err));
	o->rc = rc;
	o->status = r.status;
	o->body_len = r.body.len;
	o->body_hash = fuzz_fnv(FUZZ_FNV_INIT, r.body.data, r.body.len);
	memcpy(o->err, r.err, sizeof(o->err));
	if (keep)
		*keep = r;
	else
		http_resp_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const size_t caps[] = { 0, 1, 16, 300, 4096, 65536 };
	size_t cap = caps[data[0] % 6];
	size_t step = 1 + (data[0] >> 3);
	data++;
	size--;

	struct run whole, bytes, chunks;
	struct http_resp r;
	feed(data, size, cap, 0, &whole, &r);
	feed(data, size, cap, 1, &bytes, NULL);
	feed(data, size, cap, step, &chunks, NULL);
	FUZZ_CHECK(whole.rc == bytes.rc && whole.rc == chunks.rc, "rc %d/%d/%d", whole.rc, bytes.rc, chunks.rc);
	FUZZ_CHECK(whole.status == bytes.status && whole.status == chunks.status, "status differs");
	FUZZ_CHECK(!strcmp(whole.err, bytes.err) && !strcmp(whole.err, chunks.err), "errors differ: %s / %s / %s",
		   whole.err, bytes.err, chunks.err);
	if (whole.rc == HTTP_DONE) {
		FUZZ_CHECK(r.body.len == strlen(r.body.data) || memchr(r.body.data, '\0', r.body.len),
			   "body length");
		FUZZ_CHECK(whole.body_len == bytes.body_len && whole.body_len == chunks.body_len, "body lengths differ");
		FUZZ_CHECK(whole.body_hash == bytes.body_hash && whole.body_hash == chunks.body_hash, "bodies differ");

		struct oauth_token tok = { 0 };
		struct oauth_result res;
		memset(&res, 0, sizeof(res));
		int st = oauth_parse_response(r.status, r.reason, r.body.data, r.body.len, &tok, &res);
		if (st == OAUTH_OK) {
			FUZZ_CHECK(tok.access_token && tok.access_token[0], "OK without a token");
			for (const char *p = tok.access_token; *p; p++)
				FUZZ_CHECK(*p > 0x20 && *p < 0x7f, "token byte 0x%02x", (unsigned char)*p);
			char shown[700];
			oauth_redact_body(r.body.data, r.body.len, shown, sizeof(shown));
			check_text("redacted", shown, sizeof(shown));
			/* unless the same text stands elsewhere in the body too */
			size_t tl = strlen(tok.access_token), seen = 0;
			for (const char *p = r.body.data; (p = memmem(p, r.body.len - (size_t)(p - r.body.data),
								      tok.access_token, tl)) != NULL; p++)
				seen++;
			if (seen == 1 && tl >= 12)
				FUZZ_CHECK(!strstr(shown, tok.access_token), "token survived redaction");
		} else {
			FUZZ_CHECK(res.message[0], "failure %d without a message", st);
			FUZZ_CHECK(!tok.access_token, "failure with a token");
		}
		check_text("message", res.message, sizeof(res.message));
		oauth_token_free(&tok);
	}
	http_resp_free(&r);
	return 0;
}
