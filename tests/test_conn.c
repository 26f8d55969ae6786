/* test_conn.c - imap_conn against the scripted fake transport.
 *
 * Most protocol tests run their body once per chunking of the server's
 * bytes (whole, byte by byte, random, coalesced, with a stall before
 * every chunk); assertion messages name the chunking. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/clock.h"
#include "fake_transport.h"
#include "testutil.h"
#include "imap/imap_conn.h"
#include "imap/utf7.h"

/* ---------------------------------------------------------------- fixture */

struct fx {
	const struct fake_chunking *ck;
	struct fake *f;
	struct imap_conn *c;
	char trace_mem[1 << 17];
	struct sbuf trace;       /* "C: line\n" / "S: line\n" */
	unsigned untagged;       /* seen by the handler */
	unsigned conts;          /* continuations seen by the handler */
	char last_name[32];
};

static void on_trace(void *ud, const char *dir, const char *line, size_t len)
{
	struct fx *x = ud;

	cr_assert(memchr(line, '\n', len) == NULL && memchr(line, '\r', len) == NULL,
		  "trace line has CR/LF");
	sb_printf(&x->trace, "%s: %.*s\n", dir, (int)len, line);
}

static int on_untagged(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	struct fx *x = ud;

	(void)c;
	if (r->type == IMAP_RESP_CONTINUATION) {
		x->conts++;
		return 0;
	}
	x->untagged++;
	if (r->name)
		snprintf(x->last_name, sizeof(x->last_name), "%.*s", (int)r->name_len, r->name);
	return 0;
}

static struct fx *fx_new(const struct fake_chunking *ck, const struct imap_conn_opts *o)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct imap_conn_opts opts = { 0 };

	cr_assert_not_null(x);
	if (o)
		opts = *o;
	opts.trace = on_trace;
	opts.trace_ud = x;
	x->ck = ck;
	sb_init(&x->trace, x->trace_mem, sizeof(x->trace_mem));
	x->f = fake_new(ck);
	x->c = imap_conn_new(fake_transport(x->f), &opts);
	cr_assert_not_null(x->c);
	imap_conn_set_deadline(x->c, clock_now_ns() + 3000000000LL);
	return x;
}

static void fx_free(struct fx *x)
{
	imap_conn_free(x->c);
	cr_assert(fake_closed(x->f), "transport not closed by imap_conn_free");
	fake_free(x->f);
	free(x);
}

/* Script a greeting and read it. */
static void fx_greet(struct fx *x, const char *greeting)
{
	struct imap_result res;

	fake_send(x->f, greeting);
	cr_assert_eq(imap_conn_greeting(x->c, &res), 0, "[%s] greeting: %s", x->ck->name,
		     imap_conn_errmsg(x->c));
}

static const char *W(struct fx *x)
{
	return fake_written(x->f);
}

static void noop(struct fx *x, struct imap_result *res)
{
	struct imap_cmd cmd;

	imap_cmd_init(&cmd, x->c, "NOOP");
	cr_assert_eq(imap_conn_command(x->c, &cmd, res), 0, "[%s] NOOP: %s", x->ck->name,
		     imap_conn_errmsg(x->c));
	imap_cmd_free(&cmd);
}

/* Expect a command to fail with e; returns the message. */
static const char *noop_fails(struct fx *x, enum imap_err e)
{
	struct imap_cmd cmd;
	struct imap_result res;

	imap_cmd_init(&cmd, x->c, "NOOP");
	cr_assert_eq(imap_conn_command(x->c, &cmd, &res), -1, "[%s] NOOP should fail", x->ck->name);
	imap_cmd_free(&cmd);
	cr_assert_eq(imap_conn_err(x->c), e, "[%s] err %d, want %d: %s", x->ck->name,
		     imap_conn_err(x->c), e, imap_conn_errmsg(x->c));
	return imap_conn_errmsg(x->c);
}

static int contains(const char *hay, size_t n, const char *needle, size_t nl)
{
	for (size_t i = 0; i + nl <= n; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- greeting */

Test(greeting, ok_with_capabilities)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fake_send(x->f, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
			  "STARTTLS AUTH=PLAIN auth=scram-sha-256 LOGINDISABLED LITERAL+] Dovecot ready.\r\n");
		cr_assert_eq(imap_conn_greeting(x->c, &res), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		cr_assert_eq(res.status, IMAP_ST_OK, "[%s]", ck->name);
		cr_assert_str_eq(res.code, "CAPABILITY");
		cr_assert_str_eq(res.text, "Dovecot ready.");
		struct imap_caps *caps = imap_conn_caps(x->c);
		cr_assert(caps->known);
		uint32_t want = CAP_IMAP4REV1 | CAP_SASL_IR | CAP_ID | CAP_ENABLE | CAP_IDLE |
				CAP_STARTTLS | CAP_LOGINDISABLED | CAP_LITERAL_PLUS;
		cr_assert_eq(caps->flags, want, "[%s] flags %x", ck->name, caps->flags);
		cr_assert_str_eq(caps->auth, " PLAIN SCRAM-SHA-256 ");
		cr_assert(imap_caps_has_auth(caps, "scram-sha-256"));
		cr_assert(!imap_caps_has_auth(caps, "SCRAM-SHA-1"));
		cr_assert(strstr(x->trace.data, "S: * OK [CAPABILITY IMAP4rev1") != NULL, "[%s] trace: %s",
			  ck->name, x->trace.data);
		cr_assert_eq(imap_conn_buffered(x->c), 0);
		fx_free(x);
	}
}

Test(greeting, preauth)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fake_send(x->f, "* PREAUTH [CAPABILITY IMAP4rev2 LITERAL-] logged in as bob\r\n");
		cr_assert_eq(imap_conn_greeting(x->c, &res), 0, "[%s]", ck->name);
		cr_assert_eq(res.status, IMAP_ST_PREAUTH);
		cr_assert_str_eq(res.text, "logged in as bob");
		cr_assert_eq(imap_conn_caps(x->c)->flags, CAP_IMAP4REV2 | CAP_LITERAL_MINUS);
		fx_free(x);
	}
}

Test(greeting, bye)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fake_send(x->f, "* BYE Too many connections from your IP\r\n");
		fake_eof(x->f);
		cr_assert_eq(imap_conn_greeting(x->c, &res), 0, "[%s]", ck->name);
		cr_assert_eq(res.status, IMAP_ST_BYE);
		cr_assert_str_eq(imap_conn_bye_text(x->c), "Too many connections from your IP");
		fx_free(x);
	}
}

static void bad_greeting(const char *script, const char *want_in_msg)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fake_send(x->f, script);
		fake_eof(x->f);
		cr_assert_eq(imap_conn_greeting(x->c, &res), -1, "[%s] accepted %s", ck->name, script);
		cr_assert_eq(imap_conn_err(x->c), IMAP_E_PROTOCOL, "[%s] err %d: %s", ck->name,
			     imap_conn_err(x->c), imap_conn_errmsg(x->c));
		const char *m = imap_conn_errmsg(x->c);
		cr_assert(strstr(m, want_in_msg) != NULL, "[%s] message '%s' lacks '%s'", ck->name, m,
			  want_in_msg);
		for (const char *p = m; *p; p++)
			cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f && *p != '|',
				  "[%s] unsanitized byte in '%s'", ck->name, m);
		fx_free(x);
	}
}

