/* test_mailbox_unit.c - the pure parts of the mailbox checks: RFC 2047
 * decoding and header fields (mime.c), INTERNALDATE and age arithmetic,
 * UID sets, NAMESPACE/LIST/QUOTA/SEARCH/ESEARCH data (mailbox_util.c, fed
 * through the real response parser), and the --script language
 * (script.c: parser and command builder). */
#include "config.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap_conn.h"
#include "imap/imap_parse.h"
#include "imap/mailbox_util.h"
#include "imap/mime.h"
#include "session/script.h"

/* ================================================================ helpers */

/* Parse one complete server line (CRLF added) and keep the parser alive
 * for the response's lifetime. */
static struct imap_parser *g_parser;

static const struct imap_response *parse_line(const char *line)
{
	char buf[4096];
	size_t used = 0;

	if (!g_parser)
		g_parser = imap_parser_new(NULL);
	cr_assert_not_null(g_parser);
	imap_parser_reset(g_parser);
	snprintf(buf, sizeof(buf), "%s\r\n", line);
	int rc = imap_parser_feed(g_parser, buf, strlen(buf), &used);
	cr_assert_eq(rc, IMAP_PARSE_DONE, "line did not parse: %s", line);
	return imap_parser_response(g_parser);
}

static void decode(const char *in, char *out, size_t outsz)
{
	mime_decode_words(in, strlen(in), out, outsz);
}

/* ================================================================ RFC 2047 */

Test(rfc2047, utf8_base64_as_seeded)
{
	char out[256];
	decode("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", out, sizeof(out));
	cr_assert_str_eq(out, "Grüße aus Köln");
}

Test(rfc2047, q_encoding_underscore_and_hex)
{
	char out[256];
	decode("=?utf-8?q?Carol_M=C3=BCller?= <carol@example.de>", out, sizeof(out));
	cr_assert_str_eq(out, "Carol Müller <carol@example.de>");
}

Test(rfc2047, latin1_and_latin9)
{
	char out[256];
	decode("=?ISO-8859-1?Q?Gr=FC=DFe?=", out, sizeof(out));
	cr_assert_str_eq(out, "Grüße");
	decode("=?iso-8859-15?q?5_=A4?=", out, sizeof(out));
	cr_assert_str_eq(out, "5 €");
	decode("=?ISO-8859-1?Q?5_=A4?=", out, sizeof(out));
	cr_assert_str_eq(out, "5 ¤");
}

Test(rfc2047, ascii_and_language_suffix)
{
	char out[256];
	decode("=?US-ASCII?Q?plain_text?=", out, sizeof(out));
	cr_assert_str_eq(out, "plain text");
	decode("=?UTF-8*de?B?R3LDvMOfZQ==?=", out, sizeof(out));
	cr_assert_str_eq(out, "Grüße");
}

Test(rfc2047, blanks_between_encoded_words_vanish)
{
	char out[256];
	decode("=?UTF-8?Q?a?= =?UTF-8?Q?b?=\t =?UTF-8?Q?c?=", out, sizeof(out));
	cr_assert_str_eq(out, "abc");
	/* but not between an encoded word and plain text */
	decode("=?UTF-8?Q?a?= b =?UTF-8?Q?c?= d", out, sizeof(out));
	cr_assert_str_eq(out, "a b c d");
}

Test(rfc2047, unknown_charset_and_malformed_words_stay)
{
	char out[256];
	decode("=?KOI8-R?B?8NLJ18XU?=", out, sizeof(out));
	cr_assert_str_eq(out, "=?KOI8-R?B?8NLJ18XU?=");
	decode("=?UTF-8?B?not*base64?=", out, sizeof(out));
	cr_assert_str_eq(out, "=?UTF-8?B?not*base64?=");
	decode("=?UTF-8?Q?bad=ZZhex?=", out, sizeof(out));
	cr_assert_str_eq(out, "=?UTF-8?Q?bad=ZZhex?=");
	decode("=?UTF-8?X?abc?=", out, sizeof(out));
	cr_assert_str_eq(out, "=?UTF-8?X?abc?=");
	decode("=?UTF-8?Q?unterminated", out, sizeof(out));
	cr_assert_str_eq(out, "=?UTF-8?Q?unterminated");
	decode("a =? b ?= c", out, sizeof(out));
	cr_assert_str_eq(out, "a =? b ?= c");
}

Test(rfc2047, base64_without_padding_is_accepted)
{
	char out[64];
	decode("=?UTF-8?B?R3LDvMOfZQ?=", out, sizeof(out));
	cr_assert_str_eq(out, "Grüße");
}

Test(rfc2047, output_is_bounded)
{
	char out[8];
	memset(out, 'X', sizeof(out));
	size_t n = mime_decode_words("=?UTF-8?Q?abcdefghijklmnop?=", 28, out, sizeof(out));
	cr_assert_eq(n, 7);
	cr_assert_str_eq(out, "abcdefg");
	char none[1] = { 'Z' };
	mime_decode_words("abc", 3, none, 0);
	cr_assert_eq(none[0], 'Z', "a zero-sized buffer must not be written");
}

Test(rfc2047, display_is_sanitized)
{
	/* decoded control characters, '|' and an escape sequence must not
	 * reach a status line */
	const char hdr[] = "Subject: =?UTF-8?Q?a=0D=0Ab|c=1B[31mred?=\r\n\r\n";
	char out[128];
	cr_assert(mime_header_display(hdr, sizeof(hdr) - 1, "Subject", out, sizeof(out)));
	cr_assert_null(strchr(out, '|'));
	cr_assert_null(strchr(out, '\x1b'));
	cr_assert_null(strchr(out, '\r'));
	cr_assert_null(strchr(out, '\n'));
	cr_assert_str_eq(out, "a b?c?[31mred");
}

