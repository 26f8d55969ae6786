/* test_fake_sasl.c - the AUTHENTICATE exchange against the scripted fake
 * server (issue 4): the real check_imap_session binary ($PROBE, see
 * runprobe.h) against tests/fake/fakeimap.py (fakeserver.h).
 *
 *   - XOAUTH2 and OAUTHBEARER: the exact initial response (decoded from
 *     what the fake recorded), with and without SASL-IR, and the RFC 7628
 *     error exchange ("+ <base64 JSON>", answered with an empty line or
 *     ^A) reported with the server's status and scope;
 *   - EXTERNAL over TLS with a client certificate the fake verifies;
 *   - bare "+" and "+ " continuations (AUTHENTICATE LOGIN, PLAIN without
 *     SASL-IR), untagged data in the middle of an exchange, and which
 *     capabilities are used after the login (those of the tagged OK, or
 *     none: then they are re-read only when a later step needs them);
 *   - SCRAM against a misbehaving server: a nonce that does not extend the
 *     client's, a billion iterations, a forged signature (SCRAM-SHA-1; the
 *     others are in test_fake_auth.c), e= errors, and an OK without the
 *     server-final message;
 *   - every mechanism under -vvv: neither the password nor the token nor
 *     any base64 blob carrying them appears on stdout or stderr;
 *   - awkward credentials (quotes, backslashes, spaces, UTF-8, 600 bytes):
 *     the exact bytes on the wire for IMAP LOGIN (quoted string or literal,
 *     {n} / {n+} after LITERAL+ / LITERAL-), PLAIN, AUTHENTICATE LOGIN and
 *     SCRAM (whose proof the fake checks).
 *
 * Every case asserts the exit code, the words of the first line, a clean
 * stderr and a wall-time bound; each runs its own fake on a free loopback
 * port (safe under Criterion's parallel jobs).  Environment:
 * CIS_TEST_TIME_FACTOR, CIS_TEST_ALLOW_STDERR as in test_hostile.c. */
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
#define HARD_S 20.0

/* ---------------------------------------------------------------- base64 (independent of the probe's) */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/* (the encoder is tu_b64_dup, testutil.h) */

/* Strict decode (padding required); malloc'd with a NUL after *outlen
 * bytes, or NULL if TEXT is not base64. */
static unsigned char *b64dec(const char *text, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n / 4 * 3 + 1);
	size_t o = 0;

	cr_assert_not_null(out);
	if (n % 4) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i += 4) {
		unsigned v = 0;
		int pad = 0;
		for (size_t k = 0; k < 4; k++) {
			const char *p = text[i + k] ? strchr(b64chars, text[i + k]) : NULL;
			if (text[i + k] == '=' && i + 4 == n && k >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!p || pad) {
				free(out);
				return NULL;
			}
			v = v << 6 | (unsigned)(p - b64chars);
		}
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* ---------------------------------------------------------------- scenarios */

/* after a failed one: the probe logs out (or just goes) */
#define TAIL FAKE_LOGOUT_OK

/* the RFC 7628 error JSON Gmail sends (base64 on the wire) */
#define GMAIL_ERROR_JSON "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}"

static char *certpath(struct fake_case *c, const char *name)
{
	char *p = NULL;
	fake_case_certs(c);
	cr_assert_geq(asprintf(&p, "%s/%s", c->certs.dir, name), 0);
	return p;
}

/* The token file, with the trailing newline an editor leaves. */
static const char *token_file(struct fake_case *c)
{
	if (!c->file[0]) {
		char *p = tu_temp_file(NULL, "token", TOKEN "\n", strlen(TOKEN) + 1);

		cr_assert_lt(strlen(p), sizeof c->file, "TMPDIR too long");
		snprintf(c->file, sizeof c->file, "%s", p);
		free(p);
	}
	return c->file;
}

/* Start the fake with SCN (freed), run the probe with -H/-p/--fetch none
 * plus the NULL-terminated ARGS, stop the fake, collect everything. */
static void run_argv(struct fake_case *c, char *scn, const char *const *args)
{
	fake_case_run(c, scn, 1, HARD_S * cis_time_factor(), (const char *const[]){"--fetch", "none", NULL}, args);
}

static void run_fake(struct fake_case *c, char *scn, ...)
{
	const char *args[48];
	va_list ap;

	va_start(ap, scn);
	tu_va_args(args, sizeof args / sizeof *args, ap);
	va_end(ap);
	run_argv(c, scn, args);
}

/* Does B (N bytes) contain SECRET in any form: raw, quoted, or base64 at
 * any alignment (fakeserver.h)? */
static bool has_secret(const char *b, size_t n, const char *secret)
{
	return fake_buf_contains_secret((const unsigned char *)b, n, secret);
}

/* Exit code, the state word, every needle in the summary (the first line
 * before '|'), neither password nor token anywhere in stdout or stderr,
 * nothing on stderr, a wall-time bound. */
static void check(struct fake_case *c, int code, ...)
{
	va_list ap;

	probe_expect_state(&c->r, code, c->diag);
	va_start(ap, code);
	probe_expect_summary_va(&c->r, 0, c->diag, ap);
	va_end(ap);
	cr_assert(!has_secret(c->r.out, c->r.out_len, PASS), "the password appears in stdout%s", c->diag);
	cr_assert(!has_secret(c->r.out, c->r.out_len, TOKEN), "the token appears in stdout%s", c->diag);
	cr_assert(!has_secret(c->r.err, c->r.err_len, PASS), "the password appears in stderr%s", c->diag);
	cr_assert(!has_secret(c->r.err, c->r.err_len, TOKEN), "the token appears in stderr%s", c->diag);
	probe_expect_no_stderr(&c->r, c->diag);
	cr_assert_leq(c->r.wall_s, 5.0 * cis_time_factor(), "took %.3f s%s", c->r.wall_s, c->diag);
}

/* The record has (has = true) or lacks the N bytes at WHAT. */
static void expect_sent_n(struct fake_case *c, const void *what, size_t n, bool has)
{
	char *p = tu_printable(what, n);
	if (has)
		cr_assert_not_null(memmem(c->rec, c->rec_len, what, n), "the probe did not send \"%s\"%s", p, c->diag);
	else
		cr_assert_null(memmem(c->rec, c->rec_len, what, n), "the probe sent \"%s\"%s", p, c->diag);
	free(p);
}

static void expect_sent(struct fake_case *c, const char *what)
{
	expect_sent_n(c, what, strlen(what), true);
}

static void expect_not_sent(struct fake_case *c, const char *what)
{
	expect_sent_n(c, what, strlen(what), false);
}

/* The client line that contains NEEDLE (CRLF stripped), from just after
 * NEEDLE; or, with LATER > 0, the LATER-th line after it.  malloc'd. */
static char *sent_line(struct fake_case *c, const char *needle, int later)
{
	const unsigned char *p = memmem(c->rec, c->rec_len, needle, strlen(needle));
	const unsigned char *end = c->rec + c->rec_len;

	cr_assert_not_null(p, "the probe did not send \"%s\"%s", needle, c->diag);
	p += strlen(needle);
	for (int i = 0; i < later; i++) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
		cr_assert_not_null(nl, "no line %d after \"%s\"%s", later, needle, c->diag);
		p = nl + 1;
	}
	const unsigned char *eol = memchr(p, '\r', (size_t)(end - p));
	cr_assert_not_null(eol, "unterminated line after \"%s\"%s", needle, c->diag);
	cr_assert(eol + 1 < end && eol[1] == '\n', "line not ended by CRLF%s", c->diag);
	return strndup((const char *)p, (size_t)(eol - p));
}

