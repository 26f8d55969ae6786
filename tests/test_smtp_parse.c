/* test_smtp_parse.c - the pure SMTP layer: the reply parser (fed whole,
 * byte by byte and in every split), its bounds and hostile replies, EHLO
 * capabilities, and the command encoder. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_cmd.h"
#include "smtp/smtp_reply.h"

/* ---------------------------------------------------------------- helpers */

struct run {
	int rc;                /* last feed's result */
	size_t consumed;       /* bytes used up to DONE/ERROR */
	int code;
	char enh[16];
	unsigned nlines;
	char text[4096];
	char fmt[1024];
	int perr;
};

static void collect(struct run *out, struct smtp_parser *p, int rc, size_t consumed)
{
	out->rc = rc;
	out->consumed = consumed;
	out->perr = (int)smtp_parser_error(p);
	const struct smtp_reply *r = smtp_parser_reply(p);
	if (rc == SMTP_PARSE_DONE) {
		cr_assert_not_null(r);
		out->code = r->code;
		snprintf(out->enh, sizeof(out->enh), "%s", r->enh);
		out->nlines = r->nlines;
		cr_assert_eq(strlen(r->text), r->text_len);
		snprintf(out->text, sizeof(out->text), "%s", r->text);
		smtp_reply_format(r, out->fmt, sizeof(out->fmt));
	} else {
		cr_assert_null(r);
	}
}

/* Feed s in chunks of `chunk` bytes (0: all at once) until DONE/ERROR. */
static struct run feed(const char *s, size_t n, size_t chunk, const struct smtp_limits *lim)
{
	struct run out = { 0 };
	struct smtp_parser *p = smtp_parser_new(lim);
	size_t off = 0;
	int rc = SMTP_PARSE_NEED_MORE;

	cr_assert_not_null(p);
	while (off < n) {
		size_t k = chunk && chunk < n - off ? chunk : n - off, used = 0;
		rc = smtp_parser_feed(p, s + off, k, &used);
		cr_assert_leq(used, k);
		off += used;
		if (rc != SMTP_PARSE_NEED_MORE)
			break;
		cr_assert_eq(used, k, "NEED_MORE must consume everything");
	}
	collect(&out, p, rc, off);
	smtp_parser_free(p);
	return out;
}

/* The same result whole, byte by byte and split at every position. */
static struct run feed_all_ways(const char *s, const struct smtp_limits *lim)
{
	size_t n = strlen(s);
	struct run whole = feed(s, n, 0, lim);
	struct run bytes = feed(s, n, 1, lim);

	cr_assert_eq(whole.rc, bytes.rc, "byte by byte: rc %d vs %d for \"%s\"", bytes.rc, whole.rc, s);
	cr_assert_eq(whole.code, bytes.code);
	cr_assert_eq(whole.consumed, bytes.consumed);
	cr_assert_str_eq(whole.text, bytes.text);
	for (size_t split = 1; split < n && n < 600; split++) {
		struct smtp_parser *p = smtp_parser_new(lim);
		size_t u1 = 0, u2 = 0;
		int rc = smtp_parser_feed(p, s, split, &u1);
		if (rc == SMTP_PARSE_NEED_MORE)
			rc = smtp_parser_feed(p, s + split, n - split, &u2);
		struct run r = { 0 };
		collect(&r, p, rc, u1 + u2);
		cr_assert_eq(r.rc, whole.rc, "split at %zu", split);
		cr_assert_eq(r.consumed, whole.consumed, "split at %zu", split);
		cr_assert_str_eq(r.text, whole.text, "split at %zu", split);
		smtp_parser_free(p);
	}
	return whole;
}

/* ---------------------------------------------------------------- replies */

Test(smtp_parse, single_line)
{
	struct run r = feed_all_ways("220 mx.example.org ESMTP ready\r\n", NULL);

	cr_assert_eq(r.rc, SMTP_PARSE_DONE);
	cr_assert_eq(r.code, 220);
	cr_assert_eq(r.nlines, 1);
	cr_assert_str_eq(r.text, "mx.example.org ESMTP ready");
	cr_assert_str_eq(r.enh, "");
	cr_assert_str_eq(r.fmt, "220 mx.example.org ESMTP ready");
}

Test(smtp_parse, need_more_until_the_final_lf)
{
	static const char s[] = "250-first\r\n250 last\r\n";
	struct smtp_parser *p = smtp_parser_new(NULL);

	for (size_t i = 0; i < sizeof(s) - 2; i++) {
		size_t used = 0;
		cr_assert_eq(smtp_parser_feed(p, s + i, 1, &used), SMTP_PARSE_NEED_MORE, "byte %zu", i);
		cr_assert_eq(used, 1);
		cr_assert_null(smtp_parser_reply(p));
		cr_assert_eq(smtp_parser_partial(p), i + 1);
	}
	cr_assert_eq(smtp_parser_feed(p, s + sizeof(s) - 2, 1, NULL), SMTP_PARSE_DONE);
	cr_assert_eq(smtp_parser_partial(p), 0);
	smtp_parser_free(p);
}

