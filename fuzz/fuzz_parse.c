/* fuzz_parse.c - the IMAP response parser (imap_parse.h).
 *
 * Input: byte 0 selects the chunking (bits 0-2, see fuzz_util.h) and small
 * limits (bit 3); the rest is a server byte stream.  The stream is parsed
 * twice, once in the selected chunking and once in a single feed, and the
 * two runs must agree exactly (responses, their tokens, error kinds,
 * messages and positions): the parser promises its result never depends on
 * how the input was split.  After an error the parser is reset and
 * parsing resumes after the next LF, so one input covers many responses.
 *
 * Every completed response is checked against the header's promises
 * (NUL-terminated strings, depths and truncation within limits) and handed
 * to the response consumers in mailbox_util.h (SEARCH, ESEARCH,
 * NAMESPACE, LIST, QUOTA) as the session would. */
#include "config.h"

#include "fuzz_util.h"
#include "imap/imap_parse.h"
#include "imap/mailbox_util.h"

static void set_limits(struct imap_limits *lim, int small)
{
	imap_limits_default(lim);
	if (small) {
		lim->max_text = 512;
		lim->max_literal = 100000;
		lim->max_literal_keep = 16;
		lim->max_tokens = 24;
		lim->max_depth = 3;
	} else {
		/* the defaults, scaled down so each run allocates less */
		lim->max_text = 64 * 1024;
		lim->max_literal = 1u << 20;
		lim->max_tokens = 4096;
	}
}

static uint64_t hash_str(uint64_t h, const char *s, size_t n)
{
	if (!s)
		return fuzz_fnv_u64(h, 0xdeadull);
	FUZZ_CHECK(s[n] == '\0', "string not NUL-terminated at its length %zu", n);
	h = fuzz_fnv_u64(h, n);
	return fuzz_fnv(h, s, n);
}

/* Check a completed response and fold it into h. */
static uint64_t check_response(uint64_t h, const struct imap_response *r, const struct imap_limits *lim)
{
	FUZZ_CHECK(r->text != NULL && r->code_arg != NULL, "text/code_arg NULL");
	if (r->type == IMAP_RESP_TAGGED)
		FUZZ_CHECK(r->tag && r->tag_len > 0 && r->status >= IMAP_ST_OK && r->status <= IMAP_ST_BAD,
			   "tagged response without tag or with status %d", (int)r->status);
	else
		FUZZ_CHECK(r->tag == NULL, "untagged response with a tag");
	FUZZ_CHECK(r->ntok <= lim->max_tokens, "%zu tokens > max %zu", r->ntok, lim->max_tokens);

	h = fuzz_fnv_u64(h, (uint64_t)r->type);
	h = fuzz_fnv_u64(h, (uint64_t)r->status);
	h = hash_str(h, r->tag, r->tag_len);
	h = fuzz_fnv_u64(h, (uint64_t)r->has_number << 32 | (r->has_number ? r->number : 0));
	h = hash_str(h, r->name, r->name_len);
	h = hash_str(h, r->code, r->code_len);
	h = hash_str(h, r->code_arg, r->code_arg_len);
	h = hash_str(h, r->text, r->text_len);
	h = fuzz_fnv_u64(h, r->raw_len);
	h = fuzz_fnv_u64(h, r->ntok);

	unsigned open = 0;
	for (size_t i = 0; i < r->ntok; i++) {
		const struct imap_token *t = &r->tok[i];
		const char *d = imap_tok_data(r, t);

		FUZZ_CHECK(t->type <= IMAP_TOK_LIST_CLOSE, "token type %u", t->type);
		FUZZ_CHECK(t->depth <= lim->max_depth, "depth %u > %u", t->depth, lim->max_depth);
		FUZZ_CHECK(t->len <= t->full_len, "len %u > full_len %llu", t->len,
			   (unsigned long long)t->full_len);
		if (t->type == IMAP_TOK_LITERAL) {
			FUZZ_CHECK(t->full_len <= lim->max_literal, "literal over max_literal");
			FUZZ_CHECK(t->len <= lim->max_literal_keep, "literal kept %u > %zu", t->len,
				   lim->max_literal_keep);
			FUZZ_CHECK(t->truncated == (t->len < t->full_len), "truncated flag wrong");
		} else {
			FUZZ_CHECK(t->len == t->full_len && !t->truncated, "non-literal with full_len");
		}
		if (t->type == IMAP_TOK_LIST_OPEN)
			open++;
		if (t->type == IMAP_TOK_LIST_CLOSE) {
			FUZZ_CHECK(open > 0, "unbalanced ')' token %zu", i);
			open--;
		}
		FUZZ_CHECK(d[t->len] == '\0', "token %zu not NUL-terminated", i);
		h = fuzz_fnv_u64(h, (uint64_t)t->type << 40 | (uint64_t)t->depth << 32 | t->truncated);
		h = fuzz_fnv_u64(h, t->full_len);
		h = hash_str(h, d, t->len);

		size_t nx = imap_tok_skip(r, i);
		FUZZ_CHECK(nx > i && nx <= r->ntok, "imap_tok_skip(%zu) = %zu of %zu", i, nx, r->ntok);
		uint64_t v;
		(void)imap_tok_u64(r, t, &v);
		(void)imap_tok_is(r, t, "NIL");
	}
	FUZZ_CHECK(open == 0, "%u lists left open in a complete response", open);
	(void)imap_status_str(r->status);
	return h;
}

