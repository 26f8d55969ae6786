/* test_fake_auth.c - SCRAM channel binding (-PLUS), the GS2 flag and
 * `--auth all` (issue 9): the real check_imap_session binary ($PROBE, see
 * runprobe.h) against the scripted fake server (tests/fake/fakeimap.py, see
 * fakeserver.h), whose "scram" command runs a real server-side SCRAM
 * exchange: it checks the client's proof and c= (GS2 header plus, for
 * -PLUS, the tls-unique binding data of the connection), logs the GS2
 * header the client used, and can expect different binding data (a relaying
 * man in the middle), reject a "y" flag (a server that supports channel
 * binding) or forge its signature.
 *
 * Python's ssl module only offers tls-unique, so the -PLUS scenarios pin the
 * fake to TLS 1.2 (both TLS backends bind with tls-unique there); the one
 * TLS 1.3 case only checks that the probe asks for tls-exporter.
 *
 * Each test runs its own fake on a free loopback port: safe under
 * Criterion's parallel jobs.  Environment: CIS_TEST_TIME_FACTOR,
 * CIS_TEST_ALLOW_STDERR as in test_hostile.c. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define USER "probeuser"
#define PASS "S3cret-Pa55word-7x"
#define HARD_S 20.0

/* ---------------------------------------------------------------- scenarios */

#define MECHS_PLUS "AUTH=SCRAM-SHA-1-PLUS AUTH=SCRAM-SHA-256-PLUS"
/* -PLUS listed last: the probe's preference must not depend on the order */
#define CAPS_PLUS "IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256 " MECHS_PLUS
#define CAPS_NOPLUS "IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256"

/* Start the fake with SCENARIO (serving CONNECTIONS connections), run the
 * probe with the usual credentials plus the NULL-terminated extra
 * arguments, stop the fake and collect everything. */
static void run_fake(struct fake_case *c, char *scn, int connections, ...)
{
	const char *args[48];
	va_list ap;

	va_start(ap, connections);
	tu_va_args(args, sizeof args / sizeof *args, ap);
	va_end(ap);
	fake_case_run(c, scn, connections, HARD_S * cis_time_factor(),
	              (const char *const[]){"-U", USER, "-P", PASS, "--fetch", "none", NULL}, args);
}

/* Exit code, the state word, every needle in the summary, a clean stdout
 * without the password, nothing on stderr. */
static void check(struct fake_case *c, int code, ...)
{
	va_list ap;

	probe_expect_state(&c->r, code, c->diag);
	va_start(ap, code);
	probe_expect_summary_va(&c->r, 1, c->diag, ap);
	va_end(ap);
	cr_assert(!fake_buf_contains_secret((const unsigned char *)c->r.out, c->r.out_len, PASS),
	          "the password appears in stdout%s", c->diag);
	probe_expect_no_stderr(&c->r, c->diag);
	cr_assert_leq(c->r.wall_s, 5.0 * cis_time_factor(), "took %.3f s%s", c->r.wall_s, c->diag);
}

/* ---------------------------------------------------------------- -PLUS */

static void plus_ok(const char *mech, const char *option)
{
	struct fake_case c = {0};
	char body[512], gs2[64];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " gs2=p\n" FAKE_SESSION_REST, mech);
	run_fake(&c, fake_case_scenario(&c, "tls1.2", CAPS_PLUS, body), 1, "-S", "--insecure", "--auth", option, NULL);
	check(&c, 0, mech, "TLSv1.2", NULL);
	fake_case_expect_fake_status(&c, 0);
	snprintf(gs2, sizeof gs2, "scram: GS2 header 'p=tls-unique,,' (%s over TLSv1.2)", mech);
	fake_case_expect_log(&c, gs2);
	fake_case_expect_log(&c, "scram: ok");
	cr_assert(!fake_saw_clear(c.fs, PASS), "the password crossed the wire in clear%s", c.diag);
	fake_case_done(&c);
}

Test(fake_auth, scram_sha256_plus_right_binding_ok) { plus_ok("SCRAM-SHA-256-PLUS", "scram-sha-256-plus"); }
Test(fake_auth, scram_sha1_plus_right_binding_ok) { plus_ok("SCRAM-SHA-1-PLUS", "scram-sha-1-plus"); }

/* The server on the other side of a relaying man in the middle sees other
 * binding data: the login must fail, and say why. */