Test(greeting, garbage) { bad_greeting("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "SSH-2.0-OpenSSH"); }
Test(greeting, tagged) { bad_greeting("a1 OK hello\r\n", "unexpected greeting: \"a1 OK hello\""); }
Test(greeting, continuation) { bad_greeting("+ go ahead\r\n", "unexpected greeting: \"+ go ahead\""); }
Test(greeting, untagged_data) { bad_greeting("* 3 EXISTS\r\n", "unexpected greeting"); }
Test(greeting, untagged_no) { bad_greeting("* NO not today\r\n", "* NO not today"); }
Test(greeting, control_bytes_sanitized) { bad_greeting("\x1b[31mHTTP|1.1 400\x07\r\n", "HTTP?1.1"); }

Test(greeting, eof_before_greeting)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fake_eof(x->f);
		cr_assert_eq(imap_conn_greeting(x->c, &res), -1);
		cr_assert_eq(imap_conn_err(x->c), IMAP_E_EOF, "[%s]", ck->name);
		cr_assert(strstr(imap_conn_errmsg(x->c), "greeting") != NULL, "%s", imap_conn_errmsg(x->c));
		fx_free(x);
	}
}

/* ---------------------------------------------------------------- capabilities */

Test(caps, parse_and_has_auth)
{
	struct imap_caps caps;
	const char *s = "imap4rev1 Literal+ literal- SASL-IR AUTH=Plain AUTH=SCRAM-SHA-1-PLUS "
			"AUTH=xoauth2 UTF8=ACCEPT\tMOVE STATUS=SIZE X-UNKNOWN AUTH=";

	imap_caps_parse(&caps, s, strlen(s));
	cr_assert(caps.known);
	cr_assert_eq(caps.flags, CAP_IMAP4REV1 | CAP_LITERAL_PLUS | CAP_LITERAL_MINUS | CAP_SASL_IR |
				 CAP_UTF8_ACCEPT | CAP_MOVE | CAP_STATUS_SIZE);
	cr_assert_str_eq(caps.auth, " PLAIN SCRAM-SHA-1-PLUS XOAUTH2 ");
	cr_assert(imap_caps_has_auth(&caps, "plain"));
	cr_assert(imap_caps_has_auth(&caps, "XOAuth2"));
	cr_assert(!imap_caps_has_auth(&caps, "SCRAM-SHA-1"), "prefix must not match");
	cr_assert(!imap_caps_has_auth(&caps, ""));
	cr_assert(!imap_caps_has_auth(&caps, "PLAIN SCRAM-SHA-1-PLUS"));
	cr_assert(strstr(caps.raw, "imap4rev1 Literal+") == caps.raw);
	cr_assert(strchr(caps.raw, '\t') == NULL);

	/* a new list replaces the old one */
	imap_caps_parse(&caps, "IMAP4rev2", 9);
	cr_assert_eq(caps.flags, CAP_IMAP4REV2);
	cr_assert_str_eq(caps.auth, " ");
}

Test(caps, auth_list_bounded)
{
	struct imap_caps caps;
	char s[8192];
	size_t n = 0;

	for (int i = 0; i < 400; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "AUTH=MECH%d ", i);
	imap_caps_parse(&caps, s, n);
	cr_assert_lt(strlen(caps.auth), sizeof(caps.auth));
	cr_assert(imap_caps_has_auth(&caps, "MECH0"));
	cr_assert_eq(caps.auth[strlen(caps.auth) - 1], ' ');
}

Test(caps, from_tagged_ok_code)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fx_greet(x, "* OK ready\r\n");
		cr_assert(!imap_conn_caps(x->c)->known);
		fake_send_after(x->f, "\r\n", "a1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n");
		noop(x, &res);
		cr_assert_eq(res.status, IMAP_ST_OK);
		cr_assert_str_eq(res.code, "CAPABILITY");
		cr_assert_str_eq(res.text, "Logged in");
		cr_assert_eq(imap_conn_caps(x->c)->flags, CAP_IMAP4REV1 | CAP_IDLE | CAP_MOVE, "[%s]", ck->name);
		fx_free(x);
	}
}

Test(caps, tagged_no_code_ignored)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK [CAPABILITY IMAP4rev1] ready\r\n");
	fake_send_after(x->f, "\r\n", "a1 NO [CAPABILITY IMAP4rev2] nope\r\n");
	noop(x, &res);
	cr_assert_eq(res.status, IMAP_ST_NO);
	cr_assert_eq(imap_conn_caps(x->c)->flags, CAP_IMAP4REV1);
	fx_free(x);
}

Test(caps, untagged_mid_command)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK [CAPABILITY IMAP4rev1] ready\r\n");
		fake_send_after(x->f, "\r\n", "* CAPABILITY IMAP4rev1 STARTTLS AUTH=SCRAM-SHA-256 AUTH=PLAIN\r\n"
			       "a1 OK Capability completed.\r\n");
		noop(x, &res);
		struct imap_caps *caps = imap_conn_caps(x->c);
		cr_assert_eq(caps->flags, CAP_IMAP4REV1 | CAP_STARTTLS, "[%s]", ck->name);
		cr_assert_str_eq(caps->auth, " SCRAM-SHA-256 PLAIN ");
		cr_assert_eq(x->untagged, 1, "handler sees the response after bookkeeping");
		cr_assert_str_eq(x->last_name, "CAPABILITY");
		cr_assert_eq(res.untagged, 1);

		imap_conn_caps_reset(x->c);
		cr_assert(!imap_conn_caps(x->c)->known);
		cr_assert_eq(imap_conn_caps(x->c)->flags, 0);
		fx_free(x);
	}
}

/* ---------------------------------------------------------------- commands */

Test(cmd, roundtrip_exact_bytes)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		int64_t before = clock_now_ns();

		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "a1 NOOP\r\n", "* 3 EXISTS\r\n* 1 RECENT\r\na1 OK NOOP completed.\r\n");
		noop(x, &res);
		cr_assert_str_eq(W(x), "a1 NOOP\r\n", "[%s]", ck->name);
		cr_assert_eq(res.status, IMAP_ST_OK);
		cr_assert_str_eq(res.tag, "a1");
		cr_assert_str_eq(res.text, "NOOP completed.");
		cr_assert_str_eq(res.code, "");
		cr_assert_eq(res.untagged, 2);
		cr_assert_eq(x->untagged, 2);
		cr_assert_geq(res.sent_ns, before);
		cr_assert_geq(res.done_ns, res.sent_ns);
		cr_assert_str_eq(imap_conn_last_tag(x->c), "a1");
		cr_assert(strstr(x->trace.data, "C: a1 NOOP\nS: * 3 EXISTS\nS: * 1 RECENT\nS: a1 OK NOOP completed.\n"),
			  "[%s] trace: %s", ck->name, x->trace.data);

		/* the next command gets the next tag */
		fake_send_after(x->f, "a2 NOOP\r\n", "a2 NO [ALERT] go away\r\n");
		noop(x, &res);
		cr_assert_eq(res.status, IMAP_ST_NO);
		cr_assert_str_eq(res.code, "ALERT");
		cr_assert_str_eq(res.text, "go away");
		cr_assert_str_eq(W(x), "a1 NOOP\r\na2 NOOP\r\n");
		cr_assert(fake_consumed(x->f));
		fx_free(x);
	}
}