Test(smtp_parse, multi_line_joined)
{
	struct run r = feed_all_ways("250-mx.example.org Hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n", NULL);

	cr_assert_eq(r.rc, SMTP_PARSE_DONE);
	cr_assert_eq(r.nlines, 3);
	cr_assert_str_eq(r.text, "mx.example.org Hello\nPIPELINING\n8BITMIME");
	cr_assert_str_eq(r.fmt, "250 mx.example.org Hello PIPELINING 8BITMIME");
}

Test(smtp_parse, stops_after_the_reply)
{
	static const char s[] = "250 ok\r\n354 go ahead\r\n";
	struct smtp_parser *p = smtp_parser_new(NULL);
	size_t used = 0;

	cr_assert_eq(smtp_parser_feed(p, s, strlen(s), &used), SMTP_PARSE_DONE);
	cr_assert_eq(used, 8);
	cr_assert_eq(smtp_parser_reply(p)->code, 250);
	/* the next feed starts a new reply */
	cr_assert_eq(smtp_parser_feed(p, s + used, strlen(s) - used, &used), SMTP_PARSE_DONE);
	cr_assert_eq(smtp_parser_reply(p)->code, 354);
	cr_assert_str_eq(smtp_parser_reply(p)->text, "go ahead");
	smtp_parser_free(p);
}

Test(smtp_parse, bare_code_and_bare_lf)
{
	struct run r = feed_all_ways("250\n", NULL);
	cr_assert_eq(r.rc, SMTP_PARSE_DONE);
	cr_assert_eq(r.code, 250);
	cr_assert_str_eq(r.text, "");
	cr_assert_str_eq(r.fmt, "250");

	r = feed_all_ways("250-a\n250-\r\n250 b\n", NULL);
	cr_assert_eq(r.rc, SMTP_PARSE_DONE);
	cr_assert_str_eq(r.text, "a\n\nb");
}

Test(smtp_parse, enhanced_status_codes)
{
	struct run r = feed_all_ways("550-5.1.1 <nobody@example.org>: Recipient address rejected:\r\n"
				     "550 5.1.1 User unknown in local recipient table\r\n", NULL);

	cr_assert_eq(r.code, 550);
	cr_assert_str_eq(r.enh, "5.1.1");
	cr_assert_str_eq(r.fmt, "550 5.1.1 <nobody@example.org>: Recipient address rejected: "
				"User unknown in local recipient table");

	r = feed_all_ways("250 2.0.0 Ok: queued as 4Q\r\n", NULL);
	cr_assert_str_eq(r.enh, "2.0.0");
	cr_assert_str_eq(r.fmt, "250 2.0.0 Ok: queued as 4Q");

	/* class must match the code; 3xx never has one; shapes checked */
	r = feed_all_ways("250 5.0.0 odd\r\n", NULL);
	cr_assert_str_eq(r.enh, "");
	r = feed_all_ways("334 2.0.0\r\n", NULL);
	cr_assert_str_eq(r.enh, "");
	cr_assert_str_eq(r.text, "2.0.0");
	r = feed_all_ways("550 5.1234.1 x\r\n", NULL);
	cr_assert_str_eq(r.enh, "");
	r = feed_all_ways("550 5.1.1x\r\n", NULL);
	cr_assert_str_eq(r.enh, "");
	r = feed_all_ways("421 4.7.0\r\n", NULL);
	cr_assert_str_eq(r.enh, "4.7.0");
}

Test(smtp_parse, enh_code_helper)
{
	char out[16];

	cr_assert_eq(smtp_enh_code("2.0.0 Ok", 8, out, sizeof(out)), 5);
	cr_assert_str_eq(out, "2.0.0");
	cr_assert_eq(smtp_enh_code("5.123.456", 9, out, sizeof(out)), 9);
	cr_assert_eq(smtp_enh_code("3.0.0 x", 7, out, sizeof(out)), 0);
	cr_assert_eq(smtp_enh_code("5.0", 3, out, sizeof(out)), 0);
	cr_assert_eq(smtp_enh_code("5..0 x", 6, out, sizeof(out)), 0);
	cr_assert_eq(smtp_enh_code("5.0.", 4, out, sizeof(out)), 0);
}

static void expect_error(const char *s, int kind, const char *needle)
{
	struct run r = feed_all_ways(s, NULL);

	cr_assert_eq(r.rc, SMTP_PARSE_ERROR, "\"%s\" should be refused", s);
	cr_assert_eq(r.perr, kind, "\"%s\": error kind %d", s, r.perr);
	if (needle) {
		struct smtp_parser *p = smtp_parser_new(NULL);
		smtp_parser_feed(p, s, strlen(s), NULL);
		cr_assert(strstr(smtp_parser_errmsg(p), needle), "message \"%s\" lacks \"%s\"",
			  smtp_parser_errmsg(p), needle);
		smtp_parser_free(p);
	}
}