/* What the session does with untagged data: must not crash, whatever the
 * tokens are. */
static void consume(const struct imap_response *r)
{
	if (r->type != IMAP_RESP_UNTAGGED || !r->name)
		return;

	struct mbx_search sr;
	mbx_search_init(&sr, (r->name_len & 1) ? "a1" : "");
	mbx_parse_search(r, &sr);
	(void)mbx_parse_esearch(r, &sr);
	mbx_search_finish(&sr);
	mbx_uidset_finish(&sr.set);
	FUZZ_CHECK(sr.set.overflow || sr.set.len < sizeof(sr.set.text), "uidset length");

	struct mbx_namespace ns;
	memset(&ns, 0, sizeof(ns));
	if (mbx_parse_namespace(r, &ns) == 0) {
		char out[256];
		(void)mbx_ns_resolve(&ns, "Sent", out, sizeof(out));
		(void)mbx_ns_resolve(&ns, "INBOX.x", out, sizeof(out));
	}

	struct mbx_list_entry le;
	if (mbx_parse_list(r, &le) == 0)
		FUZZ_CHECK(le.name_len < sizeof(le.name), "list name length %zu", le.name_len);

	struct mbx_quota q;
	mbx_quota_init(&q);
	mbx_parse_quotaroot(r, &q);
	mbx_parse_quota(r, &q);
}

struct run {
	uint64_t h;
	unsigned done, errors;
};

static void run(const uint8_t *data, size_t n, unsigned sel, const struct imap_limits *lim, int consumers,
		struct run *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct fuzz_chunker ck;
	size_t pos = 0;

	FUZZ_CHECK(p != NULL, "imap_parser_new failed");
	fuzz_chunker_init(&ck, sel);
	memset(out, 0, sizeof(*out));
	out->h = FUZZ_FNV_INIT;
	while (pos < n) {
		size_t len = fuzz_chunk(&ck, n - pos), used = (size_t)-1;
		int rc = imap_parser_feed(p, (const char *)data + pos, len, &used);

		FUZZ_CHECK(used <= len, "consumed %zu of %zu", used, len);
		pos += used;
		if (rc == IMAP_PARSE_NEED_MORE) {
			FUZZ_CHECK(used == len, "NEED_MORE after consuming %zu of %zu", used, len);
			FUZZ_CHECK(imap_parser_response(p) == NULL, "response while incomplete");
			continue;
		}
		out->h = fuzz_fnv_u64(out->h, pos);
		if (rc == IMAP_PARSE_DONE) {
			const struct imap_response *r = imap_parser_response(p);

			FUZZ_CHECK(r != NULL, "DONE without a response");
			FUZZ_CHECK(used > 0, "DONE without consuming anything");
			out->done++;
			out->h = check_response(out->h, r, lim);
			if (consumers)
				consume(r);
			continue;
		}
		FUZZ_CHECK(rc == IMAP_PARSE_ERROR, "feed returned %d", rc);
		FUZZ_CHECK(used > 0, "error without consuming the offending byte");
		enum imap_parse_error e = imap_parser_error(p);
		const char *msg = imap_parser_errmsg(p);
		FUZZ_CHECK(e != IMAP_PERR_NONE && msg && *msg, "error without kind or message");
		for (const char *m = msg; *m; m++)
			FUZZ_CHECK(*m >= 0x20 && *m < 0x7f && *m != '|', "unsafe byte 0x%02x in errmsg",
				   (unsigned char)*m);
		out->errors++;
		out->h = fuzz_fnv_u64(out->h, (uint64_t)e);
		out->h = fuzz_fnv(out->h, msg, strlen(msg));
		/* still in error until reset */
		size_t u2 = 0;
		FUZZ_CHECK(imap_parser_feed(p, "x", 1, &u2) == IMAP_PARSE_ERROR, "error not sticky");
		imap_parser_reset(p);
		const uint8_t *lf = memchr(data + pos, '\n', n - pos);
		pos = lf ? (size_t)(lf - data) + 1 : n;
	}
	out->h = fuzz_fnv_u64(out->h, imap_parser_pending(p));
	imap_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_limits lim;
	struct run a, b;

	if (size < 1)
		return 0;
	unsigned sel = data[0];
	set_limits(&lim, sel & 8);
	data++;
	size--;

	run(data, size, sel, &lim, 1, &a);
	if ((sel & 7) != 0) {
		run(data, size, 0, &lim, 0, &b);
		FUZZ_CHECK(a.h == b.h && a.done == b.done && a.errors == b.errors,
			   "chunking %u and one feed disagree: %u/%u responses, %u/%u errors",
			   sel & 7, a.done, b.done, a.errors, b.errors);
	}
	return 0;
}