/* Build LOGIN user pass against a connection; return what was written. */
static void login(struct fx *x, const char *user, const char *pass, size_t passlen,
		  const char *server, struct imap_result *res)
{
	struct imap_cmd cmd;

	fake_send_after(x->f, "\r\n", server);
	imap_cmd_init(&cmd, x->c, "LOGIN");
	imap_cmd_add_astring(&cmd, user, strlen(user), 0);
	imap_cmd_add_astring(&cmd, pass, passlen, 1);
	cr_assert_eq(cmd.bad, 0);
	cr_assert_eq(imap_conn_command(x->c, &cmd, res), 0, "[%s] %s", x->ck->name, imap_conn_errmsg(x->c));
	imap_cmd_free(&cmd);
}

Test(cmd, login_atoms)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	login(x, "alice", "s3cret!", 7, "a1 OK Logged in\r\n", &res);
	cr_assert_str_eq(W(x), "a1 LOGIN alice s3cret!\r\n");
	cr_assert_eq(res.status, IMAP_ST_OK);
	fx_free(x);
}

Test(cmd, login_quoted_escapes)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	login(x, "alice smith", "p\"a\\ss w(o)rd", 13, "a1 OK Logged in\r\n", &res);
	cr_assert_str_eq(W(x), "a1 LOGIN \"alice smith\" \"p\\\"a\\\\ss w(o)rd\"\r\n");
	fx_free(x);
}

Test(cmd, astring_choices)
{
	struct imap_cmd cmd;
	const char *tricky[] = { "a{b", "a%b", "a*b", "a]b", "a)b", "a b", "\x7f", "a\tb" };

	imap_cmd_init(&cmd, NULL, "X");
	imap_cmd_add_astring(&cmd, "", 0, 0);
	imap_cmd_add_astring(&cmd, "NIL", 3, 0);
	imap_cmd_add_astring(&cmd, "nil", 3, 0);
	imap_cmd_add_astring(&cmd, "INBOX.Sent-Items_2024+&-", 24, 0);
	imap_cmd_add_string(&cmd, "INBOX", 5, 0);
	cr_assert_str_eq(cmd.sb.data, "X \"\" \"NIL\" \"nil\" INBOX.Sent-Items_2024+&- \"INBOX\"");
	imap_cmd_free(&cmd);

	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		char want[32];
		imap_cmd_init(&cmd, NULL, "X");
		imap_cmd_add_astring(&cmd, tricky[i], strlen(tricky[i]), 0);
		snprintf(want, sizeof(want), "X \"%s\"", tricky[i]);
		cr_assert_str_eq(cmd.sb.data, want, "'%s' must be quoted", tricky[i]);
		cr_assert_eq(cmd.nsync, 0);
		imap_cmd_free(&cmd);
	}
}

Test(cmd, crlf_nul_8bit_become_literals)
{
	const struct { const char *s; size_t n; } cases[] = {
		{ "a\r\nb", 4 }, { "a\nb", 3 }, { "a\rb", 3 }, { "a\0b", 3 }, { "p\xc3\xa4ss", 5 },
		{ "\xff\xfe", 2 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_cmd cmd;
		char want[64];

		imap_cmd_init(&cmd, NULL, "LOGIN");
		imap_cmd_add_astring(&cmd, "u", 1, 0);
		imap_cmd_add_astring(&cmd, cases[i].s, cases[i].n, 1);
		int hl = snprintf(want, sizeof(want), "LOGIN u {%zu}\r\n", cases[i].n);
		memcpy(want + hl, cases[i].s, cases[i].n);
		cr_assert_eq(cmd.sb.len, (size_t)hl + cases[i].n, "case %zu", i);
		cr_assert(memcmp(cmd.sb.data, want, cmd.sb.len) == 0, "case %zu", i);
		cr_assert_eq(cmd.nsync, 1);
		cr_assert_eq(cmd.sync_at[0], (size_t)hl);
		cr_assert_eq(cmd.nsecret, 1);
		cr_assert_eq(cmd.secret[0].off, 8, "secret starts at the literal header");
		cr_assert_eq(cmd.secret[0].off + cmd.secret[0].len, cmd.sb.len);
		imap_cmd_free(&cmd);
	}
}

Test(cmd, utf8_quoted_after_enable)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		struct imap_cmd cmd;

		fx_greet(x, "* OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT] ready\r\n");
		imap_cmd_init(&cmd, x->c, "SELECT");
		imap_cmd_add_astring(&cmd, "Entw\xc3\xbc" "rfe", 9, 0);
		cr_assert_eq(cmd.nsync, 1, "8-bit needs a literal before ENABLE");
		imap_cmd_free(&cmd);

		fake_send_after(x->f, "\r\n", "* ENABLED UTF8=ACCEPT\r\na1 OK enabled\r\n");
		imap_cmd_init(&cmd, x->c, "ENABLE");
		imap_cmd_add_text(&cmd, "UTF8=ACCEPT");
		cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0, "[%s]", ck->name);
		imap_cmd_free(&cmd);
		cr_assert(imap_conn_utf8(x->c), "[%s]", ck->name);

		imap_cmd_init(&cmd, x->c, "SELECT");
		imap_cmd_add_astring(&cmd, "Entw\xc3\xbc" "rfe", 9, 0);
		cr_assert_str_eq(cmd.sb.data, "SELECT \"Entw\xc3\xbc" "rfe\"");
		imap_cmd_free(&cmd);

		/* invalid UTF-8 still needs a literal */
		imap_cmd_init(&cmd, x->c, "SELECT");
		imap_cmd_add_astring(&cmd, "a\xc3", 2, 0);
		cr_assert_eq(cmd.nsync, 1);
		imap_cmd_free(&cmd);
		fx_free(x);
	}
}

Test(cmd, sync_literal_waits_for_continuation)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		struct imap_cmd cmd;
		const char *hdr = "a1 LOGIN alice {6}\r\n";

		fx_greet(x, "* OK ready\r\n");
		unsigned plus = fake_send_after(x->f, "{6}\r\n", "+ Ready for literal data\r\n");
		unsigned ok = fake_send_after(x->f, "\r\n", "a1 OK Logged in\r\n");
		imap_cmd_init(&cmd, x->c, "LOGIN");
		imap_cmd_add_astring(&cmd, "alice", 5, 0);
		imap_cmd_add_astring(&cmd, "pa\r\nss", 6, 1);
		cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		imap_cmd_free(&cmd);
		cr_assert_eq(res.status, IMAP_ST_OK);
		/* when "+" was delivered, exactly the header had been written */
		cr_assert_eq(fake_written_at(x->f, plus), strlen(hdr), "[%s] %zu", ck->name,
			     fake_written_at(x->f, plus));
		cr_assert(memcmp(W(x), hdr, strlen(hdr)) == 0);
		cr_assert_eq(fake_written_at(x->f, ok), fake_written_len(x->f));
		cr_assert_str_eq(W(x), "a1 LOGIN alice {6}\r\npa\r\nss\r\n");
		cr_assert(strstr(x->trace.data, "C: a1 LOGIN alice <redacted>\nS: + Ready for literal data\nC: <redacted>\n"),
			  "[%s] %s", ck->name, x->trace.data);
		fx_free(x);
	}
}