static void plus_wrong_binding(const char *mech, const char *option)
{
	struct fake_case c = {0};
	char body[512];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " wrongcb\n" FAKE_SESSION_REST, mech);
	run_fake(&c, fake_case_scenario(&c, "tls1.2", CAPS_PLUS, body), 1, "-S", "--insecure", "--auth", option, NULL);
	check(&c, 2, "auth", mech, "channel binding mismatch", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: rejected: channel binding mismatch");
	fake_case_done(&c);
}

Test(fake_auth, scram_sha256_plus_wrong_binding_critical) { plus_wrong_binding("SCRAM-SHA-256-PLUS", "scram-sha-256-plus"); }
Test(fake_auth, scram_sha1_plus_wrong_binding_critical) { plus_wrong_binding("SCRAM-SHA-1-PLUS", "scram-sha-1-plus"); }

/* -PLUS with an authorization identity: "p=tls-unique,a=admin,". */
Test(fake_auth, plus_with_authzid)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS, "scram SCRAM-SHA-256-PLUS " PASS " user=" USER "\n" FAKE_SESSION_REST), 1,
	         "-S", "--insecure", "--auth", "scram-sha-256-plus", "--authzid", "admin", NULL);
	check(&c, 0, "SCRAM-SHA-256-PLUS", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'p=tls-unique,a=admin,'");
	fake_case_done(&c);
}

/* --auth auto over TLS takes SCRAM-SHA-256-PLUS, listed last. */
Test(fake_auth, auto_over_tls_prefers_scram_sha256_plus)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS,
	                  "scram SCRAM-SHA-256-PLUS " PASS " user=" USER " gs2=p\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", NULL);
	check(&c, 0, "SCRAM-SHA-256-PLUS", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'p=tls-unique,,'");
	fake_case_done(&c);
}

/* A server that advertises -PLUS but refuses the binding (Cyrus 3.6 on
 * TLS 1.3 knows only tls-unique; GNU Mailutils advertises -PLUS without
 * support): auto tries the same mechanism without channel binding once,
 * on the same connection, with the "n" flag (a "y" would be taken for a
 * downgrade), and the check is a WARNING that says what failed. */
Test(fake_auth, auto_falls_back_once_when_the_server_refuses_plus)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS,
	                  "expect AUTHENTICATE SCRAM-SHA-256-PLUS \\S+$\n"
	                  "line $TAG NO bad protocol / cancel\n"
	                  "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", NULL);
	check(&c, 1, "SCRAM-SHA-256-PLUS (channel binding tls-unique) refused: NO bad protocol / cancel",
	      "SCRAM-SHA-256 without channel binding worked", "--auth scram-sha-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'n,,' (SCRAM-SHA-256 over TLSv1.2)");
	fake_case_expect_log(&c, "scram: ok");
	fake_case_done(&c);
}

/* Named explicitly, -PLUS is what the admin wants checked: no fallback. */
Test(fake_auth, explicit_plus_refused_is_critical)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS,
	                  "expect AUTHENTICATE SCRAM-SHA-256-PLUS\n"
	                  "line $TAG NO bad protocol / cancel\n" FAKE_LOGOUT_OK),
	         1, "-S", "--insecure", "--auth", "scram-sha-256-plus", NULL);
	check(&c, 2, "auth failed (AUTHENTICATE SCRAM-SHA-256-PLUS): NO bad protocol / cancel", NULL);
	fake_case_expect_no_out(&c, "without channel binding worked");
	fake_case_done(&c);
}

/* --authzid: a mechanism without a field for it (CRAM-MD5 here, LOGIN)
 * would log in as the admin and check the admin's own mailbox; auto
 * passes over it. */
Test(fake_auth, auto_with_authzid_skips_mechanisms_that_cannot_carry_it)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", "IMAP4rev1 SASL-IR AUTH=CRAM-MD5 AUTH=PLAIN",
	                  "expect AUTHENTICATE PLAIN \\S+$\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", "--authzid", "shared-box", NULL);
	check(&c, 0, "PLAIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "PLAIN as " USER " for shared-box");
	fake_case_done(&c);
}

