/* test_fake_cleartext.c - no secret that grants access on its own (a
 * password in PLAIN, AUTHENTICATE LOGIN or IMAP LOGIN; a bearer token in
 * XOAUTH2 or OAUTHBEARER) leaves on an unencrypted connection unless the
 * user named the mechanism with --auth (issue 14, section 1; RFC 6750 5.3,
 * RFC 7628).  The real check_imap_session binary ($PROBE, see runprobe.h)
 * against the scripted fake server (tests/fake/fakeimap.py, fakeserver.h)
 * on a plain port that offers every such mechanism and no STARTTLS, with a
 * password and a token file given, through every path that sends
 * credentials: --auth auto and all, the pipelined login flight, --script,
 * --idle's second connection, SLA repeats (--repeat) and --auth all's
 * reconnections.  What the fake received is checked byte for byte: no
 * AUTHENTICATE or LOGIN command, neither secret in any encoding.
 *
 * Each test runs its own fake on a free loopback port (safe under
 * Criterion's parallel jobs).  Environment: CIS_TEST_TIME_FACTOR,
 * CIS_TEST_ALLOW_STDERR as in test_hostile.c. */
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
#define TOKEN "ya29.Fake-Token_0123456789abcdef"
#define HARD_S 30.0

/* Every mechanism that sends a secret readable on the wire, and IMAP
 * LOGIN (no LOGINDISABLED); no STARTTLS. */
#define CAPS_CLEAR "IMAP4rev1 SASL-IR LITERAL+ AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=PLAIN AUTH=LOGIN"
#define OFFERS_CLEAR "(server offers: XOAUTH2 OAUTHBEARER PLAIN LOGIN)"
/* The same with one mechanism that keeps the password to itself. */
#define CAPS_SCRAM "IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256 AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=PLAIN"

#define GREET(caps) "line * OK [CAPABILITY " caps "] fake ready\n"
/* A connection on which the probe must not log in: greeting, LOGOUT. */
#define REFUSED_CONN GREET(CAPS_CLEAR) FAKE_LOGOUT_OK

/* A temporary file with TEXT, removed by fake_case_done(). */
static const char *case_file(struct fake_case *c, const char *tag, const char *text)
{
	char *p = tu_temp_file(NULL, tag, text, strlen(text));

	cr_assert_not_null(p);
	snprintf(c->file, sizeof c->file, "%s", p);
	free(p);
	return c->file;
}

/* Start the fake with SCN serving CONNECTIONS connections, run the probe
 * with -U, -P, --token-file (a file with the token) and --fetch none, plus
 * the NULL-terminated extra arguments, then collect everything. */
static void run_with(struct fake_case *c, const char *scn, int connections, const char *const *fixed, ...)
{
	const char *args[48];
	va_list ap;

	va_start(ap, fixed);
	tu_va_args(args, sizeof args / sizeof *args, ap);
	va_end(ap);
	fake_case_run(c, strdup(scn), connections, HARD_S * cis_time_factor(), fixed, args);
}

#define BOTH(c) (const char *const[]){"-U", USER, "-P", PASS, "--token-file", case_file(c, "token", TOKEN "\n"), \
	                              "--fetch", "none", NULL}

/* Exit code, state word, every needle in the summary, no secret in stdout
 * or stderr, nothing on stderr. */
static void check(struct fake_case *c, int code, ...)
{
	va_list ap;

	probe_expect_state(&c->r, code, c->diag);
	va_start(ap, code);
	probe_expect_summary_va(&c->r, 0, c->diag, ap);
	va_end(ap);
	for (int i = 0; i < 2; i++) {
		const char *secret = i ? TOKEN : PASS;
		cr_assert(!fake_buf_contains_secret((const unsigned char *)c->r.out, c->r.out_len, secret),
		          "a secret appears in stdout%s", c->diag);
		cr_assert(!fake_buf_contains_secret((const unsigned char *)c->r.err, c->r.err_len, secret),
		          "a secret appears in stderr%s", c->diag);
	}
	probe_expect_no_stderr(&c->r, c->diag);
}

/* Nothing that carries a credential reached the fake, in any form. */
static void expect_no_secret_sent(struct fake_case *c)
{
	static const char *const cmds[] = {"AUTHENTICATE XOAUTH2", "AUTHENTICATE OAUTHBEARER", "AUTHENTICATE PLAIN",
	                                   "AUTHENTICATE LOGIN", " LOGIN "};

	cr_assert(!fake_saw(c->fs, TOKEN), "the token was sent on an unencrypted connection%s", c->diag);
	cr_assert(!fake_saw(c->fs, PASS), "the password was sent on an unencrypted connection%s", c->diag);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		cr_assert_null(memmem(c->rec, c->rec_len, cmds[i], strlen(cmds[i])), "\"%s\" was sent%s", cmds[i],
		               c->diag);
}

/* ---------------------------------------------------------------- --auth auto */

/* auto with a password and a token, offered only mechanisms that would
 * send one of them readable: CRITICAL, saying why, nothing sent (as for
 * passwords alone). */