Test(cmd, sync_literal_refused)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		struct imap_cmd cmd;
		char big[5000];
		unsigned id;

		memset(big, 'x', sizeof(big));
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "{5000}\r\n", "a1 NO [TOOBIG] Message too large\r\n");
		imap_cmd_init(&cmd, x->c, "APPEND");
		imap_cmd_add_astring(&cmd, "INBOX", 5, 0);
		imap_cmd_add_literal(&cmd, big, sizeof(big), 0);
		cr_assert_eq(imap_conn_send(x->c, &cmd, &id), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		imap_cmd_free(&cmd);
		cr_assert_str_eq(W(x), "a1 APPEND INBOX {5000}\r\n", "literal data must not be sent");
		cr_assert_eq(imap_conn_wait(x->c, id, &res), 0);
		cr_assert_eq(res.status, IMAP_ST_NO);
		cr_assert_str_eq(res.code, "TOOBIG");
		fx_free(x);
	}
}

Test(cmd, literal_plus_sends_at_once)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;

		fx_greet(x, "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n");
		unsigned w0 = fake_write_calls(x->f);
		login(x, "b\xc3\xb6rje", "pw\r\n", 4, "a1 OK Logged in\r\n", &res);
		cr_assert_str_eq(W(x), "a1 LOGIN {6+}\r\nb\xc3\xb6rje {4+}\r\npw\r\n\r\n", "[%s]", ck->name);
		cr_assert_eq(fake_write_calls(x->f) - w0, 1, "one write for the whole command");
		fx_free(x);
	}
}

Test(cmd, literal_minus_limits)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_cmd cmd;
	static char big[4097];

	fx_greet(x, "* OK [CAPABILITY IMAP4rev1 LITERAL-] ready\r\n");
	imap_cmd_init(&cmd, x->c, "APPEND");
	imap_cmd_add_literal(&cmd, big, 4096, 0);
	cr_assert(strncmp(cmd.sb.data, "APPEND {4096+}\r\n", 16) == 0);
	cr_assert_eq(cmd.nsync, 0);
	imap_cmd_add_literal(&cmd, big, 4097, 0);
	cr_assert(contains(cmd.sb.data, cmd.sb.len, " {4097}\r\n", 9));
	cr_assert_eq(cmd.nsync, 1);
	imap_cmd_free(&cmd);

	/* without a connection: always synchronizing */
	imap_cmd_init(&cmd, NULL, "APPEND");
	imap_cmd_add_literal(&cmd, "abc", 3, 0);
	cr_assert_str_eq(cmd.sb.data, "APPEND {3}\r\nabc");
	cr_assert_eq(cmd.nsync, 1);
	imap_cmd_free(&cmd);
	fx_free(x);
}

Test(cmd, too_many_literals_and_too_long)
{
	struct imap_cmd cmd;
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	imap_cmd_init(&cmd, NULL, "X");
	for (int i = 0; i <= IMAP_CMD_MAX_LITERALS; i++)
		imap_cmd_add_literal(&cmd, "a", 1, 0);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_MANY);
	imap_cmd_free(&cmd);

	imap_cmd_init(&cmd, NULL, "X");
	for (int i = 0; i <= IMAP_CMD_MAX_SECRETS; i++)
		imap_cmd_add_astring(&cmd, "s", 1, 1);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_MANY, "a secret that cannot be redacted is refused");
	imap_cmd_free(&cmd);

	char *huge = malloc(IMAP_CMD_MAX_BYTES + 1);
	cr_assert_not_null(huge);
	memset(huge, 'a', IMAP_CMD_MAX_BYTES + 1);
	imap_cmd_init(&cmd, NULL, "APPEND");
	imap_cmd_add_literal(&cmd, huge, IMAP_CMD_MAX_BYTES + 1, 0);
	free(huge);
	cr_assert_eq(cmd.bad, IMAP_CMD_BAD_TOO_LONG);

	fx_greet(x, "* OK ready\r\n");
	size_t before = fake_written_len(x->f);
	cr_assert_eq(imap_conn_command(x->c, &cmd, &res), -1);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
	cr_assert_eq(fake_written_len(x->f), before);
	imap_cmd_free(&cmd);
	fx_free(x);
}

Test(cmd, raw_checked_rejects_crlf)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		struct imap_cmd cmd;
		unsigned id = 99;

		fx_greet(x, "* OK ready\r\n");
		imap_cmd_init(&cmd, x->c, "SEARCH");
		imap_cmd_add_text(&cmd, "UNSEEN\r\na2 DELETE INBOX");
		cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF);
		cr_assert_eq(imap_conn_send(x->c, &cmd, &id), -1);
		imap_cmd_free(&cmd);
		cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
		cr_assert(strstr(imap_conn_errmsg(x->c), "SEARCH") && strstr(imap_conn_errmsg(x->c), "contains CR/LF"),
			  "%s", imap_conn_errmsg(x->c));
		cr_assert(strstr(imap_conn_errmsg(x->c), "DELETE") == NULL, "no user input echoed");
		cr_assert_eq(fake_written_len(x->f), 0, "nothing sent");

		/* LF alone, and CR alone */
		imap_cmd_init(&cmd, x->c, "SEARCH");
		imap_cmd_add_text(&cmd, "UNSEEN\n");
		cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF);
		imap_cmd_free(&cmd);
		imap_cmd_init(&cmd, x->c, "SEARCH");
		imap_cmd_add_text(&cmd, "UNSEEN\rX");
		cr_assert_eq(cmd.bad, IMAP_CMD_BAD_CRLF);
		imap_cmd_free(&cmd);

		/* the connection is still usable; the refused command used no tag */
		fake_send_after(x->f, "\r\n", "a1 OK done\r\n");
		imap_cmd_init(&cmd, x->c, "SEARCH");
		imap_cmd_add_text(&cmd, "SUBJECT \"probe\" UNSEEN");
		cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		imap_cmd_free(&cmd);
		cr_assert_str_eq(W(x), "a1 SEARCH SUBJECT \"probe\" UNSEEN\r\n");
		fx_free(x);
	}
}

Test(cmd, write_line_rejects_crlf)
{
	struct fx *x = fx_new(NULL, NULL);

	fx_greet(x, "* OK ready\r\n");
	cr_assert_eq(imap_conn_write_line(x->c, "abc\r\nDELETE", 11, 1), -1);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
	cr_assert_eq(imap_conn_write_line(x->c, "a\0b", 3, 0), -1);
	cr_assert_eq(fake_written_len(x->f), 0);
	cr_assert_eq(imap_conn_write_line(x->c, "DONE", 4, 0), 0);
	cr_assert_str_eq(W(x), "DONE\r\n");
	cr_assert(strstr(x->trace.data, "C: DONE\n"));
	fx_free(x);
}

Test(cmd, partial_writes)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	fake_set_write_chunk(x->f, 3);
	login(x, "alice", "secret", 6, "a1 OK Logged in\r\n", &res);
	cr_assert_str_eq(W(x), "a1 LOGIN alice secret\r\n");
	cr_assert_gt(fake_write_calls(x->f), 5);
	fx_free(x);
}

Test(cmd, write_error)
{
	struct fx *x = fx_new(NULL, NULL);

	fx_greet(x, "* OK ready\r\n");
	fake_fail_write_after(x->f, 4);
	const char *m = noop_fails(x, IMAP_E_IO);
	cr_assert(strstr(m, "injected write error") && strstr(m, "NOOP"), "%s", m);
	fx_free(x);
}

/* ---------------------------------------------------------------- trace redaction */