/* The base64 client message in that line, decoded, must be exactly WANT
 * (WANT_LEN bytes). */
static void expect_b64(struct fake_case *c, const char *needle, int later, const void *want, size_t want_len)
{
	char *line = sent_line(c, needle, later);
	size_t n = 0;
	unsigned char *got = b64dec(line, strlen(line), &n);

	cr_assert_not_null(got, "\"%s\" is not base64%s", line, c->diag);
	char *pg = tu_printable(got, n), *pw = tu_printable(want, want_len);
	cr_assert(n == want_len && !memcmp(got, want, n), "the probe sent \"%s\", expected \"%s\"%s", pg, pw, c->diag);
	free(pg);
	free(pw);
	free(got);
	free(line);
}

/* ================================================================ XOAUTH2 */

#define XOAUTH2_BLOB "user=" USER "\x01" "auth=Bearer " TOKEN "\x01\x01"

static void xoauth2_ok(const char *caps, const char *exchange, int later)
{
	struct fake_case c = {0};
	char body[1024];

	snprintf(body, sizeof body, "%s" FAKE_SESSION_REST, exchange);
	run_fake(&c, fake_case_scenario(&c, NULL, caps, body), "-U", USER, "--token-file", token_file(&c), "--auth", "xoauth2",
	         NULL);
	check(&c, 0, "XOAUTH2", NULL);
	fake_case_expect_fake_status(&c, 0);
	/* the initial response: after the command, or on the line after it */
	expect_b64(&c, later ? "AUTHENTICATE XOAUTH2\r\n" : "AUTHENTICATE XOAUTH2 ", 0, XOAUTH2_BLOB,
	           strlen(XOAUTH2_BLOB));
	fake_case_done(&c);
}