Test(rfc2047, invalid_utf8_from_a_lying_charset_is_replaced)
{
	const char hdr[] = "Subject: =?UTF-8?B?/w==?=x\r\n";
	char out[64];
	mime_header_display(hdr, sizeof(hdr) - 1, "Subject", out, sizeof(out));
	cr_assert_str_eq(out, "?x");
}

/* ================================================================ header fields */

Test(header, unfolds_and_matches_case_insensitively)
{
	const char hdr[] = "From: a@example.org\r\n"
			   "X-Subject: not this one\r\n"
			   "subject : first part\r\n"
			   "\tsecond part\r\n"
			   " third\r\n"
			   "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
			   "\r\n"
			   "Subject: in the body\r\n";
	char out[128];
	cr_assert(mime_header_field(hdr, sizeof(hdr) - 1, "Subject", out, sizeof(out)));
	cr_assert_str_eq(out, "first part\tsecond part third");
	cr_assert(mime_header_field(hdr, sizeof(hdr) - 1, "DATE", out, sizeof(out)));
	cr_assert_str_eq(out, "Mon, 1 Jan 2024 00:00:00 +0000");
	cr_assert_not(mime_header_field(hdr, sizeof(hdr) - 1, "To", out, sizeof(out)));
	cr_assert_str_eq(out, "");
}

Test(header, stops_at_the_end_of_the_header)
{
	const char hdr[] = "From: a\n\nSubject: body text\n";
	char out[64];
	cr_assert_not(mime_header_field(hdr, sizeof(hdr) - 1, "Subject", out, sizeof(out)));
}

Test(header, bare_lf_and_no_final_newline)
{
	const char hdr[] = "Subject: lf only\nMessage-ID: <x@y>";
	char out[64];
	cr_assert(mime_header_field(hdr, sizeof(hdr) - 1, "Message-ID", out, sizeof(out)));
	cr_assert_str_eq(out, "<x@y>");
	cr_assert(mime_header_field(hdr, sizeof(hdr) - 1, "subject", out, sizeof(out)));
	cr_assert_str_eq(out, "lf only");
}

/* ================================================================ MIME structure */

static const char multipart_msg[] =
	"From: Bob <bob@example.org>\r\n"
	"Subject: Quarterly report (multipart)\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed;\r\n"
	" boundary=\"=-cis-boundary-42\"\r\n"
	"\r\n"
	"This is a multi-part message in MIME format.\r\n"
	"\r\n"
	"--=-cis-boundary-42\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"The report is attached.\r\n"
	"--=-cis-boundary-42\r\n"
	"Content-Type: text/csv; name=\"report.csv\"\r\n"
	"\r\n"
	"--=-cis-boundary-42 is not a delimiter when more follows? it is, if blank\r\n"
	"quarter,revenue\r\n"
	"--=-cis-boundary-42--\r\n"
	"epilogue\r\n"
	"--=-cis-boundary-42\r\n";

Test(mime, content_type_and_parts)
{
	char ct[256], type[64], boundary[128];
	cr_assert(mime_header_field(multipart_msg, sizeof(multipart_msg) - 1, "Content-Type", ct, sizeof(ct)));
	cr_assert(mime_content_type(ct, type, sizeof(type), boundary, sizeof(boundary)));
	cr_assert_str_eq(type, "multipart/mixed");
	cr_assert_str_eq(boundary, "=-cis-boundary-42");
	/* two delimiter lines before the closing one; the line with text after
	 * the boundary is no delimiter, the one after the close is ignored */
	cr_assert_eq(mime_count_parts(multipart_msg, sizeof(multipart_msg) - 1, boundary), 2);
	cr_assert_eq(mime_count_parts(multipart_msg, sizeof(multipart_msg) - 1, "other"), -1);
}

Test(mime, content_type_variants)
{
	char type[64], boundary[64];
	cr_assert(mime_content_type("Text/Plain; charset=us-ascii", type, sizeof(type), boundary, sizeof(boundary)));
	cr_assert_str_eq(type, "text/plain");
	cr_assert_str_eq(boundary, "");
	cr_assert(mime_content_type("multipart/alternative; charset=x; BOUNDARY=abc123", type, sizeof(type), boundary,
				    sizeof(boundary)));
	cr_assert_str_eq(boundary, "abc123");
	cr_assert(mime_content_type("multipart/related; boundary=\"a\\\"b\"", type, sizeof(type), boundary,
				    sizeof(boundary)));
	cr_assert_str_eq(boundary, "a\"b");
	cr_assert_not(mime_content_type("garbage", type, sizeof(type), boundary, sizeof(boundary)));
	cr_assert_str_eq(type, "");
}

/* ================================================================ dates and ages */

Test(datetime, internaldate)
{
	time_t t;
	cr_assert_eq(mbx_parse_datetime("04-Jan-2024 12:00:00 +0000", 26, &t), 0);
	cr_assert_eq(t, 1704369600);
	cr_assert_eq(mbx_parse_datetime("17-Jul-1996 02:44:25 -0700", 26, &t), 0);
	cr_assert_eq(t, 837596665);  /* 09:44:25 UTC */
	cr_assert_eq(mbx_parse_datetime(" 4-jan-2024 13:30:00 +0130", 26, &t), 0);
	cr_assert_eq(t, 1704369600);
	cr_assert_eq(mbx_parse_datetime("4-JAN-2024 12:00:00 +0000", 25, &t), 0);
	cr_assert_eq(t, 1704369600);
	cr_assert_eq(mbx_parse_datetime("29-Feb-2024 00:00:00 +0000", 26, &t), 0);
}