static void assert_no_secret(const char *trace, const char *secret, size_t n)
{
	char enc[256];

	cr_assert(!contains(trace, strlen(trace), secret, n), "secret in trace:\n%s", trace);
	tu_b64((const unsigned char *)secret, n, enc);
	cr_assert(strstr(trace, enc) == NULL, "base64 of secret in trace:\n%s", trace);
	/* the middle of the base64 (alignment-independent part) */
	if (strlen(enc) > 8) {
		enc[strlen(enc) - 4] = '\0';
		cr_assert(strstr(trace, enc + 4) == NULL, "base64 fragment of secret in trace");
	}
}

Test(trace, password_never_in_trace)
{
	const char *pw[] = { "hunter2", "hunter2 \"q\\", "hunter2\r\nX", "h\xc3\xbcnter2" };

	for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++) {
		FAKE_FOR_EACH_CHUNKING(ck) {
			for (int plus = 0; plus < 2; plus++) {
				struct fx *x = fx_new(ck, NULL);
				struct imap_result res;
				struct imap_cmd cmd;

				fx_greet(x, plus ? "* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n" : "* OK hi\r\n");
				imap_cmd_init(&cmd, x->c, "LOGIN");
				imap_cmd_add_astring(&cmd, "bob", 3, 0);
				imap_cmd_add_astring(&cmd, pw[i], strlen(pw[i]), 1);
				if (cmd.nsync)
					fake_send_after(x->f, "}\r\n", "+ go\r\n");
				fake_send_after(x->f, "\r\n", "a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n");
				int rc = imap_conn_command(x->c, &cmd, &res);
				imap_cmd_free(&cmd);
				cr_assert_eq(rc, 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
				cr_assert_eq(res.status, IMAP_ST_OK);
				cr_assert(contains(W(x), fake_written_len(x->f), "hunter2", 7) ||
					  contains(W(x), fake_written_len(x->f), pw[i], strlen(pw[i])),
					  "password sent");
				cr_assert(strstr(x->trace.data, "C: a1 LOGIN bob <redacted>"), "[%s] %s", ck->name,
					  x->trace.data);
				assert_no_secret(x->trace.data, pw[i], strlen(pw[i]));
				assert_no_secret(x->trace.data, "hunter2", 7);
				fx_free(x);
			}
		}
	}
}

Test(trace, sasl_line_redacted)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result res;
		struct imap_cmd cmd;
		const struct imap_response *r;
		unsigned id;
		char resp[128];
		const unsigned char plain[] = "\0bob\0hunter2";

		fx_greet(x, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n");
		fake_send_after(x->f, "AUTHENTICATE PLAIN\r\n", "+ \r\n");
		fake_send_after(x->f, "\r\n", "a1 OK Logged in\r\n");
		imap_cmd_init(&cmd, x->c, "AUTHENTICATE");
		imap_cmd_add_text(&cmd, "PLAIN");
		cr_assert_eq(imap_conn_send(x->c, &cmd, &id), 0);
		imap_cmd_free(&cmd);
		cr_assert_str_eq(imap_conn_last_tag(x->c), "a1");

		cr_assert_eq(imap_conn_read(x->c, &r), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		cr_assert_eq(r->type, IMAP_RESP_CONTINUATION);
		tu_b64(plain, sizeof(plain) - 1, resp);
		cr_assert_eq(imap_conn_write_line(x->c, resp, strlen(resp), 1), 0);
		cr_assert_eq(imap_conn_read(x->c, &r), 0);
		cr_assert_eq(r->type, IMAP_RESP_TAGGED);
		cr_assert(r->tag_len == 2 && memcmp(r->tag, "a1", 2) == 0);
		cr_assert_eq(imap_conn_wait(x->c, id, &res), 0, "result kept for wait");
		cr_assert_eq(res.status, IMAP_ST_OK);
		cr_assert_str_eq(res.text, "Logged in");
		cr_assert(strstr(W(x), resp) != NULL);
		cr_assert(strstr(x->trace.data, "C: a1 AUTHENTICATE PLAIN\nS: +\nC: <redacted>\nS: a1 OK Logged in\n"),
			  "[%s] %s", ck->name, x->trace.data);
		assert_no_secret(x->trace.data, "hunter2", 7);
		cr_assert(strstr(x->trace.data, resp) == NULL);
		fx_free(x);
	}
}

Test(trace, server_lines_sanitized_and_literals_summarized)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct imap_conn_opts o = { 0 };
		struct fx *x = fx_new(ck, &o);
		struct imap_result res;
		char longline[3000];

		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK hi\r\n");
		memset(longline, 'z', sizeof(longline));
		memcpy(longline, "* OK ", 5);
		memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
		fake_send_after(x->f, "\r\n", "* 1 FETCH (BODY[] {12}\r\nHello\r\nWorld UID 5)\r\n");
		fake_send(x->f, "* OK \x1b]0;evil\x07 a|b\r\n");
		fake_send(x->f, longline);
		fake_send(x->f, "a1 OK done\r\n");
		noop(x, &res);
		cr_assert_eq(res.untagged, 3);
		cr_assert(strstr(x->trace.data, "S: * 1 FETCH (BODY[] {12 bytes} UID 5)\n"), "[%s] %s", ck->name,
			  x->trace.data);
		cr_assert(strstr(x->trace.data, "Hello") == NULL, "literal data summarized");
		cr_assert(strstr(x->trace.data, "S: * OK ?]0;evil? a?b\n"), "[%s] %s", ck->name, x->trace.data);
		const char *zl = strstr(x->trace.data, "S: * OK zzz");
		cr_assert_not_null(zl);
		const char *end = strchr(zl, '\n');
		cr_assert_lt((size_t)(end - zl), 1100, "long line truncated");
		cr_assert(strncmp(end - 3, "...", 3) == 0);
		fx_free(x);
	}
}

/* ---------------------------------------------------------------- pipelining */

Test(pipeline, out_of_order_completion)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result r1, r2, r3;
		struct imap_cmd cmd;
		unsigned id1, id2, id3;

		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK ready\r\n");
		imap_cmd_init(&cmd, x->c, "SELECT");
		imap_cmd_add_astring(&cmd, "INBOX", 5, 0);
		cr_assert_eq(imap_conn_queue(x->c, &cmd, &id1), 0);
		imap_cmd_free(&cmd);
		imap_cmd_init(&cmd, x->c, "STATUS");
		imap_cmd_add_astring(&cmd, "Sent", 4, 0);
		imap_cmd_add_text(&cmd, "(MESSAGES)");
		cr_assert_eq(imap_conn_queue(x->c, &cmd, &id2), 0);
		imap_cmd_free(&cmd);
		cr_assert_eq(fake_written_len(x->f), 0, "queued, not written");
		cr_assert(strstr(x->trace.data, "C: ") == NULL, "traced when sent");
		imap_cmd_init(&cmd, x->c, "NOOP");
		cr_assert_eq(imap_conn_send(x->c, &cmd, &id3), 0);
		imap_cmd_free(&cmd);
		cr_assert_str_eq(W(x), "a1 SELECT INBOX\r\na2 STATUS Sent (MESSAGES)\r\na3 NOOP\r\n");
		cr_assert_eq(fake_write_calls(x->f), 1, "one write for all three");
		cr_assert(strstr(x->trace.data, "C: a1 SELECT INBOX\nC: a2 STATUS Sent (MESSAGES)\nC: a3 NOOP\n"));

		fake_send_after(x->f, "a3 NOOP\r\n", "a3 OK noop done\r\n* STATUS Sent (MESSAGES 4)\r\n");
		fake_send(x->f, "a2 OK status done\r\n* 17 EXISTS\r\n");
		fake_delay(x->f, 30);
		fake_send(x->f, "a1 OK [READ-WRITE] select done\r\n");

		cr_assert_eq(imap_conn_wait(x->c, id2, &r2), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		cr_assert_eq(imap_conn_wait(x->c, id1, &r1), 0, "[%s] %s", ck->name, imap_conn_errmsg(x->c));
		cr_assert_eq(imap_conn_wait(x->c, id3, &r3), 0, "a3 was recorded while waiting for a2");
		cr_assert_str_eq(r1.tag, "a1");
		cr_assert_str_eq(r1.text, "select done");
		cr_assert_str_eq(r1.code, "READ-WRITE");
		cr_assert_str_eq(r2.tag, "a2");
		cr_assert_str_eq(r2.text, "status done");
		cr_assert_str_eq(r3.tag, "a3");
		cr_assert_str_eq(r3.text, "noop done");
		cr_assert_eq(x->untagged, 2);
		cr_assert_eq(r3.untagged, 0);
		cr_assert_eq(r2.untagged, 1);
		cr_assert_eq(r1.untagged, 2);
		cr_assert_geq(r2.done_ns, r3.done_ns);
		cr_assert_geq(r1.done_ns - r2.done_ns, 25000000, "[%s] a1 finished ~30 ms later (%lld ns)",
			      ck->name, (long long)(r1.done_ns - r2.done_ns));
		cr_assert_eq(r1.sent_ns, r3.sent_ns, "sent together");
		/* released ids are gone */
		cr_assert_eq(imap_conn_wait(x->c, id1, &r1), -1);
		cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
		fx_free(x);
	}
}

