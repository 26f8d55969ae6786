/* test_hostile.c - the hostile-server matrix: the real check_imap_session
 * binary ($PROBE, see runprobe.h) against the scripted fake server
 * (tests/fake/fakeimap.py, see fakeserver.h).
 *
 * Every case asserts the exit code, the step named in the first line, a
 * wall-time bound, and that stdout is clean: one status line
 * "IMAP <STATE> - <summary> | <perfdata>" with valid perfdata, no control
 * bytes, no terminal escapes, valid UTF-8, no stray '|' anywhere, and never
 * the password.  Where credentials are at stake it also asserts, from the
 * fake's record, that the password (raw or base64 at any alignment) never
 * reached the server.
 *
 * Each test runs its own fake on a free loopback port: safe under
 * Criterion's parallel jobs. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define USER "probeuser"
#define PASS "S3cret-Pa55word-7x"

/* Peak RSS the probe may reach under the worst of these cases: 20 MB, or
 * the RSS of a normal session against the same fake plus 8 MB, whichever
 * is larger (a normal session is about 4 MB; sanitizer builds start much
 * higher).  Either way a probe that buffered a 50 MB line fails. */
#define MAX_RSS_KB (20 * 1024)
#define MAX_RSS_OVER_BASELINE_KB (8 * 1024)

/* Hard limit after which runprobe kills the binary (a failure in itself). */
#define HARD_S 20.0

/* ---------------------------------------------------------------- scenarios
 * Building blocks in the fake's language (see tests/fake/fakeimap.py).  The
 * probe's flight for the mailbox step is "STATUS mbox (UNSEEN)" pipelined
 * with "EXAMINE mbox"; the fake reads them in order. */

#define CAPS "IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+"
#define GREETING "line * OK [CAPABILITY " CAPS "] fake server ready\n"
#define GREETING_STARTTLS "line * OK [CAPABILITY " CAPS " STARTTLS] fake server ready\n"

#define LOGIN_OK \
	"expect LOGIN\n" \
	"line $TAG OK [CAPABILITY IMAP4rev1] Logged in\n"
#define AUTH_OK \
	"expect (LOGIN|AUTHENTICATE)\n" \
	"line $TAG OK [CAPABILITY IMAP4rev1] Logged in\n"
#define EXAMINE_UNTAGGED \
	"line * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n" \
	"line * 3 EXISTS\n" \
	"line * 0 RECENT\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line * OK [UIDNEXT 4] Predicted next UID\n"
#define EXAMINE_OK \
	FAKE_STATUS_OK \
	"expect EXAMINE\n" \
	EXAMINE_UNTAGGED \
	"line $TAG OK [READ-ONLY] EXAMINE completed\n"
#define FETCH_PREFIX \
	"send * 3 FETCH (UID 3 RFC822.SIZE 321 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" " \
	"BODY[HEADER.FIELDS (SUBJECT DATE FROM)] "
#define FETCH_OK \
	"expect (UID )?FETCH\n" \
	FETCH_PREFIX "\n" \
	"sendliteral Subject: probe\\r\\nFrom: a@example.org\\r\\n" \
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\\r\\n\\r\\n\n" \
	"line )\n" \
	"line $TAG OK FETCH completed\n"
/* After a failure the probe may or may not say LOGOUT: answer it if it
 * does, and otherwise notice it closing. */
#define TAIL FAKE_LOGOUT_OK

#define SESSION_AFTER_AUTH EXAMINE_OK FETCH_OK FAKE_LOGOUT_OK
#define SESSION GREETING LOGIN_OK SESSION_AFTER_AUTH

/* ---------------------------------------------------------------- helpers */

/* Run the probe against PORT (NULL: the fake's) with the usual credentials
 * plus the extra arguments (NULL-terminated); stop the fake afterwards. */
static void run_v(struct fake_case *c, const char *port, va_list ap)
{
	const char *args[48];

	tu_va_args(args, sizeof args / sizeof *args, ap);
	fake_case_probe(c, port, HARD_S * cis_time_factor(), (const char *const[]){"-U", USER, "-P", PASS, NULL}, args);
}

static void run_fake(struct fake_case *c, const char *scenario, ...)
{
	va_list ap;
	memset(c, 0, sizeof *c);
	fake_case_start(c, scenario, 1);
	va_start(ap, scenario);
	run_v(c, NULL, ap);
	va_end(ap);
}

static void run_port(struct fake_case *c, const char *port, ...)
{
	va_list ap;
	memset(c, 0, sizeof *c);
	va_start(ap, port);
	run_v(c, port, ap);
	va_end(ap);
}

/* Monitoring Plugins perfdata: 'label'=value[UOM];[warn];[crit];[min];[max]
 * items separated by spaces.  Returns NULL if valid, else why not. */
static const char *perfdata_error(const char *p)
{
	int items = 0;

	while (*p == ' ')
		p++;
	while (*p) {
		/* label */
		if (*p == '\'') {
			p++;
			const char *start = p;
			for (;;) {
				if (!*p)
					return "unterminated quoted label";
				if (*p == '\'' && p[1] == '\'') {
					p += 2;
					continue;
				}
				if (*p == '\'')
					break;
				if (*p == '=')
					return "'=' inside a label";
				p++;
			}
			if (p == start)
				return "empty label";
			p++;
		} else {
			const char *start = p;
			while (*p && *p != '=' && *p != ' ' && *p != '\'')
				p++;
			if (p == start)
				return "empty label";
			if (*p != '=')
				return "label without '=' (space or quote in an unquoted label?)";
		}
		if (*p++ != '=')
			return "missing '='";
		/* value */
		if (*p == 'U' && (p[1] == ';' || p[1] == ' ' || !p[1])) {
			p++;
		} else {
			int digits = 0;
			if (*p == '-')
				p++;
			while ((*p >= '0' && *p <= '9') || *p == '.') {
				digits += *p != '.';
				p++;
			}
			if (!digits)
				return "value is not a number";
			if (*p == ',')
				return "decimal comma in a value";
			/* UOM */
			while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '%')
				p++;
		}
		/* warn;crit;min;max */
		for (int f = 0; f < 4 && *p == ';'; f++) {
			p++;
			while ((*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
			       (f < 2 && (*p == ':' || *p == '~' || *p == '@')))
				p++;
			if (*p == ',')
				return "decimal comma in a threshold";
		}
		if (*p && *p != ' ')
			return "garbage after a perfdata item";
		while (*p == ' ')
			p++;
		items++;
	}
	return items ? NULL : "no perfdata items";
}

