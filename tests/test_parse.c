/* test_parse.c - unit tests for the IMAP response parser.
 *
 * Every positive case goes through parse_n(), which parses the input three
 * ways (whole buffer, byte by byte, many seeded random chunkings), plus once
 * more on a parser that has just finished a response (implicit reset), and
 * asserts that every way gives the same response, the same consumed count,
 * and NEED_MORE on every byte before the last.  Error cases go through
 * perr_n(), which asserts the same error kind at the same byte every way.
 * Responses are compared through a canonical text dump, which the tests
 * also use to state the expected result compactly:
 *
 *   T <tag> <STATUS>[ [CODE "arg"]] "text"      tagged status
 *   * <STATUS>[ [CODE "arg"]] "text"            untagged status
 *   * [<number> ]<NAME> <tokens...>             untagged data
 *   + "text"                                    continuation
 *
 * tokens: atoms bare, quoted strings in quotes, NIL, ( ), literals as
 * {full_len}"data" or {kept/full_len}"data" when truncated. */
#include "config.h"
#include "imap/imap_parse.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct imap_parser *g_p;  /* the parser holding the last good parse */
static char *g_dump;             /* its dump */
static struct imap_parser *g_tmp; /* a helper's scratch parser */

static void teardown(void)
{
	imap_parser_free(g_p);
	g_p = NULL;
	imap_parser_free(g_tmp);
	g_tmp = NULL;
	free(g_dump);
	g_dump = NULL;
}

TestSuite(parse, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static uint64_t rng(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static struct imap_parser *mk(const struct imap_limits *lim)
{
	struct imap_parser *p = imap_parser_new(lim);
	cr_assert_not_null(p, "imap_parser_new failed");
	return p;
}

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static void put_bytes(FILE *f, const char *s, size_t n, int quote)
{
	if (n > 64) {
		fprintf(f, "<%zu bytes %016llx>", n, (unsigned long long)fnv(s, n));
		return;
	}
	if (quote)
		fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (quote && (c == '"' || c == '\\'))
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	if (quote)
		fputc('"', f);
}

static char *dump(const struct imap_response *r)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	cr_assert_not_null(f);
	switch (r->type) {
	case IMAP_RESP_CONTINUATION:
		fputs("+ ", f);
		put_bytes(f, r->text, r->text_len, 1);
		break;
	case IMAP_RESP_TAGGED:
	case IMAP_RESP_UNTAGGED:
		if (r->type == IMAP_RESP_TAGGED) {
			fputs("T ", f);
			put_bytes(f, r->tag, r->tag_len, 0);
		} else {
			fputs("*", f);
		}
		if (r->status != IMAP_ST_NONE) {
			fprintf(f, " %s", imap_status_str(r->status));
			if (r->code) {
				fputs(" [", f);
				put_bytes(f, r->code, r->code_len, 0);
				if (r->code_arg_len) {
					fputc(' ', f);
					put_bytes(f, r->code_arg, r->code_arg_len, 1);
				}
				fputc(']', f);
			}
			fputc(' ', f);
			put_bytes(f, r->text, r->text_len, 1);
			break;
		}
		if (r->has_number)
			fprintf(f, " %u", r->number);
		fputc(' ', f);
		put_bytes(f, r->name, r->name_len, 0);
		for (size_t i = 0; i < r->ntok; i++) {
			const struct imap_token *t = &r->tok[i];
			const char *d = imap_tok_data(r, t);

			fputc(' ', f);
			switch (t->type) {
			case IMAP_TOK_ATOM:
				put_bytes(f, d, t->len, 0);
				break;
			case IMAP_TOK_QUOTED:
				put_bytes(f, d, t->len, 1);
				break;
			case IMAP_TOK_LITERAL:
				if (t->truncated)
					fprintf(f, "{%u/%llu}", t->len, (unsigned long long)t->full_len);
				else
					fprintf(f, "{%llu}", (unsigned long long)t->full_len);
				put_bytes(f, d, t->len, 1);
				break;
			case IMAP_TOK_NIL:
				fputs("NIL", f);
				break;
			case IMAP_TOK_LIST_OPEN:
				fputc('(', f);
				break;
			case IMAP_TOK_LIST_CLOSE:
				fputc(')', f);
				break;
			default:
				fprintf(f, "?type%u", t->type);
			}
		}
		break;
	default:
		fprintf(f, "?resp%d", (int)r->type);
	}
	fclose(f);
	return buf;
}

/* Structural invariants every complete response must satisfy. */
static void check_resp(const struct imap_response *r)
{
	unsigned depth = 0;

	cr_assert_not_null(r->base);
	cr_assert_not_null(r->text);
	cr_assert_eq(r->text[r->text_len], '\0');
	cr_assert_not_null(r->code_arg);
	cr_assert_eq(r->code_arg[r->code_arg_len], '\0');
	if (r->code)
		cr_assert_eq(r->code[r->code_len], '\0');
	else
		cr_assert_eq(r->code_arg_len, 0);
	if (r->tag)
		cr_assert_eq(r->tag[r->tag_len], '\0');
	if (r->name)
		cr_assert_eq(r->name[r->name_len], '\0');

	switch (r->type) {
	case IMAP_RESP_TAGGED:
		cr_assert_not_null(r->tag);
		cr_assert_gt(r->tag_len, 0);
		cr_assert(r->status == IMAP_ST_OK || r->status == IMAP_ST_NO ||
			  r->status == IMAP_ST_BAD);
		cr_assert_null(r->name);
		cr_assert_eq(r->ntok, 0);
		break;
	case IMAP_RESP_UNTAGGED:
		cr_assert_null(r->tag);
		if (r->status != IMAP_ST_NONE) {
			cr_assert_null(r->name);
			cr_assert_not(r->has_number);
			cr_assert_eq(r->ntok, 0);
		} else {
			cr_assert_not_null(r->name);
			cr_assert_gt(r->name_len, 0);
			cr_assert_null(r->code);
			cr_assert_eq(r->text_len, 0);
		}
		break;
	case IMAP_RESP_CONTINUATION:
		cr_assert_null(r->tag);
		cr_assert_null(r->name);
		cr_assert_null(r->code);
		cr_assert_eq(r->status, IMAP_ST_NONE);
		cr_assert_eq(r->ntok, 0);
		break;
	default:
		cr_assert_fail("bad response type %d", (int)r->type);
	}

	for (size_t i = 0; i < r->ntok; i++) {
		const struct imap_token *t = &r->tok[i];

		if (t->type == IMAP_TOK_LIST_CLOSE) {
			cr_assert_gt(depth, 0, "token %zu: unbalanced close", i);
			depth--;
		}
		cr_assert_eq(t->depth, depth, "token %zu: depth %u, want %u", i, t->depth, depth);
		if (t->type == IMAP_TOK_LIST_OPEN)
			depth++;
		if (t->type == IMAP_TOK_LIST_OPEN || t->type == IMAP_TOK_LIST_CLOSE)
			cr_assert_eq(t->len, 0);
		cr_assert_eq(imap_tok_data(r, t)[t->len], '\0', "token %zu not NUL-terminated", i);
		if (t->type == IMAP_TOK_LITERAL) {
			cr_assert_eq(t->truncated, t->len < t->full_len);
			cr_assert_leq(t->len, t->full_len);
		} else {
			cr_assert_eq(t->truncated, 0);
			cr_assert_eq(t->full_len, t->len);
		}
		if (t->type == IMAP_TOK_ATOM || t->type == IMAP_TOK_NIL)
			cr_assert_gt(t->len, 0);
	}
	cr_assert_eq(depth, 0, "unbalanced list at end");
}

static const size_t chunk_max[] = { 2, 3, 7, 31, 256, 4096 };
#define NSEEDS 6

/* Parse in[0..len) every way; the response must end after want bytes.
 * Returns the response (held by g_p; its dump in g_dump). */
static const struct imap_response *parse_n(const char *in, size_t len,
					   const struct imap_limits *lim, size_t want)
{
	struct imap_parser *p;
	const struct imap_response *r;
	size_t c, off;
	char *d;
	int rc;

	teardown();

	/* whole buffer */
	p = g_p = mk(lim);
	cr_assert_null(imap_parser_response(p));
	rc = imap_parser_feed(p, in, len, &c);
	cr_assert_eq(rc, IMAP_PARSE_DONE, "whole: rc %d (%s)", rc, imap_parser_errmsg(p));
	cr_assert_eq(c, want, "whole: consumed %zu, want %zu", c, want);
	r = imap_parser_response(p);
	cr_assert_not_null(r);
	cr_assert_eq(r->raw_len, want);
	cr_assert_eq(imap_parser_pending(p), want);
	cr_assert_eq(imap_parser_error(p), IMAP_PERR_NONE);
	check_resp(r);
	g_dump = dump(r);

	/* the same parser again: implicit reset after DONE */
	rc = imap_parser_feed(p, in, len, &c);
	cr_assert_eq(rc, IMAP_PARSE_DONE);
	cr_assert_eq(c, want);
	d = dump(imap_parser_response(p));
	cr_assert_str_eq(d, g_dump, "after implicit reset");
	free(d);

	/* byte by byte */
	p = g_tmp = mk(lim);
	for (off = 0; off < want; off++) {
		rc = imap_parser_feed(p, in + off, 1, &c);
		cr_assert_eq(c, 1, "bytewise: consumed %zu at %zu", c, off);
		if (off + 1 < want) {
			cr_assert_eq(rc, IMAP_PARSE_NEED_MORE, "bytewise: rc %d at byte %zu (%s)",
				     rc, off, imap_parser_errmsg(p));
			cr_assert_eq(imap_parser_pending(p), off + 1);
			cr_assert_null(imap_parser_response(p));
		} else {
			cr_assert_eq(rc, IMAP_PARSE_DONE, "bytewise: rc %d at last byte", rc);
		}
	}
	r = imap_parser_response(p);
	cr_assert_not_null(r);
	cr_assert_eq(r->raw_len, want);
	d = dump(r);
	cr_assert_str_eq(d, g_dump, "bytewise differs");
	free(d);

	/* random chunks, on one parser reset between runs */
	for (size_t m = 0; m < sizeof(chunk_max) / sizeof(chunk_max[0]); m++) {
		for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
			uint64_t s = seed * 0x9E3779B97F4A7C15ULL + m;

			imap_parser_reset(p);
			off = 0;
			for (;;) {
				size_t n = 1 + rng(&s) % chunk_max[m];

				if (n > len - off)
					n = len - off;
				cr_assert_gt(n, 0, "chunks: input ended before DONE");
				rc = imap_parser_feed(p, in + off, n, &c);
				off += c;
				if (rc == IMAP_PARSE_DONE)
					break;
				cr_assert_eq(rc, IMAP_PARSE_NEED_MORE, "chunks: rc %d (%s)", rc,
					     imap_parser_errmsg(p));
				cr_assert_eq(c, n);
			}
			cr_assert_eq(off, want, "chunks(seed %llu max %zu): consumed %zu",
				     (unsigned long long)seed, chunk_max[m], off);
			d = dump(imap_parser_response(p));
			cr_assert_str_eq(d, g_dump, "chunks(seed %llu max %zu) differ",
					 (unsigned long long)seed, chunk_max[m]);
			free(d);
		}
	}
	imap_parser_free(p);
	g_tmp = NULL;

	/* leave g_p holding a fresh whole-buffer parse for the caller */
	imap_parser_reset(g_p);
	rc = imap_parser_feed(g_p, in, len, &c);
	cr_assert_eq(rc, IMAP_PARSE_DONE);
	return imap_parser_response(g_p);
}