static void auto_refuses(const char *extra)
{
	struct fake_case c = {0};

	run_with(&c, REFUSED_CONN, 1, BOTH(&c), extra, NULL);
	check(&c, 2, "auth failed: no usable authentication mechanism " OFFERS_CLEAR, "token", "password",
	      "--ssl / --starttls", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	fake_case_done(&c);
}

Test(cleartext, auto_sends_neither_token_nor_password) { auto_refuses(NULL); }
Test(cleartext, auto_with_pipeline_sends_nothing) { auto_refuses("--pipeline"); }

Test(cleartext, auto_with_script_sends_nothing)
{
	struct fake_case c = {0};
	static const char text[] = "# cleartext test\nNOOP\n";
	char *script = tu_temp_file(NULL, "script", text, strlen(text));

	cr_assert_not_null(script);
	run_with(&c, REFUSED_CONN, 1, BOTH(&c), "--script", script, NULL);
	check(&c, 2, "no usable authentication mechanism " OFFERS_CLEAR, NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	cr_assert_null(memmem(c.rec, c.rec_len, "NOOP", 4), "the script ran without a login%s", c.diag);
	unlink(script);
	free(script);
	fake_case_done(&c);
}

/* --idle: neither the main connection nor the second one (which is never
 * opened once the first cannot log in) sends anything. */
Test(cleartext, auto_with_idle_sends_nothing_on_either_connection)
{
	struct fake_case c = {0};

	run_with(&c, REFUSED_CONN, 1, BOTH(&c), "--idle", NULL);
	check(&c, 2, "no usable authentication mechanism " OFFERS_CLEAR, NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	fake_case_done(&c);
}

/* Only a token (no password): the same, and the message says it is the
 * token that is kept back. */
Test(cleartext, auto_with_a_token_only_keeps_it_back)
{
	struct fake_case c = {0};

	run_with(&c, GREET("IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER") FAKE_LOGOUT_OK, 1,
	         (const char *const[]){"-U", USER, "--token-file", case_file(&c, "token", TOKEN "\n"), "--fetch", "none",
	                               NULL},
	         NULL);
	check(&c, 2, "no usable authentication mechanism (server offers: XOAUTH2 OAUTHBEARER)", "bearer token", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	fake_case_done(&c);
}

/* A mechanism that keeps the password to itself is still used on the plain
 * port; the token stays home. */
Test(cleartext, auto_prefers_scram_and_never_sends_the_token)
{
	struct fake_case c = {0};

	run_with(&c, GREET(CAPS_SCRAM) "scram SCRAM-SHA-256 " PASS " user=" USER "\n" FAKE_SESSION_REST, 1, BOTH(&c),
	         NULL);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert(!fake_saw(c.fs, TOKEN), "the token was sent%s", c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- SLA repeats */

Test(cleartext, repeat_sends_nothing_in_any_session)
{
	struct fake_case c = {0};

	run_with(&c, REFUSED_CONN "connection\n" REFUSED_CONN "connection\n" REFUSED_CONN, 3, BOTH(&c), "--repeat", "3",
	         "--interval", "0", NULL);
	check(&c, 2, "0 of 3 sessions OK", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	cr_assert_eq(tu_count(c.log, " from 127.0.0.1:"), 3, "not 3 sessions%s", c.diag);
	fake_case_expect_out(&c, "no usable authentication mechanism");
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- --auth all */

/* Nothing to test: every mechanism is listed as skipped with the reason,
 * the token ones as such. */
Test(cleartext, auth_all_skips_every_readable_secret)
{
	struct fake_case c = {0};

	run_with(&c, REFUSED_CONN, 1, BOTH(&c), "--auth", "all", NULL);
	check(&c, 2, "no mechanism to test " OFFERS_CLEAR, NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	fake_case_expect_out(&c, "XOAUTH2 (bearer token on an unencrypted connection)");
	fake_case_expect_out(&c, "OAUTHBEARER (bearer token on an unencrypted connection)");
	fake_case_expect_out(&c, "PLAIN (plaintext on an unencrypted connection)");
	fake_case_expect_out(&c, "IMAP LOGIN (plaintext on an unencrypted connection)");
	fake_case_done(&c);
}

/* With SCRAM offered too: one connection for SCRAM, none reopened for the
 * token mechanisms (they are skipped), the token never sent. */
Test(cleartext, auth_all_reconnections_never_carry_the_token)
{
	struct fake_case c = {0};

	run_with(&c, GREET(CAPS_SCRAM) "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK,
	         1, BOTH(&c), "--auth", "all", NULL);
	check(&c, 0, "1/1 mechanisms", NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert(!fake_saw(c.fs, TOKEN), "the token was sent%s", c.diag);
	cr_assert(!fake_saw(c.fs, PASS), "the password was sent%s", c.diag);
	fake_case_expect_no_out(&c, "auth_xoauth2");
	fake_case_expect_no_out(&c, "auth_oauthbearer");
	fake_case_expect_out(&c, "XOAUTH2 (bearer token on an unencrypted connection)");
	fake_case_expect_out(&c, "OAUTHBEARER (bearer token on an unencrypted connection)");
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- named on purpose */

/* Naming the mechanism stays the way to do it deliberately, as for
 * --auth login: then the token goes out (and the exchange works). */
static void named(const char *option, const char *mech)
{
	struct fake_case c = {0};
	char scn[1024];

	snprintf(scn, sizeof scn, GREET(CAPS_CLEAR) "expect AUTHENTICATE %s \\S+$\n" FAKE_SESSION_REST, mech);
	run_with(&c, scn, 1, BOTH(&c), "--auth", option, NULL);
	check(&c, 0, mech, NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert(fake_saw(c.fs, TOKEN), "the named mechanism did not send the token%s", c.diag);
	cr_assert(!fake_saw(c.fs, PASS), "the password was sent too%s", c.diag);
	fake_case_done(&c);
}

Test(cleartext, named_xoauth2_is_sent_on_purpose) { named("xoauth2", "XOAUTH2"); }
Test(cleartext, named_oauthbearer_is_sent_on_purpose) { named("oauthbearer", "OAUTHBEARER"); }
