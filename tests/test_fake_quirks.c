/* test_fake_quirks.c - small things seen on servers outside the suite
 * (issue 14, section 4), against the scripted fake server
 * (tests/fake/fakeimap.py, fakeserver.h) and the real binary ($PROBE):
 *
 *   - a login answer without a capability list (GNU Mailutils): --quota
 *     and --namespace ask for the capabilities first and say "not
 *     supported" instead of sending an extension the server never offered;
 *   - the mechanism lists in auth failures: "(server offers: PLAIN
 *     XOAUTH2)", no stray space before the parenthesis;
 *   - --cache-dir: a missing directory is created with mode 0700 when its
 *     parent exists; one that other users can write to is refused.
 *
 * Each test runs its own fake on a free loopback port.  Environment:
 * CIS_TEST_TIME_FACTOR, CIS_TEST_ALLOW_STDERR as in test_hostile.c. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakeserver.h"
#include "runprobe.h"
#include "testutil.h"

#define USER "probeuser"
#define PASS "Fake-Pa55word-9z"
#define HARD_S 20.0

#define GREET(caps) "line * OK [CAPABILITY " caps "] fake ready\n"
/* Mailutils: "OK LOGIN Completed", no capability list after the login */
#define LOGIN_BARE "expect LOGIN\nline $TAG OK LOGIN Completed\n"
#define CAPS_AFTER(caps) "expect CAPABILITY$\nline * CAPABILITY " caps "\nline $TAG OK CAPABILITY Completed\n"
#define EXAMINE_INBOX \
	"expect STATUS INBOX \\(UNSEEN\\)\n" \
	"line * STATUS INBOX (UNSEEN 1)\n" \
	"line $TAG OK STATUS done\n" \
	"expect EXAMINE INBOX$\n" \
	"line * 3 EXISTS\n" \
	"line * OK [UIDVALIDITY 1700000000] UIDs valid\n" \
	"line $TAG OK [READ-ONLY] EXAMINE done\n"
#define LOGOUT \
	"expect LOGOUT\n" \
	"line * BYE Logging out\n" \
	"line $TAG OK Logout done\n" \
	"close\n"

struct run {
	struct probe_run r;
	struct fake_server *fs;
	int fake_status;
	const char *rec;
	char *diag;
};

/* The fake plays SCN; the probe gets -H/-p and the NULL-terminated ARGS. */
static void run(struct run *c, const char *scn, ...)
{
	const char *argv[48];
	size_t n = 0, len = 0;
	const char *a;
	va_list ap;

	memset(c, 0, sizeof *c);
	c->fs = fake_start(scn);
	cr_assert_not_null(c->fs, "the fake IMAP server did not start");
	argv[n++] = "-H";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = fake_port_str(c->fs);
	va_start(ap, scn);
	while ((a = va_arg(ap, const char *)) != NULL && n < sizeof argv / sizeof *argv - 1)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	cr_assert_eq(probe_run(&c->r, HARD_S * cis_time_factor(), NULL, argv), 0, "could not start the probe");
	c->fake_status = fake_stop(c->fs);
	c->rec = (const char *)fake_received(c->fs, &len);
	cr_assert_geq(asprintf(&c->diag, "\n--- probe: exit %d\n--- stdout:\n%s\n--- stderr:\n%s\n--- sent:\n%s\n"
	                                 "--- fake (exit %d):\n%s",
	                       c->r.exit_code, c->r.out, c->r.err, c->rec, c->fake_status, fake_log(c->fs)),
	              0);
}

static void done(struct run *c)
{
	fake_free(c->fs);
	probe_run_free(&c->r);
	free(c->diag);
}

static void expect_exit(struct run *c, int code, const char *first)
{
	cr_assert_eq(c->r.exit_code, code, "exit %d, expected %d%s", c->r.exit_code, code, c->diag);
	cr_assert_not_null(strstr(c->r.first_line, first), "first line lacks \"%s\"%s", first, c->diag);
	if (!getenv("CIS_TEST_ALLOW_STDERR"))
		cr_assert_eq(c->r.err_len, 0, "output on stderr%s", c->diag);
}

static void out_has(struct run *c, const char *text)
{
	cr_assert_not_null(strstr(c->r.out, text), "stdout lacks \"%s\"%s", text, c->diag);
}

static void not_sent(struct run *c, const char *text)
{
	cr_assert_null(strstr(c->rec, text), "the probe sent \"%s\"%s", text, c->diag);
}

static void fake_ok(struct run *c)
{
	cr_assert_eq(c->fake_status, 0, "the fake exited %d%s", c->fake_status, c->diag);
}

/* ---------------------------------------------------------------- extensions after a bare login OK */

Test(quirks, quota_unadvertised_after_a_bare_login_is_not_asked)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 IDLE") EXAMINE_INBOX LOGOUT, "-U", USER,
	    "-P", PASS, "--auth", "login", "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_ok(&c);
	out_has(&c, "server does not support QUOTA");
	not_sent(&c, "GETQUOTAROOT");
	done(&c);
}

/* The same server with QUOTA in its list: asked, in the EXAMINE flight. */
Test(quirks, quota_advertised_after_a_bare_login_is_asked)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 QUOTA")
	    "expect STATUS\nline $TAG OK STATUS done\n"
	    "expect EXAMINE\nline * 3 EXISTS\nline $TAG OK [READ-ONLY] done\n"
	    "expect GETQUOTAROOT INBOX$\n"
	    "line * QUOTAROOT INBOX \"\"\n"
	    "line * QUOTA \"\" (STORAGE 10 100)\n"
	    "line $TAG OK done\n" LOGOUT,
	    "-U", USER, "-P", PASS, "--auth", "login", "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_ok(&c);
	out_has(&c, "quota_storage=10.00%");
	done(&c);
}

