/* test_output.c - util (sbuf, sanitizer, C-locale numbers), base64, the
 * report builder and the three renderers (nagios, json, prometheus). */
#include "config.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/base64.h"
#include "report/output.h"
#include "report/report.h"
#include "report/thresholds.h"
#include "util/util.h"

#include "testutil.h"

/* ================================================================ helpers */

static char *sanitized(char *buf, size_t sz, const char *s, size_t n)
{
	char *r = sanitize_text(buf, sz, s, n);

	cr_assert_eq(r, buf);
	cr_assert(strlen(buf) < sz);
	return buf;
}

#define SAN(s) sanitized(san_buf, sizeof san_buf, s, sizeof(s) - 1)

/* A DE/FR locale with a decimal comma, or skip the test. */
static void comma_locale_or_skip(void)
{
	const char *names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (setlocale(LC_ALL, names[i]) && strcmp(localeconv()->decimal_point, ",") == 0)
			return;
	cr_skip_test("no decimal-comma locale; generate one with "
		     "`localedef -i de_DE -f UTF-8 de_DE.UTF-8` to run this test");
}

static void fixed_step(struct report *r, const char *name, int outcome, int state, int64_t dur_ns,
		       const char *msg)
{
	struct step *s = report_step_begin(r, name, 0);

	cr_assert_not_null(s);
	report_step_end(s, 0, outcome, state, "%s", msg);
	s->dur_ns = dur_ns;
}

/* A successful session with fixed durations. */
static void ok_report(struct report *r)
{
	struct thresholds th = { 0 };
	char err[128];
	struct perf *p;

	report_init(r, 10);
	fixed_step(r, "resolve", STEP_OK, STATE_OK, 100000, "");
	fixed_step(r, "connect", STEP_OK, STATE_OK, 1200000, "127.0.0.1:143");
	fixed_step(r, "capability", STEP_SKIPPED, STATE_OK, 0, "in greeting");
	fixed_step(r, "examine", STEP_OK, STATE_OK, 2500000, "INBOX");
	step_value(report_find_step(r, "examine"), "messages", 3, NULL);
	p = report_perf(r, "messages", 3, "", 0, NULL);
	cr_assert_not_null(p);
	p->has_min = 1;
	cr_assert_eq(range_parse("1", &th.warn, err, sizeof err), 0);
	cr_assert_eq(range_parse("5", &th.crit, err, sizeof err), 0);
	cr_assert_not_null(report_perf(r, "time", 0.012345, "s", 6, &th));
	report_info(r, "tls_version", "TLSv1.3");
	report_set_summary(r, "INBOX: %d messages", 3);
	r->total_ns = 12345000;
}

/* The design brief's failure: authentication rejected. */
static void failed_report(struct report *r)
{
	report_init(r, 10);
	fixed_step(r, "connect", STEP_OK, STATE_OK, 1000000, "");
	fixed_step(r, "greeting", STEP_OK, STATE_OK, 2000000, "* OK Dovecot ready.");
	fixed_step(r, "auth", STEP_FAILED, STATE_CRITICAL, 3000000,
		   "NO [AUTHENTICATIONFAILED] Authentication failed.");
	report_fail(r, STATE_CRITICAL, "auth", "auth failed (AUTHENTICATE PLAIN): %s",
		    "NO [AUTHENTICATIONFAILED] Authentication failed.");
	r->total_ns = 6500000;
}

/* Render into a fresh buffer; caller frees. */
static void render(const struct report *r, enum output_format f, int verbose, struct sbuf *out)
{
	cr_assert_eq(sb_init_alloc(out, OUTPUT_MAX_SIZE), 0);
	output_render(r, f, verbose, out);
	cr_assert(!out->truncated);
	cr_assert_eq(strlen(out->data), out->len, "NUL inside rendered output");
}

/* Put hostile bytes straight into report fields, bypassing report.c. */
static const char hostile[] = "a|b\nc\r\"q\" \\ \x1b[31m \x01\x7f \xff\xfe \xc3\x28 \xe2\x80\xa8 "
			      "\xed\xa0\x80 \xf4\x90\x80\x80 \xc2\x9b ok";

static void hostile_report(struct report *r)
{
	failed_report(r);
	memcpy(r->summary, hostile, sizeof hostile);
	memcpy(r->steps[0].msg, hostile, sizeof hostile);
	memcpy(r->steps[1].name, "gr\"ee\\t\ning", sizeof "gr\"ee\\t\ning");
	r->steps[1].nvals = 1;
	strcpy(r->steps[1].vals[0].key, "k\"|");
	r->steps[1].vals[0].value = NAN;
	memcpy(r->lines[0], hostile, sizeof hostile);
	r->nlines = 1;
	strcpy(r->info[0].key, "cert\"subject");
	memcpy(r->info[0].value, hostile, sizeof hostile);
	r->ninfo = 1;
	memset(r->failed_step, 'x', sizeof r->failed_step); /* no NUL at all */
	struct perf *p = report_perf(r, "it's = odd|", INFINITY, "s;1", 3, NULL);
	cr_assert_not_null(p);
	strcpy(p->th.warn.text, "1;2|3");
	p->th.warn.set = 1;
}

/* ================================================================ sanitizer */

static char san_buf[64];

Test(sanitize, pipe_becomes_question_mark)
{
	cr_assert_str_eq(SAN("OK | fake=1"), "OK ? fake=1");
	cr_assert_str_eq(SAN("||"), "??");
}

Test(sanitize, control_bytes_and_del)
{
	cr_assert_str_eq(SAN("a\x01" "b\x7f" "c\x1f" "d\b"), "a?b?c?d?");
}

Test(sanitize, whitespace_collapses_and_trims)
{
	cr_assert_str_eq(SAN("  a\t\tb\r\nc   d  \n"), "a b c d");
	cr_assert_str_eq(SAN(" \t\r\n "), "");
	cr_assert_str_eq(SAN("line1\r\nline2"), "line1 line2");
}

Test(sanitize, terminal_escapes_neutralised)
{
	cr_assert_str_eq(SAN("\x1b[31mred\x1b[0m"), "?[31mred?[0m");
	cr_assert_str_eq(SAN("\x1b]0;title\x07"), "?]0;title?");
	/* C1 CSI (U+009B) as UTF-8, and a raw 0x9b byte */
	cr_assert_str_eq(SAN("\xc2\x9b" "2J \x9b" "2J"), "?2J ?2J");
	/* bidi override (Trojan Source) */
	cr_assert_str_eq(SAN("abc\xe2\x80\xae" "def"), "abc?def");
	/* U+2028 line separator is a line break: a space */
	cr_assert_str_eq(SAN("a\xe2\x80\xa8" "b"), "a b");
}

Test(sanitize, nul_inside_explicit_length)
{
	const char in[] = { 'a', '\0', 'b', '\0', '\0', 'c' };

	cr_assert_str_eq(sanitized(san_buf, sizeof san_buf, in, sizeof in), "a?b??c");
	cr_assert_str_eq(sanitized(san_buf, sizeof san_buf, in, 1), "a");
	cr_assert_str_eq(sanitized(san_buf, sizeof san_buf, NULL, 0), "");
}