Test(smtp_parse, bad_lines)
{
	expect_error("hello\r\n", SMTP_PERR_SYNTAX, "not an SMTP reply line: \"hello\"");
	expect_error("25\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("2500 x\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("250_x\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("150 x\r\n", SMTP_PERR_SYNTAX, NULL);    /* first digit 2-5 */
	expect_error("650 x\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("260 x\r\n", SMTP_PERR_SYNTAX, NULL);    /* second digit 0-5 */
	expect_error("* OK IMAP here\r\n", SMTP_PERR_SYNTAX, NULL);
	expect_error("25a ok\r\n", SMTP_PERR_SYNTAX, NULL);
}

Test(smtp_parse, nul_byte)
{
	static const char s[] = "250 a\0b\r\n";
	struct smtp_parser *p = smtp_parser_new(NULL);
	size_t used;

	cr_assert_eq(smtp_parser_feed(p, s, sizeof(s) - 1, &used), SMTP_PARSE_ERROR);
	cr_assert_eq(used, 6);
	cr_assert_eq(smtp_parser_error(p), SMTP_PERR_SYNTAX);
	/* sticky until reset */
	cr_assert_eq(smtp_parser_feed(p, "250 ok\r\n", 8, &used), SMTP_PARSE_ERROR);
	cr_assert_eq(used, 0);
	smtp_parser_reset(p);
	cr_assert_eq(smtp_parser_feed(p, "250 ok\r\n", 8, &used), SMTP_PARSE_DONE);
	smtp_parser_free(p);
}

Test(smtp_parse, mismatched_codes)
{
	expect_error("250-first\r\n550 second\r\n", SMTP_PERR_SYNTAX, "changed from 250 to 550");
	expect_error("250-first\r\n251-second\r\n251 x\r\n", SMTP_PERR_SYNTAX, NULL);
}

Test(smtp_parse, line_length_bound)
{
	struct smtp_limits lim = { .max_line = 10 };
	char ok[] = "250 abcdef\r\n";      /* exactly 10 bytes before CRLF */
	char ok_lf[] = "250 abcdef\n";
	char bad[] = "250 abcdefg\r\n";

	cr_assert_eq(feed_all_ways(ok, &lim).rc, SMTP_PARSE_DONE);
	cr_assert_eq(feed_all_ways(ok_lf, &lim).rc, SMTP_PARSE_DONE);
	struct run r = feed_all_ways(bad, &lim);
	cr_assert_eq(r.rc, SMTP_PARSE_ERROR);
	cr_assert_eq(r.perr, SMTP_PERR_LIMIT);
	/* refused at the 11th byte, not at the end of the line */
	cr_assert_eq(r.consumed, 11);
	/* a CR inside the line does not buy room */
	r = feed_all_ways("250 abcdef\rX\r\n", &lim);
	cr_assert_eq(r.rc, SMTP_PARSE_ERROR);
	cr_assert_eq(r.perr, SMTP_PERR_LIMIT);
}

Test(smtp_parse, huge_line_default_bound)
{
	size_t n = 100000;
	char *s = malloc(n + 3);

	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', n - 4);
	memcpy(s + n, "\r\n", 3);
	struct run r = feed(s, n + 2, 0, NULL);
	cr_assert_eq(r.rc, SMTP_PARSE_ERROR);
	cr_assert_eq(r.perr, SMTP_PERR_LIMIT);
	cr_assert_eq(r.consumed, SMTP_DEFAULT_MAX_LINE + 1);
	free(s);
}

Test(smtp_parse, line_count_bound)
{
	struct smtp_limits lim = { .max_lines = 3 };

	cr_assert_eq(feed_all_ways("250-a\r\n250-b\r\n250 c\r\n", &lim).rc, SMTP_PARSE_DONE);
	struct run r = feed_all_ways("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", &lim);
	cr_assert_eq(r.rc, SMTP_PARSE_ERROR);
	cr_assert_eq(r.perr, SMTP_PERR_LIMIT);
}

Test(smtp_parse, endless_continuations)
{
	struct smtp_parser *p = smtp_parser_new(NULL);
	int rc = SMTP_PARSE_NEED_MORE;
	unsigned lines = 0;

	while (rc == SMTP_PARSE_NEED_MORE && lines < 100000) {
		rc = smtp_parser_feed(p, "250-XFLOOD\r\n", 12, NULL);
		lines++;
	}
	cr_assert_eq(rc, SMTP_PARSE_ERROR);
	cr_assert_eq(smtp_parser_error(p), SMTP_PERR_LIMIT);
	cr_assert_eq(lines, SMTP_DEFAULT_MAX_LINES + 1);
	smtp_parser_free(p);
}

Test(smtp_parse, text_bound)
{
	struct smtp_limits lim = { .max_text = 8 };

	/* "abc" + '\n' + "defg" = 8 */
	cr_assert_eq(feed_all_ways("250-abc\r\n250 defg\r\n", &lim).rc, SMTP_PARSE_DONE);
	struct run r = feed_all_ways("250-abc\r\n250 defgh\r\n", &lim);
	cr_assert_eq(r.rc, SMTP_PARSE_ERROR);
	cr_assert_eq(r.perr, SMTP_PERR_LIMIT);
}

Test(smtp_parse, hostile_text_is_sanitized)
{
	struct run r = feed_all_ways("550 evil\x1b[31m red | pipe\tTAB \xff\r\n", NULL);

	cr_assert_eq(r.rc, SMTP_PARSE_DONE);
	cr_assert_null(strchr(r.fmt, '\x1b'));
	cr_assert_null(strchr(r.fmt, '|'));
	cr_assert_null(strchr(r.fmt, '\t'));
	cr_assert(strstr(r.fmt, "evil?[31m red ? pipe TAB ?"), "%s", r.fmt);
}

Test(smtp_parse, reply_lines)
{
	struct smtp_parser *p = smtp_parser_new(NULL);
	const char *s;
	size_t n;

	smtp_parser_feed(p, "250-one\r\n250-\r\n250 three\r\n", 26, NULL);
	const struct smtp_reply *r = smtp_parser_reply(p);
	cr_assert_not_null(r);
	cr_assert_eq(smtp_reply_line(r, 0, &s, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(s, "one", 3), 0);
	cr_assert_eq(smtp_reply_line(r, 1, &s, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(smtp_reply_line(r, 2, &s, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(smtp_reply_line(r, 3, &s, &n), -1);
	smtp_parser_free(p);
}

/* ---------------------------------------------------------------- EHLO */

static void caps_of(struct smtp_caps *caps, const char *reply)
{
	struct smtp_parser *p = smtp_parser_new(NULL);

	cr_assert_eq(smtp_parser_feed(p, reply, strlen(reply), NULL), SMTP_PARSE_DONE);
	smtp_caps_parse(caps, smtp_parser_reply(p));
	smtp_parser_free(p);
}

Test(smtp_caps, postfix_submission)
{
	struct smtp_caps c;

	caps_of(&c, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
		    "250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN scram-sha-256\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n");
	cr_assert(c.known);
	cr_assert_str_eq(c.domain, "mx.example.org");
	cr_assert_eq(c.flags, SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_STARTTLS | SMTP_CAP_AUTH |
			      SMTP_CAP_ENHANCEDSTATUSCODES | SMTP_CAP_8BITMIME | SMTP_CAP_DSN |
			      SMTP_CAP_SMTPUTF8 | SMTP_CAP_CHUNKING);
	cr_assert_eq(c.size, 10240000);
	cr_assert_str_eq(c.auth, " PLAIN LOGIN SCRAM-SHA-256 ");
	cr_assert(smtp_caps_has_auth(&c, "plain"));
	cr_assert(smtp_caps_has_auth(&c, "SCRAM-SHA-256"));
	cr_assert_not(smtp_caps_has_auth(&c, "SCRAM-SHA"));
	cr_assert_not(smtp_caps_has_auth(&c, "CRAM-MD5"));
	cr_assert_not(smtp_caps_has_auth(&c, ""));
	cr_assert(strstr(c.raw, "PIPELINING SIZE 10240000"), "%s", c.raw);
}

Test(smtp_caps, old_auth_form_and_oddities)
{
	struct smtp_caps c;

	caps_of(&c, "250-host says hi\r\n250-AUTH=LOGIN PLAIN\r\n250-starttls\r\n250-SIZE\r\n"
		    "250-STARTTLS please\r\n250 X-\xff\x1b\r\n");
	cr_assert(c.flags & SMTP_CAP_AUTH);
	cr_assert_str_eq(c.auth, " LOGIN PLAIN ");
	cr_assert(c.flags & SMTP_CAP_STARTTLS);   /* case-insensitive */
	cr_assert(c.flags & SMTP_CAP_SIZE);
	cr_assert_eq(c.size, 0);
	cr_assert_str_eq(c.domain, "host");
	cr_assert_null(strchr(c.raw, '\x1b'));

	/* STARTTLS only as a keyword of its own */
	caps_of(&c, "250-x\r\n250-XSTARTTLS\r\n250 STARTTLSX\r\n");
	cr_assert_not(c.flags & SMTP_CAP_STARTTLS);
	/* the greeting line is no capability; a bare "250 name" has none */
	caps_of(&c, "250 STARTTLS\r\n");
	cr_assert_not(c.flags & SMTP_CAP_STARTTLS);
	cr_assert(c.known);
	/* SIZE with garbage: announced, no number */
	caps_of(&c, "250-x\r\n250 SIZE 12abc\r\n");
	cr_assert_eq(c.size, 0);
	caps_of(&c, "250-x\r\n250 SIZE 99999999999999999999999999\r\n");
	cr_assert_eq(c.size, 0);
}

Test(smtp_caps, auth_list_bounded)
{
	struct smtp_caps c;
	char reply[4096];
	struct sbuf sb;

	sb_init(&sb, reply, sizeof(reply));
	sb_puts(&sb, "250-x\r\n250 AUTH");
	for (int i = 0; i < 200; i++)
		sb_printf(&sb, " MECH-%03d", i);
	sb_puts(&sb, "\r\n");
	caps_of(&c, reply);
	cr_assert_lt(strlen(c.auth), sizeof(c.auth));
	cr_assert(smtp_caps_has_auth(&c, "MECH-000"));
	cr_assert_not(smtp_caps_has_auth(&c, "MECH-199"));
}

/* ---------------------------------------------------------------- encoder */

static char encbuf[1 << 16];

#define ENC(call, expect_rc, expect)                                                        \
	do {                                                                                \
		struct sbuf sb_;                                                            \
		sb_init(&sb_, encbuf, sizeof(encbuf));                                     \
		int rc_ = (call);                                                           \
		cr_assert_eq(rc_, (expect_rc), "%s: rc %d", #call, rc_);                    \
		if ((expect_rc) == SMTP_ENC_OK)                                             \
			cr_assert_str_eq(sb_.data, (expect), "%s", #call);                  \
	} while (0)

Test(smtp_cmd, simple_commands)
{
	ENC(smtp_enc_ehlo(&sb_, "probe.example.org"), SMTP_ENC_OK, "EHLO probe.example.org\r\n");
	ENC(smtp_enc_ehlo(&sb_, "[127.0.0.1]"), SMTP_ENC_OK, "EHLO [127.0.0.1]\r\n");
	ENC(smtp_enc_starttls(&sb_), SMTP_ENC_OK, "STARTTLS\r\n");
	ENC(smtp_enc_data(&sb_), SMTP_ENC_OK, "DATA\r\n");
	ENC(smtp_enc_quit(&sb_), SMTP_ENC_OK, "QUIT\r\n");
	ENC(smtp_enc_rset(&sb_), SMTP_ENC_OK, "RSET\r\n");
	ENC(smtp_enc_auth_cancel(&sb_), SMTP_ENC_OK, "*\r\n");
}

Test(smtp_cmd, ehlo_refuses_injection)
{
	ENC(smtp_enc_ehlo(&sb_, ""), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_ehlo(&sb_, NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_ehlo(&sb_, "a\r\nMAIL FROM:<x>"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_ehlo(&sb_, "a b"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_ehlo(&sb_, "h\xc3\xa9"), SMTP_ENC_BAD_ARG, "");
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ENC(smtp_enc_ehlo(&sb_, longname), SMTP_ENC_TOO_LONG, "");
}

Test(smtp_cmd, auth_initial_response)
{
	static const unsigned char plain[] = "\0user\0secret";
	size_t off = 0;
	struct sbuf sb;

	sb_init(&sb, encbuf, sizeof(encbuf));
	cr_assert_eq(smtp_enc_auth(&sb, "PLAIN", plain, sizeof(plain) - 1, 1, &off), SMTP_ENC_OK);
	cr_assert_str_eq(sb.data, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
	cr_assert_eq(off, strlen("AUTH PLAIN "));

	/* empty initial response: "=" (RFC 4954 4) */
	sb_init(&sb, encbuf, sizeof(encbuf));
	cr_assert_eq(smtp_enc_auth(&sb, "EXTERNAL", (const unsigned char *)"", 0, 1, &off), SMTP_ENC_OK);
	cr_assert_str_eq(sb.data, "AUTH EXTERNAL =\r\n");
	/* none */
	sb_init(&sb, encbuf, sizeof(encbuf));
	cr_assert_eq(smtp_enc_auth(&sb, "login", NULL, 0, 0, &off), SMTP_ENC_OK);
	cr_assert_str_eq(sb.data, "AUTH login\r\n");
	cr_assert_eq(off, strlen("AUTH login"));

	ENC(smtp_enc_auth(&sb_, "PLAIN X", NULL, 0, 0, NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_auth(&sb_, "PL\r\nAIN", NULL, 0, 0, NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_auth(&sb_, "", NULL, 0, 0, NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_auth(&sb_, "ABCDEFGHIJKLMNOPQRSTU", NULL, 0, 0, NULL), SMTP_ENC_BAD_ARG, "");
}

Test(smtp_cmd, auth_responses)
{
	ENC(smtp_enc_auth_response(&sb_, (const unsigned char *)"user", 4), SMTP_ENC_OK, "dXNlcg==\r\n");
	ENC(smtp_enc_auth_response(&sb_, NULL, 0), SMTP_ENC_OK, "\r\n");
	/* over the AUTH line bound */
	static unsigned char big[SMTP_MAX_AUTH_LINE];
	ENC(smtp_enc_auth_response(&sb_, big, sizeof(big)), SMTP_ENC_TOO_LONG, "");
	/* into a buffer that is too small: refused, never overflowed */
	char small[8];
	struct sbuf s2;
	sb_init(&s2, small, sizeof(small));
	cr_assert_eq(smtp_enc_auth_response(&s2, (const unsigned char *)"abcdefgh", 8), SMTP_ENC_TOO_LONG);
	cr_assert_lt(strlen(small), sizeof(small));
}

Test(smtp_cmd, auth_response_grows_an_owned_buffer)
{
	struct sbuf sb;
	unsigned char raw[3000];

	memset(raw, 0xab, sizeof(raw));
	cr_assert_eq(sb_init_alloc(&sb, 8192), 0);
	cr_assert_eq(smtp_enc_auth_response(&sb, raw, sizeof(raw)), SMTP_ENC_OK);
	cr_assert_eq(sb.len, 4000 + 2);
	cr_assert_eq(memcmp(sb.data + sb.len - 2, "\r\n", 2), 0);
	sb_free(&sb);
}

Test(smtp_cmd, addresses)
{
	ENC(smtp_enc_mail_from(&sb_, "probe@example.org", NULL), SMTP_ENC_OK, "MAIL FROM:<probe@example.org>\r\n");
	ENC(smtp_enc_mail_from(&sb_, "", NULL), SMTP_ENC_OK, "MAIL FROM:<>\r\n");
	ENC(smtp_enc_mail_from(&sb_, "a@b", "BODY=8BITMIME SIZE=100"), SMTP_ENC_OK,
	    "MAIL FROM:<a@b> BODY=8BITMIME SIZE=100\r\n");
	ENC(smtp_enc_rcpt_to(&sb_, "user@example.org"), SMTP_ENC_OK, "RCPT TO:<user@example.org>\r\n");
	ENC(smtp_enc_rcpt_to(&sb_, "Postmaster"), SMTP_ENC_OK, "RCPT TO:<Postmaster>\r\n");

	ENC(smtp_enc_rcpt_to(&sb_, ""), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_rcpt_to(&sb_, NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_rcpt_to(&sb_, "a@b>\r\nRCPT TO:<c@d"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_rcpt_to(&sb_, "a@b\n"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_rcpt_to(&sb_, "<a@b>"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_rcpt_to(&sb_, "a b@c"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_mail_from(&sb_, "a>@b", NULL), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_mail_from(&sb_, "a@b", "X=1\r\nRCPT TO:<x>"), SMTP_ENC_BAD_ARG, "");
	ENC(smtp_enc_mail_from(&sb_, "\xc3\xa9@b", NULL), SMTP_ENC_BAD_ARG, "");
	char longaddr[300];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	ENC(smtp_enc_rcpt_to(&sb_, longaddr), SMTP_ENC_TOO_LONG, "");
	cr_assert_eq(smtp_addr_check("ok@example.org", 0), SMTP_ENC_OK);
}

Test(smtp_cmd, message_dot_stuffing_and_crlf)
{
	ENC(smtp_enc_message(&sb_, "a\r\nb\r\n", 6), SMTP_ENC_OK, "a\r\nb\r\n.\r\n");
	/* lone LF, lone CR, missing final line end */
	ENC(smtp_enc_message(&sb_, "a\nb\rc", 5), SMTP_ENC_OK, "a\r\nb\r\nc\r\n.\r\n");
	/* dots at line starts doubled, elsewhere not */
	ENC(smtp_enc_message(&sb_, ".\n..x\na.b\n.", 11), SMTP_ENC_OK, "..\r\n...x\r\na.b\r\n..\r\n.\r\n");
	/* a message that would end the DATA early */
	ENC(smtp_enc_message(&sb_, "x\r\n.\r\nMAIL FROM:<evil>\r\n", 24), SMTP_ENC_OK,
	    "x\r\n..\r\nMAIL FROM:<evil>\r\n.\r\n");
	ENC(smtp_enc_message(&sb_, "", 0), SMTP_ENC_OK, ".\r\n");
	ENC(smtp_enc_message(&sb_, "\r\n\r\n", 4), SMTP_ENC_OK, "\r\n\r\n.\r\n");
	ENC(smtp_enc_message(&sb_, "\n\r", 2), SMTP_ENC_OK, "\r\n\r\n.\r\n");
	ENC(smtp_enc_message(&sb_, "a\0b", 3), SMTP_ENC_BAD_ARG, "");
	/* 8-bit passes through unchanged */
	ENC(smtp_enc_message(&sb_, "\xc3\xa9", 2), SMTP_ENC_OK, "\xc3\xa9\r\n.\r\n");
	/* too big for the buffer */
	char small[8];
	struct sbuf s2;
	sb_init(&s2, small, sizeof(small));
	cr_assert_eq(smtp_enc_message(&s2, "0123456789", 10), SMTP_ENC_TOO_LONG);
}

Test(smtp_cmd, strerror)
{
	cr_assert_str_eq(smtp_enc_strerror(SMTP_ENC_OK), "ok");
	cr_assert(strstr(smtp_enc_strerror(SMTP_ENC_BAD_ARG), "character"));
	cr_assert(strstr(smtp_enc_strerror(SMTP_ENC_TOO_LONG), "long"));
	cr_assert(strstr(smtp_enc_strerror(99), "unknown"));
}

/* ---------------------------------------------------------------- the probe message */

#include "smtp/smtp_msg.h"

Test(smtp_msg, dates)
{
	time_t t;

	cr_assert_eq(smtp_date_parse("Sun, 6 Dec 2026 00:28:00 +0000 (UTC)", 36, &t), 0);
	cr_assert_eq(t, 1796516880);
	cr_assert_eq(smtp_date_parse("Sun, 06 Dec 2026 01:28:00 +0100", 31, &t), 0);
	cr_assert_eq(t, 1796516880);
	cr_assert_eq(smtp_date_parse(" 5 Dec 2026 19:28 -0500", 23, &t), 0);
	cr_assert_eq(t, 1796516880);
	cr_assert_eq(smtp_date_parse("6 dec 26 00:28:00 GMT", 21, &t), 0);
	cr_assert_eq(t, 1796516880);
	cr_assert_eq(smtp_date_parse("Sat, 5 Dec 2026 16:28:00 PST", 28, &t), 0);
	cr_assert_eq(t, 1796516880);
	cr_assert_eq(smtp_date_parse("Thu, 1 Jan 1970 00:00:00 +0000", 30, &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(smtp_date_parse("Tue, 29 Feb 2028 12:00:00 +0000", 31, &t), 0);
	cr_assert_eq(t, 1835438400);

	static const char *const bad[] = {
		"", "Sun 6 Dec 2026 00:28:00 +0000", "6 Dek 2026 00:28:00 +0000", "6 Dec 2026 24:00:00 +0000",
		"6 Dec 2026 00:28:00 +00", "6 Dec 2026 00:28:00 XYZ", "6 Dec 2026 00:28:00 +0000 trailing",
		"32 Dec 2026 00:28:00 +0000", "6 Dec 2026 0:2:00 +0000", "6 Dec 20266 00:28:00 +0000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(smtp_date_parse(bad[i], strlen(bad[i]), &t), -1, "\"%s\" accepted", bad[i]);

	char buf[40];
	smtp_date_format(1796516880, buf, sizeof(buf));
	cr_assert_str_eq(buf, "Sun, 06 Dec 2026 00:28:00 +0000");
	cr_assert_eq(smtp_date_parse(buf, strlen(buf), &t), 0);
	cr_assert_eq(t, 1796516880);
}

Test(smtp_msg, token_and_message)
{
	unsigned char rnd[12] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8 };
	char tok[SMTP_TOKEN_MAX];
	char mem[2048];
	struct sbuf sb;

	smtp_probe_token(tok, sizeof(tok), rnd, sizeof(rnd), 1796516880);
	cr_assert_str_eq(tok, "cis-tpllao-deadbeef0102030405060708");
	struct smtp_probe_msg m = { .from = "probe@example.org", .to = "user@example.org", .token = tok,
				    .date = 1796516880, .sent_ms = 1796516880123LL };
	sb_init(&sb, mem, sizeof(mem));
	cr_assert_eq(smtp_probe_msg_build(&sb, &m), 0);
	cr_assert(strstr(sb.data, "From: <probe@example.org>\nTo: <user@example.org>\n"), "%s", sb.data);
	cr_assert(strstr(sb.data, "\nDate: Sun, 06 Dec 2026 00:28:00 +0000\n"), "%s", sb.data);
	cr_assert(strstr(sb.data, "\nMessage-ID: <cis-tpllao-deadbeef0102030405060708@example.org>\n"), "%s", sb.data);
	cr_assert(strstr(sb.data, "\nX-Check-Imap-Session: probe (delivery) cis-tpllao-deadbeef0102030405060708; "
			  "sent=1796516880123\n"),
		  "%s", sb.data);
	cr_assert(strstr(sb.data, "\n\nThis message"), "a body after an empty line");

	/* the header round-trips */
	const char *h = strstr(sb.data, SMTP_PROBE_HEADER ": ") + strlen(SMTP_PROBE_HEADER) + 2;
	size_t hl = strcspn(h, "\n");
	char back[SMTP_TOKEN_MAX];
	int64_t ms = 0;
	cr_assert_eq(smtp_probe_header_parse(h, hl, back, sizeof(back), &ms), 0);
	cr_assert_str_eq(back, tok);
	cr_assert_eq(ms, 1796516880123LL);

	/* nothing unsafe goes into headers */
	struct smtp_probe_msg bad = m;
	bad.token = "short";
	cr_assert_eq(smtp_probe_msg_build(&sb, &bad), -1);
	bad = m;
	bad.token = "cis-abc\r\nBcc: x@y";
	cr_assert_eq(smtp_probe_msg_build(&sb, &bad), -1);
	bad = m;
	bad.to = "a@b\nBcc: evil@x";
	cr_assert_eq(smtp_probe_msg_build(&sb, &bad), -1);
	bad = m;
	bad.from = "";
	cr_assert_eq(smtp_probe_msg_build(&sb, &bad), -1);
}

Test(smtp_msg, probe_header_parse)
{
	char tok[SMTP_TOKEN_MAX];
	int64_t ms;

	cr_assert_eq(smtp_probe_header_parse(" cis-abcdefgh ;  sent=12 ", 25, tok, sizeof(tok), &ms), 0);
	cr_assert_str_eq(tok, "cis-abcdefgh");
	cr_assert_eq(ms, 12);
	static const char *const bad[] = { "", "cis-abcdefgh", "cis-abcdefgh; sent=", "cis-abcdefgh; sent=x",
					   "cis-abcdefgh; sent=1 x", "ci$-abcdefgh; sent=1", "cis-abcdefgh sent=1",
					   "cis-abcdefgh; sent=12345678901234567890" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(smtp_probe_header_parse(bad[i], strlen(bad[i]), tok, sizeof(tok), &ms), -1,
			     "\"%s\" accepted", bad[i]);
	cr_assert_eq(smtp_probe_header_parse("cis-abcdefgh; sent=1", 20, tok, 8, &ms), -1, "token room");
}

/* What Dovecot's LMTP and Postfix write, newest first, one folded. */
static const char received_hdrs[] =
	"Return-Path: <probe@example.org>\r\n"
	"Delivered-To: user@example.org\r\n"
	"Received: from mx.cis.test ([127.0.0.1])\r\n"
	"\tby imap.cis.test with LMTP\r\n"
	"\tid hWaiGBCsFGtPVQAAg+zDdQ\r\n"
	"\t(envelope-from <probe@example.org>)\r\n"
	"\tfor <user@example.org>; Sun, 06 Dec 2026 00:28:02 +0000\r\n"
	"Received: from probe.test (localhost [127.0.0.1])\r\n"
	"\tby mx.cis.test (Postfix) with ESMTPSA id 4EF59A750F4\r\n"
	"\tfor <user@example.org>; Sun,  6 Dec 2026 01:28:01 +0100 (CET)\r\n"
	"Received: by laptop (clock behind); Sun, 6 Dec 2026 00:27:58 +0000\r\n"
	"Received: garbage without a date\r\n"
	"Subject: x\r\n"
	"\r\n"
	"Received: in the body is no header\r\n";

Test(smtp_msg, received_path)
{
	struct smtp_path p;
	char mem[2048];
	struct sbuf sb;

	smtp_path_parse(received_hdrs, sizeof(received_hdrs) - 1, &p);
	cr_assert_eq(p.nhops, 4);
	cr_assert_eq(p.hop[0].has_time, 0);
	cr_assert_str_eq(p.hop[1].by, "laptop");
	cr_assert_str_eq(p.hop[2].from, "probe.test");
	cr_assert_str_eq(p.hop[2].by, "mx.cis.test");
	cr_assert_str_eq(p.hop[2].with, "ESMTPSA");
	cr_assert_eq(p.hop[2].time, 1796516881);
	cr_assert_str_eq(p.hop[3].with, "LMTP");
	cr_assert_eq(p.hop[3].time, 1796516882);

	sb_init(&sb, mem, sizeof(mem));
	smtp_path_format(&p, 1796516880, &sb);
	cr_assert(strstr(sb.data, "hop 1: no time stamp\n"), "%s", sb.data);
	cr_assert(strstr(sb.data, "hop 2: by laptop at 00:27:58 UTC\n"), "%s", sb.data);
	cr_assert(strstr(sb.data, "hop 3: from probe.test by mx.cis.test with ESMTPSA at 00:28:01 UTC, +3s\n"),
		  "%s", sb.data);
	cr_assert(strstr(sb.data, "hop 4: from mx.cis.test by imap.cis.test with LMTP at 00:28:02 UTC, +1s"),
		  "%s", sb.data);

	/* skew: a hop stamped before the send */
	smtp_path_parse(received_hdrs, sizeof(received_hdrs) - 1, &p);
	p.hop[1].has_time = 1;
	sb_init(&sb, mem, sizeof(mem));
	struct smtp_path q = { .nhops = 1 };
	q.hop[0] = p.hop[1];
	smtp_path_format(&q, 1796516880, &sb);
	cr_assert(strstr(sb.data, "clock skew: -2s"), "%s", sb.data);
}

Test(smtp_msg, received_bounded)
{
	struct sbuf sb;
	struct smtp_path p;

	cr_assert_eq(sb_init_alloc(&sb, 1 << 20), 0);
	for (int i = 0; i < 40; i++)
		sb_printf(&sb, "Received: by hop%d; Sun, 6 Dec 2026 00:28:%02d +0000\n", i, 59 - i);
	sb_puts(&sb, "Received: ");
	for (int i = 0; i < 5000; i++)
		sb_puts(&sb, "by x ");
	sb_puts(&sb, "\n\n");
	smtp_path_parse(sb.data, sb.len, &p);
	cr_assert_eq(p.nhops, SMTP_MAX_HOPS);
	cr_assert_eq(p.dropped, 41 - SMTP_MAX_HOPS);
	sb_free(&sb);
	/* empty and header-less input */
	smtp_path_parse("", 0, &p);
	cr_assert_eq(p.nhops, 0);
	smtp_path_parse("\r\nReceived: x; Sun, 6 Dec 2026 00:28:00 +0000\r\n", 46, &p);
	cr_assert_eq(p.nhops, 0);
}