Test(datetime, malformed_is_rejected)
{
	static const char *const bad[] = {
		"", "04-Foo-2024 12:00:00 +0000", "32-Jan-2024 12:00:00 +0000", "31-Apr-2024 12:00:00 +0000",
		"04-Jan-2024 24:00:00 +0000", "04-Jan-2024 12:60:00 +0000", "04-Jan-2024 12:00:00 0000",
		"04-Jan-2024 12:00:00 +0060", "04-Jan-2024 12:00:00 +0000x", "04-Jan-24 12:00:00 +0000",
		"04-Jan-2024 12:00 +0000", "04 Jan 2024 12:00:00 +0000", "04-Jan-2024 12:00:00 +1500",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t = 42;
		cr_assert_eq(mbx_parse_datetime(bad[i], strlen(bad[i]), &t), -1, "accepted \"%s\"", bad[i]);
		cr_assert_eq(t, 42);
	}
}

Test(datetime, age_never_negative)
{
	cr_assert_float_eq(mbx_age(1000, 940), 60.0, 1e-9);
	cr_assert_float_eq(mbx_age(1000, 2000), 0.0, 1e-9);
	char s[24];
	mbx_format_age(59, s, sizeof(s));
	cr_assert_str_eq(s, "59s");
	mbx_format_age(600, s, sizeof(s));
	cr_assert_str_eq(s, "10m");
	mbx_format_age(3 * 3600 + 1800, s, sizeof(s));
	cr_assert_str_eq(s, "3.5h");
	mbx_format_age(10 * 86400, s, sizeof(s));
	cr_assert_str_eq(s, "10.0d");
}

/* ================================================================ UID sets */

Test(uidset, parse_and_count)
{
	uint64_t c, lo, hi;
	cr_assert_eq(mbx_seqset_parse("4:5", 3, &c, &lo, &hi), 0);
	cr_assert_eq(c, 2);
	cr_assert_eq(lo, 4);
	cr_assert_eq(hi, 5);
	cr_assert_eq(mbx_seqset_parse("9,12:10,1", 9, &c, &lo, &hi), 0);
	cr_assert_eq(c, 5);
	cr_assert_eq(lo, 1);
	cr_assert_eq(hi, 12);
	cr_assert_eq(mbx_seqset_parse("4294967295", 10, &c, &lo, &hi), 0);
	cr_assert_eq(hi, 4294967295u);
}

Test(uidset, server_sets_are_validated_before_reuse)
{
	static const char *const bad[] = {
		"", "*", "1:*", "0", "1,,2", "1,", ",1", "1 2", "1:2:3", "01", "4294967296", "1\r\nA1 DELETE INBOX",
		"12345678901",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t c, lo, hi;
		cr_assert_eq(mbx_seqset_parse(bad[i], strlen(bad[i]), &c, &lo, &hi), -1, "accepted \"%s\"", bad[i]);
	}
}

Test(uidset, builder_compresses_and_overflows)
{
	struct mbx_uidset *u = malloc(sizeof(*u));
	mbx_uidset_init(u);
	uint64_t in[] = { 1, 2, 3, 7, 9, 10, 4 };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		mbx_uidset_add(u, in[i]);
	mbx_uidset_finish(u);
	cr_assert_str_eq(u->text, "1:3,7,9:10,4");
	cr_assert_not(u->overflow);

	mbx_uidset_init(u);
	for (uint64_t k = 1; k < 20000; k += 2)
		mbx_uidset_add(u, k);
	mbx_uidset_finish(u);
	cr_assert(u->overflow, "an 8 KiB set cannot hold 10000 separate UIDs");
	cr_assert_lt(u->len, (size_t)MBX_SET_MAX);
	free(u);
}

/* ================================================================ SEARCH / ESEARCH */

Test(search, plain_search)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	mbx_search_init(sr, "a4");
	mbx_parse_search(parse_line("* SEARCH 4 5 9 (MODSEQ 917162500)"), sr);
	mbx_search_finish(sr);
	cr_assert(sr->done);
	cr_assert_not(sr->esearch);
	cr_assert_eq(sr->count, 3);
	cr_assert_eq(sr->min, 4);
	cr_assert_eq(sr->max, 9);
	cr_assert_str_eq(sr->set.text, "4:5,9");

	mbx_search_init(sr, NULL);
	mbx_parse_search(parse_line("* SEARCH"), sr);
	mbx_search_finish(sr);
	cr_assert_eq(sr->count, 0);
	cr_assert_not(sr->have_minmax);
	free(sr);
}

Test(search, esearch_with_count_min_max_all)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	mbx_search_init(sr, "a5");
	cr_assert_eq(mbx_parse_esearch(parse_line("* ESEARCH (TAG \"a5\") UID MIN 4 MAX 5 ALL 4:5 COUNT 2"), sr), 0);
	mbx_search_finish(sr);
	cr_assert(sr->esearch);
	cr_assert_eq(sr->count, 2);
	cr_assert_eq(sr->min, 4);
	cr_assert_eq(sr->max, 5);
	cr_assert_str_eq(sr->set.text, "4:5");
	free(sr);
}

Test(search, esearch_of_another_command_is_ignored)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	mbx_search_init(sr, "a5");
	const struct imap_response *r = parse_line("* ESEARCH (TAG \"a6\") UID COUNT 7");
	cr_assert(mbx_esearch_tagged(r));
	cr_assert_eq(mbx_parse_esearch(r, sr), -1);
	cr_assert_not(sr->done);
	free(sr);
}