/* The output contract, for every case. */
static void assert_clean_output(const struct fake_case *c)
{
	const struct probe_run *r = &c->r;
	const unsigned char *o = (const unsigned char *)r->out;
	size_t pipes = 0;

	cr_assert_not_null(r->out, "no stdout captured%s", c->diag);
	cr_assert_eq(strlen(r->out), r->out_len, "NUL byte in stdout%s", c->diag);
	cr_assert_gt(r->out_len, 0, "empty stdout%s", c->diag);
	for (size_t i = 0; i < r->out_len;) {
		size_t k;
		if (o[i] == '|')
			pipes++;
		cr_assert(o[i] == '\n' || (o[i] >= 0x20 && o[i] != 0x7f),
			  "control byte 0x%02x at offset %zu of stdout%s", o[i], i, c->diag);
		k = tu_utf8_len(o + i, r->out_len - i);
		cr_assert(k > 0 && !(o[i] == 0xc2 && o[i + 1] <= 0x9f), /* C1: U+0080..U+009F */
			  "invalid UTF-8 or C1 control at offset %zu of stdout%s", i, c->diag);
		i += k;
	}
	cr_assert_eq(pipes, 1, "%zu '|' in stdout; exactly one (the perfdata separator) allowed%s", pipes, c->diag);

	const char *nl = strchr(r->out, '\n');
	size_t flen = nl ? (size_t)(nl - r->out) : r->out_len;
	char *first = strndup(r->out, flen);
	char prefix[64];
	const char *bar = strchr(first, '|');
	const char *why;

	snprintf(prefix, sizeof prefix, "IMAP %s - ", (unsigned)r->exit_code < 4 ? tu_state_name[r->exit_code] : "?");
	cr_assert(!strncmp(first, prefix, strlen(prefix)), "first line does not start with \"%s\"%s", prefix, c->diag);
	cr_assert_not_null(bar, "no perfdata on the first line%s", c->diag);
	cr_assert(bar > first && bar[-1] == ' ', "no blank before '|'%s", c->diag);
	why = perfdata_error(bar + 1);
	cr_assert_null(why, "invalid perfdata (%s)%s", why ? why : "", c->diag);
	free(first);

	/* the password never shows, in any form */
	cr_assert(!fake_buf_contains_secret((const unsigned char *)r->out, r->out_len, PASS),
		  "the password appears in stdout%s", c->diag);
	cr_assert(!r->err || !fake_buf_contains_secret((const unsigned char *)r->err, r->err_len, PASS),
		  "the password appears in stderr%s", c->diag);
	/* Everything goes to stdout; stderr output means a sanitizer report
	 * (UBSan does not change the exit code) or a stray message. */
	probe_expect_no_stderr(r, c->diag);
}

/* Exit code, clean output, wall-time bounds, needles in the summary. */
static void check(const struct fake_case *c, int code, double min_wall, double max_wall, ...)
{
	va_list ap;

	probe_expect_state(&c->r, code, c->diag);
	assert_clean_output(c);
	va_start(ap, max_wall);
	probe_expect_summary_va(&c->r, 1, c->diag, ap);
	va_end(ap);
	if (getenv("HOSTILE_VERBOSE"))
		fprintf(stderr, "[%.3fs %ldkB] %s\n", c->r.wall_s, c->r.maxrss_kb, c->r.first_line);
	max_wall *= cis_time_factor();
	cr_assert_leq(c->r.wall_s, max_wall, "took %.3f s, bound %.1f s%s", c->r.wall_s, max_wall, c->diag);
	cr_assert_geq(c->r.wall_s, min_wall, "took %.3f s, expected at least %.1f s%s", c->r.wall_s, min_wall, c->diag);
}

static void check_no_password(struct fake_case *c)
{
	cr_assert(!fake_saw(c->fs, PASS), "the password reached the server%s", c->diag);
}

/* Peak RSS of a normal plain session, measured the same way. */
static long baseline_rss_kb(void)
{
	struct fake_case b;
	long kb;

	run_fake(&b, SESSION, "--auth", "login", "-t", "5", NULL);
	cr_assert_eq(b.r.exit_code, 0, "baseline session failed%s", b.diag);
	kb = b.r.maxrss_kb;
	fake_case_done(&b);
	return kb;
}

static void check_rss(const struct fake_case *c)
{
	long base = baseline_rss_kb();
	long bound = base + MAX_RSS_OVER_BASELINE_KB > MAX_RSS_KB ? base + MAX_RSS_OVER_BASELINE_KB : MAX_RSS_KB;

	cr_assert_gt(c->r.maxrss_kb, 0, "no maxrss measured%s", c->diag);
	cr_assert_lt(c->r.maxrss_kb, bound, "peak RSS %ld kB, bound %ld kB (normal session: %ld kB)%s",
		     c->r.maxrss_kb, bound, base, c->diag);
}

/* SCENARIO with every send/line preceded by "split N GAP": each server
 * response reaches the probe in N-byte pieces. */