Test(pipeline, done_time_is_arrival_time)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);
		struct imap_result r1, r2;
		struct imap_cmd cmd;
		unsigned id1, id2;
		struct timespec ts = { 0, 30000000 };

		fx_greet(x, "* OK ready\r\n");
		imap_cmd_init(&cmd, x->c, "NOOP");
		cr_assert_eq(imap_conn_queue(x->c, &cmd, &id1), 0);
		cr_assert_eq(imap_conn_queue(x->c, &cmd, &id2), 0);
		imap_cmd_free(&cmd);
		fake_send_after(x->f, "a2 NOOP\r\n", "a1 OK one\r\na2 OK two\r\n");
		cr_assert_eq(imap_conn_wait(x->c, id1, &r1), 0);
		nanosleep(&ts, NULL);
		int64_t later = clock_now_ns();
		cr_assert_eq(imap_conn_wait(x->c, id2, &r2), 0);
		cr_assert_str_eq(r2.text, "two");
		if (ck->mode == FAKE_WHOLE || ck->mode == FAKE_COALESCE)
			cr_assert_lt(r2.done_ns, later, "[%s] a2 arrived with a1, before the sleep", ck->name);
		cr_assert_geq(r2.done_ns, r1.done_ns);
		fx_free(x);
	}
}

Test(pipeline, flush_and_limits)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_cmd cmd;
	unsigned id[IMAP_CONN_MAX_INFLIGHT + 1];

	fx_greet(x, "* OK ready\r\n");
	for (int i = 0; i < IMAP_CONN_MAX_INFLIGHT; i++) {
		imap_cmd_init(&cmd, x->c, "NOOP");
		cr_assert_eq(imap_conn_queue(x->c, &cmd, &id[i]), 0);
		imap_cmd_free(&cmd);
	}
	imap_cmd_init(&cmd, x->c, "NOOP");
	cr_assert_eq(imap_conn_queue(x->c, &cmd, &id[IMAP_CONN_MAX_INFLIGHT]), -1);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
	cr_assert(strstr(imap_conn_errmsg(x->c), "too many"));
	imap_cmd_free(&cmd);
	cr_assert_eq(imap_conn_flush(x->c), 0);
	cr_assert_eq(fake_write_calls(x->f), 1);
	cr_assert(strstr(W(x), "a16 NOOP\r\n") != NULL);

	/* queueing a synchronizing literal is refused */
	imap_cmd_init(&cmd, NULL, "APPEND");
	imap_cmd_add_literal(&cmd, "x", 1, 0);
	cr_assert_eq(imap_conn_queue(x->c, &cmd, &id[0]), -1);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_LOCAL);
	imap_cmd_free(&cmd);
	fx_free(x);
}

Test(pipeline, wait_flushes_queue)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_cmd cmd;
	struct imap_result res;
	unsigned id;

	fx_greet(x, "* OK ready\r\n");
	imap_cmd_init(&cmd, x->c, "NOOP");
	cr_assert_eq(imap_conn_queue(x->c, &cmd, &id), 0);
	imap_cmd_free(&cmd);
	fake_send_after(x->f, "a1 NOOP\r\n", "a1 OK\r\n");
	cr_assert_eq(imap_conn_wait(x->c, id, &res), 0, "%s", imap_conn_errmsg(x->c));
	cr_assert_eq(res.status, IMAP_ST_OK);
	cr_assert_str_eq(res.text, "");
	fx_free(x);
}

/* ---------------------------------------------------------------- protocol errors */

Test(proto, unknown_tag)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);

		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "zz9 OK hijacked\r\na1 OK done\r\n");
		const char *m = noop_fails(x, IMAP_E_PROTOCOL);
		cr_assert(strstr(m, "unknown tag \"zz9\""), "%s", m);
		/* sticky: nothing else is sent */
		size_t len = fake_written_len(x->f);
		noop_fails(x, IMAP_E_PROTOCOL);
		cr_assert_eq(fake_written_len(x->f), len);
		fx_free(x);
	}
}

Test(proto, duplicate_tagged_response)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "\r\n", "a1 OK done\r\n");
	noop(x, &res);
	fake_send_after(x->f, "a2 NOOP\r\n", "a1 OK again\r\na2 OK done\r\n");
	const char *m = noop_fails(x, IMAP_E_PROTOCOL);
	cr_assert(strstr(m, "unknown tag \"a1\""), "%s", m);
	fx_free(x);
}

Test(proto, unexpected_continuation)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);

		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "+ send more\r\na1 OK done\r\n");
		const char *m = noop_fails(x, IMAP_E_PROTOCOL);
		cr_assert(strstr(m, "continuation") && strstr(m, "+ send more"), "%s", m);
		fx_free(x);

		/* with a handler, the handler decides */
		x = fx_new(ck, NULL);
		struct imap_result res;
		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "+ send more\r\na1 OK done\r\n");
		noop(x, &res);
		cr_assert_eq(x->conts, 1);
		cr_assert_eq(res.status, IMAP_ST_OK);
		fx_free(x);
	}
}

static int reject_exists(void *ud, struct imap_conn *c, const struct imap_response *r)
{
	(void)ud;
	if (r->name && ascii_ieq(r->name, r->name_len, "EXISTS")) {
		imap_conn_fail(c, IMAP_E_PROTOCOL, "EXISTS not welcome");
		return -1;
	}
	return 0;
}

Test(proto, handler_abort)
{
	struct fx *x = fx_new(NULL, NULL);

	imap_conn_set_handler(x->c, reject_exists, x);
	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "\r\n", "* 1 EXISTS\r\n");
	fake_send(x->f, "a1 OK done\r\n");
	const char *m = noop_fails(x, IMAP_E_PROTOCOL);
	cr_assert_str_eq(m, "EXISTS not welcome");
	fx_free(x);
}