Test(fake_auth, authzid_with_a_mechanism_that_cannot_carry_it_is_unknown)
{
	static const char *const mechs[] = { "login", "auth-login", "cram-md5", "xoauth2" };
	for (size_t i = 0; i < sizeof mechs / sizeof *mechs; i++) {
		struct probe_run r;
		const char *argv[] = { "-H", "127.0.0.1", "-U", USER, "-P", PASS, "--auth", mechs[i],
				       "--authzid", "shared-box", NULL };
		cr_assert_eq(probe_run(&r, HARD_S, NULL, argv), 0);
		cr_assert_eq(r.exit_code, 3, "%s: %s", mechs[i], r.out);
		cr_assert_not_null(strstr(r.first_line, "cannot carry an authorization identity (--authzid)"), "%s",
				   r.first_line);
		probe_run_free(&r);
	}
}

/* The same over STARTTLS: the binding is that of the TLS layer started
 * after the STARTTLS command. */
Test(fake_auth, auto_over_starttls_prefers_plus)
{
	struct fake_case c = {0};
	char *body = NULL;

	cr_assert_eq(fake_certs_make(&c.certs), 0);
	c.have_certs = true;
	cr_assert_geq(asprintf(&body,
	                       "line * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\n"
	                       "expect STARTTLS\n"
	                       "line $TAG OK Begin TLS negotiation now\n"
	                       "starttls %s %s tls1.2\n"
	                       "expect CAPABILITY\n"
	                       "line * CAPABILITY " CAPS_PLUS "\n"
	                       "line $TAG OK CAPABILITY completed\n"
	                       "scram SCRAM-SHA-256-PLUS " PASS " user=" USER " gs2=p\n" FAKE_SESSION_REST,
	                       c.certs.cert, c.certs.key),
	              0);
	run_fake(&c, body, 1, "--starttls", "--insecure", NULL);
	check(&c, 0, "SCRAM-SHA-256-PLUS", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: ok");
	cr_assert(!fake_saw_clear(c.fs, PASS), "the password crossed the wire in clear%s", c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- the GS2 flag */

/* TLS, but the server offers no -PLUS: "y" (the client could bind and
 * thinks the server cannot), so a server that can bind would notice a
 * stripped capability list. */
Test(fake_auth, no_plus_offered_over_tls_sends_y)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, "tls1.2", CAPS_NOPLUS, "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=y\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", NULL);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'y,,' (SCRAM-SHA-256 over TLSv1.2)");
	fake_case_expect_no_out(&c, "server offers channel binding");
	fake_case_done(&c);
}

/* A man in the middle stripped -PLUS from the capabilities, but the real
 * server supports channel binding: it rejects the "y" and the probe goes
 * CRITICAL with the server's words (the downgrade shows). */
Test(fake_auth, stripped_plus_is_detected_by_the_server)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_NOPLUS,
	                  "scram SCRAM-SHA-256 " PASS " user=" USER " rejecty\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", "--auth", "scram-sha-256", NULL);
	check(&c, 2, "auth", "SCRAM-SHA-256", "downgrade", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: GS2 header 'y,,'");
	fake_case_done(&c);
}

/* Told to use the plain variant on a server offering -PLUS: "n" (a "y"
 * would make that server fail the login), and the long output says that
 * channel binding was available. */
Test(fake_auth, explicit_scram_sha256_against_plus_server_sends_n)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS,
	                  "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n rejecty\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", "--auth", "scram-sha-256", NULL);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'n,,'");
	fake_case_expect_out(&c, "server offers channel binding (SCRAM-SHA-256-PLUS)");
	fake_case_expect_no_out(&c, "not encrypted");
	fake_case_done(&c);
}

Test(fake_auth, explicit_scram_sha1_against_plus_server_sends_n)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS, "scram SCRAM-SHA-1 " PASS " user=" USER " gs2=n rejecty\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", "--auth", "scram-sha-1", NULL);
	check(&c, 0, "SCRAM-SHA-1", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'n,,'");
	fake_case_expect_out(&c, "server offers channel binding (SCRAM-SHA-256-PLUS)");
	fake_case_done(&c);
}

/* No TLS: nothing to bind to, so "n" even though the server offers -PLUS;
 * auto takes SCRAM-SHA-256 and says why not -PLUS. */
Test(fake_auth, plain_connection_sends_n)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, NULL, CAPS_PLUS, "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n\n" FAKE_SESSION_REST), 1,
	         NULL);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: GS2 header 'n,,' (SCRAM-SHA-256 over plain TCP)");
	fake_case_expect_out(&c, "server offers channel binding (SCRAM-SHA-256-PLUS) but the connection is not encrypted");
	fake_case_done(&c);
}