#define P(s) parse_n((s), sizeof(s) - 1, NULL, sizeof(s) - 1)
#define PL(s, lim) parse_n((s), sizeof(s) - 1, (lim), sizeof(s) - 1)
#define EXPECT(s, want) do { P(s); cr_assert_str_eq(g_dump, (want)); } while (0)

static void check_errmsg(const struct imap_parser *p)
{
	const char *m = imap_parser_errmsg(p);
	size_t n = strlen(m);

	cr_assert_gt(n, 0);
	cr_assert_lt(n, 128);
	for (size_t i = 0; i < n; i++)
		cr_assert(m[i] >= 0x20 && m[i] < 0x7f && m[i] != '|',
			  "errmsg byte %zu is 0x%02x", i, (unsigned char)m[i]);
}

/* The input must fail with `want`; returns the error position (bytes
 * consumed including the offending one), the same every way. */
static size_t perr_n(const char *in, size_t len, const struct imap_limits *lim,
		     enum imap_parse_error want)
{
	struct imap_parser *p;
	size_t c, pos, off;
	int rc;

	p = g_tmp = mk(lim);
	rc = imap_parser_feed(p, in, len, &c);
	cr_assert_eq(rc, IMAP_PARSE_ERROR, "whole: rc %d, want error", rc);
	cr_assert_eq(imap_parser_error(p), want, "whole: error %d, want %d (%s)",
		     imap_parser_error(p), want, imap_parser_errmsg(p));
	cr_assert_null(imap_parser_response(p));
	check_errmsg(p);
	pos = c;
	cr_assert_gt(pos, 0);

	/* sticky until reset */
	rc = imap_parser_feed(p, "a1 OK x\r\n", 9, &c);
	cr_assert_eq(rc, IMAP_PARSE_ERROR);
	cr_assert_eq(c, 0);
	imap_parser_reset(p);
	cr_assert_eq(imap_parser_error(p), IMAP_PERR_NONE);
	rc = imap_parser_feed(p, "a1 OK x\r\n", 9, &c);
	cr_assert_eq(rc, IMAP_PARSE_DONE, "parser unusable after reset");

	/* byte by byte */
	imap_parser_reset(p);
	for (off = 0; off < pos; off++) {
		rc = imap_parser_feed(p, in + off, 1, &c);
		cr_assert_eq(c, 1);
		if (off + 1 < pos)
			cr_assert_eq(rc, IMAP_PARSE_NEED_MORE, "bytewise: rc %d at %zu", rc, off);
	}
	cr_assert_eq(rc, IMAP_PARSE_ERROR);
	cr_assert_eq(imap_parser_error(p), want);

	/* random chunks */
	for (size_t m = 0; m < sizeof(chunk_max) / sizeof(chunk_max[0]); m++) {
		for (uint64_t seed = 1; seed <= NSEEDS; seed++) {
			uint64_t s = seed * 31 + m;

			imap_parser_reset(p);
			off = 0;
			for (;;) {
				size_t n = 1 + rng(&s) % chunk_max[m];

				if (n > len - off)
					n = len - off;
				cr_assert_gt(n, 0);
				rc = imap_parser_feed(p, in + off, n, &c);
				off += c;
				if (rc == IMAP_PARSE_ERROR)
					break;
				cr_assert_eq(rc, IMAP_PARSE_NEED_MORE);
			}
			cr_assert_eq(off, pos, "chunks: error at %zu, whole at %zu", off, pos);
			cr_assert_eq(imap_parser_error(p), want);
		}
	}
	imap_parser_free(p);
	g_tmp = NULL;
	return pos;
}

#define E(s, kind) perr_n((s), sizeof(s) - 1, NULL, (kind))
#define EL(s, lim, kind) perr_n((s), sizeof(s) - 1, (lim), (kind))

/* Assert token i's type and bytes. */
#define TOK(r, i, ty, s) do {                                                 \
	const struct imap_token *t_ = &(r)->tok[(i)];                         \
	cr_assert_lt((size_t)(i), (r)->ntok, "token %d missing", (int)(i));   \
	cr_assert_eq(t_->type, (ty), "token %d type %u", (int)(i), t_->type); \
	cr_assert_eq(t_->len, sizeof(s) - 1, "token %d len %u", (int)(i), t_->len); \
	cr_assert(!memcmp(imap_tok_data((r), t_), (s), sizeof(s) - 1),        \
		  "token %d bytes differ", (int)(i));                         \
} while (0)

static int name_is(const struct imap_response *r, const char *s)
{
	return r->name && r->name_len == strlen(s) && !memcmp(r->name, s, r->name_len);
}

/* Parse a concatenation of responses, arriving in chunks of at most
 * maxchunk bytes (0: all at once); return the dumps one per line. */
static char *parse_stream(const char *in, size_t len, size_t maxchunk, uint64_t seed,
			  size_t *nresp)
{
	struct imap_parser *p = g_tmp = mk(NULL);
	char *buf = NULL, *d;
	size_t sz = 0, off = 0, c;
	FILE *f = open_memstream(&buf, &sz);
	uint64_t s = seed;

	*nresp = 0;
	while (off < len) {
		size_t end = maxchunk ? off + 1 + rng(&s) % maxchunk : len;

		if (end > len)
			end = len;
		while (off < end) {
			int rc = imap_parser_feed(p, in + off, end - off, &c);

			off += c;
			if (rc == IMAP_PARSE_DONE) {
				d = dump(imap_parser_response(p));
				fprintf(f, "%s\n", d);
				free(d);
				++*nresp;
				continue;
			}
			cr_assert_eq(rc, IMAP_PARSE_NEED_MORE, "stream: %s", imap_parser_errmsg(p));
			cr_assert_eq(off, end);
		}
	}
	fclose(f);
	imap_parser_free(p);
	g_tmp = NULL;
	return buf;
}

/* ------------------------------------------------------------ tokens */