Test(proto, bye_mid_session_then_eof)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);

		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "* BYE Server shutting down for maintenance\r\n");
		fake_eof(x->f);
		const char *m = noop_fails(x, IMAP_E_BYE);
		cr_assert(strstr(m, "Server shutting down for maintenance"), "[%s] %s", ck->name, m);
		cr_assert_str_eq(imap_conn_bye_text(x->c), "Server shutting down for maintenance");
		fx_free(x);
	}
}

Test(proto, logout_bye_then_eof)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		for (int tagged = 0; tagged < 2; tagged++) {
			struct fx *x = fx_new(ck, NULL);
			struct imap_result res;
			struct imap_cmd cmd;

			fx_greet(x, "* OK ready\r\n");
			fake_send_after(x->f, "LOGOUT\r\n", tagged ? "* BYE Logging out\r\na1 OK Logout completed.\r\n"
							       : "* BYE Logging out\r\n");
			fake_eof(x->f);
			imap_conn_expect_bye(x->c);
			imap_cmd_init(&cmd, x->c, "LOGOUT");
			cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0, "[%s] %s", ck->name,
				     imap_conn_errmsg(x->c));
			imap_cmd_free(&cmd);
			cr_assert_eq(res.status, tagged ? IMAP_ST_OK : IMAP_ST_NONE);
			if (!tagged)
				cr_assert_str_eq(res.text, "Logging out");
			cr_assert_str_eq(imap_conn_bye_text(x->c), "Logging out");
			fx_free(x);
		}
	}
}

Test(proto, eof_mid_line)
{
	const char *scripts[] = { "* 1 EXI", "* 1 FETCH (BODY[] {10}\r\nabc", "a1 OK done" };

	for (size_t i = 0; i < 3; i++) {
		FAKE_FOR_EACH_CHUNKING(ck) {
			struct fx *x = fx_new(ck, NULL);

			fx_greet(x, "* OK ready\r\n");
			fake_send_after(x->f, "\r\n", scripts[i]);
			fake_eof(x->f);
			const char *m = noop_fails(x, IMAP_E_EOF);
			cr_assert(strstr(m, "middle of a response"), "[%s] %s", ck->name, m);
			cr_assert(strstr(x->trace.data, "[incomplete]"), "partial line traced");
			fx_free(x);
		}
	}
}

Test(proto, eof_between_responses)
{
	struct fx *x = fx_new(NULL, NULL);

	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "\r\n", "* 1 EXISTS\r\n");
	fake_eof(x->f);
	const char *m = noop_fails(x, IMAP_E_EOF);
	cr_assert(strstr(m, "closed by server") && strstr(m, "NOOP"), "%s", m);
	fx_free(x);
}

Test(proto, untagged_flood)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct imap_conn_opts o = { .max_untagged = 50 };
		struct fx *x = fx_new(ck, &o);
		char *flood = malloc(60 * 16);
		size_t n = 0;

		for (int i = 0; i < 60; i++)
			n += (size_t)sprintf(flood + n, "* %d EXISTS\r\n", i);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", flood);
		fake_send(x->f, "a1 OK done\r\n");
		free(flood);
		const char *m = noop_fails(x, IMAP_E_LIMIT);
		cr_assert(strstr(m, "more than 50 untagged") && strstr(m, "NOOP"), "%s", m);
		fx_free(x);
	}
}

/* An endless stream of "+" continuations (say, during IDLE) ends at the
 * same limit as any other flood, not only at the deadline. */
Test(proto, continuation_flood)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct imap_conn_opts o = { .max_untagged = 50 };
		struct fx *x = fx_new(ck, &o);
		char flood[60 * 4 + 1];
		size_t n = 0;

		for (int i = 0; i < 60; i++)
			n += (size_t)sprintf(flood + n, "+ \r\n");
		imap_conn_set_handler(x->c, on_untagged, x);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", flood);
		fake_send(x->f, "a1 OK done\r\n");
		const char *m = noop_fails(x, IMAP_E_LIMIT);
		cr_assert(strstr(m, "more than 50 untagged") && strstr(m, "NOOP"), "%s", m);
		cr_assert_leq(x->conts, 50);
		fx_free(x);
	}
}

Test(proto, untagged_default_limit)
{
	struct fx *x = fx_new(&fake_chunkings[5] /* coalesce */, NULL);
	size_t per = 11, count = 100001;
	char *flood = malloc(per * count + 1);

	for (size_t i = 0; i < count; i++)
		memcpy(flood + i * per, "* 1 RECENT\n", per);
	flood[per * count] = '\0';
	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "\r\n", flood);
	free(flood);
	const char *m = noop_fails(x, IMAP_E_LIMIT);
	cr_assert(strstr(m, "more than 100000 untagged"), "%s", m);
	fx_free(x);
}

Test(proto, parser_limits_mapped)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct imap_conn_opts o = { .limits = { .max_text = 256, .max_literal = 1000 } };
		struct fx *x = fx_new(ck, &o);
		char line[600];

		memset(line, 'y', sizeof(line));
		memcpy(line, "* OK ", 5);
		memcpy(line + sizeof(line) - 3, "\r\n", 3);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", line);
		const char *m = noop_fails(x, IMAP_E_LIMIT);
		cr_assert(strstr(m, "too large"), "[%s] %s", ck->name, m);
		fx_free(x);

		x = fx_new(ck, &o);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "* 1 FETCH (BODY[] {18446744073709551615}\r\n");
		noop_fails(x, IMAP_E_LIMIT);
		fx_free(x);

		x = fx_new(ck, &o);
		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "* 1 FETCH (BODY[] {1001}\r\n");
		noop_fails(x, IMAP_E_LIMIT);
		fx_free(x);
	}
}

Test(proto, syntax_errors_mapped)
{
	const char *bad[] = { "* OK [ALERT unterminated\r\n", "* 1 FETCH (((\r\n", "a1 MAYBE\r\n" };

	for (size_t i = 0; i < 3; i++) {
		FAKE_FOR_EACH_CHUNKING(ck) {
			struct fx *x = fx_new(ck, NULL);

			fx_greet(x, "* OK ready\r\n");
			fake_send_after(x->f, "\r\n", bad[i]);
			const char *m = noop_fails(x, IMAP_E_PROTOCOL);
			cr_assert(strstr(m, "unparseable"), "[%s] %s", ck->name, m);
			fx_free(x);
		}
	}
	struct fx *x = fx_new(NULL, NULL);
	fx_greet(x, "* OK ready\r\n");
	fake_send_n(x->f, "* OK a\0b\r\n", 10);
	const char *m = noop_fails(x, IMAP_E_PROTOCOL);
	cr_assert(strstr(m, "NUL"), "%s", m);
	fx_free(x);
}

Test(proto, timeout)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	int64_t t0 = clock_now_ns();
	imap_conn_set_deadline(x->c, t0 + 50000000);
	const char *m = noop_fails(x, IMAP_E_TIMEOUT);
	int64_t el = clock_now_ns() - t0;
	cr_assert(strstr(m, "timeout") && strstr(m, "NOOP"), "%s", m);
	cr_assert_geq(el, 45000000);
	cr_assert_lt(el, 1000000000, "returned at the deadline");
	/* sticky */
	imap_conn_set_deadline(x->c, clock_now_ns() + 1000000000);
	cr_assert_eq(imap_conn_greeting(x->c, &res), -1);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_TIMEOUT);
	fx_free(x);
}