Test(fake_sasl, xoauth2_sasl_ir)
{
	xoauth2_ok("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "expect AUTHENTICATE XOAUTH2 \\S+$\n", 0);
}

Test(fake_sasl, xoauth2_without_sasl_ir)
{
	xoauth2_ok("IMAP4rev1 AUTH=XOAUTH2", "expect AUTHENTICATE XOAUTH2$\nline + \nexpectline \\S+$\n", 1);
}

Test(fake_sasl, xoauth2_without_sasl_ir_bare_plus)
{
	xoauth2_ok("IMAP4rev1 AUTH=XOAUTH2", "expect AUTHENTICATE XOAUTH2$\nsend +\\r\\n\nexpectline \\S+$\n", 1);
}

/* Gmail's answer to a bad token: "+ <base64 JSON>"; the client sends an
 * empty line, then gets the tagged NO.  CRITICAL with the server's words
 * and the JSON's status and scope. */
static void xoauth2_error(bool sasl_ir)
{
	struct fake_case c = {0};
	char *json = tu_b64_dup(GMAIL_ERROR_JSON, strlen(GMAIL_ERROR_JSON));
	char *body = NULL;

	cr_assert_geq(asprintf(&body,
	                       "%s"
	                       "line + %s\n"
	                       "expectline $\n"
	                       "line $TAG NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\n" TAIL,
	                       sasl_ir ? "expect AUTHENTICATE XOAUTH2 \\S+$\n"
	                               : "expect AUTHENTICATE XOAUTH2$\nline + \nexpectline \\S+$\n",
	                       json),
	              0);
	run_fake(&c, fake_case_scenario(&c, NULL, sasl_ir ? "IMAP4rev1 SASL-IR AUTH=XOAUTH2" : "IMAP4rev1 AUTH=XOAUTH2", body),
	         "-U", USER, "--token-file", token_file(&c), "--auth", "xoauth2", NULL);
	free(body);
	free(json);
	check(&c, 2, "auth failed (AUTHENTICATE XOAUTH2)", "[AUTHENTICATIONFAILED] Invalid credentials (Failure)",
	      "401", "https://mail.google.com/", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "XOAUTH2 error from server: 401 (scope: https://mail.google.com/)");
	/* the answer to the error challenge is an empty line */
	char *answer = sent_line(&c, "AUTHENTICATE XOAUTH2", sasl_ir ? 1 : 2);
	cr_assert_str_empty(answer, "the answer to the error challenge is \"%s\", not empty%s", answer, c.diag);
	free(answer);
	fake_case_done(&c);
}

Test(fake_sasl, xoauth2_error_json_is_reported) { xoauth2_error(true); }
Test(fake_sasl, xoauth2_error_json_without_sasl_ir) { xoauth2_error(false); }

/* ================================================================ OAUTHBEARER */

static size_t oauthbearer_blob(char *buf, size_t n, const char *authz, const char *port)
{
	int k = snprintf(buf, n, "n,a=%s,\x01host=127.0.0.1\x01port=%s\x01" "auth=Bearer " TOKEN "\x01\x01", authz, port);
	cr_assert(k > 0 && (size_t)k < n);
	return (size_t)k;
}

static void oauthbearer_ok(const char *caps, const char *exchange, int later, const char *user, const char *authz)
{
	struct fake_case c = {0};
	char body[1024], want[512];

	snprintf(body, sizeof body, "%s" FAKE_SESSION_REST, exchange);
	run_fake(&c, fake_case_scenario(&c, NULL, caps, body), "-U", user, "--token-file", token_file(&c), "--auth",
	         "oauthbearer", NULL);
	check(&c, 0, "OAUTHBEARER", NULL);
	fake_case_expect_fake_status(&c, 0);
	size_t n = oauthbearer_blob(want, sizeof want, authz, fake_port_str(c.fs));
	expect_b64(&c, later ? "AUTHENTICATE OAUTHBEARER\r\n" : "AUTHENTICATE OAUTHBEARER ", 0, want, n);
	fake_case_done(&c);
}

Test(fake_sasl, oauthbearer_sasl_ir)
{
	oauthbearer_ok("IMAP4rev1 SASL-IR AUTH=OAUTHBEARER", "expect AUTHENTICATE OAUTHBEARER \\S+$\n", 0, USER, USER);
}

Test(fake_sasl, oauthbearer_without_sasl_ir)
{
	oauthbearer_ok("IMAP4rev1 AUTH=OAUTHBEARER", "expect AUTHENTICATE OAUTHBEARER$\nline + \nexpectline \\S+$\n", 1,
	               USER, USER);
}

Test(fake_sasl, oauthbearer_without_sasl_ir_bare_plus)
{
	oauthbearer_ok("IMAP4rev1 AUTH=OAUTHBEARER", "expect AUTHENTICATE OAUTHBEARER$\nsend +\\r\\n\nexpectline \\S+$\n",
	               1, USER, USER);
}

/* The GS2 authzid is a saslname: ',' and '=' escaped. */
Test(fake_sasl, oauthbearer_escapes_the_user_name)
{
	oauthbearer_ok("IMAP4rev1 SASL-IR AUTH=OAUTHBEARER", "expect AUTHENTICATE OAUTHBEARER \\S+$\n", 0,
	               "probe,user=x@example.org", "probe=2Cuser=3Dx@example.org");
}

/* RFC 7628 3.2.2: the server's error challenge is answered with a single
 * ^A (base64 "AQ=="); CRITICAL with the server's words, status and scope. */
static void oauthbearer_error(bool sasl_ir)
{
	struct fake_case c = {0};
	const char *err = "{\"status\":\"invalid_token\",\"scope\":\"https://mail.example.org/imap\","
	                  "\"openid-configuration\":\"https://auth.example.org/.well-known/openid-configuration\"}";
	char *json = tu_b64_dup(err, strlen(err));
	char *body = NULL;

	cr_assert_geq(asprintf(&body,
	                       "%s"
	                       "line + %s\n"
	                       "expectline AQ==$\n"
	                       "line $TAG NO [AUTHENTICATIONFAILED] Token expired\n" TAIL,
	                       sasl_ir ? "expect AUTHENTICATE OAUTHBEARER \\S+$\n"
	                               : "expect AUTHENTICATE OAUTHBEARER$\nline + \nexpectline \\S+$\n",
	                       json),
	              0);
	run_fake(&c,
	         fake_case_scenario(&c, NULL, sasl_ir ? "IMAP4rev1 SASL-IR AUTH=OAUTHBEARER" : "IMAP4rev1 AUTH=OAUTHBEARER", body),
	         "-U", USER, "--token-file", token_file(&c), "--auth", "oauthbearer", NULL);
	free(body);
	free(json);
	check(&c, 2, "auth failed (AUTHENTICATE OAUTHBEARER)", "[AUTHENTICATIONFAILED] Token expired", "invalid_token",
	      "https://mail.example.org/imap", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "OAUTHBEARER error from server: invalid_token (scope: https://mail.example.org/imap)");
	expect_b64(&c, "AUTHENTICATE OAUTHBEARER", sasl_ir ? 1 : 2, "\x01", 1);
	fake_case_done(&c);
}

Test(fake_sasl, oauthbearer_error_is_answered_with_ctrl_a) { oauthbearer_error(true); }
Test(fake_sasl, oauthbearer_error_without_sasl_ir) { oauthbearer_error(false); }

/* ================================================================ EXTERNAL */

/* Over implicit TLS; the fake requires a client certificate issued by the
 * test CA and logs its subject. */
static void external(bool sasl_ir, const char *authzid)
{
	struct fake_case c = {0};
	char *ca = certpath(&c, "ca.pem"), *cert = certpath(&c, "client.pem"), *key = certpath(&c, "client.key");
	char *tls = NULL, *exch = NULL, *body = NULL;
	char *b64 = authzid ? tu_b64_dup(authzid, strlen(authzid)) : NULL;

	cr_assert_geq(asprintf(&tls, "clientca=%s", ca), 0);
	if (sasl_ir)
		cr_assert_geq(asprintf(&exch, "expect AUTHENTICATE EXTERNAL %s$\n", b64 ? b64 : "="), 0);
	else
		cr_assert_geq(asprintf(&exch, "expect AUTHENTICATE EXTERNAL$\nline + \nexpectline %s$\n", b64 ? b64 : ""),
		              0);
	cr_assert_geq(asprintf(&body, "%s" FAKE_SESSION_REST, exch), 0);
	/* the options insist on -U with --authzid, although EXTERNAL takes
	 * the authentication identity from the certificate */
	const char *args[] = {"-S", "--cafile", ca, "--client-cert", cert, "--client-key", key, "--auth", "external",
	                      authzid ? "--authzid" : NULL, authzid, "-U", USER, NULL};
	run_argv(&c, fake_case_scenario(&c, tls, sasl_ir ? "IMAP4rev1 SASL-IR AUTH=EXTERNAL" : "IMAP4rev1 AUTH=EXTERNAL", body),
	         args);
	check(&c, 0, "EXTERNAL", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "tls: client certificate CN=probe-client");
	fake_case_expect_out(&c, "auth: OK");
	if (sasl_ir) {
		char *ir = sent_line(&c, "AUTHENTICATE EXTERNAL ", 0);
		cr_assert_str_eq(ir, b64 ? b64 : "=", "%s", c.diag);
		free(ir);
	} else {
		expect_sent(&c, "AUTHENTICATE EXTERNAL\r\n");
		char *resp = sent_line(&c, "AUTHENTICATE EXTERNAL\r\n", 0);
		cr_assert_str_eq(resp, b64 ? b64 : "", "%s", c.diag);
		free(resp);
	}
	free(tls);
	free(exch);
	free(body);
	free(b64);
	free(ca);
	free(cert);
	free(key);
	fake_case_done(&c);
}

Test(fake_sasl, external_client_cert_sasl_ir_empty) { external(true, NULL); }
Test(fake_sasl, external_client_cert_sasl_ir_authzid) { external(true, "shared-mailbox"); }
Test(fake_sasl, external_client_cert_without_sasl_ir) { external(false, NULL); }
Test(fake_sasl, external_client_cert_without_sasl_ir_authzid) { external(false, "shared-mailbox"); }

/* Without TLS there is no certificate to speak of: UNKNOWN (a usage
 * error), nothing sent. */
Test(fake_sasl, external_needs_tls)
{
	struct fake_case c = {0};
	char *cert = certpath(&c, "client.pem"), *key = certpath(&c, "client.key");
	const char *args[] = {"--client-cert", cert, "--client-key", key, "--auth", "external", NULL};

	run_argv(&c, fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=EXTERNAL", TAIL), args);
	check(&c, 3, "without --ssl or --starttls", NULL);
	expect_not_sent(&c, "AUTHENTICATE");
	free(cert);
	free(key);
	fake_case_done(&c);
}

/* ================================================================ continuations */

/* base64("\0probeuser\0S3cret-Pa55word-7x") */
#define PLAIN_B64 "AHByb2JldXNlcgBTM2NyZXQtUGE1NXdvcmQtN3g="
#define PLAIN_BLOB "\0" USER "\0" PASS

static void plain_without_sasl_ir(const char *cont)
{
	struct fake_case c = {0};
	char body[1024];

	snprintf(body, sizeof body, "expect AUTHENTICATE PLAIN$\n%s\nexpectline " PLAIN_B64 "$\n" FAKE_SESSION_REST, cont);
	run_fake(&c, fake_case_scenario(&c, NULL, "IMAP4rev1 AUTH=PLAIN", body), "-U", USER, "-P", PASS, "--auth", "plain", NULL);
	check(&c, 0, "PLAIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_sent(&c, "AUTHENTICATE PLAIN\r\n" PLAIN_B64 "\r\n");
	expect_b64(&c, "AUTHENTICATE PLAIN\r\n", 0, PLAIN_BLOB, sizeof PLAIN_BLOB - 1);
	fake_case_done(&c);
}

Test(fake_sasl, plain_bare_plus) { plain_without_sasl_ir("send +\\r\\n"); }
Test(fake_sasl, plain_plus_space_empty_challenge) { plain_without_sasl_ir("line + "); }

/* base64 "Username:" / "Password:" prompts, as "+ X", bare "+" or "+ ". */
static void auth_login(const char *p1, const char *p2)
{
	struct fake_case c = {0};
	char body[1024];

	snprintf(body, sizeof body,
	         "expect AUTHENTICATE LOGIN$\n%s\nexpectline cHJvYmV1c2Vy$\n%s\nexpectline UzNjcmV0LVBhNTV3b3JkLTd4$\n"
	         FAKE_SESSION_REST, p1, p2);
	run_fake(&c, fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=LOGIN", body), "-U", USER, "-P", PASS, "--auth",
	         "auth-login", NULL);
	check(&c, 0, "LOGIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	/* LOGIN has no initial response, even with SASL-IR */
	expect_sent(&c, "AUTHENTICATE LOGIN\r\ncHJvYmV1c2Vy\r\nUzNjcmV0LVBhNTV3b3JkLTd4\r\n");
	fake_case_done(&c);
}

Test(fake_sasl, auth_login_bare_plus) { auth_login("send +\\r\\n", "send +\\r\\n"); }
Test(fake_sasl, auth_login_plus_space_empty_challenges) { auth_login("line + ", "line + "); }
Test(fake_sasl, auth_login_mixed_prompts) { auth_login("line + VXNlcm5hbWU6", "send +\\r\\n"); }

/* ================================================================ untagged data mid-exchange */

/* Untagged CAPABILITY, OK, NO, an ALERT and EXISTS between the challenges
 * and before the tagged OK: the exchange goes on, the login succeeds, the
 * ALERT and the warning show. */
Test(fake_sasl, untagged_data_in_the_middle_of_auth_login)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, NULL, "IMAP4rev1 AUTH=LOGIN",
	                  "expect AUTHENTICATE LOGIN$\n"
	                  "line * CAPABILITY IMAP4rev1 AUTH=LOGIN\n"
	                  "line * OK still thinking\n"
	                  "line + VXNlcm5hbWU6\n"
	                  "expectline cHJvYmV1c2Vy$\n"
	                  "line * OK [ALERT] Maintenance tonight at 22:00\n"
	                  "line * 7 EXISTS\n"
	                  "line + UGFzc3dvcmQ6\n"
	                  "expectline UzNjcmV0LVBhNTV3b3JkLTd4$\n"
	                  "line * NO Password expires in 3 days\n"
	                  "line * CAPABILITY IMAP4rev1 NAMESPACE\n" FAKE_SESSION_REST),
	         "-U", USER, "-P", PASS, "--auth", "auth-login", NULL);
	check(&c, 0, "LOGIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "ALERT from server: Maintenance tonight at 22:00");
	fake_case_expect_out(&c, "Password expires in 3 days");
	fake_case_done(&c);
}

/* The same around a real SCRAM exchange is not scriptable (the fake's
 * scram command owns the conversation), but the XOAUTH2 error path is:
 * untagged data between the error challenge and the tagged NO. */
Test(fake_sasl, untagged_data_in_the_middle_of_an_oauth_error)
{
	struct fake_case c = {0};
	char *json = tu_b64_dup(GMAIL_ERROR_JSON, strlen(GMAIL_ERROR_JSON));
	char *body = NULL;

	cr_assert_geq(asprintf(&body,
	                       "expect AUTHENTICATE XOAUTH2 \\S+$\n"
	                       "line * CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\n"
	                       "line + %s\n"
	                       "expectline $\n"
	                       "line * OK [ALERT] Please re-authorize the application\n"
	                       "line $TAG NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\n" TAIL,
	                       json),
	              0);
	run_fake(&c, fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=XOAUTH2", body), "-U", USER, "--token-file",
	         token_file(&c), "--auth", "xoauth2", NULL);
	free(body);
	free(json);
	check(&c, 2, "auth failed (AUTHENTICATE XOAUTH2)", "401", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "ALERT from server: Please re-authorize the application");
	fake_case_done(&c);
}

/* ================================================================ capabilities after the login */

/* STATUS asks for SIZE only when the capabilities in force after the login
 * say STATUS=SIZE: what the probe sends tells which list it used. */
#define STATUS_SIZE \
	"expect STATUS INBOX \\(UNSEEN SIZE\\)$\n" \
	"line * STATUS INBOX (UNSEEN 1 SIZE 4096)\n" \
	"line $TAG OK STATUS completed\n"
#define STATUS_NOSIZE \
	"expect STATUS INBOX \\(UNSEEN\\)$\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS completed\n"
#define EXAMINE_ONLY \
	"expect EXAMINE INBOX$\n" \
	"line * 3 EXISTS\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE completed\n"

static void caps_case(const char *greeting_caps, const char *auth, const char *status, bool namespace_sent,
                      const char *const *extra)
{
	struct fake_case c = {0};
	char *body = NULL;
	const char *args[32] = {"-U", USER, "-P", PASS, "--auth", "plain"};
	size_t n = 6;

	cr_assert_geq(asprintf(&body, "%s%s%s" EXAMINE_ONLY FAKE_LOGOUT_OK, auth,
	                       namespace_sent ? "expect NAMESPACE$\n"
	                                        "line * NAMESPACE ((\"\" \"/\")) NIL NIL\n"
	                                        "line $TAG OK NAMESPACE completed\n"
	                                      : "",
	                       status),
	              0);
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	run_argv(&c, fake_case_scenario(&c, NULL, greeting_caps, body), args);
	free(body);
	check(&c, 0, "PLAIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	/* never a CAPABILITY command: the greeting had them before the login,
	 * and after it they came with the OK, or no step needed them */
	expect_not_sent(&c, "CAPABILITY\r\n");
	fake_case_done(&c);
}

/* The tagged OK carries the list: it replaces the greeting's. */
Test(fake_sasl, caps_from_the_tagged_ok_are_used)
{
	caps_case("IMAP4rev1 SASL-IR AUTH=PLAIN",
	          "expect AUTHENTICATE PLAIN \\S+$\nline $TAG OK [CAPABILITY IMAP4rev1 STATUS=SIZE] Logged in\n",
	          STATUS_SIZE, false, NULL);
}

Test(fake_sasl, caps_from_the_tagged_ok_replace_the_greeting_ones)
{
	const char *extra[] = {"--namespace", NULL};
	/* the greeting says NAMESPACE and STATUS=SIZE, the OK neither: no
	 * NAMESPACE command (skipped), no SIZE */
	caps_case("IMAP4rev1 SASL-IR AUTH=PLAIN NAMESPACE STATUS=SIZE",
	          "expect AUTHENTICATE PLAIN \\S+$\nline $TAG OK [CAPABILITY IMAP4rev1] Logged in\n", STATUS_NOSIZE,
	          false, extra);
}

/* Gmail sends the new list untagged just before the tagged OK. */
Test(fake_sasl, caps_untagged_after_the_last_response_are_used)
{
	caps_case("IMAP4rev1 SASL-IR AUTH=PLAIN",
	          "expect AUTHENTICATE PLAIN \\S+$\nline * CAPABILITY IMAP4rev1 STATUS=SIZE\nline $TAG OK Logged in\n",
	          STATUS_SIZE, false, NULL);
}

/* A list sent in the middle of the exchange (before the server had the
 * credentials) is a pre-login one: without a new list the probe does not
 * take it for the post-login capabilities. */
Test(fake_sasl, caps_in_the_middle_of_the_exchange_are_not_post_login_caps)
{
	caps_case("IMAP4rev1 AUTH=PLAIN",
	          "expect AUTHENTICATE PLAIN$\nline * CAPABILITY IMAP4rev1 AUTH=PLAIN STATUS=SIZE NAMESPACE\n"
	          "line + \nexpectline \\S+$\nline $TAG OK Logged in\n",
	          STATUS_NOSIZE, false, NULL);
}

/* No list with the OK and no step that needs one: no CAPABILITY command,
 * and the greeting's list is not taken for the post-login one either (its
 * STATUS=SIZE is not used).  (--namespace and --quota do need it: they
 * ask first, see test_fake_quirks.c.) */
Test(fake_sasl, caps_not_in_the_ok_are_not_read_when_not_needed)
{
	caps_case("IMAP4rev1 SASL-IR AUTH=PLAIN STATUS=SIZE", "expect AUTHENTICATE PLAIN \\S+$\nline $TAG OK Logged in\n",
	          STATUS_NOSIZE, false, NULL);
}

Test(fake_sasl, caps_not_in_the_login_ok_either)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=PLAIN STATUS=SIZE",
	                  "expect LOGIN " USER " " PASS "$\nline $TAG OK Logged in\n" STATUS_NOSIZE EXAMINE_ONLY FAKE_LOGOUT_OK),
	         "-U", USER, "-P", PASS, "--auth", "login", NULL);
	check(&c, 0, "IMAP LOGIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_not_sent(&c, "CAPABILITY\r\n");
	fake_case_done(&c);
}

/* A step that needs them (--delete-matched: UIDPLUS) asks with CAPABILITY
 * after the login when the OK carried none, and goes on with the answer
 * (the greeting, before the login, did not offer UIDPLUS). */
Test(fake_sasl, caps_not_in_the_ok_are_read_when_needed)
{
	struct fake_case c = {0};

	run_fake(&c,
	         fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=PLAIN",
	                  "expect AUTHENTICATE PLAIN \\S+$\n"
	                  "line $TAG OK Logged in\n"
	                  "expect CAPABILITY$\n"
	                  "line * CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS ESEARCH\n"
	                  "line $TAG OK CAPABILITY completed\n"
	                  STATUS_NOSIZE
	                  "expect SELECT INBOX$\n"
	                  "line * 9 EXISTS\n"
	                  "line * OK [UIDVALIDITY 1700000000] UIDs valid\n"
	                  "line $TAG OK [READ-WRITE] SELECT completed\n"
	                  "expect UID SEARCH RETURN \\(COUNT MIN MAX ALL\\) SUBJECT old$\n"
	                  "line * ESEARCH (TAG \"$TAG\") UID COUNT 1 MIN 9 MAX 9 ALL 9\n"
	                  "line $TAG OK SEARCH completed\n"
	                  "expect UID STORE 9 \\+FLAGS.SILENT \\(\\\\Deleted\\)$\n"
	                  "line $TAG OK STORE completed\n"
	                  "expect UID EXPUNGE 9$\n"
	                  "line * 9 EXPUNGE\n"
	                  "line $TAG OK EXPUNGE completed\n" FAKE_LOGOUT_OK),
	         "-U", USER, "-P", PASS, "--auth", "plain", "--search", "SUBJECT old", "--delete-matched", NULL);
	check(&c, 0, "PLAIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	char *cap = sent_line(&c, "AUTHENTICATE PLAIN ", 1);
	cr_assert(strlen(cap) > 11 && !strcmp(cap + strlen(cap) - 11, " CAPABILITY"),
	          "the command after the login is \"%s\", not CAPABILITY%s", cap, c.diag);
	free(cap);
	fake_case_done(&c);
}

/* ================================================================ SCRAM against a misbehaving server */

#define SCRAM_CAPS "IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256"

static void scram_bad(const char *mech, const char *option, const char *opts, const char *after, int fake_status,
                      const char *why)
{
	struct fake_case c = {0};
	char body[1024];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " %s\n%s", mech, opts, after);
	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, body), "-U", USER, "-P", PASS, "--auth", option, NULL);
	check(&c, 2, "auth failed", mech, why, NULL);
	fake_case_expect_fake_status(&c, fake_status);
	fake_case_done(&c);
}