Test(search, imap4rev2_all_only_and_empty)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	/* a plain UID SEARCH answered by an IMAP4rev2 server */
	mbx_search_init(sr, "a3");
	mbx_parse_esearch(parse_line("* ESEARCH (TAG \"a3\") UID ALL 2,7:9"), sr);
	mbx_search_finish(sr);
	cr_assert_eq(sr->count, 4);
	cr_assert_eq(sr->min, 2);
	cr_assert_eq(sr->max, 9);
	/* nothing matched: no result items at all */
	mbx_search_init(sr, "a3");
	mbx_parse_esearch(parse_line("* ESEARCH (TAG \"a3\") UID"), sr);
	mbx_search_finish(sr);
	cr_assert(sr->done);
	cr_assert_eq(sr->count, 0);
	cr_assert_not(sr->have_minmax);
	free(sr);
}

Test(search, esearch_min_alone)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	mbx_search_init(sr, "a5");
	mbx_parse_esearch(parse_line("* ESEARCH (TAG \"a5\") UID MIN 6"), sr);
	mbx_search_finish(sr);
	cr_assert_eq(sr->count, 1, "MIN alone means at least one match");
	cr_assert(sr->have_minmax);
	cr_assert_eq(sr->min, 6);
	cr_assert_eq(sr->max, 6);
	free(sr);
}

Test(search, malformed_all_set_is_flagged_not_used)
{
	struct mbx_search *sr = malloc(sizeof(*sr));
	mbx_search_init(sr, NULL);
	mbx_parse_esearch(parse_line("* ESEARCH UID COUNT 2 ALL 1:*"), sr);
	mbx_search_finish(sr);
	cr_assert(sr->bad);
	cr_assert_not(sr->have_set);
	cr_assert_eq(sr->count, 2);
	free(sr);
}

/* ================================================================ NAMESPACE */

Test(namespace, dovecot_default)
{
	struct mbx_namespace ns;
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"\" \"/\")) NIL NIL"), &ns), 0);
	cr_assert(ns.have_personal);
	cr_assert_str_eq(ns.prefix, "");
	cr_assert_eq(ns.delim, '/');
	cr_assert_str_eq(ns.desc, "personal \"\" (/), other users none, shared none");
	char out[64];
	cr_assert_eq(mbx_ns_resolve(&ns, "Sent", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "Sent");
}

Test(namespace, inbox_prefix_resolution)
{
	struct mbx_namespace ns;
	char out[64];
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"INBOX.\" \".\")) "
						     "((\"#users.\" \".\")) ((\"#shared.\" \".\" \"X-EXT\" (\"a\")))"),
				     &ns), 0);
	cr_assert_str_eq(ns.prefix, "INBOX.");
	cr_assert_eq(ns.nothers, 2);
	cr_assert_eq(mbx_ns_resolve(&ns, "Sent", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "INBOX.Sent");
	cr_assert_eq(mbx_ns_resolve(&ns, "INBOX.Sent", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "INBOX.Sent");
	cr_assert_eq(mbx_ns_resolve(&ns, "inbox", out, sizeof(out)), 0);
	cr_assert_eq(mbx_ns_resolve(&ns, "Inbox.Drafts", out, sizeof(out)), 0);
	cr_assert_eq(mbx_ns_resolve(&ns, "#shared.team", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "#shared.team");
	cr_assert_eq(mbx_ns_resolve(&ns, "Entwürfe", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "INBOX.Entwürfe");
	cr_assert_eq(mbx_ns_resolve(&ns, "Sent", out, 5), -1);
}

Test(namespace, modified_utf7_prefix_and_literal)
{
	struct mbx_namespace ns;
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"Entw&APw-rfe/\" \"/\")) NIL NIL"), &ns), 0);
	cr_assert_str_eq(ns.prefix, "Entwürfe/");
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"\" NIL)) NIL NIL"), &ns), 0);
	cr_assert_eq(ns.delim, 0);
}

Test(namespace, malformed)
{
	struct mbx_namespace ns;
	memset(&ns, 0x5a, sizeof(ns));
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"\" \"/\"))"), &ns), -1);
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE FOO NIL NIL"), &ns), -1);
	cr_assert_eq(mbx_parse_namespace(parse_line("* NAMESPACE ((\"\" \"//\")) NIL NIL"), &ns), -1);
	cr_assert_eq(ns.have, 0x5a5a5a5a, "a failed parse leaves the struct alone");
}

/* ================================================================ LIST */

Test(list, special_use_and_names)
{
	struct mbx_list_entry e;
	cr_assert_eq(mbx_parse_list(parse_line("* LIST (\\HasNoChildren \\Sent) \"/\" Sent"), &e), 0);
	cr_assert_str_eq(e.name, "Sent");
	cr_assert_eq(e.delim, '/');
	cr_assert(e.attrs & MBX_ATTR_SENT);
	cr_assert_str_eq(mbx_special_name(5), "Sent");
	cr_assert_eq(MBX_SPECIAL_FIRST << 5, MBX_ATTR_SENT);

	cr_assert_eq(mbx_parse_list(parse_line("* LIST (\\HasNoChildren) \"/\" \"Folder With Space\""), &e), 0);
	cr_assert_str_eq(e.name, "Folder With Space");
	cr_assert_eq(mbx_parse_list(parse_line("* LIST () \"/\" Entw&APw-rfe"), &e), 0);
	cr_assert_str_eq(e.name, "Entwürfe");
	cr_assert(e.decoded);
	cr_assert_eq(mbx_parse_list(parse_line("* LIST (\\Noselect \\NonExistent) NIL \"a \\\"q\\\"\""), &e), 0);
	cr_assert_str_eq(e.name, "a \"q\"");
	cr_assert_eq(e.delim, 0);
	cr_assert(e.attrs & MBX_ATTR_NONEXISTENT);
	cr_assert(e.attrs & MBX_ATTR_NOSELECT);
	/* not modified UTF-7: kept raw */
	cr_assert_eq(mbx_parse_list(parse_line("* LIST () \".\" \"bad&name\""), &e), 0);
	cr_assert_not(e.decoded);
	cr_assert_str_eq(e.name, "bad&name");
	cr_assert_eq(mbx_parse_list(parse_line("* LIST \"/\" INBOX"), &e), -1);
}

