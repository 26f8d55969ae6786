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
#define LOGGED_IN "line $TAG OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE] Logged in\n"
#define EXAMINE_OK \
	"expect STATUS\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS completed\n" \
	"expect EXAMINE\n" \
	"line * 3 EXISTS\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE completed\n"
#define LOGOUT_OK \
	"expect LOGOUT\n" \
	"line * BYE Logging out\n" \
	"line $TAG OK Logout completed\n" \
	"close\n"
/* A connection on which the probe must not log in: greeting, LOGOUT. */
#define REFUSED_CONN GREET(CAPS_CLEAR) LOGOUT_OK

struct fcase {
	char tokfile[64];
	char script[64];
	struct fake_server *fs;
	struct probe_run r;
	int fake_status;
	char *log;
	const unsigned char *rec;
	size_t rec_len;
	char *diag;
};

static const char *token_file(struct fcase *c)
{
	if (!c->tokfile[0]) {
		snprintf(c->tokfile, sizeof c->tokfile, "%s/cis-token.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		int fd = mkstemp(c->tokfile);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, TOKEN "\n", strlen(TOKEN) + 1), (ssize_t)strlen(TOKEN) + 1);
		close(fd);
	}
	return c->tokfile;
}

static const char *script_file(struct fcase *c)
{
	static const char text[] = "# cleartext test\nNOOP\n";

	if (!c->script[0]) {
		snprintf(c->script, sizeof c->script, "%s/cis-script.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		int fd = mkstemp(c->script);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
	}
	return c->script;
}

static char *printable(const unsigned char *b, size_t n)
{
	char *out = malloc(n * 4 + 1), *o = out;

	cr_assert_not_null(out);
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n' || (b[i] >= 0x20 && b[i] < 0x7f))
			*o++ = (char)b[i];
		else
			o += sprintf(o, "\\x%02x", b[i]);
	}
	*o = '\0';
	return out;
}

/* Start the fake with SCN serving CONNECTIONS connections, run the probe
 * with -H/-p, -U, -P, --token-file, --fetch none and the NULL-terminated
 * extra arguments, then collect everything. */
static void run_fake(struct fcase *c, const char *scn, int connections, ...)
{
	struct fake_opts o = {.connections = connections, .max_seconds = 30, .verbose = true};
	const char *argv[64];
	size_t n = 0;
	const char *a;
	va_list ap;

	c->fs = fake_start_opts(scn, &o);
	cr_assert_not_null(c->fs, "the fake IMAP server did not start (python3? tests/fake/fakeimap.py?)");
	argv[n++] = "-H";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = fake_port_str(c->fs);
	argv[n++] = "-U";
	argv[n++] = USER;
	argv[n++] = "-P";
	argv[n++] = PASS;
	argv[n++] = "--token-file";
	argv[n++] = token_file(c);
	argv[n++] = "--fetch";
	argv[n++] = "none";
	va_start(ap, connections);
	while ((a = va_arg(ap, const char *)) != NULL && n < sizeof argv / sizeof *argv - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	cr_assert_eq(probe_run(&c->r, HARD_S * cis_time_factor(), NULL, argv), 0, "could not start the probe ($PROBE)");
	c->fake_status = fake_stop(c->fs);
	c->log = strdup(fake_log(c->fs));
	c->rec = fake_received(c->fs, &c->rec_len);

	char *rec = printable(c->rec, c->rec_len > 3000 ? 3000 : c->rec_len);
	const char *log = c->log;
	if (strlen(log) > 4000)
		log += strlen(log) - 4000;
	cr_assert_geq(asprintf(&c->diag, "\n--- probe: exit %d, signal %d, wall %.3f s\n--- stdout:\n%s\n--- stderr:\n%s\n"
	                                 "--- what the fake received:\n%s\n--- fake server (exit %d), its log:\n%s",
	                       c->r.exit_code, c->r.signal, c->r.wall_s, c->r.out, c->r.err, rec, c->fake_status, log),
	              0);
	free(rec);
}

static void done(struct fcase *c)
{
	fake_free(c->fs);
	if (c->tokfile[0])
		unlink(c->tokfile);
	if (c->script[0])
		unlink(c->script);
	probe_run_free(&c->r);
	free(c->log);
	free(c->diag);
}

static const char *const state_word[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* Exit code, state word, every needle in the summary (before '|'), no
 * secret in stdout or stderr, nothing on stderr. */
static void check(struct fcase *c, int code, ...)
{
	char prefix[32];
	const char *needle;
	va_list ap;

	cr_assert_eq(c->r.signal, 0, "the probe died of signal %d%s", c->r.signal, c->diag);
	cr_assert_eq(c->r.exit_code, code, "exit code %d, expected %d%s", c->r.exit_code, code, c->diag);
	snprintf(prefix, sizeof prefix, "IMAP %s - ", state_word[code]);
	cr_assert(!strncmp(c->r.first_line, prefix, strlen(prefix)), "first line does not start with \"%s\"%s", prefix,
	          c->diag);
	char *sum = strndup(c->r.first_line, strcspn(c->r.first_line, "|"));
	va_start(ap, code);
	while ((needle = va_arg(ap, const char *)) != NULL)
		cr_assert_not_null(strstr(sum, needle), "\"%s\" not in the summary \"%s\"%s", needle, sum, c->diag);
	va_end(ap);
	free(sum);
	for (int i = 0; i < 2; i++) {
		const char *secret = i ? TOKEN : PASS;
		cr_assert(!fake_buf_contains_secret((const unsigned char *)c->r.out, c->r.out_len, secret),
		          "a secret appears in stdout%s", c->diag);
		cr_assert(!fake_buf_contains_secret((const unsigned char *)c->r.err, c->r.err_len, secret),
		          "a secret appears in stderr%s", c->diag);
	}
	if (!getenv("CIS_TEST_ALLOW_STDERR"))
		cr_assert_eq(c->r.err_len, 0, "unexpected output on stderr%s", c->diag);
}

/* Nothing that carries a credential reached the fake, in any form. */
static void expect_no_secret_sent(struct fcase *c)
{
	cr_assert(!fake_saw(c->fs, TOKEN), "the token was sent on an unencrypted connection%s", c->diag);
	cr_assert(!fake_saw(c->fs, PASS), "the password was sent on an unencrypted connection%s", c->diag);
	cr_assert_null(memmem(c->rec, c->rec_len, "AUTHENTICATE XOAUTH2", 20), "XOAUTH2 was tried%s", c->diag);
	cr_assert_null(memmem(c->rec, c->rec_len, "AUTHENTICATE OAUTHBEARER", 24), "OAUTHBEARER was tried%s", c->diag);
	cr_assert_null(memmem(c->rec, c->rec_len, "AUTHENTICATE PLAIN", 18), "PLAIN was tried%s", c->diag);
	cr_assert_null(memmem(c->rec, c->rec_len, "AUTHENTICATE LOGIN", 18), "AUTHENTICATE LOGIN was tried%s", c->diag);
	cr_assert_null(memmem(c->rec, c->rec_len, " LOGIN ", 7), "IMAP LOGIN was tried%s", c->diag);
}

static void expect_out(struct fcase *c, const char *text)
{
	cr_assert_not_null(strstr(c->r.out, text), "stdout lacks \"%s\"%s", text, c->diag);
}

static void expect_fake_status(struct fcase *c, int status)
{
	cr_assert_eq(c->fake_status, status, "the fake exited %d, expected %d%s", c->fake_status, status, c->diag);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ---------------------------------------------------------------- --auth auto */

/* auto with a password and a token, offered only mechanisms that would
 * send one of them readable: CRITICAL, saying why, nothing sent (as for
 * passwords alone). */
static void auto_refuses(const char *extra1, const char *extra2)
{
	struct fcase c = {0};

	run_fake(&c, REFUSED_CONN, 1, extra1, extra2, NULL);
	check(&c, 2, "auth failed: no usable authentication mechanism " OFFERS_CLEAR, "token", "password",
	      "--ssl / --starttls", NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	done(&c);
}

Test(cleartext, auto_sends_neither_token_nor_password) { auto_refuses(NULL, NULL); }
Test(cleartext, auto_with_pipeline_sends_nothing) { auto_refuses("--pipeline", NULL); }
Test(cleartext, auto_with_script_sends_nothing)
{
	struct fcase c = {0};

	run_fake(&c, REFUSED_CONN, 1, "--script", script_file(&c), NULL);
	check(&c, 2, "no usable authentication mechanism " OFFERS_CLEAR, NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	cr_assert_null(memmem(c.rec, c.rec_len, "NOOP", 4), "the script ran without a login%s", c.diag);
	done(&c);
}

/* --idle: neither the main connection nor the second one (which is never
 * opened once the first cannot log in) sends anything. */
Test(cleartext, auto_with_idle_sends_nothing_on_either_connection)
{
	struct fcase c = {0};

	run_fake(&c, REFUSED_CONN, 1, "--idle", NULL);
	check(&c, 2, "no usable authentication mechanism " OFFERS_CLEAR, NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	done(&c);
}

/* Only a token (no password): the same, and the message says it is the
 * token that is kept back. */
Test(cleartext, auto_with_a_token_only_keeps_it_back)
{
	struct fcase c = {0};
	struct fake_opts o = {.connections = 1, .max_seconds = 30, .verbose = true};

	c.fs = fake_start_opts(GREET("IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER") LOGOUT_OK, &o);
	cr_assert_not_null(c.fs);
	const char *argv[] = {"-H", "127.0.0.1", "-p", fake_port_str(c.fs), "-U", USER, "--token-file", token_file(&c),
	                      "--fetch", "none", NULL};
	cr_assert_eq(probe_run(&c.r, HARD_S * cis_time_factor(), NULL, argv), 0);
	c.fake_status = fake_stop(c.fs);
	c.log = strdup(fake_log(c.fs));
	c.rec = fake_received(c.fs, &c.rec_len);
	cr_assert_geq(asprintf(&c.diag, "\n--- stdout:\n%s\n--- fake log:\n%s", c.r.out, c.log), 0);
	check(&c, 2, "no usable authentication mechanism (server offers: XOAUTH2 OAUTHBEARER)", "bearer token", NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	done(&c);
}

/* A mechanism that keeps the password to itself is still used on the plain
 * port; the token stays home. */
Test(cleartext, auto_prefers_scram_and_never_sends_the_token)
{
	struct fcase c = {0};

	run_fake(&c, GREET(CAPS_SCRAM) "scram SCRAM-SHA-256 " PASS " user=" USER "\n" LOGGED_IN EXAMINE_OK LOGOUT_OK, 1,
	         NULL);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	expect_fake_status(&c, 0);
	cr_assert(!fake_saw(c.fs, TOKEN), "the token was sent%s", c.diag);
	done(&c);
}

/* ---------------------------------------------------------------- SLA repeats */

Test(cleartext, repeat_sends_nothing_in_any_session)
{
	struct fcase c = {0};

	run_fake(&c, REFUSED_CONN "connection\n" REFUSED_CONN "connection\n" REFUSED_CONN, 3, "--repeat", "3",
	         "--interval", "0", NULL);
	check(&c, 2, "0 of 3 sessions OK", NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	cr_assert_eq(count(c.log, " from 127.0.0.1:"), 3, "not 3 sessions%s", c.diag);
	expect_out(&c, "no usable authentication mechanism");
	done(&c);
}

/* ---------------------------------------------------------------- --auth all */

/* Nothing to test: every mechanism is listed as skipped with the reason,
 * the token ones as such. */
Test(cleartext, auth_all_skips_every_readable_secret)
{
	struct fcase c = {0};

	run_fake(&c, REFUSED_CONN, 1, "--auth", "all", NULL);
	check(&c, 2, "no mechanism to test " OFFERS_CLEAR, NULL);
	expect_fake_status(&c, 0);
	expect_no_secret_sent(&c);
	expect_out(&c, "XOAUTH2 (bearer token on an unencrypted connection)");
	expect_out(&c, "OAUTHBEARER (bearer token on an unencrypted connection)");
	expect_out(&c, "PLAIN (plaintext on an unencrypted connection)");
	expect_out(&c, "IMAP LOGIN (plaintext on an unencrypted connection)");
	done(&c);
}

/* With SCRAM offered too: one connection for SCRAM, none reopened for the
 * token mechanisms (they are skipped), the token never sent. */
Test(cleartext, auth_all_reconnections_never_carry_the_token)
{
	struct fcase c = {0};

	run_fake(&c,
	         GREET(CAPS_SCRAM) "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n\n" LOGGED_IN LOGOUT_OK, 1,
	         "--auth", "all", NULL);
	check(&c, 0, "1/1 mechanisms", NULL);
	cr_assert(!fake_saw(c.fs, TOKEN), "the token was sent%s", c.diag);
	cr_assert(!fake_saw(c.fs, PASS), "the password was sent%s", c.diag);
	expect_fake_status(&c, 0);
	cr_assert_null(strstr(c.r.out, "auth_xoauth2"), "XOAUTH2 was tried%s", c.diag);
	cr_assert_null(strstr(c.r.out, "auth_oauthbearer"), "OAUTHBEARER was tried%s", c.diag);
	expect_out(&c, "XOAUTH2 (bearer token on an unencrypted connection)");
	expect_out(&c, "OAUTHBEARER (bearer token on an unencrypted connection)");
	done(&c);
}

/* ---------------------------------------------------------------- named on purpose */

/* Naming the mechanism stays the way to do it deliberately, as for
 * --auth login: then the token goes out (and the exchange works). */
static void named(const char *option, const char *mech)
{
	struct fcase c = {0};
	char scn[1024];

	snprintf(scn, sizeof scn, GREET(CAPS_CLEAR) "expect AUTHENTICATE %s \\S+$\n" LOGGED_IN EXAMINE_OK LOGOUT_OK, mech);
	run_fake(&c, scn, 1, "--auth", option, NULL);
	check(&c, 0, mech, NULL);
	expect_fake_status(&c, 0);
	cr_assert(fake_saw(c.fs, TOKEN), "the named mechanism did not send the token%s", c.diag);
	cr_assert(!fake_saw(c.fs, PASS), "the password was sent too%s", c.diag);
	done(&c);
}

Test(cleartext, named_xoauth2_is_sent_on_purpose) { named("xoauth2", "XOAUTH2"); }
Test(cleartext, named_oauthbearer_is_sent_on_purpose) { named("oauthbearer", "OAUTHBEARER"); }