/* -PLUS asked for on a plain connection: UNKNOWN (a configuration problem),
 * saying why, and nothing sent. */
Test(fake_auth, plus_on_plain_connection_is_unknown)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, NULL, CAPS_PLUS, FAKE_LOGOUT_OK), 1, "--auth", "scram-sha-256-plus", NULL);
	check(&c, 3, "SCRAM-SHA-256-PLUS", "not encrypted", NULL);
	size_t len;
	const char *rec = (const char *)fake_received(c.fs, &len);
	cr_assert_null(strcasestr(rec, "AUTHENTICATE"), "the probe tried to authenticate%s", c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- forged signature */

static void forged(const char *tls, const char *caps, const char *mech, const char *option)
{
	struct fake_case c = {0};
	char body[512];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " forge\n" FAKE_SESSION_REST, mech);
	if (tls)
		run_fake(&c, fake_case_scenario(&c, tls, caps, body), 1, "-S", "--insecure", "--auth", option, NULL);
	else
		run_fake(&c, fake_case_scenario(&c, NULL, caps, body), 1, "--auth", option, NULL);
	check(&c, 2, "auth", mech, "server signature mismatch", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: sending a forged server signature");
	fake_case_expect_log(&c, "scram: client cancelled (after server-final)");
	fake_case_done(&c);
}

Test(fake_auth, forged_signature_scram_sha256_plus) { forged("tls1.2", CAPS_PLUS, "SCRAM-SHA-256-PLUS", "scram-sha-256-plus"); }
Test(fake_auth, forged_signature_scram_sha1_plus) { forged("tls1.2", CAPS_PLUS, "SCRAM-SHA-1-PLUS", "scram-sha-1-plus"); }
Test(fake_auth, forged_signature_scram_sha256_plain_tcp) { forged(NULL, CAPS_NOPLUS, "SCRAM-SHA-256", "scram-sha-256"); }

/* A wrong password is rejected by the fake's real proof check (control:
 * the fake verifies the proof at all). */
Test(fake_auth, wrong_password_fails_the_proof)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, "tls1.2", CAPS_PLUS, "scram SCRAM-SHA-256-PLUS not-the-password user=" USER "\n" FAKE_SESSION_REST),
	         1, "-S", "--insecure", NULL);
	check(&c, 2, "auth", "SCRAM-SHA-256-PLUS", "wrong proof", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- TLS 1.3 */

/* On TLS 1.3 the probe binds with tls-exporter (RFC 9266).  The fake cannot
 * compute it (Python has no exporter), so this only checks the GS2 header
 * the probe sent; the binding data itself is checked by test_tls.c. */
Test(fake_auth, tls13_uses_tls_exporter)
{
	struct probe_run v;
	struct fake_case c = {0};

	cr_assert_eq(probe_runl(&v, "--version", NULL), 0);
	bool mbed2 = strstr(v.out, "mbed TLS 2.") != NULL;
	probe_run_free(&v);
	if (mbed2)
		cr_skip_test("mbed TLS 2.x speaks no TLS 1.3 (tls-unique on TLS 1.2 is tested above)");
	run_fake(&c, fake_case_scenario(&c, "tls1.3", CAPS_PLUS, "scram SCRAM-SHA-256-PLUS " PASS "\n" FAKE_SESSION_REST), 1, "-S",
	         "--insecure", "--auth", "scram-sha-256-plus", NULL);
	fake_case_expect_log(&c, "scram: GS2 header 'p=tls-exporter,,' (SCRAM-SHA-256-PLUS over TLSv1.3)");
	/* the fake then gives up (scenario error) and hangs up */
	cr_assert_eq(c.r.exit_code, 2, "exit %d%s", c.r.exit_code, c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- --auth all */

/* One connection per mechanism, strongest first: both -PLUS variants, the
 * plain SCRAMs (with "n": the server offers -PLUS), PLAIN and IMAP LOGIN. */
Test(fake_auth, auth_all_with_plus_variants)
{
	struct fake_case c = {0};
	char *scn = NULL;
	const char *blocks[] = {
		"scram SCRAM-SHA-256-PLUS " PASS " user=" USER " gs2=p\n",
		"scram SCRAM-SHA-1-PLUS " PASS " user=" USER " gs2=p\n",
		"scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n rejecty\n",
		"scram SCRAM-SHA-1 " PASS " user=" USER " gs2=n rejecty\n",
		"expect AUTHENTICATE PLAIN \\S+$\n",
		"expect LOGIN " USER " \n",
	};
	size_t nb = sizeof blocks / sizeof blocks[0];

	cr_assert_eq(fake_certs_make(&c.certs), 0);
	c.have_certs = true;
	for (size_t i = 0; i < nb; i++) {
		char *prev = scn;
		cr_assert_geq(asprintf(&scn, "%s%stls %s %s tls1.2\n"
		                             "line * OK [CAPABILITY " CAPS_PLUS "] fake ready\n"
		                             "%s" FAKE_LOGGED_IN FAKE_LOGOUT_OK,
		                       prev ? prev : "", prev ? "connection\n" : "", c.certs.cert, c.certs.key, blocks[i]),
		              0);
		free(prev);
	}
	run_fake(&c, scn, (int)nb, "-S", "--insecure", "--auth", "all", NULL);
	check(&c, 0, "6/6 mechanisms", NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert_eq(tu_count(c.log, "scram: ok"), 4, "%s", c.diag);
	const char *labels[] = {"auth_scram-sha-256-plus=", "auth_scram-sha-1-plus=", "auth_scram-sha-256=",
	                        "auth_scram-sha-1=", "auth_plain=", "auth_login="};
	const char *prev = c.r.first_line;
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		const char *p = strstr(c.r.first_line, labels[i]);
		cr_assert_not_null(p, "no perfdata %s%s", labels[i], c.diag);
		cr_assert_geq(p, prev, "%s out of order%s", labels[i], c.diag);
		prev = p;
	}
	fake_case_done(&c);
}

/* A mechanism that fails does not stop the others (each has its own
 * connection): CRITICAL naming the failed one, the rest still measured. */
Test(fake_auth, auth_all_goes_on_after_a_failure)
{
	struct fake_case c = {0};
	char *scn = NULL;
	const char *blocks[] = {
		"scram SCRAM-SHA-256 " PASS " user=" USER "\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK,
		"expect AUTHENTICATE PLAIN\n"
		"line $TAG NO [AUTHENTICATIONFAILED] PLAIN is broken today\n" FAKE_LOGOUT_OK,
		"expect LOGIN\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK,
	};
	size_t nb = sizeof blocks / sizeof blocks[0];

	cr_assert_eq(fake_certs_make(&c.certs), 0);
	c.have_certs = true;
	for (size_t i = 0; i < nb; i++) {
		char *prev = scn;
		cr_assert_geq(asprintf(&scn, "%s%stls %s %s\n"
		                             "line * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=SCRAM-SHA-256 "
		                             "AUTH=X-UNKNOWN] fake ready\n%s",
		                       prev ? prev : "", prev ? "connection\n" : "", c.certs.cert, c.certs.key, blocks[i]),
		              0);
		free(prev);
	}
	run_fake(&c, scn, (int)nb, "-S", "--insecure", "--auth", "all", NULL);
	check(&c, 2, "auth_plain", "AUTHENTICATE PLAIN", "[AUTHENTICATIONFAILED] PLAIN is broken today", NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert_not_null(strstr(c.r.first_line, "auth_scram-sha-256="), "%s", c.diag);
	cr_assert_not_null(strstr(c.r.first_line, "auth_login="), "IMAP LOGIN was not tried after PLAIN failed%s",
	                   c.diag);
	fake_case_expect_out(&c, "\nauth_scram-sha-256: OK ");
	fake_case_expect_out(&c, "\nauth_plain: FAILED ");
	fake_case_expect_out(&c, "\nauth_login: OK ");
	fake_case_expect_out(&c, "mechanisms that failed: plain\n");
	fake_case_expect_out(&c, "X-UNKNOWN (not implemented)");
	fake_case_done(&c);
}

/* No TLS: the -PLUS variants are skipped (and say why), the plain SCRAMs
 * run with "n", the plaintext mechanisms are skipped. */
Test(fake_auth, auth_all_on_a_plain_connection_skips_plus)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, NULL, CAPS_PLUS,
	                  "scram SCRAM-SHA-256 " PASS " user=" USER " gs2=n\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK
	                  "connection\n"
	                  "line * OK [CAPABILITY " CAPS_PLUS "] fake ready\n"
	                  "scram SCRAM-SHA-1 " PASS " user=" USER " gs2=n\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK),
	         2, "--auth", "all", NULL);
	check(&c, 0, "2/2 mechanisms", NULL);
	fake_case_expect_fake_status(&c, 0);
	cr_assert_eq(tu_count(c.log, "scram: ok"), 2, "%s", c.diag);
	fake_case_expect_out(&c, "SCRAM-SHA-256-PLUS (channel binding needs TLS)");
	fake_case_expect_out(&c, "SCRAM-SHA-1-PLUS (channel binding needs TLS)");
	fake_case_expect_no_out(&c, "server offers channel binding"); /* the skipped list says it */
	fake_case_expect_out(&c, "PLAIN (plaintext on an unencrypted connection)");
	fake_case_expect_out(&c, "IMAP LOGIN (plaintext on an unencrypted connection)");
	cr_assert(!fake_saw(c.fs, PASS), "the password was sent%s", c.diag);
	fake_case_done(&c);
}

/* A long list of skipped mechanisms is split over several lines, never cut
 * off (a long-output line holds 255 bytes). */
Test(fake_auth, auth_all_long_skipped_list_is_complete)
{
	struct fake_case c = {0};
	char caps[2048] = "IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256 AUTH=PLAIN";
	char want[64];

	for (int i = 1; i <= 12; i++)
		snprintf(caps + strlen(caps), sizeof caps - strlen(caps), " AUTH=X-VENDOR-MECHANISM-NUMBER-%02d", i);
	run_fake(&c, fake_case_scenario(&c, NULL, caps, "scram SCRAM-SHA-256 " PASS " user=" USER "\n" FAKE_LOGGED_IN FAKE_LOGOUT_OK), 1,
	         "--auth", "all", NULL);
	check(&c, 0, "1/1 mechanisms", NULL);
	for (int i = 1; i <= 12; i++) {
		snprintf(want, sizeof want, "X-VENDOR-MECHANISM-NUMBER-%02d (not implemented)", i);
		fake_case_expect_out(&c, want);
	}
	fake_case_expect_out(&c, "PLAIN (plaintext on an unencrypted connection)");
	fake_case_expect_no_out(&c, "...");
	cr_assert_geq(tu_count(c.r.out, "\nmechanisms skipped: "), 2, "%s", c.diag);
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- --pipeline and server quirks */

/* Courier-IMAP hands the connection to another process after LOGIN and
 * loses whatever the client sent before the answer: emulated by discarding
 * what arrives before the OK.  Recognised by its greeting,
 * it gets its login alone; the rest still goes in one flight. */
Test(fake_auth, pipeline_waits_for_the_login_answer_on_courier)
{
	struct fake_case c = {0};

	run_fake(&c,
	         strdup("line * OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE QUOTA IDLE] Courier-IMAP ready. "
	                "Copyright 1998-2018 Double Precision, Inc.  See COPYING for distribution information.\n"
	                "expect LOGIN\n"
	                "discard 0.3\n"
	                FAKE_SESSION_REST),
	         1, "--auth", "login", "--pipeline", "-t", "4", NULL);
	check(&c, 0, "INBOX", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_done(&c);
}

/* Cyrus 3.x garbles commands pipelined behind an AUTHENTICATE with
 * SASL-IR (and answers the login twice): the AUTHENTICATE goes alone. */
Test(fake_auth, pipeline_waits_for_the_authenticate_answer_on_cyrus)
{
	struct fake_case c = {0};

	run_fake(&c,
	         strdup("line * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] imap.example.org Cyrus IMAP 3.6.1-Debian "
	                "server ready\n"
	                "expect AUTHENTICATE PLAIN \\S+$\n"
	                "discard 0.3\n"
	                FAKE_SESSION_REST),
	         1, "--auth", "plain", "--pipeline", "-t", "4", NULL);
	check(&c, 0, "INBOX", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_done(&c);
}

/* Any other server that drops the commands pipelined behind the login:
 * the timeout names the step, and the long output the likely cause. */
Test(fake_auth, pipeline_timeout_after_the_login_names_the_likely_cause)
{
	struct fake_case c = {0};

	run_fake(&c,
	         strdup("line * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\n"
	                "expect LOGIN\n"
	                "discard 0.3\n"
	                "line $TAG OK Logged in\n"
	                "stall\n"),
	         1, "--auth", "login", "--pipeline", "-t", "2", NULL);
	check(&c, 2, "timeout during", NULL);
	fake_case_expect_out(&c, "auth: OK");
	fake_case_expect_out(&c, "check without --pipeline");
	fake_case_done(&c);
}