/* The server nonce must extend the client's: else cancel ("*"). */
Test(fake_sasl, scram_sha256_foreign_nonce)
{
	scram_bad("SCRAM-SHA-256", "scram-sha-256", "badnonce", TAIL, 5, "server nonce does not extend the client nonce");
}

Test(fake_sasl, scram_sha1_nonce_not_extended)
{
	scram_bad("SCRAM-SHA-1", "scram-sha-1", "samenonce", TAIL, 5, "server nonce does not extend the client nonce");
}

Test(fake_sasl, scram_wrong_nonce_cancels_with_star)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, "scram SCRAM-SHA-256 " PASS " user=" USER " badnonce\n" TAIL), "-U",
	         USER, "-P", PASS, "--auth", "scram-sha-256", NULL);
	check(&c, 2, "auth failed", "nonce", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: client cancelled (instead of client-final)");
	char *cancel = sent_line(&c, "AUTHENTICATE SCRAM-SHA-256 ", 1);
	cr_assert_str_eq(cancel, "*", "%s", c.diag);
	free(cancel);
	fake_case_done(&c);
}

/* i=1000000000: refused at once (the cap), not computed until the deadline. */
static void scram_billion(const char *mech, const char *option)
{
	struct fake_case c = {0};
	char body[512];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " iter=1000000000\n" TAIL, mech);
	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, body), "-U", USER, "-P", PASS, "--auth", option, "-t", "10", NULL);
	check(&c, 2, "auth failed", mech, "iteration count 1000000000 exceeds the limit", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: client cancelled (instead of client-final)");
	cr_assert_lt(c.r.wall_s, 2.0 * cis_time_factor(), "a billion iterations took %.3f s%s", c.r.wall_s, c.diag);
	fake_case_done(&c);
}

