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
#define LOGOUT FAKE_LOGOUT_OK

/* The fake plays SCN; the probe gets -H/-p and the NULL-terminated extra
 * arguments. */
static void run(struct fake_case *c, const char *scn, ...)
{
	const char *args[48];
	va_list ap;

	va_start(ap, scn);
	tu_va_args(args, sizeof args / sizeof *args, ap);
	va_end(ap);
	fake_case_run(c, strdup(scn), 1, HARD_S * cis_time_factor(), NULL, args);
}

static void expect_exit(struct fake_case *c, int code, const char *first)
{
	cr_assert_eq(c->r.exit_code, code, "exit %d, expected %d%s", c->r.exit_code, code, c->diag);
	cr_assert_not_null(strstr(c->r.first_line, first), "first line lacks \"%s\"%s", first, c->diag);
	probe_expect_no_stderr(&c->r, c->diag);
}

static void not_sent(struct fake_case *c, const char *text)
{
	cr_assert_null(memmem(c->rec, c->rec_len, text, strlen(text)), "the probe sent \"%s\"%s", text, c->diag);
}

/* ---------------------------------------------------------------- extensions after a bare login OK */

Test(quirks, quota_unadvertised_after_a_bare_login_is_not_asked)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 IDLE") EXAMINE_INBOX LOGOUT, "-U", USER,
	    "-P", PASS, "--auth", "login", "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "server does not support QUOTA");
	not_sent(&c, "GETQUOTAROOT");
	fake_case_done(&c);
}

/* The same server with QUOTA in its list: asked, in the EXAMINE flight. */
Test(quirks, quota_advertised_after_a_bare_login_is_asked)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 QUOTA")
	    "expect STATUS\nline $TAG OK STATUS done\n"
	    "expect EXAMINE\nline * 3 EXISTS\nline $TAG OK [READ-ONLY] done\n"
	    "expect GETQUOTAROOT INBOX$\n"
	    "line * QUOTAROOT INBOX \"\"\n"
	    "line * QUOTA \"\" (STORAGE 10 100)\n"
	    "line $TAG OK done\n" LOGOUT,
	    "-U", USER, "-P", PASS, "--auth", "login", "--quota", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "quota_storage=10.00%");
	fake_case_done(&c);
}

Test(quirks, namespace_unadvertised_after_a_bare_login_is_not_asked)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN") LOGIN_BARE CAPS_AFTER("IMAP4rev1 IDLE") EXAMINE_INBOX LOGOUT, "-U", USER,
	    "-P", PASS, "--auth", "login", "--namespace", "--fetch", "none", NULL);
	expect_exit(&c, 0, "IMAP OK");
	fake_case_expect_fake_status(&c, 0);
	fake_case_expect_out(&c, "server does not offer NAMESPACE");
	not_sent(&c, " NAMESPACE\r\n");
	fake_case_done(&c);
}

/* ---------------------------------------------------------------- mechanism lists */

Test(quirks, no_usable_mechanism_lists_the_offer_without_a_stray_space)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2") LOGOUT, "-U", USER, "-P", PASS, "--fetch", "none", NULL);
	expect_exit(&c, 2, "no usable authentication mechanism (server offers: PLAIN XOAUTH2);");
	fake_case_expect_fake_status(&c, 0);
	fake_case_done(&c);
}

Test(quirks, named_mechanism_not_offered_lists_the_offer_without_a_stray_space)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2") LOGOUT, "-U", USER, "-P", PASS, "--auth", "cram-md5",
	    "--fetch", "none", NULL);
	expect_exit(&c, 2, "server does not offer AUTH=CRAM-MD5 (offers: PLAIN XOAUTH2)");
	fake_case_expect_fake_status(&c, 0);
	fake_case_done(&c);
}

Test(quirks, nothing_offered_says_none)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1") LOGOUT, "-U", USER, "-P", PASS, "--auth", "cram-md5", "--fetch", "none", NULL);
	expect_exit(&c, 2, "server does not offer AUTH=CRAM-MD5 (offers: none)");
	fake_case_done(&c);
}

Test(quirks, auth_all_with_nothing_to_test_lists_the_offer_without_a_stray_space)
{
	struct fake_case c = {0};

	run(&c, GREET("IMAP4rev1 AUTH=PLAIN AUTH=X-FOO") LOGOUT, "-U", USER, "-P", PASS, "--auth", "all", "--fetch",
	    "none", NULL);
	expect_exit(&c, 2, "no mechanism to test (server offers: PLAIN X-FOO)");
	fake_case_done(&c);
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
	struct fake_case c = {0};
	struct stat st;

	cr_assert_geq(asprintf(&dir, "%s/cache", parent), 0);
	umask(022);
	run(&c, QUICK, "-U", USER, "-P", PASS, "--auth", "login", "--fetch", "none", "--pipeline", "--cache-dir", dir,
	    NULL);
	expect_exit(&c, 0, "IMAP OK");
	cr_assert_eq(stat(dir, &st), 0, "%s was not created%s", dir, c.diag);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700, "mode %04o%s", (unsigned)(st.st_mode & 07777), c.diag);
	cr_assert_eq(tu_rm_tree(parent), 0);
	free(dir);
	free(parent);
	fake_case_done(&c);
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