/* ================================================================ QUOTA */

Test(quota, dovecot_storage_and_messages)
{
	struct mbx_quota q;
	mbx_quota_init(&q);
	mbx_parse_quotaroot(parse_line("* QUOTAROOT INBOX \"User quota\""), &q);
	mbx_parse_quota(parse_line("* QUOTA \"User quota\" (STORAGE 4 1024 MESSAGE 10 20)"), &q);
	cr_assert(q.have_root);
	cr_assert_eq(q.nroots, 1);
	cr_assert(q.have_storage);
	cr_assert(q.have_messages);
	cr_assert_float_eq(q.storage_pct, 0.390625, 1e-9);
	cr_assert_float_eq(q.messages_pct, 50.0, 1e-9);
	cr_assert_eq(q.messages_used, 10);
	cr_assert_eq(q.messages_limit, 20);
	cr_assert_str_eq(q.detail, "\"User quota\": STORAGE 4/1024 KiB MESSAGE 10/20");
}

Test(quota, worst_root_wins_and_odd_resources)
{
	struct mbx_quota q;
	mbx_quota_init(&q);
	mbx_parse_quotaroot(parse_line("* QUOTAROOT \"Folder With Space\" \"\" domain"), &q);
	cr_assert_eq(q.nroots, 2);
	mbx_parse_quota(parse_line("* QUOTA \"\" (STORAGE 100 1000)"), &q);
	mbx_parse_quota(parse_line("* QUOTA domain (STORAGE 900 1000 MAILBOX 3 10)"), &q);
	cr_assert_float_eq(q.storage_pct, 90.0, 1e-9);
	cr_assert_eq(q.storage_used, 900);
	cr_assert_not(q.have_messages);
	cr_assert_not_null(strstr(q.detail, "MAILBOX 3/10"));
	cr_assert_float_eq(mbx_quota_percent(5, 0), 100.0, 1e-9);
}

Test(quota, no_root_means_no_limit)
{
	struct mbx_quota q;
	mbx_quota_init(&q);
	mbx_parse_quotaroot(parse_line("* QUOTAROOT INBOX"), &q);
	cr_assert(q.have_root);
	cr_assert_eq(q.nroots, 0);
	cr_assert_not(q.have_storage || q.have_messages);
	/* garbage does not count */
	mbx_parse_quota(parse_line("* QUOTA \"x\" (STORAGE many 10)"), &q);
	cr_assert_not(q.have_storage);
}

/* ================================================================ scripts: parser */

static struct script *parse_ok(const char *text)
{
	char err[512] = "";
	struct script *scr = script_parse(text, strlen(text), "t.script", err, sizeof(err));
	cr_assert_not_null(scr, "parse failed: %s", err);
	return scr;
}