Test(fake_sasl, scram_sha256_billion_iterations) { scram_billion("SCRAM-SHA-256", "scram-sha-256"); }
Test(fake_sasl, scram_sha1_billion_iterations) { scram_billion("SCRAM-SHA-1", "scram-sha-1"); }

/* test_fake_auth.c forges SCRAM-SHA-256 (plain TCP and -PLUS) and
 * SCRAM-SHA-1-PLUS; this is the remaining one. */
Test(fake_sasl, scram_sha1_forged_server_signature)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, "scram SCRAM-SHA-1 " PASS " user=" USER " forge\n" FAKE_SESSION_REST),
	         "-U", USER, "-P", PASS, "--auth", "scram-sha-1", NULL);
	check(&c, 2, "auth failed", "SCRAM-SHA-1", "server signature mismatch", NULL);
	fake_case_expect_fake_status(&c, 5);
	fake_case_expect_log(&c, "scram: sending a forged server signature");
	fake_case_expect_log(&c, "scram: client cancelled (after server-final)");
	fake_case_done(&c);
}

/* server-final "e=invalid-proof": CRITICAL with the server's error. */
Test(fake_sasl, scram_server_final_error)
{
	scram_bad("SCRAM-SHA-256", "scram-sha-256", "ferror=invalid-proof", TAIL, 5, "server error: invalid-proof");
}