Test(quirks, namespace_unadvertised_after_a_bare_login_is_not_asked)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 IDLE") EXAMINE_INBOX LOGOUT, "-U", USER,
	    "-P", PASS, "--auth", "login", "--namespace", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_ok(&c);
	out_has(&c, "server does not offer NAMESPACE");
	not_sent(&c, " NAMESPACE\r\n");
	done(&c);
}

/* ---------------------------------------------------------------- mechanism lists */

Test(quirks, no_usable_mechanism_lists_the_offer_without_a_stray_space)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2") LOGOUT, "-U", USER, "-P", PASS, "--fetch", "none", NULL);
	expect_exit(&c, 2, "no usable authentication mechanism (server offers: PLAIN XOAUTH2);");
	fake_ok(&c);
	done(&c);
}

Test(quirks, named_mechanism_not_offered_lists_the_offer_without_a_stray_space)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2") LOGOUT, "-U", USER, "-P", PASS, "--auth", "cram-md5",
	    "--fetch", "none", NULL);
	expect_exit(&c, 2, "server does not offer AUTH=CRAM-MD5 (offers: PLAIN XOAUTH2)");
	fake_ok(&c);
	done(&c);
}

Test(quirks, nothing_offered_says_none)
{
	struct run c;

	run(&c, GREET("IMAP4rev1") LOGOUT, "-U", USER, "-P", PASS, "--auth", "cram-md5", "--fetch", "none", NULL);
	expect_exit(&c, 2, "server does not offer AUTH=CRAM-MD5 (offers: none)");
	done(&c);
}

Test(quirks, auth_all_with_nothing_to_test_lists_the_offer_without_a_stray_space)
{
	struct run c;

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=X-FOO") LOGOUT, "-U", USER, "-P", PASS, "--auth", "all", "--fetch",
	    "none", NULL);
	expect_exit(&c, 2, "no mechanism to test (server offers: PLAIN X-FOO)");
	done(&c);
}

/* ---------------------------------------------------------------- --cache-dir */

static char *tmpdir_new(void)
{
	char *d = NULL;

	cr_assert_geq(asprintf(&d, "%s/cis-cachedir.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"), 0);
	cr_assert_not_null(mkdtemp(d));
	return d;
}

#define QUICK GREET("IMAP4rev1 AUTH=PLAIN") "expect LOGIN\nline $TAG OK [CAPABILITY IMAP4rev1] Logged in\n" \
	EXAMINE_INBOX LOGOUT

/* A missing directory whose parent exists is created, mode 0700, and the
 * session runs (writing its entry there). */
Test(quirks, cache_dir_is_created_with_mode_0700)
{
	char *parent = tmpdir_new(), *dir = NULL;
	struct run c;
	struct stat st;

	cr_assert_geq(asprintf(&dir, "%s/cache", parent), 0);
	umask(022);
	run(&c, QUICK, "-U", USER, "-P", PASS, "--auth", "login", "--fetch", "none", "--pipeline", "--cache-dir", dir,
	    NULL);
	expect_exit(&c, 0, "IMAP OK");
	cr_assert_eq(stat(dir, &st), 0, "%s was not created%s", dir, c.diag);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700, "mode %04o%s", (unsigned)(st.st_mode & 07777), c.diag);
	char *cmd = NULL;
	cr_assert_geq(asprintf(&cmd, "rm -rf '%s'", parent), 0);
	cr_assert_eq(system(cmd), 0);
	free(cmd);
	free(dir);
	free(parent);
	done(&c);
}

static void refused(const char *dir, const char *why)
{
	struct probe_run r;
	const char *argv[] = {"-H", "127.0.0.1", "-p", "1", "--auth", "none", "--cache-dir", dir, NULL};

	cr_assert_eq(probe_run(&r, HARD_S * cis_time_factor(), NULL, argv), 0);
	cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.out);
	cr_assert_not_null(strstr(r.first_line, "IMAP UNKNOWN - --cache-dir "), "%s", r.out);
	cr_assert_not_null(strstr(r.first_line, why), "\"%s\" not in: %s", why, r.out);
	probe_run_free(&r);
}

Test(quirks, cache_dir_without_a_parent_is_unknown)
{
	char *parent = tmpdir_new(), *dir = NULL;
	struct stat st;

	cr_assert_geq(asprintf(&dir, "%s/no/cache", parent), 0);
	refused(dir, "its parent directory does not exist");
	cr_assert_neq(stat(dir, &st), 0, "created anyway");
	rmdir(parent);
	free(dir);
	free(parent);
}

static void refused_mode(mode_t mode, const char *shown)
{
	char *dir = tmpdir_new();

	cr_assert_eq(chmod(dir, mode), 0);
	refused(dir, "other users can write to it");
	refused(dir, shown);
	rmdir(dir);
	free(dir);
}

Test(quirks, cache_dir_world_writable_is_refused) { refused_mode(0777, "(mode 0777)"); }
Test(quirks, cache_dir_sticky_like_tmp_is_refused) { refused_mode(01777, "(mode 1777)"); }
Test(quirks, cache_dir_group_writable_is_refused) { refused_mode(0770, "(mode 0770)"); }

Test(quirks, cache_dir_that_is_a_file_is_refused)
{
	char *dir = tmpdir_new(), *file = NULL;

	cr_assert_geq(asprintf(&file, "%s/f", dir), 0);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	refused(file, "not a directory");
	unlink(file);
	rmdir(dir);
	free(file);
	free(dir);
}