static char *with_split(const char *scenario, const char *split)
{
	size_t cap = strlen(scenario) * 4 + 64, len = 0;
	char *out = malloc(cap);
	const char *p = scenario;

	cr_assert_not_null(out);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!strncmp(p, "send ", 5) || !strncmp(p, "line ", 5) || !strncmp(p, "sendliteral ", 12))
			len += (size_t)snprintf(out + len, cap - len, "split %s\n", split);
		memcpy(out + len, p, n);
		len += n;
		p += n;
	}
	out[len] = '\0';
	return out;
}

/* ---------------------------------------------------------------- controls
 * The happy paths against the same fake: if these fail, the scenarios (not
 * the probe) are out of step and every other verdict is void. */

TestSuite(hostile, .timeout = 60);

Test(hostile, control_plain_session_ok)
{
	struct fake_case c;
	run_fake(&c, SESSION, "--auth", "login", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	cr_assert_eq(c.fake_status, 0, "the fake's scenario did not play to its end%s", c.diag);
	cr_assert(fake_saw(c.fs, PASS), "control: the password should have been sent (LOGIN)%s", c.diag);
	fake_case_done(&c);
}

Test(hostile, control_one_byte_writes)
{
	struct fake_case c;
	char *scn = with_split(SESSION, "1 0.0005");
	run_fake(&c, scn, "--auth", "login", "-t", "8", NULL);
	check(&c, 0, 0, 6.0, "INBOX", NULL);
	cr_assert_eq(c.fake_status, 0, "the fake's scenario did not play to its end%s", c.diag);
	free(scn);
	fake_case_done(&c);
}

Test(hostile, control_odd_chunks)
{
	struct fake_case c;
	char *scn = with_split(SESSION, "7 0.001");
	run_fake(&c, scn, "--auth", "login", "-t", "8", NULL);
	check(&c, 0, 0, 6.0, "INBOX", NULL);
	free(scn);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- connect */

Test(hostile, connection_refused)
{
	struct fake_case c;
	char port[16];
	int p, fd = fake_refusing_port(&p);

	cr_assert_geq(fd, 0, "could not reserve a port");
	snprintf(port, sizeof port, "%d", p);
	run_port(&c, port, "--auth", "login", "-t", "5", NULL);
	close(fd);
	check(&c, 2, 0, 1.5, "connect", NULL);
	fake_case_done(&c);
}

Test(hostile, connect_timeout)
{
	struct fake_blackhole bh;
	struct fake_case c;
	char port[16];

	cr_assert_eq(fake_blackhole_open(&bh), 0, "could not make a blackhole port");
	snprintf(port, sizeof port, "%d", bh.port);
	run_port(&c, port, "--auth", "login", "-t", "2", NULL);
	fake_blackhole_close(&bh);
	check(&c, 2, 1.8, 2.6, "timeout during connect", NULL);
	fake_case_done(&c);
}

Test(hostile, connect_timeout_state_warning)
{
	struct fake_blackhole bh;
	struct fake_case c;
	char port[16];

	cr_assert_eq(fake_blackhole_open(&bh), 0, "could not make a blackhole port");
	snprintf(port, sizeof port, "%d", bh.port);
	run_port(&c, port, "--auth", "login", "-t", "2:warning", NULL);
	fake_blackhole_close(&bh);
	check(&c, 1, 1.8, 2.6, "timeout during connect", NULL);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- greeting */

Test(hostile, silent_server)
{
	struct fake_case c;
	run_fake(&c, "stall\n", "--auth", "login", "-t", "2", NULL);
	check(&c, 2, 1.8, 2.6, "timeout during greeting", NULL);
	fake_case_done(&c);
}

Test(hostile, greeting_bye)
{
	struct fake_case c;
	run_fake(&c, "line * BYE [UNAVAILABLE] Server overloaded, try later\nclose\n", "--auth", "login", "-t", "5",
		 NULL);
	check(&c, 2, 0, 1.5, "greeting", "Server overloaded", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, greeting_garbage_text)
{
	struct fake_case c;
	run_fake(&c, "line HTTP/1.1 400 Bad Request\nstall\n", "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "greeting", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, greeting_garbage_binary)
{
	struct fake_case c;
	/* a TLS ServerHello-ish record, then a CRLF so the line ends */
	run_fake(&c, "sendraw 16 03 03 00 2a 02 00 00 26 03 03 ff fe 00 01 0d 0a\nstall\n", "--auth", "login", "-t",
		 "5", NULL);
	check(&c, 2, 0, 1.5, "greeting", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, greeting_then_close)
{
	struct fake_case c;
	run_fake(&c, GREETING "close\n", "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "auth", NULL);
	fake_case_done(&c);
}

Test(hostile, drip_one_byte_per_half_second)
{
	struct fake_case c;
	run_fake(&c, "drip 0.5\n" GREETING LOGIN_OK SESSION_AFTER_AUTH, "--auth", "login", "-t", "2", NULL);
	check(&c, 2, 1.8, 2.6, "timeout during greeting", NULL);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- limits */

Test(hostile, endless_line_in_greeting)
{
	struct fake_case c;
	run_fake(&c, "send * OK \nsendfill 50000000 x\nstall\n", "--auth", "login", "-t", "10", NULL);
	check(&c, 2, 0, 3.0, "greeting", NULL);
	check_rss(&c);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, endless_line_mid_session)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK FAKE_STATUS_OK
		 "expect EXAMINE\n"
		 "line * 3 EXISTS\n"
		 "send * OK [ALERT] \n"
		 "sendfill 50000000 A\\x20\n"
		 "stall\n",
		 "--auth", "login", "-t", "10", NULL);
	check(&c, 2, 0, 3.0, "examine", NULL);
	check_rss(&c);
	fake_case_done(&c);
}

static void huge_literal(const char *size)
{
	struct fake_case c;
	char scn[4096];

	snprintf(scn, sizeof scn,
		 GREETING LOGIN_OK EXAMINE_OK
		 "expect (UID )?FETCH\n"
		 FETCH_PREFIX "{%s}\\r\\n\n"
		 "sendfill 100000 y\n"
		 "stall\n",
		 size);
	run_fake(&c, scn, "--auth", "login", "-t", "3", NULL);
	check(&c, 2, 0, 3.6, "fetch", NULL);
	check_rss(&c);
	fake_case_done(&c);
}

Test(hostile, literal_99999999999)
{
	huge_literal("99999999999");
}

Test(hostile, literal_uint64_max)
{
	huge_literal("18446744073709551615");
}

Test(hostile, literal_uint64_max_plus_one)
{
	huge_literal("18446744073709551616");
}

Test(hostile, literal_4294967285)
{
	/* wraps to -11 in 32-bit arithmetic (isync CVE-2021-3657) */
	huge_literal("4294967285");
}

Test(hostile, literal_cut_short_by_close)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK EXAMINE_OK
		 "expect (UID )?FETCH\n"
		 FETCH_PREFIX "{200}\\r\\nSubject: cut sh\n"
		 "close\n",
		 "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "fetch", NULL);
	fake_case_done(&c);
}

Test(hostile, untagged_flood_200000)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK FAKE_STATUS_OK
		 "expect EXAMINE\n"
		 EXAMINE_UNTAGGED
		 "linerepeat 200000 * OK flood\n"
		 "line $TAG OK [READ-ONLY] EXAMINE completed\n"
		 FETCH_OK FAKE_LOGOUT_OK,
		 "--auth", "login", "-t", "10", NULL);
	/* the lead's limit: 100 000 untagged responses per command */
	check(&c, 2, 0, 5.0, "examine", NULL);
	check_rss(&c);
	fake_case_done(&c);
}

Test(hostile, untagged_50000_is_fine)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK FAKE_STATUS_OK
		 "expect EXAMINE\n"
		 EXAMINE_UNTAGGED
		 "linerepeat 50000 * OK flood\n"
		 "line $TAG OK [READ-ONLY] EXAMINE completed\n"
		 FETCH_OK FAKE_LOGOUT_OK,
		 "--auth", "login", "-t", "10", NULL);
	check(&c, 0, 0, 5.0, "INBOX", NULL);
	check_rss(&c);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- protocol */

Test(hostile, tagged_reply_with_unknown_tag)
{
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nline ZZZ999 OK LOGIN completed\nstall\n", "--auth", "login", "-t", "3",
		 NULL);
	check(&c, 2, 0, 3.6, "auth", NULL);
	fake_case_done(&c);
}

Test(hostile, bye_during_examine)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK
		 "expect STATUS\n"
		 "line * BYE [UNAVAILABLE] Server shutting down\n"
		 "close\n",
		 "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "examine", "Server shutting down", NULL);
	fake_case_done(&c);
}

/* NO and BAD at each step.  STEP is what the summary must name, TEXT the
 * server's words it must show. */
static void refusal(const char *scenario, const char *auth, const char *step, const char *text)
{
	struct fake_case c;
	run_fake(&c, scenario, "--auth", auth, "-t", "5", NULL);
	check(&c, 2, 0, 2.0, step, text, NULL);
	fake_case_done(&c);
}

#define REFUSE(kind, words) "line $TAG " kind " " words "\n"

Test(hostile, login_no)
{
	refusal(GREETING "expect LOGIN\n" REFUSE("NO", "[AUTHENTICATIONFAILED] Authentication failed.") TAIL,
		"login", "auth failed", "Authentication failed.");
}

Test(hostile, login_bad)
{
	refusal(GREETING "expect LOGIN\n" REFUSE("BAD", "Syntax error in LOGIN arguments") TAIL,
		"login", "auth failed", "Syntax error in LOGIN arguments");
}

Test(hostile, auth_plain_no)
{
	refusal(GREETING "expect AUTHENTICATE PLAIN\n" REFUSE("NO", "[AUTHENTICATIONFAILED] Authentication failed.")
		TAIL, "plain", "auth failed", "Authentication failed.");
}

Test(hostile, auth_plain_bad)
{
	refusal(GREETING "expect AUTHENTICATE PLAIN\n" REFUSE("BAD", "Invalid SASL argument") TAIL,
		"plain", "auth failed", "Invalid SASL argument");
}

Test(hostile, examine_no)
{
	refusal(GREETING LOGIN_OK FAKE_STATUS_OK "expect EXAMINE\n"
		REFUSE("NO", "[NONEXISTENT] Mailbox does not exist") TAIL,
		"login", "examine failed", "Mailbox does not exist");
}

Test(hostile, examine_bad)
{
	refusal(GREETING LOGIN_OK FAKE_STATUS_OK "expect EXAMINE\n" REFUSE("BAD", "Unknown command") TAIL,
		"login", "examine failed", "Unknown command");
}

Test(hostile, fetch_no)
{
	refusal(GREETING LOGIN_OK EXAMINE_OK "expect (UID )?FETCH\n"
		REFUSE("NO", "[SERVERBUG] Internal error occurred") TAIL,
		"login", "fetch failed", "Internal error occurred");
}

Test(hostile, fetch_bad)
{
	refusal(GREETING LOGIN_OK EXAMINE_OK "expect (UID )?FETCH\n" REFUSE("BAD", "Error in IMAP command FETCH")
		TAIL, "login", "fetch failed", "Error in IMAP command FETCH");
}

Test(hostile, logout_no)
{
	refusal(GREETING LOGIN_OK EXAMINE_OK FETCH_OK "expect LOGOUT\n" REFUSE("NO", "Logout refused") "close\n",
		"login", "logout failed", "Logout refused");
}

Test(hostile, logout_bad)
{
	refusal(GREETING LOGIN_OK EXAMINE_OK FETCH_OK "expect LOGOUT\n" REFUSE("BAD", "Unexpected LOGOUT")
		"close\n", "login", "logout failed", "Unexpected LOGOUT");
}

Test(hostile, status_no_is_reported_at_examine)
{
	/* STATUS rides with EXAMINE: its refusal must not be silently lost, nor
	 * may it break the session (EXAMINE can still count the messages). */
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK
		 "expect STATUS\n" REFUSE("NO", "STATUS not allowed")
		 "expect EXAMINE\n" EXAMINE_UNTAGGED "line $TAG OK [READ-ONLY] EXAMINE completed\n"
		 FETCH_OK FAKE_LOGOUT_OK,
		 "--auth", "login", "-t", "5", NULL);
	cr_assert(c.r.exit_code == 0 || c.r.exit_code == 2, "exit %d%s", c.r.exit_code, c.diag);
	if (c.r.exit_code == 2)
		check(&c, 2, 0, 2.0, "examine", NULL);
	else
		check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, logout_never_answered)
{
	struct fake_case c;
	run_fake(&c, GREETING LOGIN_OK EXAMINE_OK FETCH_OK "expect LOGOUT\nstall\n", "--auth", "login", "-t", "10",
		 NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, logout_answered_by_close)
{
	struct fake_case c;
	run_fake(&c, GREETING LOGIN_OK EXAMINE_OK FETCH_OK "expect LOGOUT\nclose\n", "--auth", "login", "-t", "10",
		 NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- authentication
 * The SASL exchanges the fake can script end to end.  Mechanism details
 * (SCRAM, OAuth) are unit-tested against their RFC vectors elsewhere. */

#define AUTH_THEN_SESSION(mech_caps, exchange) \
	"line * OK [CAPABILITY IMAP4rev1 " mech_caps "] fake server ready\n" \
	exchange \
	"line $TAG OK [CAPABILITY IMAP4rev1] Logged in\n" \
	SESSION_AFTER_AUTH

Test(hostile, logindisabled_is_respected)
{
	struct fake_case c;
	run_fake(&c, "line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED] ready\n" TAIL, "--auth", "login",
		 "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth", "LOGINDISABLED", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, auto_never_sends_plaintext_password_in_clear)
{
	struct fake_case c;
	run_fake(&c, GREETING TAIL, "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, auth_plain_without_sasl_ir)
{
	/* RFC 3501: no SASL-IR, so the initial response follows an empty
	 * "+ " continuation. */
	struct fake_case c;
	run_fake(&c, AUTH_THEN_SESSION("AUTH=PLAIN", "expect AUTHENTICATE PLAIN$\nline + \nexpectline .+\n"),
		 "--auth", "plain", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, auth_plain_bare_continuation)
{
	/* "+" without the trailing space: invalid per RFC 3501, common in
	 * practice. */
	struct fake_case c;
	run_fake(&c, AUTH_THEN_SESSION("AUTH=PLAIN", "expect AUTHENTICATE PLAIN$\nsend +\\r\\n\nexpectline .+\n"),
		 "--auth", "plain", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, auth_capability_mid_exchange)
{
	struct fake_case c;
	run_fake(&c,
		 AUTH_THEN_SESSION("AUTH=PLAIN",
				   "expect AUTHENTICATE PLAIN$\n"
				   "line * CAPABILITY IMAP4rev1 AUTH=PLAIN\n"
				   "line * OK still here\n"
				   "line + \n"
				   "expectline .+\n"),
		 "--auth", "plain", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, auth_login_prompts)
{
	struct fake_case c;
	run_fake(&c,
		 AUTH_THEN_SESSION("AUTH=LOGIN",
				   "expect AUTHENTICATE LOGIN$\n"
				   "line + VXNlcm5hbWU6\n"
				   "expectline cHJvYmV1c2Vy$\n"
				   "line + UGFzc3dvcmQ6\n"
				   "expectline .+\n"),
		 "--auth", "auth-login", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, auth_plain_unexpected_second_challenge)
{
	struct fake_case c;
	run_fake(&c,
		 GREETING "expect AUTHENTICATE PLAIN\n"
		 "line + \n"
		 "expectline .*\n"       /* the client's "*" (cancel) or anything */
		 "line + \n"
		 "expectline .*\n"
		 "line + \n"
		 "stall\n",
		 "--auth", "plain", "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth", NULL);
	fake_case_done(&c);
}

Test(hostile, auth_login_endless_prompts)
{
	struct fake_case c;
	run_fake(&c,
		 "line * OK [CAPABILITY IMAP4rev1 AUTH=LOGIN] ready\n"
		 "expect AUTHENTICATE LOGIN\n"
		 "line + VXNlcm5hbWU6\nexpectline .*\n"
		 "line + UGFzc3dvcmQ6\nexpectline .*\n"
		 "line + UGFzc3dvcmQ6\nexpectline .*\n"
		 "line + UGFzc3dvcmQ6\nexpectline .*\n"
		 "line + UGFzc3dvcmQ6\nexpectline .*\n"
		 "stall\n",
		 "--auth", "auth-login", "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth", NULL);
	fake_case_done(&c);
}

Test(hostile, bye_during_auth)
{
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nline * BYE Too many connections\nclose\n", "--auth", "login", "-t",
		 "5", NULL);
	check(&c, 2, 0, 1.5, "auth", "Too many connections", NULL);
	fake_case_done(&c);
}

Test(hostile, unexpected_continuation_to_login)
{
	/* "+" to a command that sent no literal: a protocol error (or at worst
	 * a timeout), never a hang past the deadline. */
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nline + go on\nstall\n", "--auth", "login", "-t", "3", NULL);
	check(&c, 2, 0, 3.6, "auth", NULL);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- hostile text */

#define EVIL "evil|pipe \\e[2J\\e]0;pwned\\a \\e[31mred\\e[0m bs\\x08\\x08 ctl\\x01\\x02\\x7f c1\\xc2\\x9b raw\\x9b tab\\there end"

Test(hostile, hostile_text_in_greeting_bye)
{
	struct fake_case c;
	run_fake(&c, "line * BYE " EVIL "\nclose\n", "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "greeting", "evil", NULL);
	fake_case_done(&c);
}

Test(hostile, hostile_text_in_no)
{
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nline $TAG NO [AUTHENTICATIONFAILED] " EVIL "\n" TAIL, "--auth", "login",
		 "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth failed", "evil", NULL);
	fake_case_done(&c);
}

Test(hostile, hostile_text_everywhere_with_trace)
{
	/* A successful session whose every server text is hostile, with -vvv:
	 * the long output and the protocol trace must be as clean as the
	 * status line. */
	struct fake_case c;
	run_fake(&c,
		 "line * OK [CAPABILITY " CAPS "] " EVIL "\n"
		 "expect LOGIN\nline $TAG OK " EVIL "\n"
		 "expect STATUS\nline * STATUS INBOX (UNSEEN 1)\nline $TAG OK " EVIL "\n"
		 "expect EXAMINE\n" EXAMINE_UNTAGGED "line * OK " EVIL "\nline $TAG OK [READ-ONLY] " EVIL "\n"
		 "expect (UID )?FETCH\n" FETCH_PREFIX "\n"
		 "sendliteral Subject: " EVIL "\\r\\nFrom: \\e[2Jx|y@example.org\\r\\n\\r\\n\n"
		 "line )\nline $TAG OK " EVIL "\n"
		 "expect LOGOUT\nline * BYE " EVIL "\nline $TAG OK " EVIL "\nclose\n",
		 "--auth", "login", "-t", "5", "-vvv", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, nul_in_no_text)
{
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nsend $TAG NO bad\\0password text\\r\\n\n" TAIL, "--auth", "login", "-t",
		 "5", NULL);
	check(&c, 2, 0, 2.0, "auth", NULL);
	fake_case_done(&c);
}

Test(hostile, nul_in_greeting)
{
	/* NUL is not allowed in IMAP text: a clean protocol error at the
	 * greeting, or tolerated; either way the output stays clean. */
	struct fake_case c;
	run_fake(&c, "send * OK [CAPABILITY " CAPS "] hello\\0world\\r\\n\n" LOGIN_OK SESSION_AFTER_AUTH, "--auth",
		 "login", "-t", "5", NULL);
	cr_assert(c.r.exit_code == 0 || c.r.exit_code == 2, "exit %d%s", c.r.exit_code, c.diag);
	if (c.r.exit_code == 2)
		check(&c, 2, 0, 2.0, "greeting", NULL);
	else
		check(&c, 0, 0, 2.0, "INBOX", NULL);
	fake_case_done(&c);
}

Test(hostile, alert_in_no_is_shown)
{
	struct fake_case c;
	run_fake(&c, GREETING "expect LOGIN\nline $TAG NO [ALERT] Your account is locked, call the helpdesk\n" TAIL,
		 "--auth", "login", "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "auth", "Your account is locked, call the helpdesk", NULL);
	fake_case_done(&c);
}

Test(hostile, untagged_alert_is_shown)
{
	/* RFC 3501 7.1: the ALERT text MUST be presented to the user. */
	struct fake_case c;
	run_fake(&c,
		 GREETING LOGIN_OK FAKE_STATUS_OK "expect EXAMINE\n" EXAMINE_UNTAGGED
		 "line * OK [ALERT] Maintenance tonight at 22:00 UTC\n"
		 "line $TAG OK [READ-ONLY] EXAMINE completed\n" FETCH_OK FAKE_LOGOUT_OK,
		 "--auth", "login", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, NULL);
	cr_assert_not_null(strstr(c.r.out, "Maintenance tonight at 22:00 UTC"), "ALERT text not shown%s", c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- timeout state */

Test(hostile, timeout_state_warning)
{
	struct fake_case c;
	run_fake(&c, "stall\n", "--auth", "login", "-t", "2:warning", NULL);
	check(&c, 1, 1.8, 2.6, "timeout during greeting", NULL);
	fake_case_done(&c);
}

Test(hostile, timeout_state_unknown)
{
	struct fake_case c;
	run_fake(&c, "stall\n", "--auth", "login", "-t", "2:unknown", NULL);
	check(&c, 3, 1.8, 2.6, "timeout during greeting", NULL);
	fake_case_done(&c);
}

Test(hostile, timeout_state_unknown_mid_session)
{
	struct fake_case c;
	run_fake(&c, GREETING LOGIN_OK FAKE_STATUS_OK "expect EXAMINE\nline * 3 EXISTS\nstall\n", "--auth", "login", "-t",
		 "2:unknown", NULL);
	check(&c, 3, 1.8, 2.6, "timeout during examine", NULL);
	fake_case_done(&c);
}

Test(hostile, timeout_state_warning_tls)
{
	struct fake_case c;
	run_fake(&c, "stall_handshake\n", "-S", "--insecure", "-t", "2:warning", NULL);
	check(&c, 1, 1.8, 2.6, "timeout during tls", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- implicit TLS */

/* BEFORE, then "CMD CERT KEY", then AFTER. */
static char *tls_scenario(const struct fake_certs *certs, const char *before, const char *cmd, const char *after)
{
	char *s = NULL;
	cr_assert_geq(asprintf(&s, "%s%s %s %s\n%s", before, cmd, certs->cert, certs->key, after ? after : ""), 0);
	return s;
}

static void make_certs(struct fake_certs *certs)
{
	cr_assert_eq(fake_certs_make(certs), 0, "could not make test certificates (openssl CLI?)");
}

Test(hostile, control_implicit_tls_ok)
{
	struct fake_certs certs;
	struct fake_case c;
	char *scn;

	make_certs(&certs);
	scn = tls_scenario(&certs, "", "tls", GREETING AUTH_OK SESSION_AFTER_AUTH);
	run_fake(&c, scn, "-S", "--insecure", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	cr_assert_eq(c.fake_status, 0, "the fake's scenario did not play to its end%s", c.diag);
	cr_assert(fake_saw(c.fs, PASS), "control: the password should have been sent under TLS%s", c.diag);
	cr_assert(!fake_saw_clear(c.fs, PASS), "the password crossed the wire in clear%s", c.diag);
	free(scn);
	fake_certs_remove(&certs);
	fake_case_done(&c);
}

Test(hostile, plaintext_server_on_tls_port)
{
	struct fake_case c;
	run_fake(&c, GREETING "stall\n", "-S", "--insecure", "-t", "5", NULL);
	check(&c, 2, 0, 2.0, "tls", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, tls_handshake_stall)
{
	struct fake_case c;
	run_fake(&c, "stall_handshake\n", "-S", "--insecure", "-t", "2", NULL);
	check(&c, 2, 1.8, 2.6, "timeout during tls", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

Test(hostile, tls_handshake_stall_after_server_hello)
{
	struct fake_certs certs;
	struct fake_case c;
	char *scn;

	make_certs(&certs);
	scn = tls_scenario(&certs, "", "tls_stall", NULL);
	run_fake(&c, scn, "-S", "--insecure", "-t", "2", NULL);
	check(&c, 2, 1.8, 2.6, "timeout during tls", NULL);
	check_no_password(&c);
	free(scn);
	fake_certs_remove(&certs);
	fake_case_done(&c);
}

Test(hostile, tls_close_mid_handshake)
{
	struct fake_case c;
	/* read the ClientHello, answer with half a record, hang up */
	run_fake(&c, "sleep 0.2\nsendraw 16 03 03 00 40 02 00 00\nclose\n", "-S", "--insecure", "-t", "5", NULL);
	check(&c, 2, 0, 1.5, "tls", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- STARTTLS attacks */

Test(hostile, control_starttls_ok)
{
	struct fake_certs certs;
	struct fake_case c;
	char *scn;

	make_certs(&certs);
	scn = tls_scenario(&certs,
			   GREETING_STARTTLS
			   "expect STARTTLS\n"
			   "line $TAG OK Begin TLS negotiation now\n",
			   "starttls",
			   /* pre-TLS capabilities are void: the probe asks again */
			   "expect CAPABILITY\n"
			   "line * CAPABILITY " CAPS "\n"
			   "line $TAG OK CAPABILITY completed\n"
			   AUTH_OK SESSION_AFTER_AUTH);
	run_fake(&c, scn, "--starttls", "--insecure", "-t", "5", NULL);
	check(&c, 0, 0, 2.0, "INBOX", NULL);
	cr_assert_eq(c.fake_status, 0, "the fake's scenario did not play to its end%s", c.diag);
	cr_assert(fake_saw(c.fs, PASS), "control: the password should have been sent under TLS%s", c.diag);
	cr_assert(!fake_saw_clear(c.fs, PASS), "the password crossed the wire in clear%s", c.diag);
	free(scn);
	fake_certs_remove(&certs);
	fake_case_done(&c);
}

/* After an attack the fake keeps listening (and, where a handshake could
 * follow, does TLS) so that a probe that carried on would be caught
 * sending the password. */
static void starttls_attack(const char *scenario, const char *step)
{
	struct fake_case c;
	run_fake(&c, scenario, "--starttls", "--insecure", "-t", "5", NULL);
	check(&c, 2, 0, 2.5, step, NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

#define PLAINTEXT_TRAP \
	"expect .*\n" \
	"line $TAG OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] whatever you say\n" \
	"stall\n"

Test(hostile, starttls_not_advertised)
{
	starttls_attack(GREETING PLAINTEXT_TRAP, "starttls");
}

Test(hostile, starttls_not_advertised_after_capability)
{
	/* no capabilities in the greeting: the probe asks, and STARTTLS is
	 * still missing */
	starttls_attack("line * OK fake server ready\n"
			"expect CAPABILITY\n"
			"line * CAPABILITY " CAPS "\n"
			"line $TAG OK CAPABILITY completed\n"
			PLAINTEXT_TRAP, "starttls");
}

Test(hostile, starttls_answered_no)
{
	starttls_attack(GREETING_STARTTLS "expect STARTTLS\nline $TAG NO TLS is not available right now\n"
			PLAINTEXT_TRAP, "starttls");
}

Test(hostile, starttls_answered_bad)
{
	starttls_attack(GREETING_STARTTLS "expect STARTTLS\nline $TAG BAD Unknown command\n" PLAINTEXT_TRAP,
			"starttls");
}

Test(hostile, starttls_preauth_greeting)
{
	/* The probe may blame the greeting step: it is where PREAUTH shows.
	 * The summary must still say that STARTTLS was impossible. */
	starttls_attack("line * PREAUTH [CAPABILITY " CAPS " STARTTLS] You are already logged in\n"
			PLAINTEXT_TRAP, "starttls");
}

Test(hostile, starttls_response_injection)
{
	/* The tagged OK and a plaintext response in ONE segment: whatever
	 * follows the OK before the handshake is an attacker's. */
	struct fake_certs certs;
	char *scn;

	make_certs(&certs);
	scn = tls_scenario(&certs,
			   GREETING_STARTTLS
			   "expect STARTTLS\n"
			   "send $TAG OK Begin TLS negotiation now\\r\\n"
			   "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\\r\\n\n",
			   "starttls",
			   "expect .*\n"
			   "line * CAPABILITY " CAPS "\n"
			   "line $TAG OK done\n"
			   "stall\n");
	starttls_attack(scn, "starttls");
	free(scn);
	fake_certs_remove(&certs);
}

Test(hostile, starttls_response_injection_second_segment)
{
	/* The injected line 50 ms after the OK, in its own segment: too late
	 * to be seen before the handshake starts; the handshake must then fail
	 * on it, not skip it. */
	struct fake_certs certs;
	char *scn;

	make_certs(&certs);
	scn = tls_scenario(&certs,
			   GREETING_STARTTLS
			   "expect STARTTLS\n"
			   "line $TAG OK Begin TLS negotiation now\n"
			   "sleep 0.05\n"
			   "line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\n",
			   "starttls",
			   "expect .*\n"
			   "line * CAPABILITY " CAPS "\n"
			   "line $TAG OK done\n"
			   "stall\n");
	starttls_attack(scn, "tls");
	free(scn);
	fake_certs_remove(&certs);
}

/* The handshake after STARTTLS fails (here: the server answers in clear,
 * as Courier does when its certificate is unreadable): the probe closes
 * without another word - no LOGOUT in the clear (RFC 9051 6.2.1). */
Test(hostile, starttls_failed_handshake_sends_nothing_more)
{
	struct fake_case c;
	size_t len;
	run_fake(&c, GREETING_STARTTLS "expect STARTTLS\nline $TAG OK Begin TLS negotiation now\n"
		 "sleep 0.05\nline $TAG NO STARTTLS failed: certificate unreadable\ndrain 2\n",
		 "--starttls", "--insecure", "-t", "5", NULL);
	check(&c, 2, 0, 2.5, "tls", NULL);
	const char *got = (const char *)fake_received(c.fs, &len);
	cr_assert_not_null(strstr(got, "STARTTLS\r\n"), "%s", c.diag);
	cr_assert_null(strstr(strstr(got, "STARTTLS\r\n"), "LOGOUT"), "LOGOUT sent after a failed STARTTLS%s", c.diag);
	fake_case_done(&c);
}

Test(hostile, starttls_handshake_stall)
{
	struct fake_case c;
	run_fake(&c, GREETING_STARTTLS "expect STARTTLS\nline $TAG OK Begin TLS negotiation now\nstall\n",
		 "--starttls", "--insecure", "-t", "2", NULL);
	check(&c, 2, 1.8, 2.6, "timeout during", "tls", NULL);
	check_no_password(&c);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- the fake itself */

Test(fakeserver, secret_detection)
{
	const char *s = "S3cret-Pa55word-7x";
	const unsigned char raw[] = "a1 LOGIN user S3cret-Pa55word-7x\r\n";
	/* base64("\0probeuser\0S3cret-Pa55word-7x") */
	const unsigned char plain[] = "a1 AUTHENTICATE PLAIN AHByb2JldXNlcgBTM2NyZXQtUGE1NXdvcmQtN3g=\r\n";
	/* base64("S3cret-Pa55word-7x") (AUTHENTICATE LOGIN) */
	const unsigned char login[] = "UzNjcmV0LVBhNTV3b3JkLTd4\r\n";
	/* base64("x\0S3cret-Pa55word-7x") and ("xy\0S3cret-Pa55word-7x") */
	const unsigned char al1[] = "eABTM2NyZXQtUGE1NXdvcmQtN3g=\r\n";
	const unsigned char al2[] = "eHkAUzNjcmV0LVBhNTV3b3JkLTd4\r\n";
	const unsigned char clean[] = "a1 LOGIN user <redacted>\r\na2 LOGOUT\r\n";
	const unsigned char quoted[] = "a1 LOGIN user \"p\\\"w\\\\d123\"\r\n";

	cr_assert(fake_buf_contains_secret(raw, sizeof raw - 1, s));
	cr_assert(fake_buf_contains_secret(plain, sizeof plain - 1, s));
	cr_assert(fake_buf_contains_secret(login, sizeof login - 1, s));
	cr_assert(fake_buf_contains_secret(al1, sizeof al1 - 1, s));
	cr_assert(fake_buf_contains_secret(al2, sizeof al2 - 1, s));
	cr_assert(!fake_buf_contains_secret(clean, sizeof clean - 1, s));
	cr_assert(fake_buf_contains_secret(quoted, sizeof quoted - 1, "p\"w\\d123"));
}

Test(fakeserver, records_and_stops)
{
	struct fake_server *fs = fake_start("line * OK hi\nexpect LOGIN\nline $TAG OK yes\nstall\n");
	char cmd[512];
	size_t n;

	cr_assert_not_null(fs);
	/* a tiny bash client: the probe binary is not needed here */
	snprintf(cmd, sizeof cmd,
		 "exec 3<>/dev/tcp/127.0.0.1/%d && head -c 9 <&3 >/dev/null &&"
		 " printf 'x1 LOGIN u secretsecret\\r\\n' >&3 && head -c 11 <&3",
		 fake_port(fs));
	cr_assert_eq(tu_run_argv((const char *const[]){"bash", "-c", cmd, NULL}), 0, "bash client failed%s",
		     fake_log(fs));
	cr_assert_eq(fake_stop(fs), 0, "fake status%s", fake_log(fs));
	fake_received(fs, &n);
	cr_assert_eq(n, strlen("x1 LOGIN u secretsecret\r\n"));
	cr_assert(fake_saw(fs, "secretsecret"));
	cr_assert(fake_saw_clear(fs, "secretsecret"));
	cr_assert(!fake_saw(fs, "othersecret"));
	fake_free(fs);
}

Test(fakeserver, bad_scenario_fails_to_start)
{
	cr_assert_null(fake_start("bogus command\n"));
}