/* server-first "e=unknown-user" (scripted by hand: no nonce needed). */
Test(fake_sasl, scram_server_first_error)
{
	struct fake_case c = {0};
	char *e = tu_b64_dup("e=unknown-user", 14), *body = NULL;

	cr_assert_geq(asprintf(&body, "expect AUTHENTICATE SCRAM-SHA-256 \\S+$\nline + %s\nexpectline \\*$\n"
	                              "line $TAG BAD cancelled\n" TAIL, e), 0);
	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, body), "-U", USER, "-P", PASS, "--auth", "scram-sha-256", NULL);
	free(body);
	free(e);
	check(&c, 2, "auth failed", "SCRAM-SHA-256", "server error: unknown-user", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_done(&c);
}

/* A server that says OK without the server-final message never proved it
 * knows the password (it may be an impostor that just says yes). */
static void scram_nofinal(const char *mech, const char *option)
{
	struct fake_case c = {0};
	char body[512];

	snprintf(body, sizeof body, "scram %s " PASS " user=" USER " nofinal\n" FAKE_LOGGED_IN TAIL, mech);
	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, body), "-U", USER, "-P", PASS, "--auth", option, NULL);
	check(&c, 2, "auth", mech, "without completing the exchange", "did not prove itself", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: ok (no server-final sent)");
	expect_not_sent(&c, "EXAMINE");
	fake_case_done(&c);
}

Test(fake_sasl, scram_sha256_ok_without_server_final) { scram_nofinal("SCRAM-SHA-256", "scram-sha-256"); }
Test(fake_sasl, scram_sha1_ok_without_server_final) { scram_nofinal("SCRAM-SHA-1", "scram-sha-1"); }

/* ================================================================ every mechanism under -vvv */

/* challenge "<1896.697170952@fake.example.net>"; the answer is
 * "probeuser " HMAC-MD5(PASS, challenge) in hex (computed with Python). */
#define CRAM_CHALLENGE "PDE4OTYuNjk3MTcwOTUyQGZha2UuZXhhbXBsZS5uZXQ+"
#define CRAM_ANSWER "cHJvYmV1c2VyIDczOGYzNWUyNGU2Nzc5OGJlNTc2ZjlhMzlhMDVlODNm"

struct mech_case {
	const char *option;     /* --auth */
	const char *word;       /* in the summary */
	const char *caps;
	const char *exchange;   /* the fake's side of the login */
	int sends;              /* 1: the password, 2: the token reaches the server; 0 neither */
	bool external;
};

static const struct mech_case every_mech[] = {
	{"plain", "PLAIN", "AUTH=PLAIN SASL-IR", "expect AUTHENTICATE PLAIN " PLAIN_B64 "$\n", 1, false},
	{"auth-login", "LOGIN", "AUTH=LOGIN",
	 "expect AUTHENTICATE LOGIN$\nline + VXNlcm5hbWU6\nexpectline cHJvYmV1c2Vy$\n"
	 "line + UGFzc3dvcmQ6\nexpectline UzNjcmV0LVBhNTV3b3JkLTd4$\n", 1, false},
	{"login", "IMAP LOGIN", "AUTH=PLAIN", "expect LOGIN " USER " " PASS "$\n", 1, false},
	{"cram-md5", "CRAM-MD5", "AUTH=CRAM-MD5",
	 "expect AUTHENTICATE CRAM-MD5$\nline + " CRAM_CHALLENGE "\nexpectline " CRAM_ANSWER "$\n", 0, false},
	{"scram-sha-1", "SCRAM-SHA-1", "AUTH=SCRAM-SHA-1 SASL-IR", "scram SCRAM-SHA-1 " PASS " user=" USER "\n", 0, false},
	{"scram-sha-256", "SCRAM-SHA-256", "AUTH=SCRAM-SHA-256", "scram SCRAM-SHA-256 " PASS " user=" USER "\n", 0, false},
	{"xoauth2", "XOAUTH2", "AUTH=XOAUTH2 SASL-IR", "expect AUTHENTICATE XOAUTH2 \\S+$\n", 2, false},
	{"oauthbearer", "OAUTHBEARER", "AUTH=OAUTHBEARER", "expect AUTHENTICATE OAUTHBEARER$\nline + \nexpectline \\S+$\n",
	 2, false},
	{"external", "EXTERNAL", "AUTH=EXTERNAL SASL-IR", "expect AUTHENTICATE EXTERNAL =$\n", 0, true},
};