static void parse_fails(const char *text, const char *want)
{
	char err[512] = "";
	struct script *scr = script_parse(text, strlen(text), "t.script", err, sizeof(err));
	cr_assert_null(scr, "parsed but should fail with \"%s\"", want);
	cr_assert_not_null(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
}

Test(script, walkthrough_names_expect_comments)
{
	struct script *scr = parse_ok("\xef\xbb\xbf# the IMAP 101 walk-through\r\n"
				      "\n"
				      "   # indented comment\n"
				      "ns: NAMESPACE\r\n"
				      "LIST \"\" \"*\"\n"
				      "\tSELECT \"INBOX\"   \n"
				      "FETCH 1:4 (BODY.PEEK[HEADER.FIELDS (Subject)])\n"
				      "uid fetch 4 RFC822\n"
				      "SELECT INBOX\n"
				      "gone: expect NO,BAD SELECT \"No Such Folder\"\n"
				      "expect bad FOO");
	cr_assert_eq(scr->ncmds, 8);
	cr_assert_str_eq(scr->cmd[0].name, "ns");
	cr_assert_eq(scr->cmd[0].line, 4);
	cr_assert_str_eq(scr->cmd[0].verb, "NAMESPACE");
	cr_assert_eq(scr->cmd[0].expect, SCRIPT_EXPECT_OK);
	cr_assert_str_eq(scr->cmd[1].name, "script_list");
	cr_assert_str_eq(scr->cmd[2].name, "script_select");
	cr_assert_str_eq(scr->cmd[3].name, "script_fetch");
	cr_assert_str_eq(scr->cmd[4].name, "script_uid_fetch");
	cr_assert_str_eq(scr->cmd[4].verb, "UID FETCH");
	cr_assert_str_eq(scr->cmd[5].name, "script_select_2");
	cr_assert_str_eq(scr->cmd[6].name, "gone");
	cr_assert_eq(scr->cmd[6].expect, SCRIPT_EXPECT_NO | SCRIPT_EXPECT_BAD);
	cr_assert_eq(scr->cmd[6].line, 10);
	cr_assert_eq(scr->cmd[7].expect, SCRIPT_EXPECT_BAD);
	cr_assert_str_eq(scr->cmd[7].name, "script_foo");
	script_free(scr);
}

Test(script, malformed_scripts_name_the_line)
{
	parse_fails("NOOP\nSELECT \"INBOX\n", "t.script line 2: unterminated quoted string");
	parse_fails("APPEND INBOX {5}\n", "line 1: a literal ({n}) cannot be written");
	parse_fails("APPEND INBOX {5+}\n", "literal");
	parse_fails("NOOP\n\nLOGOUT\n", "line 3: LOGOUT is not allowed");
	parse_fails("login user pass\n", "LOGIN is not allowed");
	parse_fails("AUTHENTICATE PLAIN\n", "AUTHENTICATE is not allowed");
	parse_fails("STARTTLS\n", "STARTTLS is not allowed");
	parse_fails("IDLE\n", "IDLE is not allowed");
	parse_fails("fetch: NOOP\n", "step name \"fetch\" is reserved");
	parse_fails("messages: NOOP\n", "reserved");
	parse_fails("a: NOOP\na: NOOP\n", "line 2: step name \"a\" is used twice");
	parse_fails("1abc: NOOP\n", "bad step name");
	parse_fails("expect MAYBE NOOP\n", "expect needs OK, NO, BAD");
	parse_fails("expect NO, NOOP\n", "expect needs");
	parse_fails("SELECT \"a\\qb\"\n", "unknown escape \\q");
	parse_fails("SELECT \x01\n", "control character 0x01");
	parse_fails("SELECT Entwürfe\n", "8-bit character outside a quoted string");
	parse_fails("FETCH 1 (FLAGS\n", "unbalanced parentheses");
	parse_fails("FETCH 1 FLAGS)\n", "unbalanced parentheses");
	parse_fails("NOOP\rNOOP\n", "carriage return inside the line");
	parse_fails("# nothing\n\n", "t.script: no commands");
	parse_fails("ok:\n", "no IMAP command");
	parse_fails("UID\n", "UID must be followed by a command");
	parse_fails("(FETCH)\n", "must start with an IMAP command name");
	parse_fails("SELECT m\"bad\xff\"\n", "not valid UTF-8");
}

Test(script, limits)
{
	size_t n = SCRIPT_MAX_COMMANDS + 1;
	char *text = malloc(n * 6 + 1);
	text[0] = '\0';
	for (size_t i = 0; i < n; i++)
		strcat(text, "NOOP\n");
	char err[256];
	cr_assert_null(script_parse(text, strlen(text), "t", err, sizeof(err)));
	cr_assert_not_null(strstr(err, "more than"), "%s", err);
	/* exactly the maximum is fine */
	text[(n - 1) * 5] = '\0';
	struct script *scr = script_parse(text, strlen(text), "t", err, sizeof(err));
	cr_assert_not_null(scr, "%s", err);
	cr_assert_eq(scr->ncmds, SCRIPT_MAX_COMMANDS);
	script_free(scr);
	free(text);

	char *line = malloc(SCRIPT_MAX_LINE + 16);
	memset(line, 'A', SCRIPT_MAX_LINE + 8);
	memcpy(line, "NOOP ", 5);
	line[SCRIPT_MAX_LINE + 8] = '\0';
	cr_assert_null(script_parse(line, strlen(line), "t", err, sizeof(err)));
	cr_assert_not_null(strstr(err, "longer than"), "%s", err);
	free(line);

	char *big = calloc(1, SCRIPT_MAX_BYTES + 2);
	memset(big, '#', SCRIPT_MAX_BYTES + 1);
	cr_assert_null(script_parse(big, SCRIPT_MAX_BYTES + 1, "t", err, sizeof(err)));
	cr_assert_not_null(strstr(err, "larger than"), "%s", err);
	free(big);
}

Test(script, nul_byte_is_refused)
{
	const char text[] = "NOOP\nSELECT a\0b\n";
	char err[256];
	cr_assert_null(script_parse(text, sizeof(text) - 1, "t", err, sizeof(err)));
	cr_assert_not_null(strstr(err, "line 2: control character 0x00"), "%s", err);
}

/* ================================================================ scripts: commands */

static void build(const char *line, struct imap_cmd *cmd)
{
	struct script *scr = parse_ok(line);
	script_build(scr, &scr->cmd[0], NULL, cmd);
	script_free(scr);
}

Test(script_build, spacing_and_quoting_survive)
{
	struct imap_cmd cmd;
	build("ID (\"name\" \"check \\\"imap\\\" \\\\ session\")", &cmd);
	cr_assert_eq(cmd.bad, 0);
	cr_assert_str_eq(cmd.sb.data, "ID (\"name\" \"check \\\"imap\\\" \\\\ session\")");
	cr_assert_str_eq(cmd.name, "ID");
	cr_assert_eq(cmd.nsync, 0);
	imap_cmd_free(&cmd);

	build("x: FETCH 1:4 (BODY.PEEK[HEADER.FIELDS (Subject)])", &cmd);
	cr_assert_str_eq(cmd.sb.data, "FETCH 1:4 (BODY.PEEK[HEADER.FIELDS (Subject)])");
	imap_cmd_free(&cmd);

	build("LIST \"\"\t\"*\"", &cmd);
	cr_assert_str_eq(cmd.sb.data, "LIST \"\" \"*\"", "a tab outside quotes becomes a space");
	imap_cmd_free(&cmd);
}

Test(script_build, mailbox_names_in_modified_utf7)
{
	struct imap_cmd cmd;
	build("SELECT m\"Entwürfe\"", &cmd);
	cr_assert_str_eq(cmd.sb.data, "SELECT \"Entw&APw-rfe\"");
	imap_cmd_free(&cmd);
	build("STATUS m\"Folder With Space\" (MESSAGES)", &cmd);
	cr_assert_str_eq(cmd.sb.data, "STATUS \"Folder With Space\" (MESSAGES)");
	imap_cmd_free(&cmd);
	/* "m" inside a word is just a letter */
	build("SEARCH FROM tom\"x\"", &cmd);
	cr_assert_str_eq(cmd.sb.data, "SEARCH FROM tom\"x\"");
	imap_cmd_free(&cmd);
}

Test(script_build, crlf_in_a_string_becomes_a_literal_never_a_new_command)
{
	struct imap_cmd cmd;
	build("APPEND INBOX (\\Seen) \"Subject: x\\r\\n\\r\\nbody\\r\\nA2 DELETE INBOX\\r\\n\"", &cmd);
	cr_assert_eq(cmd.bad, 0);
	const char *want_head = "APPEND INBOX (\\Seen) {37}\r\n";
	cr_assert_eq(strncmp(cmd.sb.data, want_head, strlen(want_head)), 0, "got: %s", cmd.sb.data);
	cr_assert_eq(cmd.nsync, 1, "without LITERAL+ the literal synchronizes");
	cr_assert_eq(cmd.sync_at[0], strlen(want_head));
	cr_assert_eq(cmd.sb.len, strlen(want_head) + 37);
	/* the only CRLF outside the literal data is the literal header's */
	cr_assert_eq(memcmp(cmd.sb.data + strlen(want_head), "Subject: x\r\n\r\nbody\r\nA2 DELETE INBOX\r\n", 37), 0);
	imap_cmd_free(&cmd);
}

Test(script_build, eight_bit_strings_are_literals_unless_utf8_enabled)
{
	struct script *scr = parse_ok("SEARCH CHARSET UTF-8 SUBJECT \"Grüße\"");
	struct imap_cmd cmd;
	script_build(scr, &scr->cmd[0], NULL, &cmd);
	cr_assert_str_eq(cmd.sb.data, "SEARCH CHARSET UTF-8 SUBJECT {7}\r\nGrüße");
	cr_assert_eq(cmd.nsync, 1);
	imap_cmd_free(&cmd);

	/* LITERAL+ offered: a non-synchronizing literal */
	imap_cmd_init(&cmd, NULL, "X");
	cmd.nonsync_ok = 1;
	script_append_parts(scr, scr->cmd[0].first_part, scr->cmd[0].nparts, &cmd);
	cr_assert_str_eq(cmd.sb.data, "X SEARCH CHARSET UTF-8 SUBJECT {7+}\r\nGrüße");
	cr_assert_eq(cmd.nsync, 0);
	imap_cmd_free(&cmd);

	/* LITERAL-: non-synchronizing up to 4096 bytes */
	imap_cmd_init(&cmd, NULL, "X");
	cmd.nonsync_small = 1;
	script_append_parts(scr, scr->cmd[0].first_part, scr->cmd[0].nparts, &cmd);
	cr_assert_not_null(strstr(cmd.sb.data, "{7+}"));
	imap_cmd_free(&cmd);

	/* UTF-8 enabled on the connection: valid UTF-8 may be quoted */
	imap_cmd_init(&cmd, NULL, "X");
	cmd.utf8_ok = 1;
	script_append_parts(scr, scr->cmd[0].first_part, scr->cmd[0].nparts, &cmd);
	cr_assert_str_eq(cmd.sb.data, "X SEARCH CHARSET UTF-8 SUBJECT \"Grüße\"");
	imap_cmd_free(&cmd);
	script_free(scr);
}

Test(script_build, search_criteria_parts)
{
	struct script *scr = script_new();
	size_t first, n;
	int eight = 0;
	char err[256];
	cr_assert_eq(script_parse_args(scr, "SUBJECT \"Köln\" UNSEEN", 22, &first, &n, &eight, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert(eight);
	struct imap_cmd cmd;
	imap_cmd_init(&cmd, NULL, "UID SEARCH");
	imap_cmd_add_text(&cmd, "CHARSET UTF-8");
	script_append_parts(scr, first, n, &cmd);
	cr_assert_eq(cmd.bad, 0);
	cr_assert_str_eq(cmd.sb.data, "UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\nKöln UNSEEN");
	imap_cmd_free(&cmd);

	eight = 1;
	cr_assert_eq(script_parse_args(scr, "UNSEEN", 6, &first, &n, &eight, err, sizeof(err)), 0);
	cr_assert_not(eight);
	cr_assert_eq(script_parse_args(scr, "SUBJECT \"x", 10, &first, &n, &eight, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "unterminated"));
	cr_assert_eq(script_parse_args(scr, "TEXT {3}", 8, &first, &n, &eight, err, sizeof(err)), -1);
	script_free(scr);
}

Test(script_build, reserved_names)
{
	cr_assert(script_name_reserved("examine"));
	cr_assert(script_name_reserved("PUSH"));
	cr_assert(script_name_reserved("append_fetch"));
	cr_assert(script_name_reserved("quota_storage"));
	cr_assert(script_name_reserved("script_select"));
	cr_assert_not(script_name_reserved("subjects"));
	cr_assert_not(script_name_reserved("inbox"));
}

/* ================================================================ capability cache (capcache.c) */

#include "session/capcache.h"

static const char *const CC_KEY = "imap.example.org 993 tls probe@example.org";

Test(capcache, format_and_parse_round_trip)
{
	struct capcache_entry e = { .before = "IMAP4rev1 SASL-IR AUTH=PLAIN", .after = "IMAP4rev1 ESEARCH SEARCHRES" };
	struct capcache_entry back;
	char mem[CAPCACHE_MAX_FILE];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof(mem));
	capcache_format(&sb, CC_KEY, &e);
	cr_assert_str_eq(sb.data, "# check_imap_session capability cache 1\n"
				  "key: imap.example.org 993 tls probe@example.org\n"
				  "before: IMAP4rev1 SASL-IR AUTH=PLAIN\n"
				  "after: IMAP4rev1 ESEARCH SEARCHRES\n");
	cr_assert_eq(capcache_parse(sb.data, sb.len, CC_KEY, &back), 1);
	cr_assert_str_eq(back.before, e.before);
	cr_assert_str_eq(back.after, e.after);
	/* an empty list is a valid one (the server listed nothing after login) */
	static const char empty[] = "# check_imap_session capability cache 1\nkey: k\nbefore: A\nafter: \n";
	cr_assert_eq(capcache_parse(empty, sizeof(empty) - 1, "k", &back), 1);
	cr_assert_str_eq(back.after, "");
}

Test(capcache, anything_but_an_entry_for_this_key_is_refused)
{
	struct capcache_entry e;
	static const char *const bad[] = {
		"",
		"garbage\n",
		"# check_imap_session capability cache 2\nkey: k\nbefore: A\nafter: B\n",    /* other version */
		"# check_imap_session capability cache 1\nkey: other\nbefore: A\nafter: B\n", /* other key */
		"# check_imap_session capability cache 1\nkey: k\nafter: B\n",               /* no before */
		"# check_imap_session capability cache 1\nkey: k\nbefore: A\n",              /* no after */
		"# check_imap_session capability cache 1\nbefore: A\nafter: B\n",            /* no key */
		"# check_imap_session capability cache 1\nkey: k\nbefore: A\nafter: B\nx: y\n", /* unknown field */
		"# check_imap_session capability cache 1\nkey: k\nbefore:A\nafter: B\n",     /* no blank */
		"key: k\nbefore: A\nafter: B\n",                                             /* no header */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(capcache_parse(bad[i], strlen(bad[i]), "k", &e), 0, "accepted case %zu", i);
		cr_assert_str_eq(e.before, "", "case %zu left data behind", i);
		cr_assert_str_eq(e.after, "", "case %zu left data behind", i);
	}
}

Test(capcache, over_long_lists_and_control_bytes)
{
	struct capcache_entry e;
	char big[3 * CAPCACHE_LIST_MAX];
	int n = snprintf(big, sizeof(big), "# check_imap_session capability cache 1\nkey: k\nbefore: A\nafter: ");
	memset(big + n, 'X', CAPCACHE_LIST_MAX);
	n += CAPCACHE_LIST_MAX;
	big[n++] = '\n';
	cr_assert_eq(capcache_parse(big, (size_t)n, "k", &e), 0, "a list longer than any we write");

	static const char ctl[] = "# check_imap_session capability cache 1\nkey: k\nbefore: A\x1b[2J\nafter: B\r\n";
	cr_assert_eq(capcache_parse(ctl, sizeof(ctl) - 1, "k", &e), 1);
	cr_assert_null(strchr(e.before, '\x1b'), "control bytes are sanitized");
	cr_assert_null(strchr(e.after, '\r'));
}

Test(capcache, key_is_one_sanitized_line_and_names_a_hashed_file)
{
	char k1[256], k2[256], p1[512], p2[512];

	capcache_key(k1, sizeof(k1), "IMAP.Example.ORG", 993, "tls", "user\nkey: x");
	cr_assert_null(strchr(k1, '\n'), "%s", k1);
	cr_assert_eq(strncmp(k1, "imap.example.org 993 tls user", 29), 0, "%s", k1);
	capcache_key(k2, sizeof(k2), "imap.example.org", 993, "tls", NULL);
	cr_assert_str_eq(k2, "imap.example.org 993 tls -");
	cr_assert_eq(capcache_path(p1, sizeof(p1), "/var/cache/x", k1), 0);
	cr_assert_eq(capcache_path(p2, sizeof(p2), "/var/cache/x", k2), 0);
	cr_assert_eq(strncmp(p1, "/var/cache/x/caps-", 18), 0, "%s", p1);
	cr_assert_eq(strlen(p1), 18 + 24, "%s", p1);
	cr_assert_str_neq(p1, p2);
	cr_assert_eq(capcache_path(p1, 20, "/var/cache/x", k1), -1, "does not fit");
}

Test(capcache, store_load_forget)
{
	char dir[] = "/tmp/cis-capcache-unit-XXXXXX", err[512], path[512];
	struct capcache_entry e = { .before = "IMAP4rev1 AUTH=PLAIN", .after = "IMAP4rev1 SEARCHRES" }, back;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(capcache_load(dir, CC_KEY, &back, err, sizeof(err)), 0, "a miss");
	cr_assert_str_eq(err, "");
	cr_assert_eq(capcache_store(dir, CC_KEY, &e, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(capcache_load(dir, CC_KEY, &back, err, sizeof(err)), 1, "%s", err);
	cr_assert_str_eq(back.after, "IMAP4rev1 SEARCHRES");
	/* another key hashes to another file */
	cr_assert_eq(capcache_load(dir, "other 143 plain -", &back, err, sizeof(err)), 0);
	/* a damaged file is ignored, with a reason */
	cr_assert_eq(capcache_path(path, sizeof(path), dir, CC_KEY), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("not a cache\n", f);
	fclose(f);
	cr_assert_eq(capcache_load(dir, CC_KEY, &back, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "not a capability cache entry"), "%s", err);
	cr_assert_eq(capcache_forget(dir, CC_KEY, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(capcache_forget(dir, CC_KEY, err, sizeof(err)), 0, "forgetting nothing is fine");
	cr_assert_eq(capcache_load(dir, CC_KEY, &back, err, sizeof(err)), 0);
	/* a directory that is gone: the store says why */
	cr_assert_eq(rmdir(dir), 0);
	cr_assert_eq(capcache_store(dir, CC_KEY, &e, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
}