Test(parse, atoms)
{
	const struct imap_response *r = P("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID\r\n");

	cr_assert_eq(r->type, IMAP_RESP_UNTAGGED);
	cr_assert_eq(r->status, IMAP_ST_NONE);
	cr_assert_not(r->has_number);
	cr_assert(name_is(r, "CAPABILITY"));
	cr_assert_eq(r->ntok, 4);
	TOK(r, 0, IMAP_TOK_ATOM, "IMAP4rev1");
	TOK(r, 1, IMAP_TOK_ATOM, "SASL-IR");
	TOK(r, 2, IMAP_TOK_ATOM, "AUTH=PLAIN");
	TOK(r, 3, IMAP_TOK_ATOM, "ID");
	cr_assert_str_eq(g_dump, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID");
}

Test(parse, flag_atoms)
{
	const struct imap_response *r =
		P("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)\r\n");

	cr_assert(name_is(r, "FLAGS"));
	cr_assert_eq(r->ntok, 8);
	TOK(r, 0, IMAP_TOK_LIST_OPEN, "");
	TOK(r, 1, IMAP_TOK_ATOM, "\\Answered");
	TOK(r, 6, IMAP_TOK_ATOM, "\\*");
	TOK(r, 7, IMAP_TOK_LIST_CLOSE, "");
	cr_assert_eq(r->tok[1].depth, 1);
}

Test(parse, quoted_escapes)
{
	const struct imap_response *r = P("* LIST () \"/\" \"a \\\"b\\\" \\\\c\"\r\n");

	cr_assert_eq(r->ntok, 4);
	TOK(r, 2, IMAP_TOK_QUOTED, "/");
	TOK(r, 3, IMAP_TOK_QUOTED, "a \"b\" \\c");
}

Test(parse, quoted_other_escape_kept)
{
	const struct imap_response *r = P("* X \"a\\b\\x\" \"\\\\\\\"\"\r\n");

	TOK(r, 0, IMAP_TOK_QUOTED, "a\\b\\x");
	TOK(r, 1, IMAP_TOK_QUOTED, "\\\"");
}

Test(parse, quoted_brace_is_not_literal)
{
	/* completes at the CRLF instead of waiting for 5 literal bytes */
	const struct imap_response *r = P("* LIST () \"/\" \"foo{5}\"\r\n");

	TOK(r, 3, IMAP_TOK_QUOTED, "foo{5}");
	r = P("* X \"{3}\" \"{0}\"\r\n");
	TOK(r, 0, IMAP_TOK_QUOTED, "{3}");
	TOK(r, 1, IMAP_TOK_QUOTED, "{0}");
}

Test(parse, quoted_empty_and_specials)
{
	const struct imap_response *r = P("* X \"\" \"(a) [b] NIL\" \"\"\r\n");

	cr_assert_eq(r->ntok, 3);
	TOK(r, 0, IMAP_TOK_QUOTED, "");
	TOK(r, 1, IMAP_TOK_QUOTED, "(a) [b] NIL");
	TOK(r, 2, IMAP_TOK_QUOTED, "");
}

Test(parse, quoted_8bit)
{
	const struct imap_response *r = P("* LIST () \"/\" \"Entw\xc3\xbcrfe\" Gr\xc3\xbc\xc3\x9f\r\n");

	TOK(r, 3, IMAP_TOK_QUOTED, "Entw\xc3\xbcrfe");
	TOK(r, 4, IMAP_TOK_ATOM, "Gr\xc3\xbc\xc3\x9f");
}

Test(parse, literal_basic)
{
	const struct imap_response *r = P("* LIST () \"/\" {10}\r\nSent Items\r\n");

	cr_assert_eq(r->ntok, 4);
	TOK(r, 3, IMAP_TOK_LITERAL, "Sent Items");
	cr_assert_eq(r->tok[3].full_len, 10);
	cr_assert_eq(r->tok[3].truncated, 0);
	cr_assert_str_eq(g_dump, "* LIST ( ) \"/\" {10}\"Sent Items\"");
}

Test(parse, literal_nonsync)
{
	EXPECT("* X {3+}\r\nabc def\r\n", "* X {3}\"abc\" def");
}

Test(parse, literal_with_crlf_nul_and_specials)
{
	const struct imap_response *r =
		P("* 1 FETCH (BODY[] {11}\r\na\r\nb\0c\r\n\r\nd X {9}\r\n) \"x\" {5})\r\n");

	cr_assert_eq(r->ntok, 6);
	TOK(r, 2, IMAP_TOK_LITERAL, "a\r\nb\0c\r\n\r\nd");
	TOK(r, 3, IMAP_TOK_ATOM, "X");
	TOK(r, 4, IMAP_TOK_LITERAL, ") \"x\" {5}");
	TOK(r, 5, IMAP_TOK_LIST_CLOSE, "");
}

Test(parse, literal_zero_length)
{
	const struct imap_response *r = P("* X {0}\r\n NIL {0}\r\n\r\n");

	cr_assert_eq(r->ntok, 3);
	TOK(r, 0, IMAP_TOK_LITERAL, "");
	TOK(r, 1, IMAP_TOK_NIL, "NIL");
	TOK(r, 2, IMAP_TOK_LITERAL, "");
	cr_assert_eq(r->tok[2].full_len, 0);
}

Test(parse, literal_leading_zeros)
{
	EXPECT("* X {0003}\r\nabc\r\n", "* X {3}\"abc\"");
}

Test(parse, nil_any_case)
{
	const struct imap_response *r = P("* X NIL nil Nil \"NIL\" NILS (NIL)\r\n");

	cr_assert_eq(r->ntok, 8);
	TOK(r, 0, IMAP_TOK_NIL, "NIL");
	TOK(r, 1, IMAP_TOK_NIL, "nil");
	TOK(r, 2, IMAP_TOK_NIL, "Nil");
	TOK(r, 3, IMAP_TOK_QUOTED, "NIL");
	TOK(r, 4, IMAP_TOK_ATOM, "NILS");
	TOK(r, 6, IMAP_TOK_NIL, "NIL");
	cr_assert_eq(r->tok[6].depth, 1);
}

Test(parse, nested_lists)
{
	static const uint8_t depth[] = { 0, 1, 1, 2, 2, 3, 2, 1, 1, 0, 0, 0 };
	const struct imap_response *r = P("* X (a (b (c)) d) ()\r\n");

	cr_assert_eq(r->ntok, 12);
	for (size_t i = 0; i < r->ntok; i++)
		cr_assert_eq(r->tok[i].depth, depth[i], "token %zu", i);
	cr_assert_str_eq(g_dump, "* X ( a ( b ( c ) ) d ) ( )");
}

Test(parse, section_atoms)
{
	const struct imap_response *r = P(
		"* 12 FETCH (UID 7 BODY[HEADER.FIELDS (SUBJECT DATE FROM)] {5}\r\nhello "
		"BODY[]<0> {3}\r\nabc BODY[1.2.MIME] NIL BINARY.SIZE[1] 40 "
		"BODY[HEADER.FIELDS.NOT (\"X\" [Y])]<0.100> x)\r\n");

	cr_assert(r->has_number);
	cr_assert_eq(r->number, 12);
	cr_assert(name_is(r, "FETCH"));
	TOK(r, 3, IMAP_TOK_ATOM, "BODY[HEADER.FIELDS (SUBJECT DATE FROM)]");
	TOK(r, 4, IMAP_TOK_LITERAL, "hello");
	TOK(r, 5, IMAP_TOK_ATOM, "BODY[]<0>");
	TOK(r, 6, IMAP_TOK_LITERAL, "abc");
	TOK(r, 7, IMAP_TOK_ATOM, "BODY[1.2.MIME]");
	TOK(r, 8, IMAP_TOK_NIL, "NIL");
	TOK(r, 9, IMAP_TOK_ATOM, "BINARY.SIZE[1]");
	TOK(r, 10, IMAP_TOK_ATOM, "40");
	TOK(r, 11, IMAP_TOK_ATOM, "BODY[HEADER.FIELDS.NOT (\"X\" [Y])]<0.100>");
	TOK(r, 12, IMAP_TOK_ATOM, "x");
	cr_assert_eq(r->ntok, 14);
}

Test(parse, atom_odd_bytes)
{
	/* ']' outside a section and '{' after the first byte are atom bytes:
	 * "a{5}" is not a literal announcement */
	const struct imap_response *r = P("* X a]b a{5}\r\n");

	TOK(r, 0, IMAP_TOK_ATOM, "a]b");
	TOK(r, 1, IMAP_TOK_ATOM, "a{5}");
	/* a section may open the atom, and sections nest */
	r = P("* X [a (b) \"c] d x[1 [2 3] 4]y\r\n");
	cr_assert_eq(r->ntok, 3);
	TOK(r, 0, IMAP_TOK_ATOM, "[a (b) \"c]");
	TOK(r, 1, IMAP_TOK_ATOM, "d");
	TOK(r, 2, IMAP_TOK_ATOM, "x[1 [2 3] 4]y");
}

Test(parse, adjacent_tokens)
{
	EXPECT("* X (a)(b)\"c\"d {1}\r\nxy\r\n", "* X ( a ) ( b ) \"c\" d {1}\"x\" y");
}

/* ------------------------------------------------------------ status */

Test(parse, tagged_ok)
{
	const struct imap_response *r = P("a001 OK LOGIN completed\r\n");

	cr_assert_eq(r->type, IMAP_RESP_TAGGED);
	cr_assert_eq(r->tag_len, 4);
	cr_assert_str_eq(r->tag, "a001");
	cr_assert_eq(r->status, IMAP_ST_OK);
	cr_assert_null(r->code);
	cr_assert_str_eq(r->code_arg, "");
	cr_assert_str_eq(r->text, "LOGIN completed");
	cr_assert_eq(r->text_len, 15);
	cr_assert_eq(r->ntok, 0);
	cr_assert_null(r->name);
}

Test(parse, tagged_status_case_insensitive)
{
	cr_assert_eq(P("a1 ok fine\r\n")->status, IMAP_ST_OK);
	cr_assert_eq(P("a1 Ok fine\r\n")->status, IMAP_ST_OK);
	cr_assert_eq(P("a1 nO [AUTHENTICATIONFAILED] bad\r\n")->status, IMAP_ST_NO);
	cr_assert_eq(P("A.2 bAd what\r\n")->status, IMAP_ST_BAD);
	cr_assert_str_eq(g_dump, "T A.2 BAD \"what\"");
}

Test(parse, tagged_code_appenduid)
{
	const struct imap_response *r = P("A003 OK [APPENDUID 38505 3955] APPEND completed\r\n");

	cr_assert_eq(r->code_len, 9);
	cr_assert_str_eq(r->code, "APPENDUID");
	cr_assert_str_eq(r->code_arg, "38505 3955");
	cr_assert_eq(r->code_arg_len, 10);
	cr_assert_str_eq(r->text, "APPEND completed");
}

Test(parse, untagged_status_kinds)
{
	EXPECT("* OK IMAP4rev1 Service Ready\r\n", "* OK \"IMAP4rev1 Service Ready\"");
	EXPECT("* NO Disk is 98% full\r\n", "* NO \"Disk is 98% full\"");
	EXPECT("* BAD Command line too long\r\n", "* BAD \"Command line too long\"");
	EXPECT("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as x\r\n",
	       "* PREAUTH [CAPABILITY \"IMAP4rev1\"] \"Logged in as x\"");
	EXPECT("* BYE Autologout; idle for too long\r\n", "* BYE \"Autologout; idle for too long\"");
	cr_assert_eq(P("* bye x\r\n")->status, IMAP_ST_BYE);
	cr_assert_eq(P("* preAuth x\r\n")->status, IMAP_ST_PREAUTH);
	cr_assert_null(P("* ok x\r\n")->name);
}

Test(parse, greeting_capability_code)
{
	const struct imap_response *r =
		P("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS AUTH=PLAIN] Dovecot ready.\r\n");

	cr_assert_eq(r->status, IMAP_ST_OK);
	cr_assert_str_eq(r->code, "CAPABILITY");
	cr_assert_str_eq(r->code_arg, "IMAP4rev1 SASL-IR LOGIN-REFERRALS AUTH=PLAIN");
	cr_assert_str_eq(r->text, "Dovecot ready.");
}

Test(parse, code_with_parens)
{
	EXPECT("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
	       "* OK [PERMANENTFLAGS \"(\\\\Deleted \\\\Seen \\\\*)\"] \"Limited\"");
	EXPECT("a1 NO [BADCHARSET (UTF-8)] charset\r\n",
	       "T a1 NO [BADCHARSET \"(UTF-8)\"] \"charset\"");
	/* a ']' inside parens belongs to the argument */
	EXPECT("a1 NO [X (a]b)] t\r\n", "T a1 NO [X \"(a]b)\"] \"t\"");
}

Test(parse, code_simple)
{
	EXPECT("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
	       "* OK [UIDVALIDITY \"3857529045\"] \"UIDs valid\"");
	const struct imap_response *r = P("* OK [ALERT] System shutdown in 10 minutes\r\n");
	cr_assert_str_eq(r->code, "ALERT");
	cr_assert_eq(r->code_arg_len, 0);
	cr_assert_str_eq(r->code_arg, "");
	cr_assert_str_eq(r->text, "System shutdown in 10 minutes");
	EXPECT("a1 OK [READ-WRITE ] done\r\n", "T a1 OK [READ-WRITE] \"done\"");
}

Test(parse, code_nested_brackets_and_quotes)
{
	EXPECT("* BYE [REFERRAL imap://u@[::1]:143/INBOX] go away\r\n",
	       "* BYE [REFERRAL \"imap://u@[::1]:143/INBOX\"] \"go away\"");
	EXPECT("a1 NO [BADCHARSET (\"x]y\" UTF-8)] nope\r\n",
	       "T a1 NO [BADCHARSET \"(\\\"x]y\\\" UTF-8)\"] \"nope\"");
	EXPECT("a1 NO [X \"a\\\"]\"] t\r\n", "T a1 NO [X \"\\\"a\\\\\\\"]\\\"\"] \"t\"");
}

Test(parse, status_missing_text_is_accepted)
{
	static const char *const in[] = {
		"a1 OK\r\n", "a1 OK \r\n", "a1 OK   \r\n", "* OK\r\n", "* BYE\n",
		"a1 OK [ALERT]\r\n", "a1 NO [ALERT] \r\n", "* OK [UIDVALIDITY 1]\r\n",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		const struct imap_response *r = parse_n(in[i], strlen(in[i]), NULL, strlen(in[i]));

		cr_assert_neq(r->status, IMAP_ST_NONE, "%s", in[i]);
		cr_assert_not_null(r->text);
		cr_assert_eq(r->text_len, 0, "%s", in[i]);
		cr_assert_str_eq(r->text, "");
	}
}

Test(parse, status_text_is_free_text)
{
	/* a literal announcement at the end of resp-text is just text */
	const struct imap_response *r = P("a1 OK done {5}\r\n");

	cr_assert_str_eq(r->text, "done {5}");
	EXPECT("* OK [ALERT] x {5}\r\n", "* OK [ALERT] \"x {5}\"");
	EXPECT("a1 NO \"q\" (paren [br ] } NIL\r\n", "T a1 NO \"\\\"q\\\" (paren [br ] } NIL\"");
	EXPECT("a1 OK [ALERT]text\r\n", "T a1 OK [ALERT] \"text\"");
	EXPECT("a1 OK  \t tab\x01\xff\r\n", "T a1 OK \"\\x09 tab\\x01\\xff\"");
}

Test(parse, continuation)
{
	const struct imap_response *r = P("+ Ready for literal data\r\n");

	cr_assert_eq(r->type, IMAP_RESP_CONTINUATION);
	cr_assert_str_eq(r->text, "Ready for literal data");
	EXPECT("+ dGVzdA==\r\n", "+ \"dGVzdA==\"");
	EXPECT("+ [ALERT] x {5}\r\n", "+ \"[ALERT] x {5}\"");
	EXPECT("+  two\r\n", "+ \" two\"");
	EXPECT("+x\r\n", "+ \"x\"");
}

Test(parse, continuation_bare)
{
	static const char *const in[] = { "+\r\n", "+ \r\n", "+\n", "+ \n" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		const struct imap_response *r = parse_n(in[i], strlen(in[i]), NULL, strlen(in[i]));

		cr_assert_eq(r->type, IMAP_RESP_CONTINUATION);
		cr_assert_not_null(r->text);
		cr_assert_eq(r->text_len, 0);
	}
}

/* ------------------------------------------------------------ data */

Test(parse, numbered)
{
	const struct imap_response *r = P("* 23 EXISTS\r\n");

	cr_assert(r->has_number);
	cr_assert_eq(r->number, 23);
	cr_assert(name_is(r, "EXISTS"));
	cr_assert_eq(r->ntok, 0);
	cr_assert_eq(r->status, IMAP_ST_NONE);
	cr_assert_eq(P("* 0 RECENT\r\n")->number, 0);
	cr_assert_eq(P("* 4294967295 EXPUNGE\r\n")->number, 4294967295u);
	cr_assert_eq(P("* 00042 exists\r\n")->number, 42);
	cr_assert(name_is(imap_parser_response(g_p), "exists"));
	/* a status word after a number is just a name */
	r = P("* 3 OK\r\n");
	cr_assert_eq(r->status, IMAP_ST_NONE);
	cr_assert(name_is(r, "OK"));
}

Test(parse, fetch)
{
	const struct imap_response *r = P(
		"* 5 FETCH (UID 9 FLAGS (\\Seen $Junk) RFC822.SIZE 4242 "
		"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[TEXT] {7}\r\nhi\r\nyo\r MODSEQ (12))\r\n");
	uint64_t v;
	size_t i;

	cr_assert_eq(r->number, 5);
	cr_assert(name_is(r, "FETCH"));
	cr_assert_str_eq(g_dump, "* 5 FETCH ( UID 9 FLAGS ( \\Seen $Junk ) RFC822.SIZE 4242 "
			 "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[TEXT] "
			 "{7}\"hi\\x0d\\x0ayo\\x0d\" MODSEQ ( 12 ) )");
	/* walk the top-level list the way a consumer would */
	for (i = 1; i < r->ntok && r->tok[i].type != IMAP_TOK_LIST_CLOSE; i = imap_tok_skip(r, i + 1))
		if (imap_tok_is(r, &r->tok[i], "rfc822.size"))
			break;
	cr_assert_eq(imap_tok_u64(r, &r->tok[i + 1], &v), 0);
	cr_assert_eq(v, 4242);
}

Test(parse, search)
{
	const struct imap_response *r = P("* SEARCH 2 84 882\r\n");

	cr_assert_eq(r->ntok, 3);
	TOK(r, 2, IMAP_TOK_ATOM, "882");
	cr_assert_eq(P("* SEARCH\r\n")->ntok, 0);
	cr_assert_eq(P("* SEARCH \r\n")->ntok, 0);
	EXPECT("* SEARCH 1 (MODSEQ 917162500)\r\n", "* SEARCH 1 ( MODSEQ 917162500 )");
}

Test(parse, esearch)
{
	const struct imap_response *r = P("* ESEARCH (TAG \"a1\") UID COUNT 3 MAX 7\r\n");
	uint64_t v = 0;

	cr_assert(name_is(r, "ESEARCH"));
	cr_assert_str_eq(g_dump, "* ESEARCH ( TAG \"a1\" ) UID COUNT 3 MAX 7");
	cr_assert_eq(imap_tok_skip(r, 0), 4);
	cr_assert(imap_tok_is(r, &r->tok[5], "count"));
	cr_assert_eq(imap_tok_u64(r, &r->tok[6], &v), 0);
	cr_assert_eq(v, 3);
}

Test(parse, list)
{
	const struct imap_response *r = P("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n");

	cr_assert(name_is(r, "LIST"));
	cr_assert_eq(r->ntok, 6);
	TOK(r, 1, IMAP_TOK_ATOM, "\\HasNoChildren");
	TOK(r, 4, IMAP_TOK_QUOTED, "/");
	TOK(r, 5, IMAP_TOK_QUOTED, "Sent Items");
	EXPECT("* LIST (\\Noselect) NIL \"\"\r\n", "* LIST ( \\Noselect ) NIL \"\"");
	EXPECT("* LSUB () \".\" INBOX.Trash\r\n", "* LSUB ( ) \".\" INBOX.Trash");
}

Test(parse, namespace)
{
	const struct imap_response *r = P("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");

	cr_assert_eq(r->ntok, 8);
	cr_assert_eq(r->tok[2].depth, 2);
	TOK(r, 2, IMAP_TOK_QUOTED, "");
	TOK(r, 3, IMAP_TOK_QUOTED, "/");
	cr_assert_eq(imap_tok_skip(r, 0), 6);
	TOK(r, 6, IMAP_TOK_NIL, "NIL");
	EXPECT("* NAMESPACE ((\"\" \"/\" \"X-P\" (\"a\" \"b\"))) ((\"~\" \"/\")) NIL\r\n",
	       "* NAMESPACE ( ( \"\" \"/\" \"X-P\" ( \"a\" \"b\" ) ) ) ( ( \"~\" \"/\" ) ) NIL");
}

Test(parse, quota_status_flags)
{
	EXPECT("* QUOTA \"\" (STORAGE 10 512)\r\n", "* QUOTA \"\" ( STORAGE 10 512 )");
	EXPECT("* QUOTAROOT INBOX \"\"\r\n", "* QUOTAROOT INBOX \"\"");
	EXPECT("* STATUS \"Sent Items\" (MESSAGES 231 UIDNEXT 44292)\r\n",
	       "* STATUS \"Sent Items\" ( MESSAGES 231 UIDNEXT 44292 )");
	EXPECT("* FLAGS (\\Seen \\*)\r\n", "* FLAGS ( \\Seen \\* )");
	EXPECT("* ID (\"name\" \"Dovecot\") \r\n", "* ID ( \"name\" \"Dovecot\" )");
	EXPECT("* ENABLED CONDSTORE\r\n", "* ENABLED CONDSTORE");
}

Test(parse, name_abutting_list)
{
	/* lenient: "* FLAGS(\Seen)" */
	EXPECT("* FLAGS(\\Seen)\r\n", "* FLAGS ( \\Seen )");
	EXPECT("* 2 FETCH(UID 3)\r\n", "* 2 FETCH ( UID 3 )");
}

/* ------------------------------------------------------------ line ends, spacing */

Test(parse, bare_lf)
{
	EXPECT("a1 OK done\n", "T a1 OK \"done\"");
	EXPECT("* X {3}\nabc\n", "* X {3}\"abc\"");
	EXPECT("* 1 FETCH (UID 2)\n", "* 1 FETCH ( UID 2 )");
	EXPECT("+\n", "+ \"\"");
}

Test(parse, lenient_spacing)
{
	EXPECT("*  5   FETCH  ( UID  7 )  \r\n", "* 5 FETCH ( UID 7 )");
	EXPECT("a1  OK   [ALERT]   hi there \r\n", "T a1 OK [ALERT] \"hi there \"");
	EXPECT("*   OK  x\r\n", "* OK \"x\"");
}

/* ------------------------------------------------------------ consumed */

Test(parse, two_responses_in_one_buffer)
{
	static const char in[] = "* 2 EXISTS\r\na1 OK done\r\n";
	const struct imap_response *r = parse_n(in, sizeof(in) - 1, NULL, 12);
	size_t c;

	cr_assert_str_eq(g_dump, "* 2 EXISTS");
	cr_assert_eq(r->raw_len, 12);
	cr_assert_eq(imap_parser_feed(g_p, in + 12, sizeof(in) - 1 - 12, &c), IMAP_PARSE_DONE);
	cr_assert_eq(c, sizeof(in) - 1 - 12);
	r = imap_parser_response(g_p);
	cr_assert_eq(r->type, IMAP_RESP_TAGGED);
	cr_assert_str_eq(r->text, "done");
	cr_assert_eq(r->raw_len, 12);
}

Test(parse, literal_then_next_response)
{
	static const char in[] = "* 1 FETCH (BODY[] {3}\r\n)\r\n)\r\n* 2 FETCH (UID 4)\r\n";
	const struct imap_response *r = parse_n(in, sizeof(in) - 1, NULL, 29);

	TOK(r, 2, IMAP_TOK_LITERAL, ")\r\n");
	cr_assert_eq(r->ntok, 4);
}

Test(parse, stream_any_chunking)
{
	static const char in[] =
		"* OK [CAPABILITY IMAP4rev1] ready\r\n"
		"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
		"* FLAGS (\\Answered \\Seen)\r\n"
		"* 3 EXISTS\n"
		"* OK [UIDVALIDITY 1] x\r\n"
		"+ \r\n"
		"+\r\n"
		"* 1 FETCH (BODY[] {12}\r\n* 9 EXISTS\r\n UID 1)\r\n"
		"* 2 FETCH (BODY[HEADER.FIELDS (A)] {0}\r\n)\r\n"
		"* LIST () \"/\" {4}\r\na\nb\r\r\n"
		"a2 OK {4}\r\n"
		"* BYE bye\r\n";
	size_t n, n2;
	char *whole = parse_stream(in, sizeof(in) - 1, 0, 0, &n);

	cr_assert_eq(n, 12);
	cr_assert_str_eq(whole,
		"* OK [CAPABILITY \"IMAP4rev1\"] \"ready\"\n"
		"T a1 OK [CAPABILITY \"IMAP4rev1 IDLE\"] \"Logged in\"\n"
		"* FLAGS ( \\Answered \\Seen )\n"
		"* 3 EXISTS\n"
		"* OK [UIDVALIDITY \"1\"] \"x\"\n"
		"+ \"\"\n"
		"+ \"\"\n"
		"* 1 FETCH ( BODY[] {12}\"* 9 EXISTS\\x0d\\x0a\" UID 1 )\n"
		"* 2 FETCH ( BODY[HEADER.FIELDS (A)] {0}\"\" )\n"
		"* LIST ( ) \"/\" {4}\"a\\x0ab\\x0d\"\n"
		"T a2 OK \"{4}\"\n"
		"* BYE \"bye\"\n");
	for (size_t m = 1; m <= 40; m += 3) {
		for (uint64_t seed = 1; seed <= 4; seed++) {
			char *s = parse_stream(in, sizeof(in) - 1, m, seed, &n2);
			cr_assert_eq(n2, n);
			cr_assert_str_eq(s, whole, "chunk max %zu seed %llu", m, (unsigned long long)seed);
			free(s);
		}
	}
	free(whole);
}

/* Everything the parser says about a byte stream, fed in chunks of at
 * most maxchunk bytes (0: all at once): each response's dump and end
 * offset, then the error and its offset, or how much is pending. */
static char *transcript(const char *in, size_t len, const struct imap_limits *lim,
			size_t maxchunk, uint64_t seed)
{
	struct imap_parser *p = g_tmp = mk(lim);
	char *buf = NULL, *d;
	size_t sz = 0, off = 0, c;
	FILE *f = open_memstream(&buf, &sz);
	uint64_t s = seed;
	int rc = IMAP_PARSE_NEED_MORE;

	while (off < len && rc != IMAP_PARSE_ERROR) {
		size_t n = maxchunk ? 1 + rng(&s) % maxchunk : len - off;

		if (n > len - off)
			n = len - off;
		while (n) {
			rc = imap_parser_feed(p, in + off, n, &c);
			off += c;
			n -= c;
			if (rc == IMAP_PARSE_ERROR) {
				fprintf(f, "E%d@%zu", (int)imap_parser_error(p), off);
				break;
			}
			if (rc == IMAP_PARSE_DONE) {
				d = dump(imap_parser_response(p));
				fprintf(f, "%s@%zu\n", d, off);
				free(d);
			} else {
				cr_assert_eq(n, 0);
			}
		}
	}
	if (rc != IMAP_PARSE_ERROR)
		fprintf(f, "N%llu", (unsigned long long)imap_parser_pending(p));
	fclose(f);
	imap_parser_free(p);
	g_tmp = NULL;
	return buf;
}

Test(parse, random_streams_same_result_every_way)
{
	static const char *const frag[] = {
		"* ", "a1 ", "+", "+ ", "* 1 FETCH (", "OK ", "no ", "BYE ", "[", "]", "(", ")",
		" ", " ", " ", "\"", "\\", "{", "}", "{3}\r\n", "{0}\r\n", "{2+}\r\n", "{1}\n",
		"abc", "NIL", "BODY[", "12", "\\Seen", "\r\n", "\r\n", "\n", "\r", "\x01", "\xff",
		"[ALERT] ", "UIDVALIDITY 5", "* OK [CAPABILITY IMAP4rev1] hi\r\n",
		"a2 OK done\r\n", "* SEARCH 1 2\r\n", "\0",
		"* 3 EXISTS\r\n", "+\r\n", "* 2 FETCH (BODY[] {3}\r\na)b UID 4)\r\n",
		"a3 NO [X (a]b)] t\n", "* LIST () \"/\" \"a\\\"b\"\r\n", "* BYE\r\n",
		"* 2 FETCH (BODY[] {3}\r\na)b UID 4)\r\n", "a2 OK done\r\n", "* 3 EXISTS\r\n",
	};
	const size_t nfrag = sizeof(frag) / sizeof(frag[0]);
	struct imap_limits lim;
	char in[512];
	uint64_t s = 42;
	size_t ndone = 0, nerr = 0, nresp = 0;

	imap_limits_default(&lim);
	lim.max_text = 96;
	lim.max_literal = 64;
	lim.max_literal_keep = 4;
	lim.max_tokens = 24;
	lim.max_depth = 4;
	for (int iter = 0; iter < 1500; iter++) {
		size_t len = 0, nf = 1 + rng(&s) % 24;
		char *whole, *t, *last;

		for (size_t k = 0; k < nf; k++) {
			const char *fr = frag[rng(&s) % nfrag];
			size_t fl = fr[0] ? strlen(fr) : 1;   /* "\0" is one NUL byte */

			if (len + fl > sizeof(in))
				break;
			memcpy(in + len, fr, fl);
			len += fl;
		}
		whole = transcript(in, len, &lim, 0, 0);
		/* records end in '\n'; the last one is the error or "N" */
		last = strrchr(whole, '\n');
		ndone += last != NULL;
		for (const char *q = whole; (q = strchr(q, '\n')); q++)
			nresp++;
		nerr += *(last ? last + 1 : whole) == 'E';
		for (size_t m = 1; m <= 9; m += 4) {
			t = transcript(in, len, &lim, m, (uint64_t)iter * 7 + m);
			cr_assert_str_eq(t, whole, "iter %d chunk max %zu", iter, m);
			free(t);
		}
		free(whole);
	}
	/* the generator must exercise both outcomes */
	cr_assert_gt(ndone, 200);
	cr_assert_gt(nresp, 300);
	cr_assert_gt(nerr, 200);
}

Test(parse, pending_and_incomplete)
{
	struct imap_parser *p = mk(NULL);
	size_t c;

	g_p = p;
	cr_assert_eq(imap_parser_feed(p, "* 1 FETCH (BODY[] {10}\r\nabc", 27, &c), IMAP_PARSE_NEED_MORE);
	cr_assert_eq(c, 27);
	cr_assert_eq(imap_parser_pending(p), 27);
	cr_assert_null(imap_parser_response(p));
	cr_assert_eq(imap_parser_feed(p, NULL, 0, &c), IMAP_PARSE_NEED_MORE);
	cr_assert_eq(c, 0);
	cr_assert_eq(imap_parser_feed(p, "defghij)\r\nXX", 12, &c), IMAP_PARSE_DONE);
	cr_assert_eq(c, 10);
	cr_assert_eq(imap_parser_response(p)->raw_len, 37);
	cr_assert_eq(imap_parser_pending(p), 37);
	/* an empty feed after DONE starts a new response */
	cr_assert_eq(imap_parser_feed(p, "", 0, NULL), IMAP_PARSE_NEED_MORE);
	cr_assert_null(imap_parser_response(p));
	cr_assert_eq(imap_parser_pending(p), 0);
}

Test(parse, new_response_forgets_old_one)
{
	const struct imap_response *r = P("* 7 FETCH (UID 1 FLAGS (\\Seen))\r\n");
	size_t c;

	cr_assert_eq(r->ntok, 8);
	cr_assert_eq(imap_parser_feed(g_p, "a1 NO x\r\n", 9, &c), IMAP_PARSE_DONE);
	r = imap_parser_response(g_p);
	cr_assert_eq(r->ntok, 0);
	cr_assert_not(r->has_number);
	cr_assert_null(r->name);
	cr_assert_eq(r->status, IMAP_ST_NO);
	cr_assert_eq(imap_parser_feed(g_p, "* SEARCH\r\n", 10, &c), IMAP_PARSE_DONE);
	r = imap_parser_response(g_p);
	cr_assert_null(r->tag);
	cr_assert_null(r->code);
	cr_assert_eq(r->status, IMAP_ST_NONE);
	cr_assert_eq(r->text_len, 0);
}

/* ------------------------------------------------------------ malformed */

struct bad {
	const char *in;
	size_t len;           /* 0: strlen */
	enum imap_parse_error err;
	size_t pos;           /* error position (1-based byte) */
};

Test(parse, syntax_errors)
{
	static const struct bad bad[] = {
		{ "\r\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ "\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ " a1 OK x\r\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ "(a OK\r\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ "\"a\" OK\r\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ "{3}\r\nabc OK\r\n", 0, IMAP_PERR_SYNTAX, 1 },
		{ "*\r\n", 0, IMAP_PERR_SYNTAX, 2 },
		{ "*x\r\n", 0, IMAP_PERR_SYNTAX, 2 },
		{ "* \r\n", 0, IMAP_PERR_SYNTAX, 3 },
		{ "* (a)\r\n", 0, IMAP_PERR_SYNTAX, 3 },
		{ "* {3}\r\nabc\r\n", 0, IMAP_PERR_SYNTAX, 3 },
		{ "* 23\r\n", 0, IMAP_PERR_SYNTAX, 5 },
		{ "* 23 \r\n", 0, IMAP_PERR_SYNTAX, 6 },
		{ "* 23(EXISTS)\r\n", 0, IMAP_PERR_SYNTAX, 5 },
		{ "* 4294967296 EXISTS\r\n", 0, IMAP_PERR_SYNTAX, 13 },
		{ "* OK(x)\r\n", 0, IMAP_PERR_SYNTAX, 5 },
		{ "a1\r\n", 0, IMAP_PERR_SYNTAX, 3 },
		{ "a1 \r\n", 0, IMAP_PERR_SYNTAX, 4 },
		{ "a1 FOO bar\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "a1 PREAUTH x\r\n", 0, IMAP_PERR_SYNTAX, 11 },
		{ "a1 BYE\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "a1 OKAY done\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "a1 OK[ALERT] x\r\n", 0, IMAP_PERR_SYNTAX, 13 },
		{ "a(1 OK\r\n", 0, IMAP_PERR_SYNTAX, 2 },
		{ "a1 OK [ALERT\r\n", 0, IMAP_PERR_SYNTAX, 13 },
		{ "a1 OK [ALERT text\r\n", 0, IMAP_PERR_SYNTAX, 18 },
		{ "a1 OK [X (a] b\r\n", 0, IMAP_PERR_SYNTAX, 15 },
		{ "a1 OK []\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "a1 OK [ ALERT] x\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "a1 OK done\rx\r\n", 0, IMAP_PERR_SYNTAX, 12 },
		{ "+ abc\rd\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "* LIST (a\r\n", 0, IMAP_PERR_SYNTAX, 10 },
		{ "* LIST ((a) b\r\n", 0, IMAP_PERR_SYNTAX, 14 },
		{ "* LIST a)\r\n", 0, IMAP_PERR_SYNTAX, 9 },
		{ "* LIST (a))\r\n", 0, IMAP_PERR_SYNTAX, 11 },
		{ "* X {}\r\n", 0, IMAP_PERR_SYNTAX, 6 },
		{ "* X {abc}\r\n", 0, IMAP_PERR_SYNTAX, 6 },
		{ "* X {+}\r\n", 0, IMAP_PERR_SYNTAX, 6 },
		{ "* X {-1}\r\n", 0, IMAP_PERR_SYNTAX, 6 },
		{ "* X {5x}\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "* X {5}x", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X {5} \r\nabcde\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X {5}\rx", 0, IMAP_PERR_SYNTAX, 9 },
		{ "* X {5+x\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X {5++}\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X {5\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "* X \"ab\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X \"a\nb\"\r\n", 0, IMAP_PERR_SYNTAX, 7 },
		{ "* X \"a\\\r\n", 0, IMAP_PERR_SYNTAX, 8 },
		{ "* X (\"a\" {2}\r\nab\r\n", 0, IMAP_PERR_SYNTAX, 17 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		size_t pos = perr_n(bad[i].in, len, NULL, bad[i].err);

		cr_assert_eq(pos, bad[i].pos, "case %zu: error at byte %zu, want %zu", i, pos,
			     bad[i].pos);
	}
}

Test(parse, nul_outside_literal)
{
	cr_assert_eq(E("\0", IMAP_PERR_NUL), 1);
	cr_assert_eq(E("a1 OK te\0xt\r\n", IMAP_PERR_NUL), 9);
	cr_assert_eq(E("* X \"a\0\"\r\n", IMAP_PERR_NUL), 7);
	cr_assert_eq(E("* X a\0\r\n", IMAP_PERR_NUL), 6);
	cr_assert_eq(E("a1 OK [AL\0ERT] x\r\n", IMAP_PERR_NUL), 10);
	cr_assert_eq(E("+ \0\r\n", IMAP_PERR_NUL), 3);
	/* the NUL inside the literal is fine, the one after it is not */
	cr_assert_eq(E("* X {1}\r\n\0 \0\r\n", IMAP_PERR_NUL), 12);
	cr_assert_eq(E("a1 OK x\r\0", IMAP_PERR_NUL), 9);
}

Test(parse, incomplete_is_need_more)
{
	static const char *const in[] = {
		"* X \"abc", "* X {5}\r\nab", "a1 OK [ALERT", "* X (a (b", "+", "a1 OK x\r",
		"* X {18446744", "*", "a1",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct imap_parser *p = g_tmp = mk(NULL);
		size_t c;

		cr_assert_eq(imap_parser_feed(p, in[i], strlen(in[i]), &c), IMAP_PARSE_NEED_MORE,
			     "%s", in[i]);
		cr_assert_eq(c, strlen(in[i]));
		cr_assert_eq(imap_parser_pending(p), strlen(in[i]));
		cr_assert_null(imap_parser_response(p));
		imap_parser_free(p);
		g_tmp = NULL;
	}
}

Test(parse, errmsg_is_sanitized)
{
	static const char in[] = "a1 \x01\xff|\x1b[2J|OKAYOKAYOKAY x\r\n";
	struct imap_parser *p = mk(NULL);
	size_t c;

	g_p = p;
	cr_assert_str_eq(imap_parser_errmsg(p), "");
	cr_assert_eq(imap_parser_feed(p, in, sizeof(in) - 1, &c), IMAP_PARSE_ERROR);
	cr_assert_eq(imap_parser_error(p), IMAP_PERR_SYNTAX);
	check_errmsg(p);
	cr_assert_null(strstr(imap_parser_errmsg(p), "OKAYOKAYOKAY"), "excerpt not bounded");
	cr_assert_not_null(strstr(imap_parser_errmsg(p), "status"), "%s", imap_parser_errmsg(p));
	/* and via the per-byte path */
	E("* X {5\x7f}\r\n", IMAP_PERR_SYNTAX);
	E("* X {5\x80}\r\n", IMAP_PERR_SYNTAX);
	E("*|\r\n", IMAP_PERR_SYNTAX);
}

/* ------------------------------------------------------------ literal limits */

Test(parse, literal_size_overflow)
{
	static const char *const in[] = {
		"* 1 FETCH (BODY[] {99999999999}\r\n",
		"* 1 FETCH (BODY[] {18446744073709551615}\r\n",
		"* 1 FETCH (BODY[] {184467440737095516150}\r\n",
		"* 1 FETCH (BODY[] {4294967285}\r\n",
		"* 1 FETCH (BODY[] {268435457}\r\n",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t pos = perr_n(in[i], strlen(in[i]), NULL, IMAP_PERR_LIMIT);

		/* reported as soon as the size is too big, before the '}' */
		cr_assert_lt(pos, (size_t)(strchr(in[i], '}') - in[i] + 1), "%s", in[i]);
	}
	/* the largest accepted size is waited for, not refused */
	struct imap_parser *p = mk(NULL);
	size_t c;
	g_p = p;
	cr_assert_eq(imap_parser_feed(p, "* X {268435456}\r\n", 17, &c), IMAP_PARSE_NEED_MORE);
	cr_assert_eq(c, 17);
}

Test(parse, literal_size_u64_limit)
{
	struct imap_limits lim;
	struct imap_parser *p;
	size_t c;

	imap_limits_default(&lim);
	lim.max_literal = UINT64_MAX;
	p = mk(&lim);
	g_p = p;
	cr_assert_eq(imap_parser_feed(p, "* X {18446744073709551615}\r\nab", 30, &c),
		     IMAP_PARSE_NEED_MORE);
	cr_assert_eq(imap_parser_pending(p), 30);
	cr_assert_eq(EL("* X {18446744073709551616}\r\n", &lim, IMAP_PERR_LIMIT), 25);
	cr_assert_eq(EL("* X {184467440737095516150}\r\n", &lim, IMAP_PERR_LIMIT), 26);
	cr_assert_eq(EL("* X {99999999999999999999}\r\n", &lim, IMAP_PERR_LIMIT), 25);
}

Test(parse, literal_custom_max)
{
	struct imap_limits lim;
	char in[160];
	int n;

	imap_limits_default(&lim);
	lim.max_literal = 100;
	n = snprintf(in, sizeof(in), "* X {100}\r\n%0100d\r\n", 0);
	const struct imap_response *r = parse_n(in, (size_t)n, &lim, (size_t)n);
	cr_assert_eq(r->tok[0].full_len, 100);
	cr_assert_eq(EL("* X {101}\r\n", &lim, IMAP_PERR_LIMIT), 8);
	cr_assert_eq(EL("* X {1000}\r\n", &lim, IMAP_PERR_LIMIT), 9);
	cr_assert_eq(EL("* X {0000101}\r\n", &lim, IMAP_PERR_LIMIT), 12);
}

Test(parse, literal_keep_truncates)
{
	struct imap_limits lim;

	imap_limits_default(&lim);
	lim.max_literal_keep = 4;
	const struct imap_response *r =
		PL("* 1 FETCH (BODY[] {10}\r\n0123456789 BODY[1] {4}\r\nabcd X {3}\r\nxyz)\r\n", &lim);
	cr_assert_eq(r->tok[2].type, IMAP_TOK_LITERAL);
	cr_assert_eq(r->tok[2].len, 4);
	cr_assert_eq(r->tok[2].full_len, 10);
	cr_assert_eq(r->tok[2].truncated, 1);
	TOK(r, 2, IMAP_TOK_LITERAL, "0123");
	TOK(r, 4, IMAP_TOK_LITERAL, "abcd");
	cr_assert_eq(r->tok[4].truncated, 0);
	TOK(r, 6, IMAP_TOK_LITERAL, "xyz");
	cr_assert_str_eq(g_dump, "* 1 FETCH ( BODY[] {4/10}\"0123\" BODY[1] {4}\"abcd\" X {3}\"xyz\" )");
}

Test(parse, literal_default_keep)
{
	static const char head[] = "* 1 FETCH (BODY[] {307200}\r\n";
	size_t n = sizeof(head) - 1 + 307200 + 3;
	char *in = malloc(n);
	const struct imap_response *r;

	cr_assert_not_null(in);
	memcpy(in, head, sizeof(head) - 1);
	for (size_t i = 0; i < 307200; i++)
		in[sizeof(head) - 1 + i] = (char)(i * 7 + i / 251);
	memcpy(in + n - 3, ")\r\n", 3);
	r = parse_n(in, n, NULL, n);
	cr_assert_eq(r->tok[2].len, 256 * 1024);
	cr_assert_eq(r->tok[2].full_len, 307200);
	cr_assert(r->tok[2].truncated);
	cr_assert(!memcmp(imap_tok_data(r, &r->tok[2]), in + sizeof(head) - 1, 256 * 1024));
	cr_assert_eq(r->raw_len, n);
	free(in);
}

Test(parse, literal_kept_bytes_bounded_by_arena)
{
	struct imap_limits lim;

	imap_limits_default(&lim);
	lim.max_text = 40;
	/* before the literal the arena holds "FETCH\0" and "BODY[]\0" plus
	 * nothing else: 13 of 40 bytes, so 26 bytes + NUL are kept */
	const struct imap_response *r = PL(
		"* 1 FETCH (BODY[] {100}\r\n"
		"0123456789012345678901234567890123456789012345678901234567890123456789"
		"012345678901234567890123456789)\r\n", &lim);
	cr_assert_eq(r->tok[2].len, 26);
	cr_assert_eq(r->tok[2].full_len, 100);
	cr_assert(r->tok[2].truncated);
	/* text after a literal that filled the arena no longer fits */
	size_t pos = EL("* 1 FETCH (BODY[] {100}\r\n"
			"0123456789012345678901234567890123456789012345678901234567890123456789"
			"012345678901234567890123456789 UID 5)\r\n", &lim, IMAP_PERR_LIMIT);
	cr_assert_eq(pos, 25 + 100 + 2);
}

Test(parse, huge_literal_is_counted_not_stored)
{
	const size_t size = 64u << 20, chunk = 1u << 20;
	struct imap_parser *p = mk(NULL);
	char *buf = calloc(1, chunk);
	const struct imap_response *r;
	char head[64];
	size_t c, hl;

	g_p = p;
	cr_assert_not_null(buf);
	hl = (size_t)snprintf(head, sizeof(head), "* 1 FETCH (BODY[] {%zu}\r\n", size);
	cr_assert_eq(imap_parser_feed(p, head, hl, &c), IMAP_PARSE_NEED_MORE);
	for (size_t done = 0; done < size; done += chunk) {
		cr_assert_eq(imap_parser_feed(p, buf, chunk, &c), IMAP_PARSE_NEED_MORE);
		cr_assert_eq(c, chunk);
	}
	cr_assert_eq(imap_parser_pending(p), hl + size);
	cr_assert_eq(imap_parser_feed(p, " UID 3)\r\n* 2", 12, &c), IMAP_PARSE_DONE);
	cr_assert_eq(c, 9);
	r = imap_parser_response(p);
	cr_assert_eq(r->tok[2].full_len, size);
	cr_assert_eq(r->tok[2].len, 256 * 1024);
	cr_assert_eq(r->raw_len, hl + size + 9);
	TOK(r, 4, IMAP_TOK_ATOM, "3");
	free(buf);
}

/* ------------------------------------------------------------ text limits */

/* Feed prefix then an endless run of `fill` in 64 KiB chunks (up to 32 MiB);
 * return total bytes consumed when the error came. */
static size_t endless(const struct imap_limits *lim, const char *prefix, char fill)
{
	struct imap_parser *p = g_tmp = mk(lim);
	static char chunk[65536];
	size_t total, c;
	int rc;

	memset(chunk, fill, sizeof(chunk));
	rc = imap_parser_feed(p, prefix, strlen(prefix), &c);
	cr_assert_eq(rc, IMAP_PARSE_NEED_MORE);
	total = c;
	while (total < (32u << 20)) {
		rc = imap_parser_feed(p, chunk, sizeof(chunk), &c);
		total += c;
		if (rc != IMAP_PARSE_NEED_MORE)
			break;
	}
	cr_assert_eq(rc, IMAP_PARSE_ERROR, "endless line accepted");
	cr_assert_eq(imap_parser_error(p), IMAP_PERR_LIMIT, "%s", imap_parser_errmsg(p));
	check_errmsg(p);
	imap_parser_free(p);
	g_tmp = NULL;
	return total;
}

Test(parse, endless_lines_fail_at_max_text)
{
	static const struct {
		const char *prefix;
		char fill;
	} cases[] = {
		{ "a1 OK ", 'x' },             /* text */
		{ "* SEARCH", ' ' },           /* only separators: nothing stored */
		{ "* X ", 'a' },               /* atom */
		{ "* X \"", 'q' },             /* quoted string */
		{ "* X BODY[", ' ' },          /* bracketed section */
		{ "a1 OK [X ", 'c' },          /* code argument */
		{ "+ ", 'Q' },                 /* continuation */
		{ "* X {", '0' },              /* literal size digits */
		{ "* X ", '(' },               /* nesting is cut by max_depth first */
		{ "a", 'b' },                  /* tag */
		{ "* ", 'N' },                 /* response name */
	};
	struct imap_limits lim;

	imap_limits_default(&lim);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t total = endless(NULL, cases[i].prefix, cases[i].fill);
		cr_assert_leq(total, lim.max_text + 1, "case %zu: failed only after %zu bytes", i, total);
	}
	/* and with a small limit */
	lim.max_text = 100;
	cr_assert_eq(endless(&lim, "a1 OK ", 'x'), 101);
	cr_assert_eq(endless(&lim, "* SEARCH", ' '), 101);
	cr_assert_eq(endless(&lim, "* X ", 'a'), 101);
}

Test(parse, max_text_boundary)
{
	struct imap_limits lim;

	imap_limits_default(&lim);
	lim.max_text = 20;
	/* 20 bytes including CRLF: fits */
	const struct imap_response *r = PL("a1 OK 123456789012\r\n", &lim);
	cr_assert_str_eq(r->text, "123456789012");
	/* 21: the LF is one byte too many */
	cr_assert_eq(EL("a1 OK 1234567890123\r\n", &lim, IMAP_PERR_LIMIT), 21);
	/* literal data does not count against the line, only what is kept */
	lim.max_literal_keep = 2;
	r = PL("* X {30}\r\n012345678901234567890123456789\r\n", &lim);
	cr_assert_eq(r->tok[0].full_len, 30);
	cr_assert_eq(r->tok[0].len, 2);
}

Test(parse, max_tokens)
{
	struct imap_limits lim;

	imap_limits_default(&lim);
	lim.max_tokens = 4;
	cr_assert_eq(PL("* SEARCH 1 2 3 4\r\n", &lim)->ntok, 4);
	cr_assert_eq(PL("* X (a b)\r\n", &lim)->ntok, 4);
	cr_assert_eq(EL("* SEARCH 1 2 3 4 5\r\n", &lim, IMAP_PERR_LIMIT), 18);
	cr_assert_eq(EL("* X (a b) {1}\r\nz\r\n", &lim, IMAP_PERR_LIMIT), 11);
	cr_assert_eq(EL("* X (a \"b\" c)\r\n", &lim, IMAP_PERR_LIMIT), 13);
	lim.max_tokens = 0;
	cr_assert_eq(PL("* 1 EXISTS\r\n", &lim)->ntok, 0);
	cr_assert_eq(EL("* FLAGS ()\r\n", &lim, IMAP_PERR_LIMIT), 9);
}

Test(parse, max_tokens_default)
{
	const size_t ntok = 65536;
	size_t n = 8 + 2 * (ntok + 1) + 2, c;
	char *in = malloc(n);
	struct imap_parser *p;

	cr_assert_not_null(in);
	memcpy(in, "* SEARCH", 8);
	for (size_t i = 0; i <= ntok; i++)
		memcpy(in + 8 + 2 * i, " 7", 2);
	memcpy(in + n - 2, "\r\n", 2);
	/* 65537 tokens: the last one is refused */
	cr_assert_eq(perr_n(in, n, NULL, IMAP_PERR_LIMIT), n - 2);
	/* 65536 fit */
	memcpy(in + n - 4, "\r\n", 2);
	p = mk(NULL);
	g_p = p;
	cr_assert_eq(imap_parser_feed(p, in, n - 2, &c), IMAP_PARSE_DONE);
	cr_assert_eq(imap_parser_response(p)->ntok, ntok);
	free(in);
}

static char *nest(unsigned n, size_t *len)
{
	char *s = malloc(2 * n + 8);
	size_t o = 0;

	cr_assert_not_null(s);
	memcpy(s, "* X ", 4);
	o = 4;
	for (unsigned i = 0; i < n; i++)
		s[o++] = '(';
	for (unsigned i = 0; i < n; i++)
		s[o++] = ')';
	s[o++] = '\r';
	s[o++] = '\n';
	*len = o;
	return s;
}

Test(parse, max_depth)
{
	struct imap_limits lim;
	size_t len;
	char *s;

	s = nest(32, &len);
	const struct imap_response *r = parse_n(s, len, NULL, len);
	cr_assert_eq(r->ntok, 64);
	cr_assert_eq(r->tok[31].depth, 31);
	free(s);
	s = nest(33, &len);
	cr_assert_eq(perr_n(s, len, NULL, IMAP_PERR_LIMIT), 4 + 33);
	free(s);

	imap_limits_default(&lim);
	lim.max_depth = 2;
	PL("* X ((a) (b)) ()\r\n", &lim);
	cr_assert_eq(EL("* X ((a (b)))\r\n", &lim, IMAP_PERR_LIMIT), 9);
	lim.max_depth = 0;
	cr_assert_eq(PL("* X a b\r\n", &lim)->ntok, 2);
	cr_assert_eq(EL("* X a (b)\r\n", &lim, IMAP_PERR_LIMIT), 7);
}

Test(parse, max_depth_clamped_to_255)
{
	struct imap_limits lim;
	size_t len;
	char *s;

	imap_limits_default(&lim);
	lim.max_depth = 1000;
	s = nest(255, &len);
	const struct imap_response *r = parse_n(s, len, &lim, len);
	cr_assert_eq(r->tok[254].depth, 254);
	cr_assert_eq(r->tok[255].depth, 254);
	free(s);
	s = nest(256, &len);
	cr_assert_eq(perr_n(s, len, &lim, IMAP_PERR_LIMIT), 4 + 256);
	free(s);
}

/* ------------------------------------------------------------ API helpers */

Test(parse, limits_default)
{
	struct imap_limits lim;

	memset(&lim, 0xa5, sizeof(lim));
	imap_limits_default(&lim);
	cr_assert_eq(lim.max_text, 1024 * 1024);
	cr_assert_eq(lim.max_literal, 256ull * 1024 * 1024);
	cr_assert_eq(lim.max_literal_keep, 256 * 1024);
	cr_assert_eq(lim.max_tokens, 65536);
	cr_assert_eq(lim.max_depth, 32);
}

Test(parse, new_rejects_absurd_token_count)
{
	struct imap_limits lim;

	imap_limits_default(&lim);
	lim.max_tokens = SIZE_MAX;
	cr_assert_null(imap_parser_new(&lim));
	lim.max_tokens = SIZE_MAX / sizeof(struct imap_token);
	cr_assert_null(imap_parser_new(&lim));
}

Test(parse, tok_u64)
{
	const struct imap_response *r =
		P("* X 0 42 18446744073709551615 18446744073709551616 4a \"7\" NIL {1}\r\n9 -1 007\r\n");
	uint64_t v;

	cr_assert_eq(imap_tok_u64(r, &r->tok[0], &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(imap_tok_u64(r, &r->tok[1], &v), 0);
	cr_assert_eq(v, 42);
	cr_assert_eq(imap_tok_u64(r, &r->tok[2], &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	v = 5;
	cr_assert_eq(imap_tok_u64(r, &r->tok[3], &v), -1);
	cr_assert_eq(v, 5, "output written on failure");
	cr_assert_eq(imap_tok_u64(r, &r->tok[4], &v), -1);
	cr_assert_eq(imap_tok_u64(r, &r->tok[5], &v), -1);
	cr_assert_eq(imap_tok_u64(r, &r->tok[6], &v), -1);
	cr_assert_eq(imap_tok_u64(r, &r->tok[7], &v), -1);
	cr_assert_eq(imap_tok_u64(r, &r->tok[8], &v), -1);
	cr_assert_eq(imap_tok_u64(r, &r->tok[9], &v), 0);
	cr_assert_eq(v, 7);
}

Test(parse, tok_skip)
{
	const struct imap_response *r = P("* X a (b (c d) e) (f) ((g)) h\r\n");

	/* a ( b ( c d ) e ) ( f ) ( ( g ) ) h */
	/* 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 */
	cr_assert_eq(r->ntok, 18);
	cr_assert_eq(imap_tok_skip(r, 0), 1);
	cr_assert_eq(imap_tok_skip(r, 1), 9);
	cr_assert_eq(imap_tok_skip(r, 3), 7);
	cr_assert_eq(imap_tok_skip(r, 9), 12);
	cr_assert_eq(imap_tok_skip(r, 12), 17);
	cr_assert_eq(imap_tok_skip(r, 13), 16);
	cr_assert_eq(imap_tok_skip(r, 17), 18);
	cr_assert_eq(imap_tok_skip(r, 18), 18);
	cr_assert_eq(imap_tok_skip(r, 1000), 18);
	/* walking the top level visits a, (...), (f), ((g)), h */
	size_t n = 0;
	for (size_t i = 0; i < r->ntok; i = imap_tok_skip(r, i))
		n++;
	cr_assert_eq(n, 5);
}

Test(parse, tok_is)
{
	const struct imap_response *r = P("* X Count count \"COUNT\" NIL COUNTS {5}\r\ncount ()\r\n");

	cr_assert(imap_tok_is(r, &r->tok[0], "COUNT"));
	cr_assert(imap_tok_is(r, &r->tok[1], "CoUnT"));
	cr_assert_not(imap_tok_is(r, &r->tok[2], "COUNT"), "quoted is not an atom");
	cr_assert(imap_tok_is(r, &r->tok[3], "nil"));
	cr_assert_not(imap_tok_is(r, &r->tok[4], "COUNT"));
	cr_assert_not(imap_tok_is(r, &r->tok[0], "COUNTS"));
	cr_assert_not(imap_tok_is(r, &r->tok[5], "count"), "literal is not an atom");
	cr_assert_not(imap_tok_is(r, &r->tok[6], ""));
	cr_assert_not(imap_tok_is(r, &r->tok[6], "("));
}

Test(parse, status_str)
{
	cr_assert_str_eq(imap_status_str(IMAP_ST_OK), "OK");
	cr_assert_str_eq(imap_status_str(IMAP_ST_NO), "NO");
	cr_assert_str_eq(imap_status_str(IMAP_ST_BAD), "BAD");
	cr_assert_str_eq(imap_status_str(IMAP_ST_PREAUTH), "PREAUTH");
	cr_assert_str_eq(imap_status_str(IMAP_ST_BYE), "BYE");
	cr_assert_str_eq(imap_status_str(IMAP_ST_NONE), "?");
}