/* NEEDLE (N bytes) must not be in B. */
static void absent(const struct fake_case *c, const char *where, const char *b, size_t blen, const char *what,
                   const void *needle, size_t n, const char *mech)
{
	cr_assert_null(memmem(b, blen, needle, n), "--auth %s -vvv: %s appears in %s%s", mech, what, where, c->diag);
}

static void no_secrets_in(const struct fake_case *c, const char *where, const char *b, size_t blen, const char *mech)
{
	char oauth[512];
	size_t on = oauthbearer_blob(oauth, sizeof oauth, USER, fake_port_str(c->fs));
	char *plain64 = tu_b64_dup(PLAIN_BLOB, sizeof PLAIN_BLOB - 1);
	char *xoauth64 = tu_b64_dup(XOAUTH2_BLOB, strlen(XOAUTH2_BLOB));
	char *oauth64 = tu_b64_dup(oauth, on);
	char *pass64 = tu_b64_dup(PASS, strlen(PASS));
	char *tok64 = tu_b64_dup(TOKEN, strlen(TOKEN));

	cr_assert(!has_secret(b, blen, PASS), "--auth %s -vvv: the password (or a base64 form) is in %s%s", mech, where,
	          c->diag);
	cr_assert(!has_secret(b, blen, TOKEN), "--auth %s -vvv: the token (or a base64 form) is in %s%s", mech, where,
	          c->diag);
	absent(c, where, b, blen, "the password", PASS, strlen(PASS), mech);
	absent(c, where, b, blen, "the token", TOKEN, strlen(TOKEN), mech);
	absent(c, where, b, blen, "base64(password)", pass64, strlen(pass64), mech);
	absent(c, where, b, blen, "base64(token)", tok64, strlen(tok64), mech);
	absent(c, where, b, blen, "the PLAIN blob in base64", plain64, strlen(plain64), mech);
	absent(c, where, b, blen, "the XOAUTH2 blob in base64", xoauth64, strlen(xoauth64), mech);
	absent(c, where, b, blen, "the OAUTHBEARER blob in base64", oauth64, strlen(oauth64), mech);
	absent(c, where, b, blen, "the XOAUTH2 blob", XOAUTH2_BLOB, strlen(XOAUTH2_BLOB), mech);
	absent(c, where, b, blen, "the OAUTHBEARER blob", oauth, on, mech);
	free(plain64);
	free(xoauth64);
	free(oauth64);
	free(pass64);
	free(tok64);
}

Test(fake_sasl, every_mechanism_with_vvv_keeps_the_secrets, .timeout = 120)
{
	for (size_t i = 0; i < sizeof every_mech / sizeof every_mech[0]; i++) {
		const struct mech_case *m = &every_mech[i];
		struct fake_case c = {0};
		char caps[256], body[1024], *tls = NULL;
		char *ca = NULL, *cert = NULL, *key = NULL;
		const char *args[32] = {"-vvv", "-U", USER, "-P", PASS, "--token-file", token_file(&c), "--auth", m->option};
		size_t n = 9;

		snprintf(caps, sizeof caps, "IMAP4rev1 %s", m->caps);
		snprintf(body, sizeof body, "%s" FAKE_SESSION_REST, m->exchange);
		if (m->external) {
			ca = certpath(&c, "ca.pem");
			cert = certpath(&c, "client.pem");
			key = certpath(&c, "client.key");
			cr_assert_geq(asprintf(&tls, "clientca=%s", ca), 0);
			args[n++] = "-S";
			args[n++] = "--cafile";
			args[n++] = ca;
			args[n++] = "--client-cert";
			args[n++] = cert;
			args[n++] = "--client-key";
			args[n++] = key;
		}
		args[n] = NULL;
		run_argv(&c, fake_case_scenario(&c, tls, caps, body), args);
		check(&c, 0, m->word, NULL);
		fake_case_expect_fake_status(&c, 0);
		/* the trace is there, with the credentials blacked out */
		fake_case_expect_out(&c, "Protocol trace (credentials redacted):");
		if (!m->external)       /* EXTERNAL's "=" carries nothing to hide */
			fake_case_expect_out(&c, "<redacted>");
		no_secrets_in(&c, "stdout", c.r.out, c.r.out_len, m->option);
		no_secrets_in(&c, "stderr", c.r.err, c.r.err_len, m->option);
		/* the check means something: the secret did reach the server
		 * where the mechanism carries it, and never otherwise */
		cr_assert_eq(fake_saw(c.fs, PASS), m->sends == 1, "--auth %s: the password was%s sent%s", m->option,
		             m->sends == 1 ? " not" : "", c.diag);
		cr_assert_eq(fake_saw(c.fs, TOKEN), m->sends == 2, "--auth %s: the token was%s sent%s", m->option,
		             m->sends == 2 ? " not" : "", c.diag);
		if (m->external)
			fake_case_expect_log(&c, "tls: client certificate CN=probe-client");
		free(tls);
		free(ca);
		free(cert);
		free(key);
		fake_case_done(&c);
	}
}

/* ================================================================ awkward credentials */

/* IMAP LOGIN with USER and PASSWORD (argv), the greeting offering CAPS;
 * the record must hold exactly WIRE (WIRE_LEN bytes) after the tag. */