Test(sanitize, valid_utf8_kept)
{
	cr_assert_str_eq(SAN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

Test(sanitize, invalid_utf8_bytes_replaced)
{
	cr_assert_str_eq(SAN("a\xff" "b"), "a?b");
	cr_assert_str_eq(SAN("\xc0\xaf"), "??");               /* overlong '/' */
	cr_assert_str_eq(SAN("\xe0\x80\xaf"), "???");          /* overlong */
	cr_assert_str_eq(SAN("\xed\xa0\x80"), "???");          /* surrogate */
	cr_assert_str_eq(SAN("\xf4\x90\x80\x80"), "????");     /* > U+10FFFF */
	cr_assert_str_eq(SAN("x\xe2\x82"), "x??");             /* cut at the end */
	cr_assert_str_eq(SAN("\xe2\x82x"), "??x");             /* missing continuation */
	cr_assert_str_eq(SAN("\x80\xbf"), "??");               /* stray continuations */
}

Test(sanitize, long_text_cut_with_ellipsis)
{
	char out[16];

	sanitized(out, sizeof out, "abcdefghijklmnopqrstuvwxyz", 26);
	cr_assert_str_eq(out, "abcdefghijkl...");
	/* exactly fits: no ellipsis */
	sanitized(out, sizeof out, "abcdefghijklmno", 15);
	cr_assert_str_eq(out, "abcdefghijklmno");
	/* one more: cut */
	sanitized(out, sizeof out, "abcdefghijklmnop", 16);
	cr_assert_str_eq(out, "abcdefghijkl...");
	/* trailing blanks do not count as text */
	sanitized(out, sizeof out, "abcdefghijklmno   \r\n", 20);
	cr_assert_str_eq(out, "abcdefghijklmno");
	/* no space before the ellipsis */
	sanitized(out, sizeof out, "abcdefghijk lmnopqrstuvwxyz", 27);
	cr_assert_str_eq(out, "abcdefghijk...");
}

Test(sanitize, cut_on_character_boundary)
{
	char out[12];
	const char *e = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"; /* 7 x e-acute */
	const char *emoji = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80";

	sanitized(out, sizeof out, e, strlen(e));
	cr_assert_str_eq(out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
	cr_assert(tu_utf8_valid((unsigned char *)out, strlen(out)));
	sanitized(out, sizeof out, emoji, strlen(emoji));
	cr_assert_str_eq(out, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80...");
}

Test(sanitize, tiny_destinations)
{
	char out[4] = "zzz";

	cr_assert_eq(sanitize_text(out, 0, "abc", 3), out);
	cr_assert_eq(out[0], 'z', "dstsz 0 must not write");
	sanitized(out, 1, "abc", 3);
	cr_assert_str_eq(out, "");
	sanitized(out, 3, "abc", 3);
	cr_assert_str_eq(out, "..");
	sanitized(out, 4, "abc", 3);
	cr_assert_str_eq(out, "abc");
	sanitized(out, 4, "abcd", 4);
	cr_assert_str_eq(out, "...");
}

Test(sanitize, random_bytes_always_clean)
{
	unsigned long seed = 12345;
	const unsigned char pool[] = { 0, 1, '\t', '\n', '\r', 0x1b, ' ', '|', 'a', 'Z', 0x7f, 0x80,
				       0x9b, 0xbf, 0xc2, 0xc3, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4,
				       0xf5, 0xff, 0xa0, 0x82, 0xac };
	unsigned char in[300];
	char out[80];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (seed = seed * 6364136223846793005UL + 1442695040888963407UL) >> 55;
		for (size_t i = 0; i < n && i < sizeof in; i++) {
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			in[i] = (seed >> 40) & 1 ? pool[(seed >> 33) % sizeof pool] : (unsigned char)(seed >> 48);
		}
		size_t dsz = 1 + (seed >> 20) % sizeof out;
		sanitized(out, dsz, (char *)in, n > sizeof in ? sizeof in : n);
		size_t len = strlen(out);
		cr_assert(tu_utf8_valid((unsigned char *)out, len), "iteration %d: invalid UTF-8", iter);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)out[i];
			cr_assert(c >= 0x20 && c != 0x7f && c != '|', "iteration %d: byte %#x", iter, c);
			if (c == 0xc2)
				cr_assert(((unsigned char)out[i + 1]) >= 0xa0, "C1 control survived");
		}
		if (len) {
			cr_assert_neq(out[0], ' ');
			cr_assert_neq(out[len - 1], ' ');
		}
		cr_assert_null(strstr(out, "  "));
	}
}

/* ================================================================ sbuf */

Test(sbuf, fixed_buffer_truncates_and_stays_terminated)
{
	char mem[8];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	cr_assert_str_eq(sb.data, "");
	sb_puts(&sb, "abc");
	sb_printf(&sb, "%d", 1234);
	cr_assert_str_eq(sb.data, "abc1234");
	cr_assert(!sb.truncated);
	sb_putc(&sb, 'x');
	cr_assert(sb.truncated);
	cr_assert_str_eq(sb.data, "abc1234");
	sb_puts(&sb, "");      /* dropped, still truncated */
	cr_assert(sb.truncated);
	sb_reset(&sb);
	cr_assert(!sb.truncated);
	cr_assert_eq(sb.len, 0);
	sb_printf(&sb, "%s", "0123456789");
	cr_assert(sb.truncated);
	cr_assert_str_eq(sb.data, "0123456");
	cr_assert_eq(sb.len, 7);
}

Test(sbuf, appends_after_truncation_are_dropped)
{
	char mem[6];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	sb_puts(&sb, "abcdefg");
	cr_assert_str_eq(sb.data, "abcde");
	sb_reset(&sb);
	sb_puts(&sb, "abcd");
	sb_puts(&sb, "XY");     /* does not fit: keeps "abcdX", truncated */
	sb_puts(&sb, "z");
	cr_assert_str_eq(sb.data, "abcdX");
	cr_assert(sb.truncated);
}

Test(sbuf, truncation_respects_utf8)
{
	char mem[6];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	sb_puts(&sb, "abc\xe2\x82\xac");       /* the euro sign would be cut */
	cr_assert_str_eq(sb.data, "abc");
	cr_assert(sb.truncated);
	sb_reset(&sb);
	sb_printf(&sb, "ab%s", "\xf0\x9f\x98\x80");
	cr_assert_str_eq(sb.data, "ab");
	sb_reset(&sb);
	sb_puts(&sb, "ab\xc3\xa9\xc3\xa9");     /* the second one is cut */
	cr_assert_str_eq(sb.data, "ab\xc3\xa9");
}

Test(sbuf, owned_buffer_grows_to_its_bound)
{
	struct sbuf sb;

	cr_assert_eq(sb_init_alloc(&sb, 5000), 0);
	cr_assert(sb.owned);
	cr_assert(sb.cap <= 5000);
	for (int i = 0; i < 1000; i++)
		sb_puts(&sb, "abcd");
	cr_assert(!sb.truncated);
	cr_assert_eq(sb.len, 4000);
	cr_assert_eq(strlen(sb.data), 4000);
	sb_printf(&sb, "%0999d", 7);
	cr_assert(!sb.truncated, "4999 bytes fit in 5000");
	cr_assert_eq(sb.len, 4999);
	sb_putc(&sb, 'x');
	cr_assert(sb.truncated);
	cr_assert_eq(sb.len, 4999);
	cr_assert_eq(sb.cap, 5000);
	sb_free(&sb);
	cr_assert_eq(sb.cap, 0);
	cr_assert_str_eq(sb.data, "");
	sb_free(&sb); /* twice is fine */
}

Test(sbuf, owned_printf_overflow_fills_to_max)
{
	struct sbuf sb;

	cr_assert_eq(sb_init_alloc(&sb, 1000), 0);
	sb_printf(&sb, "%01500d", 1);
	cr_assert(sb.truncated);
	cr_assert_eq(sb.len, 999);
	cr_assert_eq(strspn(sb.data, "0"), 999);
	sb_free(&sb);
}

Test(sbuf, zero_capacity_is_safe)
{
	struct sbuf sb;

	sb_init(&sb, NULL, 0);
	cr_assert_str_eq(sb.data, "");
	sb_puts(&sb, "x");
	sb_printf(&sb, "%d", 5);
	cr_assert(sb.truncated);
	cr_assert_str_eq(sb.data, "");
	sb_reset(&sb);
	cr_assert_eq(sb_init_alloc(&sb, 0), -1);
	sb_putc(&sb, 'y');
	cr_assert(sb.truncated);
	sb_free(&sb);
}

/* ================================================================ small helpers */

Test(util, strlcpy_s_bounds)
{
	char d[4] = "zzz";

	cr_assert_eq(strlcpy_s(d, "abc", 0), 0);
	cr_assert_eq(d[0], 'z');
	cr_assert_eq(strlcpy_s(d, "abcdef", sizeof d), 3);
	cr_assert_str_eq(d, "abc");
	cr_assert_eq(strlcpy_s(d, "x", sizeof d), 1);
	cr_assert_str_eq(d, "x");
	cr_assert_eq(strlcpy_s(d, NULL, sizeof d), 0);
	cr_assert_str_eq(d, "");
}

Test(util, ascii_ieq_counted)
{
	cr_assert(ascii_ieq("INBOX", 5, "inbox"));
	cr_assert(ascii_ieq("InBoX-extra", 5, "iNbOx"));
	cr_assert(!ascii_ieq("INBOX", 5, "inbox2"));
	cr_assert(!ascii_ieq("INBOX", 4, "inbox"));
	cr_assert(!ascii_ieq("IN\0OX", 5, "in"));
	cr_assert(!ascii_ieq("\xc3\xa9", 2, "\xc3\x89"), "only ASCII folds");
	cr_assert(ascii_ieq("", 0, ""));
	cr_assert(!ascii_ieq("[", 1, "{"), "no folding outside letters");
}

Test(util, secure_zero_wipes)
{
	unsigned char secret[32];

	memset(secret, 0xa5, sizeof secret);
	secure_zero(secret, sizeof secret);
	for (size_t i = 0; i < sizeof secret; i++)
		cr_assert_eq(secret[i], 0);
	secure_zero(NULL, 10); /* tolerated */
}

Test(util, utf8_next_lengths)
{
	uint32_t cp;

	cr_assert_eq(utf8_next((const unsigned char *)"A", 1, &cp), 1);
	cr_assert_eq(cp, 'A');
	cr_assert_eq(utf8_next((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	cr_assert_eq(cp, 0xe9);
	cr_assert_eq(utf8_next((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
	cr_assert_eq(cp, 0x20ac);
	cr_assert_eq(utf8_next((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
	cr_assert_eq(cp, 0x10ffff);
	cr_assert_eq(utf8_next((const unsigned char *)"\xe2\x82\xac", 2, &cp), 0, "short input");
	cr_assert_eq(utf8_next((const unsigned char *)"\xc1\xbf", 2, &cp), 0);
	cr_assert_eq(utf8_next((const unsigned char *)"\xf5\x80\x80\x80", 4, &cp), 0);
}

/* ================================================================ numbers in the C locale */

static const char *put_double(double v, int decimals)
{
	static char mem[512];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	sb_put_double(&sb, v, decimals);
	return mem;
}

Test(number, c_locale_formatting)
{
	cr_assert_str_eq(put_double(1.5, 2), "1.50");
	cr_assert_str_eq(put_double(0.0012, 6), "0.001200");
	cr_assert_str_eq(put_double(-2.25, 1), "-2.2");     /* round half to even */
	cr_assert_str_eq(put_double(1234567.0, 0), "1234567");
	cr_assert_str_eq(put_double(-0.0001, 2), "0.00");   /* no "-0.00" */
	cr_assert_str_eq(put_double(-0.0, 0), "0");
	cr_assert_str_eq(put_double(2, -3), "2");           /* clamped */
	cr_assert_str_eq(put_double(NAN, 2), "nan");
	cr_assert_str_eq(put_double(-INFINITY, 2), "-inf");
	cr_assert_eq(strlen(put_double(1e308, 17)), 309 + 1 + 17);
}

Test(number, decimal_comma_locale_still_prints_a_point)
{
	char check[32];

	comma_locale_or_skip();
	snprintf(check, sizeof check, "%.2f", 1.5);
	cr_assert_str_eq(check, "1,50", "the locale does use a comma, so the test means something");
	cr_assert_str_eq(put_double(1.5, 2), "1.50");
	cr_assert_str_eq(put_double(-1234.5678, 3), "-1234.568");
	/* and the thread's locale is back afterwards */
	snprintf(check, sizeof check, "%.1f", 2.5);
	cr_assert_str_eq(check, "2,5");
}

Test(number, per_thread_comma_locale)
{
	char check[32];
	locale_t de = newlocale(LC_ALL_MASK, "de_DE.UTF-8", (locale_t)0);

	if (de == (locale_t)0)
		de = newlocale(LC_ALL_MASK, "fr_FR.UTF-8", (locale_t)0);
	if (de == (locale_t)0)
		cr_skip_test("no decimal-comma locale (localedef -i de_DE -f UTF-8 de_DE.UTF-8)");
	locale_t old = uselocale(de);
	cr_assert_str_eq(put_double(0.25, 2), "0.25");
	snprintf(check, sizeof check, "%.2f", 0.25);
	cr_assert_str_eq(check, "0,25");
	uselocale(old);
	freelocale(de);
}

Test(number, perfdata_under_comma_locale)
{
	struct report r;
	struct sbuf out;

	comma_locale_or_skip();
	ok_report(&r);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_null(strchr(out.data, ','), "comma in: %s", out.data);
	cr_assert(strstr(out.data, "connect=0.001200s;;;0;10") != NULL, "%s", out.data);
	sb_free(&out);
	render(&r, OUTPUT_JSON, 0, &out);
	cr_assert(strstr(out.data, "\"time\":0.012345,") != NULL, "%s", out.data);
	sb_free(&out);
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	cr_assert(strstr(out.data, "\nprobe_duration_seconds 0.012345\n") != NULL, "%s", out.data);
	sb_free(&out);
}

/* ================================================================ base64 */

static const struct {
	const char *plain, *b64;
} rfc4648[] = {
	{ "", "" },         { "f", "Zg==" },        { "fo", "Zm8=" },         { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

Test(base64, rfc4648_encode)
{
	char out[32];

	for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
		size_t n = strlen(rfc4648[i].plain);
		cr_assert_eq(base64_enc_len(n), strlen(rfc4648[i].b64) + 1);
		cr_assert_eq(base64_encode(rfc4648[i].plain, n, out), strlen(rfc4648[i].b64));
		cr_assert_str_eq(out, rfc4648[i].b64);
	}
}

Test(base64, rfc4648_decode)
{
	unsigned char out[32];

	for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
		long n = base64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), out, sizeof out);
		cr_assert_eq(n, (long)strlen(rfc4648[i].plain), "vector %zu", i);
		cr_assert_eq(memcmp(out, rfc4648[i].plain, (size_t)n), 0);
	}
}

Test(base64, binary_round_trip_every_length)
{
	unsigned char in[70], back[70];
	char enc[100];

	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 37 + 255);
	for (size_t n = 0; n <= sizeof in; n++) {
		size_t e = base64_encode(in, n, enc);
		cr_assert_eq(e + 1, base64_enc_len(n));
		cr_assert_eq(base64_decode(enc, e, back, n), (long)n, "length %zu", n);
		cr_assert_eq(memcmp(in, back, n), 0);
	}
	cr_assert_str_eq((base64_encode("\xff\xfe\xfd", 3, enc), enc), "//79");
	cr_assert_str_eq((base64_encode("\xfb\xef", 2, enc), enc), "++8=");
}

Test(base64, rejects_bad_input)
{
	unsigned char out[32];
	const char *bad[] = {
		"Zg=",   "Zg",     "Z",      "Zm9vY",  "Zm 9v",  "Zm9v\n", "Zm9v\r\nYg==",
		"Zg=a",  "Z===",   "====",   "=Zg=",   "Zm=v",   "Zg==Zg==", "Zm9-",  "Zm9_",
		"Zm9\x80", "Zm9\0", "Z=g=",
	};
	const size_t blen[] = { 3, 2, 1, 5, 5, 5, 10, 4, 4, 4, 4, 4, 8, 4, 4, 4, 4, 4 };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(base64_decode(bad[i], blen[i], out, sizeof out), -1, "accepted case %zu", i);
}

Test(base64, output_too_small_and_trailing_bits)
{
	unsigned char out[6];

	cr_assert_eq(base64_decode("Zm9vYmFy", 8, out, 5), -1);
	cr_assert_eq(base64_decode("Zm9vYmFy", 8, out, 6), 6);
	cr_assert_eq(base64_decode("Zm9vYg==", 8, out, 3), -1);
	cr_assert_eq(base64_decode("", 0, NULL, 0), 0);
	/* non-zero bits after the last byte: accepted */
	cr_assert_eq(base64_decode("Zh==", 4, out, sizeof out), 1);
	cr_assert_eq(out[0], 'f');
	cr_assert_eq(base64_decode("Zm9=", 4, out, sizeof out), 2);
	cr_assert_eq(memcmp(out, "fo", 2), 0);
}

/* ================================================================ report */

Test(report, steps_are_timed_with_the_callers_times)
{
	struct report r;

	/* the report reads no clock: the runner passes every time in */
	report_init(&r, 10);
	cr_assert_eq(r.state, STATE_OK);
	cr_assert_eq(r.start_ns, 0);
	r.start_ns = 1000;
	struct step *s = report_step_begin(&r, "connect", 2000);
	cr_assert_not_null(s);
	cr_assert_eq(s->outcome, STEP_OK);
	cr_assert_eq(s->start_ns, 2000);
	report_step_end(s, 2000 + 3000000, STEP_OK, STATE_OK, "%s:%d", "127.0.0.1", 143);
	cr_assert_eq(s->dur_ns, 3000000);
	cr_assert_str_eq(s->msg, "127.0.0.1:143");
	report_finish(&r, 5000000);
	cr_assert_eq(r.total_ns, 4999000);
	cr_assert_geq(r.total_ns, s->dur_ns);
	cr_assert_eq(r.nsteps, 1);
	/* an end before the start (a caller's mistake) is no negative time */
	s = report_step_begin(&r, "tls", 6000);
	report_step_end(s, 5000, STEP_OK, STATE_OK, "x");
	cr_assert_eq(s->dur_ns, 0);
	report_finish(&r, 0);
	cr_assert_eq(r.total_ns, 0);
}

Test(report, messages_and_names_are_sanitized)
{
	struct report r;

	report_init(&r, 10);
	struct step *s = report_step_begin(&r, "na|me\n", 0);
	report_step_end(s, 0, STEP_FAILED, STATE_CRITICAL, "server said: %s", "NO\r\n| \x1b[2J\xff");
	cr_assert_str_eq(s->name, "na?me");
	cr_assert_str_eq(s->msg, "server said: NO ? ?[2J?");
	report_info(&r, "ci\tpher", "%s", "AES|GCM\n");
	cr_assert_str_eq(report_get_info(&r, "ci pher"), "AES?GCM");
	report_line(&r, "x\x01y");
	cr_assert_str_eq(r.lines[0], "x?y");
}

Test(report, long_message_is_cut)
{
	struct report r;
	char big[3000];

	memset(big, 'm', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	report_init(&r, 10);
	struct step *s = report_step_begin(&r, big, 0);
	report_step_end(s, 0, STEP_OK, STATE_OK, "%s", big);
	cr_assert_eq(strlen(s->msg), sizeof s->msg - 1);
	cr_assert_str_eq(s->msg + sizeof s->msg - 4, "...");
	cr_assert_eq(strlen(s->name), sizeof s->name - 1);
	report_fail(&r, STATE_CRITICAL, "x", "%s%s", big, big);
	cr_assert_eq(strlen(r.summary), sizeof r.summary - 1);
}

Test(report, first_failure_wins_summary_but_state_keeps_rising)
{
	struct report r;

	report_init(&r, 10);
	report_set_summary(&r, "all good");
	cr_assert_str_eq(r.summary, "all good");
	report_fail(&r, STATE_WARNING, "tls", "certificate expires in %d days", 5);
	report_fail(&r, STATE_CRITICAL, "auth", "auth failed");
	report_set_summary(&r, "all good again");
	cr_assert_eq(r.state, STATE_CRITICAL);
	cr_assert(r.failed);
	cr_assert_str_eq(r.failed_step, "tls");
	cr_assert_str_eq(r.summary, "certificate expires in 5 days");
	report_raise(&r, STATE_OK);
	cr_assert_eq(r.state, STATE_CRITICAL, "raise never lowers");
}

Test(report, raise_uses_state_order)
{
	struct report r;

	report_init(&r, 10);
	report_raise(&r, STATE_UNKNOWN);
	cr_assert_eq(r.state, STATE_UNKNOWN);
	report_raise(&r, STATE_WARNING);
	cr_assert_eq(r.state, STATE_WARNING);
	report_raise(&r, STATE_UNKNOWN);
	cr_assert_eq(r.state, STATE_WARNING);
	report_fail(&r, STATE_UNKNOWN, NULL, "internal");
	cr_assert_str_eq(r.failed_step, "");
	cr_assert_eq(r.state, STATE_WARNING);
}

Test(report, step_table_full_returns_null_safely)
{
	struct report r;

	report_init(&r, 10);
	for (int i = 0; i < REPORT_MAX_STEPS; i++)
		cr_assert_not_null(report_step_begin(&r, "s", 0));
	struct step *s = report_step_begin(&r, "overflow", 0);
	cr_assert_null(s);
	report_step_end(s, 0, STEP_OK, STATE_OK, "ignored");
	step_value(s, "k", 1, "");
	cr_assert_eq(r.nsteps, REPORT_MAX_STEPS);
}

Test(report, find_step_returns_most_recent)
{
	struct report r;

	report_init(&r, 10);
	struct step *a = report_step_begin(&r, "auth", 0);
	report_step_begin(&r, "select", 0);
	struct step *b = report_step_begin(&r, "auth", 0);
	cr_assert_neq(a, b);
	cr_assert_eq(report_find_step(&r, "auth"), b);
	cr_assert_null(report_find_step(&r, "fetch"));
	cr_assert_null(report_find_step(&r, NULL));
}

Test(report, step_values_add_replace_and_bound)
{
	struct report r;
	char key[8];

	report_init(&r, 10);
	struct step *s = report_step_begin(&r, "examine", 0);
	step_value(s, "messages", 4, NULL);
	step_value(s, "messages", 5, "");
	cr_assert_eq(s->nvals, 1);
	cr_assert_eq(s->vals[0].value, 5);
	step_value(s, "bytes", 10, "B;x1");
	cr_assert_str_eq(s->vals[1].uom, "Bx");
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "k%d", i);
		step_value(s, key, i, NULL);
	}
	cr_assert_eq(s->nvals, STEP_MAX_VALUES);
	step_value(s, "", 1, NULL);
	cr_assert_eq(s->nvals, STEP_MAX_VALUES);
}

Test(report, perf_add_replace_and_defaults)
{
	struct report r;
	struct thresholds th = { 0 };
	char err[64];

	report_init(&r, 15);
	struct perf *p = report_perf(&r, "time", 1.5, "s", 3, NULL);
	cr_assert_not_null(p);
	cr_assert(p->has_min && p->has_max);
	cr_assert_eq(p->min, 0);
	cr_assert_eq(p->max, 15);
	cr_assert_eq(range_parse("2", &th.warn, err, sizeof err), 0);
	struct perf *q = report_perf(&r, "time", 2.5, "s", 20, &th);
	cr_assert_eq(p, q, "same label replaces");
	cr_assert_eq(r.nperf, 1);
	cr_assert_eq(q->value, 2.5);
	cr_assert_eq(q->decimals, 9);
	cr_assert_str_eq(q->th.warn.text, "2");
	struct perf *m = report_perf(&r, "a=b c", 7, "x y;", 0, NULL);
	cr_assert_str_eq(m->label, "a_b c");
	cr_assert_str_eq(m->uom, "xy");
	cr_assert(!m->has_min && !m->has_max);
	cr_assert_null(report_perf(&r, " \n ", 1, "", 0, NULL));
	cr_assert_eq(r.nperf, 2);
}

Test(report, perf_and_info_tables_bound)
{
	struct report r;
	char l[16];

	report_init(&r, 10);
	for (int i = 0; i < REPORT_MAX_PERF; i++) {
		snprintf(l, sizeof l, "p%d", i);
		cr_assert_not_null(report_perf(&r, l, i, "", 0, NULL));
	}
	cr_assert_null(report_perf(&r, "one_more", 1, "", 0, NULL));
	cr_assert_not_null(report_perf(&r, "p3", 33, "", 0, NULL), "replacing still works");
	for (int i = 0; i < REPORT_MAX_INFO + 5; i++) {
		snprintf(l, sizeof l, "k%d", i);
		report_info(&r, l, "%d", i);
	}
	cr_assert_eq(r.ninfo, REPORT_MAX_INFO);
	report_info(&r, "k0", "new");
	cr_assert_str_eq(report_get_info(&r, "k0"), "new");
	cr_assert_null(report_get_info(&r, "k40"));
}

Test(report, extra_lines_bound)
{
	struct report r;

	report_init(&r, 10);
	for (int i = 0; i < REPORT_MAX_LINES + 3; i++)
		report_line(&r, "line %d", i);
	cr_assert_eq(r.nlines, REPORT_MAX_LINES);
	cr_assert_str_eq(r.lines[0], "line 0");
	cr_assert_str_eq(r.lines[REPORT_MAX_LINES - 1], "(more lines omitted)");
}

/* ================================================================ perfdata */

static const char *label(const char *l)
{
	static char mem[128];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	output_perf_label(&sb, l);
	return mem;
}

Test(perfdata, label_quoting)
{
	cr_assert_str_eq(label("connect"), "connect");
	cr_assert_str_eq(label("a-b_c.d/e"), "a-b_c.d/e");
	cr_assert_str_eq(label("cert days"), "'cert days'");
	cr_assert_str_eq(label("it's"), "'it''s'");
	cr_assert_str_eq(label("a=b"), "a_b");
	cr_assert_str_eq(label("x;y"), "'x;y'");
	cr_assert_str_eq(label("p|q\n"), "'p?q'");
	cr_assert_str_eq(label("\xc3\xa9t\xc3\xa9"), "'\xc3\xa9t\xc3\xa9'");
	cr_assert_str_eq(label(""), "''");
}

static const char *item(const struct perf *p)
{
	static char mem[512];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	output_perf_item(&sb, p);
	return mem;
}

Test(perfdata, item_format_exact)
{
	struct perf p = { .label = "connect", .value = 0.0012, .uom = "s", .decimals = 6,
			  .has_min = 1, .min = 0, .has_max = 1, .max = 10 };
	char err[64];

	cr_assert_str_eq(item(&p), "connect=0.001200s;;;0;10");
	p.max = 2.5;
	cr_assert_str_eq(item(&p), "connect=0.001200s;;;0;2.5");
	cr_assert_eq(range_parse("~:0.5", &p.th.warn, err, sizeof err), 0);
	cr_assert_eq(range_parse("@1:2", &p.th.crit, err, sizeof err), 0);
	cr_assert_str_eq(item(&p), "connect=0.001200s;~:0.5;@1:2;0;2.5");

	struct perf c = { .label = "messages", .value = 42, .decimals = 0 };
	cr_assert_str_eq(item(&c), "messages=42", "empty trailing fields are left out");
	c.has_min = 1;
	cr_assert_str_eq(item(&c), "messages=42;;;0");
	c.has_min = 0;
	c.has_max = 1;
	c.max = 100;
	cr_assert_str_eq(item(&c), "messages=42;;;;100");
	cr_assert_eq(range_parse("10", &c.th.warn, err, sizeof err), 0);
	c.has_max = 0;
	cr_assert_str_eq(item(&c), "messages=42;10");

	struct perf d = { .label = "cert days", .value = -3.25, .uom = "d", .decimals = 1 };
	cr_assert_str_eq(item(&d), "'cert days'=-3.2d");
}

Test(perfdata, non_finite_and_hostile_fields)
{
	struct perf p = { .label = "x", .value = NAN, .uom = "s", .has_min = 1, .min = INFINITY };

	cr_assert_str_eq(item(&p), "x=U");
	p.value = 1;
	strcpy(p.uom, "%;|");
	p.th.warn.set = 1;
	strcpy(p.th.warn.text, "1;2 | x");  /* not range syntax: left out */
	p.th.crit.set = 1;
	strcpy(p.th.crit.text, "3");
	cr_assert_str_eq(item(&p), "x=1%;;3");
	memset(p.label, 'L', sizeof p.label);  /* no NUL */
	cr_assert_eq(strncmp(item(&p), "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL=1%", 35), 0, "%s", item(&p));
}

/* ================================================================ nagios */

Test(nagios, ok_report_exact)
{
	struct report r;
	struct sbuf out;

	ok_report(&r);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_str_eq(out.data,
			 "IMAP OK - INBOX: 3 messages | resolve=0.000100s;;;0;10 "
			 "connect=0.001200s;;;0;10 examine=0.002500s;;;0;10 messages=3;;;0 "
			 "time=0.012345s;1;5;0;10\n"
			 "resolve: OK 0.0001s\n"
			 "connect: OK 0.0012s 127.0.0.1:143\n"
			 "examine: OK 0.0025s INBOX\n");
	sb_free(&out);
}

Test(nagios, failure_report_exact)
{
	struct report r;
	struct sbuf out;

	failed_report(&r);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_str_eq(out.data,
			 "IMAP CRITICAL - auth failed (AUTHENTICATE PLAIN): NO [AUTHENTICATIONFAILED] "
			 "Authentication failed. | connect=0.001000s;;;0;10 greeting=0.002000s;;;0;10 "
			 "auth=0.003000s;;;0;10\n"
			 "connect: OK 0.0010s\n"
			 "greeting: OK 0.0020s * OK Dovecot ready.\n"
			 "auth: FAILED 0.0030s NO [AUTHENTICATIONFAILED] Authentication failed.\n");
	sb_free(&out);
}

Test(nagios, timeout_and_warning_words)
{
	struct report r;
	struct sbuf out;

	report_init(&r, 5);
	fixed_step(&r, "tls", STEP_OK, STATE_WARNING, 1000, "certificate expires in 3 days");
	fixed_step(&r, "fetch", STEP_TIMEOUT, STATE_CRITICAL, 5000000000LL, "no answer");
	report_fail(&r, STATE_CRITICAL, "fetch", "timeout after 5s in fetch");
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert(strstr(out.data, "IMAP CRITICAL - timeout after 5s in fetch | ") == out.data, "%s", out.data);
	cr_assert(strstr(out.data, "fetch=5.000000s;;;0;5") != NULL, "%s", out.data);
	cr_assert(strstr(out.data, "\ntls: WARNING 0.0000s certificate expires in 3 days\n"), "%s", out.data);
	cr_assert(strstr(out.data, "\nfetch: TIMEOUT 5.0000s no answer\n"), "%s", out.data);
	sb_free(&out);
}

Test(nagios, no_perfdata_no_pipe_and_empty_summary)
{
	struct report r;
	struct sbuf out;

	report_init(&r, 10);
	report_raise(&r, STATE_UNKNOWN);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_str_eq(out.data, "IMAP UNKNOWN\n");
	sb_free(&out);
	r.state = 17;
	strcpy(r.summary, "bad state number");
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_str_eq(out.data, "IMAP UNKNOWN - bad state number\n");
	sb_free(&out);
}

Test(nagios, hostile_fields_cannot_break_the_status_line)
{
	struct report r;
	struct sbuf out;

	hostile_report(&r);
	render(&r, OUTPUT_NAGIOS, 2, &out);
	char *nl = strchr(out.data, '\n');
	cr_assert_not_null(nl);
	size_t first = (size_t)(nl - out.data);
	size_t pipes = 0;
	for (size_t i = 0; i < first; i++) {
		unsigned char c = (unsigned char)out.data[i];
		pipes += c == '|';
		cr_assert(c >= 0x20 && c != 0x7f, "control byte %#x on line 1", c);
	}
	cr_assert_eq(pipes, 1, "line 1: %.*s", (int)first, out.data);
	/* the hostile perf item became harmless */
	cr_assert(strstr(out.data, "'it''s _ odd?'=U") != NULL, "%s", out.data);
	/* no '|' anywhere else: it would start long-output perfdata */
	cr_assert_null(strchr(nl, '|'), "%s", nl);
	cr_assert(tu_utf8_valid((unsigned char *)out.data, out.len));
	for (size_t i = 0; i < out.len; i++) {
		unsigned char c = (unsigned char)out.data[i];
		cr_assert(c == '\n' || (c >= 0x20 && c != 0x7f), "control byte %#x", c);
	}
	cr_assert(strstr(out.data, "gr\"ee\\t ing: OK") != NULL, "%s", out.data);
	sb_free(&out);
}

Test(nagios, verbose_shows_skipped_values_and_facts)
{
	struct report r;
	struct sbuf out;

	ok_report(&r);
	render(&r, OUTPUT_NAGIOS, 1, &out);
	cr_assert(strstr(out.data, "\ncapability: SKIPPED in greeting\n"), "%s", out.data);
	cr_assert(strstr(out.data, "\nexamine: OK 0.0025s INBOX (messages=3)\n"), "%s", out.data);
	cr_assert(strstr(out.data, "\ntls_version: TLSv1.3\n"), "%s", out.data);
	sb_free(&out);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_null(strstr(out.data, "capability"));
	cr_assert_null(strstr(out.data, "TLSv1.3"));
	sb_free(&out);
}

Test(nagios, repeated_steps_and_session_labels_do_not_duplicate)
{
	struct report r;
	struct sbuf out;

	report_init(&r, 10);
	fixed_step(&r, "auth", STEP_FAILED, STATE_CRITICAL, 1000000, "PLAIN: NO");
	fixed_step(&r, "auth", STEP_OK, STATE_OK, 2000000, "SCRAM-SHA-256: OK");
	fixed_step(&r, "select", STEP_OK, STATE_OK, 3000000, "");
	report_perf(&r, "select", 0.5, "s", 1, NULL);
	report_line(&r, "mechanisms tried: %d", 2);
	render(&r, OUTPUT_NAGIOS, 0, &out);
	cr_assert_str_eq(out.data,
			 "IMAP OK | auth=0.001000s;;;0;10 select=0.5s;;;0;10\n"
			 "auth: FAILED 0.0010s PLAIN: NO\n"
			 "auth: OK 0.0020s SCRAM-SHA-256: OK\n"
			 "select: OK 0.0030s\n"
			 "mechanisms tried: 2\n");
	sb_free(&out);
}

/* ================================================================ json */

/* A strict RFC 8259 parser: 1 if s[0..n) is exactly one JSON value. */
struct jp {
	const unsigned char *s;
	size_t n, i;
	int depth;
};

static int j_value(struct jp *p);

static void j_ws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\n\r", p->s[p->i]) && p->s[p->i])
		p->i++;
}

static int j_lit(struct jp *p, const char *lit)
{
	size_t l = strlen(lit);

	if (p->n - p->i < l || memcmp(p->s + p->i, lit, l) != 0)
		return 0;
	p->i += l;
	return 1;
}

static int j_hex4(struct jp *p, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < 4; k++, p->i++) {
		if (p->i >= p->n)
			return 0;
		unsigned char c = p->s[p->i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return 0;
		*v = *v << 4 | (unsigned)d;
	}
	return 1;
}

static int j_string(struct jp *p)
{
	size_t start;

	if (p->i >= p->n || p->s[p->i] != '"')
		return 0;
	start = ++p->i;
	while (p->i < p->n && p->s[p->i] != '"') {
		unsigned char c = p->s[p->i];
		unsigned v, w;
		if (c < 0x20)
			return 0;
		if (c != '\\') {
			p->i++;
			continue;
		}
		if (++p->i >= p->n)
			return 0;
		c = p->s[p->i++];
		if (c == 'u') {
			if (!j_hex4(p, &v))
				return 0;
			if (v >= 0xdc00 && v <= 0xdfff)
				return 0;
			if (v >= 0xd800 && v <= 0xdbff) {
				if (!j_lit(p, "\\u") || !j_hex4(p, &w) || w < 0xdc00 || w > 0xdfff)
					return 0;
			}
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return 0;
		}
	}
	if (p->i >= p->n || !tu_utf8_valid(p->s + start, p->i - start))
		return 0;
	p->i++;
	return 1;
}

static int j_digits(struct jp *p)
{
	size_t s = p->i;

	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i > s;
}

static int j_number(struct jp *p)
{
	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i < p->n && p->s[p->i] == '0')
		p->i++;
	else if (!j_digits(p))
		return 0;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (!j_digits(p))
			return 0;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!j_digits(p))
			return 0;
	}
	return 1;
}

static int j_members(struct jp *p, char close, int object)
{
	p->i++;
	j_ws(p);
	if (p->i < p->n && p->s[p->i] == (unsigned char)close) {
		p->i++;
		return 1;
	}
	for (;;) {
		j_ws(p);
		if (object) {
			if (!j_string(p))
				return 0;
			j_ws(p);
			if (p->i >= p->n || p->s[p->i++] != ':')
				return 0;
			j_ws(p);
		}
		if (!j_value(p))
			return 0;
		j_ws(p);
		if (p->i >= p->n)
			return 0;
		if (p->s[p->i] == (unsigned char)close) {
			p->i++;
			return 1;
		}
		if (p->s[p->i++] != ',')
			return 0;
	}
}

static int j_value(struct jp *p)
{
	int ok;

	if (p->i >= p->n || ++p->depth > 64)
		return 0;
	switch (p->s[p->i]) {
	case '{':
		ok = j_members(p, '}', 1);
		break;
	case '[':
		ok = j_members(p, ']', 0);
		break;
	case '"':
		ok = j_string(p);
		break;
	case 't':
		ok = j_lit(p, "true");
		break;
	case 'f':
		ok = j_lit(p, "false");
		break;
	case 'n':
		ok = j_lit(p, "null");
		break;
	default:
		ok = j_number(p);
		break;
	}
	p->depth--;
	return ok;
}

static int json_valid(const char *s, size_t n)
{
	struct jp p = { (const unsigned char *)s, n, 0, 0 };

	j_ws(&p);
	if (!j_value(&p))
		return 0;
	j_ws(&p);
	return p.i == n;
}

Test(json, own_validator_rejects_what_it_should)
{
	const char *ok = "{\"a\":[1,-0.5,2e3,true,null,\"\\u00e9\\ud83d\\ude00\"]}";

	cr_assert(json_valid(ok, strlen(ok)));
	cr_assert(!json_valid(ok, strlen(ok) - 1));
	cr_assert(!json_valid("{\"a\":NaN}", 9));
	cr_assert(!json_valid("{\"a\":01}", 8));
	cr_assert(!json_valid("\"\x01\"", 3));
	cr_assert(!json_valid("\"\xff\"", 3));
	cr_assert(!json_valid("\"\\x\"", 4));
	cr_assert(!json_valid("\"\\udc00\"", 8));
	cr_assert(!json_valid("[1,]", 4));
	cr_assert(!json_valid("{} {}", 5));
}

Test(json, ok_report_structure)
{
	struct report r;
	struct sbuf out;
	char py[1024];

	ok_report(&r);
	render(&r, OUTPUT_JSON, 0, &out);
	cr_assert(json_valid(out.data, out.len - 1), "%s", out.data);
	cr_assert_eq(strchr(out.data, '\n'), out.data + out.len - 1, "one line, newline-terminated");
	cr_assert(strstr(out.data, "{\"state\":\"OK\",\"exit_code\":0,\"summary\":\"INBOX: 3 messages\","
				   "\"failed_step\":null,\"time\":0.012345,\"timeout\":10,") == out.data,
		  "%s", out.data);
	cr_assert(strstr(out.data, "{\"name\":\"connect\",\"outcome\":\"ok\",\"state\":\"OK\","
				   "\"duration\":0.001200,\"message\":\"127.0.0.1:143\",\"values\":{}}"),
		  "%s", out.data);
	cr_assert(strstr(out.data, "\"outcome\":\"skipped\""), "%s", out.data);
	cr_assert(strstr(out.data, "\"values\":{\"messages\":3}"), "%s", out.data);
	cr_assert(strstr(out.data, "{\"label\":\"time\",\"value\":0.012345,\"uom\":\"s\",\"warn\":\"1\","
				   "\"crit\":\"5\",\"min\":0,\"max\":10}"),
		  "%s", out.data);
	cr_assert(strstr(out.data, "\"info\":{\"tls_version\":\"TLSv1.3\"},\"lines\":[]}"), "%s", out.data);
	int st = tu_python_json(out.data, out.len, "[d[\"state\"], len(d[\"steps\"]), len(d[\"perfdata\"])]",
			     py, sizeof py);
	if (st == 127)
		cr_skip_test("python3 not available (own validator passed)");
	cr_assert_eq(st, 0, "python rejected: %s", out.data);
	cr_assert_str_eq(py, "['OK', 4, 5]");
	sb_free(&out);
}

Test(json, failure_report_names_the_step)
{
	struct report r;
	struct sbuf out;

	failed_report(&r);
	render(&r, OUTPUT_JSON, 0, &out);
	cr_assert(json_valid(out.data, out.len), "%s", out.data);
	cr_assert(strstr(out.data, "\"state\":\"CRITICAL\",\"exit_code\":2,"), "%s", out.data);
	cr_assert(strstr(out.data, "\"failed_step\":\"auth\""), "%s", out.data);
	cr_assert(strstr(out.data, "\"outcome\":\"failed\",\"state\":\"CRITICAL\",\"duration\":0.003000"),
		  "%s", out.data);
	sb_free(&out);
}

Test(json, hostile_bytes_stay_valid_json)
{
	struct report r;
	struct sbuf out;
	char py[4096];

	hostile_report(&r);
	render(&r, OUTPUT_JSON, 0, &out);
	cr_assert(json_valid(out.data, out.len), "%s", out.data);
	for (size_t i = 0; i + 1 < out.len; i++)
		cr_assert((unsigned char)out.data[i] >= 0x20, "raw control byte at %zu", i);
	cr_assert(strstr(out.data, "\"failed_step\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), "%s", out.data);
	cr_assert(strstr(out.data, "\"value\":null,\"uom\":\"s\",\"warn\":null"), "%s", out.data);
	cr_assert(strstr(out.data, "\"k\\\"|\":null"), "%s", out.data);
	int st = tu_python_json(out.data, out.len, "d[\"summary\"]", py, sizeof py);
	if (st == 127)
		cr_skip_test("python3 not available (own validator passed)");
	cr_assert_eq(st, 0, "python rejected: %s", out.data);
	cr_assert_str_eq(py, "'a|b\\nc\\r\"q\" \\\\ \\x1b[31m \\x01\\x7f \\ufffd\\ufffd \\ufffd( \\u2028 "
			     "\\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd \\x9b ok'");
	sb_free(&out);
}

static const char *jstr(const char *s)
{
	static char mem[256];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	output_json_string(&sb, s);
	return mem;
}

Test(json, string_escapes_exact)
{
	cr_assert_str_eq(jstr("plain"), "\"plain\"");
	cr_assert_str_eq(jstr("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
	cr_assert_str_eq(jstr("\n\r\t\b\x01\x1f\x7f"), "\"\\n\\r\\t\\u0008\\u0001\\u001f\\u007f\"");
	cr_assert_str_eq(jstr("\xc3\xa9\xf0\x9f\x98\x80"), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
	cr_assert_str_eq(jstr("a\xff" "b\xc3"), "\"a\\ufffdb\\ufffd\"");
	cr_assert_str_eq(jstr("\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u2028\\u2029\"");
	cr_assert_str_eq(jstr(NULL), "null");
}

Test(json, non_finite_numbers_are_null)
{
	struct report r;
	struct sbuf out;

	report_init(&r, INFINITY);
	report_perf(&r, "n", NAN, "", 0, NULL);
	struct perf *p = report_perf(&r, "i", -INFINITY, "", 0, NULL);
	p->has_min = 1;
	p->min = NAN;
	struct step *s = report_step_begin(&r, "x", 0);
	report_step_end(s, 0, STEP_OK, STATE_OK, "%s", "");
	step_value(s, "v", INFINITY, NULL);
	render(&r, OUTPUT_JSON, 0, &out);
	cr_assert(json_valid(out.data, out.len), "%s", out.data);
	cr_assert_null(strstr(out.data, ":nan"));
	cr_assert_null(strstr(out.data, "inf,"));
	cr_assert_null(strstr(out.data, "inf}"));
	cr_assert(strstr(out.data, "\"time\":null,\"timeout\":null"), "%s", out.data);
	cr_assert(strstr(out.data, "\"label\":\"n\",\"value\":null"), "%s", out.data);
	cr_assert(strstr(out.data, "\"values\":{\"v\":null}"), "%s", out.data);
	sb_free(&out);
}

/* ================================================================ prometheus */

/* Strict text exposition format check (tu_prom_parse); returns NULL or
 * what is wrong. */
static const char *prom_check(const char *text, size_t len)
{
	static struct tu_prom series;

	return tu_prom_parse(&series, text, len);
}

Test(prometheus, own_checker_rejects_what_it_should)
{
	const char *good = "# HELP a x\n# TYPE a gauge\na{s=\"q\\\"\"} 1\na{s=\"r\"} NaN\n";
	const char *bad[] = {
		"# HELP a x\n# TYPE a gauge\na 1\na 2\n",
		"# HELP a x\n# TYPE a gauge\nb 1\n",
		"# HELP a x\n# TYPE a gauge\na 1,5\n",
		"# HELP a x\n# TYPE a gauge\na{s=\"\\x\"} 1\n",
		"# HELP a x\n# TYPE a gauge\na 1",
		"# HELP a x\n# TYPE a gauge\n# HELP a x\n# TYPE a gauge\n",
		"# HELP a-b x\n# TYPE a-b gauge\n",
	};

	cr_assert_null(prom_check(good, strlen(good)), "%s", prom_check(good, strlen(good)));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_not_null(prom_check(bad[i], strlen(bad[i])), "accepted case %zu", i);
}

static void assert_prom_line(const struct sbuf *out, const char *line)
{
	char want[300];

	snprintf(want, sizeof want, "\n%s\n", line);
	cr_assert(strstr(out->data, want) != NULL || strncmp(out->data, want + 1, strlen(want) - 1) == 0,
		  "missing '%s' in:\n%s", line, out->data);
}

Test(prometheus, ok_report)
{
	struct report r;
	struct sbuf out;

	ok_report(&r);
	report_perf(&r, "fetched", 2048, "B", 0, NULL);
	report_info(&r, "cert_not_after", "%d", 1767225600);
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	const char *why = prom_check(out.data, out.len);
	cr_assert_null(why, "%s in:\n%s", why, out.data);
	cr_assert(strncmp(out.data, "# HELP probe_success ", 21) == 0);
	assert_prom_line(&out, "# TYPE probe_success gauge");
	assert_prom_line(&out, "probe_success 1");
	assert_prom_line(&out, "probe_imap_state 0");
	assert_prom_line(&out, "probe_duration_seconds 0.012345");
	assert_prom_line(&out, "probe_imap_step_duration_seconds{step=\"connect\"} 0.001200");
	assert_prom_line(&out, "probe_imap_step_success{step=\"examine\"} 1");
	assert_prom_line(&out, "probe_imap_messages 3");
	assert_prom_line(&out, "probe_imap_fetched_bytes 2048");
	assert_prom_line(&out, "probe_ssl_earliest_cert_expiry 1767225600");
	assert_prom_line(&out, "probe_tls_version_info{version=\"TLSv1.3\"} 1");
	cr_assert_null(strstr(out.data, "capability"), "skipped steps are not exported");
	cr_assert_null(strstr(out.data, "probe_imap_time"), "seconds perf items are not gauges");
	sb_free(&out);
}

Test(prometheus, failure_and_warning_success_values)
{
	struct report r;
	struct sbuf out;

	failed_report(&r);
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	cr_assert_null(prom_check(out.data, out.len), "%s", out.data);
	assert_prom_line(&out, "probe_success 0");
	assert_prom_line(&out, "probe_imap_state 2");
	assert_prom_line(&out, "probe_imap_step_success{step=\"auth\"} 0");
	assert_prom_line(&out, "probe_imap_step_success{step=\"greeting\"} 1");
	assert_prom_line(&out, "probe_imap_step_duration_seconds{step=\"auth\"} 0.003000");
	sb_free(&out);
	/* a WARNING is not a success: probe_success == 0 is the one alert
	 * rule a Prometheus user writes; probe_imap_state grades it */
	r.state = STATE_WARNING;
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	assert_prom_line(&out, "probe_success 0");
	assert_prom_line(&out, "probe_imap_state 1");
	sb_free(&out);
	r.state = STATE_OK;
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	assert_prom_line(&out, "probe_success 1");
	sb_free(&out);
	r.state = STATE_UNKNOWN;
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	assert_prom_line(&out, "probe_success 0");
	sb_free(&out);
}

Test(prometheus, hostile_names_escaped_and_collisions_dropped)
{
	struct report r;
	struct sbuf out;

	hostile_report(&r);
	fixed_step(&r, "greeting", STEP_OK, STATE_OK, 5, "");
	report_perf(&r, "state", 9, "", 0, NULL);        /* would repeat probe_imap_state */
	report_perf(&r, "step_success", 9, "", 0, NULL); /* and this one a step family */
	report_perf(&r, "a-b", 1, "", 0, NULL);
	report_perf(&r, "a b", 2, "", 0, NULL);          /* same metric name as a-b */
	report_perf(&r, "n\xc3\xa9w", NAN, "", 0, NULL);
	report_info(&r, "cert_not_after", "soon; rm -rf");
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	const char *why = prom_check(out.data, out.len);
	cr_assert_null(why, "%s in:\n%s", why, out.data);
	assert_prom_line(&out, "probe_imap_step_duration_seconds{step=\"gr\\\"ee\\\\t ing\"} 0.002000");
	assert_prom_line(&out, "probe_imap_state 2");
	assert_prom_line(&out, "probe_imap_a_b 1");
	assert_prom_line(&out, "probe_imap_n__w NaN");
	cr_assert_null(strstr(out.data, "probe_ssl_earliest_cert_expiry"));
	sb_free(&out);
}

Test(prometheus, empty_report_is_still_valid)
{
	struct report r;
	struct sbuf out;

	report_init(&r, 10);
	render(&r, OUTPUT_PROMETHEUS, 0, &out);
	cr_assert_null(prom_check(out.data, out.len), "%s", out.data);
	cr_assert_str_eq(out.data,
			 "# HELP probe_success 1 when the check is OK (every step worked, no threshold crossed), else 0\n"
			 "# TYPE probe_success gauge\n"
			 "probe_success 1\n"
			 "# HELP probe_imap_state Nagios state of the check: 0 OK, 1 WARNING, 2 CRITICAL, "
			 "3 UNKNOWN\n"
			 "# TYPE probe_imap_state gauge\n"
			 "probe_imap_state 0\n");
	sb_free(&out);
}

Test(output, renderers_append_and_fit_the_bound)
{
	struct report r;
	struct sbuf out;
	char big[600];

	memset(big, '\xff', sizeof big - 1); /* worst case for JSON: 6 bytes per byte */
	big[sizeof big - 1] = '\0';
	report_init(&r, 1e300);
	for (int i = 0; i < REPORT_MAX_STEPS; i++) {
		struct step *s = report_step_begin(&r, big, 0);
		report_step_end(s, 0, STEP_OK, STATE_OK, "%s", big);
		memset(s->name, '\x01', sizeof s->name);
		memset(s->msg, '\xff', sizeof s->msg);
		for (int k = 0; k < STEP_MAX_VALUES; k++) {
			char key[8];
			snprintf(key, sizeof key, "k%d", k);
			step_value(s, key, -1e308, NULL);
		}
	}
	memset(r.summary, '\xff', sizeof r.summary);
	for (int i = 0; i < REPORT_MAX_PERF; i++) {
		char l[32];
		snprintf(l, sizeof l, "%030d", i);
		struct perf *p = report_perf(&r, l, -1e308, "B", 9, NULL);
		p->has_min = p->has_max = 1;
		p->min = p->max = -1e308;
	}
	for (int i = 0; i < REPORT_MAX_INFO; i++)
		report_info(&r, big + i, "%s", big);
	for (int i = 0; i < REPORT_MAX_LINES; i++)
		report_line(&r, "%s", big);
	for (int f = OUTPUT_NAGIOS; f <= OUTPUT_PROMETHEUS; f++) {
		render(&r, (enum output_format)f, 3, &out);
		cr_assert_gt(out.len, 10000);
		if (f == OUTPUT_JSON)
			cr_assert(json_valid(out.data, out.len));
		if (f == OUTPUT_PROMETHEUS)
			cr_assert_null(prom_check(out.data, out.len), "%s", prom_check(out.data, out.len));
		size_t first = out.len;
		output_render(&r, (enum output_format)f, 3, &out);
		cr_assert(!out.truncated);
		cr_assert_eq(out.len, 2 * first, "renderers append");
		cr_assert_lt(out.len, OUTPUT_MAX_SIZE);
		sb_free(&out);
	}
}