Test(proto, timeout_waiting_for_continuation)
{
	struct fx *x = fx_new(NULL, NULL);
	struct imap_cmd cmd;
	unsigned id;

	fx_greet(x, "* OK ready\r\n");
	imap_conn_set_deadline(x->c, clock_now_ns() + 50000000);
	imap_cmd_init(&cmd, x->c, "LOGIN");
	imap_cmd_add_astring(&cmd, "u", 1, 0);
	imap_cmd_add_astring(&cmd, "p\n", 2, 1);
	cr_assert_eq(imap_conn_send(x->c, &cmd, &id), -1);
	imap_cmd_free(&cmd);
	cr_assert_eq(imap_conn_err(x->c), IMAP_E_TIMEOUT);
	cr_assert(strstr(imap_conn_errmsg(x->c), "continuation"), "%s", imap_conn_errmsg(x->c));
	cr_assert_str_eq(W(x), "a1 LOGIN u {2}\r\n");
	fx_free(x);
}

Test(proto, io_error)
{
	FAKE_FOR_EACH_CHUNKING(ck) {
		struct fx *x = fx_new(ck, NULL);

		fx_greet(x, "* OK ready\r\n");
		fake_send_after(x->f, "\r\n", "* 1 EXISTS\r\n");
		fake_error(x->f, "connection reset by peer");
		const char *m = noop_fails(x, IMAP_E_IO);
		cr_assert(strstr(m, "connection reset by peer"), "%s", m);
		fx_free(x);
	}
}

/* ---------------------------------------------------------------- accounting */

Test(acct, waits_counted)
{
	struct fx *x = fx_new(&fake_chunkings[0] /* whole */, NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "\r\n", "a1 OK done\r\n");
	noop(x, &res);
	cr_assert_eq(imap_conn_waits(x->c), 0, "data was always there");
	fx_free(x);

	x = fx_new(&fake_chunkings[6] /* stall */, NULL);
	fx_greet(x, "* OK ready\r\n");
	cr_assert_eq(imap_conn_waits(x->c), 1);
	fake_send_after(x->f, "\r\n", "a1 OK done\r\n");
	noop(x, &res);
	cr_assert_eq(imap_conn_waits(x->c), 2, "one round trip each");
	fx_free(x);
}

Test(acct, buffered_after_tagged_ok)
{
	struct fx *x = fx_new(&fake_chunkings[5] /* coalesce */, NULL);
	struct imap_result res;
	struct imap_cmd cmd;

	fx_greet(x, "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
	fake_send_after(x->f, "STARTTLS\r\n", "a1 OK Begin TLS negotiation now.\r\n* OK injected\r\n");
	imap_cmd_init(&cmd, x->c, "STARTTLS");
	cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0);
	imap_cmd_free(&cmd);
	cr_assert_eq(imap_conn_buffered(x->c), strlen("* OK injected\r\n"));
	fx_free(x);

	x = fx_new(&fake_chunkings[0], NULL);
	fx_greet(x, "* OK ready\r\n");
	fake_send_after(x->f, "STARTTLS\r\n", "a1 OK Begin TLS negotiation now.\r\n");
	imap_cmd_init(&cmd, x->c, "STARTTLS");
	cr_assert_eq(imap_conn_command(x->c, &cmd, &res), 0);
	imap_cmd_free(&cmd);
	cr_assert_eq(imap_conn_buffered(x->c), 0);
	fx_free(x);
}

Test(acct, replace_transport)
{
	struct fx *x = fx_new(NULL, NULL);
	struct fake *f2 = fake_new(NULL);
	struct imap_result res;

	fx_greet(x, "* OK ready\r\n");
	struct transport *old = imap_conn_transport(x->c);
	cr_assert_not_null(old);
	imap_conn_replace_transport(x->c, fake_transport(f2));
	transport_close(old);
	fake_send_after(f2, "a1 NOOP\r\n", "a1 OK over the new transport\r\n");
	noop(x, &res);
	cr_assert_str_eq(res.text, "over the new transport");
	cr_assert_str_eq(fake_written(f2), "a1 NOOP\r\n");
	imap_conn_free(x->c);
	cr_assert(fake_closed(f2));
	fake_free(f2);
	fake_free(x->f);
	free(x);
}

/* ---------------------------------------------------------------- modified UTF-7 */

Test(utf7, vectors)
{
	const struct { const char *utf8, *mutf7; } v[] = {
		{ "INBOX", "INBOX" },
		{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
		{ "&", "&-" },
		{ "A&B", "A&-B" },
		{ "\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-" },
		{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
		{ "\xf0\x9f\x98\x80", "&2D3eAA-" },
		{ "Gel\xc3\xb6schte Elemente", "Gel&APY-schte Elemente" },
		{ "\xc3\xa4&", "&AOQ-&-" },
		{ "", "" },
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(imap_utf7_encode(v[i].utf8, buf, sizeof(buf)), 0, "encode %zu", i);
		cr_assert_str_eq(buf, v[i].mutf7);
		cr_assert_eq(imap_utf7_decode(v[i].mutf7, strlen(v[i].mutf7), buf, sizeof(buf)), 0,
			     "decode %s", v[i].mutf7);
		cr_assert_str_eq(buf, v[i].utf8);
	}
}

Test(utf7, invalid_rejected)
{
	const char *bad[] = {
		"&",            /* unterminated */
		"&U,BTFw",      /* unterminated run */
		"&AGE-",        /* 'a' must be direct */
		"&ACY-",        /* '&' must be "&-" */
		"&APw",         /* no '-' */
		"&AP-",         /* leftover non-zero bits... and too short */
		"&APx-",        /* non-zero padding bits */
		"&2D0-",        /* lone high surrogate */
		"&3gA-",        /* lone low surrogate */
		"&AAA-",        /* U+0000 */
		"&A!w-",        /* not base64 */
		"&AP/-",        /* '/' is not modified base64 */
		"caf\xc3\xa9",  /* raw 8-bit */
		"a\tb",         /* control */
		"&AOQ-&AOQ-",   /* two shifted runs back to back: non-canonical */
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(imap_utf7_decode(bad[i], strlen(bad[i]), buf, sizeof(buf)), -1,
			     "accepted '%s'", bad[i]);
}

Test(utf7, encode_errors_and_small_buffers)
{
	char buf[64];

	cr_assert_eq(imap_utf7_encode("a\xc3", buf, sizeof(buf)), -1, "truncated UTF-8");
	cr_assert_eq(imap_utf7_encode("\xc0\xaf", buf, sizeof(buf)), -1, "overlong");
	cr_assert_eq(imap_utf7_encode("\xed\xa0\x80", buf, sizeof(buf)), -1, "surrogate");
	cr_assert_eq(imap_utf7_encode("Entw\xc3\xbcrfe", buf, 12), -1, "needs 13 bytes");
	cr_assert_eq(imap_utf7_encode("Entw\xc3\xbcrfe", buf, 13), 0);
	cr_assert_eq(imap_utf7_decode("Entw&APw-rfe", 12, buf, 9), -1, "needs 10 bytes");
	cr_assert_eq(imap_utf7_decode("Entw&APw-rfe", 12, buf, 10), 0);
	cr_assert_eq(imap_utf7_decode("INBOX\0x", 7, buf, sizeof(buf)), -1, "NUL inside");
	/* control characters are encoded, not passed through */
	cr_assert_eq(imap_utf7_encode("a\tb", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "a&AAk-b");
}