static void login_wire(const char *caps, const char *user, const char *password, const void *wire, size_t wire_len)
{
	struct fake_case c = {0};

	run_fake(&c, fake_case_scenario(&c, NULL, caps, "expect LOGIN \n" FAKE_SESSION_REST), "-U", user, "-P", password, "--auth",
	         "login", NULL);
	check(&c, 0, "IMAP LOGIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	/* the whole command: tag, LOGIN, the two strings, CRLF */
	cr_assert(c.rec_len >= 3 + wire_len && !memcmp(c.rec, "a1 ", 3) && !memcmp(c.rec + 3, wire, wire_len),
	          "the LOGIN command is not as expected%s", c.diag);
	fake_case_done(&c);
}

/* Quotes, backslashes and spaces: a quoted string with \" and \\. */
Test(fake_sasl, login_quotes_backslashes_spaces_are_quoted)
{
	static const char wire[] = "LOGIN \"probe user\" \"pa\\\"ss\\\\wo rd\"\r\n";
	login_wire("IMAP4rev1 AUTH=PLAIN LITERAL+", "probe user", "pa\"ss\\wo rd", wire, sizeof wire - 1);
}

/* 8-bit (UTF-8) without UTF8=ACCEPT: a literal; non-synchronising with
 * LITERAL+ ... */
#define UTF8_PASS "p\xc3\xa4sswo\xcc\x88rd-\xe2\x82\xac-\xf0\x9f\x94\x91"
Test(fake_sasl, login_utf8_password_is_a_literal_plus)
{
	char wire[256];
	int n = snprintf(wire, sizeof wire, "LOGIN " USER " {%zu+}\r\n" UTF8_PASS "\r\n", strlen(UTF8_PASS));
	login_wire("IMAP4rev1 AUTH=PLAIN LITERAL+", USER, UTF8_PASS, wire, (size_t)n);
}

/* ... synchronising without it (the fake answers "+ go ahead") ... */
Test(fake_sasl, login_utf8_password_is_a_synchronising_literal)
{
	char wire[256];
	int n = snprintf(wire, sizeof wire, "LOGIN " USER " {%zu}\r\n" UTF8_PASS "\r\n", strlen(UTF8_PASS));
	login_wire("IMAP4rev1 AUTH=PLAIN", USER, UTF8_PASS, wire, (size_t)n);
}

/* ... and non-synchronising with LITERAL- (up to 4096 bytes). */
Test(fake_sasl, login_utf8_user_and_password_with_literal_minus)
{
	char wire[256];
	const char *user = "j\xc3\xbcrgen";
	int n = snprintf(wire, sizeof wire, "LOGIN {%zu+}\r\n%s {%zu+}\r\n" UTF8_PASS "\r\n", strlen(user), user,
	                 strlen(UTF8_PASS));
	login_wire("IMAP4rev1 AUTH=PLAIN LITERAL-", user, UTF8_PASS, wire, (size_t)n);
}

/* 600 bytes of ASCII with quotes, backslashes and spaces: one quoted
 * string, every " and \ escaped. */
Test(fake_sasl, login_600_byte_ascii_password)
{
	char pw[601], wire[1400];
	size_t w = 0;

	for (size_t i = 0; i < 600; i++)
		pw[i] = "a\"b\\c d"[i % 7];
	pw[600] = '\0';
	w += (size_t)snprintf(wire, sizeof wire, "LOGIN " USER " \"");
	for (size_t i = 0; i < 600; i++) {
		if (pw[i] == '"' || pw[i] == '\\')
			wire[w++] = '\\';
		wire[w++] = pw[i];
	}
	memcpy(wire + w, "\"\r\n", 3);
	w += 3;
	login_wire("IMAP4rev1 AUTH=PLAIN LITERAL+", USER, pw, wire, w);
}

/* 600 bytes with UTF-8 in it: a 600-byte literal. */
static void make_600_utf8(char *pw)
{
	size_t n = 0;
	while (n + 3 <= 600) {
		memcpy(pw + n, n % 9 ? "\xc3\xa9 " : "\"\\", n % 9 ? 3 : 2); /* "é " or a quote and a backslash */
		n += n % 9 ? 3 : 2;
	}
	while (n < 600)
		pw[n++] = 'x';
	pw[600] = '\0';
}

Test(fake_sasl, login_600_byte_utf8_password)
{
	char pw[601], wire[700];
	make_600_utf8(pw);
	cr_assert_eq(strlen(pw), 600);
	int n = snprintf(wire, sizeof wire, "LOGIN " USER " {600}\r\n%s\r\n", pw);
	login_wire("IMAP4rev1 AUTH=PLAIN", USER, pw, wire, (size_t)n);
}

/* PLAIN carries any bytes: the decoded initial response is exact. */
Test(fake_sasl, plain_awkward_credentials_with_authzid)
{
	struct fake_case c = {0};
	char pw[601], want[1024];
	const char *user = "probe \"user\\\" j\xc3\xbcrgen", *authz = "shared \xe2\x82\xac box";
	make_600_utf8(pw);
	int n = snprintf(want, sizeof want, "%s%c%s%c%s", authz, 0, user, 0, pw);

	run_fake(&c, fake_case_scenario(&c, NULL, "IMAP4rev1 SASL-IR AUTH=PLAIN", "expect AUTHENTICATE PLAIN \\S+$\n" FAKE_SESSION_REST),
	         "-U", user, "-P", pw, "--authzid", authz, "--auth", "plain", NULL);
	check(&c, 0, "PLAIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_b64(&c, "AUTHENTICATE PLAIN ", 0, want, (size_t)n);
	cr_assert(!has_secret(c.r.out, c.r.out_len, pw), "the password appears in stdout%s", c.diag);
	fake_case_done(&c);
}

/* AUTHENTICATE LOGIN: each answer is the exact bytes, base64. */
Test(fake_sasl, auth_login_awkward_credentials)
{
	struct fake_case c = {0};
	char pw[601];
	const char *user = "probe \"user\\\" j\xc3\xbcrgen";
	make_600_utf8(pw);

	run_fake(&c,
	         fake_case_scenario(&c, NULL, "IMAP4rev1 AUTH=LOGIN",
	                  "expect AUTHENTICATE LOGIN$\nline + VXNlcm5hbWU6\nexpectline \\S+$\n"
	                  "line + UGFzc3dvcmQ6\nexpectline \\S+$\n" FAKE_SESSION_REST),
	         "-U", user, "-P", pw, "--auth", "auth-login", NULL);
	check(&c, 0, "LOGIN", NULL);
	fake_case_expect_fake_status(&c, 0);
	expect_b64(&c, "AUTHENTICATE LOGIN\r\n", 0, user, strlen(user));
	expect_b64(&c, "AUTHENTICATE LOGIN\r\n", 1, pw, strlen(pw));
	cr_assert(!has_secret(c.r.out, c.r.out_len, pw), "the password appears in stdout%s", c.diag);
	fake_case_done(&c);
}

/* SCRAM: the user name is a saslname (',' '=' escaped), the password is
 * hashed as its UTF-8 bytes; the fake checks the proof with the same
 * password and the decoded user name. */
Test(fake_sasl, scram_awkward_credentials)
{
	struct fake_case c = {0};
	char pw[601];
	const char *user = "probe,user=x j\xc3\xbcrgen";
	make_600_utf8(pw);
	/* the scenario's "set" expands escapes: write \ as \\ */
	char spw[1300];
	size_t k = 0;
	for (size_t i = 0; pw[i]; i++) {
		if (pw[i] == '\\' || pw[i] == '$')
			spw[k++] = '\\';
		spw[k++] = pw[i];
	}
	spw[k] = '\0';
	char *body = NULL;
	cr_assert_geq(asprintf(&body, "set PW %s\nset U %s\nscram SCRAM-SHA-256 $PW user=$U\n" FAKE_SESSION_REST, spw, user),
	              0);
	run_fake(&c, fake_case_scenario(&c, NULL, SCRAM_CAPS, body), "-U", user, "-P", pw, "--auth", "scram-sha-256", NULL);
	free(body);
	check(&c, 0, "SCRAM-SHA-256", NULL);
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_log(&c, "scram: ok");
	cr_assert(!has_secret(c.r.out, c.r.out_len, pw), "the password appears in stdout%s", c.diag);
	cr_assert(!fake_saw(c.fs, pw), "the password reached the server%s", c.diag);
	fake_case_done(&c);
}
